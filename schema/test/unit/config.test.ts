import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ConfigError, ConfigSchema, SETTINGS_DOC, TapEventSchema, loadConfig } from '@tapwatch/schema';

test('defaults apply with an empty environment', () => {
  const c = loadConfig({});
  assert.equal(c.TAPWATCH_PORT, 8787);
  assert.equal(c.TAPWATCH_HOST, '127.0.0.1');
  assert.equal(c.KAFKA_BROKERS, undefined);
  assert.equal(c.CLICKHOUSE_URL, undefined);
  assert.ok(Object.isFrozen(c));
});

test('a bad value fails fast and names the variable', () => {
  assert.throws(
    () => loadConfig({ TAPWATCH_PORT: 'eighty' }),
    (e: unknown) => e instanceof ConfigError && /TAPWATCH_PORT/.test(e.message),
  );
  assert.throws(
    () => loadConfig({ KAFKA_BROKERS: 'no-port' }),
    (e: unknown) => e instanceof ConfigError && /KAFKA_BROKERS/.test(e.message),
  );
  assert.throws(() => loadConfig({ CLICKHOUSE_DATABASE: 'x; DROP' }), /CLICKHOUSE_DATABASE/);
});

test('broker lists accept host:port lists and kafka:// URLs; flags override the environment', () => {
  assert.deepEqual(loadConfig({ KAFKA_BROKERS: 'kafka://a:9092, b:9093' }).KAFKA_BROKERS, ['a:9092', 'b:9093']);
  assert.equal(loadConfig({ TAPWATCH_PORT: '1' }, { TAPWATCH_PORT: '2' }).TAPWATCH_PORT, 2);
});

test('every setting is documented, and the README settings table lists exactly the schema', () => {
  const keys = Object.keys(ConfigSchema.shape).sort();
  assert.deepEqual(Object.keys(SETTINGS_DOC).sort(), keys);
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const section = readme.split('## Settings')[1] ?? '';
  const listed = [...section.matchAll(/^\| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1]).sort();
  assert.deepEqual(listed, keys);
});

test('the event schema rejects unknown types, bad ids and oversized names', () => {
  const base = {
    v: 1,
    id: '6f1c1d2e-4b7a-4c1e-9a51-2f3b4c5d6e7f',
    time: '2026-01-01T00:00:00.000Z',
    session: 's',
    agent: 'a',
    server: 'x',
    transport: 'stdio',
  };
  assert.equal(TapEventSchema.safeParse({ ...base, type: 'session_end', calls: 0, incomplete: 0, exitCode: 0, signal: null, nonJsonLines: 0 }).success, true);
  assert.equal(TapEventSchema.safeParse({ ...base, type: 'nope' }).success, false);
  assert.equal(
    TapEventSchema.safeParse({ ...base, id: 'x', type: 'session_end', calls: 0, incomplete: 0, exitCode: 0, signal: null, nonJsonLines: 0 }).success,
    false,
  );
  assert.equal(
    TapEventSchema.safeParse({ ...base, server: 'x'.repeat(600), type: 'session_end', calls: 0, incomplete: 0, exitCode: 0, signal: null, nonJsonLines: 0 })
      .success,
    false,
  );
});
