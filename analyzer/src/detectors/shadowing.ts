/**
 * Tool shadowing and cross-server interference (attack class C).
 *
 * (a) A definition that steers what the model does with ANOTHER server: it
 *     names a tool of a server already seen ("whenever you use
 *     create_pull_request on the github server, …"), or claims other tools or
 *     servers are deprecated, broken or unsafe, or that everything must be
 *     routed through it. Naming another server's tool with directive language,
 *     disparaging or replacing others, and routing claims are `high`; a bare
 *     mention of a specific other-server tool name is `medium`. Names that are
 *     ordinary English words (`fetch`, `search`) count only when used as a
 *     tool name: quoted, next to "tool"/"function", or with their server
 *     named.
 * (b) The same tool name advertised by two servers (also when only case,
 *     separators or look-alike letters differ). Alone it is normal (GitHub and
 *     Sentry both have `search_issues`, every database server `list_tables`):
 *     `low`. It rises only with evidence of steering: `high` when combined
 *     with (a) or spelled with look-alike letters, `medium` when the colliding
 *     tool appears mid-session (a server that listed its tools already in this
 *     session lists a new one named like another server's). Raised when the
 *     (server, tool) pair is first seen: a server re-listing its own tools is
 *     never a collision, and the first server seen keeps the name.
 *
 * A definition's own parameter names and enumerated values are its own
 * vocabulary: a description that names its `search` parameter, or its
 * `method: 'add'`, does not name another server's `search` or `add`.
 *
 * State is bounded: server → tool names (capped), tool name → advertising
 * servers (capped), and the alerts already raised. (a) alerts once per
 * (agent, server, tool, definition text).
 */
import type { Severity, ToolDefinition, ToolsListEvent } from '@tapwatch/schema';
import { SEVERITY_RANK } from '@tapwatch/schema';
import { BoundedMap, type Finding } from './types.js';
import { defineDetector } from './detector.js';
import { pinnedDefinitions } from './store-reader.js';
import {
  DEFINITE_BEFORE,
  DISPARAGE,
  NOT_A_SERVER,
  OTHER_REF,
  RECURRING,
  REPLACE,
  ROUTE_THROUGH_THIS,
  SERVER_PHRASE,
  SERVER_WORD_AFTER,
  STEER,
  TOOL_WORD_AFTER,
  TOOL_WORD_BEFORE,
} from './lexicon/shadowing.js';
import { collectTextSites } from './text/sites.js';
import { excerpt, normalizeText, splitSentences } from './text/prose.js';
import { escapeRegExp, identifierTokens, isNonAscii, isSpecificName, nameKey } from './text/names.js';
import { isDirective } from './text/directive.js';
import { shortHash } from './text/digest.js';

export const SHADOWING_DETECTOR = 'tool_shadowing';

export interface ShadowingLimits {
  /** Servers remembered (least recently seen forgotten first). */
  maxServers: number;
  /** Tools remembered per server. */
  maxToolsPerServer: number;
  /** Distinct tool names remembered. */
  maxNames: number;
  /** Servers remembered per tool name. */
  maxServersPerName: number;
  /** Alert keys remembered. */
  maxAlerted: number;
}

const DEFAULT_LIMITS: ShadowingLimits = Object.freeze({
  maxServers: 5_000,
  maxToolsPerServer: 2_000,
  maxNames: 100_000,
  maxServersPerName: 16,
  maxAlerted: 200_000,
});

interface Advertiser {
  server: string;
  tool: string;
  /** Hash of the tool's description, to tell a second instance of the same server from a shadow. */
  descriptionHash: string;
}

export interface ShadowingState {
  limits: ShadowingLimits;
  /** server → (tool name → description hash). */
  servers: BoundedMap<string, Map<string, string>>;
  /** Lower-cased server name → server name, to find servers named in prose. */
  serverNames: BoundedMap<string, string>;
  /** nameKey(tool) → servers advertising it, first seen first. */
  names: BoundedMap<string, Advertiser[]>;
  /** Alerts already raised. */
  alerted: BoundedMap<string, true>;
  /** server → the session of its last `tools/list`, to tell a tool that appears mid-session. */
  listedIn: BoundedMap<string, string>;
}

export function createShadowingState(limits: Partial<ShadowingLimits> = {}): ShadowingState {
  const l = { ...DEFAULT_LIMITS, ...limits };
  return {
    limits: l,
    servers: new BoundedMap(l.maxServers),
    serverNames: new BoundedMap(l.maxServers),
    names: new BoundedMap(l.maxNames),
    alerted: new BoundedMap(l.maxAlerted),
    listedIn: new BoundedMap(l.maxServers),
  };
}

/** A known tool, as stored in the definition history. */
export interface KnownTool {
  server: string;
  tool: string;
  description?: string;
}

/**
 * Restores known servers and tools at start (e.g. from the stored
 * `tool_definitions` history), oldest first: the first server given for a
 * name keeps it. Raises nothing.
 */
export function seedShadowing(state: ShadowingState, tools: Iterable<KnownTool>): void {
  for (const t of tools) register(state, t.server, t.tool, t.description ?? '');
}

function register(state: ShadowingState, server: string, tool: string, description: string): void {
  let tools = state.servers.get(server);
  if (!tools) {
    tools = new Map();
    state.servers.set(server, tools);
    state.serverNames.set(server.toLowerCase(), server);
  }
  const descriptionHash = shortHash(description);
  if (tools.has(tool) || tools.size < state.limits.maxToolsPerServer) tools.set(tool, descriptionHash);
  const k = nameKey(tool);
  if (!k) return;
  const list = state.names.get(k) ?? [];
  const mine = list.find((a) => a.server === server && a.tool === tool);
  if (mine) mine.descriptionHash = descriptionHash;
  else if (list.length < state.limits.maxServersPerName) list.push({ server, tool, descriptionHash });
  state.names.set(k, list);
}

// ---------------------------------------------------------------------------
// What a definition says about other servers

interface Reference {
  kind: 'tool' | 'server' | 'unknown_server' | 'others';
  /** The other tool or server named. */
  name: string;
  server?: string;
  where: string;
  excerpt: string;
}

interface Claim {
  rule: 'directive' | 'disparages' | 'replaces' | 'routes_through_this';
  where: string;
  excerpt: string;
}

interface Steering {
  references: Reference[];
  claims: Claim[];
  severity: Severity | undefined;
}

/**
 * What a tool's prose says about other servers and their tools. `known` is
 * the state before this listing; `own` the names of this server's tools.
 */
function steering(def: ToolDefinition, server: string, ownTools: Set<string>, state: ShadowingState): Steering {
  const own = new Set([...ownTools, ...parameterNames(def)]);
  const references: Reference[] = [];
  const claims: Claim[] = [];
  let severity: Severity | undefined;
  const raise = (s: Severity): void => {
    if (!severity || SEVERITY_RANK[s] > SEVERITY_RANK[severity]) severity = s;
  };
  for (const site of collectTextSites(def)) {
    if (site.kind === 'value') continue;
    const text = normalizeText(site.text);
    for (const s of splitSentences(text)) {
      const sentence = s.text;
      const refs = referencesIn(sentence, server, own, state, site.param !== undefined);
      const named = refs.filter((r) => r.kind === 'tool' || r.kind === 'server');
      const cut = (): string => excerpt(text, s.start, s.start + sentence.length);
      const directive = isDirective(sentence) || STEER.test(sentence);
      const disparages = DISPARAGE.test(sentence);
      const replaces = REPLACE.test(sentence);
      const routes = ROUTE_THROUGH_THIS.test(sentence);
      const anyOther = refs.length > 0;
      if (routes) {
        claims.push({ rule: 'routes_through_this', where: site.where, excerpt: cut() });
        raise('high');
      }
      if (anyOther && (disparages || replaces)) {
        claims.push({ rule: disparages ? 'disparages' : 'replaces', where: site.where, excerpt: cut() });
        raise('high');
      } else if (named.length > 0 && directive) {
        claims.push({ rule: 'directive', where: site.where, excerpt: cut() });
        raise('high');
      } else if (refs.some((r) => r.kind === 'others') && directive && (routes || RECURRING.test(sentence))) {
        claims.push({ rule: 'directive', where: site.where, excerpt: cut() });
        raise('medium');
      } else if (refs.some((r) => r.kind === 'tool')) {
        raise('medium');
      }
      if (routes || ((disparages || replaces || directive) && anyOther) || named.some((r) => r.kind === 'tool')) {
        for (const r of refs) if (references.length < 10) references.push({ ...r, where: site.where, excerpt: cut() });
      }
    }
  }
  return { references, claims, severity };
}

/** `inParameter`: the sentence documents one of the tool's parameters, where a quoted word is most likely one of its values. */
function referencesIn(sentence: string, server: string, own: Set<string>, state: ShadowingState, inParameter = false): Omit<Reference, 'where' | 'excerpt'>[] {
  const out: Omit<Reference, 'where' | 'excerpt'>[] = [];
  const seen = new Set<string>();
  const push = (r: Omit<Reference, 'where' | 'excerpt'>): void => {
    const k = `${r.kind}\u0000${r.name}\u0000${r.server ?? ''}`;
    if (seen.has(k)) return;
    seen.add(k);
    out.push(r);
  };
  const serversNamed = new Set<string>();
  for (const m of sentence.matchAll(SERVER_PHRASE)) {
    const named = (m[1] ?? m[2] ?? '').toLowerCase();
    if (!named || NOT_A_SERVER.has(named) || named === server.toLowerCase()) continue;
    const known = state.serverNames.get(named);
    serversNamed.add(named);
    push(known ? { kind: 'server', name: known } : { kind: 'unknown_server', name: named });
  }
  for (const { token, index } of identifierTokens(sentence)) {
    const lower = token.toLowerCase();
    const knownServer = state.serverNames.get(lower);
    const adjacent = SERVER_WORD_AFTER.test(sentence.slice(index + token.length, index + token.length + 24));
    if (knownServer && knownServer !== server && (/[_\-.]/.test(token) || adjacent) && !own.has(token)) {
      serversNamed.add(lower);
      push({ kind: 'server', name: knownServer });
    }
    if (own.has(token)) continue;
    const advertisers = (state.names.get(nameKey(token)) ?? []).filter(
      (a) => a.server !== server && (a.tool === token || (isSpecificName(token) && nameKey(a.tool) === nameKey(token))),
    );
    if (advertisers.length === 0) continue;
    const before = sentence.slice(Math.max(0, index - 12), index);
    const after = sentence.slice(index + token.length, index + token.length + 12);
    const quoted = /['"`]$/.test(before) && /^['"`]/.test(after);
    const wordLike = !isSpecificName(token) || /^[a-z]+(?:-[a-z]+)+$/.test(token);
    // In a parameter's documentation a quoted word is a value ("use `add` with replace_parent").
    const quotedName = quoted && !(inParameter && wordLike);
    const usedAsTool = quotedName || TOOL_WORD_BEFORE.test(before) || (TOOL_WORD_AFTER.test(after) && DEFINITE_BEFORE.test(before));
    const serverNamed = advertisers.some((a) => serversNamed.has(a.server.toLowerCase()) || mentionsElsewhere(sentence, a.server, index));
    // A word (`query`) or a lower-case compound (`citation-graph`) reads as prose unless it is used as a tool name.
    if (wordLike && !usedAsTool && !serverNamed) continue;
    push({ kind: 'tool', name: token, server: advertisers[0]!.server });
  }
  if (OTHER_REF.test(sentence)) push({ kind: 'others', name: OTHER_REF.exec(sentence)![0] });
  return out;
}

/** True when `name` occurs in `sentence` as a word somewhere other than at `skip` (the token itself). */
function mentionsElsewhere(sentence: string, name: string, skip: number): boolean {
  const re = new RegExp(`(?<![\\w-])${escapeRegExp(name)}(?![\\w-])`, 'gi');
  for (const m of sentence.matchAll(re)) if (m.index !== skip) return true;
  return false;
}

// ---------------------------------------------------------------------------

/** A definition's own vocabulary: its top-level parameter names and the string values they enumerate (`method: 'add' | 'remove'`). */
function parameterNames(def: ToolDefinition): string[] {
  const schema = def.inputSchema as { properties?: unknown } | undefined;
  const props = schema && typeof schema === 'object' ? schema.properties : undefined;
  if (!props || typeof props !== 'object') return [];
  const out: string[] = [];
  for (const [name, p] of Object.entries(props as Record<string, unknown>).slice(0, 200)) {
    out.push(name);
    const spec = p as { enum?: unknown; items?: { enum?: unknown } } | null;
    for (const values of [spec?.enum, spec?.items?.enum]) {
      if (Array.isArray(values)) for (const v of values.slice(0, 50)) if (typeof v === 'string') out.push(v);
    }
  }
  return out;
}

function textKey(def: ToolDefinition): string {
  return shortHash(
    collectTextSites(def)
      .map((s) => `${s.where}\u0000${s.text}`)
      .join('\u0001'),
  );
}

function max(a: Severity | undefined, b: Severity | undefined): Severity | undefined {
  if (!a) return b;
  if (!b) return a;
  return SEVERITY_RANK[a] >= SEVERITY_RANK[b] ? a : b;
}

/** Judges one `tools/list` result, then remembers its tools. Mutates `state`. */
export function detectShadowing(state: ShadowingState, event: ToolsListEvent): Finding[] {
  const server = event.server;
  const own = new Set(event.tools.map((t) => t.name));
  const known = state.servers.get(server);
  const findings: Finding[] = [];
  const perTool = event.tools.map((def) => ({ def, steer: steering(def, server, own, state) }));
  // This server listed its tools before in this very session: a new name now appeared mid-session.
  const midSession = known !== undefined && state.listedIn.get(server) === event.session;
  const serverSteers = perTool.some((t) => t.steer.claims.some((c) => c.rule !== 'directive'));
  /** Collisions without steering, gathered per other server: one finding per pair, not one per tool. */
  const plain = new Map<string, { tools: string[]; severity: Severity; sameDescription: boolean; variants: boolean }>();

  for (const { def, steer } of perTool) {
    const description = def.description ?? '';
    const fresh = !known?.has(def.name);
    const others = (state.names.get(nameKey(def.name)) ?? []).filter((a) => a.server !== server);
    let collisionSeverity: Severity | undefined;
    let collision: Record<string, unknown> | undefined;
    if (others.length > 0) {
      const spoofed = others.some((a) => a.tool !== def.name && (isNonAscii(def.name) || isNonAscii(a.tool)));
      const exact = others.some((a) => a.tool === def.name);
      const sameDescription = others.every((a) => a.descriptionHash === shortHash(description));
      const mentionsThem = steer.references.some((r) => others.some((a) => a.server === (r.server ?? r.name)));
      const generic = !isSpecificName(def.name);
      if (spoofed || steer.severity || serverSteers || mentionsThem) collisionSeverity = 'high';
      // Appeared mid-session under another server's specific name (two instances of one server excepted).
      else if (midSession && exact && !generic && !sameDescription) collisionSeverity = 'medium';
      // A name collision alone: servers of one domain share names.
      else collisionSeverity = 'low';
      collision = { with: others.map((a) => ({ server: a.server, tool: a.tool })), spoofed, sameDescription, generic };
      if (fresh && !steer.severity && collisionSeverity !== 'high') {
        for (const a of others) {
          const g = plain.get(a.server) ?? { tools: [], severity: 'low' as Severity, sameDescription: true, variants: false };
          g.tools.push(def.name);
          g.severity = max(g.severity, collisionSeverity)!;
          g.sameDescription &&= a.descriptionHash === shortHash(description);
          g.variants ||= a.tool !== def.name;
          plain.set(a.server, g);
        }
        continue;
      }
    }
    // A collision is news only on the pair's first sighting; steering is re-judged per agent.
    const collisionNow = fresh ? collisionSeverity : undefined;
    const severity = max(steer.severity, collisionNow ?? (collisionSeverity && steer.severity ? 'high' : undefined));
    if (!severity) continue;
    const hash = textKey(def);
    const steerKey = `s\u0000${event.agent}\u0000${server}\u0000${def.name}\u0000${hash}`;
    const collideKey = `c\u0000${server}\u0000${def.name}`;
    const newSteer = steer.severity !== undefined && !state.alerted.has(steerKey);
    const newCollision = collisionNow !== undefined && !state.alerted.has(collideKey);
    if (!newSteer && !newCollision) continue;
    if (steer.severity) state.alerted.set(steerKey, true);
    if (collisionNow) state.alerted.set(collideKey, true);
    findings.push({
      severity,
      detector: SHADOWING_DETECTOR,
      title: titleFor(def.name, server, collision, steer),
      server,
      tool: def.name,
      agent: event.agent,
      session: event.session,
      evidence: {
        ...(collision ? { collision } : {}),
        references: steer.references,
        claims: steer.claims,
        definitionTextHash: hash,
        listEventId: event.id,
      },
      eventIds: [event.id],
    });
  }

  for (const [other, g] of plain) {
    const k = `p\u0000${server}\u0000${other}\u0000${g.tools.join('\u0000')}`;
    if (state.alerted.has(k)) continue;
    state.alerted.set(k, true);
    const shown = `${g.tools.slice(0, 5).join(', ')}${g.tools.length > 5 ? ', …' : ''}`;
    const one = g.tools.length === 1;
    const relation = g.sameDescription
      ? `identical to ${one ? 'a tool' : 'tools'} of`
      : g.variants && g.severity === 'low'
        ? `named like ${one ? 'a tool' : 'tools'} of`
        : `named the same as ${one ? 'a tool' : 'tools'} of`;
    const title = one
      ? `Tool ${g.tools[0]} on server ${server} is ${relation} server ${other}.`
      : `Server ${server} advertises ${g.tools.length} tools ${relation} server ${other} (${shown}).`;
    findings.push({
      severity: g.severity,
      detector: SHADOWING_DETECTOR,
      title,
      server,
      tool: g.tools[0]!,
      agent: event.agent,
      session: event.session,
      evidence: { collidesWith: other, tools: g.tools.slice(0, 100), sameDescription: g.sameDescription, listEventId: event.id },
      eventIds: [event.id],
    });
  }

  for (const def of event.tools) register(state, server, def.name, def.description ?? '');
  state.listedIn.set(server, event.session);
  return findings;
}

function titleFor(tool: string, server: string, collision: Record<string, unknown> | undefined, steer: Steering): string {
  const parts: string[] = [];
  if (collision) {
    const withList = (collision.with as { server: string; tool: string }[]).map((a) => `${a.tool} of server ${a.server}`).join(', ');
    parts.push(`${collision.spoofed ? 'imitates with look-alike letters' : 'has the same name as'} ${withList}`);
  }
  const rules = new Set(steer.claims.map((c) => c.rule));
  const viaTool = new Set(steer.references.filter((r) => r.kind === 'tool').map((r) => r.server));
  const named = [
    ...new Set(
      steer.references
        .filter((r) => r.kind === 'tool' || (r.kind === 'server' && !viaTool.has(r.name)))
        .map((r) => (r.kind === 'tool' ? `${r.name} of server ${r.server}` : `server ${r.name}`)),
    ),
  ].slice(0, 3);
  const target = named.length > 0 ? named.join(', ') : 'other tools or servers';
  if (rules.has('disparages')) parts.push(`disparages ${target}`);
  if (rules.has('replaces')) parts.push(`claims to replace ${target}`);
  if (rules.has('routes_through_this')) parts.push('demands that work be routed through it');
  if (rules.has('directive') && named.length > 0) parts.push(`tells the model what to do with ${named.join(', ')}`);
  else if (rules.has('directive')) parts.push('tells the model what to do with other tools');
  else if (named.length > 0 && parts.length === 0) parts.push(`names ${named.join(', ')}`);
  return `Tool ${tool} on server ${server} ${parts.join(' and ') || 'interferes with other servers'}.`;
}

export const SHADOWING = defineDetector({
  id: SHADOWING_DETECTOR,
  emits: [SHADOWING_DETECTOR],
  eventTypes: ['tools_list'],
  create: () => createShadowingState(),
  detect: detectShadowing,
  async refresh(state, store) {
    // Oldest first: the first server seen with a tool name keeps it.
    const known = (await pinnedDefinitions(store)).map(({ row: d, pinned }) => ({
      server: d.server,
      tool: d.tool,
      ...(typeof pinned.description === 'string' ? { description: pinned.description } : {}),
    }));
    seedShadowing(state, known);
  },
});
