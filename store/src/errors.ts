/**
 * Analyzer and storage error codes. Foreign errors (ClickHouse, chDB, kafkajs)
 * are wrapped once, in the adapter that met them.
 */
import { TapwatchError } from '@tapwatch/schema';

export const StoreErrorCode = Object.freeze({
  /** The query tried to write, change settings or reach outside: refused by the database's read-only guard. */
  NOT_READ_ONLY: 'TAPWATCH_SQL_NOT_READ_ONLY',
  /** The query names a table, database or function outside tapwatch's tables and views. */
  FORBIDDEN: 'TAPWATCH_SQL_FORBIDDEN',
  /** The query is not valid SQL or names something unknown. */
  BAD_QUERY: 'TAPWATCH_SQL_BAD_QUERY',
  /** The body holds more than one statement. */
  MULTI_STATEMENT: 'TAPWATCH_SQL_MULTI_STATEMENT',
  /** The token has too many queries running and waiting. */
  BUSY: 'TAPWATCH_SQL_BUSY',
  /** The query hit a limit (time, rows, bytes, memory). */
  LIMIT: 'TAPWATCH_SQL_LIMIT',
  /** The database could not be reached or failed. */
  UNAVAILABLE: 'TAPWATCH_STORE_UNAVAILABLE',
  /** The embedded engine (chDB) is not installed. */
  NO_EMBEDDED_ENGINE: 'TAPWATCH_NO_EMBEDDED_ENGINE',
});

/** ClickHouse error codes we map (see ClickHouse's ErrorCodes.cpp). */
const READONLY_CODES = new Set(['164', '497']); // READONLY, ACCESS_DENIED
const LIMIT_CODES = new Set(['159', '158', '396', '307', '241', '160']); // TIMEOUT_EXCEEDED, TOO_MANY_ROWS, TOO_MANY_ROWS_OR_BYTES, TOO_MANY_BYTES, MEMORY_LIMIT_EXCEEDED, TOO_SLOW

/** Wraps an error from a user query, keeping ClickHouse's own message (it says what was wrong). */
export function wrapQueryError(err: unknown): TapwatchError {
  const e = err as { code?: unknown; type?: unknown; message?: unknown };
  const chCode = e.code !== undefined ? String(e.code) : undefined;
  const message = typeof e.message === 'string' ? e.message.trim() : String(err);
  if (chCode && READONLY_CODES.has(chCode)) {
    return new TapwatchError(StoreErrorCode.NOT_READ_ONLY, `only read-only queries are allowed: ${message}`, {
      httpStatus: 403,
      cause: err,
    });
  }
  if (chCode && LIMIT_CODES.has(chCode)) {
    return new TapwatchError(StoreErrorCode.LIMIT, `query exceeded a limit (add a LIMIT or narrow the time range): ${message}`, {
      httpStatus: 422,
      cause: err,
    });
  }
  // Any other error ClickHouse numbered is about the query itself (syntax, unknown table, types…).
  if (chCode && /^\d+$/.test(chCode)) {
    return new TapwatchError(StoreErrorCode.BAD_QUERY, message, { httpStatus: 400, cause: err });
  }
  return new TapwatchError(StoreErrorCode.UNAVAILABLE, `storage failed: ${message}`, {
    httpStatus: 503,
    retriable: true,
    cause: err,
  });
}
