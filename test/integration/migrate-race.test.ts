/**
 * Several analyzers start together on an empty database (a Deployment with
 * replicas): their migrations race — the version-4 rebuild of one drops the
 * table another is copying into — and every one of them must still come up,
 * with one deduplicating table of each kind and no rebuild table left over.
 * Real engine behind ClickHouse's HTTP interface (test/support/clickhouse-http.mjs),
 * real @clickhouse/client stores in server mode.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { openStore, type Store } from '@tapwatch/store';
import { startClickHouseHttp, type RunningClickHouseHttp } from '../support/clickhouse-http.mjs';
import { tempDir } from '../support/helpers.js';

let ch: RunningClickHouseHttp;
let dir: string;

before(async () => {
  dir = tempDir('migrate-race');
  ch = await startClickHouseHttp({ dataDir: dir });
});
after(async () => {
  await ch?.shutdown();
  rmSync(dir, { recursive: true, force: true });
});

test('four stores migrating one empty database at once all succeed; every event table ends up deduplicating, nothing left over', async () => {
  const database = `race_${process.pid}`;
  const stores: Store[] = [];
  for (let i = 0; i < 4; i++) {
    stores.push(await openStore({ url: ch.url, user: 'default', password: '', database, dataDir: dir, sqlMaxRows: 1000, sqlTimeoutSeconds: 10 }));
  }
  try {
    const outcomes = await Promise.allSettled(stores.map((s) => s.migrate()));
    assert.deepEqual(
      outcomes.map((o) => (o.status === 'fulfilled' ? 'ok' : String((o as PromiseRejectedResult).reason))),
      ['ok', 'ok', 'ok', 'ok'],
    );
    const tables = await ch.query<{ name: string; engine: string }>(
      `SELECT name, engine FROM system.tables WHERE database = '${database}' ORDER BY name FORMAT JSON`,
    );
    const engine = Object.fromEntries(tables.map((t) => [t.name, t.engine]));
    for (const t of ['tool_calls', 'sessions', 'server_requests', 'delivery_gaps', 'tool_definitions', 'alerts']) {
      assert.equal(engine[t], 'ReplacingMergeTree', `${t} deduplicates`);
    }
    assert.deepEqual(
      tables.map((t) => t.name).filter((n) => n.endsWith('__rebuild')),
      [],
      'no rebuild table left over',
    );
    // A later start finds everything done and changes nothing.
    await stores[0]!.migrate();
    const again = await ch.query(`SELECT name, engine FROM system.tables WHERE database = '${database}' ORDER BY name FORMAT JSON`);
    assert.deepEqual(again, tables);
  } finally {
    await Promise.allSettled(stores.map((s) => s.close()));
  }
});
