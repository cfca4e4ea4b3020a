/**
 * `bulk_reads`: a session calls one (server, tool) far more often, on mostly
 * distinct arguments, than sessions normally do: a crawl or a dump. The
 * normal is learned from finished sessions (median/MAD-free: a high quantile
 * of per-session counts, robust to a few big sessions). State: the session's
 * per-tool counts and the per-tool normals in the shared rate state.
 */
import type { SessionEndEvent, ToolCallEvent } from '@tapwatch/schema';
import type { Finding } from './types.js';
import { changed, intern, NORMAL_WINDOW, once, quantileOf, subject, type RateState, type SessionCounters, type ToolCount } from './rate-state.js';

export const BULK_DETECTOR = 'bulk_reads';

const MAX_DISTINCT = 10_000;

function distinctCount(t: ToolCount): number {
  return t.more === undefined ? 1 : t.more.size;
}

function addDistinct(t: ToolCount, d: number): void {
  if (t.more === undefined) {
    if (d !== t.first) t.more = new Set([t.first, d]);
  } else if (t.more.size < MAX_DISTINCT) t.more.add(d);
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

/** The per-session count above which a tool's use is bulk. */
export function bulkThreshold(state: RateState, server: string, tool: string): number {
  const counts = state.normals.get(`${server}\u0000${tool}`);
  const { bulkMinSessions, bulkFloor, bulkFactor, bulkDefault } = state.config;
  if (!counts || counts.length < bulkMinSessions) return bulkDefault;
  const p99 = quantileOf(counts, 0.99);
  return Math.max(bulkFloor, Math.ceil(bulkFactor * p99));
}

/** Judges one call of the session `c`: many calls of one tool on mostly distinct arguments. Mutates `state` and `c`. */
export function detectBulkReads(state: RateState, c: SessionCounters, event: ToolCallEvent): Finding[] {
  const k = intern(`${event.server}\u0000${event.tool}`);
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
  if (!(t.calls >= threshold && distinct >= t.calls / 2 && once(state, `${BULK_DETECTOR}\u0000${event.session}\u0000${k}`))) return [];
  const counts = state.normals.get(k);
  return [
    {
      ...subject(event),
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
    },
  ];
}

/** A finished (session, server): its per-tool counts teach the normal. Tools that raised a bulk alert do not. */
export function learnToolCounts(state: RateState, c: SessionCounters, event: SessionEndEvent): void {
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
