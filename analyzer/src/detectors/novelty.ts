/**
 * Novelty: calls to tools a server never advertised, and servers nobody has
 * seen before — joining a session that is already under way is the pattern
 * that matters (a new sink appearing mid-task). A first sighting at the start
 * of a session is `low`: worth a line in the record, not a page.
 */
import type { SessionStartEvent, ToolCallEvent, ToolsListEvent } from '@tapwatch/schema';
import { BoundedMap, type Finding } from './types.js';

export const UNADVERTISED_DETECTOR = 'unadvertised_tool';
export const NEW_SERVER_DETECTOR = 'new_server';

export interface NoveltyState {
  /** server → tools it has ever advertised. */
  advertised: BoundedMap<string, Set<string>>;
  /** Servers ever seen (any event). */
  servers: BoundedMap<string, true>;
  /** session → servers that already produced events in it, and whether calls happened. */
  sessions: BoundedMap<string, { servers: Set<string>; calls: number }>;
  alerted: BoundedMap<string, true>;
  /** Calls seen in all: on a fresh deployment every server is new, and joining mid-session means nothing yet. */
  totalCalls: number;
}

/** Calls a deployment must have seen before a new server joining mid-session is worth more than a note. */
const HISTORY_BEFORE_MID_SESSION = 200;

export function createNoveltyState(maxKeys = 200_000): NoveltyState {
  return {
    advertised: new BoundedMap(maxKeys),
    servers: new BoundedMap(maxKeys),
    sessions: new BoundedMap(maxKeys),
    alerted: new BoundedMap(maxKeys),
    totalCalls: 0,
  };
}

/** Restores what servers advertised (from the stored definition history). */
export function seedAdvertised(state: NoveltyState, server: string, tool: string): void {
  let tools = state.advertised.get(server);
  if (!tools) {
    tools = new Set();
    state.advertised.set(server, tools);
  }
  tools.add(tool);
  state.servers.set(server, true);
}

/** Restores a server seen before (from stored sessions). */
export function seedServer(state: NoveltyState, server: string): void {
  state.servers.set(server, true);
  // Known servers mean a deployment with a history.
  state.totalCalls = Math.max(state.totalCalls, HISTORY_BEFORE_MID_SESSION);
}

function session(state: NoveltyState, id: string) {
  let s = state.sessions.get(id);
  if (!s) {
    s = { servers: new Set(), calls: 0 };
    state.sessions.set(id, s);
  }
  return s;
}

export function noteToolsList(state: NoveltyState, event: ToolsListEvent): void {
  for (const t of event.tools) seedAdvertised(state, event.server, t.name);
  session(state, event.session).servers.add(event.server);
}

/** A session start: a server never seen before is new; one joining a session already under way is the signal. */
export function detectNewServer(state: NoveltyState, event: SessionStartEvent): Finding[] {
  const s = session(state, event.session);
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

/** A call to a tool its server never listed. Judged only once the server has listed tools at least once. */
export function detectUnadvertised(state: NoveltyState, event: ToolCallEvent): Finding[] {
  const s = session(state, event.session);
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

/**
 * First use, per agent, of a tool, an argument name, or a destination of a
 * call that can send data out. `low` alone (a line in the record, not a page);
 * corroboration raises it when another family already fired in the session.
 * Judged once the agent has a history (`minCalls`).
 */
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
