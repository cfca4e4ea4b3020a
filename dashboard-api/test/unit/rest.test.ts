import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { lineDiff, prettyDefinition } from '../../src/rest-diff.js';
import { decodeCursor, encodeCursor } from '../../src/rest-api.js';
import { escapeLabel, metricsRenderer } from '../../src/metrics.js';

const lines = fc.array(fc.constantFrom('a', 'b', 'c', '{', '}', '  "x": 1,', ''), { maxLength: 40 }).map((l) => l.join('\n'));

test('a line diff rebuilds both sides, and keeps every common line of an LCS', () => {
  fc.assert(
    fc.property(lines, lines, (before, after) => {
      const d = lineDiff(before, after);
      assert.equal(
        d
          .filter((x) => x.op !== 'add')
          .map((x) => x.text)
          .join('\n'),
        before === '' ? '' : before,
      );
      assert.equal(
        d
          .filter((x) => x.op !== 'del')
          .map((x) => x.text)
          .join('\n'),
        after === '' ? '' : after,
      );
      if (before === after) assert.ok(d.every((x) => x.op === 'same'));
    }),
  );
  assert.deepEqual(lineDiff('a\nb\nc', 'a\nx\nc'), [
    { op: 'same', text: 'a' },
    { op: 'del', text: 'b' },
    { op: 'add', text: 'x' },
    { op: 'same', text: 'c' },
  ]);
  // Past the table budget it still rebuilds both sides.
  const big = lineDiff('p\nq\nr', 's\nt', 4);
  assert.deepEqual(
    big.map((x) => x.op),
    ['del', 'del', 'del', 'add', 'add'],
  );
});

test('definitions are pretty-printed with sorted keys, so key order never shows as a change', () => {
  assert.equal(prettyDefinition('{"b":1,"a":{"d":2,"c":3}}'), prettyDefinition('{"a":{"c":3,"d":2},"b":1}'));
  assert.equal(prettyDefinition('not json'), 'not json');
});

test('cursors round-trip and anything else is refused with TAPWATCH_BAD_CURSOR', () => {
  const c = { time: '2026-01-01T00:00:00.000Z', id: 'x' };
  assert.deepEqual(decodeCursor(encodeCursor(c)), c);
  assert.equal(decodeCursor(undefined), undefined);
  for (const bad of ['', 'abc', Buffer.from('[1,2]').toString('base64url'), Buffer.from('["yesterday","x"]').toString('base64url')]) {
    assert.throws(() => decodeCursor(bad), /cursor/);
  }
});

test('metrics: label values are escaped; counters and gauges render with HELP and TYPE', () => {
  assert.equal(escapeLabel('a"b\\c\nd'), 'a\\"b\\\\c\\nd');
  const alerts = { published: 2, silenced: 1, byDetector: new Map([['x"y', new Map([['high', 3]])]]) };
  const text = metricsRenderer({ service: 'up', alerts })();
  assert.match(text, /^# HELP tapwatch_up /m);
  assert.match(text, /^# TYPE tapwatch_alerts_total counter$/m);
  assert.match(text, /^tapwatch_alerts_total\{detector="x\\"y",severity="high"\} 3$/m);
  assert.match(text, /^tapwatch_up\{service="up"\} 1$/m);
  assert.ok(text.endsWith('\n'));
});
