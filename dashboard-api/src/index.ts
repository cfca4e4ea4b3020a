/** tapwatch's HTTP and WebSocket adapter: routes, the alert stream, auth, metrics, and the stream's client. */
export { createApp } from './app.js';
export type { AppOptions, AppHandle, IngestStats } from './app.js';
export { attachAlertStream, followAlertStream, StreamRefused, ALERT_STREAM_PATH } from './ws-hub.js';
export type { AlertStream, AlertStreamOptions, StreamFollower } from './ws-hub.js';
export { FILTER_FIELDS, emptyFilters, parseFilters, filtersFromQuery, matchesFilters } from './alert-filters.js';
export type { AlertFilters } from './alert-filters.js';
export { alertHistory, alertFromRow } from './alert-history.js';
export type { AlertHistory, ReplayCursor } from './alert-history.js';
export { assertSafeBinding, tokenMatches, isAuthorized, authorizerFor, createAuthorizer, credentialsEnv, tokensConfigured } from './auth.js';
export type { Authorizer, TokenIdentity } from './auth.js';
export { ROLES, TokenFile, tokensPath } from './tokens.js';
export type { Role, TokenRecord } from './tokens.js';
export { metricsRenderer } from './metrics.js';
export type { MetricSources } from './metrics.js';
export { toTable, toCsv } from './sql-format.js';
export type { Columns } from './sql-format.js';
export { ApiError, ApiErrors } from './errors.js';
export { serve, closeServer } from './serve.js';
