/**
 * The ClickHouse cluster variant of the schema stays in step with the
 * single-node migrations: every table and column (read from the migration
 * texts independently of the generator's parser), the deduplicating engine
 * and sorting key, a Distributed table under each single-node name.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MIGRATIONS, MIGRATIONS_TABLE, USER_TABLES } from '../../src/schema.js';
import { STATE_TABLES } from '../../src/state-tables.js';
import { clusterSchema, singleNodeTables } from '../../src/cluster-schema.js';
import { VIEW_NAMES } from '../../src/views.js';

const statements = clusterSchema({ cluster: 'tw', database: 'tapwatch' });

/** Table → column names, read straight from the migration texts. */
function columnsFromMigrations(): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  const texts = [MIGRATIONS_TABLE, ...MIGRATIONS.flatMap((m) => m.statements), ...STATE_TABLES];
  for (const text of texts) {
    const create = /CREATE TABLE IF NOT EXISTS \{db\}\.(\w+) \(([\s\S]*?)\n\s*\) ENGINE/.exec(text);
    if (create) {
      const cols = create[2]!
        .split('\n')
        .map((l) => /^\s*(\w+)\s+\S/.exec(l)?.[1])
        .filter((c): c is string => !!c);
      out.set(create[1]!, new Set(cols));
    }
    const alter = /ALTER TABLE \{db\}\.(\w+)/.exec(text);
    if (alter) for (const m of text.matchAll(/ADD COLUMN IF NOT EXISTS (\w+)/g)) out.get(alter[1]!)!.add(m[1]!);
  }
  return out;
}

function localTable(name: string): string {
  const s = statements.find((x) => x.startsWith(`CREATE TABLE IF NOT EXISTS tapwatch.${name}_local `));
  assert.ok(s, `${name}_local is created`);
  return s;
}

test('every table and column of the single-node schema is in the cluster variant', () => {
  const expected = columnsFromMigrations();
  assert.ok(expected.size >= 10, `found the tables (${[...expected.keys()].join(', ')})`);
  for (const [table, cols] of expected) {
    const local = localTable(table);
    const defined = new Set([...local.matchAll(/^\s{2}(\w+) /gm)].map((m) => m[1]));
    for (const c of cols) assert.ok(defined.has(c), `${table}.${c} is in the cluster variant`);
    const shape = singleNodeTables().find((t) => t.name === table)!;
    assert.equal(shape.columns.length, cols.size, `${table}: no column added that the migrations do not have`);
  }
});

test('each table is Replicated with the single-node engine and sorting key, and Distributed under its name', () => {
  const rebuilt = new Map(MIGRATIONS.flatMap((m) => m.rebuilds ?? []).map((r) => [r.table, r]));
  for (const t of singleNodeTables()) {
    const local = localTable(t.name);
    assert.match(local, new RegExp(`ENGINE = Replicated\\w*MergeTree\\('/clickhouse/tables/\\{shard\\}/tapwatch/${t.name}_local', '\\{replica\\}'`));
    const order = /ORDER BY (.+)$/.exec(t.engine)![1]!;
    assert.ok(local.endsWith(`ORDER BY ${order}`), `${t.name}: same sorting key`);
    const r = rebuilt.get(t.name);
    if (r) {
      assert.ok(local.includes(`ENGINE = Replicated${r.engineName}(`), `${t.name}: ${r.engineName} as after migration ${MIGRATIONS.at(-1)!.version}`);
      assert.ok(local.includes(`ORDER BY ${/ORDER BY (.+)$/.exec(r.engine)![1]}`));
    }
    assert.ok(
      statements.includes(
        `CREATE TABLE IF NOT EXISTS tapwatch.${t.name} ON CLUSTER 'tw' AS tapwatch.${t.name}_local ENGINE = Distributed('tw', tapwatch, ${t.name}_local, ${t.columns.some((c) => c.startsWith('session ')) ? 'cityHash64(session)' : /^(id|event_id) /.test(t.columns.join('\n')) ? `cityHash64(${t.columns.find((c) => /^(id|event_id) /.test(c))!.split(' ')[0]})` : 'rand()'})`,
      ),
      `${t.name}: Distributed table`,
    );
  }
  // Deduplication needs both copies of an event on one shard: event tables shard by session.
  assert.match(
    statements.join('\n'),
    /tapwatch\.tool_calls ON CLUSTER 'tw' AS tapwatch\.tool_calls_local ENGINE = Distributed\('tw', tapwatch, tool_calls_local, cityHash64\(session\)\)/,
  );
  assert.match(localTable('alert_state'), /ReplicatedReplacingMergeTree\('[^']+', '\{replica\}', version\)/, 'engine arguments are kept');
});

test('every user table and view exists on the cluster; migrations are recorded as applied', () => {
  const all = statements.join('\n');
  for (const t of USER_TABLES) assert.ok(all.includes(`tapwatch.${t} ON CLUSTER 'tw'`), `${t} on the cluster`);
  for (const v of VIEW_NAMES) assert.ok(all.includes(`CREATE OR REPLACE VIEW tapwatch.${v} ON CLUSTER 'tw' AS`), `view ${v}`);
  assert.ok(!all.includes('{db}'), 'every {db} replaced');
  const record = statements.at(-1)!;
  for (const m of MIGRATIONS) assert.ok(record.includes(`(${m.version}, '`), `migration ${m.version} recorded`);
});

test('names are validated', () => {
  assert.throws(() => clusterSchema({ cluster: 'tw', database: 'x; DROP' }), /database/);
  assert.throws(() => clusterSchema({ cluster: "a'b", database: 'tapwatch' }), /cluster/);
});
