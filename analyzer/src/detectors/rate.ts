/**
 * The rate detectors over one per-session state (rate-state.ts), wired as one
 * registry entry: each call is judged by call_loop, error_streak, bulk_reads,
 * call_rate and session_volume, in that order, with one session lookup; a
 * session's end teaches the normals.
 */
import type { SessionEndEvent, ToolCallEvent } from '@tapwatch/schema';
import type { Finding } from './types.js';
import { defineDetector } from './detector.js';
import { counters, createRateState, seedSessionCounts, seedSessionVolumes, type RateState } from './rate-state.js';
import { detectCallLoop, LOOP_DETECTOR } from './call-loop.js';
import { detectErrorStreak, ERROR_STREAK_DETECTOR } from './error-streak.js';
import { BULK_DETECTOR, detectBulkReads, learnToolCounts } from './bulk-reads.js';
import { CALL_RATE_DETECTOR, detectCallRate, learnPeakRate } from './call-rate.js';
import { detectSessionVolume, learnSessionVolume, SESSION_VOLUME_DETECTOR } from './session-volume.js';

/** Judges one call with every rate detector. Mutates `state`. */
export function detectRate(state: RateState, event: ToolCallEvent): Finding[] {
  const c = counters(state, event.session, event.agent);
  return [
    ...detectCallLoop(state, c, event),
    ...detectErrorStreak(state, c, event),
    ...detectBulkReads(state, c, event),
    ...detectCallRate(state, c, event),
    ...detectSessionVolume(state, c, event),
  ];
}

/**
 * A finished (session, server) teaches the normals: its result bytes and peak
 * rate once per session, its per-tool counts per server. What raised an
 * alert does not teach (a flagged session volume keeps the session's rate out
 * too).
 */
export function learnSessionEnd(state: RateState, event: SessionEndEvent): void {
  const c = state.sessions.get(event.session);
  if (!c) return;
  if (!c.learned && !state.alerted.has(`${SESSION_VOLUME_DETECTOR}\u0000${event.session}`)) {
    c.learned = true;
    learnSessionVolume(state, c);
    learnPeakRate(state, c, event.session);
  }
  learnToolCounts(state, c, event);
}

export const RATE = defineDetector({
  id: 'rate',
  emits: [LOOP_DETECTOR, ERROR_STREAK_DETECTOR, BULK_DETECTOR, CALL_RATE_DETECTOR, SESSION_VOLUME_DETECTOR],
  eventTypes: ['tool_call', 'session_end'],
  create: () => createRateState(),
  detect(state, event) {
    if (event.type === 'tool_call') return detectRate(state, event);
    learnSessionEnd(state, event);
    return [];
  },
  async refresh(state, store) {
    for (const c of await store.recentSessionCounts(500)) seedSessionCounts(state, c.server, c.tool, c.counts);
  },
  async warm(state, store) {
    for (const v of await store.recentSessionVolumes(200)) seedSessionVolumes(state, v.agent, v.volumes);
  },
});
