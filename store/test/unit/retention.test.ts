import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RETENTION, retentionStatements } from '../../src/retention.js';

const calls = RETENTION.find((r) => r.table === 'tool_calls')!;
const alerts = RETENTION.find((r) => r.table === 'alerts')!;
const days = { content: 30, calls: 180, history: 730 };

// As the engine prints them back (system.tables.create_table_query).
const bare =
  "CREATE TABLE tapwatch.tool_calls (`id` UUID, `time` DateTime64(3, 'UTC'), `arguments` String DEFAULT '', `result_preview` String DEFAULT '', `cut` Array(String)) ENGINE = ReplacingMergeTree PARTITION BY toYYYYMM(time) ORDER BY (server, tool, time, id) SETTINGS index_granularity = 8192";
const set =
  "CREATE TABLE tapwatch.tool_calls (`id` UUID, `time` DateTime64(3, 'UTC'), `arguments` String DEFAULT '' TTL toDateTime(time) + toIntervalDay(30), `result_preview` String DEFAULT '' TTL toDateTime(time) + toIntervalDay(30), `cut` Array(String)) ENGINE = ReplacingMergeTree PARTITION BY toYYYYMM(time) ORDER BY (server, tool, time, id) TTL toDateTime(time) + toIntervalDay(180) SETTINGS index_granularity = 8192";

test('a table without retention gets its table TTL and content column TTLs', () => {
  assert.deepEqual(retentionStatements(bare, calls, days), [
    "ALTER TABLE {db}.tool_calls MODIFY COLUMN `arguments` String DEFAULT '' TTL toDateTime(time) + toIntervalDay(30)",
    "ALTER TABLE {db}.tool_calls MODIFY COLUMN `result_preview` String DEFAULT '' TTL toDateTime(time) + toIntervalDay(30)",
    'ALTER TABLE {db}.tool_calls MODIFY TTL toDateTime(time) + toIntervalDay(180)',
  ]);
});

test('nothing to do when the retention is there; only what changed is altered; 0 removes', () => {
  assert.deepEqual(retentionStatements(set, calls, days), []);
  assert.deepEqual(retentionStatements(set, calls, { ...days, calls: 90 }), ['ALTER TABLE {db}.tool_calls MODIFY TTL toDateTime(time) + toIntervalDay(90)']);
  assert.deepEqual(retentionStatements(set, calls, { ...days, content: 0, calls: 0 }), [
    'ALTER TABLE {db}.tool_calls MODIFY COLUMN `arguments` REMOVE TTL',
    'ALTER TABLE {db}.tool_calls MODIFY COLUMN `result_preview` REMOVE TTL',
    'ALTER TABLE {db}.tool_calls REMOVE TTL',
  ]);
  assert.deepEqual(retentionStatements(bare, calls, { content: 0, calls: 0, history: 0 }), []);
  const alertsCreated =
    "CREATE TABLE tapwatch.alerts (`id` String, `time` DateTime64(3, 'UTC')) ENGINE = ReplacingMergeTree ORDER BY id SETTINGS index_granularity = 8192";
  assert.deepEqual(retentionStatements(alertsCreated, alerts, days), ['ALTER TABLE {db}.alerts MODIFY TTL toDateTime(time) + toIntervalDay(730)']);
});

test('every data table has a class; the schema record has none', () => {
  const tables = RETENTION.map((r) => r.table).sort();
  assert.deepEqual(tables, [
    'alert_state',
    'alerts',
    'delivery_gaps',
    'purges',
    'server_requests',
    'sessions',
    'silences',
    'tool_calls',
    'tool_definitions',
    'webhook_deadletters',
  ]);
});
