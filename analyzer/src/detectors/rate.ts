/**
 * Loops, streaks and bulk reads within a session:
 * - `loop`: the last `loopWindow` calls of a session use at most two distinct
 *   call signatures (tool + arguments hash) — the same call repeated, or two
 *   calls ping-ponging. Agents stuck in a loop, or something hammering a tool.
 * - `error_streak`: `errorStreak` failed calls in a row.
 * - `call_rate` (low): a session's EWMA call rate far above the peaks of the
 *   agent's (else everyone's) finished sessions.
 * - `session_volume`: a session pulls in far more result bytes than the
 *   agent's (else everyone's) finished sessions normally do.
 * - `bulk_reads`: a session calls one (server, tool) far more often, on
 *   mostly distinct arguments, than sessions normally do: a crawl or a dump.
 *   The normal is learned from finished sessions (median/MAD-free: a high
 *   quantile of per-session counts, robust to a few big sessions).
 */
import { quantileSorted } from 'simple-statistics';
import type { SessionEndEvent, ToolCallEvent } from '@tapwatch/schema';
import { BoundedMap, formatBytes, type Finding } from './types.js';

export const LOOP_DETECTOR = 'call_loop';
export const ERROR_STREAK_DETECTOR = 'error_streak';
export const BULK_DETECTOR = 'bulk_reads';
export const SESSION_VOLUME_DETECTOR = 'session_volume';
export const CALL_RATE_DETECTOR = 'call_rate';

/** Smoothing of the per-session call rate (EWMA over inter-call rates). */
const RATE_ALPHA = 0.2;
/** Calls in a session before its rate is judged. */
const RATE_MIN_CALLS = 10;
/** A session's rate must exceed this multiple of the normal peak, and RATE_FLOOR, to be noted. */
const RATE_FACTOR = 5;
const RATE_FLOOR_PER_MIN = 600;

/** Session result volume never flagged below this, whatever the normal. */
const SESSION_VOLUME_FLOOR = 2 * 1024 * 1024;
/** Finished sessions of an agent (else of everyone) before its normal session volume is trusted. */
const SESSION_VOLUME_MIN_SESSIONS = 10;

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

interface SessionCounters {
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
interface ToolCount {
  calls: number;
  first: number;
  more: Set<number> | undefined;
}

const MAX_DISTINCT = 10_000;

function distinctCount(t: ToolCount): number {
  return t.more === undefined ? 1 : t.more.size;
}

function addDistinct(t: ToolCount, d: number): void {
  if (t.more === undefined) {
    if (d !== t.first) t.more = new Set([t.first, d]);
  } else if (t.more.size < MAX_DISTINCT) t.more.add(d);
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

const NORMAL_WINDOW = 500;

/** Restores per-session call counts of a tool (from storage), oldest first. */
export function seedSessionCounts(state: RateState, server: string, tool: string, counts: number[]): void {
  state.normals.set(`${server}\u0000${tool}`, counts.slice(-NORMAL_WINDOW));
}

function counters(state: RateState, session: string, agent: string): SessionCounters {
  let c = state.sessions.get(session);
  if (!c) {
    c = { agent: intern(agent), resultBytes: 0, calls: 0, lastMs: undefined, rate: 0, peakRate: 0, learned: false, lastTool: '', lastArgs: '', lastRun: 0, otherTool: undefined, otherArgs: '', run: 0, errorsInRow: 0, perTool: new Map() };
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

function quantileOf(values: number[], p: number): number {
  let sorted = SORTED.get(values);
  if (sorted === undefined) {
    sorted = [...values].sort((a, b) => a - b);
    SORTED.set(values, sorted);
  }
  return quantileSorted(sorted, p);
}

function changed(values: number[]): void {
  SORTED.delete(values);
}

/** The per-session count above which a tool's use is bulk. */
export function bulkThreshold(state: RateState, server: string, tool: string): number {
  const counts = state.normals.get(`${server}\u0000${tool}`);
  const { bulkMinSessions, bulkFloor, bulkFactor, bulkDefault } = state.config;
  if (!counts || counts.length < bulkMinSessions) return bulkDefault;
  const p99 = quantileOf(counts, 0.99);
  return Math.max(bulkFloor, Math.ceil(bulkFactor * p99));
}

/** Notes a call's signature in the session's loop tracking (see SessionCounters). */
function noteSignature(c: SessionCounters, tool: string, args: string): void {
  if (c.lastRun > 0 && tool === c.lastTool && args === c.lastArgs) {
    c.lastRun++;
    c.run++;
    return;
  }
  // A new signature: the suffix with at most two is the previous one's run plus this call,
  // unless this call is the other signature of the current suffix.
  const other = c.otherTool !== undefined && tool === c.otherTool && args === c.otherArgs;
  c.run = other ? c.run + 1 : c.lastRun + 1;
  c.otherTool = c.lastRun > 0 ? c.lastTool : undefined;
  c.otherArgs = c.lastArgs;
  c.lastTool = tool;
  c.lastArgs = args;
  c.lastRun = 1;
}

/** The distinct signatures (`server/tool#arguments hash`) of the last `window` calls, when there are at most two. */
function loopSignatures(c: SessionCounters, window: number): string[] | undefined {
  if (c.run < window) return undefined;
  const last = `${c.lastTool}#${c.lastArgs}`;
  return c.lastRun >= window || c.otherTool === undefined ? [last] : [last, `${c.otherTool}#${c.otherArgs}`];
}

/** Interned strings (`server/tool` names, per-tool keys): session state holds references, not a new string per call. */
const INTERNED = new Map<string, string>();

function intern(text: string): string {
  const known = INTERNED.get(text);
  if (known !== undefined) return known;
  if (INTERNED.size >= 20_000) INTERNED.clear();
  INTERNED.set(text, text);
  return text;
}

function toolName(server: string, tool: string): string {
  return intern(`${server}/${tool}`);
}

function toolKey(server: string, tool: string): string {
  return intern(`${server}\u0000${tool}`);
}

/** FNV-1a of a string, cut to 30 bits (a small integer V8 stores unboxed). */
function digest(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h & 0x3fffffff;
}

function once(state: RateState, key: string): boolean {
  if (state.alerted.has(key)) return false;
  state.alerted.set(key, true);
  return true;
}

/** Judges one call. Mutates `state`. */
export function detectRate(state: RateState, event: ToolCallEvent): Finding[] {
  const c = counters(state, event.session, event.agent);
  const findings: Finding[] = [];
  const base = { server: event.server, tool: event.tool, agent: event.agent, session: event.session };

  // Loops: signature = server, tool and the exact arguments.
  noteSignature(c, toolName(event.server, event.tool), event.argumentsHash);
  const signatures = loopSignatures(c, state.config.loopWindow);
  if (signatures !== undefined && once(state, `${LOOP_DETECTOR}\u0000${event.session}\u0000${signatures.sort().join('|')}`)) {
    findings.push({
      ...base,
      severity: 'medium',
      detector: LOOP_DETECTOR,
      title:
        signatures.length === 1
          ? `The same ${event.server}/${event.tool} call was repeated ${state.config.loopWindow} times in a row.`
          : `Two calls alternated for the last ${state.config.loopWindow} calls of the session (${signatures.map((d) => d.split('#')[0]).join(' ↔ ')}).`,
      evidence: { window: state.config.loopWindow, signatures, callId: event.id },
      eventIds: [event.id],
    });
  }

  // Error streaks.
  c.errorsInRow = event.isError || event.status === 'rpc_error' ? c.errorsInRow + 1 : 0;
  if (c.errorsInRow === state.config.errorStreak && once(state, `${ERROR_STREAK_DETECTOR}\u0000${event.session}`)) {
    findings.push({
      ...base,
      severity: 'medium',
      detector: ERROR_STREAK_DETECTOR,
      title: `${c.errorsInRow} calls in a row failed in session ${event.session} (last: ${event.server}/${event.tool}).`,
      evidence: { errorsInRow: c.errorsInRow, lastError: event.errorMessage ?? (event.isError ? 'isError result' : null), callId: event.id },
      eventIds: [event.id],
    });
  }

  // Bulk reads: many calls of one tool on mostly distinct arguments.
  const k = toolKey(event.server, event.tool);
  const d = digest(event.argumentsHash);
  let t = c.perTool.get(k);
  if (!t) {
    t = { calls: 0, first: d, more: undefined };
    c.perTool.set(k, t);
  }
  t.calls++;
  addDistinct(t, d);
  const distinct = distinctCount(t);
  const threshold = bulkThreshold(state, event.server, event.tool);
  if (t.calls >= threshold && distinct >= t.calls / 2 && once(state, `${BULK_DETECTOR}\u0000${event.session}\u0000${k}`)) {
    const counts = state.normals.get(k);
    findings.push({
      ...base,
      severity: 'medium',
      detector: BULK_DETECTOR,
      title: `Session ${event.session} called ${event.server}/${event.tool} ${t.calls} times on ${distinct} distinct arguments; sessions normally stay under ${threshold}.`,
      evidence: {
        calls: t.calls,
        distinctArguments: distinct,
        threshold,
        baselineSessions: counts?.length ?? 0,
        baselineP99: counts && counts.length > 0 ? quantileOf(counts, 0.99) : null,
        callId: event.id,
      },
      eventIds: [event.id],
    });
  }
  // Call rate: EWMA of the session's inter-call rate against the peaks of the agent's
  // (else everyone's) finished sessions. Only noted (low): agents legitimately burst, and
  // loops and bulk reads already page; corroboration raises it when they agree.
  const nowMs = Date.parse(event.time);
  c.calls++;
  if (c.lastMs !== undefined) {
    const instant = 60_000 / Math.max(nowMs - c.lastMs, 50);
    c.rate = c.rate === 0 ? instant : RATE_ALPHA * instant + (1 - RATE_ALPHA) * c.rate;
    if (c.calls >= RATE_MIN_CALLS) c.peakRate = Math.max(c.peakRate, c.rate);
  }
  c.lastMs = nowMs;
  const peak = normalPeak(state, event.agent);
  if (peak !== undefined && c.calls >= RATE_MIN_CALLS) {
    const limit = Math.max(RATE_FLOOR_PER_MIN, RATE_FACTOR * peak.p95);
    if (c.rate > limit && once(state, `${CALL_RATE_DETECTOR}\u0000${event.session}`)) {
      findings.push({
        ...base,
        severity: 'low',
        detector: CALL_RATE_DETECTOR,
        title: `Session ${event.session} is calling tools at ${Math.round(c.rate)}/min; ${peak.whose} sessions peak around ${Math.round(peak.p95)}/min.`,
        evidence: { ratePerMinute: Math.round(c.rate), limit: Math.round(limit), baselineP95: Math.round(peak.p95), baselineSessions: peak.sessions, callsInSession: c.calls, callId: event.id },
        eventIds: [event.id],
      });
    }
  }

  // Session volume: all the result bytes a session pulled in, against the agent's normal session.
  c.resultBytes += event.responseBytes;
  const normal = sessionVolumeThreshold(state, event.agent);
  if (normal !== undefined && c.resultBytes >= normal.threshold && once(state, `${SESSION_VOLUME_DETECTOR}\u0000${event.session}`)) {
    findings.push({
      ...base,
      severity: 'medium',
      detector: SESSION_VOLUME_DETECTOR,
      title: `Session ${event.session} has pulled ${formatBytes(c.resultBytes)} of results; ${normal.whose} sessions stay under ${formatBytes(normal.threshold)}.`,
      evidence: { sessionResultBytes: c.resultBytes, threshold: normal.threshold, baselineP99: normal.p99, baselineSessions: normal.sessions, baseline: normal.whose, callId: event.id },
      eventIds: [event.id],
    });
  }
  return findings;
}

/** 4 × the 99th percentile of finished sessions' result volume, the agent's own when it has enough, else everyone's. */
export function sessionVolumeThreshold(state: RateState, agent: string): { threshold: number; p99: number; sessions: number; whose: string } | undefined {
  for (const [key, whose] of [[agent, 'this agent\'s'], ['*', 'all agents\'']] as const) {
    const v = state.volumes.get(key);
    if (!v || v.length < SESSION_VOLUME_MIN_SESSIONS) continue;
    const p99 = quantileOf(v, 0.99);
    return { threshold: Math.max(SESSION_VOLUME_FLOOR, Math.ceil(4 * p99)), p99, sessions: v.length, whose };
  }
  return undefined;
}

function normalPeak(state: RateState, agent: string): { p95: number; sessions: number; whose: string } | undefined {
  for (const [key, whose] of [[agent, 'this agent\'s'], ['*', 'all agents\'']] as const) {
    const v = state.peaks.get(key);
    if (!v || v.length < SESSION_VOLUME_MIN_SESSIONS) continue;
    return { p95: quantileOf(v, 0.95), sessions: v.length, whose };
  }
  return undefined;
}

/** Restores an agent's session volumes (from storage); they also teach everyone's normal. */
export function seedSessionVolumes(state: RateState, agent: string, volumes: number[]): void {
  for (const v of volumes) {
    learnVolume(state, agent, v);
    learnVolume(state, '*', v);
  }
}

function learnVolume(state: RateState, key: string, bytes: number): void {
  learnInto(state.volumes, key, bytes);
}

function learnInto(map: BoundedMap<string, number[]>, key: string, value: number): void {
  let v = map.get(key);
  if (!v) {
    v = [];
    map.set(key, v);
  }
  v.push(value);
  if (v.length > NORMAL_WINDOW) v.shift();
  changed(v);
}

/** A finished (session, server): its per-tool counts teach the normal. Sessions that raised a bulk alert do not. */
export function learnSessionEnd(state: RateState, event: SessionEndEvent): void {
  const c = state.sessions.get(event.session);
  if (!c) return;
  if (!c.learned && !state.alerted.has(`${SESSION_VOLUME_DETECTOR}\u0000${event.session}`)) {
    c.learned = true;
    learnVolume(state, c.agent, c.resultBytes);
    learnVolume(state, '*', c.resultBytes);
    if (c.peakRate > 0 && !state.alerted.has(`${CALL_RATE_DETECTOR}\u0000${event.session}`)) {
      learnInto(state.peaks, c.agent, c.peakRate);
      learnInto(state.peaks, '*', c.peakRate);
    }
  }
  for (const [k, t] of c.perTool) {
    if (!k.startsWith(`${event.server}\u0000`)) continue;
    if (state.alerted.has(`${BULK_DETECTOR}\u0000${event.session}\u0000${k}`)) continue;
    let counts = state.normals.get(k);
    if (!counts) {
      counts = [];
      state.normals.set(k, counts);
    }
    counts.push(t.calls);
    if (counts.length > NORMAL_WINDOW) counts.shift();
    changed(counts);
  }
}
