/**
 * The part of @tapwatch/schema that needs no zod: the logger and the event
 * schema version. The stdio tap's observer thread imports only this, so it
 * does not load zod's schemas a second time (about 15 MB of resident memory).
 * Types are free to import from the main entry (`import type`).
 */
export { log, setLogLevel } from './log.js';
export type { LogLevel } from './log.js';
export { EVENT_SCHEMA_VERSION } from './version.js';
export { credentialsDir, ensureLocalTokens, isLoopbackUrl, localTokenPath, readLocalToken, stateDir } from './credentials.js';
export type { LocalRole } from './credentials.js';
export { CUT_MARKER, MAX_JSON_DEPTH, parseBounded } from './bounded-json.js';
export { INGEST_REFUSED_REASON, UNOBSERVED_REASON } from './gap-reasons.js';
export type { BoundedJson } from './bounded-json.js';
