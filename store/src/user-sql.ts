/**
 * User SQL (`/v1/sql`, `tapwatch sql`): parsed by the engine's own parser and
 * checked by the guard (sql-guard.ts), then run on the read-only reader with
 * its limits. The only way user text reaches the database.
 */
import { TapwatchError } from '@tapwatch/schema';
import type { JsonAnswer, SqlReader } from './connection/connection.js';
import { normalizeRows } from './connection/clickhouse.js';
import { StoreErrorCode, wrapQueryError } from './errors.js';
import { USER_TABLES } from './schema.js';
import { checkAst, explainLines, parseAst } from './sql-guard.js';

/** A user query's answer: rows, column names and types, the engine's statistics. */
export type QueryResult = JsonAnswer;

/** `optimize = 0` ends EXPLAIN's own settings, so a misspelt first word is reported as the query's error. */
const EXPLAIN_PREFIX = 'EXPLAIN AST optimize = 0 ';
/** Largest answer of user SQL, as ClickHouse's max_result_bytes. */
export const MAX_RESULT_BYTES = 64 * 1024 * 1024;

export class UserSql {
  private ready: Promise<void> | undefined;
  private turn: Promise<void> = Promise.resolve();

  constructor(
    private readonly reader: SqlReader,
    private readonly maxRows: number,
  ) {}

  /** Runs user SQL under the database's read-only guard and limits. */
  async query(sql: string, params: Record<string, unknown> = {}): Promise<QueryResult> {
    this.ready ??= this.reader.prepare().catch((err: unknown) => {
      this.ready = undefined;
      throw wrapQueryError(err);
    });
    await this.ready;
    if (!this.reader.embedded) return this.run(sql, params);
    // One user query at a time on the embedded reader session, and after a failed one a throwaway
    // query: chDB hands what a failed query had written to the next query of the session.
    const turn = this.turn.then(() => this.run(sql, params));
    this.turn = turn.then(
      () => undefined,
      () => this.reader.flush(),
    );
    return turn;
  }

  private async run(sql: string, params: Record<string, unknown>): Promise<QueryResult> {
    // A trailing `;` would stand between the query and the FORMAT clause the client appends.
    const query = sql.trim().replace(/;+$/, '');
    await this.guard(query, params);
    const text = await this.reader.queryText(query, params);
    // The embedded engine does not enforce max_result_bytes on a single block: the cap holds here too.
    if (text.length > MAX_RESULT_BYTES) {
      throw new TapwatchError(
        StoreErrorCode.LIMIT,
        `query exceeded a limit (add a LIMIT or select fewer columns): the result is larger than max_result_bytes (${MAX_RESULT_BYTES} bytes)`,
        { httpStatus: 422 },
      );
    }
    let result: QueryResult;
    try {
      const body = JSON.parse(text) as { meta?: { name: string; type: string }[]; data?: Record<string, unknown>[]; statistics?: QueryResult['statistics'] };
      const columns = body.meta ?? [];
      result = { rows: normalizeRows(body.data ?? [], columns), columns, statistics: body.statistics };
    } catch (err) {
      throw new TapwatchError(StoreErrorCode.UNAVAILABLE, `storage answered with a result that is not JSON: ${(err as Error).message}`, {
        httpStatus: 503,
        retriable: false,
        cause: err,
      });
    }
    // Same reason: a query without FROM (arrayJoin of a range) escapes the engine's max_result_rows.
    if (result.rows.length > this.maxRows) {
      throw new TapwatchError(
        StoreErrorCode.LIMIT,
        `query exceeded a limit (add a LIMIT or narrow the time range): more than max_result_rows (${this.maxRows}, TAPWATCH_SQL_MAX_ROWS) rows`,
        { httpStatus: 422 },
      );
    }
    return result;
  }

  /** Parses user SQL with the engine's own parser and refuses what the guard does not allow (see sql-guard.ts). */
  private async guard(sql: string, params: Record<string, unknown>): Promise<void> {
    let text: string;
    try {
      text = await this.reader.explain(`${EXPLAIN_PREFIX}${sql}`, params);
    } catch (err) {
      if (!(err instanceof TapwatchError)) throw err;
      // Positions in parser errors count from the start of what was parsed: make them the user's.
      const message = err.message.replace(/position (\d+)/g, (_m, n: string) => `position ${Math.max(1, Number(n) - EXPLAIN_PREFIX.length)}`);
      throw new TapwatchError(err.code, message, { httpStatus: err.httpStatus, retriable: err.retriable, cause: err.options.cause });
    }
    checkAst(parseAst(explainLines(text)), sql, { database: this.reader.database, tables: USER_TABLES });
  }
}
