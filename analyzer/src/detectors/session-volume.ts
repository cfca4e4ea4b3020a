/**
 * `session_volume`: a session pulls in far more result bytes than the agent's
 * (else everyone's) finished sessions normally do. State: the session's
 * result bytes in the shared rate state, and the volumes of finished
 * sessions.
 */
import type { ToolCallEvent } from '@tapwatch/schema';
import { formatBytes, type Finding } from './types.js';
import { learnInto, MIN_FINISHED_SESSIONS, once, quantileOf, subject, type RateState, type SessionCounters } from './rate-state.js';

export const SESSION_VOLUME_DETECTOR = 'session_volume';

/** Session result volume never flagged below this, whatever the normal. */
const SESSION_VOLUME_FLOOR = 2 * 1024 * 1024;

/** Judges one call of the session `c`: all the result bytes the session pulled in. Mutates `state` and `c`. */
export function detectSessionVolume(state: RateState, c: SessionCounters, event: ToolCallEvent): Finding[] {
  c.resultBytes += event.responseBytes;
  const normal = sessionVolumeThreshold(state, event.agent);
  if (!(normal !== undefined && c.resultBytes >= normal.threshold && once(state, `${SESSION_VOLUME_DETECTOR}\u0000${event.session}`))) return [];
  return [
    {
      ...subject(event),
      severity: 'medium',
      detector: SESSION_VOLUME_DETECTOR,
      title: `Session ${event.session} has pulled ${formatBytes(c.resultBytes)} of results; ${normal.whose} sessions stay under ${formatBytes(normal.threshold)}.`,
      evidence: {
        sessionResultBytes: c.resultBytes,
        threshold: normal.threshold,
        baselineP99: normal.p99,
        baselineSessions: normal.sessions,
        baseline: normal.whose,
        callId: event.id,
      },
      eventIds: [event.id],
    },
  ];
}

/** 4 × the 99th percentile of finished sessions' result volume, the agent's own when it has enough, else everyone's. */
export function sessionVolumeThreshold(state: RateState, agent: string): { threshold: number; p99: number; sessions: number; whose: string } | undefined {
  for (const [key, whose] of [
    [agent, "this agent's"],
    ['*', "all agents'"],
  ] as const) {
    const v = state.volumes.get(key);
    if (!v || v.length < MIN_FINISHED_SESSIONS) continue;
    const p99 = quantileOf(v, 0.99);
    return { threshold: Math.max(SESSION_VOLUME_FLOOR, Math.ceil(4 * p99)), p99, sessions: v.length, whose };
  }
  return undefined;
}

/** A finished session's result bytes teach the agent's and everyone's normal. */
export function learnSessionVolume(state: RateState, c: SessionCounters): void {
  learnInto(state.volumes, c.agent, c.resultBytes);
  learnInto(state.volumes, '*', c.resultBytes);
}
