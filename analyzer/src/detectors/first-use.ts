/**
 * `first_use`: first use, per agent, of a tool, an argument name, or a
 * destination of a call that can send data out. `low` alone (a line in the
 * record, not a page); corroboration raises it when another family already
 * fired in the session. Judged once the agent has a history (`minCalls`).
 */
import type { ToolCallEvent } from '@tapwatch/schema';
import { BoundedMap, type Finding } from './types.js';
import { defineDetector } from './detector.js';
import { isEgressCall } from './egress.js';

export const FIRST_USE_DETECTOR = 'first_use';

export interface AgentNoveltyState {
  /** agent → things it has used: `t:server/tool`, `k:server/tool/key`, `d:destination`. */
  seen: BoundedMap<string, Set<string>>;
  /** Per agent, calls seen: an agent's first calls are all "new" and say nothing. */
  calls: BoundedMap<string, number>;
  minCalls: number;
}

export function createAgentNoveltyState(minCalls = 50, maxAgents = 100_000): AgentNoveltyState {
  return { seen: new BoundedMap(maxAgents), calls: new BoundedMap(maxAgents), minCalls };
}

const MAX_SEEN_PER_AGENT = 5_000;

/** Judges one call; `egress` says whether it can send data out (destinations count only then). Mutates `state`. */
export function detectFirstUse(state: AgentNoveltyState, event: ToolCallEvent, egress: boolean): Finding[] {
  let seen = state.seen.get(event.agent);
  if (!seen) {
    seen = new Set();
    state.seen.set(event.agent, seen);
  }
  const calls = (state.calls.get(event.agent) ?? 0) + 1;
  state.calls.set(event.agent, calls);
  const fresh: string[] = [];
  const note = (k: string) => {
    if (seen.has(k)) return;
    if (seen.size < MAX_SEEN_PER_AGENT) seen.add(k);
    fresh.push(k);
  };
  const toolKey = `${event.server}/${event.tool}`;
  note(`t:${toolKey}`);
  for (const key of event.argumentKeys) note(`k:${toolKey}/${key}`);
  if (egress) for (const d of event.destinations ?? []) note(`d:${d}`);
  if (calls <= state.minCalls || fresh.length === 0) return [];
  const destinations = fresh.filter((f) => f.startsWith('d:')).map((f) => f.slice(2));
  const tools = fresh.filter((f) => f.startsWith('t:')).map((f) => f.slice(2));
  const keys = fresh.filter((f) => f.startsWith('k:')).map((f) => f.slice(2));
  const what = destinations.length > 0 ? `destination ${destinations.join(', ')}` : tools.length > 0 ? `tool ${tools[0]}` : `argument ${keys.join(', ')}`;
  return [
    {
      severity: 'low',
      detector: FIRST_USE_DETECTOR,
      title: `Agent ${event.agent} used ${what} for the first time.`,
      server: event.server,
      tool: event.tool,
      agent: event.agent,
      session: event.session,
      evidence: { newTools: tools, newArgumentKeys: keys, newDestinations: destinations, agentCalls: calls, callId: event.id },
      eventIds: [event.id],
    },
  ];
}

export const FIRST_USE = defineDetector({
  id: FIRST_USE_DETECTOR,
  emits: [FIRST_USE_DETECTOR],
  eventTypes: ['tool_call'],
  create: () => createAgentNoveltyState(),
  detect: (state, event) => detectFirstUse(state, event, isEgressCall(event)),
});
