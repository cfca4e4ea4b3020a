/**
 * `call_rate` (low): a session's EWMA call rate far above the peaks of the
 * agent's (else everyone's) finished sessions. Only noted: agents
 * legitimately burst, and loops and bulk reads already page; corroboration
 * raises it when they agree. State: the session's rate in the shared rate
 * state, and the peaks of finished sessions.
 */
import type { ToolCallEvent } from '@tapwatch/schema';
import type { Finding } from './types.js';
import { learnInto, MIN_FINISHED_SESSIONS, once, quantileOf, subject, type RateState, type SessionCounters } from './rate-state.js';

export const CALL_RATE_DETECTOR = 'call_rate';

/** Smoothing of the per-session call rate (EWMA over inter-call rates). */
const RATE_ALPHA = 0.2;
/** Calls in a session before its rate is judged. */
const RATE_MIN_CALLS = 10;
/** A session's rate must exceed this multiple of the normal peak, and RATE_FLOOR, to be noted. */
const RATE_FACTOR = 5;
const RATE_FLOOR_PER_MIN = 600;

/** Judges one call of the session `c`. Mutates `state` and `c`. */
export function detectCallRate(state: RateState, c: SessionCounters, event: ToolCallEvent): Finding[] {
  const nowMs = Date.parse(event.time);
  c.calls++;
  if (c.lastMs !== undefined) {
    const instant = 60_000 / Math.max(nowMs - c.lastMs, 50);
    c.rate = c.rate === 0 ? instant : RATE_ALPHA * instant + (1 - RATE_ALPHA) * c.rate;
    if (c.calls >= RATE_MIN_CALLS) c.peakRate = Math.max(c.peakRate, c.rate);
  }
  c.lastMs = nowMs;
  const peak = normalPeak(state, event.agent);
  if (peak === undefined || c.calls < RATE_MIN_CALLS) return [];
  const limit = Math.max(RATE_FLOOR_PER_MIN, RATE_FACTOR * peak.p95);
  if (!(c.rate > limit && once(state, `${CALL_RATE_DETECTOR}\u0000${event.session}`))) return [];
  return [
    {
      ...subject(event),
      severity: 'low',
      detector: CALL_RATE_DETECTOR,
      title: `Session ${event.session} is calling tools at ${Math.round(c.rate)}/min; ${peak.whose} sessions peak around ${Math.round(peak.p95)}/min.`,
      evidence: {
        ratePerMinute: Math.round(c.rate),
        limit: Math.round(limit),
        baselineP95: Math.round(peak.p95),
        baselineSessions: peak.sessions,
        callsInSession: c.calls,
        callId: event.id,
      },
      eventIds: [event.id],
    },
  ];
}

function normalPeak(state: RateState, agent: string): { p95: number; sessions: number; whose: string } | undefined {
  for (const [key, whose] of [
    [agent, "this agent's"],
    ['*', "all agents'"],
  ] as const) {
    const v = state.peaks.get(key);
    if (!v || v.length < MIN_FINISHED_SESSIONS) continue;
    return { p95: quantileOf(v, 0.95), sessions: v.length, whose };
  }
  return undefined;
}

/** A finished session's peak rate teaches the agent's and everyone's normal, unless the session was flagged. */
export function learnPeakRate(state: RateState, c: SessionCounters, session: string): void {
  if (c.peakRate > 0 && !state.alerted.has(`${CALL_RATE_DETECTOR}\u0000${session}`)) {
    learnInto(state.peaks, c.agent, c.peakRate);
    learnInto(state.peaks, '*', c.peakRate);
  }
}
