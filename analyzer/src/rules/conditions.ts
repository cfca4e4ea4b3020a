/**
 * Conditions → predicates. A condition from a rules file is compiled once, at
 * load, into a closure over one event's context; lists are expanded and
 * regexes compiled then, so evaluating a rule does no parsing. A predicate
 * records what made it true (field path and value) for the alert's evidence.
 *
 * Two contexts: a `tool_call` event (`CallContext`), and one tool of a
 * `tools_list` event (`ToolContext`). Which condition keys each may use is
 * checked while compiling.
 */
import type { ToolCallEvent, ToolDefinition, ToolsListEvent } from '@tapwatch/schema';
import { isEgressCall, nameWords } from '../detectors/egress.js';
import { collectTextSites } from '../detectors/text/sites.js';
import { compileRuleRegex } from './regex.js';
import {
  CALL_CONDITION_KEYS,
  COMBINATOR_KEYS,
  LIST_REF_PATTERN,
  TOOL_CONDITION_KEYS,
  type ArgumentCondition,
  type Condition,
  type FindingCondition,
  type NumberMatcher,
  type StringList,
  type StringMatcher,
  type StringOperators,
} from './schema.js';

/** One thing that made a condition true: where (`tool`, `arguments.path`, `findings[0]`) and the value seen. */
export interface Match {
  field: string;
  value: string;
}

/** Bounds on evaluation: every string is cut before matching, argument walks stop at these. */
export interface EvaluationLimits {
  /** Characters of a string that conditions see (regexes included). */
  maxStringChars: number;
  /** String values collected from one call's arguments. */
  maxArgumentValues: number;
  /** Depth of the arguments walked. */
  maxArgumentDepth: number;
}

export const DEFAULT_EVALUATION_LIMITS: Readonly<EvaluationLimits> = Object.freeze({
  maxStringChars: 64 * 1024,
  maxArgumentValues: 2000,
  maxArgumentDepth: 16,
});

/** A string value of the arguments, with its path (`options.url`, `paths[1]`) and nearest named key. */
export interface ArgumentValue {
  path: string;
  key: string | undefined;
  value: string;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function scalar(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'boolean') return String(v);
  return undefined;
}

/** The fields of one `tool_call` that conditions read, computed once per event and only when asked for. */
export class CallContext {
  readonly kind = 'call' as const;
  private valuesCache: ArgumentValue[] | undefined;
  private egressCache: boolean | undefined;

  constructor(
    readonly event: ToolCallEvent,
    readonly limits: EvaluationLimits = DEFAULT_EVALUATION_LIMITS,
  ) {}

  get toolName(): string {
    return this.event.tool;
  }

  clip(s: string): string {
    return s.length > this.limits.maxStringChars ? s.slice(0, this.limits.maxStringChars) : s;
  }

  /** Every scalar value of the (redacted) arguments, bounded; empty at capture level `metadata`. */
  argumentValues(): ArgumentValue[] {
    if (this.valuesCache) return this.valuesCache;
    const out: ArgumentValue[] = [];
    const { maxArgumentValues, maxArgumentDepth } = this.limits;
    const walk = (v: unknown, path: string, key: string | undefined, depth: number): void => {
      if (out.length >= maxArgumentValues || depth > maxArgumentDepth) return;
      const s = scalar(v);
      if (s !== undefined) {
        out.push({ path, key, value: this.clip(s) });
      } else if (Array.isArray(v)) {
        for (let i = 0; i < v.length && out.length < maxArgumentValues; i++) walk(v[i], `${path}[${i}]`, key, depth + 1);
      } else if (isObject(v)) {
        for (const [k, x] of Object.entries(v)) {
          if (out.length >= maxArgumentValues) break;
          walk(x, path ? `${path}.${k}` : k, k, depth + 1);
        }
      }
    };
    walk(this.event.arguments, '', undefined, 0);
    this.valuesCache = out;
    return out;
  }

  /** The values at an argument path (arrays there are flattened). */
  argumentAt(segments: readonly string[]): { found: boolean; values: string[] } {
    let nodes: unknown[] = [this.event.arguments];
    for (const seg of segments) {
      const next: unknown[] = [];
      for (const n of nodes) {
        if (seg === '*') {
          if (Array.isArray(n)) next.push(...n);
          else if (isObject(n)) next.push(...Object.values(n));
        } else if (Array.isArray(n) && /^\d+$/.test(seg)) {
          next.push(n[Number(seg)]);
        } else if (isObject(n) && Object.hasOwn(n, seg)) {
          next.push(n[seg]);
        }
      }
      nodes = next.filter((x) => x !== undefined && x !== null).slice(0, this.limits.maxArgumentValues);
      if (nodes.length === 0) return { found: false, values: [] };
    }
    const values: string[] = [];
    const flatten = (v: unknown, depth: number): void => {
      if (values.length >= this.limits.maxArgumentValues || depth > this.limits.maxArgumentDepth) return;
      const s = scalar(v);
      if (s !== undefined) values.push(this.clip(s));
      else if (Array.isArray(v)) for (const x of v) flatten(x, depth + 1);
    };
    for (const n of nodes) flatten(n, 0);
    return { found: true, values };
  }

  /** The error text of a failed call: the JSON-RPC error message, or the result preview of an `isError` result. */
  errorText(): Match | undefined {
    const e = this.event;
    if (e.errorMessage) return { field: 'errorMessage', value: this.clip(e.errorMessage) };
    if (e.isError && e.resultPreview !== undefined) return { field: 'resultPreview', value: this.clip(e.resultPreview) };
    return undefined;
  }

  egress(): boolean {
    this.egressCache ??= isEgressCall(this.event);
    return this.egressCache;
  }
}

/** One tool of a `tools_list` event. */
export class ToolContext {
  readonly kind = 'tool' as const;
  private sitesCache: { where: string; text: string }[] | undefined;

  constructor(
    readonly event: ToolsListEvent,
    readonly tool: ToolDefinition,
    readonly limits: EvaluationLimits = DEFAULT_EVALUATION_LIMITS,
  ) {}

  get toolName(): string {
    return this.tool.name;
  }

  clip(s: string): string {
    return s.length > this.limits.maxStringChars ? s.slice(0, this.limits.maxStringChars) : s;
  }

  /** Model-visible text of the definition: title, description and the descriptions, enums and defaults of its schemas. */
  textSites(): { where: string; text: string }[] {
    this.sitesCache ??= collectTextSites(this.tool).map((s) => ({ where: s.where, text: this.clip(s.text) }));
    return this.sitesCache;
  }
}

export type Context = CallContext | ToolContext;

/** A compiled condition: true when it holds; appends what matched to `out` (and leaves `out` as it was when false). */
export type Predicate = (ctx: Context, out: Match[]) => boolean;

const NEVER: Predicate = () => false;

/** What a compiler needs from its surroundings: lists, macros, and where to report problems. */
export interface CompileEnv {
  /** The items of list `name`, or undefined when there is no such list. */
  list(name: string): readonly string[] | undefined;
  /** The compiled macro `name` for `target`, or undefined (after reporting) when it does not exist or is invalid. */
  macro(name: string, target: Target, path: string): Predicate | undefined;
  /** Records a problem at `path` (relative to the rule or macro being compiled). */
  fail(path: string, message: string): void;
  /** Shared cache of compiled regexes. */
  regexes: Map<string, RegExp | Error>;
}

/** Which event a condition runs on; `check` validates a macro nobody uses (every key allowed). */
export type Target = 'tool_call' | 'tools_list' | 'check';

const CALL_KEYS = new Set<string>(CALL_CONDITION_KEYS);
const TOOL_KEYS = new Set<string>(TOOL_CONDITION_KEYS);

function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path ? `${path}.${key}` : key;
}

/** Expands `$name` items into the list's items; reports unknown lists. */
function expand(env: CompileEnv, v: StringList, path: string): string[] {
  const out: string[] = [];
  for (const item of typeof v === 'string' ? [v] : v) {
    const ref = LIST_REF_PATTERN.exec(item);
    if (!ref) {
      out.push(item);
      continue;
    }
    const items = env.list(ref[1]!);
    if (items === undefined) env.fail(path, `unknown list "${item}"`);
    else out.push(...items);
  }
  return out;
}

function regex(env: CompileEnv, pattern: string, path: string): RegExp | undefined {
  let r = env.regexes.get(pattern);
  if (r === undefined) {
    try {
      r = compileRuleRegex(pattern);
    } catch (err) {
      r = err instanceof Error ? err : new Error(String(err));
    }
    env.regexes.set(pattern, r);
  }
  if (r instanceof Error) {
    env.fail(path, `bad regex ${JSON.stringify(pattern.length > 120 ? `${pattern.slice(0, 117)}...` : pattern)}: ${r.message}`);
    return undefined;
  }
  return r;
}

function lastSegment(s: string): string {
  const t = s
    .trim()
    .replace(/^["']|["']$/g, '')
    .replace(/[\\/]+$/, '');
  const i = Math.max(t.lastIndexOf('/'), t.lastIndexOf('\\'));
  return (i >= 0 ? t.slice(i + 1) : t).toLowerCase();
}

const URL_HOST = /[a-z][a-z0-9+.-]{0,20}:\/\/(?:[^\s/?#@]{0,256}@)?([^\s/?#:'"<>`\\|]{1,253})/gi;
/**
 * Endings that make a bare word a file name rather than a host, even where
 * they are also top-level domains (`transfer.sh`, `paste.rs`, `notes.md`).
 */
const FILE_ENDING =
  /\.(?:sh|bash|zsh|ps1|rs|py|js|mjs|cjs|ts|tsx|jsx|go|rb|pl|php|java|kt|c|h|cc|cpp|cs|swift|md|txt|json|ya?ml|toml|ini|cfg|conf|env|log|csv|tsv|html?|css|scss|xml|sql|lock|pem|key|crt|zip|gz|tgz|tar|bak|tmp|png|jpe?g|gif|svg|pdf)$/i;

/**
 * Hosts named in a value: the hosts of its URLs; or, for a value without a
 * URL, the value itself when it reads as a host (one word with a dot, `user@`
 * and `:port` dropped, not a path and not a file name).
 */
export function hostsIn(value: string): string[] {
  const hosts: string[] = [];
  if (value.includes('://')) {
    URL_HOST.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = URL_HOST.exec(value)) !== null && hosts.length < 64) hosts.push(m[1]!.toLowerCase().replace(/\.$/, ''));
    return hosts;
  }
  const t = value.trim();
  if (t.length === 0 || t.length > 300 || /[\s/\\]/.test(t) || !t.includes('.')) return hosts;
  const host = t
    .replace(/^[^@]*@/, '')
    .replace(/[:?#].*$/, '')
    .toLowerCase()
    .replace(/\.$/, '');
  if (host && !FILE_ENDING.test(host)) hosts.push(host);
  return hosts;
}

/** Compiles a string matcher into a test on one (already clipped) value. */
export function compileStringMatcher(env: CompileEnv, m: StringMatcher, path: string): (value: string) => boolean {
  if (typeof m === 'string' || Array.isArray(m)) return compileOperators(env, { in: m }, path, true);
  return compileOperators(env, m, path);
}

/**
 * Compiles the operators of a matcher (all must hold); with none, any value
 * passes. `bare`: the matcher was a plain string or list, so problems are
 * reported at `path` itself.
 */
function compileOperators(env: CompileEnv, ops: StringOperators, path: string, bare = false): (value: string) => boolean {
  const tests: ((value: string, lower: string) => boolean)[] = [];
  const lowered = (key: keyof StringOperators): string[] | undefined => {
    const v = ops[key];
    if (v === undefined || key === 'not') return undefined;
    return expand(env, v as StringList, bare ? path : join(path, key)).map((s) => s.toLowerCase());
  };
  for (const key of ['equals', 'in'] as const) {
    const items = lowered(key);
    if (items) {
      const set = new Set(items);
      tests.push((_, lower) => set.has(lower));
    }
  }
  const contains = lowered('contains');
  if (contains) tests.push((_, lower) => contains.some((s) => lower.includes(s)));
  const starts = lowered('starts_with');
  if (starts) tests.push((_, lower) => starts.some((s) => lower.startsWith(s)));
  const ends = lowered('ends_with');
  if (ends) tests.push((_, lower) => ends.some((s) => lower.endsWith(s)));
  if (ops.matches !== undefined) {
    const p = join(path, 'matches');
    const res = expand(env, ops.matches, p)
      .map((pattern) => regex(env, pattern, p))
      .filter((r): r is RegExp => r !== undefined);
    tests.push((value) => res.some((r) => r.test(value)));
  }
  const words = lowered('word');
  if (words) {
    const set = new Set(words);
    tests.push((value) => nameWords(value).some((w) => set.has(w)));
  }
  const names = lowered('file_name');
  if (names) {
    const set = new Set(names);
    tests.push((value) => set.has(lastSegment(value)));
  }
  const domains = lowered('domain');
  if (domains) {
    const ds = domains.map((d) => d.replace(/^\*?\./, ''));
    tests.push((value) => hostsIn(value).some((h) => ds.some((d) => h === d || h.endsWith(`.${d}`))));
  }
  if (ops.not !== undefined) {
    const inner = compileStringMatcher(env, ops.not, join(path, 'not'));
    tests.push((value) => !inner(value));
  }
  if (tests.length === 0) return () => true;
  if (tests.length === 1) {
    const t = tests[0]!;
    return (value) => t(value, value.toLowerCase());
  }
  return (value) => {
    const lower = value.toLowerCase();
    return tests.every((t) => t(value, lower));
  };
}

function compileNumber(m: NumberMatcher): (n: number) => boolean {
  if (typeof m === 'number') return (n) => n === m;
  return (n) =>
    (m.eq === undefined || n === m.eq) &&
    (m.gt === undefined || n > m.gt) &&
    (m.gte === undefined || n >= m.gte) &&
    (m.lt === undefined || n < m.lt) &&
    (m.lte === undefined || n <= m.lte);
}

function operatorsOf(c: StringOperators & { path?: string; key?: StringMatcher }, drop: 'path' | 'key'): StringOperators {
  const ops: Record<string, unknown> = { ...c };
  delete ops[drop];
  return ops as StringOperators;
}

const PATH_SYNTAX = /^(?:[^.[\]]+|\[(?:\d+|\*)\])(?:\.[^.[\]]+|\[(?:\d+|\*)\])*$/;

/** `a.b[0].c` → ['a', 'b', '0', 'c']; undefined when malformed. */
export function parseArgumentPath(path: string): string[] | undefined {
  if (!PATH_SYNTAX.test(path)) return undefined;
  return [...path.matchAll(/[^.[\]]+|\[(\d+|\*)\]/g)].map((m) => m[1] ?? m[0]);
}

/** Compiles a condition for `target`. Problems are reported through `env`; an invalid condition never matches. */
export function compileCondition(env: CompileEnv, c: Condition, target: Target, path: string): Predicate {
  const parts: Predicate[] = [];
  for (const [key, raw] of Object.entries(c) as [keyof Condition, unknown][]) {
    if (raw === undefined) continue;
    const at = join(path, key);
    if (target === 'tool_call' && !CALL_KEYS.has(key) && !(COMBINATOR_KEYS as readonly string[]).includes(key)) {
      env.fail(at, 'only for `event: tools_list` rules');
      continue;
    }
    if (target === 'tools_list' && !TOOL_KEYS.has(key) && !(COMBINATOR_KEYS as readonly string[]).includes(key)) {
      env.fail(at, `not available on tools_list events (they support ${TOOL_CONDITION_KEYS.join(', ')})`);
      continue;
    }
    const p = compileKey(env, key, raw, target, at);
    if (p) parts.push(p);
  }
  if (parts.length === 1) return parts[0]!;
  return (ctx, out) => {
    const mark = out.length;
    for (const p of parts) {
      if (!p(ctx, out)) {
        out.length = mark;
        return false;
      }
    }
    return true;
  };
}

/** A predicate over one string field of the context. */
function field(get: (ctx: Context) => string | undefined, name: string, test: (v: string) => boolean): Predicate {
  return (ctx, out) => {
    const v = get(ctx);
    if (v === undefined) return false;
    const s = ctx.clip(v);
    if (!test(s)) return false;
    out.push({ field: name, value: s });
    return true;
  };
}

/** A predicate over one call field: false on other contexts. */
function onCall(p: (ctx: CallContext, out: Match[]) => boolean): Predicate {
  return (ctx, out) => ctx.kind === 'call' && p(ctx, out);
}

function compileKey(env: CompileEnv, key: keyof Condition, raw: unknown, target: Target, at: string): Predicate | undefined {
  switch (key) {
    case 'server':
      return field((ctx) => ctx.event.server, 'server', compileStringMatcher(env, raw as StringMatcher, at));
    case 'agent':
      return field((ctx) => ctx.event.agent, 'agent', compileStringMatcher(env, raw as StringMatcher, at));
    case 'session':
      return field((ctx) => ctx.event.session, 'session', compileStringMatcher(env, raw as StringMatcher, at));
    case 'tool':
      return field((ctx) => ctx.toolName, 'tool', compileStringMatcher(env, raw as StringMatcher, at));
    case 'status':
      return field((ctx) => (ctx.kind === 'call' ? ctx.event.status : undefined), 'status', compileStringMatcher(env, raw as StringMatcher, at));
    case 'is_error': {
      const want = raw as boolean;
      return onCall((ctx, out) => {
        if (ctx.event.isError !== want) return false;
        out.push({ field: 'isError', value: String(want) });
        return true;
      });
    }
    case 'egress': {
      const want = raw as boolean;
      return onCall((ctx, out) => {
        if (ctx.egress() !== want) return false;
        out.push({ field: 'egress', value: want ? `${ctx.event.tool} can send data out` : `${ctx.event.tool} cannot send data out` });
        return true;
      });
    }
    case 'request_bytes':
    case 'response_bytes':
    case 'duration_ms': {
      const test = compileNumber(raw as NumberMatcher);
      const name = key === 'request_bytes' ? 'requestBytes' : key === 'response_bytes' ? 'responseBytes' : 'durationMs';
      return onCall((ctx, out) => {
        const n = ctx.event[name];
        if (!test(n)) return false;
        out.push({ field: name, value: String(n) });
        return true;
      });
    }
    case 'argument': {
      const c = raw as ArgumentCondition;
      const segments = parseArgumentPath(c.path);
      if (!segments) {
        env.fail(
          join(at, 'path'),
          `bad argument path "${c.path}" (expected names joined by dots, with [n] or [*] for array items: options.url, paths[0], edits[*].path)`,
        );
        return NEVER;
      }
      const ops = operatorsOf(c, 'path');
      const exists = Object.values(ops).every((v) => v === undefined);
      const test = compileOperators(env, ops, at);
      const name = `arguments.${c.path}`;
      return onCall((ctx, out) => {
        const { found, values } = ctx.argumentAt(segments);
        if (!found) return false;
        if (exists) {
          out.push({ field: name, value: values[0] ?? '(present)' });
          return true;
        }
        const hit = values.find(test);
        if (hit === undefined) return false;
        out.push({ field: name, value: hit });
        return true;
      });
    }
    case 'any_argument': {
      const c = raw as { key?: StringMatcher } & StringOperators;
      const keyTest = c.key === undefined ? undefined : compileStringMatcher(env, c.key, join(at, 'key'));
      const test = compileOperators(env, operatorsOf(c, 'key'), at);
      return onCall((ctx, out) => {
        for (const v of ctx.argumentValues()) {
          if (keyTest && (v.key === undefined || !keyTest(v.key))) continue;
          if (!test(v.value)) continue;
          out.push({ field: `arguments.${v.path}`, value: v.value });
          return true;
        }
        return false;
      });
    }
    case 'argument_key': {
      const test = compileStringMatcher(env, raw as StringMatcher, at);
      return onCall((ctx, out) => {
        const k = ctx.event.argumentKeys.find((x) => test(x));
        if (k === undefined) return false;
        out.push({ field: 'argumentKeys', value: k });
        return true;
      });
    }
    case 'error': {
      const test = compileStringMatcher(env, raw as StringMatcher, at);
      return onCall((ctx, out) => {
        const e = ctx.errorText();
        if (!e || !test(e.value)) return false;
        out.push(e);
        return true;
      });
    }
    case 'result':
      return field((ctx) => (ctx.kind === 'call' ? ctx.event.resultPreview : undefined), 'resultPreview', compileStringMatcher(env, raw as StringMatcher, at));
    case 'destination': {
      const test = compileStringMatcher(env, raw as StringMatcher, at);
      return onCall((ctx, out) => {
        const d = ctx.event.destinations?.find((x) => test(x));
        if (d === undefined) return false;
        out.push({ field: 'destinations', value: d });
        return true;
      });
    }
    case 'finding': {
      const c = raw as FindingCondition;
      const tests = (['kind', 'where', 'rule', 'field'] as const)
        .filter((k) => c[k] !== undefined)
        .map((k) => ({ k, test: compileStringMatcher(env, c[k]!, join(at, k)) }));
      return onCall((ctx, out) => {
        const findings = ctx.event.findings ?? [];
        for (let i = 0; i < findings.length; i++) {
          const f = findings[i]!;
          if (!tests.every(({ k, test }) => f[k] !== undefined && test(f[k]))) continue;
          out.push({ field: `findings[${i}]`, value: `${f.kind} in ${f.where} (${f.rule})${f.field ? ` at ${f.field}` : ''}` });
          return true;
        }
        return false;
      });
    }
    case 'tool_description':
      return field((ctx) => (ctx.kind === 'tool' ? ctx.tool.description : undefined), 'description', compileStringMatcher(env, raw as StringMatcher, at));
    case 'tool_text': {
      const test = compileStringMatcher(env, raw as StringMatcher, at);
      return (ctx, out) => {
        if (ctx.kind !== 'tool') return false;
        const site = ctx.textSites().find((s) => test(s.text));
        if (!site) return false;
        out.push({ field: site.where, value: site.text });
        return true;
      };
    }
    case 'macro': {
      const names = typeof raw === 'string' ? [raw] : (raw as string[]);
      const ps = names.map((n, i) => env.macro(n, target, names.length === 1 ? at : join(at, i))).filter((p): p is Predicate => p !== undefined);
      if (ps.length !== names.length) return NEVER;
      return ps.length === 1 ? ps[0] : and(ps);
    }
    case 'all':
      return and((raw as Condition[]).map((c, i) => compileCondition(env, c, target, join(at, i))));
    case 'any': {
      const ps = (raw as Condition[]).map((c, i) => compileCondition(env, c, target, join(at, i)));
      return (ctx, out) => ps.some((p) => p(ctx, out));
    }
    case 'not': {
      const p = compileCondition(env, raw as Condition, target, at);
      return (ctx, out) => {
        const mark = out.length;
        const held = p(ctx, out);
        out.length = mark;
        return !held;
      };
    }
    default:
      return undefined;
  }
}

function and(ps: Predicate[]): Predicate {
  return (ctx, out) => {
    const mark = out.length;
    for (const p of ps) {
      if (!p(ctx, out)) {
        out.length = mark;
        return false;
      }
    }
    return true;
  };
}
