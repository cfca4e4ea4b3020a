/**
 * `unadvertised_tool`: a call to a tool its server never listed. Judged only
 * once the server has listed tools at least once. State: the shared novelty
 * state (every call also counts towards the session's history there).
 */
import type { ToolCallEvent } from '@tapwatch/schema';
import type { Finding } from './types.js';
import { noveltySession, type NoveltyState } from './novelty-state.js';

export const UNADVERTISED_DETECTOR = 'unadvertised_tool';

/** A call to a tool its server never listed. Judged only once the server has listed tools at least once. */
export function detectUnadvertised(state: NoveltyState, event: ToolCallEvent): Finding[] {
  const s = noveltySession(state, event.session);
  s.calls++;
  state.totalCalls++;
  s.servers.add(event.server);
  state.servers.set(event.server, true);
  const tools = state.advertised.get(event.server);
  if (!tools || tools.has(event.tool)) return [];
  const key = `${UNADVERTISED_DETECTOR}\u0000${event.session}\u0000${event.server}\u0000${event.tool}`;
  if (state.alerted.has(key)) return [];
  state.alerted.set(key, true);
  return [
    {
      severity: 'high',
      detector: UNADVERTISED_DETECTOR,
      title: `${event.server}/${event.tool} was called, but server ${event.server} never advertised a tool named ${event.tool}.`,
      server: event.server,
      tool: event.tool,
      agent: event.agent,
      session: event.session,
      evidence: {
        advertisedTools: [...tools].slice(0, 50),
        advertisedCount: tools.size,
        status: event.status,
        callId: event.id,
      },
      eventIds: [event.id],
    },
  ];
}
