/**
 * Result-size outlier per (server, tool): a robust z-score of the log size
 * against the median and MAD of the recent results of the same tool. Logs,
 * because sizes are roughly log-normal; median/MAD, because a few huge results
 * must not drag the baseline. A flagged result stays out of the baseline.
 */
import { median, medianAbsoluteDeviation } from 'simple-statistics';
import type { ToolCallEvent } from '@tapwatch/schema';
import { BoundedMap, formatBytes, type Finding } from './types.js';

export const RESULT_SIZE_DETECTOR = 'result_size_outlier';

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
/** A result must also be this many times the usual size: z alone flags trivia on very stable tools. */
const MIN_RATIO = 4;
/** Results smaller than this are never outliers worth a human's time. */
const MIN_BYTES = 2048;
/** Consistency constant: MAD × 1.4826 estimates σ for normal data. */
const MAD_TO_SIGMA = 1.4826;

/**
 * Median and MAD of a window barely move with one more sample, and computing
 * them sorts the window (the analyzer's hottest path when done per call): they
 * are recomputed after this many new samples, or when the window is young.
 */
const REFRESH_EVERY = 16;
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
  windows: BoundedMap<string, Baseline>;
  /** (session, server, tool) already alerted: one alert per session and tool; later ones are counted. */
  alerted: BoundedMap<string, { count: number }>;
}

export function createResultSizeState(config: ResultSizeConfig): ResultSizeState {
  const full = { window: 500, maxKeys: 50_000, ...config };
  return { config: full, windows: new BoundedMap(full.maxKeys), alerted: new BoundedMap(200_000) };
}

function baseline(window: number[]): Baseline {
  return { window, median: 0, scale: MIN_SCALE, stale: -1, outliersInRow: [] };
}

/** Seeds a tool's window (e.g. from storage at start), oldest first. */
export function seedResultSizes(state: ResultSizeState, server: string, tool: string, sizes: number[]): void {
  state.windows.set(key(server, tool), baseline(sizes.slice(-state.config.window).map(toLog)));
}

function refresh(b: Baseline): void {
  if (b.stale >= 0 && b.stale < REFRESH_EVERY && b.window.length >= 4 * REFRESH_EVERY) return;
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
  if (event.status !== 'ok') return [];
  const k = key(event.server, event.tool);
  let b = state.windows.get(k);
  if (!b) {
    b = baseline([]);
    state.windows.set(k, b);
  }
  const x = toLog(event.responseBytes);
  if (b.window.length < state.config.minSamples) {
    learn(b, x, state.config.window);
    return [];
  }
  refresh(b);
  const z = (x - b.median) / b.scale;
  const usualBytes = Math.round(Math.expm1(b.median));
  const ratio = event.responseBytes / Math.max(usualBytes, 1);
  if (!(z >= state.config.threshold && ratio >= MIN_RATIO && event.responseBytes >= MIN_BYTES)) {
    b.outliersInRow = [];
    learn(b, x, state.config.window);
    return [];
  }
  // An outlier does not teach the baseline — unless outliers keep coming: then the tool's
  // normal has shifted (a new version, a bigger data set), and the baseline relearns it.
  b.outliersInRow.push(x);
  if (b.outliersInRow.length >= SHIFT_AFTER) {
    for (const o of b.outliersInRow) learn(b, o, state.config.window);
    b.outliersInRow = [];
    b.stale = -1;
  }
  const seen = `${event.session}\u0000${k}`;
  const prior = state.alerted.get(seen);
  if (prior) {
    prior.count++;
    return [];
  }
  state.alerted.set(seen, { count: 1 });
  const severity = z >= 2 * state.config.threshold || ratio >= 100 ? 'high' : 'medium';
  return [
    {
      severity,
      detector: RESULT_SIZE_DETECTOR,
      title: `Result of ${event.server}/${event.tool} was ${formatBytes(event.responseBytes)}, ${ratio.toFixed(ratio >= 10 ? 0 : 1)}× its usual ${formatBytes(usualBytes)}.`,
      server: event.server,
      tool: event.tool,
      agent: event.agent,
      session: event.session,
      evidence: {
        observedBytes: event.responseBytes,
        baselineMedianBytes: usualBytes,
        ratio: round(ratio),
        robustZ: round(z),
        threshold: state.config.threshold,
        baselineSamples: b.window.length,
        callId: event.id,
        requestId: event.requestId,
      },
      eventIds: [event.id],
    },
  ];
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
