/**
 * The novelty detectors over one shared state (novelty-state.ts), wired as one
 * registry entry: a call is judged by unadvertised_tool, a session start by
 * new_server, and a `tools/list` result teaches both what is advertised.
 */
import { defineDetector } from './detector.js';
import { createNoveltyState, noteToolsList, seedAdvertised, seedServer } from './novelty-state.js';
import { detectNewServer, NEW_SERVER_DETECTOR } from './new-server.js';
import { detectUnadvertised, UNADVERTISED_DETECTOR } from './unadvertised-tool.js';
import { pinnedDefinitions } from './store-reader.js';

export const NOVELTY = defineDetector({
  id: 'novelty',
  emits: [UNADVERTISED_DETECTOR, NEW_SERVER_DETECTOR],
  eventTypes: ['tool_call', 'tools_list', 'session_start'],
  create: () => createNoveltyState(),
  detect(state, event) {
    if (event.type === 'tool_call') return detectUnadvertised(state, event);
    if (event.type === 'session_start') return detectNewServer(state, event);
    noteToolsList(state, event);
    return [];
  },
  async refresh(state, store) {
    for (const { row } of await pinnedDefinitions(store)) seedAdvertised(state, row.server, row.tool);
    for (const s of await store.knownServers()) seedServer(state, s);
  },
  learning: (state) => ({ knownServers: state.servers.size }),
});
