/**
 * The two connections storage runs on, as the rest of the store sees them:
 * no type of @clickhouse/client or chDB crosses this line.
 *
 * - `Connection`: tapwatch's own fixed, parameterized statements (migrations,
 *   repositories). `{db}` in a statement names tapwatch's database.
 * - `SqlReader`: user SQL only, on a separate session or user whose guard is
 *   the database's own `readonly` setting (see user-sql.ts).
 */

export type Row = Record<string, unknown>;

/** A query's answer in ClickHouse's JSON format, 64-bit integers as numbers where exact. */
export interface JsonAnswer {
  rows: Row[];
  columns: { name: string; type: string }[];
  statistics?: { elapsed?: number; rows_read?: number; bytes_read?: number } | undefined;
}

export interface Connection {
  /** The database holding tapwatch's tables. */
  readonly database: string;
  /** True for the embedded engine (chDB), false for a ClickHouse server. */
  readonly embedded: boolean;
  /**
   * Runs a SELECT. `final` (default true) makes reads see each event once even before
   * ReplacingMergeTree merged a duplicate away; existence checks pass false (any copy answers
   * them, and FINAL costs a merge on read).
   */
  select<T = Row>(sql: string, params?: Record<string, unknown>, options?: { final?: boolean }): Promise<T[]>;
  /** Inserts rows (JSONEachRow) into one of tapwatch's tables. */
  insert(table: string, rows: readonly Row[]): Promise<void>;
  /** Runs a statement without a result (DDL, INSERT … SELECT, mutations); `params` fill `{name:Type}`. */
  run(sql: string, params?: Record<string, unknown>): Promise<void>;
  close(): Promise<void>;
}

export interface SqlReader {
  readonly database: string;
  readonly embedded: boolean;
  /** Sets the session up once before the first query (embedded: limits, then readonly=1 locks them). */
  prepare(): Promise<void>;
  /** Runs a query; resolves with the JSON answer's text (checked for size by the caller before parsing). */
  queryText(sql: string, params: Record<string, unknown>): Promise<string>;
  /** The engine's `EXPLAIN AST` of a query, one AST line a row. */
  explain(sql: string, params: Record<string, unknown>): Promise<string>;
  /** Absorbs what a failed query may have left in the session (embedded engine). */
  flush(): Promise<void>;
  close(): Promise<void>;
}
