import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createResultSizeState, detectResultSize, seedResultSizes } from '@tapwatch/analyzer';
import type { ToolCallEvent } from '@tapwatch/schema';
import { toolCallEvent } from '../../../test/support/events.js';

function call(responseBytes: number, over: Partial<ToolCallEvent> = {}): ToolCallEvent {
  return toolCallEvent({ responseBytes, ...over });
}

/** Deterministic log-normal-ish sizes around `median` (σ≈0.8 in ln units). */
function sizes(n: number, median: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const u = ((i * 7919) % 1000) / 1000 - 0.5; // spread in [-0.5, 0.5)
    out.push(Math.round(median * Math.exp(u * 2.4)));
  }
  return out;
}

test('stays quiet while learning, then flags a 100× result with evidence', () => {
  const state = createResultSizeState({ minSamples: 20, threshold: 4.5 });
  for (const s of sizes(19, 3000)) assert.deepEqual(detectResultSize(state, call(s)), []);
  assert.deepEqual(detectResultSize(state, call(300_000)), [], 'only 19 samples: still learning');
  for (const s of sizes(40, 3000)) detectResultSize(state, call(s));
  const [f] = detectResultSize(state, call(300_000));
  assert.ok(f, 'a 100× result is flagged');
  assert.equal(f.detector, 'result_size_outlier');
  assert.ok(f.severity === 'high' || f.severity === 'medium');
  assert.equal(f.evidence.observedBytes, 300_000);
  assert.ok((f.evidence.ratio as number) > 50);
  assert.ok((f.evidence.robustZ as number) >= 4.5);
  assert.equal(f.eventIds.length, 1);
});

test('normal variation (a file 2.8× the median) is not an outlier', () => {
  const state = createResultSizeState({ minSamples: 20, threshold: 4.5 });
  for (const s of sizes(200, 3000)) detectResultSize(state, call(s));
  assert.deepEqual(detectResultSize(state, call(8400)), []);
});

test('a flagged result does not enter the baseline; one alert per session and tool', () => {
  const state = createResultSizeState({ minSamples: 20, threshold: 4.5 });
  for (const s of sizes(30, 200)) detectResultSize(state, call(s));
  assert.equal(detectResultSize(state, call(500_000)).length, 1);
  assert.equal(detectResultSize(state, call(500_000)).length, 0, 'same session: counted, not repeated');
  assert.equal(detectResultSize(state, call(500_000, { session: 'other' })).length, 1, 'still an outlier for another session');
});

test("a lasting shift in a tool's size is relearned after a run of outliers", () => {
  const state = createResultSizeState({ minSamples: 20, threshold: 4.5 });
  for (const s of sizes(40, 200)) detectResultSize(state, call(s));
  for (let i = 0; i < 50; i++) detectResultSize(state, call(100_000 + i, { session: `shift-${i}` }));
  assert.equal(detectResultSize(state, call(100_500, { session: 'after-shift' })).length, 0, 'the new size is normal now');
});

test('baselines are per (server, tool); errors and tiny results are ignored', () => {
  const state = createResultSizeState({ minSamples: 5, threshold: 4.5 });
  for (const s of sizes(30, 50)) detectResultSize(state, call(s, { tool: 'small' }));
  assert.deepEqual(detectResultSize(state, call(1500, { tool: 'small' })), [], 'under the 2 KB floor');
  const [fallback] = detectResultSize(state, call(500_000, { tool: 'other' }));
  assert.equal(fallback?.evidence.baseline, 'server', 'a tool still learning is judged against its server');
  assert.equal(fallback?.evidence.threshold, 7.5, 'with a wider margin');
  assert.deepEqual(detectResultSize(state, call(2_500, { tool: 'other2', session: 'x' })), [], 'moderate sizes pass the fallback');
  assert.deepEqual(detectResultSize(state, call(500_000, { tool: 'small', status: 'tool_error', isError: true })), []);
});

test('seeded windows (from storage) judge from the first call after a restart', () => {
  const state = createResultSizeState({ minSamples: 20, threshold: 4.5 });
  seedResultSizes(state, 'fs', 'read_file', sizes(50, 1000));
  assert.equal(detectResultSize(state, call(400_000)).length, 1);
});
