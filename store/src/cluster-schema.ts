/**
 * The ClickHouse cluster variant of the schema, derived from the single-node
 * migrations (schema.ts), the state tables and the views, so the two cannot
 * drift: each table becomes a `<table>_local` Replicated* table on every node
 * (same columns, same sorting key, same deduplicating engine) and a
 * Distributed table under the original name, which is what tapwatch writes to
 * and reads from. Pure: it only builds SQL text.
 *
 * Sharding: event tables by session (a session's events on one shard, so a
 * replayed event meets its first copy and ReplacingMergeTree collapses them),
 * the others by id.
 */
import { MIGRATIONS, MIGRATIONS_TABLE } from './schema.js';
import { STATE_TABLES } from './state-tables.js';
import { VIEWS } from './views.js';

/** One table as the single-node migrations leave it. */
export interface TableShape {
  name: string;
  /** Column definitions as written (`name Type [DEFAULT …]`), in order. */
  columns: string[];
  /** `ENGINE = … [PARTITION BY …] ORDER BY …` */
  engine: string;
  /** `INDEX name expr TYPE … GRANULARITY n` clauses. */
  indexes: string[];
}

export interface ClusterSchemaOptions {
  /** Cluster name of `remote_servers` in the server config. */
  cluster: string;
  database: string;
  /** ZooKeeper/Keeper path prefix of the replicated tables (macros `{shard}`, `{replica}` come from the server config). */
  zooPath?: string;
}

/** Splits on commas outside parentheses and quotes. */
function splitTopLevel(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quote = false;
  let cur = '';
  for (const ch of text) {
    if (ch === "'") quote = !quote;
    if (!quote && ch === '(') depth++;
    if (!quote && ch === ')') depth--;
    if (!quote && depth === 0 && ch === ',') {
      out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

const squash = (s: string) => s.replace(/\s+/g, ' ').trim();

/** Index of the parenthesis closing the one at `open`. */
function closing(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '(') depth++;
    if (text[i] === ')' && --depth === 0) return i;
  }
  throw new Error(`unbalanced parentheses in ${text.slice(0, 80)}`);
}

function applyCreate(tables: Map<string, TableShape>, sql: string): void {
  const m = /^CREATE TABLE IF NOT EXISTS \{db\}\.(\w+)\s*\(/.exec(sql.trim());
  if (!m) return;
  const body = sql.trim();
  const open = body.indexOf('(');
  const end = closing(body, open);
  const name = m[1]!;
  if (tables.has(name)) return;
  tables.set(name, { name, columns: splitTopLevel(body.slice(open + 1, end)).map(squash), engine: squash(body.slice(end + 1)), indexes: [] });
}

function applyAlter(tables: Map<string, TableShape>, sql: string): void {
  const m = /^ALTER TABLE \{(?:db|table)\}\.?(\w*)\s+([\s\S]*)$/.exec(sql.trim());
  if (!m) return;
  const table = tables.get(m[1]!);
  if (!table) return;
  for (const clause of splitTopLevel(m[2]!)) {
    const col = /^ADD COLUMN IF NOT EXISTS (\w+)\s+([\s\S]+)$/.exec(squash(clause));
    if (col && !table.columns.some((c) => c.split(' ')[0] === col[1])) table.columns.push(`${col[1]} ${col[2]}`);
    const idx = /^ADD INDEX IF NOT EXISTS (\w+)\s+([\s\S]+)$/.exec(squash(clause));
    if (idx && !table.indexes.some((i) => i.startsWith(`INDEX ${idx[1]} `))) table.indexes.push(`INDEX ${idx[1]} ${idx[2]}`);
  }
}

/** Every table of the single-node schema, as all migrations leave it (columns, final engine, indexes). */
export function singleNodeTables(): TableShape[] {
  const tables = new Map<string, TableShape>();
  applyCreate(tables, MIGRATIONS_TABLE);
  for (const m of MIGRATIONS) {
    for (const s of m.statements) {
      applyCreate(tables, s);
      applyAlter(tables, s);
    }
    for (const r of m.rebuilds ?? []) {
      const t = tables.get(r.table);
      if (!t) throw new Error(`migration ${m.version} rebuilds unknown table ${r.table}`);
      t.engine = squash(r.engine);
      for (const p of r.prepare ?? []) applyAlter(tables, p.replace('{table}', `{db}.${r.table}`));
    }
  }
  for (const s of STATE_TABLES) applyCreate(tables, s);
  return [...tables.values()];
}

/** `ReplacingMergeTree(version)` → `ReplicatedReplacingMergeTree('<path>', '{replica}', version)`; same for every *MergeTree. */
function replicated(engine: string, path: string): string {
  return engine.replace(/^ENGINE = (\w*MergeTree)(?:\(([^)]*)\))?/, (_all, kind: string, args: string | undefined) => {
    const rest = args && args.trim() ? `, ${args.trim()}` : '';
    return `ENGINE = Replicated${kind}('${path}', '{replica}'${rest})`;
  });
}

function shardingKey(t: TableShape): string {
  const has = (c: string) => t.columns.some((col) => col.split(' ')[0] === c);
  if (has('session')) return 'cityHash64(session)';
  if (has('id')) return 'cityHash64(id)';
  if (has('event_id')) return 'cityHash64(event_id)';
  return 'rand()';
}

/**
 * The statements that create tapwatch's schema on a ClickHouse cluster, in
 * order: database, `<table>_local` Replicated tables, Distributed tables
 * under the single-node names, the views, and the migration records (so
 * analyzers pointed at the cluster find the schema applied).
 */
export function clusterSchema(options: ClusterSchemaOptions): string[] {
  const { cluster, database } = options;
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(database)) throw new Error('database: a plain identifier');
  if (!/^[A-Za-z0-9_.-]+$/.test(cluster)) throw new Error('cluster: letters, digits, _ . -');
  const zoo = (options.zooPath ?? '/clickhouse/tables/{shard}').replace(/\/$/, '');
  const out: string[] = [`CREATE DATABASE IF NOT EXISTS ${database} ON CLUSTER '${cluster}'`];
  for (const t of singleNodeTables()) {
    const local = `${t.name}_local`;
    const defs = [...t.columns, ...t.indexes].map((d) => `  ${d}`).join(',\n');
    out.push(
      `CREATE TABLE IF NOT EXISTS ${database}.${local} ON CLUSTER '${cluster}' (\n${defs}\n) ${replicated(t.engine, `${zoo}/${database}/${local}`)}`,
      `CREATE TABLE IF NOT EXISTS ${database}.${t.name} ON CLUSTER '${cluster}' AS ${database}.${local} ENGINE = Distributed('${cluster}', ${database}, ${local}, ${shardingKey(t)})`,
    );
  }
  for (const view of Object.values(VIEWS)) {
    out.push(view.replace(/^(\s*CREATE OR REPLACE VIEW \{db\}\.\w+)/, `$1 ON CLUSTER '${cluster}'`).replaceAll('{db}', database));
  }
  const versions = MIGRATIONS.map((m) => `(${m.version}, '${m.description.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}')`).join(', ');
  out.push(`INSERT INTO ${database}.schema_migrations (version, description) VALUES ${versions}`);
  return out;
}
