import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { CUT_MARKER, MAX_JSON_DEPTH, parseBounded } from '../../src/bounded-json.js';

/** Deepest nesting of a parsed value, iteratively (the values under test may be deep). */
function depthOf(v: unknown): number {
  let max = 0;
  const stack: [unknown, number][] = [[v, 0]];
  while (stack.length > 0) {
    const [x, d] = stack.pop()!;
    if (typeof x !== 'object' || x === null) continue;
    max = Math.max(max, d + 1);
    for (const c of Object.values(x)) stack.push([c, d + 1]);
  }
  return max;
}

const nested = (levels: number, open = '[', close = ']', inner = '1') => open.repeat(levels) + inner + close.repeat(levels);

test('JSON within the limit parses exactly as JSON.parse, from bytes or text', () => {
  fc.assert(
    fc.property(fc.jsonValue({ depthSize: 'medium', maxDepth: 12 }), (v) => {
      const text = JSON.stringify(v);
      const expected: unknown = JSON.parse(text);
      assert.deepEqual(parseBounded(text), { value: expected, cut: false });
      assert.deepEqual(parseBounded(Buffer.from(text)), { value: expected, cut: false });
    }),
    { numRuns: 300 },
  );
  const edge = `{"a":${nested(MAX_JSON_DEPTH - 1)}}`;
  assert.equal(parseBounded(edge).cut, false);
  assert.equal(depthOf(parseBounded(edge).value), MAX_JSON_DEPTH);
});

test('values past the limit become the marker, and what is left serialises and clones', () => {
  for (const levels of [MAX_JSON_DEPTH + 1, 3_000, 20_000, 200_000]) {
    const text = `{"jsonrpc":"2.0","id":7,"result":{"tools":[{"name":"t","inputSchema":${nested(levels, '{"a":', '}')}}]}}`;
    const { value, cut } = parseBounded(text);
    assert.equal(cut, true, `${levels} levels`);
    assert.ok(depthOf(value) <= MAX_JSON_DEPTH, `${levels} levels: depth ${depthOf(value)}`);
    // The shallow parts a tracker reads are intact.
    const msg = value as { id: number; result: { tools: { name: string }[] } };
    assert.equal(msg.id, 7);
    assert.equal(msg.result.tools[0]!.name, 't');
    assert.ok(JSON.stringify(value).includes(JSON.stringify(CUT_MARKER)));
    structuredClone(value);
  }
});

test('brackets inside strings and escaped quotes do not count as nesting', () => {
  const tricky = JSON.stringify({ s: '['.repeat(5_000), t: 'a\\"{{{{' + '{'.repeat(200), u: ['\\', '"]]]"'] });
  assert.deepEqual(parseBounded(tricky), { value: JSON.parse(tricky), cut: false });
  // A deep value after such a string is still found.
  const text = `["]]]\\"]]]",${nested(100)}]`;
  const { value, cut } = parseBounded(text);
  assert.equal(cut, true);
  assert.equal((value as unknown[])[0], ']]]"]]]');
});

test('siblings after a cut value are kept', () => {
  const text = `{"deep":${nested(200)},"after":{"k":[1,2,3]},"s":"x"}`;
  const { value, cut } = parseBounded(text, 8);
  assert.equal(cut, true);
  assert.deepEqual(value, { deep: [[[[[[[CUT_MARKER]]]]]]], after: { k: [1, 2, 3] }, s: 'x' });
});

test('what is not JSON throws as JSON.parse does, deep or not', () => {
  for (const bad of ['', '{"a":', nested(100).slice(0, -1), `${nested(100)}x`, '"unterminated', `[${'['.repeat(100)}"x]`]) {
    assert.throws(() => parseBounded(bad), SyntaxError, JSON.stringify(bad.slice(0, 40)));
  }
});
