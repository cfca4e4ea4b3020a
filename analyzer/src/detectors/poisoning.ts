/**
 * Tool poisoning (attack class A): a tool definition whose description, or a
 * parameter's description anywhere in its schemas, carries instructions aimed
 * at the model rather than documentation for it — hidden in tags, comments or
 * invisible characters, telling the model to do things other than the tool's
 * own job, to keep that from the user, or to hand over secrets, files or the
 * conversation.
 *
 * Each signal is a named rule with a weight. A weight-3 rule (secrecy, a
 * request for sensitive files, credentials or the conversation, an
 * instruction override, invisible characters) or two independent weight-2
 * signals make the finding `high`; one weight-2 signal makes it `medium`;
 * boosters (weight 1) only add evidence, unless three of them agree.
 * Documentation — even firm documentation ("you must provide the SHA",
 * "Use this tool when …", "fails silently") — matches nothing: a directive
 * counts only when it points away from the tool's own job (another tool, a
 * URL, a sensitive file, the conversation, private data).
 *
 * Judged on first sighting, no baseline. One alert per (agent, server, tool,
 * definition hash); verdicts are cached per definition so benign servers that
 * re-list their tools every session cost a lookup.
 */
import type { Severity, ToolDefinition, ToolsListEvent } from '@tapwatch/schema';
import { BoundedMap, type Finding } from './types.js';
import { definitionHash } from './definition-change.js';
import { defineDetector } from './detector.js';
import { OBLIGATION, PROHIBITION, SEQUENCE_MARKER } from './lexicon/directives.js';
import {
  ABSOLUTE_PATH,
  CHAT_MARKER,
  CONDITIONAL,
  CONVERSATION,
  CONVERSATION_JOB,
  CONVERSATION_VERB,
  COPY_VERB,
  CREDENTIAL,
  CREDENTIAL_JOB,
  CREDENTIAL_OWNER,
  CREDENTIAL_QUANTIFIED,
  CREDENTIAL_SOURCE,
  DECODE_AND_FOLLOW,
  DOMAIN_WITH_PATH,
  EMAIL,
  ENV_SECRET_NAME,
  HARMLESS_HOST,
  HOME_PATH,
  HTML_COMMENT,
  INSTRUCTION_TAG,
  INTO_FIELD,
  MD_COMMENT,
  MODEL_ACTION,
  MODEL_ADDRESSED,
  NOT_A_TOOL,
  OTHER_SERVER,
  OVERRIDE,
  PADDING,
  PRETEXT,
  PRIVATE_DATA,
  PRIVATE_TARGET,
  RELAY_OBJECT,
  REQUEST_NON_MODAL,
  SECRECY,
  SENSITIVE_PATHS,
  SIDE_CHANNEL_WORDS,
  SOURCE_CONTEXT,
  TOOL_REF,
  TRANSFER_VERB,
  URL,
  WITHOUT_TELLING,
} from './lexicon/poisoning.js';
import { collectAllStrings, collectTextSites, parameterNames, type TextSite } from './text/sites.js';
import { findInvisible, type InvisibleKind } from './text/invisible.js';
import { excerpt, normalizeText, splitSentences } from './text/prose.js';
import { escapeRegExp, isSpecificName, nameWords } from './text/names.js';
import { isDirective } from './text/directive.js';
import { shortHash } from './text/digest.js';

export const POISONING_DETECTOR = 'tool_poisoning';

export type PoisoningCategory = 'hidden' | 'invisible' | 'secrecy' | 'sensitive' | 'override' | 'directive' | 'exfil' | 'side_channel' | 'booster';

export interface PoisoningRule {
  id: string;
  weight: 1 | 2 | 3;
  category: PoisoningCategory;
  summary: string;
}

/** The rules, their weights and what each means: the table the evidence refers to. */
export const POISONING_RULES: readonly PoisoningRule[] = Object.freeze([
  {
    id: 'invisible_characters',
    weight: 3,
    category: 'invisible',
    summary: 'zero-width, Unicode tag, bidi-override, variation-selector or control characters (ANSI escapes) anywhere in the definition',
  },
  { id: 'secrecy', weight: 3, category: 'secrecy', summary: 'tells the model to keep something from the user, act silently, not ask, or lie if asked' },
  {
    id: 'sensitive_file_request',
    weight: 3,
    category: 'sensitive',
    summary: 'asks to read or pass a credential-bearing file (~/.ssh, id_rsa, .aws/credentials, .env, .npmrc, hosts.yml, mcp.json, …) unrelated to the tool',
  },
  {
    id: 'credential_request',
    weight: 3,
    category: 'sensitive',
    summary: 'asks to collect or pass credentials, keys, tokens, passwords or cookies from somewhere else',
  },
  {
    id: 'conversation_request',
    weight: 3,
    category: 'sensitive',
    summary: 'asks for the conversation, previous messages or the system prompt in a tool whose job is not about them',
  },
  { id: 'instruction_override', weight: 3, category: 'override', summary: 'tells the model to ignore or override its other instructions or the user' },
  {
    id: 'instruction_tag',
    weight: 2,
    category: 'hidden',
    summary: '<IMPORTANT>, <SYSTEM>, <instructions>-style tags or chat-template markers addressed to the model',
  },
  { id: 'hidden_comment', weight: 2, category: 'hidden', summary: 'text hidden in an HTML or Markdown comment' },
  { id: 'whitespace_padding', weight: 2, category: 'hidden', summary: 'text pushed out of view by long runs of blank lines or spaces' },
  {
    id: 'cross_action_directive',
    weight: 2,
    category: 'directive',
    summary: "a directive to do something other than the tool's job: call another tool, read a file, use a URL, hand over data",
  },
  { id: 'external_send', weight: 2, category: 'exfil', summary: 'a directive to send, copy or route data to a literal URL or e-mail address' },
  {
    id: 'side_channel_parameter',
    weight: 2,
    category: 'side_channel',
    summary: 'a free-text parameter (note, context, metadata, …) that asks for secrets, files, private data or the conversation',
  },
  { id: 'model_addressed', weight: 1, category: 'booster', summary: 'text addressed to the assistant/model itself' },
  { id: 'compliance_pretext', weight: 1, category: 'booster', summary: 'a licence, compliance, approval or "the service needs it" pretext' },
  { id: 'sensitive_file_mention', weight: 1, category: 'booster', summary: 'names a credential-bearing file without asking for it' },
]);

const RULES = new Map(POISONING_RULES.map((r) => [r.id, r]));

export interface RuleMatch {
  rule: string;
  weight: number;
  category: PoisoningCategory;
  /** Where in the definition: `description`, `inputSchema.properties.notes.description`, `name`, … */
  where: string;
  /** ≤ 200 characters around the match, invisible characters escaped as \u{…}. */
  excerpt: string;
}

export interface PoisoningVerdict {
  severity: Severity | undefined;
  score: number;
  matches: RuleMatch[];
}

/** What a definition is judged against besides its own text. */
export interface PoisoningContext {
  /** The server advertising the tool (references to itself are not "other"). */
  server?: string;
  /** The other tools the same server advertises: pointing at them is ordinary. */
  siblings?: readonly string[];
}

// ---------------------------------------------------------------------------

interface Ctx {
  name: string;
  server: string;
  /** Tool names of the same server, its own name included. */
  own: Set<string>;
  params: Set<string>;
  jobWords: string[];
}

/**
 * Judges one tool definition on its own: the rules that match, where, and the
 * severity they add up to (undefined: nothing worth an alert). Pure.
 */
export function analyzeToolDefinition(def: ToolDefinition, context: PoisoningContext = {}): PoisoningVerdict {
  const sites = collectTextSites(def);
  const description = normalizeText(def.description ?? '');
  const firstSentence = splitSentences(description)[0]?.text ?? '';
  const ctx: Ctx = {
    name: def.name,
    server: context.server ?? '',
    own: new Set([def.name, ...(context.siblings ?? [])]),
    params: new Set(parameterNames(def)),
    jobWords: [...nameWords(def.name), ...nameWords(def.title ?? ''), ...nameWords(firstSentence)],
  };
  const matches: RuleMatch[] = [];
  const add = (rule: string, where: string, text: string, start = 0, end = text.length): void => {
    const r = RULES.get(rule)!;
    if (matches.filter((m) => m.rule === rule).length >= 3) return;
    if (matches.some((m) => m.rule === rule && m.where === where)) return;
    matches.push({ rule, weight: r.weight, category: r.category, where, excerpt: excerpt(text, start, end) });
  };

  checkInvisible(def, add);
  for (const site of sites) checkSite(site, ctx, add);
  checkSideChannels(def, sites, ctx, description, add);
  return judge(matches);
}

type Add = (rule: string, where: string, text: string, start?: number, end?: number) => void;

function checkInvisible(def: ToolDefinition, add: Add): void {
  for (const s of collectAllStrings(def)) {
    const hits = findInvisible(s.text);
    if (hits.length === 0) continue;
    const kinds = [...new Set(hits.map((h) => h.kind))] as InvisibleKind[];
    const first = hits[0]!;
    const last = hits[hits.length - 1]!;
    const where = `${s.where || 'definition'} (${hits.length} × ${kinds.join(', ')})`;
    add('invisible_characters', where, s.text, Math.max(0, first.index - 40), Math.min(s.text.length, Math.max(last.index + 2, first.index + 120)));
  }
}

function checkSite(site: TextSite, ctx: Ctx, add: Add): void {
  const raw = site.text;
  const text = normalizeText(raw);
  const where = site.where;
  const hit = (rule: string, re: RegExp, on = text): boolean => {
    const m = re.exec(on); // these patterns are not global: exec keeps no state
    if (m) add(rule, where, on, m.index, m.index + m[0].length);
    return m !== null;
  };

  if (!hit('instruction_tag', INSTRUCTION_TAG)) hit('instruction_tag', CHAT_MARKER);
  const comment = HTML_COMMENT.exec(text) ?? MD_COMMENT.exec(text);
  if (comment && /[a-z]{2,}\W+[a-z]{2,}/i.test(comment[1] ?? '')) add('hidden_comment', where, text, comment.index, comment.index + comment[0].length);
  const pad = PADDING.exec(raw);
  if (pad) add('whitespace_padding', where, raw, pad.index + pad[0].length - 1, Math.min(raw.length, pad.index + pad[0].length + 150));
  for (const re of OVERRIDE) if (hit('instruction_override', re)) break;
  for (const re of SECRECY) if (hit('secrecy', re)) break;
  hit('model_addressed', MODEL_ADDRESSED);
  hit('compliance_pretext', PRETEXT);

  for (const s of splitSentences(text)) {
    const at = (m: { index: number; 0: string } | null, base = s.start, len = s.text.length): [number, number] =>
      m ? [base + m.index, base + m.index + m[0].length] : [base, base + len];
    if (WITHOUT_TELLING.test(s.text) && MODEL_ACTION.test(s.text.replace(WITHOUT_TELLING, ''))) {
      add('secrecy', where, text, ...at(WITHOUT_TELLING.exec(s.text)));
    }
    // Directives and their objects are paired within a clause: "Use with care: commands can read ~/.ssh" warns, it does not ask.
    for (const c of clauses(s.text, s.start)) {
      const sentence = c.text;
      const here = (m: { index: number; 0: string } | null): [number, number] => at(m, c.start, sentence.length);
      // Prohibitions protect ("never include the token"): judge what is left.
      const positive = sentence.replace(PROHIBITION, ' ');
      const directive = isDirective(positive);
      const requested = directive || REQUEST_NON_MODAL.test(positive);
      const firm = SEQUENCE_MARKER.test(positive) || OBLIGATION.test(positive);

      // Sensitive files: asked for, and not the tool's own subject.
      for (const p of SENSITIVE_PATHS) {
        const m = p.re.exec(sentence);
        if (!m) continue;
        if (ctx.jobWords.some((w) => p.family.test(w))) continue;
        add(requested && p.re.test(positive) ? 'sensitive_file_request' : 'sensitive_file_mention', where, text, ...here(m));
      }

      // Credentials collected from elsewhere.
      const cred = CREDENTIAL.exec(positive) ?? ENV_SECRET_NAME.exec(positive);
      if (cred && requested && !ctx.jobWords.some((w) => CREDENTIAL_JOB.test(w))) {
        const owner = CREDENTIAL_OWNER.exec(positive);
        const copies = COPY_VERB.test(positive);
        const sourced =
          CREDENTIAL_QUANTIFIED.test(positive) ||
          (owner !== null && !ctx.jobWords.includes(owner[1]!.toLowerCase())) ||
          CREDENTIAL_SOURCE.test(positive) ||
          SENSITIVE_PATHS.some((p) => p.re.test(positive)) ||
          (copies && ((ENV_SECRET_NAME.test(positive) && INTO_FIELD.test(positive)) || sentTo(positive))) ||
          (site.param !== undefined && isSideChannelName(site.param));
        if (sourced) add('credential_request', where, text, ...here(CREDENTIAL.exec(sentence) ?? ENV_SECRET_NAME.exec(sentence)));
      }

      // The conversation or the system prompt.
      const convo = CONVERSATION.exec(positive);
      if (convo && (directive || CONVERSATION_VERB.test(positive)) && !ctx.jobWords.some((w) => CONVERSATION_JOB.test(w))) {
        add('conversation_request', where, text, ...here(CONVERSATION.exec(sentence)));
      }

      // Directives pointing away from the tool's own job.
      if (directive) {
        const targets = directiveTargets(positive, ctx, firm && !CONDITIONAL.test(positive));
        if (targets.length > 0) add('cross_action_directive', where, text, s.start, s.start + s.text.length);
        const destination = foreignDestinations(positive)[0];
        if (destination && TRANSFER_VERB.test(positive) && sentTo(positive))
          add('external_send', where, text, ...here({ index: Math.max(0, sentence.indexOf(destination)), 0: destination }));
      }
    }
    const sentence = s.text;
    if (DECODE_AND_FOLLOW.test(sentence)) add('cross_action_directive', where, text, s.start, s.start + sentence.length);
  }
}

/** True when a non-placeholder destination is where something goes ("to https://…", "through …"), not where it comes from. */
function sentTo(sentence: string): boolean {
  return foreignDestinations(sentence).some((d) =>
    /(?:\b(?:to|into|through|via|onto|towards?)\b[^.!?]{0,30}|\b(?:b?cc|e-?mail)\s+)$/i.test(before(sentence, d)),
  );
}

function before(sentence: string, d: string): string {
  return sentence.slice(0, Math.max(0, sentence.indexOf(d)));
}

/** Destinations a directive points at: not those named as a source. */
function directedDestinations(sentence: string): string[] {
  return foreignDestinations(sentence).filter((d) => !SOURCE_CONTEXT.test(before(sentence, d)));
}

/** A sentence cut at colons and semicolons (not inside URLs), with offsets. */
function clauses(sentence: string, start: number): { text: string; start: number }[] {
  const out: { text: string; start: number }[] = [];
  let from = 0;
  for (const m of sentence.matchAll(/[:;]\s+/g)) {
    out.push({ text: sentence.slice(from, m.index), start: start + from });
    from = m.index + m[0].length;
  }
  out.push({ text: sentence.slice(from), start: start + from });
  return out.filter((c) => c.text.trim().length > 0);
}

/** URLs, e-mail addresses and host/path strings that are not documentation placeholders. */
function foreignDestinations(sentence: string): string[] {
  const out: string[] = [];
  for (const re of [URL, EMAIL, DOMAIN_WITH_PATH]) {
    for (const m of sentence.matchAll(re)) {
      const host =
        m[0]
          .replace(/^https?:\/\//i, '')
          .replace(/^[^@]*@/, '')
          .split(/[/:?#]/)[0] ?? '';
      if (!HARMLESS_HOST.test(host)) out.push(m[0]);
    }
  }
  return out;
}

/**
 * What a directive sentence points at that is not the tool's own job. Another
 * tool counts only when the directive is firm (sequencing or obligation):
 * "read the page with the fetch tool if you need more" is advice.
 */
function directiveTargets(sentence: string, ctx: Ctx, firm: boolean): string[] {
  const out: string[] = [];
  for (const m of firm ? sentence.matchAll(TOOL_REF) : []) {
    const name = m[2] ?? m[5] ?? '';
    // A quoted word counts as a tool name only after "call"/"invoke": "use 'UTC'" names a value.
    const called = m[1] !== undefined && /^(?:call|invoke|trigger)/i.test(m[0]);
    const toolWord = Boolean(m[3] ?? m[6]);
    if (!name || NOT_A_TOOL.has(name.toLowerCase()) || ctx.own.has(name) || ctx.params.has(name)) continue;
    // A quoted name runs to its closing quote: "call 'Resolve Library ID' tool" names a sibling by its title.
    const quote = m[1] ?? m[4];
    if (quote) {
      const open = (m.index ?? 0) + m[0].indexOf(quote) + 1;
      const close = sentence.indexOf(quote, open);
      if (close > open && ownLower(ctx).has(sentence.slice(open, close).toLowerCase())) continue;
    }
    if (isSpecificName(name) || called || toolWord) out.push(`tool ${name}`);
  }
  out.push(...directedDestinations(sentence));
  for (const p of SENSITIVE_PATHS) if (p.re.test(sentence) && !ctx.jobWords.some((w) => p.family.test(w))) out.push(`file ${p.id}`);
  const home = HOME_PATH.exec(sentence) ?? ABSOLUTE_PATH.exec(sentence);
  if (home) out.push(home[0]);
  if (RELAY_OBJECT.test(sentence)) out.push('files read elsewhere');
  if (CONVERSATION.test(sentence)) out.push('the conversation');
  if (PRIVATE_TARGET.test(sentence)) out.push('private data');
  if (CREDENTIAL_QUANTIFIED.test(sentence)) out.push('credentials');
  for (const m of sentence.matchAll(OTHER_SERVER)) {
    const named = (m[1] ?? m[2] ?? '').toLowerCase();
    if (named && (named === ctx.server.toLowerCase() || NOT_A_TOOL.has(named) || named === 'mcp' || SERVER_KIND.has(named))) continue;
    out.push(m[0]);
  }
  return out;
}

/** "an external server", "the remote server": a kind of server, not another MCP server named. */
const SERVER_KIND = new Set([
  'external',
  'remote',
  'local',
  'same',
  'separate',
  'different',
  'upstream',
  'target',
  'source',
  'own',
  'public',
  'private',
  'web',
  'http',
  'api',
]);

const ownLowerCache = new WeakMap<Ctx, Set<string>>();
/** The server's own tool names and titles, lower-cased. */
function ownLower(ctx: Ctx): Set<string> {
  let set = ownLowerCache.get(ctx);
  if (!set) {
    set = new Set([...ctx.own].map((n) => n.toLowerCase()));
    ownLowerCache.set(ctx, set);
  }
  return set;
}

/** A verb that states what something is or does, before the object: the sentence describes, it does not name a value. */
const STATING_VERB = /\b(?:is|are|was|were|share|shares|has|have|holds?|contains?|keeps?|stores?|uses?|gets?|becomes?|means?|refers? to)\b/i;

function isSideChannelName(param: string): boolean {
  const words = nameWords(param);
  return words.some((w) => SIDE_CHANNEL_WORDS.has(w));
}

/**
 * Free-text side-channel parameters (note, context, metadata, …) whose
 * description — or a sentence of the tool description naming them — asks for
 * something unrelated to the tool's job. A plain `context` parameter matches
 * nothing.
 */
function checkSideChannels(def: ToolDefinition, sites: TextSite[], ctx: Ctx, description: string, add: Add): void {
  const sentences = splitSentences(description);
  for (const param of ctx.params) {
    if (!isSideChannelName(param)) continue;
    const asks: { where: string; text: string; own: boolean }[] = [];
    for (const s of sites) if (s.param === param && s.kind === 'description') asks.push({ where: s.where, text: normalizeText(s.text), own: true });
    const named = new RegExp(`(?:^|[^\\w])['"]?${escapeRegExp(param)}['"]?(?:$|[^\\w])`, 'i');
    for (const s of sentences) if (named.test(s.text)) asks.push({ where: 'description', text: s.text, own: false });
    // It must ask. A request asks anywhere; in the parameter's own description a noun phrase naming
    // the value asks too ("The full chat history"), a clause saying what things do does not ("tabs
    // in one context share cookies").
    let found = false;
    for (const a of asks) {
      for (const sentence of splitSentences(a.text)) {
        const m = unrelatedAsk(sentence.text, ctx);
        if (!m) continue;
        const request = isDirective(sentence.text) || REQUEST_NON_MODAL.test(sentence.text);
        const definesValue = a.own && !STATING_VERB.test(sentence.text.slice(0, m.index));
        if (!request && !definesValue) continue;
        add('side_channel_parameter', a.where, a.text, sentence.start + m.index, sentence.start + m.index + m[0].length);
        found = true;
        break;
      }
      if (found) break;
    }
  }
}

function unrelatedAsk(text: string, ctx: Ctx): RegExpExecArray | null {
  for (const p of SENSITIVE_PATHS) {
    const m = p.re.exec(text);
    if (m && !ctx.jobWords.some((w) => p.family.test(w))) return m;
  }
  if (!ctx.jobWords.some((w) => CREDENTIAL_JOB.test(w))) {
    const m = CREDENTIAL.exec(text);
    if (m) return m;
  }
  if (!ctx.jobWords.some((w) => CONVERSATION_JOB.test(w))) {
    const m = CONVERSATION.exec(text);
    if (m) return m;
  }
  const privateData = ctx.jobWords.some((w) => CONVERSATION_JOB.test(w)) ? null : PRIVATE_DATA.exec(text);
  return RELAY_OBJECT.exec(text) ?? privateData ?? HOME_PATH.exec(text) ?? ABSOLUTE_PATH.exec(text);
}

/** Severity from the matched rules: see the module comment. */
function judge(matches: RuleMatch[]): PoisoningVerdict {
  const rules = new Map<string, number>();
  for (const m of matches) rules.set(m.rule, m.weight);
  const score = [...rules.values()].reduce((a, b) => a + b, 0);
  const strong = new Set(matches.filter((m) => m.weight >= 2).map((m) => m.category));
  let severity: Severity | undefined;
  if (matches.some((m) => m.weight >= 3) || strong.size >= 2) severity = 'high';
  else if (strong.size === 1 || score >= 3) severity = 'medium';
  return { severity, score, matches };
}

// ---------------------------------------------------------------------------

export interface PoisoningState {
  /** (agent, server, tool, definition hash) already alerted. */
  alerted: BoundedMap<string, true>;
  /** Verdicts per (server, tool, definition, sibling set): re-lists are a lookup. */
  verdicts: BoundedMap<string, PoisoningVerdict>;
}

export function createPoisoningState(maxAlerted = 200_000, maxVerdicts = 20_000): PoisoningState {
  return { alerted: new BoundedMap(maxAlerted), verdicts: new BoundedMap(maxVerdicts) };
}

/** A definition's human titles (`title`, `annotations.title`). */
function titlesOf(def: ToolDefinition): string[] {
  const annotated = (def.annotations as { title?: unknown } | undefined)?.title;
  return [def.title, annotated].filter((t): t is string => typeof t === 'string' && t.length > 0 && t.length <= 200);
}

/** Judges every tool of one `tools/list` result. Mutates `state`. */
export function detectPoisoning(state: PoisoningState, event: ToolsListEvent): Finding[] {
  const findings: Finding[] = [];
  // Siblings by name and by title: "call the 'Resolve Library ID' tool first" names a sibling.
  const names = event.tools.flatMap((t) => [t.name, ...titlesOf(t)]);
  const siblingsKey = shortHash(names.join('\u0000'));
  for (const def of event.tools) {
    const hash = definitionHash(def);
    const verdictKey = `${event.server}\u0000${def.name}\u0000${hash}\u0000${siblingsKey}`;
    let verdict = state.verdicts.get(verdictKey);
    if (!verdict) {
      verdict = analyzeToolDefinition(def, { server: event.server, siblings: names });
      state.verdicts.set(verdictKey, verdict);
    }
    if (!verdict.severity) continue;
    const alertKey = `${event.agent}\u0000${event.server}\u0000${def.name}\u0000${hash}`;
    if (state.alerted.has(alertKey)) continue;
    state.alerted.set(alertKey, true);
    const rules = [...new Set(verdict.matches.map((m) => m.rule))];
    findings.push({
      severity: verdict.severity,
      detector: POISONING_DETECTOR,
      title: `Tool ${def.name} on server ${event.server} carries instructions aimed at the model rather than documentation (${rules.join(', ')}).`,
      server: event.server,
      tool: def.name,
      agent: event.agent,
      session: event.session,
      evidence: {
        rules,
        score: verdict.score,
        matches: verdict.matches,
        definitionHash: hash,
        listEventId: event.id,
      },
      eventIds: [event.id],
    });
  }
  return findings;
}

export const POISONING = defineDetector({
  id: POISONING_DETECTOR,
  emits: [POISONING_DETECTOR],
  eventTypes: ['tools_list'],
  create: () => createPoisoningState(),
  detect: detectPoisoning,
});
