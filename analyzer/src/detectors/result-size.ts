/**
 * Volume outliers per (server, tool), one detector per metric: result bytes,
 * argument bytes and latency. A robust z-score of the log value against the
 * median and MAD of the recent values of the same tool. Logs, because sizes
 * and latencies are roughly log-normal; median/MAD, because a few huge values
 * must not drag the baseline. A flagged value stays out of the baseline.
 */
import { median, medianAbsoluteDeviation } from 'simple-statistics';
import type { ToolCallEvent } from '@tapwatch/schema';
import { BoundedMap, formatBytes, type Finding } from './types.js';
import { defineDetector, type AnyDetector, type LearningState } from './detector.js';

export const RESULT_SIZE_DETECTOR = 'result_size_outlier';
export const ARGUMENT_SIZE_DETECTOR = 'argument_size_outlier';
export const LATENCY_DETECTOR = 'latency_outlier';

/** What one volume detector measures and how loud it is. */
export interface MetricSpec {
  detector: string;
  /** The value of a call, or undefined when the call does not count (e.g. failed). */
  value: (e: ToolCallEvent) => number | undefined;
  /** Values below this are never outliers worth a human's time. */
  floor: number;
  noun: string;
  format: (n: number) => string;
  /** Severity at the threshold, and at twice the threshold or 100×. */
  severity: ['low' | 'medium', 'low' | 'medium' | 'high'];
}

export const METRICS = Object.freeze({
  result: {
    detector: RESULT_SIZE_DETECTOR,
    value: (e) => (e.status === 'ok' ? e.responseBytes : undefined),
    floor: 2048,
    noun: 'Result',
    format: formatBytes,
    severity: ['medium', 'high'],
  },
  arguments: {
    detector: ARGUMENT_SIZE_DETECTOR,
    value: (e) => (e.status === 'rpc_error' ? undefined : e.requestBytes),
    floor: 2048,
    noun: 'Arguments',
    format: formatBytes,
    severity: ['medium', 'high'],
  },
  latency: {
    detector: LATENCY_DETECTOR,
    value: (e) => (e.status === 'ok' || e.status === 'tool_error' ? e.durationMs : undefined),
    floor: 2000,
    noun: 'Latency',
    format: (ms) => `${Math.round(ms)} ms`,
    // Slow calls are worth a line in the record, not a page.
    severity: ['low', 'low'],
  },
} satisfies Record<string, MetricSpec>);

export interface ResultSizeConfig {
  /** Results seen for a tool before it is judged. */
  minSamples: number;
  /** Robust z-score at or above which a result is an outlier. */
  threshold: number;
  /** Results kept per tool. */
  window?: number;
  /** Tools tracked at once (least recently used are forgotten). */
  maxKeys?: number;
}

/** MAD is 0 when sizes barely vary; this floor (in ln units, ≈ ±28 %) keeps tiny changes from scoring huge. */
const MIN_SCALE = 0.25;
/** A value must also be this many times the usual one: z alone flags trivia on very stable tools. */
const MIN_RATIO = 4;
/** Consistency constant: MAD × 1.4826 estimates σ for normal data. */
const MAD_TO_SIGMA = 1.4826;

/**
 * Median and MAD of a window barely move with one more sample, and computing
 * them sorts the window (the analyzer's hottest path when done per call): they
 * are recomputed after REFRESH_EVERY new samples while the window is young, and
 * after an eighth of the window once it is bigger (62 samples for the default
 * 500): by then at most 12 % of the values can have changed.
 */
const REFRESH_EVERY = 16;
const REFRESH_FRACTION = 8;
/** Consecutive outliers after which a tool's size is taken to have shifted for good, and relearned. */
const SHIFT_AFTER = 50;

interface Baseline {
  window: number[];
  median: number;
  scale: number;
  /** Samples added since median/scale were computed (-1: never computed). */
  stale: number;
  /** Outliers in a row, held back from the window. */
  outliersInRow: number[];
}

export interface ResultSizeState {
  config: Required<ResultSizeConfig>;
  metric: MetricSpec;
  windows: BoundedMap<string, Baseline>;
  /** (session, server, tool) already alerted: one alert per session and tool; later ones are counted. */
  alerted: BoundedMap<string, { count: number }>;
}

/** State of one volume detector; `metric` defaults to result bytes. */
export function createResultSizeState(config: ResultSizeConfig, metric: MetricSpec = METRICS.result): ResultSizeState {
  const full = { window: 500, maxKeys: 50_000, ...config };
  return { config: full, metric, windows: new BoundedMap(full.maxKeys), alerted: new BoundedMap(200_000) };
}

function baseline(window: number[]): Baseline {
  return { window, median: 0, scale: MIN_SCALE, stale: -1, outliersInRow: [] };
}

/** Seeds a tool's window (e.g. from storage at start), oldest first. */
export function seedResultSizes(state: ResultSizeState, server: string, tool: string, sizes: number[]): void {
  state.windows.set(key(server, tool), baseline(sizes.slice(-state.config.window).map(toLog)));
}

function refresh(b: Baseline): void {
  if (b.stale >= 0 && b.window.length >= 4 * REFRESH_EVERY && b.stale < Math.max(REFRESH_EVERY, b.window.length / REFRESH_FRACTION)) return;
  b.median = median(b.window);
  b.scale = Math.max(MAD_TO_SIGMA * medianAbsoluteDeviation(b.window), MIN_SCALE);
  b.stale = 0;
}

function learn(b: Baseline, x: number, max: number): void {
  b.window.push(x);
  if (b.window.length > max) b.window.shift();
  if (b.stale >= 0) b.stale++;
}

/** Judges one call, then learns from it unless it was flagged. Mutates `state`. */
export function detectResultSize(state: ResultSizeState, event: ToolCallEvent): Finding[] {
  const { metric } = state;
  const value = metric.value(event);
  if (value === undefined) return [];
  const k = key(event.server, event.tool);
  const own = windowFor(state, k);
  const x = toLog(value);
  // A tool still learning is judged against its server's values, else everyone's — only for
  // gross outliers (see FALLBACK_MARGIN) — and those broader baselines keep learning.
  let b = own;
  let scope: 'tool' | 'server' | 'global' = 'tool';
  let threshold = state.config.threshold;
  if (own.window.length < state.config.minSamples) {
    const server = windowFor(state, key(event.server, '*'));
    const global = windowFor(state, key('*', '*'));
    [b, scope] = server.window.length >= state.config.minSamples ? [server, 'server'] : [global, 'global'];
    threshold += FALLBACK_MARGIN;
    learn(own, x, state.config.window);
    if (b.window.length < state.config.minSamples) {
      learn(server, x, state.config.window);
      learn(global, x, state.config.window);
      return [];
    }
  }
  refresh(b);
  const z = (x - b.median) / b.scale;
  const usual = Math.round(Math.expm1(b.median));
  const ratio = value / Math.max(usual, 1);
  const minRatio = scope === 'tool' ? MIN_RATIO : FALLBACK_MIN_RATIO;
  if (!(z >= threshold && ratio >= minRatio && value >= metric.floor)) {
    if (scope === 'tool') {
      b.outliersInRow = [];
      learn(b, x, state.config.window);
    }
    // The broader baselines learn every value that is not an outlier.
    learn(windowFor(state, key(event.server, '*')), x, state.config.window);
    learn(windowFor(state, key('*', '*')), x, state.config.window);
    return [];
  }
  if (scope !== 'tool') return alertOnce(state, event, k, metric, value, usual, ratio, z, threshold, scope, b.window.length);
  // An outlier does not teach the baseline — unless outliers keep coming: then the tool's
  // normal has shifted (a new version, a bigger data set), and the baseline relearns it.
  b.outliersInRow.push(x);
  if (b.outliersInRow.length >= SHIFT_AFTER) {
    for (const o of b.outliersInRow) learn(b, o, state.config.window);
    b.outliersInRow = [];
    b.stale = -1;
  }
  return alertOnce(state, event, k, metric, value, usual, ratio, z, threshold, scope, b.window.length);
}

/** One alert per session and tool; later outliers of the same session are counted, not repeated. */
function alertOnce(
  state: ResultSizeState,
  event: ToolCallEvent,
  k: string,
  metric: MetricSpec,
  value: number,
  usual: number,
  ratio: number,
  z: number,
  threshold: number,
  scope: 'tool' | 'server' | 'global',
  samples: number,
): Finding[] {
  const seen = `${event.session}\u0000${k}`;
  const prior = state.alerted.get(seen);
  if (prior) {
    prior.count++;
    return [];
  }
  state.alerted.set(seen, { count: 1 });
  const severity = z >= 2 * threshold || ratio >= 100 ? metric.severity[1] : metric.severity[0];
  return [
    {
      severity,
      detector: metric.detector,
      title: `${metric.noun} of ${event.server}/${event.tool} was ${metric.format(value)}, ${ratio.toFixed(ratio >= 10 ? 0 : 1)}× its usual ${metric.format(usual)}.`,
      server: event.server,
      tool: event.tool,
      agent: event.agent,
      session: event.session,
      evidence: {
        metric: metric.noun.toLowerCase(),
        observed: value,
        baselineMedian: usual,
        ...(metric === METRICS.result ? { observedBytes: value, baselineMedianBytes: usual } : {}),
        ratio: round(ratio),
        robustZ: round(z),
        threshold,
        baseline: scope,
        baselineSamples: samples,
        callId: event.id,
        requestId: event.requestId,
      },
      eventIds: [event.id],
    },
  ];
}

/**
 * A fallback (server or global) baseline mixes tools of very different sizes —
 * a write's arguments against a server whose other tools take a path — so it
 * flags only gross outliers: this much more robust z, and FALLBACK_MIN_RATIO.
 */
const FALLBACK_MARGIN = 3;
const FALLBACK_MIN_RATIO = 100;

function windowFor(state: ResultSizeState, k: string): Baseline {
  let b = state.windows.get(k);
  if (!b) {
    b = baseline([]);
    state.windows.set(k, b);
  }
  return b;
}

/** How many (server, tool) baselines judge on their own and how many still learn (fewer samples than `minSamples`). */
export function baselineProgress(state: ResultSizeState): { learned: number; learning: number; minSamples: number } {
  let learned = 0;
  let learning = 0;
  for (const [k, b] of state.windows.entries()) {
    if (k.endsWith('\u0000*')) continue; // the server and global fallbacks, not tools
    if (b.window.length >= state.config.minSamples) learned++;
    else learning++;
  }
  return { learned, learning, minSamples: state.config.minSamples };
}

function key(server: string, tool: string): string {
  return `${server}\u0000${tool}`;
}

function toLog(bytes: number): number {
  return Math.log1p(Math.max(0, bytes));
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

/**
 * The registry entry of one volume metric: one core, registered once per
 * metric. All three seed from the same stored rows (`recentResponseSizes`).
 */
function volumeDetector(metric: MetricSpec, sizes: 'sizes' | 'requests' | 'durations', learning: 'resultSize' | 'argumentSize' | 'latency'): AnyDetector {
  return defineDetector({
    id: metric.detector,
    emits: [metric.detector],
    eventTypes: ['tool_call'],
    create: (config) => createResultSizeState(config.resultSize, metric),
    detect: detectResultSize,
    async refresh(state, store) {
      for (const s of await store.recentResponseSizes(state.config.window)) seedResultSizes(state, s.server, s.tool, s[sizes]);
    },
    learning: (state): Partial<LearningState> => ({ [learning]: baselineProgress(state) }),
  });
}

export const RESULT_SIZE = volumeDetector(METRICS.result, 'sizes', 'resultSize');
export const ARGUMENT_SIZE = volumeDetector(METRICS.arguments, 'requests', 'argumentSize');
export const LATENCY = volumeDetector(METRICS.latency, 'durations', 'latency');
