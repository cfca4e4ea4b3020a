/**
 * Loading rules: parse each source (JSON by extension, YAML otherwise),
 * validate it against the schema, merge the sources in order (later lists,
 * macros and rules replace earlier ones with the same name or id; a rule with
 * only `id` and `enabled`/`severity` tunes an earlier rule), then compile every
 * condition, regex and title. All problems are collected and thrown together
 * as one RulesError. Pure: sources come in as text.
 */
import { parseDocument } from 'yaml';
import type { Severity } from '@tapwatch/schema';
import type { z } from 'zod';
import { compileCondition, parseArgumentPath, type CompileEnv, type Predicate, type Target } from './conditions.js';
import { RulesError } from './errors.js';
import { KNOWN_KEYS, RULES_FILE_LIMITS, RulesFileSchema, type Binding, type Condition, type RuleInput, type RulesFile } from './schema.js';
import { compileTemplate, type Template } from './template.js';

/** One rules file: `name` (its path) is used in messages and decides the format (`.json` or YAML). */
export interface RuleSource {
  name: string;
  text: string;
}

export interface CompiledStep {
  when: Predicate;
  except: readonly Predicate[];
}

interface CompiledRuleBase {
  id: string;
  description: string;
  severity: Severity;
  /** The source the rule came from. */
  source: string;
  except: readonly Predicate[];
  title: Template;
}

/** A rule on one event: a `tool_call`, or each tool of a `tools_list`. */
export interface CompiledEventRule extends CompiledRuleBase {
  kind: 'event';
  event: 'tool_call' | 'tools_list';
  when: Predicate;
}

/** A rule on calls in order: every step matched, by calls with the same binding key, within the bounds. */
export interface CompiledSequenceRule extends CompiledRuleBase {
  kind: 'sequence';
  event: 'tool_call';
  steps: readonly CompiledStep[];
  within: { calls?: number; seconds?: number };
  by: Binding;
}

export type CompiledRule = CompiledEventRule | CompiledSequenceRule;

/** Rules ready to evaluate. Immutable; share one between states if you like. */
export interface CompiledRules {
  /** Enabled rules, in source order. */
  readonly rules: readonly CompiledRule[];
  /** Ids of rules that are declared but disabled. */
  readonly disabled: readonly string[];
  /** Names of the sources, in load order. */
  readonly sources: readonly string[];
}

/** Fields every event-rule title may use. */
const CALL_FIELDS = new Set(['id', 'rule', 'description', 'severity', 'server', 'tool', 'agent', 'session', 'status', 'match', 'destination', 'error']);
const FIRST_FIELDS = new Set(['server', 'tool', 'agent', 'session', 'status', 'match']);
const SEQUENCE_FIELDS = new Set([...CALL_FIELDS, 'calls', 'seconds', 'steps', 'by', 'key']);
const TOOLS_FIELDS = new Set(['id', 'rule', 'description', 'severity', 'server', 'agent', 'session', 'tool', 'tools', 'count', 'match']);

function knownField(kind: 'call' | 'sequence' | 'tools'): (f: string) => boolean {
  return (f) => {
    if (kind === 'tools') return TOOLS_FIELDS.has(f);
    if (f.startsWith('argument.')) return parseArgumentPath(f.slice('argument.'.length)) !== undefined;
    if (kind === 'call') return CALL_FIELDS.has(f);
    if (f.startsWith('first.')) return FIRST_FIELDS.has(f.slice('first.'.length));
    return SEQUENCE_FIELDS.has(f);
  };
}

// ---------------------------------------------------------------------------
// Parsing and schema errors

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `"${v.length > 40 ? `${v.slice(0, 37)}...` : v}"`;
  return `${typeof v} ${String(v)}`;
}

function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let v = data;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}

function distance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return d[b.length]!;
}

function suggest(key: string): string {
  let best: string | undefined;
  let bestD = 3;
  for (const k of KNOWN_KEYS) {
    const dd = distance(key.toLowerCase(), k);
    if (dd < bestD) {
      best = k;
      bestD = dd;
    }
  }
  return best ? ` (did you mean "${best}"?)` : '';
}

interface Problem {
  path: PropertyKey[];
  message: string;
}

/** Flattens zod issues into (path, message) pairs a person can act on. */
function explain(issue: z.core.$ZodIssue, base: PropertyKey[], data: unknown): Problem[] {
  const path = [...base, ...issue.path];
  switch (issue.code) {
    case 'invalid_union': {
      // Prefer the branches that got past the type check: they say what is wrong inside.
      const deeper = issue.errors.filter((branch) => !branch.every((i) => i.code === 'invalid_type' && i.path.length === 0));
      if (deeper.length === 0) return [{ path, message: issue.message }];
      const best = deeper.reduce((a, b) => (b.length < a.length ? b : a));
      return best.flatMap((i) => explain(i, path, data));
    }
    case 'unrecognized_keys':
      return issue.keys.map((k) => ({ path: [...path, k], message: `unknown key${suggest(k)}` }));
    case 'invalid_type': {
      const got = valueAt(data, path);
      if (got === undefined) return [{ path, message: 'required' }];
      return [{ path, message: `expected ${issue.expected === 'int' ? 'an integer' : issue.expected}, got ${describe(got)}` }];
    }
    case 'invalid_value':
      if (valueAt(data, path) === undefined) return [{ path, message: `required (${issue.values.map(String).join(', ')})` }];
      return [
        {
          path,
          message: `expected ${issue.values.length === 1 ? String(issue.values[0]) : `one of ${issue.values.join(', ')}`}, got ${describe(valueAt(data, path))}`,
        },
      ];
    case 'invalid_key':
      return [{ path, message: issue.issues[0]?.message ?? issue.message }];
    case 'invalid_element':
      return issue.issues.flatMap((i) => explain(i, path, data));
    default:
      return [{ path, message: issue.message }];
  }
}

/** `rules.yaml: rule "x": when.tool: message` — the rule, macro or list, then the path inside it. */
function locate(source: string, data: unknown, p: Problem): string {
  const path = p.path;
  let label = '';
  let rest = path;
  if (path[0] === 'rules' && typeof path[1] === 'number') {
    const id = valueAt(data, ['rules', path[1], 'id']);
    label = typeof id === 'string' ? `rule "${id}"` : `rule #${path[1] + 1}`;
    rest = path.slice(2);
  } else if ((path[0] === 'macros' || path[0] === 'lists') && typeof path[1] === 'string') {
    label = `${path[0] === 'macros' ? 'macro' : 'list'} "${path[1]}"`;
    rest = path.slice(2);
  }
  const where = formatPath(rest);
  return [source, label, where, p.message].filter((s) => s !== '').join(': ');
}

function formatPath(path: readonly PropertyKey[]): string {
  let s = '';
  for (const k of path) s += typeof k === 'number' ? `[${k}]` : s === '' ? String(k) : `.${String(k)}`;
  return s;
}

/** Parses and validates one source; problems are appended to `problems`. */
function parseSource(source: RuleSource, problems: string[]): RulesFile | undefined {
  const { name, text } = source;
  if (Buffer.byteLength(text) > RULES_FILE_LIMITS.maxFileBytes) {
    problems.push(`${name}: larger than ${RULES_FILE_LIMITS.maxFileBytes} bytes`);
    return undefined;
  }
  let data: unknown;
  if (/\.json$/i.test(name)) {
    try {
      data = JSON.parse(text);
    } catch (err) {
      problems.push(`${name}: not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
      return undefined;
    }
  } else {
    const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
    if (doc.errors.length > 0) {
      for (const e of doc.errors) problems.push(`${name}: not valid YAML: ${(e.message.split('\n')[0] ?? '').replace(/:$/, '')}`);
      return undefined;
    }
    try {
      data = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      problems.push(`${name}: not valid YAML: ${err instanceof Error ? err.message : String(err)}`);
      return undefined;
    }
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    problems.push(`${name}: expected a mapping with version: 1 and rules, got ${describe(data)}`);
    return undefined;
  }
  const parsed = RulesFileSchema.safeParse(data);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) for (const p of explain(issue, [], data)) problems.push(locate(name, data, p));
    return undefined;
  }
  return parsed.data;
}

// ---------------------------------------------------------------------------
// Merging and compiling

interface Declared<T> {
  value: T;
  source: string;
}

/**
 * Loads rules from `sources`, in order. Later sources replace earlier lists,
 * macros and rules of the same name/id; a rule with only `id` plus `enabled`
 * and/or `severity` changes those of an earlier rule (`{id: X, enabled: false}`
 * disables a built-in). Throws a RulesError listing every problem.
 */
export function loadRules(sources: readonly RuleSource[]): CompiledRules {
  const problems: string[] = [];
  const lists = new Map<string, Declared<string[]>>();
  const macros = new Map<string, Declared<Condition>>();
  const rules = new Map<string, Declared<RuleInput>>();

  for (const source of sources) {
    const file = parseSource(source, problems);
    if (!file) continue;
    for (const [k, v] of Object.entries(file.lists ?? {})) lists.set(k, { value: v, source: source.name });
    for (const [k, v] of Object.entries(file.macros ?? {})) macros.set(k, { value: v, source: source.name });
    const here = new Set<string>();
    for (const rule of file.rules ?? []) {
      if (here.has(rule.id)) {
        problems.push(`${source.name}: rule "${rule.id}": id used twice in this file`);
        continue;
      }
      here.add(rule.id);
      if (rule.when !== undefined || rule.sequence !== undefined) {
        rules.set(rule.id, { value: rule, source: source.name });
        continue;
      }
      const earlier = rules.get(rule.id);
      if (!earlier) {
        problems.push(
          `${source.name}: rule "${rule.id}": overrides no earlier rule (a new rule needs \`when\` or \`sequence\`, \`description\` and \`severity\`)`,
        );
        continue;
      }
      const merged: RuleInput = { ...earlier.value };
      if (rule.enabled !== undefined) merged.enabled = rule.enabled;
      if (rule.severity !== undefined) merged.severity = rule.severity;
      rules.set(rule.id, { value: merged, source: earlier.source });
    }
  }

  // Compile only a complete set: with a file missing, its lists and macros would show up as unknown elsewhere.
  if (problems.length > 0) throw new RulesError([...new Set(problems)]);

  // Macros compile on first use, once per target; the stack catches cycles.
  const regexes = new Map<string, RegExp | Error>();
  const compiledMacros = new Map<string, Predicate | null>();
  const compiling: string[] = [];
  const macroEnv = (prefix: string, usedBy?: string): CompileEnv => ({
    list: (n) => lists.get(n)?.value,
    regexes,
    fail: (path, message) => problems.push(`${prefix}: ${path ? `${path}: ` : ''}${message}`),
    macro(name, target, path) {
      const decl = macros.get(name);
      if (!decl) {
        this.fail(path, `unknown macro "${name}"${macros.size > 0 ? ` (known: ${[...macros.keys()].slice(0, 20).join(', ')})` : ''}`);
        return undefined;
      }
      const key = `${target}\u0000${name}`;
      const done = compiledMacros.get(key);
      if (done !== undefined) return done ?? undefined;
      if (compiling.includes(name)) {
        this.fail(path, `macro cycle: ${[...compiling.slice(compiling.indexOf(name)), name].join(' → ')}`);
        return undefined;
      }
      compiling.push(name);
      const before = problems.length;
      // Errors inside a macro are reported once, at the macro; name the rule when only its event makes the macro invalid.
      const context = target === 'tools_list' && usedBy ? ` (used by tools_list rule "${usedBy}")` : '';
      const p = compileCondition(macroEnv(`${decl.source}: macro "${name}"${context}`, usedBy), decl.value, target, '');
      compiling.pop();
      const ok = problems.length === before;
      compiledMacros.set(key, ok ? p : null);
      return ok ? p : undefined;
    },
  });

  const compiled: CompiledRule[] = [];
  const disabled: string[] = [];
  for (const [id, { value: r, source }] of rules) {
    const env = macroEnv(`${source}: rule "${id}"`, id);
    const target: Target = r.event ?? 'tool_call';
    const except = (r.except ?? []).map((c, i) => compileCondition(env, c, target, `except[${i}]`));
    const base = { id, description: r.description ?? id, severity: r.severity ?? 'medium', source, except };
    const kind = r.sequence ? 'sequence' : target === 'tools_list' ? 'tools' : 'call';
    const steps: CompiledStep[] = [];
    (r.sequence ?? []).forEach((s, i) => {
      const step = {
        when: compileCondition(env, s.when, 'tool_call', `sequence[${i}].when`),
        except: (s.except ?? []).map((c, j) => compileCondition(env, c, 'tool_call', `sequence[${i}].except[${j}]`)),
      };
      for (let n = 0; n < (s.count ?? 1); n++) steps.push(step);
    });
    const when = r.when ? compileCondition(env, r.when, target, 'when') : undefined;
    const title = compileTemplate(r.title ?? defaultTitle(kind), knownField(kind), (m) => env.fail('title', m));
    let rule: CompiledRule | undefined;
    if (r.sequence) {
      rule = { ...base, kind: 'sequence', event: 'tool_call', steps, within: r.within ?? {}, by: r.by ?? 'session', title };
    } else if (when) {
      rule = { ...base, kind: 'event', event: target === 'tools_list' ? 'tools_list' : 'tool_call', when, title };
    }
    if (!rule) continue;
    if (r.enabled === false) disabled.push(id);
    else compiled.push(rule);
  }
  // Macros no rule used are still checked, so a mistake in one shows now rather than when a rule starts using it.
  for (const [name, decl] of macros) {
    if (![...compiledMacros.keys()].some((k) => k.endsWith(`\u0000${name}`))) {
      macroEnv(`${decl.source}: macro "${name}"`).macro(name, 'check', '');
    }
  }

  if (problems.length > 0) throw new RulesError([...new Set(problems)]);
  return Object.freeze({ rules: Object.freeze(compiled), disabled: Object.freeze(disabled), sources: Object.freeze(sources.map((s) => s.name)) });
}

function defaultTitle(kind: 'call' | 'sequence' | 'tools'): string {
  switch (kind) {
    case 'call':
      return '{description} ({server}/{tool}).';
    case 'sequence':
      return '{description} ({first.server}/{first.tool} then {server}/{tool}, {calls} calls and {seconds} s apart, same {by}).';
    case 'tools':
      return '{description} ({server}: {tools}).';
  }
}
