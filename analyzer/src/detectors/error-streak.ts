/**
 * `error_streak`: `errorStreak` failed calls in a row in a session, once per
 * session. State: the session's record in the shared rate state.
 */
import type { ToolCallEvent } from '@tapwatch/schema';
import type { Finding } from './types.js';
import { once, subject, type RateState, type SessionCounters } from './rate-state.js';

export const ERROR_STREAK_DETECTOR = 'error_streak';

/** Judges one call of the session `c`. Mutates `state` and `c`. */
export function detectErrorStreak(state: RateState, c: SessionCounters, event: ToolCallEvent): Finding[] {
  c.errorsInRow = event.isError || event.status === 'rpc_error' ? c.errorsInRow + 1 : 0;
  if (c.errorsInRow !== state.config.errorStreak || !once(state, `${ERROR_STREAK_DETECTOR}\u0000${event.session}`)) return [];
  return [
    {
      ...subject(event),
      severity: 'medium',
      detector: ERROR_STREAK_DETECTOR,
      title: `${c.errorsInRow} calls in a row failed in session ${event.session} (last: ${event.server}/${event.tool}).`,
      evidence: { errorsInRow: c.errorsInRow, lastError: event.errorMessage ?? (event.isError ? 'isError result' : null), callId: event.id },
      eventIds: [event.id],
    },
  ];
}
