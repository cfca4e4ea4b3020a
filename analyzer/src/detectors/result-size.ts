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

export interface ResultSizeState {
  config: Required<ResultSizeConfig>;
  windows: BoundedMap<string, number[]>;
}

export function createResultSizeState(config: ResultSizeConfig): ResultSizeState {
  const full = { window: 500, maxKeys: 50_000, ...config };
  return { config: full, windows: new BoundedMap(full.maxKeys) };
}

/** Seeds a tool's window (e.g. from storage at start), oldest first. */
export function seedResultSizes(state: ResultSizeState, server: string, tool: string, sizes: number[]): void {
  state.windows.set(key(server, tool), sizes.slice(-state.config.window).map(toLog));
}

/** Judges one call, then learns from it unless it was flagged. Mutates `state`. */
export function detectResultSize(state: ResultSizeState, event: ToolCallEvent): Finding[] {
  if (event.status !== 'ok') return [];
  const k = key(event.server, event.tool);
  let window = state.windows.get(k);
  if (!window) {
    window = [];
    state.windows.set(k, window);
  }
  const x = toLog(event.responseBytes);
  const findings: Finding[] = [];
  if (window.length >= state.config.minSamples) {
    const med = median(window);
    const scale = Math.max(MAD_TO_SIGMA * medianAbsoluteDeviation(window), MIN_SCALE);
    const z = (x - med) / scale;
    const usualBytes = Math.round(Math.expm1(med));
    const ratio = event.responseBytes / Math.max(usualBytes, 1);
    if (z >= state.config.threshold && ratio >= MIN_RATIO && event.responseBytes >= MIN_BYTES) {
      const severity = z >= 2 * state.config.threshold || ratio >= 100 ? 'high' : 'medium';
      findings.push({
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
          baselineSamples: window.length,
          callId: event.id,
          requestId: event.requestId,
        },
        eventIds: [event.id],
      });
      return findings; // an outlier does not teach the baseline
    }
  }
  window.push(x);
  if (window.length > state.config.window) window.shift();
  return findings;
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
