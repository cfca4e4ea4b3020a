/**
 * User SQL (`/v1/sql`, `tapwatch sql`): parsed by the engine's own parser and
 * checked by the guard (sql-guard.ts), then run on the read-only reader with
 * its limits. The only way user text reaches the database.
 *
 * Each client (the API passes a token's id) gets fair turns (fair-queue.ts):
 * one query running and a few waiting, and the embedded engine, which runs one
 * query at a time, serves the client that waited longest next.
 */
import { TapwatchError } from '@tapwatch/schema';
import type { JsonAnswer, SqlReader } from './connection/connection.js';
import { normalizeRows } from './connection/clickhouse.js';
import { StoreErrorCode, wrapQueryError } from './errors.js';
import { USER_TABLES } from './schema.js';
import { FairQueue } from './fair-queue.js';
import { checkAst, checkNames, explainLines, parseAst, queryTreeCteNames } from './sql-guard.js';

/** A user query's answer: rows, column names and types, the engine's statistics. */
export type QueryResult = JsonAnswer;

/** `optimize = 0` ends EXPLAIN's own settings, so a misspelt first word is reported as the query's error. */
const EXPLAIN_PREFIX = 'EXPLAIN AST optimize = 0 ';
/** The parsed query as a tree, no pass run (nothing resolved): where CTE names show. */
const QUERY_TREE_PREFIX = 'EXPLAIN QUERY TREE run_passes = 0 ';
/** Largest answer of user SQL, as ClickHouse's max_result_bytes. */
export const MAX_RESULT_BYTES = 64 * 1024 * 1024;
/** Queries one client may have running, and waiting, before it is refused with 429 (TAPWATCH_SQL_BUSY). */
export const SQL_PER_CLIENT = Object.freeze({ running: 1, queued: 4 });
/** The client of queries tapwatch itself runs (the alert stream's resume). */
export const INTERNAL_CLIENT = 'internal';

export class UserSql {
  private ready: Promise<void> | undefined;
  private readonly queue: FairQueue;

  constructor(
    private readonly reader: SqlReader,
    private readonly maxRows: number,
  ) {
    this.queue = new FairQueue({
      // The embedded reader is one session: one query at a time. A server runs them side by side.
      concurrency: reader.embedded ? 1 : Number.POSITIVE_INFINITY,
      perClientRunning: SQL_PER_CLIENT.running,
      perClientQueued: SQL_PER_CLIENT.queued,
      onFull: () =>
        new TapwatchError(
          StoreErrorCode.BUSY,
          `too many queries of this token at once (${SQL_PER_CLIENT.running} running and ${SQL_PER_CLIENT.queued} waiting): wait for an answer before sending more`,
          { httpStatus: 429, retriable: true },
        ),
    });
  }

  /**
   * Runs user SQL under the database's read-only guard and limits, in `client`'s turn
   * (the API passes the token's id; queries of one client wait for each other, not for other clients' queues).
   */
  async query(sql: string, params: Record<string, unknown> = {}, client: string = INTERNAL_CLIENT): Promise<QueryResult> {
    this.ready ??= this.reader.prepare().catch((err: unknown) => {
      this.ready = undefined;
      throw wrapQueryError(err);
    });
    await this.ready;
    if (!this.reader.embedded) return this.queue.run(client, () => this.run(sql, params));
    // After a failed query a throwaway one, in the same turn: chDB hands what a failed query
    // had written to the next query of the session.
    return this.queue.run(client, async () => {
      try {
        return await this.run(sql, params);
      } catch (err) {
        await this.reader.flush();
        throw err;
      }
    });
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
    await this.oneStatement(sql);
    let text: string;
    try {
      text = await this.reader.explain(`${EXPLAIN_PREFIX}${sql}`, params);
    } catch (err) {
      throw fromUserPosition(err, EXPLAIN_PREFIX.length);
    }
    const options = { database: this.reader.database, tables: USER_TABLES };
    const open = checkAst(parseAst(explainLines(text)), options);
    if (open.tables.length === 0 && open.inOperands.length === 0) return;
    // Names that are none of tapwatch's tables: CTEs (named in the query tree, not in the AST), or not.
    let ctes = new Set<string>();
    if (open.tables.length > 0) {
      try {
        ctes = queryTreeCteNames(explainLines(await this.reader.explain(`${QUERY_TREE_PREFIX}${sql}`, params)));
      } catch (err) {
        throw fromUserPosition(err, QUERY_TREE_PREFIX.length);
      }
    }
    const names = [...new Set([...open.tables, ...open.inOperands])];
    const found = await this.reader.queryText('SELECT name FROM system.tables WHERE database = {db:String} AND name IN {names:Array(String)}', {
      db: this.reader.database,
      names,
    });
    const existing = new Set(((JSON.parse(found) as { data?: { name: string }[] }).data ?? []).map((r) => r.name));
    checkNames(open, ctes, existing, options);
  }

  /**
   * Refuses a body of more than one statement, by the engine's parser: `formatQuery` parses its
   * argument (a parameter, so nothing of it is run) as one statement. The embedded engine would
   * run every statement of a body handed to it, even after EXPLAIN.
   */
  private async oneStatement(sql: string): Promise<void> {
    try {
      await this.reader.queryText('SELECT formatQuerySingleLine({q:String}) AS q', { q: sql });
    } catch (err) {
      if (!(err instanceof TapwatchError)) throw err;
      if (/Multi-statements are not allowed/i.test(err.message)) {
        throw new TapwatchError(
          StoreErrorCode.MULTI_STATEMENT,
          'one statement per request: /v1/sql runs a single SELECT (a trailing ";" is fine); send each statement on its own',
          { httpStatus: 400, cause: err },
        );
      }
      // Another syntax error: EXPLAIN reports it with the position in the user's query, and cannot
      // run a second statement after a first that does not parse. A ";" before the end could still
      // hide one from a parser that disagrees, so then this error stands.
      if (err.code !== StoreErrorCode.BAD_QUERY || /;[\s;]*\S/.test(sql)) {
        throw new TapwatchError(err.code, err.message.replace(/:?\s*In scope SELECT formatQuerySingleLine\(.*$/s, ''), {
          httpStatus: err.httpStatus,
          retriable: err.retriable,
          cause: err,
        });
      }
      await this.reader.flush();
    }
  }
}

/** Positions in parser errors count from the start of what was parsed: make them the user's. */
function fromUserPosition(err: unknown, prefixLength: number): unknown {
  if (!(err instanceof TapwatchError)) return err;
  const message = err.message.replace(/position (\d+)/g, (_m, n: string) => `position ${Math.max(1, Number(n) - prefixLength)}`);
  return new TapwatchError(err.code, message, { httpStatus: err.httpStatus, retriable: err.retriable, cause: err.options.cause });
}
