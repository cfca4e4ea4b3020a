/**
 * Tool-definition change (rug pull): the first definition seen for a
 * (server, tool) is pinned; a later `tools/list` showing anything else — a
 * changed description, input schema, title, output schema or annotations —
 * raises an alert, once per agent and new definition. Returning to the pinned
 * definition is not an alert.
 */
import { createHash } from 'node:crypto';
import type { ToolDefinition, ToolsListEvent } from '@tapwatch/schema';
import { BoundedMap, type Finding } from './types.js';
import type { ToolDefinitionRow } from '@tapwatch/store';
import { toChTime } from '@tapwatch/store';
import { defineDetector } from './detector.js';
import { pinnedDefinitions } from './store-reader.js';

export const DEFINITION_CHANGE_DETECTOR = 'tool_definition_changed';

const COMPARED_FIELDS = ['title', 'description', 'inputSchema', 'outputSchema', 'annotations'] as const;

interface Pin {
  hash: string;
  definition: Pick<ToolDefinition, (typeof COMPARED_FIELDS)[number]>;
  seen: Set<string>;
  /** The last definition stored for this tool, to record history without repeats. */
  lastHash: string;
}

export interface DefinitionState {
  pins: BoundedMap<string, Pin>;
  /** (agent, server, tool, hash) already alerted. */
  alerted: BoundedMap<string, true>;
}

export function createDefinitionState(maxTools = 200_000): DefinitionState {
  return { pins: new BoundedMap(maxTools), alerted: new BoundedMap(maxTools) };
}

/** Restores a pin from storage at start. */
export function seedDefinition(
  state: DefinitionState,
  server: string,
  tool: string,
  pinnedHash: string,
  pinned: Pin['definition'],
  seenHashes: string[],
  lastHash: string,
): void {
  state.pins.set(key(server, tool), { hash: pinnedHash, definition: pinned, seen: new Set([pinnedHash, ...seenHashes]), lastHash });
}

/** Canonical hash of the compared fields: key order and whitespace do not matter. */
export function definitionHash(def: ToolDefinition): string {
  return createHash('sha256')
    .update(canonicalJson(pick(def)))
    .digest('hex');
}

export interface DefinitionOutcome {
  findings: Finding[];
  /** Definitions to record in history: first sightings and changes. */
  history: ToolDefinitionRow[];
}

/** Judges one `tools/list` result. Mutates `state`. */
export function detectDefinitionChange(state: DefinitionState, event: ToolsListEvent): DefinitionOutcome {
  const findings: Finding[] = [];
  const history: ToolDefinitionRow[] = [];
  for (const def of event.tools) {
    const hash = definitionHash(def);
    const k = key(event.server, def.name);
    const pin = state.pins.get(k);
    if (!pin) {
      state.pins.set(k, { hash, definition: pick(def), seen: new Set([hash]), lastHash: hash });
      history.push(historyRow(event, def, hash, ''));
      continue;
    }
    if (hash !== pin.lastHash) {
      history.push(historyRow(event, def, hash, pin.lastHash));
      pin.lastHash = hash;
    }
    pin.seen.add(hash);
    if (hash === pin.hash) continue;
    const alertKey = `${event.agent}\u0000${k}\u0000${hash}`;
    if (state.alerted.has(alertKey)) continue;
    state.alerted.set(alertKey, true);
    const changed = COMPARED_FIELDS.filter((f) => canonicalJson(pin.definition[f]) !== canonicalJson(def[f]));
    findings.push({
      severity: 'high',
      detector: DEFINITION_CHANGE_DETECTOR,
      title: `Definition of tool ${def.name} on server ${event.server} changed since it was first seen (${changed.join(', ')}).`,
      server: event.server,
      tool: def.name,
      agent: event.agent,
      session: event.session,
      evidence: {
        changedFields: changed,
        pinnedHash: pin.hash,
        observedHash: hash,
        before: excerpt(pin.definition, changed),
        after: excerpt(pick(def), changed),
        listEventId: event.id,
      },
      eventIds: [event.id],
    });
  }
  return { findings, history };
}

function historyRow(event: ToolsListEvent, def: ToolDefinition, hash: string, previous: string): ToolDefinitionRow {
  return {
    event_id: event.id,
    time: toChTime(event.time),
    agent: event.agent,
    session: event.session,
    server: event.server,
    tool: def.name,
    definition_hash: hash,
    previous_hash: previous,
    title: def.title ?? '',
    description: def.description ?? '',
    input_schema: def.inputSchema === undefined ? '' : canonicalJson(def.inputSchema),
    definition: canonicalJson(def),
    cut: event.cut ?? [],
  };
}

function pick(def: ToolDefinition): Pin['definition'] {
  const out: Record<string, unknown> = {};
  for (const f of COMPARED_FIELDS) if (def[f] !== undefined) out[f] = def[f];
  return out as Pin['definition'];
}

/** The changed fields, each cut to a readable length. */
function excerpt(def: Pin['definition'], fields: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of fields) {
    const v = (def as Record<string, unknown>)[f];
    const text = v === undefined ? '' : typeof v === 'string' ? v : canonicalJson(v);
    out[f] = text.length > 2000 ? `${text.slice(0, 2000)}…` : text;
  }
  return out;
}

function key(server: string, tool: string): string {
  return `${server}\u0000${tool}`;
}

/** JSON with sorted object keys, so equal definitions serialize equally. */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(sortKeys(v)) ?? 'null';
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) out[k] = sortKeys((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}

export const DEFINITION_CHANGE = defineDetector({
  id: DEFINITION_CHANGE_DETECTOR,
  emits: [DEFINITION_CHANGE_DETECTOR],
  eventTypes: ['tools_list'],
  create: () => createDefinitionState(),
  detect(state, event, ctx) {
    const { findings, history } = detectDefinitionChange(state, event);
    ctx.definitions.push(...history);
    return findings;
  },
  async refresh(state, store) {
    for (const { row: d, pinned } of await pinnedDefinitions(store)) seedDefinition(state, d.server, d.tool, d.first_hash, pinned, d.hashes, d.last_hash);
  },
  learning: (state) => ({ pinnedDefinitions: state.pins.size }),
});
