/**
 * `new_server`: servers nobody has seen before. Joining a session that is
 * already under way is the pattern that matters (a new sink appearing
 * mid-task); a first sighting at the start of a session is `low`: worth a
 * line in the record, not a page. State: the shared novelty state.
 */
import type { SessionStartEvent } from '@tapwatch/schema';
import type { Finding } from './types.js';
import { HISTORY_BEFORE_MID_SESSION, noveltySession, type NoveltyState } from './novelty-state.js';

export const NEW_SERVER_DETECTOR = 'new_server';

/** A session start: a server never seen before is new; one joining a session already under way is the signal. */
export function detectNewServer(state: NoveltyState, event: SessionStartEvent): Finding[] {
  const s = noveltySession(state, event.session);
  const known = state.servers.has(event.server);
  const midSession = s.calls > 0 && !s.servers.has(event.server) && state.totalCalls >= HISTORY_BEFORE_MID_SESSION;
  s.servers.add(event.server);
  state.servers.set(event.server, true);
  if (known) return [];
  const key = `${NEW_SERVER_DETECTOR}\u0000${event.agent}\u0000${event.server}`;
  if (state.alerted.has(key)) return [];
  state.alerted.set(key, true);
  return [
    {
      severity: midSession ? 'medium' : 'low',
      detector: NEW_SERVER_DETECTOR,
      title: midSession
        ? `A server never seen before (${event.server}) joined session ${event.session} after ${s.calls} calls had been made.`
        : `First sighting of server ${event.server}.`,
      server: event.server,
      tool: '',
      agent: event.agent,
      session: event.session,
      evidence: {
        midSession,
        callsBeforeJoin: s.calls,
        serversAlreadyInSession: [...s.servers].filter((x) => x !== event.server),
        serverInfo: event.serverInfo ?? null,
        target: event.target ?? null,
      },
      eventIds: [event.id],
    },
  ];
}
