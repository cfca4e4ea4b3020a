/**
 * The API's errors by name, each a code of the one table (schema's
 * error-codes.ts, which gives its HTTP status) and the message responses
 * carry as `{ error: { code, message } }`.
 */
import { TapwatchError, type ErrorCode } from '@tapwatch/schema';

export const ApiErrors = Object.freeze({
  UNAUTHORIZED: {
    code: 'TAPWATCH_UNAUTHORIZED',
    message: 'missing or wrong token: send Authorization: Bearer <token> (TAPWATCH_TOKEN, else the admin.token in TAPWATCH_CREDENTIALS_DIR)',
  },
  FORBIDDEN: { code: 'TAPWATCH_FORBIDDEN', message: "this token's role does not allow this route" },
  NOT_JSON: { code: 'TAPWATCH_INGEST_NOT_JSON', message: 'body is not valid JSON' },
  BAD_EVENT: { code: 'TAPWATCH_INGEST_BAD_EVENT', message: 'body is not a tapwatch event or array of events' },
  TOO_LARGE: { code: 'TAPWATCH_BODY_TOO_LARGE', message: 'body is larger than TAPWATCH_MAX_BODY_BYTES' },
  BAD_SQL_REQUEST: { code: 'TAPWATCH_SQL_BAD_REQUEST', message: 'expected a JSON body {"sql": "SELECT …", "params": {…}}' },
  FOREIGN_HOST: { code: 'TAPWATCH_FOREIGN_HOST', message: 'refused: the Host header is not this API' },
  FOREIGN_ORIGIN: { code: 'TAPWATCH_FOREIGN_ORIGIN', message: "refused: a request from another site's page" },
  UNSUPPORTED_MEDIA_TYPE: { code: 'TAPWATCH_UNSUPPORTED_MEDIA_TYPE', message: 'unsupported media type' },
  NOT_FOUND: { code: 'TAPWATCH_NOT_FOUND', message: 'no such route' },
  BAD_PARAMETER: { code: 'TAPWATCH_BAD_PARAMETER', message: 'a query parameter is not valid (see /v1/openapi.json)' },
  BAD_BODY: { code: 'TAPWATCH_BAD_BODY', message: 'the JSON body does not have the expected shape (see /v1/openapi.json)' },
  BAD_CURSOR: { code: 'TAPWATCH_BAD_CURSOR', message: 'cursor is not one this API returned: start again without it' },
  ALERT_NOT_FOUND: { code: 'TAPWATCH_ALERT_NOT_FOUND', message: 'no alert with that id' },
  SILENCE_NOT_FOUND: { code: 'TAPWATCH_SILENCE_NOT_FOUND', message: 'no silence with that id (it may be deleted already)' },
  SESSION_NOT_FOUND: { code: 'TAPWATCH_SESSION_NOT_FOUND', message: 'nothing stored for that session id' },
  TOOL_NOT_FOUND: { code: 'TAPWATCH_TOOL_NOT_FOUND', message: 'no definition stored for that server and tool' },
  INTERNAL: { code: 'TAPWATCH_INTERNAL', message: 'internal error' },
} as const satisfies Record<string, { code: ErrorCode; message: string }>);

export type ApiErrorName = keyof typeof ApiErrors;

export class ApiError extends TapwatchError {
  constructor(name: ApiErrorName, detail?: string, extra?: Record<string, unknown>) {
    const e = ApiErrors[name];
    super(e.code, detail ? `${e.message}: ${detail}` : e.message);
    this.extra = extra;
  }
  readonly extra: Record<string, unknown> | undefined;
}
