export {
  EVENT_SCHEMA_VERSION,
  LIMITS,
  PeerInfoSchema,
  TransportSchema,
  SessionStartEventSchema,
  SessionEndEventSchema,
  CallStatusSchema,
  CaptureLevelSchema,
  ContentFindingSchema,
  ToolCallEventSchema,
  ToolDefinitionSchema,
  ToolsListEventSchema,
  ServerRequestEventSchema,
  DeliveryGapEventSchema,
  TapEventSchema,
  IngestBodySchema,
} from './events.js';
export type {
  PeerInfo,
  Transport,
  SessionStartEvent,
  SessionEndEvent,
  CallStatus,
  CaptureLevel,
  ContentFinding,
  ToolCallEvent,
  ToolDefinition,
  ToolsListEvent,
  ServerRequestEvent,
  DeliveryGapEvent,
  TapEvent,
  TapEventType,
} from './events.js';
export { SeveritySchema, SEVERITY_RANK, AlertSchema } from './alerts.js';
export type { Severity, Alert } from './alerts.js';
export { ConfigSchema, SETTINGS_DOC, ConfigError, loadConfig, BrokerListSchema } from './config.js';
export type { Config } from './config.js';
export { credentialsDir, ensureLocalTokens, isLoopbackUrl, localTokenPath, readLocalToken, stateDir } from './credentials.js';
export type { LocalRole } from './credentials.js';
export { log, setLogLevel } from './log.js';
export { TapwatchError } from './errors.js';
export type { TapwatchErrorOptions } from './errors.js';
export { ERROR_CODES, isErrorCode } from './error-codes.js';
export type { ErrorCode, ErrorSpec } from './error-codes.js';
export { retry, backoffDelay } from './retry.js';
export type { RetryOptions } from './retry.js';
export type { LogLevel } from './log.js';
export { printable } from './printable.js';
export { CUT_MARKER, MAX_JSON_DEPTH, parseBounded } from './bounded-json.js';
export { INGEST_REFUSED_REASON, UNOBSERVED_REASON } from './gap-reasons.js';
export type { BoundedJson } from './bounded-json.js';
