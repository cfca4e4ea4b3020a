// The analyzer's hot-path shortcuts (benchmarks/README.md, "Analyzer throughput after
// exactly-once storage") must decide exactly what the plain versions decided.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BoundedMap, createRateState, detectRate } from '@tapwatch/analyzer';
import { toChTime } from '@tapwatch/store';
import { toolCallEvent } from '../../../test/support/events.js';

/** mulberry32: a seeded PRNG, so a failure replays. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('loop tracking by run lengths raises exactly the alerts a 12-call window would', () => {
  const window = 12;
  const signatures = [
    { tool: 'read_file', hash: 'a' },
    { tool: 'read_file', hash: 'b' },
    { tool: 'list_directory', hash: 'a' },
  ];
  let alerts = 0;
  for (let seed = 1; seed <= 40; seed++) {
    const rnd = prng(seed);
    const state = createRateState({ loopWindow: window, errorStreak: 1_000 });
    const recent: string[] = [];
    const fired = new Set<string>();
    // Long runs and ping-pongs as well as mixes: draw the next call mostly from the last two.
    let last = 0;
    let other = 1;
    for (let i = 0; i < 400; i++) {
      const u = rnd();
      const pick = u < 0.45 ? last : u < 0.9 ? other : Math.floor(rnd() * signatures.length);
      if (pick !== last) [other, last] = [last, pick];
      const sig = signatures[pick];
      assert.ok(sig);
      const got = detectRate(state, toolCallEvent({ session: `s${seed}`, tool: sig.tool, argumentsHash: sig.hash, id: `e${i}` }))
        .filter((f) => f.detector === 'call_loop')
        .map((f) => (f.evidence.signatures as string[]).join('|'));
      recent.push(`${toolCallEvent().server}/${sig.tool}#${sig.hash}`);
      if (recent.length > window) recent.shift();
      const expected: string[] = [];
      const distinct = [...new Set(recent)].sort();
      if (recent.length === window && distinct.length <= 2 && !fired.has(distinct.join('|'))) {
        fired.add(distinct.join('|'));
        expected.push(distinct.join('|'));
      }
      assert.deepEqual(got, expected, `seed ${seed}, call ${i}`);
      alerts += got.length;
    }
  }
  assert.ok(alerts > 20, `the sequences must exercise the alert (${alerts} raised)`);
});

test('bulk reads count distinct arguments exactly (digests, one number until a second set of arguments)', () => {
  const state = createRateState({ bulkDefault: 30, bulkFloor: 25 });
  const fired: { calls: unknown; distinctArguments: unknown }[] = [];
  for (let i = 0; i < 60; i++) {
    // 60 calls on 30 distinct argument sets: exactly half distinct, as the rule requires.
    for (const f of detectRate(state, toolCallEvent({ session: 'bulk', argumentsHash: `args-${i % 30}`, id: `b${i}` }))) {
      if (f.detector === 'bulk_reads') fired.push({ calls: f.evidence.calls, distinctArguments: f.evidence.distinctArguments });
    }
  }
  assert.deepEqual(fired, [{ calls: 30, distinctArguments: 30 }]);
  // One argument set called over and over is not a crawl.
  for (let i = 0; i < 60; i++) {
    const findings = detectRate(state, toolCallEvent({ session: 'same', argumentsHash: 'one', id: `s${i}` }));
    assert.equal(findings.filter((f) => f.detector === 'bulk_reads').length, 0);
  }
});

test('BoundedMap: never holds more than max; exact LRU below 32 keys; recently read keys survive on big maps', () => {
  const small = new BoundedMap<string, number>(3);
  small.set('a', 1);
  small.set('b', 2);
  small.set('c', 3);
  assert.equal(small.get('a'), 1);
  small.set('d', 4);
  assert.equal(small.has('b'), false, 'b was the least recently used');
  assert.deepEqual(
    small.entries().map(([k]) => k),
    ['c', 'a', 'd'],
  );
  small.set('c', 30);
  small.set('e', 5);
  assert.equal(small.has('a'), false);
  assert.equal(small.get('c'), 30);

  const big = new BoundedMap<number, number>(1_000);
  for (let i = 0; i < 1_000; i++) big.set(i, i);
  assert.equal(big.get(0), 0);
  for (let round = 0; round < 20; round++) {
    // Key 0 is read between every 50 inserts: it must never be the one forgotten.
    for (let i = 0; i < 50; i++) big.set(10_000 + round * 50 + i, i);
    assert.equal(big.get(0), 0, `round ${round}`);
    assert.ok(big.size <= 1_000);
  }
  assert.equal(big.size, 1_000);
  assert.equal(big.has(1), false, 'unread old keys are forgotten first');
});

test('toChTime cuts canonical UTC times and still converts any other ISO time', () => {
  for (const iso of ['2026-11-24T09:13:05.123Z', '1999-12-31T23:59:59.999Z', '2026-01-01T00:00:00.000Z']) {
    assert.equal(toChTime(iso), new Date(iso).toISOString().replace('T', ' ').replace('Z', ''));
  }
  assert.equal(toChTime('2026-11-24T10:13:05.123+01:00'), '2026-11-24 09:13:05.123');
  assert.equal(toChTime('2026-11-24T09:13:05Z'), '2026-11-24 09:13:05.000');
});
