/**
 * The ClickHouse adapter: the only file that imports @clickhouse/client or chDB.
 *
 * Storage is written once against @clickhouse/client. With `CLICKHOUSE_URL` it
 * talks to a ClickHouse server; without, it plugs ClickHouse's embedded engine
 * (chDB, loaded only then) into the same client through `createClient({ connection })`.
 *
 * User SQL runs on a separate reader whose guard is the database's own
 * `readonly` setting: with chDB, a dedicated session whose limits are set first
 * and then locked by `readonly=1` (settings persist per chDB session, and in
 * readonly mode none can be changed again); with a server, a read-only user
 * (CLICKHOUSE_READONLY_USER) or, failing that, `readonly=1` on every query.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createClient, type ClickHouseClient, type ClickHouseSettings } from '@clickhouse/client';
import { log, TapwatchError, type Alert, type TapEvent } from '@tapwatch/schema';
import { StoreErrorCode, wrapQueryError } from '../errors.js';
import { MIGRATIONS, MIGRATIONS_TABLE, USER_TABLES, withDatabase, type TableRebuild } from './schema.js';
import { checkAst, explainLines, parseAst } from './sql-guard.js';
import { applyViews } from './views.js';
import { applyStateTables } from './state-tables.js';
import { alertRow, byTime, deliveryGapRow, fromChTime, serverRequestRow, sessionFromRow, sessionRow, toChTime, toolCallFromRow, toolCallRow, toolsListFromRows } from './rows.js';
import type { KnownDefinition, QueryResult, Store, ToolDefinitionRow } from './store.js';

export interface ClickHouseStoreOptions {
  /** ClickHouse server URL; undefined means the embedded engine under `dataDir`. */
  url?: string | undefined;
  user: string;
  password: string;
  database: string;
  dataDir: string;
  readonlyUser?: string | undefined;
  readonlyPassword?: string | undefined;
  sqlMaxRows: number;
  sqlTimeoutSeconds: number;
}

/** Opens the store; throws a TapwatchError that says what to do when it cannot. */
export async function openClickHouseStore(options: ClickHouseStoreOptions): Promise<Store> {
  const limits: ClickHouseSettings = {
    max_execution_time: options.sqlTimeoutSeconds,
    max_result_rows: String(options.sqlMaxRows),
    result_overflow_mode: 'throw',
    max_result_bytes: String(MAX_RESULT_BYTES),
    max_memory_usage: String(2 * 1024 * 1024 * 1024),
    output_format_json_quote_64bit_integers: 0,
    // Tables deduplicate on the event id (schema.ts, version 4): users see each event once.
    final: 1,
  };
  let writer: ClickHouseClient;
  let reader: ClickHouseClient;
  let readerSettings: ClickHouseSettings = {};
  let prepareReader: () => Promise<void> = async () => {};

  if (options.url) {
    writer = createClient({ url: options.url, username: options.user, password: options.password });
    if (options.readonlyUser) {
      reader = createClient({
        url: options.url,
        username: options.readonlyUser,
        password: options.readonlyPassword ?? '',
        database: options.database,
      });
    } else {
      reader = createClient({ url: options.url, username: options.user, password: options.password, database: options.database });
      // final before readonly: the request's settings are checked against the user's own (writable)
      // profile, and in this order even a server applying them one by one accepts final first.
      readerSettings = { final: 1, readonly: '1' };
    }
  } else {
    const { createChdbConnection } = await loadChdb();
    const path = resolve(join(options.dataDir, 'clickhouse'));
    mkdirSync(path, { recursive: true });
    // chDB types its connection against @clickhouse/client-common, which @clickhouse/client
    // now bundles under its own paths: the shapes are identical, the declarations are not.
    type ClientConnection = NonNullable<Parameters<typeof createClient>[0]>['connection'];
    try {
      writer = createClient({ connection: createChdbConnection({ path }) as unknown as ClientConnection });
      reader = createClient({ connection: createChdbConnection({ path }) as unknown as ClientConnection });
    } catch (err) {
      // The embedded engine locks its directory: one process at a time.
      throw new TapwatchError(
        StoreErrorCode.UNAVAILABLE,
        `cannot open the embedded ClickHouse data in ${path}: is another tapwatch process using it? Stop it, use another --data directory, or set CLICKHOUSE_URL (${(err as Error).message})`,
        { cause: err },
      );
    }
    prepareReader = async () => {
      // Order matters: limits first, then USE, then readonly=1 locks them all for this session.
      await drain(reader.query({ query: 'SELECT 1', format: 'JSON', clickhouse_settings: limits }));
      await reader.command({ query: `USE ${options.database}` });
      await drain(reader.query({ query: 'SELECT 1', format: 'JSON', clickhouse_settings: { readonly: '1' } }));
    };
  }
  return new ClickHouseStore(writer, reader, readerSettings, prepareReader, options);
}

async function loadChdb(): Promise<typeof import('chdb/connection')> {
  try {
    return await import('chdb/connection');
  } catch (err) {
    throw new TapwatchError(
      StoreErrorCode.NO_EMBEDDED_ENGINE,
      'the embedded ClickHouse engine (npm package chdb) is not installed: run `npm install chdb`, or set CLICKHOUSE_URL to use a ClickHouse server',
      { cause: err },
    );
  }
}

async function drain(p: Promise<{ json: () => Promise<unknown> }>): Promise<void> {
  await (await p).json();
}

const EXPLAIN_PREFIX = 'EXPLAIN AST optimize = 0 ';
/** Largest answer of user SQL, as ClickHouse's max_result_bytes below. */
const MAX_RESULT_BYTES = 64 * 1024 * 1024;

/** Where each event type is stored, and its id column. */
const EVENT_TABLE: Record<TapEvent['type'], { table: string; column: string }> = {
  tool_call: { table: 'tool_calls', column: 'id' },
  session_start: { table: 'sessions', column: 'event_id' },
  session_end: { table: 'sessions', column: 'event_id' },
  server_request: { table: 'server_requests', column: 'id' },
  delivery_gap: { table: 'delivery_gaps', column: 'id' },
  // Only a tools_list that changed a definition leaves rows; one that did not is harmless to see again.
  tools_list: { table: 'tool_definitions', column: 'event_id' },
};

const INT64_TYPE = /^(Nullable\()?(LowCardinality\()?U?Int(64|128|256)\b/;

class ClickHouseStore implements Store {
  private readerReady: Promise<void> | undefined;
  private readonly db: string;
  private readonly embedded: boolean;
  private readerTurn: Promise<void> = Promise.resolve();
  private readonly maxRows: number;

  constructor(
    private readonly writer: ClickHouseClient,
    private readonly reader: ClickHouseClient,
    private readonly readerSettings: ClickHouseSettings,
    private readonly prepareReader: () => Promise<void>,
    options: ClickHouseStoreOptions,
  ) {
    this.db = options.database;
    this.embedded = !options.url;
    this.maxRows = options.sqlMaxRows;
  }

  /**
   * Creates or migrates the schema. Every step is idempotent and checks the
   * database first, but several analyzers starting together on an empty
   * database can still trip over each other mid-step (one drops the rebuild
   * table another is copying into): a failed attempt is retried after a short
   * random pause, and by then the other's work is visible and skipped.
   */
  async migrate(): Promise<void> {
    const attempts = 6;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.migrateOnce();
        return;
      } catch (err) {
        if (attempt >= attempts) throw err;
        log.warn('schema migration raced or failed; retrying', { attempt, error: (err as Error).message });
        await new Promise((r) => setTimeout(r, 200 + Math.random() * 800 * attempt));
      }
    }
  }

  private async migrateOnce(): Promise<void> {
    await this.run(`CREATE DATABASE IF NOT EXISTS ${this.db}`);
    await this.run(withDatabase(MIGRATIONS_TABLE, this.db));
    const applied = await this.select<{ version: number }>(`SELECT version FROM ${this.db}.schema_migrations`);
    const done = new Set(applied.map((r) => Number(r.version)));
    for (const m of MIGRATIONS) {
      // Rebuilds are checked at every start: one interrupted (or raced by another analyzer) is finished here.
      if (done.has(m.version)) {
        for (const r of m.rebuilds ?? []) await this.rebuild(r);
        continue;
      }
      for (const statement of m.statements) await this.run(withDatabase(statement, this.db));
      for (const r of m.rebuilds ?? []) await this.rebuild(r);
      await this.wrap(() =>
        this.writer.insert({
          table: `${this.db}.schema_migrations`,
          values: [{ version: m.version, description: m.description }],
          format: 'JSONEachRow',
        }),
      );
      log.info('schema migrated', { version: m.version, description: m.description });
    }
    await applyStateTables((statement) => this.run(withDatabase(statement, this.db)));
    await applyViews((statement) => this.run(withDatabase(statement, this.db)));
  }

  async insertEvents(events: TapEvent[]): Promise<void> {
    const calls: Record<string, unknown>[] = [];
    const sessions: Record<string, unknown>[] = [];
    const serverRequests: Record<string, unknown>[] = [];
    const gaps: Record<string, unknown>[] = [];
    for (const e of events) {
      if (e.type === 'tool_call') calls.push(toolCallRow(e));
      else if (e.type === 'session_start' || e.type === 'session_end') sessions.push(sessionRow(e));
      else if (e.type === 'server_request') serverRequests.push(serverRequestRow(e));
      else if (e.type === 'delivery_gap') gaps.push(deliveryGapRow(e));
    }
    if (calls.length > 0) await this.insert('tool_calls', calls);
    if (sessions.length > 0) await this.insert('sessions', sessions);
    if (serverRequests.length > 0) await this.insert('server_requests', serverRequests);
    if (gaps.length > 0) await this.insert('delivery_gaps', gaps);
  }

  async storedEventIds(events: TapEvent[]): Promise<Set<string>> {
    const byTable = new Map<string, { column: string; ids: string[]; from: string; to: string; fromMs: number; toMs: number }>();
    for (const e of events) {
      const where = EVENT_TABLE[e.type];
      const ms = Date.parse(e.time);
      let t = byTable.get(where.table);
      if (t === undefined) {
        t = { column: where.column, ids: [], from: e.time, to: e.time, fromMs: ms, toMs: ms };
        byTable.set(where.table, t);
      }
      t.ids.push(e.id);
      if (ms < t.fromMs) [t.from, t.fromMs] = [e.time, ms];
      if (ms > t.toMs) [t.to, t.toMs] = [e.time, ms];
    }
    const parts: string[] = [];
    const params: Record<string, unknown> = {};
    let i = 0;
    for (const [table, t] of byTable) {
      // A duplicate has the event's own time: the time range prunes partitions and granules, the bloom index the rest.
      parts.push(
        `SELECT toString(${t.column}) AS stored_id FROM ${this.db}.${table}
         WHERE time >= toDateTime64({from${i}:String}, 3, 'UTC') AND time <= toDateTime64({to${i}:String}, 3, 'UTC')
           AND ${t.column} IN {ids${i}:Array(UUID)}`,
      );
      params[`from${i}`] = toChTime(t.from);
      params[`to${i}`] = toChTime(t.to);
      params[`ids${i}`] = t.ids;
      i++;
    }
    if (parts.length === 0) return new Set();
    // (Not `AS id`: an alias would shadow the id column in WHERE.)
    const rows = await this.select<{ stored_id: string }>(parts.join(' UNION ALL '), params, false);
    return new Set(rows.map((r) => r.stored_id));
  }

  async storedAlertIds(ids: string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const rows = await this.select<{ id: string }>(`SELECT DISTINCT id FROM ${this.db}.alerts WHERE id IN {ids:Array(String)}`, { ids }, false);
    return new Set(rows.map((r) => r.id));
  }

  async insertToolDefinitions(rows: ToolDefinitionRow[]): Promise<void> {
    if (rows.length > 0) await this.insert('tool_definitions', rows as unknown as Record<string, unknown>[]);
  }

  async insertAlerts(alerts: Alert[]): Promise<void> {
    if (alerts.length > 0) await this.insert('alerts', alerts.map(alertRow));
  }

  async selectRows(sql: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>[]> {
    return this.select(withDatabase(sql, this.db), params);
  }

  async insertRows(table: string, rows: Record<string, unknown>[]): Promise<void> {
    if (rows.length > 0) await this.insert(table, rows);
  }

  async queryReadOnly(sql: string, params: Record<string, unknown> = {}): Promise<QueryResult> {
    this.readerReady ??= this.prepareReader().catch((err: unknown) => {
      this.readerReady = undefined;
      throw wrapQueryError(err);
    });
    await this.readerReady;
    if (!this.embedded) return this.userQuery(sql, params);
    // One user query at a time on the embedded reader session, and after a failed one a throwaway
    // query: chDB hands what a failed query had written to the next query of the session.
    const turn = this.readerTurn.then(() => this.userQuery(sql, params));
    this.readerTurn = turn.then(
      () => undefined,
      () => this.flushReader(),
    );
    return turn;
  }

  private async flushReader(): Promise<void> {
    try {
      const rs = await this.reader.exec({ query: 'SELECT 1', clickhouse_settings: { default_format: 'TabSeparated' } });
      for await (const _chunk of rs.stream) void _chunk;
    } catch {
      // Nothing to absorb, or the session is gone: the next query will say so.
    }
  }

  private async userQuery(sql: string, params: Record<string, unknown>): Promise<QueryResult> {
    // A trailing `;` would stand between the query and the FORMAT clause the client appends.
    const query = sql.trim().replace(/;+$/, '');
    await this.guard(query, params);
    let text: string;
    try {
      const rs = await this.reader.query({
        query,
        format: 'JSON',
        query_params: params,
        clickhouse_settings: this.readerSettings,
      });
      text = await rs.text();
    } catch (err) {
      throw wrapQueryError(err);
    }
    // The embedded engine does not enforce max_result_bytes on a single block: the cap holds here too.
    if (text.length > MAX_RESULT_BYTES) {
      throw new TapwatchError(StoreErrorCode.LIMIT, `query exceeded a limit (add a LIMIT or select fewer columns): the result is larger than max_result_bytes (${MAX_RESULT_BYTES} bytes)`, { httpStatus: 422 });
    }
    let rows: Record<string, unknown>[];
    let result: QueryResult;
    try {
      const body = JSON.parse(text) as {
        meta?: { name: string; type: string }[];
        data?: Record<string, unknown>[];
        statistics?: QueryResult['statistics'];
      };
      const columns = body.meta ?? [];
      rows = normalizeRows(body.data ?? [], columns);
      result = { rows, columns, statistics: body.statistics };
    } catch (err) {
      throw new TapwatchError(StoreErrorCode.UNAVAILABLE, `storage answered with a result that is not JSON: ${(err as Error).message}`, { httpStatus: 503, cause: err });
    }
    // Same reason: a query without FROM (arrayJoin of a range) escapes the engine's max_result_rows.
    if (rows.length > this.maxRows) {
      throw new TapwatchError(StoreErrorCode.LIMIT, `query exceeded a limit (add a LIMIT or narrow the time range): more than max_result_rows (${this.maxRows}, TAPWATCH_SQL_MAX_ROWS) rows`, { httpStatus: 422 });
    }
    return result;
  }

  /** Parses user SQL with the engine's own parser and refuses what the guard does not allow (see sql-guard.ts). */
  private async guard(sql: string, params: Record<string, unknown>): Promise<void> {
    let text = '';
    try {
      // exec, not query: the client would append a FORMAT clause, which EXPLAIN reads as part of the explained query.
      // `optimize = 0` ends EXPLAIN's own settings, so a misspelt first word is reported as the query's error.
      // TabSeparated escapes newlines inside names, so each AST line is one row.
      const settings: ClickHouseSettings = this.embedded ? { default_format: 'TabSeparated' } : this.readerSettings;
      const rs = await this.reader.exec({ query: `${EXPLAIN_PREFIX}${sql}`, query_params: params, clickhouse_settings: settings });
      for await (const chunk of rs.stream) text += typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8');
    } catch (err) {
      const e = wrapQueryError(err);
      // Positions in parser errors count from the start of what was parsed: make them the user's.
      const message = e.message.replace(/position (\d+)/g, (_m, n: string) => `position ${Math.max(1, Number(n) - EXPLAIN_PREFIX.length)}`);
      throw new TapwatchError(e.code, message, { httpStatus: e.httpStatus, retriable: e.retriable, cause: err });
    }
    checkAst(parseAst(explainLines(text)), sql, { database: this.db, tables: USER_TABLES });
  }

  async recentResponseSizes(perKey: number): Promise<{ server: string; tool: string; sizes: number[]; requests: number[]; durations: number[] }[]> {
    const rows = await this.select<{ server: string; tool: string; sizes: (number | string)[]; requests: (number | string)[]; durations: number[] }>(
      `SELECT server, tool,
         arrayReverse(groupArray(response_bytes)) AS sizes,
         arrayReverse(groupArray(request_bytes)) AS requests,
         arrayReverse(groupArray(duration_ms)) AS durations
       FROM (
         SELECT server, tool, response_bytes, request_bytes, duration_ms FROM ${this.db}.tool_calls
         WHERE status = 'ok'
           -- calls that raised a volume alert stay out of the baseline, across restarts too
           AND toString(id) NOT IN (
             SELECT arrayJoin(event_ids) FROM ${this.db}.alerts
             WHERE detector IN ('result_size_outlier', 'argument_size_outlier', 'latency_outlier')
           )
         ORDER BY time DESC
         LIMIT {perKey:UInt32} BY server, tool
       )
       GROUP BY server, tool`,
      { perKey },
    );
    return rows.map((r) => ({ server: r.server, tool: r.tool, sizes: r.sizes.map(Number), requests: r.requests.map(Number), durations: r.durations.map(Number) }));
  }

  async knownDefinitions(): Promise<KnownDefinition[]> {
    return this.select<KnownDefinition>(
      `SELECT server, tool,
         argMin(definition_hash, time) AS first_hash,
         argMax(definition_hash, time) AS last_hash,
         groupUniqArray(definition_hash) AS hashes,
         argMin(definition, time) AS first_definition,
         toString(min(time)) AS first_seen
       FROM ${this.db}.tool_definitions
       GROUP BY server, tool`,
    );
  }

  async recentSessionCounts(perKey: number): Promise<{ server: string; tool: string; counts: number[] }[]> {
    const rows = await this.select<{ server: string; tool: string; counts: (number | string)[] }>(
      `SELECT server, tool, groupArray(n) AS counts
       FROM (
         SELECT server, tool, session, count() AS n, max(time) AS last
         FROM ${this.db}.tool_calls
         GROUP BY server, tool, session
         ORDER BY last DESC
         LIMIT {perKey:UInt32} BY server, tool
       )
       GROUP BY server, tool`,
      { perKey },
    );
    return rows.map((r) => ({ server: r.server, tool: r.tool, counts: r.counts.map(Number) }));
  }

  async recentCallSequence(limit: number): Promise<{ agent: string; session: string; server: string; tool: string }[]> {
    return this.select<{ agent: string; session: string; server: string; tool: string }>(
      `SELECT agent, session, server, tool FROM (
         SELECT agent, session, server, tool, time FROM ${this.db}.tool_calls ORDER BY time DESC LIMIT {limit:UInt32}
       ) ORDER BY session, time`,
      { limit },
    );
  }

  async recentSessionVolumes(perAgent: number): Promise<{ agent: string; volumes: number[] }[]> {
    const rows = await this.select<{ agent: string; volumes: (number | string)[] }>(
      `SELECT agent, groupArray(total) AS volumes FROM (
         SELECT agent, session, sum(response_bytes) AS total, max(time) AS last
         FROM ${this.db}.tool_calls GROUP BY agent, session
         ORDER BY last DESC LIMIT {perAgent:UInt32} BY agent
       ) GROUP BY agent`,
      { perAgent },
    );
    return rows.map((r) => ({ agent: r.agent, volumes: r.volumes.map(Number) }));
  }

  async knownServers(): Promise<string[]> {
    const rows = await this.select<{ server: string }>(`SELECT DISTINCT server FROM ${this.db}.sessions`);
    return rows.map((r) => r.server);
  }

  async historyBounds(): Promise<{ from: string; to: string; events: number } | undefined> {
    const [r] = await this.select<{ from: string; to: string; n: number }>(
      `SELECT toString(min(t)) AS from, toString(max(t)) AS to, sum(n) AS n FROM (
         SELECT min(time) AS t, count() AS n FROM ${this.db}.tool_calls
         UNION ALL SELECT max(time), 0 FROM ${this.db}.tool_calls
         UNION ALL SELECT min(time), count() FROM ${this.db}.sessions
         UNION ALL SELECT max(time), 0 FROM ${this.db}.sessions
       ) WHERE t > toDateTime64(0, 3, 'UTC')`,
    );
    if (!r || !r.n) return undefined;
    return { from: fromChTime(r.from), to: fromChTime(r.to), events: Number(r.n) };
  }

  async historySlice(from: string, to: string): Promise<TapEvent[]> {
    const params = { from: toChTime(from), to: toChTime(to) };
    const where = `time >= toDateTime64({from:String}, 3, 'UTC') AND time < toDateTime64({to:String}, 3, 'UTC')`;
    const [calls, sessions, defs] = await Promise.all([
      this.select<Record<string, unknown>>(`SELECT * FROM ${this.db}.tool_calls WHERE ${where} ORDER BY time`, params),
      this.select<Record<string, unknown>>(`SELECT * FROM ${this.db}.sessions WHERE ${where} ORDER BY time`, params),
      this.select<Record<string, unknown>>(`SELECT * FROM ${this.db}.tool_definitions WHERE ${where} ORDER BY time`, params),
    ]);
    return byTime([...sessions.map(sessionFromRow), ...toolsListFromRows(defs), ...calls.map(toolCallFromRow)]);
  }

  async ping(): Promise<boolean> {
    try {
      await this.select('SELECT 1 AS ok');
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.reader.close(), this.writer.close()]);
  }

  private async insert(table: string, values: Record<string, unknown>[]): Promise<void> {
    await this.wrap(() => this.writer.insert({ table: `${this.db}.${table}`, values, format: 'JSONEachRow' }));
  }

  /** Carries out one `TableRebuild` (see schema.ts): copy, swap, copy late rows, drop; each step only if still needed. */
  private async rebuild(r: TableRebuild): Promise<void> {
    const table = `${this.db}.${r.table}`;
    const tmpName = `${r.table}__rebuild`;
    const tmp = `${this.db}.${tmpName}`;
    const engineOf = async (name: string): Promise<string | undefined> =>
      (
        await this.select<{ engine: string }>(`SELECT engine FROM system.tables WHERE database = {db:String} AND name = {name:String}`, {
          db: this.db,
          name,
        })
      )[0]?.engine;
    const copyMissing = (into: string, from: string) =>
      this.run(`INSERT INTO ${into} SELECT * FROM ${from} WHERE ${r.idColumn} NOT IN (SELECT ${r.idColumn} FROM ${into})`);
    // Only the plain MergeTree of versions 1–3 is rebuilt: a cluster's Replicated*/Distributed
    // tables (deploy/k8s/clickhouse-cluster-schema.sql) are created deduplicating already.
    if ((await engineOf(r.table)) === OLD_ENGINE) {
      await this.run(`CREATE TABLE IF NOT EXISTS ${tmp} AS ${table} ${r.engine}`);
      for (const statement of r.prepare ?? []) await this.run(statement.replaceAll('{table}', tmp));
      await copyMissing(tmp, table);
      // Another analyzer may have swapped meanwhile: swap only an old table, or the swap would undo its work.
      if ((await engineOf(r.table)) === OLD_ENGINE) {
        await this.run(`EXCHANGE TABLES ${table} AND ${tmp}`);
        log.info('table rebuilt', { table: r.table, engine: r.engineName });
      }
    }
    // Left over from the swap (ours, an interrupted one, or another analyzer's): the old table.
    // Or a new table another analyzer built but did not swap in because one of us swapped first.
    const left = await engineOf(tmpName);
    if (left === OLD_ENGINE || (left !== undefined && (await engineOf(r.table)) === r.engineName)) {
      // Rows a writer put into the old table between the copy and the swap.
      await copyMissing(table, tmp);
      await this.run(`DROP TABLE IF EXISTS ${tmp}`);
    }
  }

  private async run(query: string): Promise<void> {
    await this.wrap(() => this.writer.command({ query }));
  }

  private async select<T>(query: string, params: Record<string, unknown> = {}, final = true): Promise<T[]> {
    return this.wrap(async () => {
      // final: reads see each event once even before ReplacingMergeTree merged a duplicate away (schema.ts, version 4).
      // Existence checks pass final = false: any copy of a row answers them, and FINAL costs a merge on read.
      const rs = await this.writer.query({ query, format: 'JSON', query_params: params, clickhouse_settings: { final: final ? 1 : 0 } });
      const body = (await rs.json()) as { meta?: { name: string; type: string }[]; data?: Record<string, unknown>[] };
      return normalizeRows(body.data ?? [], body.meta ?? []) as T[];
    });
  }

  /** Wraps a foreign storage error once: storage trouble is retriable for the analyzer. */
  private async wrap<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof TapwatchError) throw err;
      throw new TapwatchError(StoreErrorCode.UNAVAILABLE, `storage failed: ${(err as Error).message}`, {
        retriable: true,
        httpStatus: 503,
        cause: err,
      });
    }
  }
}

/** The engine tables had before version 4 made them deduplicate. */
const OLD_ENGINE = 'MergeTree';

/**
 * A ClickHouse server quotes 64-bit integers in JSON, the embedded engine does
 * not; give callers numbers either way (as strings only when a number would lose precision).
 */
function normalizeRows(rows: Record<string, unknown>[], columns: { name: string; type: string }[]): Record<string, unknown>[] {
  const wide = columns.filter((c) => INT64_TYPE.test(c.type)).map((c) => c.name);
  if (wide.length === 0) return rows;
  for (const row of rows) {
    for (const name of wide) {
      const v = row[name];
      if (typeof v === 'string' && /^-?\d+$/.test(v)) {
        const n = Number(v);
        if (Number.isSafeInteger(n)) row[name] = n;
      }
    }
  }
  return rows;
}
