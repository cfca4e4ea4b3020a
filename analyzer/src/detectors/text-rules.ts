/**
 * Pure text helpers shared by the tool-definition detectors (poisoning,
 * shadowing): where the model-visible text of a definition lives, how to
 * normalise it before matching, invisible characters, sentences, excerpts and
 * identifier tokens. No state, no I/O.
 */
import { createHash } from 'node:crypto';
import type { ToolDefinition } from '@tapwatch/schema';

/** One piece of model-visible text in a tool definition. */
export interface TextSite {
  /** Where it is, as a path: `description`, `inputSchema.properties.note.description`, … */
  where: string;
  text: string;
  /** `description`/`title` are prose; `value` is an enum, default, const or example string. */
  kind: 'description' | 'title' | 'value';
  /** The innermost property the text belongs to, when it sits inside an input property. */
  param?: string;
}

/** A string anywhere in a definition (names and keys included), for character-level checks. */
export interface StringSite {
  where: string;
  text: string;
}

/** Bounds on walking a (possibly hostile) JSON Schema: deep or huge schemas are cut, not followed. */
const MAX_DEPTH = 16;
const MAX_SITES = 2000;

const SCHEMA_MAPS = ['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas'] as const;
const SCHEMA_LISTS = ['anyOf', 'oneOf', 'allOf', 'prefixItems'] as const;
const SCHEMA_NODES = ['additionalProperties', 'not', 'if', 'then', 'else', 'contains', 'propertyNames', 'unevaluatedProperties', 'additionalItems'] as const;
const SCHEMA_VALUES = ['default', 'const', 'examples', 'enum'] as const;

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * The prose a model reads in a definition: the tool's title and description,
 * and every description/title in its input and output schemas (walked
 * recursively through properties, items, anyOf/oneOf/allOf, $defs, …), plus
 * string defaults, consts, enums and examples.
 */
export function collectTextSites(def: ToolDefinition): TextSite[] {
  const out: TextSite[] = [];
  if (typeof def.title === 'string' && def.title) out.push({ where: 'title', text: def.title, kind: 'title' });
  if (typeof def.description === 'string' && def.description) out.push({ where: 'description', text: def.description, kind: 'description' });
  const annotations = def.annotations;
  if (isObject(annotations) && typeof annotations.title === 'string' && annotations.title) {
    out.push({ where: 'annotations.title', text: annotations.title, kind: 'title' });
  }
  walkSchema(def.inputSchema, 'inputSchema', undefined, 0, out);
  walkSchema(def.outputSchema, 'outputSchema', undefined, 0, out);
  return out;
}

function walkSchema(node: unknown, path: string, param: string | undefined, depth: number, out: TextSite[]): void {
  if (depth > MAX_DEPTH || out.length >= MAX_SITES) return;
  if (Array.isArray(node)) {
    node.forEach((n, i) => walkSchema(n, `${path}[${i}]`, param, depth + 1, out));
    return;
  }
  if (!isObject(node)) return;
  const at = (v: TextSite['kind'], field: string, text: string): void => {
    if (out.length < MAX_SITES && text) out.push({ where: `${path}.${field}`, text, kind: v, ...(param === undefined ? {} : { param }) });
  };
  if (typeof node.description === 'string') at('description', 'description', node.description);
  if (typeof node.title === 'string') at('title', 'title', node.title);
  for (const f of SCHEMA_VALUES) {
    const v = node[f];
    if (typeof v === 'string') at('value', f, v);
    else if (Array.isArray(v)) v.forEach((x, i) => typeof x === 'string' && at('value', `${f}[${i}]`, x));
  }
  for (const f of SCHEMA_MAPS) {
    const m = node[f];
    if (!isObject(m)) continue;
    for (const [k, child] of Object.entries(m)) {
      walkSchema(child, `${path}.${f}.${k}`, f === 'properties' ? k : param, depth + 1, out);
    }
  }
  for (const f of SCHEMA_LISTS) if (Array.isArray(node[f])) walkSchema(node[f], `${path}.${f}`, param, depth + 1, out);
  if (node.items !== undefined) walkSchema(node.items, `${path}.items`, param, depth + 1, out);
  for (const f of SCHEMA_NODES) if (isObject(node[f])) walkSchema(node[f], `${path}.${f}`, param, depth + 1, out);
}

/** The names of the top-level input properties (the tool's parameters). */
export function parameterNames(def: ToolDefinition): string[] {
  const schema = def.inputSchema;
  if (!isObject(schema) || !isObject(schema.properties)) return [];
  return Object.keys(schema.properties).slice(0, MAX_SITES);
}

/** Every string in a definition, keys included, for character-level checks (invisible text). */
export function collectAllStrings(def: unknown): StringSite[] {
  const out: StringSite[] = [];
  const walk = (v: unknown, path: string, depth: number): void => {
    if (depth > MAX_DEPTH + 4 || out.length >= MAX_SITES * 2) return;
    if (typeof v === 'string') {
      out.push({ where: path, text: v });
    } else if (Array.isArray(v)) {
      v.forEach((x, i) => walk(x, `${path}[${i}]`, depth + 1));
    } else if (isObject(v)) {
      for (const [k, x] of Object.entries(v)) {
        const p = path ? `${path}.${k}` : k;
        out.push({ where: `${p} (key)`, text: k });
        walk(x, p, depth + 1);
      }
    }
  };
  walk(def, '', 0);
  return out;
}

// ---------------------------------------------------------------------------
// Invisible and control characters

export type InvisibleKind = 'zero_width' | 'bidi_control' | 'unicode_tag' | 'variation_selector' | 'ansi_escape' | 'control_char' | 'blank_filler';

export interface InvisibleHit {
  index: number;
  codePoint: number;
  kind: InvisibleKind;
}

const ZERO_WIDTH = new Set([0x200b, 0x200c, 0x200d, 0x2060, 0x2061, 0x2062, 0x2063, 0x2064, 0xfeff, 0x180e, 0x034f, 0x00ad, 0x17b4, 0x17b5]);
const BLANK_FILLERS = new Set([0x115f, 0x1160, 0x3164, 0xffa0, 0x2800]);
/** Marks and isolates legitimately used inside right-to-left text. */
const BIDI_SOFT = new Set([0x200e, 0x200f, 0x061c, 0x202a, 0x202b, 0x202c, 0x2066, 0x2067, 0x2068, 0x2069]);
/** Overrides reorder text visually: never needed in a tool description. */
const BIDI_HARD = new Set([0x202d, 0x202e]);

const PICTOGRAPHIC = /\p{Extended_Pictographic}|\p{Emoji_Modifier}|\p{Regional_Indicator}/u;
const NON_LATIN_LETTER = /(?!\p{Script=Latin})\p{L}|\p{M}/u;
const RTL_LETTER = /[\p{Script=Hebrew}\p{Script=Arabic}\p{Script=Syriac}\p{Script=Thaana}\p{Script=Nko}]/u;

/**
 * Invisible, reordering and control characters in `text`. Joiners between
 * emoji or inside non-Latin scripts, bidi marks inside right-to-left text,
 * emoji variation selectors and a leading BOM are ordinary and not reported.
 */
export function findInvisible(text: string): InvisibleHit[] {
  const hits: InvisibleHit[] = [];
  const chars = Array.from(text);
  let index = 0;
  let rtl: boolean | undefined;
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    const cp = ch.codePointAt(0)!;
    const at = index;
    index += ch.length;
    let kind: InvisibleKind | undefined;
    if (cp >= 0xe0000 && cp <= 0xe007f) kind = 'unicode_tag';
    else if (cp >= 0xe0100 && cp <= 0xe01ef) kind = 'variation_selector';
    else if (cp >= 0xfe00 && cp <= 0xfe0f) {
      const prev = chars[i - 1];
      const next = chars[i + 1];
      const prevCp = prev?.codePointAt(0) ?? 0;
      const ordinary = prev !== undefined && (PICTOGRAPHIC.test(prev) || prevCp > 0x7f || next === '\u20e3' || /\p{Script=Han}/u.test(prev));
      if (!ordinary || (next !== undefined && /[\ufe00-\ufe0f]/.test(next))) kind = 'variation_selector';
    } else if (cp === 0x1b) kind = 'ansi_escape';
    else if ((cp < 0x20 && cp !== 0x09 && cp !== 0x0a && cp !== 0x0d) || cp === 0x7f || (cp >= 0x80 && cp <= 0x9f)) kind = 'control_char';
    else if (BIDI_HARD.has(cp)) kind = 'bidi_control';
    else if (BIDI_SOFT.has(cp)) {
      rtl ??= RTL_LETTER.test(text);
      if (!rtl) kind = 'bidi_control';
    } else if (BLANK_FILLERS.has(cp)) kind = 'blank_filler';
    else if (ZERO_WIDTH.has(cp)) {
      if (cp === 0xfeff && at === 0) continue;
      if (cp === 0x200d || cp === 0x200c) {
        const prev = chars[i - 1] ?? '';
        const next = chars[i + 1] ?? '';
        const emoji = PICTOGRAPHIC.test(prev) && PICTOGRAPHIC.test(next);
        const script = NON_LATIN_LETTER.test(prev) && NON_LATIN_LETTER.test(next);
        if (emoji || script || (cp === 0x200d && PICTOGRAPHIC.test(next) && /[\ufe0f\u20e3]/.test(prev))) continue;
      }
      kind = 'zero_width';
    }
    if (kind) hits.push({ index: at, codePoint: cp, kind });
  }
  return hits;
}

/**
 * A RegExp character class built from code-point ranges. The classes below
 * list invisible, combining and control characters on purpose; spelling them
 * as numbers keeps them readable and out of reach of lint rules meant for
 * accidental ones.
 */
function codePointClass(ranges: readonly (readonly [number, number] | number)[], flags: string): RegExp {
  const hex = (n: number): string => `\\u{${n.toString(16)}}`;
  const body = ranges.map((r) => (typeof r === 'number' ? hex(r) : `${hex(r[0])}-${hex(r[1])}`)).join('');
  return new RegExp(`[${body}]`, `${flags}u`);
}

const TAGS_AND_SELECTORS = [[0xe0000, 0xe007f], [0xe0100, 0xe01ef]] as const;

/** Every character that `findInvisible` may report (controls aside), for stripping before matching. */
const STRIPPABLE = codePointClass(
  [[0x200b, 0x200f], [0x2060, 0x2064], 0xfeff, 0x180e, 0x034f, 0x00ad, 0x17b4, 0x17b5, [0x202a, 0x202e], [0x2066, 0x2069], 0x061c, [0xfe00, 0xfe0f], ...TAGS_AND_SELECTORS],
  'g',
);
const ESC = String.fromCharCode(0x1b);
const BEL = String.fromCharCode(0x07);
/** ANSI/VT escape sequences: CSI (`ESC [ … m`), OSC (`ESC ] … BEL`) and two-character escapes. */
const ANSI_SEQUENCE = new RegExp(`${ESC}(?:\\[[0-9;?]*[ -/]*[@-~]|\\][^${BEL}${ESC}]{0,256}(?:${BEL}|${ESC}\\\\)?|[@-Z\\\\-_])?`, 'g');

/** Characters an excerpt shows escaped: invisible, reordering, filler and control characters. */
const ESCAPED = codePointClass(
  [
    [0x00, 0x08], 0x0b, 0x0c, [0x0e, 0x1f], [0x7f, 0x9f], 0x00ad, 0x034f, 0x061c, 0x115f, 0x1160, 0x17b4, 0x17b5, 0x180e,
    [0x200b, 0x200f], [0x202a, 0x202e], [0x2060, 0x2064], [0x2066, 0x2069], 0x2800, 0x3164, [0xfe00, 0xfe0f], 0xfeff, 0xffa0,
    ...TAGS_AND_SELECTORS,
  ],
  'g',
);

/** Shows invisible and control characters as `\u{…}` (and line breaks as `\n`), so an excerpt is safe to print and reveals them. */
export function escapeInvisible(text: string): string {
  return text
    .replace(ESCAPED, (ch) => `\\u{${ch.codePointAt(0)!.toString(16).toUpperCase()}}`)
    .replace(/\r?\n/g, '\\n')
    .replace(/\t/g, '\\t');
}

/**
 * Text as matched by rules: invisible characters and ANSI sequences removed
 * (so `ig\u200bnore` still reads `ignore`), compatibility forms folded (NFKC:
 * fullwidth letters become ASCII), typographic quotes and dashes made plain,
 * runs of spaces collapsed. Newlines are kept: they separate sentences.
 */
export function normalizeText(text: string): string {
  return text
    .replace(ANSI_SEQUENCE, ' ')
    .replace(STRIPPABLE, '')
    .normalize('NFKC')
    .replace(/[\u2018\u2019\u201a\u201b\u2032\u00b4`]/g, "'")
    .replace(/[\u201c\u201d\u201e\u201f\u2033]/g, '"')
    .replace(/[\u2010-\u2015\u2212]/g, '-')
    .replace(/[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+/g, ' ');
}

/** A sentence of a normalised text, with its offset. */
export interface Sentence {
  text: string;
  start: number;
}

/**
 * Sentences: split after `.`, `!`, `?` followed by a space, and at line breaks.
 * Dots inside URLs, file names and version numbers do not split.
 */
export function splitSentences(text: string): Sentence[] {
  const out: Sentence[] = [];
  const re = /[^\n]+?(?:[.!?]+(?=\s|$)|(?=\n)|$)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    if (m[0].length === 0) {
      re.lastIndex++;
      continue;
    }
    const lead = m[0].length - m[0].trimStart().length;
    const s = m[0].trim();
    if (s) out.push({ text: s, start: m.index + lead });
  }
  return out;
}

/** At most `max` characters of `text` around [start, end), invisible characters escaped. */
export function excerpt(text: string, start = 0, end = text.length, max = 200): string {
  const span = Math.max(0, end - start);
  let from = start;
  let to = end;
  if (span < max) {
    const pad = Math.floor((max - span) / 2);
    from = Math.max(0, start - pad);
    to = Math.min(text.length, from + max);
    from = Math.max(0, to - max);
  } else {
    to = start + max;
  }
  let s = escapeInvisible(text.slice(from, to)).trim();
  if (from > 0) s = `…${s}`;
  if (to < text.length) s = `${s}…`;
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

// ---------------------------------------------------------------------------
// Directives: sentences that tell the model what to do

/** Directive markers: sequencing the model's actions, obligations on it, imperative clauses. */
const ACTION = 'read|call|invoke|fetch|send|post|upload|forward|include|append|attach|pass|put|copy|add|cc|bcc|mirror|open|run|execute|visit|download|e-?mail|store|save|insert|embed|paste|submit|transmit|share|collect|gather|extract|dump|cat|load|retrieve|grab|provide|route|redirect|proxy|use|write|query|check|look up|fill|set';
export const SEQUENCE_MARKER = new RegExp(
  `\\b(?:before|prior to|after|whenever|every time|each time|once)\\s+(?:you\\s+|the\\s+(?:assistant|agent|model)\\s+)?(?:use|uses|using|call|calls|calling|invoke|invokes|invoking|run|running|execute|executing|access|accessing|read|reads|reading|open|opening|answer\\w*|respond\\w*|reply\\w*|process\\w*|start\\w*|finish\\w*|complet\\w*|return\\w*|(?:this|the|any|an?)\\s+(?:[\\w-]+\\s+)?(?:tool|function|call|request|issue|file|message|page|response))\\b|\\bwhen(?:ever)?\\s+(?:this\\s+tool|the\\s+[\\w-]+\\s+tool|any\\s+(?:other\\s+)?tool)\\s+is\\s+(?:available|present|loaded|installed|enabled|listed|used|called|invoked)\\b|\\bwhen(?:ever)?\\s+(?:you|the (?:assistant|agent|model))\\s+(?:use|call|invoke|run|read|open|send|fetch|create|write)\\b`,
  'i',
);
export const OBLIGATION = new RegExp(
  `\\b(?:you|assistants?|agents?|the (?:assistant|agent|model|ai|llm)|it)\\s+(?:must|should|shall|need to|needs to|have to|has to|are required to|is required to|are expected to|is expected to)\\s+(?:(?:first|also|always|now|then|still|immediately)\\s+){0,2}(?:${ACTION})\\b|\\b(?:must|should|shall|need to|have to)\\s+(?:first|also|always)\\s+(?:${ACTION})\\b|\\b(?:make sure|be sure|ensure|remember|don't forget|do not forget)\\s+(?:that\\s+)?(?:you\\s+)?(?:to\\s+)?(?:first\\s+|also\\s+|always\\s+)?(?:${ACTION})\\b|\\b(?:always|first|also|then|afterwards|additionally|next|finally)\\s*,?\\s+(?:${ACTION})\\b|\\b(?:is|are)\\s+(?:required|mandatory)\\s+(?:to|before|for)\\b|\\bmust\\s+(?:also\\s+)?be\\s+(?:mirrored|copied|forwarded|sent|included|attached|appended|uploaded|posted|shared|reported|synced|stored)\\b`,
  'i',
);
const IMPERATIVE_START = new RegExp(`(?:^|[.!?;:,]\\s+|\\n\\s*|\\band\\s+(?:then\\s+)?|\\bthen\\s+)(?:please\\s+)?(?:${ACTION}|ignore|disregard)\\b`, 'i');
/** Prohibitions protect: "you must not include personal data" is not a directive to include it. */
export const PROHIBITION = /\b(?:do not|don't|dont|never|must not|mustn't|should not|shouldn't|cannot|can't|avoid|no need to|not to)\s+[^,;]{0,120}/gi;

/**
 * True when a (normalised) sentence tells the model to act: it sequences the
 * model's actions ("before using this tool", "whenever you call"), puts an
 * obligation on it ("you must first read", "always include") or is an
 * imperative clause ("Read …", "…, then send …"). Whether the action is the
 * tool's own job is for the caller to judge.
 */
export function isDirective(sentence: string): boolean {
  return SEQUENCE_MARKER.test(sentence) || OBLIGATION.test(sentence) || IMPERATIVE_START.test(sentence);
}

// ---------------------------------------------------------------------------
// Names and identifiers

/** Lookalike letters of other scripts, folded to the Latin letter they imitate (for name spoofing). */
const CONFUSABLES: Record<string, string> = {
  а: 'a', в: 'b', е: 'e', ё: 'e', к: 'k', м: 'm', н: 'h', о: 'o', р: 'p', с: 'c', т: 't', у: 'y', х: 'x',
  ѕ: 's', і: 'i', ї: 'i', ј: 'j', ԁ: 'd', ԛ: 'q', ԝ: 'w', ӏ: 'l', һ: 'h', ɡ: 'g', ɩ: 'i', ı: 'i',
  α: 'a', β: 'b', ε: 'e', η: 'n', ι: 'i', κ: 'k', ν: 'v', ο: 'o', ρ: 'p', τ: 't', υ: 'u', χ: 'x', ω: 'w',
  ℓ: 'l', '﹘': '-', '‐': '-', '‑': '-',
};

/**
 * A key under which look-alike tool names meet: invisible characters dropped,
 * NFKC, lookalike letters folded to Latin, lower case, `_`, `-`, `.` and
 * spaces removed (`read_file`, `Read-File`, `readFile` and `reаd_file` with a
 * Cyrillic `а` share one key).
 */
export function nameKey(name: string): string {
  const folded = Array.from(name.replace(STRIPPABLE, '').normalize('NFKC').toLowerCase())
    .map((c) => CONFUSABLES[c] ?? c)
    .join('');
  return folded.replace(/[\s_.\-:/]+/g, '');
}

/** True when the name holds characters outside printable ASCII (a spoofing tell when it meets an ASCII name). */
export function isNonAscii(name: string): boolean {
  return /[^\x20-\x7e]/.test(name);
}

/** The words of an identifier: `get_file-infoV2` → get, file, info, v2. */
export function nameWords(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
}

/**
 * A name is specific when it is compound — `read_file`, `get-env`,
 * `searchRepos` — rather than one word that is also ordinary English
 * (`search`, `fetch`, `echo`) or a brand (`GitHub`).
 */
export function isSpecificName(name: string): boolean {
  // camelCase starts lower-case: `getTinyImage` is an identifier, `GitHub` and `OpenAI` are brands.
  return /[_\-.]/.test(name.replace(/^[_\-.]+|[_\-.]+$/g, '')) || /^[a-z]+[0-9]*[A-Z]/.test(name);
}

export interface Token {
  token: string;
  index: number;
}

/** Identifier-like tokens (`read_file`, `get-env`, `github`, `createPullRequest`) with their offsets. */
export function identifierTokens(text: string): Token[] {
  const out: Token[] = [];
  const re = /[A-Za-z][A-Za-z0-9]*(?:[_\-.][A-Za-z0-9]+)*/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) out.push({ token: m[0], index: m.index });
  return out;
}

/** Escapes a string for use inside a RegExp. */
export function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A short stable digest of a text. */
export function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}
