/**
 * Evaluates compiled rules on events. A pure detector in the style of the
 * others: `evaluateRules(state, event)` → findings, with the only state the
 * progress of sequence rules, bounded per rule (a BoundedMap of binding keys,
 * each holding at most one partial chain per step) and expired by calls and
 * time.
 *
 * - Event rules: one finding per (rule, event) when `when` holds and no
 *   `except` does. `tools_list` rules: one finding per (rule, event) naming
 *   the tools that matched.
 * - Sequence rules: steps match in order, by calls with the same binding key
 *   (session, agent, or server+session); the last step must come within
 *   `within.calls` calls (counted in that binding, matching or not) and
 *   `within.seconds` seconds (event time) of the first. One finding per
 *   completion, then the binding starts over; one call never advances more
 *   than one step. A call matching a rule-level `except` is ignored by the
 *   rule (it still counts as a call).
 */
import type { TapEvent, ToolCallEvent, ToolsListEvent } from '@tapwatch/schema';
import { BoundedMap, type Finding } from '../detectors/types.js';
import { CallContext, DEFAULT_EVALUATION_LIMITS, parseArgumentPath, ToolContext, type EvaluationLimits, type Match, type Predicate } from './conditions.js';
import type { CompiledEventRule, CompiledRules, CompiledSequenceRule } from './load.js';
import type { TemplateLookup } from './template.js';

/** Prefix of the detector id of rule findings: `rule:<id>`. */
export const RULE_DETECTOR_PREFIX = 'rule:';

export interface RulesLimits extends EvaluationLimits {
  /** Binding keys (sessions, agents…) with a sequence in progress, per sequence rule; least recently used are forgotten. */
  maxKeysPerRule: number;
  /** Matched fields listed in a finding's evidence. */
  maxEvidenceMatches: number;
  /** Characters of each value in evidence. */
  maxEvidenceChars: number;
  /** Tools named in a `tools_list` finding. */
  maxToolsPerFinding: number;
}

export const DEFAULT_RULES_LIMITS: Readonly<RulesLimits> = Object.freeze({
  ...DEFAULT_EVALUATION_LIMITS,
  maxKeysPerRule: 50_000,
  maxEvidenceMatches: 20,
  maxEvidenceChars: 200,
  maxToolsPerFinding: 20,
});

/** What is remembered of a call that matched a step. */
interface StepHit {
  callId: string;
  server: string;
  tool: string;
  agent: string;
  session: string;
  status: string;
  time: string;
  matched: Match[];
}

/** A chain that has matched steps 0..n-1 (n = hits.length). */
interface PartialChain {
  startCall: number;
  startMs: number;
  lastCall: number;
  lastMs: number;
  hits: StepHit[];
}

interface BindingProgress {
  /** Calls seen in this binding since it was first tracked. */
  calls: number;
  /** `partials[k]`: the chain with steps 0..k matched that started latest. */
  partials: (PartialChain | undefined)[];
}

export interface RulesState {
  readonly compiled: CompiledRules;
  readonly limits: RulesLimits;
  /** Per sequence rule id: binding key → progress. */
  readonly sequences: Map<string, BoundedMap<string, BindingProgress>>;
}

/** Fresh state for `compiled`. */
export function createRulesState(compiled: CompiledRules, limits: Partial<RulesLimits> = {}): RulesState {
  const l = { ...DEFAULT_RULES_LIMITS, ...limits };
  const sequences = new Map<string, BoundedMap<string, BindingProgress>>();
  for (const r of compiled.rules) if (r.kind === 'sequence') sequences.set(r.id, new BoundedMap(l.maxKeysPerRule));
  return { compiled, limits: l, sequences };
}

/** Keys with a sequence in progress, summed over rules (for stats and tests). */
export function trackedBindings(state: RulesState): number {
  let n = 0;
  for (const m of state.sequences.values()) n += m.size;
  return n;
}

/** Runs every enabled rule on one event. Mutates the sequence state in `state`. */
export function evaluateRules(state: RulesState, event: TapEvent): Finding[] {
  if (event.type === 'tool_call') return evaluateCall(state, event);
  if (event.type === 'tools_list') return evaluateToolsList(state, event);
  return [];
}

function short(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

function evidenceMatches(state: RulesState, matched: readonly Match[]): { field: string; value: string }[] {
  const max = state.limits.maxEvidenceChars;
  return matched.slice(0, state.limits.maxEvidenceMatches).map((m) => ({ field: short(m.field, max), value: short(m.value, max) }));
}

const holds = (p: Predicate, ctx: CallContext | ToolContext): boolean => p(ctx, []);

const IDENTITY_FIELDS = new Set(['server', 'tool', 'agent', 'session', 'status', 'isError', 'egress']);

/** The match a title calls `{match}`: the first one from the call's content (arguments, findings, destinations, error…), else the first. */
function primaryMatch(matched: readonly Match[]): string | undefined {
  return (matched.find((m) => !IDENTITY_FIELDS.has(m.field)) ?? matched[0])?.value;
}

function sentence(description: string): string {
  return description.trim().replace(/[.\s]+$/, '');
}

/** Title fields every rule has, whatever the event. */
function ruleField(rule: { id: string; description: string; severity: string }, f: string): string | undefined {
  if (f === 'id' || f === 'rule') return rule.id;
  if (f === 'description') return sentence(rule.description);
  if (f === 'severity') return rule.severity;
  return undefined;
}

/** Title fields of a call. */
function callLookup(rule: { id: string; description: string; severity: string }, ctx: CallContext, matched: readonly Match[]): TemplateLookup {
  const e = ctx.event;
  return (f) => {
    const own = ruleField(rule, f);
    if (own !== undefined) return own;
    switch (f) {
      case 'server':
      case 'tool':
      case 'agent':
      case 'session':
      case 'status':
        return e[f];
      case 'match':
        return primaryMatch(matched);
      case 'destination':
        return e.destinations?.[0];
      case 'error':
        return ctx.errorText()?.value;
    }
    if (f.startsWith('argument.')) {
      const segments = parseArgumentPath(f.slice('argument.'.length));
      return segments ? ctx.argumentAt(segments).values[0] : undefined;
    }
    return undefined;
  };
}

function evaluateCall(state: RulesState, event: ToolCallEvent): Finding[] {
  const ctx = new CallContext(event, state.limits);
  const out: Finding[] = [];
  for (const rule of state.compiled.rules) {
    if (rule.event !== 'tool_call') continue;
    const f = rule.kind === 'event' ? matchEventRule(state, rule, ctx) : advanceSequence(state, rule, ctx);
    if (f) out.push(f);
  }
  return out;
}

function matchEventRule(state: RulesState, rule: CompiledEventRule, ctx: CallContext): Finding | undefined {
  if (rule.except.some((p) => holds(p, ctx))) return undefined;
  const matched: Match[] = [];
  if (!rule.when(ctx, matched)) return undefined;
  const e = ctx.event;
  return {
    severity: rule.severity,
    detector: `${RULE_DETECTOR_PREFIX}${rule.id}`,
    title: rule.title(callLookup(rule, ctx, matched)),
    server: e.server,
    tool: e.tool,
    agent: e.agent,
    session: e.session,
    evidence: {
      rule: rule.id,
      description: rule.description,
      source: rule.source,
      matched: evidenceMatches(state, matched),
      callId: e.id,
      requestId: e.requestId,
    },
    eventIds: [e.id],
  };
}

function bindingKey(rule: CompiledSequenceRule, e: ToolCallEvent): string {
  switch (rule.by) {
    case 'session':
      return e.session;
    case 'agent':
      return e.agent;
    case 'server+session':
      return `${e.server}\u0000${e.session}`;
  }
}

function expired(rule: CompiledSequenceRule, p: PartialChain, calls: number, ms: number): boolean {
  const { calls: maxCalls, seconds } = rule.within;
  if (maxCalls !== undefined && calls - p.startCall > maxCalls) return true;
  return seconds !== undefined && ms - p.startMs > seconds * 1000;
}

function advanceSequence(state: RulesState, rule: CompiledSequenceRule, ctx: CallContext): Finding | undefined {
  const e = ctx.event;
  const map = state.sequences.get(rule.id);
  if (!map) return undefined;
  const key = bindingKey(rule, e);
  let progress = map.get(key);
  let parsed: number | undefined;
  const now = (): number => (parsed ??= Date.parse(e.time));
  if (progress) {
    progress.calls++;
    const calls = progress.calls;
    if (progress.partials.length > 0) progress.partials = progress.partials.map((p) => (p && !expired(rule, p, calls, now()) ? p : undefined));
  }
  if (rule.except.some((p) => holds(p, ctx))) return undefined;

  const n = rule.steps.length;
  const stepMatch = (k: number): Match[] | undefined => {
    const step = rule.steps[k]!;
    if (step.except.some((p) => holds(p, ctx))) return undefined;
    const matched: Match[] = [];
    return step.when(ctx, matched) ? matched : undefined;
  };
  const hitOf = (matched: Match[]): StepHit => ({
    callId: e.id,
    server: e.server,
    tool: e.tool,
    agent: e.agent,
    session: e.session,
    status: e.status,
    time: e.time,
    matched: matched.slice(0, state.limits.maxEvidenceMatches),
  });

  // Last step first, so that this call extends chains as they were before it (one step per call).
  if (progress) {
    for (let k = n - 1; k >= 1; k--) {
      const prev = progress.partials[k - 1];
      if (!prev) continue;
      const matched = stepMatch(k);
      if (!matched) continue;
      const chain: PartialChain = { ...prev, lastCall: progress.calls, lastMs: now(), hits: [...prev.hits, hitOf(matched)] };
      if (k === n - 1) {
        progress.partials = [];
        return sequenceFinding(state, rule, ctx, chain, key);
      }
      const current = progress.partials[k];
      if (!current || current.startCall <= chain.startCall) progress.partials[k] = chain;
    }
  }
  const first = stepMatch(0);
  if (first) {
    if (!progress) {
      progress = { calls: 0, partials: [] };
      map.set(key, progress);
    }
    progress.partials[0] = { startCall: progress.calls, startMs: now(), lastCall: progress.calls, lastMs: now(), hits: [hitOf(first)] };
  }
  return undefined;
}

function sequenceFinding(state: RulesState, rule: CompiledSequenceRule, ctx: CallContext, chain: PartialChain, key: string): Finding {
  const e = ctx.event;
  const firstHit = chain.hits[0]!;
  const lastHit = chain.hits[chain.hits.length - 1]!;
  const gapCalls = chain.lastCall - chain.startCall;
  const gapSeconds = Math.max(0, Math.round((chain.lastMs - chain.startMs) / 100) / 10);
  const base = callLookup(rule, ctx, lastHit.matched);
  const lookup: TemplateLookup = (f) => {
    if (f === 'calls') return String(gapCalls);
    if (f === 'seconds') return String(gapSeconds);
    if (f === 'steps') return String(chain.hits.length);
    if (f === 'by') return rule.by === 'server+session' ? 'server and session' : rule.by;
    if (f === 'key') return key.replace('\u0000', '/');
    if (f.startsWith('first.')) {
      const g = f.slice('first.'.length);
      if (g === 'match') return primaryMatch(firstHit.matched);
      if (g === 'server' || g === 'tool' || g === 'agent' || g === 'session' || g === 'status') return firstHit[g];
      return undefined;
    }
    return base(f);
  };
  const max = state.limits.maxEvidenceChars;
  return {
    severity: rule.severity,
    detector: `${RULE_DETECTOR_PREFIX}${rule.id}`,
    title: rule.title(lookup),
    server: e.server,
    tool: e.tool,
    agent: e.agent,
    session: e.session,
    evidence: {
      rule: rule.id,
      description: rule.description,
      source: rule.source,
      by: rule.by,
      key: short(key.replace('\u0000', '/'), max),
      within: { ...rule.within },
      gapCalls,
      gapSeconds,
      steps: chain.hits.map((h) => ({
        callId: h.callId,
        server: short(h.server, max),
        tool: short(h.tool, max),
        session: short(h.session, max),
        time: h.time,
        matched: evidenceMatches(state, h.matched),
      })),
      callIds: chain.hits.map((h) => h.callId),
    },
    eventIds: chain.hits.map((h) => h.callId),
  };
}

function evaluateToolsList(state: RulesState, event: ToolsListEvent): Finding[] {
  const out: Finding[] = [];
  const contexts = event.tools.map((t) => new ToolContext(event, t, state.limits));
  for (const rule of state.compiled.rules) {
    if (rule.event !== 'tools_list' || rule.kind !== 'event') continue;
    const hits: { tool: string; matched: Match[] }[] = [];
    let count = 0;
    for (const ctx of contexts) {
      if (rule.except.some((p) => holds(p, ctx))) continue;
      const matched: Match[] = [];
      if (!rule.when(ctx, matched)) continue;
      count++;
      if (hits.length < state.limits.maxToolsPerFinding) hits.push({ tool: ctx.tool.name, matched });
    }
    if (count === 0) continue;
    const names = hits.map((h) => h.tool);
    const lookup: TemplateLookup = (f) => {
      const own = ruleField(rule, f);
      if (own !== undefined) return own;
      switch (f) {
        case 'server':
        case 'agent':
        case 'session':
          return event[f];
        case 'tool':
          return names[0];
        case 'tools':
          return names.length > 5 ? `${names.slice(0, 5).join(', ')} and ${count - 5} more` : names.join(', ');
        case 'count':
          return String(count);
        case 'match':
          return hits[0] ? primaryMatch(hits[0].matched) : undefined;
        default:
          return undefined;
      }
    };
    out.push({
      severity: rule.severity,
      detector: `${RULE_DETECTOR_PREFIX}${rule.id}`,
      title: rule.title(lookup),
      server: event.server,
      tool: names[0] ?? '',
      agent: event.agent,
      session: event.session,
      evidence: {
        rule: rule.id,
        description: rule.description,
        source: rule.source,
        toolsMatched: count,
        tools: hits.map((h) => ({ tool: short(h.tool, state.limits.maxEvidenceChars), matched: evidenceMatches(state, h.matched) })),
        listId: event.id,
      },
      eventIds: [event.id],
    });
  }
  return out;
}
