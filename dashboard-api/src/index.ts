export { createApp } from './app.js';
export type { AppOptions, AppHandle, IngestStats } from './app.js';
export { attachAlertStream, ALERT_STREAM_PATH } from './ws-hub.js';
export type { AlertStream, AlertStreamOptions } from './ws-hub.js';
export { assertSafeBinding, tokenMatches, isAuthorized } from './auth.js';
export { ApiError, ApiErrors } from './errors.js';
export { runCommand, startService } from './commands.js';
export type { Service } from './commands.js';
