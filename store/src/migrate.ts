/**
 * The migrator: creates or migrates tapwatch's schema (schema.ts), its state
 * tables and views, on a writer connection.
 */
import { log, retry } from '@tapwatch/schema';
import type { Connection } from './connection/connection.js';
import { MIGRATIONS, MIGRATIONS_TABLE, type TableRebuild } from './schema.js';
import { applyStateTables } from './state-tables.js';
import { applyViews } from './views.js';

/** The engine tables had before version 4 made them deduplicate. */
const OLD_ENGINE = 'MergeTree';

/**
 * Creates or migrates the schema. Every step is idempotent and checks the
 * database first, but several analyzers starting together on an empty
 * database can still trip over each other mid-step (one drops the rebuild
 * table another is copying into): a failed attempt is retried after a short
 * random pause, and by then the other's work is visible and skipped.
 */
export async function migrate(db: Connection): Promise<void> {
  await retry(() => migrateOnce(db), {
    attempts: 6,
    delayMs: (attempt) => 200 + Math.random() * 800 * attempt,
    onRetry: (err, attempt) => log.warn('schema migration raced or failed; retrying', { attempt, error: (err as Error).message }),
  });
}

async function migrateOnce(db: Connection): Promise<void> {
  await db.run(`CREATE DATABASE IF NOT EXISTS {db}`);
  await db.run(MIGRATIONS_TABLE);
  const applied = await db.select<{ version: number }>(`SELECT version FROM {db}.schema_migrations`);
  const done = new Set(applied.map((r) => Number(r.version)));
  for (const m of MIGRATIONS) {
    // Rebuilds are checked at every start: one interrupted (or raced by another analyzer) is finished here.
    if (done.has(m.version)) {
      for (const r of m.rebuilds ?? []) await rebuild(db, r);
      continue;
    }
    for (const statement of m.statements) await db.run(statement);
    for (const r of m.rebuilds ?? []) await rebuild(db, r);
    await db.insert('schema_migrations', [{ version: m.version, description: m.description }]);
    log.info('schema migrated', { version: m.version, description: m.description });
  }
  // Once more over every rebuild: two analyzers can both pass the "still old?" check and swap
  // one after the other, the second undoing the first; a second pass finds that and redoes it.
  for (const m of MIGRATIONS) for (const r of m.rebuilds ?? []) await rebuild(db, r);
  await applyStateTables((statement) => db.run(statement));
  await applyViews((statement) => db.run(statement));
}

/** Carries out one `TableRebuild` (see schema.ts): copy, swap, copy late rows, drop; each step only if still needed. */
async function rebuild(db: Connection, r: TableRebuild): Promise<void> {
  const table = `{db}.${r.table}`;
  const tmpName = `${r.table}__rebuild`;
  const tmp = `{db}.${tmpName}`;
  const engineOf = async (name: string): Promise<string | undefined> =>
    (
      await db.select<{ engine: string }>(`SELECT engine FROM system.tables WHERE database = {db:String} AND name = {name:String}`, { db: db.database, name })
    )[0]?.engine;
  const columnsOf = async (name: string): Promise<string[]> =>
    (
      await db.select<{ name: string }>(`SELECT name FROM system.columns WHERE database = {db:String} AND table = {name:String} ORDER BY position`, {
        db: db.database,
        name,
      })
    ).map((c) => c.name);
  // By name, the columns both tables have: a later migration may have added columns to one of them
  // already (another analyzer migrating further while this one finishes a rebuild).
  const copyMissing = async (into: string, intoName: string, from: string, fromName: string) => {
    const target = new Set(await columnsOf(intoName));
    const columns = (await columnsOf(fromName))
      .filter((c) => target.has(c))
      .map((c) => `\`${c}\``)
      .join(', ');
    await db.run(`INSERT INTO ${into} (${columns}) SELECT ${columns} FROM ${from} WHERE ${r.idColumn} NOT IN (SELECT ${r.idColumn} FROM ${into})`);
  };
  // Only the plain MergeTree of versions 1–3 is rebuilt: a cluster's Replicated*/Distributed
  // tables (deploy/k8s/clickhouse-cluster-schema.sql) are created deduplicating already.
  if ((await engineOf(r.table)) === OLD_ENGINE) {
    await db.run(`CREATE TABLE IF NOT EXISTS ${tmp} AS ${table} ${r.engine}`);
    for (const statement of r.prepare ?? []) await db.run(statement.replaceAll('{table}', tmp));
    await copyMissing(tmp, tmpName, table, r.table);
    // Another analyzer may have swapped meanwhile: swap only an old table, or the swap would undo its work.
    if ((await engineOf(r.table)) === OLD_ENGINE) {
      await db.run(`EXCHANGE TABLES ${table} AND ${tmp}`);
      log.info('table rebuilt', { table: r.table, engine: r.engineName });
    }
  }
  // Left over from the swap (ours, an interrupted one, or another analyzer's): the old table.
  // Or a new table another analyzer built but did not swap in because one of us swapped first.
  const left = await engineOf(tmpName);
  if (left === OLD_ENGINE || (left !== undefined && (await engineOf(r.table)) === r.engineName)) {
    // Rows a writer put into the old table between the copy and the swap.
    await copyMissing(table, r.table, tmp, tmpName);
    await db.run(`DROP TABLE IF EXISTS ${tmp}`);
  }
}
