/**
 * The per-session state the rate detectors share (call_loop, error_streak,
 * bulk_reads, call_rate, session_volume: one file each): one record per
 * session, updated once per call, and the normals learned from finished
 * sessions. Keeping one record instead of five keeps the hot path at one
 * session lookup per call.
 */
import { quantileSorted } from 'simple-statistics';
import { BoundedMap } from './types.js';

export interface RateConfig {
  loopWindow: number;
  errorStreak: number;
  /** Finished sessions using a tool before its per-session normal is trusted. */
  bulkMinSessions: number;
  /** Calls per session never flagged as bulk, whatever the normal. */
  bulkFloor: number;
  /** Multiple of the normal (99th percentile of per-session counts) that is flagged. */
  bulkFactor: number;
  /** Used until enough sessions are seen. */
  bulkDefault: number;
}

export interface SessionCounters {
  agent: string;
  resultBytes: number;
  calls: number;
  lastMs: number | undefined;
  /** EWMA of the session's call rate (calls/min), and its peak. */
  rate: number;
  peakRate: number;
  learned: boolean;
  /**
   * Loop tracking without keeping the window: the last call's signature (`lastTool` interned,
   * `lastArgs`), how many calls in a row had it (`lastRun`), the other signature of the longest
   * suffix of calls with at most two (`otherTool`/`otherArgs`), and that suffix's length (`run`).
   * The last `loopWindow` calls have at most two signatures exactly when `run >= loopWindow`.
   */
  lastTool: string;
  lastArgs: string;
  lastRun: number;
  otherTool: string | undefined;
  otherArgs: string;
  run: number;
  errorsInRow: number;
  /** Per (server, tool): calls, and 30-bit digests of their distinct arguments hashes (numbers stay unboxed in a Set; strings cost ~100 bytes each). */
  perTool: Map<string, ToolCount>;
}

/**
 * A session's calls of one (server, tool), and 30-bit digests of their distinct arguments
 * hashes: the first alone (most sessions call a tool a few times on one argument set; an
 * empty Set alone costs ~200 bytes), a Set of numbers (unboxed, unlike ~100-byte hash
 * strings) once there is a second.
 */
export interface ToolCount {
  calls: number;
  first: number;
  more: Set<number> | undefined;
}

export interface RateState {
  config: RateConfig;
  sessions: BoundedMap<string, SessionCounters>;
  /** (server, tool) → calls per finished session, most recent last. */
  normals: BoundedMap<string, number[]>;
  /** agent (and `*` for everyone) → result bytes per finished session, most recent last. */
  volumes: BoundedMap<string, number[]>;
  /** agent (and `*`) → peak EWMA call rate (calls/min) per finished session. */
  peaks: BoundedMap<string, number[]>;
  alerted: BoundedMap<string, true>;
}

export function createRateState(config: Partial<RateConfig> = {}, maxSessions = 200_000): RateState {
  return {
    config: { loopWindow: 12, errorStreak: 5, bulkMinSessions: 20, bulkFloor: 25, bulkFactor: 2, bulkDefault: 40, ...config },
    sessions: new BoundedMap(maxSessions),
    normals: new BoundedMap(50_000),
    volumes: new BoundedMap(50_000),
    peaks: new BoundedMap(50_000),
    alerted: new BoundedMap(maxSessions),
  };
}

/** Finished sessions kept per normal (per tool, per agent). */
export const NORMAL_WINDOW = 500;
/** Finished sessions of an agent (else of everyone) before its normal session volume or call rate is trusted. */
export const MIN_FINISHED_SESSIONS = 10;

/** Restores per-session call counts of a tool (from storage), oldest first. */
export function seedSessionCounts(state: RateState, server: string, tool: string, counts: number[]): void {
  state.normals.set(`${server}\u0000${tool}`, counts.slice(-NORMAL_WINDOW));
}

/** Restores an agent's session volumes (from storage); they also teach everyone's normal. */
export function seedSessionVolumes(state: RateState, agent: string, volumes: number[]): void {
  for (const v of volumes) {
    learnInto(state.volumes, agent, v);
    learnInto(state.volumes, '*', v);
  }
}

/** The session's record, created on its first call. */
export function counters(state: RateState, session: string, agent: string): SessionCounters {
  let c = state.sessions.get(session);
  if (!c) {
    c = {
      agent: intern(agent),
      resultBytes: 0,
      calls: 0,
      lastMs: undefined,
      rate: 0,
      peakRate: 0,
      learned: false,
      lastTool: '',
      lastArgs: '',
      lastRun: 0,
      otherTool: undefined,
      otherArgs: '',
      run: 0,
      errorsInRow: 0,
      perTool: new Map(),
    };
    state.sessions.set(session, c);
  }
  return c;
}

/**
 * Quantile `p` of a normal window (per-session counts, volumes, peaks). The windows change only
 * when a session ends, but are judged on every call: the sorted copy is kept until the window
 * changes (every mutation goes through `changed`).
 */
const SORTED = new WeakMap<number[], number[]>();

export function quantileOf(values: number[], p: number): number {
  let sorted = SORTED.get(values);
  if (sorted === undefined) {
    sorted = [...values].sort((a, b) => a - b);
    SORTED.set(values, sorted);
  }
  return quantileSorted(sorted, p);
}

export function changed(values: number[]): void {
  SORTED.delete(values);
}

/** Appends a finished session's value to a normal window, keeping its last NORMAL_WINDOW. */
export function learnInto(map: BoundedMap<string, number[]>, key: string, value: number): void {
  let v = map.get(key);
  if (!v) {
    v = [];
    map.set(key, v);
  }
  v.push(value);
  if (v.length > NORMAL_WINDOW) v.shift();
  changed(v);
}

/** True the first time `key` is alerted; remembers it. */
export function once(state: RateState, key: string): boolean {
  if (state.alerted.has(key)) return false;
  state.alerted.set(key, true);
  return true;
}

/** Interned strings (`server/tool` names, per-tool keys): session state holds references, not a new string per call. */
const INTERNED = new Map<string, string>();

export function intern(text: string): string {
  const known = INTERNED.get(text);
  if (known !== undefined) return known;
  if (INTERNED.size >= 20_000) INTERNED.clear();
  INTERNED.set(text, text);
  return text;
}

/** The finding fields every rate detector shares. */
export function subject(event: { server: string; tool: string; agent: string; session: string }): {
  server: string;
  tool: string;
  agent: string;
  session: string;
} {
  return { server: event.server, tool: event.tool, agent: event.agent, session: event.session };
}
