/**
 * Tables that hold state people change through the API (acknowledged and
 * resolved alerts, silences), delivery records (webhook dead letters) and the
 * record of purges (repositories/purges.ts).
 * Created idempotently at every `migrate()`, after the event tables.
 *
 * State rows are never updated in place: each change inserts a new row with a
 * higher `version`, and ReplacingMergeTree keeps the newest one per id (reads
 * take `argMax(…, version)` so they never depend on when merges run).
 */

export const STATE_TABLES: readonly string[] = Object.freeze([
  `CREATE TABLE IF NOT EXISTS {db}.alert_state (
    id String,
    status LowCardinality(String),
    silenced Bool,
    silence_id String,
    note String,
    updated_at DateTime64(3, 'UTC'),
    version UInt64
  ) ENGINE = ReplacingMergeTree(version)
  ORDER BY id`,
  `CREATE TABLE IF NOT EXISTS {db}.silences (
    id String,
    created_at DateTime64(3, 'UTC'),
    until DateTime64(3, 'UTC'),
    detector String,
    server String,
    tool String,
    agent String,
    reason String,
    deleted Bool,
    version UInt64
  ) ENGINE = ReplacingMergeTree(version)
  ORDER BY id`,
  `CREATE TABLE IF NOT EXISTS {db}.webhook_deadletters (
    id String,
    time DateTime64(3, 'UTC'),
    url String,
    alert_id String,
    attempts UInt32,
    last_status Int32,
    last_error String,
    payload String
  ) ENGINE = MergeTree
  ORDER BY (time, id)`,
  `CREATE TABLE IF NOT EXISTS {db}.purges (
    id String,
    time DateTime64(3, 'UTC'),
    subject LowCardinality(String),
    subject_hash String,
    by String,
    rows String
  ) ENGINE = MergeTree
  ORDER BY (time, id)`,
]);

/** Runs every state-table statement through `run` (which fills in `{db}`). */
export async function applyStateTables(run: (statement: string) => Promise<void>): Promise<void> {
  for (const statement of STATE_TABLES) await run(statement);
}
