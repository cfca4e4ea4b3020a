/**
 * The shape of a rules file (YAML or JSON), as zod schemas: the one place the
 * format is defined. `load.ts` parses files against it; semantic checks that
 * need more than one field at a time (list and macro references, regexes,
 * which keys a `tools_list` rule may use) happen while compiling.
 *
 * Every object is strict: an unknown key is an error, so a typo cannot
 * silently turn a condition off.
 */
import { z } from 'zod';
import { SeveritySchema } from '@tapwatch/schema';

export const RULES_FORMAT_VERSION = 1 as const;

/** Bounds on what a rules file may declare: a rules file is trusted config, but a mistake must not hurt the analyzer. */
export const RULES_FILE_LIMITS = Object.freeze({
  /** Bytes of one rules file. */
  maxFileBytes: 1024 * 1024,
  maxRules: 1000,
  maxLists: 500,
  maxListItems: 5000,
  maxMacros: 500,
  /** Characters of one literal or list item. */
  maxStringLength: 4096,
  /** Characters of one regular expression. */
  maxRegexLength: 1000,
  /** Steps of a sequence, after `count` is expanded. */
  maxSequenceSteps: 20,
  maxWithinCalls: 100_000,
  /** Seven days. */
  maxWithinSeconds: 7 * 24 * 3600,
  maxTitleLength: 512,
});

/** Names of lists and macros, and rule ids. */
export const NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_.-]{0,99}$/;
export const RULE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;
/** A string that is exactly `$name` refers to the list `name`. */
export const LIST_REF_PATTERN = /^\$([A-Za-z_][A-Za-z0-9_.-]{0,99})$/;

/** Operators of a string matcher; every operator given must hold. */
export const STRING_OPERATORS = ['equals', 'in', 'contains', 'starts_with', 'ends_with', 'matches', 'word', 'file_name', 'domain', 'not'] as const;
/** Condition keys on a `tool_call` event. */
export const CALL_CONDITION_KEYS = [
  'server',
  'tool',
  'agent',
  'session',
  'status',
  'is_error',
  'argument',
  'any_argument',
  'argument_key',
  'error',
  'result',
  'finding',
  'destination',
  'request_bytes',
  'response_bytes',
  'duration_ms',
  'egress',
] as const;
/** Condition keys on one tool of a `tools_list` event. */
export const TOOL_CONDITION_KEYS = ['server', 'agent', 'session', 'tool', 'tool_description', 'tool_text'] as const;
/** Keys usable on both kinds of event. */
export const COMBINATOR_KEYS = ['macro', 'any', 'all', 'not'] as const;

// ---------------------------------------------------------------------------
// Types (written out: the schemas are recursive)

/** One string, or several (any may match); `$name` items stand for the items of list `name`. */
export type StringList = string | string[];

export interface StringOperators {
  /** The value equals one of these (case-insensitive). */
  equals?: StringList;
  /** Same as `equals`; reads better with a list. */
  in?: StringList;
  contains?: StringList;
  starts_with?: StringList;
  ends_with?: StringList;
  /** Regular expressions (case-insensitive, unanchored); any may match. */
  matches?: StringList;
  /** One of the value's words (split on case changes, `_`, `-`, `.`, spaces, …) equals one of these. */
  word?: StringList;
  /** The last segment of a path (after `/` or `\`) equals one of these. */
  file_name?: StringList;
  /** A host in the value (a URL's host, or the value itself) is one of these domains or a subdomain of one. */
  domain?: StringList;
  /** The inner matcher does not hold. */
  not?: StringMatcher;
}

/** A string is `equals` (or, when `$name`, `in` a list); a list is `in`; an object holds operators. */
export type StringMatcher = string | string[] | StringOperators;

export type NumberMatcher = number | { gt?: number; gte?: number; lt?: number; lte?: number; eq?: number };

export interface ArgumentCondition extends StringOperators {
  /** Where the value is in the arguments: `path`, `options.url`, `paths[1]`, `edits[*].path`. */
  path: string;
}

export interface AnyArgumentCondition extends StringOperators {
  /** Only string values under a key (the nearest named key; array items inherit their array's) that matches. */
  key?: StringMatcher;
}

export interface FindingCondition {
  kind?: StringMatcher;
  where?: StringMatcher;
  rule?: StringMatcher;
  field?: StringMatcher;
}

export interface Condition {
  server?: StringMatcher;
  tool?: StringMatcher;
  agent?: StringMatcher;
  session?: StringMatcher;
  status?: StringMatcher;
  is_error?: boolean;
  argument?: ArgumentCondition;
  any_argument?: AnyArgumentCondition;
  argument_key?: StringMatcher;
  error?: StringMatcher;
  result?: StringMatcher;
  finding?: FindingCondition;
  destination?: StringMatcher;
  request_bytes?: NumberMatcher;
  response_bytes?: NumberMatcher;
  duration_ms?: NumberMatcher;
  egress?: boolean;
  tool_description?: StringMatcher;
  tool_text?: StringMatcher;
  macro?: string | string[];
  any?: Condition[];
  all?: Condition[];
  not?: Condition;
}

export interface SequenceStep {
  when: Condition;
  except?: Condition[];
  /** The step repeated this many times (`count: 3` = three matching calls). */
  count?: number;
}

export type Binding = 'session' | 'agent' | 'server+session';
export type RuleEvent = 'tool_call' | 'tools_list';

export interface RuleInput {
  id: string;
  description?: string;
  severity?: z.infer<typeof SeveritySchema>;
  enabled?: boolean;
  event?: RuleEvent;
  when?: Condition;
  except?: Condition[];
  sequence?: SequenceStep[];
  within?: { calls?: number; seconds?: number };
  by?: Binding;
  title?: string;
}

export interface RulesFile {
  version: typeof RULES_FORMAT_VERSION;
  lists?: Record<string, string[]>;
  macros?: Record<string, Condition>;
  rules?: RuleInput[];
}

// ---------------------------------------------------------------------------
// Schemas

const text = z.string().max(RULES_FILE_LIMITS.maxStringLength);
const stringList: z.ZodType<StringList> = z.union([text, z.array(text).min(1).max(RULES_FILE_LIMITS.maxListItems)], {
  error: 'expected string or list of strings',
});

const operatorShape = {
  equals: stringList.optional(),
  in: stringList.optional(),
  contains: stringList.optional(),
  starts_with: stringList.optional(),
  ends_with: stringList.optional(),
  matches: stringList.optional(),
  word: stringList.optional(),
  file_name: stringList.optional(),
  domain: stringList.optional(),
  get not() {
    return StringMatcherSchema.optional();
  },
};

const StringOperatorsSchema: z.ZodType<StringOperators> = z.strictObject(operatorShape);

export const StringMatcherSchema: z.ZodType<StringMatcher> = z.union([text, z.array(text).min(1).max(RULES_FILE_LIMITS.maxListItems), StringOperatorsSchema], {
  error: `expected string or list, or an object of operators (${STRING_OPERATORS.join(', ')})`,
});

const finite = z.number().refine(Number.isFinite, 'expected a finite number');
export const NumberMatcherSchema: z.ZodType<NumberMatcher> = z.union(
  [finite, z.strictObject({ gt: finite.optional(), gte: finite.optional(), lt: finite.optional(), lte: finite.optional(), eq: finite.optional() })],
  { error: 'expected a number or an object of gt, gte, lt, lte, eq' },
);

const ArgumentConditionSchema: z.ZodType<ArgumentCondition> = z.strictObject({
  path: z.string().min(1).max(512),
  ...operatorShape,
});

const AnyArgumentConditionSchema: z.ZodType<AnyArgumentCondition> = z.strictObject({
  get key() {
    return StringMatcherSchema.optional();
  },
  ...operatorShape,
});

const FindingConditionSchema: z.ZodType<FindingCondition> = z.strictObject({
  kind: StringMatcherSchema.optional(),
  where: StringMatcherSchema.optional(),
  rule: StringMatcherSchema.optional(),
  field: StringMatcherSchema.optional(),
});

const macroName = z.string().regex(NAME_PATTERN, 'expected a macro name (letters, digits, _ . -)');

export const ConditionSchema: z.ZodType<Condition> = z
  .strictObject({
    server: StringMatcherSchema.optional(),
    tool: StringMatcherSchema.optional(),
    agent: StringMatcherSchema.optional(),
    session: StringMatcherSchema.optional(),
    status: StringMatcherSchema.optional(),
    is_error: z.boolean().optional(),
    argument: ArgumentConditionSchema.optional(),
    any_argument: AnyArgumentConditionSchema.optional(),
    argument_key: StringMatcherSchema.optional(),
    error: StringMatcherSchema.optional(),
    result: StringMatcherSchema.optional(),
    finding: FindingConditionSchema.optional(),
    destination: StringMatcherSchema.optional(),
    request_bytes: NumberMatcherSchema.optional(),
    response_bytes: NumberMatcherSchema.optional(),
    duration_ms: NumberMatcherSchema.optional(),
    egress: z.boolean().optional(),
    tool_description: StringMatcherSchema.optional(),
    tool_text: StringMatcherSchema.optional(),
    macro: z.union([macroName, z.array(macroName).min(1).max(50)], { error: 'expected a macro name or a list of them' }).optional(),
    get any() {
      return z.array(ConditionSchema).min(1).max(100).optional();
    },
    get all() {
      return z.array(ConditionSchema).min(1).max(100).optional();
    },
    get not() {
      return ConditionSchema.optional();
    },
  })
  .refine((c) => Object.keys(c).length > 0, 'a condition needs at least one key');

export const SequenceStepSchema: z.ZodType<SequenceStep> = z.strictObject({
  when: ConditionSchema,
  except: z.array(ConditionSchema).max(100).optional(),
  count: z.number().int().min(1).max(RULES_FILE_LIMITS.maxSequenceSteps).optional(),
});

export const RuleSchema: z.ZodType<RuleInput> = z
  .strictObject({
    id: z.string().regex(RULE_ID_PATTERN, 'expected a rule id (letters, digits, _ . -, at most 100)'),
    description: z.string().min(1).max(1000).optional(),
    severity: SeveritySchema.optional(),
    enabled: z.boolean().optional(),
    event: z.enum(['tool_call', 'tools_list']).optional(),
    when: ConditionSchema.optional(),
    except: z.array(ConditionSchema).max(100).optional(),
    sequence: z.array(SequenceStepSchema).min(1).max(RULES_FILE_LIMITS.maxSequenceSteps).optional(),
    within: z
      .strictObject({
        calls: z.number().int().min(1).max(RULES_FILE_LIMITS.maxWithinCalls).optional(),
        seconds: z.number().positive().max(RULES_FILE_LIMITS.maxWithinSeconds).optional(),
      })
      .refine((w) => w.calls !== undefined || w.seconds !== undefined, 'give calls, seconds or both')
      .optional(),
    by: z.enum(['session', 'agent', 'server+session']).optional(),
    title: z.string().min(1).max(RULES_FILE_LIMITS.maxTitleLength).optional(),
  })
  .superRefine((r, ctx) => {
    const problem = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    const full = r.when !== undefined || r.sequence !== undefined;
    if (!full) {
      // An override of an earlier rule with the same id: only these may change.
      for (const k of Object.keys(r)) {
        if (!['id', 'enabled', 'severity'].includes(k)) {
          problem(k, 'a rule without `when` or `sequence` only overrides an earlier rule: it may set only `enabled` and `severity`');
        }
      }
      return;
    }
    if (r.when !== undefined && r.sequence !== undefined) problem('sequence', 'give either `when` or `sequence`, not both');
    if (r.description === undefined) problem('description', 'required');
    if (r.severity === undefined) problem('severity', 'required (low, medium, high or critical)');
    if (r.sequence !== undefined) {
      if (r.within === undefined) problem('within', 'required for a sequence (calls, seconds or both)');
      if (r.by === undefined) problem('by', 'required for a sequence (session, agent or server+session)');
      if (r.event === 'tools_list') problem('event', 'sequences match tool_call events only');
      const steps = r.sequence.reduce((n, s) => n + (s.count ?? 1), 0);
      if (steps > RULES_FILE_LIMITS.maxSequenceSteps)
        problem('sequence', `at most ${RULES_FILE_LIMITS.maxSequenceSteps} steps counting repeats (got ${steps})`);
      if (steps < 2) problem('sequence', 'needs at least two steps (or one step with `count` of 2 or more); a single condition is a `when` rule');
    } else {
      if (r.within !== undefined) problem('within', 'only for sequences');
      if (r.by !== undefined) problem('by', 'only for sequences');
    }
  });

export const RulesFileSchema: z.ZodType<RulesFile> = z.strictObject({
  version: z.literal(RULES_FORMAT_VERSION, { error: `expected version: ${RULES_FORMAT_VERSION}` }),
  lists: z
    .record(z.string().regex(NAME_PATTERN, 'expected a list name (letters, digits, _ . -)'), z.array(text).max(RULES_FILE_LIMITS.maxListItems))
    .refine((l) => Object.keys(l).length <= RULES_FILE_LIMITS.maxLists, `at most ${RULES_FILE_LIMITS.maxLists} lists`)
    .optional(),
  macros: z
    .record(z.string().regex(NAME_PATTERN, 'expected a macro name (letters, digits, _ . -)'), ConditionSchema)
    .refine((m) => Object.keys(m).length <= RULES_FILE_LIMITS.maxMacros, `at most ${RULES_FILE_LIMITS.maxMacros} macros`)
    .optional(),
  rules: z.array(RuleSchema).max(RULES_FILE_LIMITS.maxRules).optional(),
});

/** Every key the format knows, for "did you mean" hints on unknown keys. */
export const KNOWN_KEYS: readonly string[] = Object.freeze([
  ...new Set<string>([
    'version',
    'lists',
    'macros',
    'rules',
    'id',
    'description',
    'severity',
    'enabled',
    'event',
    'when',
    'except',
    'sequence',
    'within',
    'by',
    'title',
    'count',
    'calls',
    'seconds',
    'path',
    'key',
    'kind',
    'where',
    'rule',
    'field',
    'gt',
    'gte',
    'lt',
    'lte',
    'eq',
    ...STRING_OPERATORS,
    ...CALL_CONDITION_KEYS,
    ...TOOL_CONDITION_KEYS,
    ...COMBINATOR_KEYS,
  ]),
]);
