/**
 * What the novelty detectors (new_server, unadvertised_tool) share: the tools
 * each server advertised, the servers ever seen, and per session which
 * servers took part and how many calls were made.
 */
import type { ToolsListEvent } from '@tapwatch/schema';
import { BoundedMap } from './types.js';

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
export const HISTORY_BEFORE_MID_SESSION = 200;

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

/** The session's record, created on its first event. */
export function noveltySession(state: NoveltyState, id: string): { servers: Set<string>; calls: number } {
  let s = state.sessions.get(id);
  if (!s) {
    s = { servers: new Set(), calls: 0 };
    state.sessions.set(id, s);
  }
  return s;
}

/** A `tools/list` result: its tools are advertised, its server takes part in the session. */
export function noteToolsList(state: NoveltyState, event: ToolsListEvent): void {
  for (const t of event.tools) seedAdvertised(state, event.server, t.name);
  noveltySession(state, event.session).servers.add(event.server);
}
