/**
 * The API's error codes: one table, each with its HTTP status and a message
 * that says what to do. Responses carry `{ error: { code, message } }`.
 */
import { TapwatchError } from '@tapwatch/schema';

export const ApiErrors = Object.freeze({
  UNAUTHORIZED: { code: 'TAPWATCH_UNAUTHORIZED', status: 401, message: 'missing or wrong token: send Authorization: Bearer <TAPWATCH_TOKEN>' },
  FORBIDDEN: { code: 'TAPWATCH_FORBIDDEN', status: 403, message: "this token's role does not allow this route" },
  NOT_JSON: { code: 'TAPWATCH_INGEST_NOT_JSON', status: 400, message: 'body is not valid JSON' },
  BAD_EVENT: { code: 'TAPWATCH_INGEST_BAD_EVENT', status: 422, message: 'body is not a tapwatch event or array of events' },
  TOO_LARGE: { code: 'TAPWATCH_BODY_TOO_LARGE', status: 413, message: 'body is larger than TAPWATCH_MAX_BODY_BYTES' },
  BAD_SQL_REQUEST: { code: 'TAPWATCH_SQL_BAD_REQUEST', status: 400, message: 'expected a JSON body {"sql": "SELECT …", "params": {…}}' },
  NOT_FOUND: { code: 'TAPWATCH_NOT_FOUND', status: 404, message: 'no such route' },
  BAD_PARAMETER: { code: 'TAPWATCH_BAD_PARAMETER', status: 400, message: 'a query parameter is not valid (see /v1/openapi.json)' },
  BAD_BODY: { code: 'TAPWATCH_BAD_BODY', status: 422, message: 'the JSON body does not have the expected shape (see /v1/openapi.json)' },
  BAD_CURSOR: { code: 'TAPWATCH_BAD_CURSOR', status: 400, message: 'cursor is not one this API returned: start again without it' },
  ALERT_NOT_FOUND: { code: 'TAPWATCH_ALERT_NOT_FOUND', status: 404, message: 'no alert with that id' },
  SILENCE_NOT_FOUND: { code: 'TAPWATCH_SILENCE_NOT_FOUND', status: 404, message: 'no silence with that id (it may be deleted already)' },
  SESSION_NOT_FOUND: { code: 'TAPWATCH_SESSION_NOT_FOUND', status: 404, message: 'nothing stored for that session id' },
  TOOL_NOT_FOUND: { code: 'TAPWATCH_TOOL_NOT_FOUND', status: 404, message: 'no definition stored for that server and tool' },
  INTERNAL: { code: 'TAPWATCH_INTERNAL', status: 500, message: 'internal error' },
} as const);

export type ApiErrorName = keyof typeof ApiErrors;

export class ApiError extends TapwatchError {
  constructor(name: ApiErrorName, detail?: string, extra?: Record<string, unknown>) {
    const e = ApiErrors[name];
    super(e.code, detail ? `${e.message}: ${detail}` : e.message, { httpStatus: e.status });
    this.extra = extra;
  }
  readonly extra: Record<string, unknown> | undefined;
}
