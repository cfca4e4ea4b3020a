/**
 * The API's error codes: one table, each with its HTTP status and a message
 * that says what to do. Responses carry `{ error: { code, message } }`.
 */
import { TapwatchError } from '@tapwatch/schema';

export const ApiErrors = Object.freeze({
  UNAUTHORIZED: { code: 'TAPWATCH_UNAUTHORIZED', status: 401, message: 'missing or wrong token: send Authorization: Bearer <TAPWATCH_TOKEN>' },
  NOT_JSON: { code: 'TAPWATCH_INGEST_NOT_JSON', status: 400, message: 'body is not valid JSON' },
  BAD_EVENT: { code: 'TAPWATCH_INGEST_BAD_EVENT', status: 422, message: 'body is not a tapwatch event or array of events' },
  TOO_LARGE: { code: 'TAPWATCH_BODY_TOO_LARGE', status: 413, message: 'body is larger than TAPWATCH_MAX_BODY_BYTES' },
  BAD_SQL_REQUEST: { code: 'TAPWATCH_SQL_BAD_REQUEST', status: 400, message: 'expected a JSON body {"sql": "SELECT …", "params": {…}}' },
  NOT_FOUND: { code: 'TAPWATCH_NOT_FOUND', status: 404, message: 'no such route' },
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
