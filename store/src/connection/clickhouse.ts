/**
 * The ClickHouse connections: with the embedded engine's loader beside it, the
 * only code that imports @clickhouse/client or chDB.
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
 * Foreign errors are wrapped here, once.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createClient, type ClickHouseClient, type ClickHouseSettings } from '@clickhouse/client';
import { TapwatchError } from '@tapwatch/schema';
import { StoreErrorCode, wrapQueryError } from '../errors.js';
import { withDatabase } from '../schema.js';
import type { Connection, Row, SqlReader } from './connection.js';
import { loadChdb } from './embedded.js';

export interface ConnectionOptions {
  /** ClickHouse server URL; undefined means the embedded engine under `dataDir`. */
  url?: string | undefined;
  user: string;
  password: string;
  database: string;
  dataDir: string;
  readonlyUser?: string | undefined;
  readonlyPassword?: string | undefined;
  /** Limits of user SQL. */
  sqlMaxRows: number;
  sqlTimeoutSeconds: number;
  /** Largest answer of user SQL in bytes (max_result_bytes). */
  sqlMaxResultBytes: number;
}

const INT64_TYPE = /^(Nullable\()?(LowCardinality\()?U?Int(64|128|256)\b/;

/** Opens the writer and the user-SQL reader; throws a TapwatchError that says what to do when it cannot. */
export async function openConnections(options: ConnectionOptions): Promise<{ writer: Connection; reader: SqlReader }> {
  const limits: ClickHouseSettings = {
    max_execution_time: options.sqlTimeoutSeconds,
    max_result_rows: String(options.sqlMaxRows),
    result_overflow_mode: 'throw',
    max_result_bytes: String(options.sqlMaxResultBytes),
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
        { retriable: false, httpStatus: 500, cause: err },
      );
    }
    prepareReader = async () => {
      // Order matters: limits first, then USE, then readonly=1 locks them all for this session.
      await drain(reader.query({ query: 'SELECT 1', format: 'JSON', clickhouse_settings: limits }));
      await reader.command({ query: `USE ${options.database}` });
      await drain(reader.query({ query: 'SELECT 1', format: 'JSON', clickhouse_settings: { readonly: '1' } }));
    };
  }
  const embedded = !options.url;
  return {
    writer: new ClickHouseConnection(writer, options.database, embedded),
    reader: new ClickHouseSqlReader(reader, options.database, embedded, readerSettings, prepareReader),
  };
}

async function drain(p: Promise<{ json: () => Promise<unknown> }>): Promise<void> {
  await (await p).json();
}

/** Wraps a foreign storage error once: storage trouble is retriable for the analyzer. */
async function wrapped<T>(fn: () => Promise<T>): Promise<T> {
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

class ClickHouseConnection implements Connection {
  constructor(
    private readonly client: ClickHouseClient,
    readonly database: string,
    readonly embedded: boolean,
  ) {}

  select<T = Row>(sql: string, params: Record<string, unknown> = {}, options: { final?: boolean } = {}): Promise<T[]> {
    return wrapped(async () => {
      const rs = await this.client.query({
        query: withDatabase(sql, this.database),
        format: 'JSON',
        query_params: params,
        clickhouse_settings: { final: options.final === false ? 0 : 1 },
      });
      const body = (await rs.json()) as { meta?: { name: string; type: string }[]; data?: Row[] };
      return normalizeRows(body.data ?? [], body.meta ?? []) as T[];
    });
  }

  async insert(table: string, rows: readonly Row[]): Promise<void> {
    if (rows.length === 0) return;
    await wrapped(() => this.client.insert({ table: `${this.database}.${table}`, values: rows as Row[], format: 'JSONEachRow' }));
  }

  async run(sql: string, params?: Record<string, unknown>): Promise<void> {
    await wrapped(() => this.client.command({ query: withDatabase(sql, this.database), ...(params ? { query_params: params } : {}) }));
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

class ClickHouseSqlReader implements SqlReader {
  constructor(
    private readonly client: ClickHouseClient,
    readonly database: string,
    readonly embedded: boolean,
    private readonly settings: ClickHouseSettings,
    readonly prepare: () => Promise<void>,
  ) {}

  async queryText(sql: string, params: Record<string, unknown>): Promise<string> {
    try {
      const rs = await this.client.query({ query: sql, format: 'JSON', query_params: params, clickhouse_settings: this.settings });
      return await rs.text();
    } catch (err) {
      throw wrapQueryError(err);
    }
  }

  async explain(sql: string, params: Record<string, unknown>): Promise<string> {
    // exec, not query: the client would append a FORMAT clause, which EXPLAIN reads as part of the explained query.
    // TabSeparated escapes newlines inside names, so each AST line is one row.
    const settings: ClickHouseSettings = this.embedded ? { default_format: 'TabSeparated' } : this.settings;
    let text = '';
    try {
      const rs = await this.client.exec({ query: sql, query_params: params, clickhouse_settings: settings });
      for await (const chunk of rs.stream) text += typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8');
    } catch (err) {
      throw wrapQueryError(err);
    }
    return text;
  }

  async flush(): Promise<void> {
    try {
      const rs = await this.client.exec({ query: 'SELECT 1', clickhouse_settings: { default_format: 'TabSeparated' } });
      for await (const _chunk of rs.stream) void _chunk;
    } catch {
      // Nothing to absorb, or the session is gone: the next query will say so.
    }
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

/**
 * A ClickHouse server quotes 64-bit integers in JSON, the embedded engine does
 * not; give callers numbers either way (as strings only when a number would lose precision).
 */
export function normalizeRows(rows: Row[], columns: { name: string; type: string }[]): Row[] {
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
