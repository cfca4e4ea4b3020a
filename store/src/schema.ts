/**
 * The ClickHouse schema, as ordered migrations. Applied at analyzer start;
 * `schema_migrations` records what ran. Every statement is idempotent so two
 * analyzers starting together cannot break each other.
 *
 * `{db}` is replaced with the configured database (validated as a plain identifier).
 */
import { VIEW_NAMES } from './views.js';

export interface Migration {
  version: number;
  description: string;
  statements: string[];
  /** Tables recreated with another engine or sorting key, after `statements` (see `TableRebuild`). */
  rebuilds?: TableRebuild[];
}

/**
 * A table recreated with another engine or sorting key. ClickHouse cannot alter
 * either in place, so the adapter copies the rows into `<table>__rebuild`, swaps
 * the two with `EXCHANGE TABLES` (atomic), copies any row that reached the old
 * table meanwhile, and drops it. Every step is conditional on what the database
 * holds (the engine in `system.tables`, ids already copied), and the check runs
 * at every start: an interrupted rebuild, or two analyzers migrating together,
 * converge on the rebuilt table without losing a row.
 */
/** A version-4 rebuild: `table` as a ReplacingMergeTree keyed as `keys`, with a bloom-filter index on `idColumn` unless it leads the key. */
function dedupRebuild(table: string, keys: string, idColumn: string, idIndex = true): TableRebuild {
  return {
    table,
    engine: `ENGINE = ReplacingMergeTree ${keys}`,
    engineName: 'ReplacingMergeTree',
    idColumn,
    ...(idIndex ? { prepare: [ID_INDEX.replace('{id}', idColumn)] } : {}),
  };
}

export interface TableRebuild {
  table: string;
  /** `ENGINE = … [PARTITION BY …] ORDER BY …` of the new table (its columns are the old table's). */
  engine: string;
  /** Engine name in system.tables once rebuilt. */
  engineName: string;
  /** The column holding the event (or alert) id; rows are copied once by it. */
  idColumn: string;
  /** Statements for the new table before it is swapped in (`{table}` is its name). */
  prepare?: string[];
}

/**
 * Exactly once in storage (version 4). Taps, Kafka and the analyzer deliver at
 * least once: a tap re-sends a batch whose answer it did not get, Kafka
 * redelivers what was stored but not committed before a crash. Two layers make
 * queries show each event once:
 *  - the analyzer drops events whose id is already stored before inserting
 *    (`Store.storedEventIds`; a bloom-filter index on the id keeps that cheap),
 *    so detectors see each event once too and a replay raises no alert again;
 *  - the tables deduplicate on the id themselves (ReplacingMergeTree with the id
 *    last in the sorting key; a duplicate has the same time, server and tool, so
 *    the same key), and every read runs with `final = 1`, for what the first
 *    check cannot see: two analyzers inserting the same batch at once during a
 *    rebalance, or a crash between the inserts of two tables of one batch.
 * Alerts are keyed by their deterministic id alone (their `time` is when the
 * analyzer raised them, so it differs between a run and its replay).
 *
 * An id alone does not make a redelivery (version 5): each event row carries a
 * fingerprint of the event's content (fingerprint.ts). An event whose id is
 * stored with another fingerprint is not skipped: it is stored apart under an
 * id derived from both (`collisionId`), and the analyzer raises
 * `event_id_collision`. The sorting keys stay as they are: the derived id keeps
 * the two apart in the tables too.
 */
const ID_INDEX = 'ALTER TABLE {table} ADD INDEX IF NOT EXISTS id_bloom {id} TYPE bloom_filter(0.001) GRANULARITY 4';

export const MIGRATIONS: readonly Migration[] = Object.freeze([
  {
    version: 1,
    description: 'tool calls, tool definitions, sessions, alerts',
    statements: [
      `CREATE TABLE IF NOT EXISTS {db}.tool_calls (
        id UUID,
        time DateTime64(3, 'UTC'),
        started_at DateTime64(3, 'UTC'),
        agent String,
        session String,
        server LowCardinality(String),
        transport LowCardinality(String),
        tool LowCardinality(String),
        request_id String,
        request_bytes UInt64,
        response_bytes UInt64,
        duration_ms Float64,
        status LowCardinality(String),
        is_error Bool,
        error_code Nullable(Int64),
        error_message Nullable(String),
        argument_keys Array(String),
        arguments_hash String,
        ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
      ) ENGINE = MergeTree
      PARTITION BY toYYYYMM(time)
      ORDER BY (server, tool, time)`,
      `CREATE TABLE IF NOT EXISTS {db}.tool_definitions (
        event_id UUID,
        time DateTime64(3, 'UTC'),
        agent String,
        session String,
        server LowCardinality(String),
        tool String,
        definition_hash String,
        previous_hash String,
        title String,
        description String,
        input_schema String,
        definition String
      ) ENGINE = MergeTree
      ORDER BY (server, tool, time)`,
      `CREATE TABLE IF NOT EXISTS {db}.sessions (
        event_id UUID,
        time DateTime64(3, 'UTC'),
        event LowCardinality(String),
        session String,
        agent String,
        server LowCardinality(String),
        transport LowCardinality(String),
        protocol_version String,
        client_name String,
        client_version String,
        server_name String,
        server_version String,
        target String,
        calls UInt64,
        incomplete UInt64,
        exit_code Nullable(Int64),
        signal String,
        non_json_lines UInt64
      ) ENGINE = MergeTree
      ORDER BY (session, time)`,
      `CREATE TABLE IF NOT EXISTS {db}.alerts (
        id String,
        time DateTime64(3, 'UTC'),
        severity LowCardinality(String),
        detector LowCardinality(String),
        title String,
        server String,
        tool String,
        agent String,
        session String,
        evidence String,
        event_ids Array(String)
      ) ENGINE = MergeTree
      ORDER BY (time, id)`,
    ],
  },
  {
    version: 2,
    description: 'content fields of tool calls: capture level, redacted arguments and preview, findings, digests, destinations',
    statements: [
      `ALTER TABLE {db}.tool_calls
        ADD COLUMN IF NOT EXISTS capture LowCardinality(String) DEFAULT 'metadata',
        ADD COLUMN IF NOT EXISTS arguments String DEFAULT '',
        ADD COLUMN IF NOT EXISTS result_preview String DEFAULT '',
        ADD COLUMN IF NOT EXISTS findings String DEFAULT '[]',
        ADD COLUMN IF NOT EXISTS finding_kinds Array(LowCardinality(String)),
        ADD COLUMN IF NOT EXISTS result_digests Array(String),
        ADD COLUMN IF NOT EXISTS argument_digests Array(String),
        ADD COLUMN IF NOT EXISTS destinations Array(String)`,
    ],
  },
  {
    version: 3,
    description: 'identity on every call, progress and request rounds, server→client requests, delivery gaps',
    statements: [
      `ALTER TABLE {db}.tool_calls
        ADD COLUMN IF NOT EXISTS protocol_version LowCardinality(String) DEFAULT '',
        ADD COLUMN IF NOT EXISTS client_name LowCardinality(String) DEFAULT '',
        ADD COLUMN IF NOT EXISTS client_version LowCardinality(String) DEFAULT '',
        ADD COLUMN IF NOT EXISTS server_version LowCardinality(String) DEFAULT '',
        ADD COLUMN IF NOT EXISTS progress_notifications UInt32 DEFAULT 0,
        ADD COLUMN IF NOT EXISTS rounds UInt32 DEFAULT 1,
        ADD COLUMN IF NOT EXISTS server_requests UInt32 DEFAULT 0`,
      `CREATE TABLE IF NOT EXISTS {db}.server_requests (
        id UUID,
        time DateTime64(3, 'UTC'),
        started_at DateTime64(3, 'UTC'),
        agent String,
        session String,
        server LowCardinality(String),
        transport LowCardinality(String),
        method LowCardinality(String),
        request_id String,
        request_bytes UInt64,
        response_bytes UInt64,
        duration_ms Float64,
        status LowCardinality(String),
        error_code Nullable(Int64),
        action LowCardinality(String),
        related_tool String,
        related_request_id String
      ) ENGINE = MergeTree
      ORDER BY (server, method, time)`,
      `CREATE TABLE IF NOT EXISTS {db}.delivery_gaps (
        id UUID,
        time DateTime64(3, 'UTC'),
        agent String,
        session String,
        server LowCardinality(String),
        transport LowCardinality(String),
        dropped UInt64,
        from_time Nullable(DateTime64(3, 'UTC')),
        to_time Nullable(DateTime64(3, 'UTC')),
        reason String
      ) ENGINE = MergeTree
      ORDER BY (time, id)`,
    ],
  },
  {
    version: 4,
    description: 'deduplicate on the id: event tables and alerts become ReplacingMergeTree with the id in the sorting key',
    statements: [],
    rebuilds: [
      dedupRebuild('tool_calls', 'PARTITION BY toYYYYMM(time) ORDER BY (server, tool, time, id)', 'id'),
      dedupRebuild('sessions', 'ORDER BY (session, time, event_id)', 'event_id'),
      dedupRebuild('server_requests', 'ORDER BY (server, method, time, id)', 'id'),
      dedupRebuild('delivery_gaps', 'ORDER BY (time, id)', 'id'),
      // One tools_list event stores a row per changed tool: (event, tool) is the unit.
      dedupRebuild('tool_definitions', 'ORDER BY (server, tool, time, event_id)', 'event_id'),
      // Keyed by id alone: an alert's time changes when a replay raises it again. No id index: the id is the key.
      dedupRebuild('alerts', 'ORDER BY id', 'id', false),
    ],
  },
  {
    version: 5,
    description: 'what a tap cut while parsing (values nested past its limit) on calls, server requests and definitions',
    statements: [
      'ALTER TABLE {db}.tool_calls ADD COLUMN IF NOT EXISTS cut Array(String)',
      'ALTER TABLE {db}.server_requests ADD COLUMN IF NOT EXISTS cut Array(String)',
      'ALTER TABLE {db}.tool_definitions ADD COLUMN IF NOT EXISTS cut Array(String)',
    ],
  },
  {
    version: 6,
    description: 'content fingerprint on every event row: an id reused by other content is stored apart, not taken for a redelivery',
    // Rows stored before have '' and count as matching any content (see the analyzer's dedup).
    statements: ['tool_calls', 'sessions', 'server_requests', 'delivery_gaps', 'tool_definitions'].map(
      (table) => `ALTER TABLE {db}.${table} ADD COLUMN IF NOT EXISTS fingerprint String DEFAULT ''`,
    ),
  },
]);

export const MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS {db}.schema_migrations (
  version UInt32,
  description String,
  applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = MergeTree ORDER BY version`;

/** The tables users may query through /v1/sql. */
export const USER_TABLES = Object.freeze(['tool_calls', 'tool_definitions', 'sessions', 'alerts', 'server_requests', 'delivery_gaps', ...VIEW_NAMES]);

export function withDatabase(sql: string, database: string): string {
  return sql.replaceAll('{db}', database);
}
