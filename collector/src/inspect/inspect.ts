/**
 * Content inspection of one tool call: what the tap adds to a `tool_call`
 * event beyond sizes and hashes. Pure functions, no I/O.
 *
 * Findings, digests and destinations are computed at every capture level, on
 * the raw text, before redaction; what ships of the content itself depends on
 * the level (`metadata`: nothing, `redacted`: masked and cut, `full`: as sent,
 * cut only to keep an event bounded). Cost is bounded: at most
 * `INSPECTION_LIMITS.maxInspectedChars` of text per side of a call is
 * inspected (the rest is counted, not read), and every rule is linear.
 */
import type { CaptureLevel, ContentFinding } from '@tapwatch/schema';
import { checkArgumentString, checkInjection, checkInvisible, stripInvisible, type RawFinding } from './checks.js';
import { ARGUMENT_DIGEST_LIMITS, DigestCollector, RESULT_DIGEST_LIMITS, TokenPriority, decodedForms, destinationsIn, maskHost } from './digests.js';
import { boundedCopy, excerpt, isCredentialKey, redactText } from './redact.js';
import { isCredentialValue, scanSecrets } from './secrets.js';
import { cut } from './text.js';

export const INSPECTION_LIMITS = Object.freeze({
  /** Characters of text inspected per side of a call (argument strings and their decoded forms; result text). */
  maxInspectedChars: 1024 * 1024,
  /** `redacted`: longest argument string shipped. */
  redactedStringChars: 2000,
  /** `redacted`: characters of all argument strings shipped. */
  redactedArgumentChars: 64 * 1024,
  /** `redacted`: result preview length. */
  redactedPreviewChars: 4096,
  /**
   * `full`: longest argument string and all of them together. JSON escaping
   * can grow a character to six bytes, so 512 K characters stay below
   * LIMITS.maxEventBytes (4 MB) whatever they are.
   */
  fullStringChars: 256 * 1024,
  fullArgumentChars: 512 * 1024,
  /** `full`: result preview length (the schema's cap). */
  fullPreviewChars: 16 * 1024,
  /** Most argument strings walked. */
  maxStrings: 10_000,
  maxFindings: 64,
  maxDestinations: 64,
});

export interface ArgumentInspection {
  /** The arguments to ship (absent at `metadata`). */
  arguments?: unknown;
  findings: ContentFinding[];
  argumentDigests: string[];
  destinations: string[];
  /** Characters of argument text past the inspection budget. */
  uninspectedChars: number;
}

export interface ResultInspection {
  /** Absent at `metadata` and for errors. */
  resultPreview?: string;
  findings: ContentFinding[];
  resultDigests: string[];
  uninspectedChars: number;
}

interface StringEntry {
  value: string;
  path: string;
  /** The nearest named key (array items inherit their array's key). */
  key: string | undefined;
}

/** Inspects a `tools/call` request's `arguments`. Never throws on any JSON value. */
export function inspectArguments(args: unknown, capture: CaptureLevel): ArgumentInspection {
  const findings = new FindingList('arguments');
  const digests = new DigestCollector(ARGUMENT_DIGEST_LIMITS);
  const hosts = new Set<string>();
  let left = INSPECTION_LIMITS.maxInspectedChars;
  let uninspected = 0;

  const { entries, skippedChars } = stringsOf(args);
  uninspected += skippedChars;
  for (const entry of entries) {
    if (left <= 0) {
      uninspected += entry.value.length;
      continue;
    }
    const s = entry.value.length > left ? entry.value.slice(0, left) : entry.value;
    uninspected += entry.value.length - s.length;
    left -= s.length;

    const named = inspectArgumentText(s, entry, findings, digests, hosts);
    // `{"password": "hunter2xyz"}`: the key says what the value is, when no rule already named it.
    if (named === 0 && entry.key !== undefined && isCredentialKey(entry.key) && isCredentialValue(s)) {
      findings.add({ kind: 'secret', rule: 'credential_argument', start: 0, end: s.length }, s, entry.path, true);
      digests.addToken(s, TokenPriority.Secret);
    }
    const single = s.trim();
    if (single.length >= 6 && single.length <= 512 && !/\s/.test(single)) digests.addToken(single, TokenPriority.Payload);

    for (const form of decodedForms(s, left)) {
      left -= form.text.length;
      inspectArgumentText(form.text, entry, findings, digests, hosts);
      const t = form.text.trim();
      if (t.length >= 6 && t.length <= 512 && (!/\s/.test(t) || form.via.endsWith('base64') || form.via.endsWith('hex'))) {
        digests.addToken(t, TokenPriority.Payload);
      }
    }
  }

  const out: ArgumentInspection = {
    findings: findings.list(),
    argumentDigests: digests.digests(),
    destinations: [...hosts]
      .map((h) => (capture === 'full' ? h : maskHost(h)))
      .filter((h, i, all) => all.indexOf(h) === i)
      .slice(0, INSPECTION_LIMITS.maxDestinations)
      .map((h) => h.slice(0, 256)),
    uninspectedChars: uninspected,
  };
  if (capture !== 'metadata' && args !== undefined) {
    out.arguments =
      capture === 'full'
        ? boundedCopy(args, { mask: false, maxString: INSPECTION_LIMITS.fullStringChars, maxTotal: INSPECTION_LIMITS.fullArgumentChars })
        : boundedCopy(args, { mask: true, maxString: INSPECTION_LIMITS.redactedStringChars, maxTotal: INSPECTION_LIMITS.redactedArgumentChars });
  }
  return out;
}

/** Runs every argument check on one text (a string or a decoded form of it); returns how many secrets the rules named. */
function inspectArgumentText(text: string, entry: StringEntry, findings: FindingList, digests: DigestCollector, hosts: Set<string>): number {
  const secrets = scanSecrets(text, { keyHint: entry.key });
  for (const m of secrets) findings.add({ kind: 'secret', rule: m.rule, start: m.start, end: m.end }, text, entry.path, true);
  digests.addSecrets(secrets);
  for (const f of checkArgumentString(text, entry.key)) findings.add(f, text, entry.path, false);
  destinationsIn(text, hosts, INSPECTION_LIMITS.maxDestinations);
  digests.addText(text);
  digests.addCandidateWords(text);
  return secrets.length;
}

/**
 * Inspects a `tools/call` result. `serialized` is `JSON.stringify(result)`
 * when the caller has it already (the tracker measures it), used when the
 * result has no text content.
 */
export function inspectResult(result: Record<string, unknown>, capture: CaptureLevel, serialized?: string): ResultInspection {
  const max = INSPECTION_LIMITS.maxInspectedChars;
  const { text, missingChars, missingBytes } = resultText(result, max, serialized);
  const out = inspectResultText(text);
  out.uninspectedChars = missingChars;
  if (capture === 'redacted') out.resultPreview = redactText(text, INSPECTION_LIMITS.redactedPreviewChars, missingBytes);
  if (capture === 'full') out.resultPreview = cut(text, INSPECTION_LIMITS.fullPreviewChars, missingBytes);
  return out;
}

/** Inspects a JSON-RPC error's message and data (no preview: the event's `errorMessage` carries the message). */
export function inspectError(error: Record<string, unknown>): ResultInspection {
  const parts: string[] = [];
  if (typeof error.message === 'string') parts.push(error.message);
  if (error.data !== undefined) parts.push(typeof error.data === 'string' ? error.data : boundedJson(error.data, INSPECTION_LIMITS.maxInspectedChars).text);
  const text = parts.join('\n').slice(0, INSPECTION_LIMITS.maxInspectedChars);
  return inspectResultText(text);
}

function inspectResultText(text: string): ResultInspection {
  const findings = new FindingList('result');
  const digests = new DigestCollector(RESULT_DIGEST_LIMITS);

  const secrets = scanSecrets(text);
  for (const m of secrets) findings.add({ kind: 'secret', rule: m.rule, start: m.start, end: m.end }, text, undefined, true);
  digests.addSecrets(secrets);

  const invisible = checkInvisible(text);
  for (const f of invisible.findings) findings.add(f, text, undefined, false);
  // Injection phrases are read with invisible characters removed (`ig<ZWSP>nore previous instructions`).
  const readable = invisible.findings.length > 0 ? stripInvisible(text) : text;
  for (const f of checkInjection(readable)) findings.add(f, readable, undefined, false);
  if (invisible.hidden.length > 0) {
    for (const f of checkInjection(invisible.hidden)) findings.add(f, invisible.hidden, undefined, false, 'hidden: ');
  }

  const single = text.trim();
  if (single.length >= 6 && single.length <= 512 && !/\s/.test(single)) digests.addToken(single, TokenPriority.Payload);
  digests.addText(text);
  return { findings: findings.list(), resultDigests: digests.digests(), uninspectedChars: 0 };
}

/**
 * The text a result stands for, at most `max` characters: its text content
 * items (and embedded text resources) joined by newlines; else its
 * `structuredContent` as JSON; else the whole result as JSON. Image, audio
 * and blob items are skipped — base64 is not text.
 */
export function resultText(result: Record<string, unknown>, max: number, serialized?: string): { text: string; missingChars: number; missingBytes: number } {
  const pieces: string[] = [];
  let have = 0;
  let missingChars = 0;
  let missingBytes = 0;
  const take = (s: string) => {
    const sep = pieces.length > 0 ? 1 : 0;
    const room = max - have - sep;
    if (room <= 0) {
      missingChars += s.length;
      missingBytes += Buffer.byteLength(s);
      return;
    }
    const t = s.length > room ? s.slice(0, room) : s;
    if (t.length < s.length) {
      missingChars += s.length - t.length;
      missingBytes += Buffer.byteLength(s) - Buffer.byteLength(t);
    }
    pieces.push(t);
    have += t.length + sep;
  };
  let sawText = false;
  if (Array.isArray(result.content)) {
    for (const item of result.content) {
      if (!isObject(item)) continue;
      const type = item.type;
      if (type === 'image' || type === 'audio') continue;
      if (type === 'resource' && isObject(item.resource)) {
        if (typeof item.resource.text === 'string') {
          take(item.resource.text);
          sawText = true;
        }
        continue;
      }
      if (type === 'resource_link') {
        if (typeof item.uri === 'string') take(item.uri);
        continue;
      }
      if (typeof item.text === 'string') {
        take(item.text);
        sawText = true;
      }
    }
  }
  if (!sawText && result.structuredContent !== undefined) {
    const j = boundedJson(result.structuredContent, max);
    take(j.text);
    if (!j.complete) {
      // Not serialized past the budget: the whole result's size stands in for what is left.
      const rest = Math.max(1, (serialized?.length ?? 0) - j.text.length);
      missingChars += rest;
      missingBytes += rest;
    }
  } else if (!sawText && pieces.length === 0 && !Array.isArray(result.content)) {
    const s = serialized ?? boundedJson(result, max).text;
    take(s);
  }
  return { text: pieces.join('\n'), missingChars, missingBytes };
}

/** JSON of a value, stopping once past `max` characters (never builds the whole of a 20 MB value). */
export function boundedJson(value: unknown, max: number): { text: string; complete: boolean } {
  const parts: string[] = [];
  let len = 0;
  let complete = true;
  const put = (s: string) => {
    parts.push(s);
    len += s.length;
  };
  const walk = (v: unknown, depth: number): void => {
    if (len > max) {
      complete = false;
      return;
    }
    if (v === null || typeof v === 'number' || typeof v === 'boolean') return put(JSON.stringify(v));
    if (typeof v === 'string') return put(JSON.stringify(v.length > max - len + 2 ? v.slice(0, Math.max(0, max - len + 2)) : v));
    if (typeof v !== 'object' || depth > 64) return put('null');
    if (Array.isArray(v)) {
      put('[');
      v.forEach((x, i) => {
        if (len > max) return;
        if (i > 0) put(',');
        walk(x, depth + 1);
      });
      return put(']');
    }
    put('{');
    let first = true;
    for (const [k, x] of Object.entries(v)) {
      if (len > max) break;
      if (x === undefined) continue;
      put(`${first ? '' : ','}${JSON.stringify(k)}:`);
      first = false;
      walk(x, depth + 1);
    }
    put('}');
  };
  walk(value, 0);
  if (len > max) complete = false;
  const text = parts.join('');
  return { text: text.length > max ? text.slice(0, max) : text, complete };
}

/**
 * Every string in a JSON value with its path, depth-first, at most
 * `maxStrings` (and 64 levels deep); the characters of strings past that are
 * counted, not collected.
 */
function stringsOf(value: unknown): { entries: StringEntry[]; skippedChars: number } {
  const entries: StringEntry[] = [];
  let skippedChars = 0;
  const walk = (v: unknown, path: string, key: string | undefined, depth: number) => {
    if (depth > 64) return;
    const full = entries.length >= INSPECTION_LIMITS.maxStrings;
    if (typeof v === 'string') {
      if (full) skippedChars += v.length;
      else entries.push({ value: v, path, key });
    } else if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) walk(v[i], full ? path : `${path}[${i}]`, key, depth + 1);
    } else if (isObject(v)) {
      for (const k of Object.keys(v)) walk(v[k], full ? path : joinPath(path, k), k, depth + 1);
    }
  };
  walk(value, '', undefined, 0);
  return { entries, skippedChars };
}

function joinPath(path: string, key: string): string {
  const safe = redactText(key, 128);
  const seg = /^[A-Za-z_$][\w$-]*$/.test(safe) ? safe : JSON.stringify(safe);
  if (path === '') return /^[A-Za-z_$][\w$-]*$/.test(safe) ? seg : `[${seg}]`;
  return /^[A-Za-z_$][\w$-]*$/.test(safe) ? `${path}.${seg}` : `${path}[${seg}]`;
}

/** Findings of one side, deduplicated by kind, rule and field, capped, excerpts redacted. */
class FindingList {
  private readonly items: ContentFinding[] = [];
  private readonly seen = new Set<string>();
  constructor(private readonly where: ContentFinding['where']) {}

  add(f: RawFinding, text: string, field: string | undefined, maskSpan: boolean, prefix = ''): void {
    if (this.items.length >= INSPECTION_LIMITS.maxFindings) return;
    const key = `${f.kind}\0${f.rule}\0${field ?? ''}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    const finding: ContentFinding = { kind: f.kind, where: this.where, rule: f.rule.slice(0, 128) };
    if (field !== undefined && field !== '') finding.field = field.slice(0, 256);
    finding.excerpt = (prefix + excerpt(text, f.start, f.end, maskSpan ? f.rule : undefined)).slice(0, 300);
    this.items.push(finding);
  }

  list(): ContentFinding[] {
    return this.items;
  }
}

/** Findings of both sides for one event: arguments first, each side keeping at least half of the cap when it has that many. */
export function mergeFindings(args: readonly ContentFinding[], result: readonly ContentFinding[], max = INSPECTION_LIMITS.maxFindings): ContentFinding[] {
  const half = Math.floor(max / 2);
  const a = args.slice(0, Math.max(half, max - result.length));
  return [...a, ...result.slice(0, max - a.length)];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
