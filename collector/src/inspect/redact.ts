/**
 * Redaction: what a tap ships at capture level `redacted`, and the excerpts
 * of findings at every level.
 *
 * - A value under a credential-looking key (`password`, `api_key`,
 *   `Authorization`, `cookie`, …) becomes `"[REDACTED]"`.
 * - A secret inside any string becomes `[REDACTED:<rule>]` (rules in `secrets.ts`).
 * - Strings are cut (`…[+N bytes]`) after masking, and masking looks a
 *   little past the cut, so a secret straddling it is never half shown.
 */
import { scanSecrets, type SecretMatch } from './secrets.js';
import { BASE64_RUN, HEX_RUN, cut, decodeText, percentDecodeMapped, sliceSafe } from './text.js';

export const REDACTED = '[REDACTED]';

/** How far past a cut masking still looks: longer than any single-token secret. */
const REDACT_MARGIN = 4096;

const CREDENTIAL_KEY =
  /(?:password|passwd|passphrase|pwd|secret|token|apikey|accesskey|secretkey|privatekey|signingkey|encryptionkey|authorization|auth|cookie|cookies|credential|credentials|sessionid|sessiontoken|bearer|connectionstring|dsn)$/;
const BENIGN_KEY =
  /(?:pagetoken|nexttoken|continuationtoken|synctoken|cursortoken|resumetoken|maxtoken|numtoken|counttoken|csrftoken|xsrftoken|nopassword|passwordless|haspassword|passwordpolicy)$/;

/** True for key names whose values are credentials by name: `password`, `X-Api-Key`, `client_secret`, `Cookie`. */
export function isCredentialKey(key: string): boolean {
  const k = key.toLowerCase().replace(/[^a-z0-9]/g, '');
  return CREDENTIAL_KEY.test(k) && !BENIGN_KEY.test(k);
}

/**
 * Secret spans of `text`, also where the secret is encoded: a base64 or hex
 * run that decodes to text holding a secret is a span (rule
 * `base64:<rule>`/`hex:<rule>`), and a secret found after percent-decoding
 * is mapped back onto its encoded form. Two levels deep; spans merged.
 */
export function secretSpans(text: string, depth = 0): SecretMatch[] {
  const direct = scanSecrets(text);
  if (depth >= 2 || text.length < 16) return direct;
  const extra: SecretMatch[] = [];
  for (const [re, enc] of [
    [BASE64_RUN, 'base64'],
    [HEX_RUN, 'hex'],
  ] as const) {
    const runs: [number, string][] = [];
    re.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(text)) !== null && runs.length < 64) runs.push([m.index, m[0]]);
    for (const [start, run] of runs) {
      const decoded = decodeText(Buffer.from(run, enc));
      if (decoded === undefined) continue;
      const inner = secretSpans(decoded, depth + 1);
      const first = inner[0];
      if (first) extra.push({ rule: `${enc}:${first.rule}`, start, end: start + run.length, units: inner.flatMap((x) => x.units) });
    }
  }
  if (/%[0-9A-Fa-f]{2}/.test(text)) {
    const { text: decoded, map } = percentDecodeMapped(text);
    for (const s of secretSpans(decoded, depth + 1)) {
      extra.push({ rule: s.rule, start: map[s.start] ?? 0, end: map[s.end] ?? text.length, units: s.units });
    }
  }
  return extra.length === 0 ? direct : mergeSpans([...direct, ...extra]);
}

/** Sorted, non-overlapping spans: overlapping ones are joined under the first one's rule. */
function mergeSpans(spans: SecretMatch[]): SecretMatch[] {
  spans.sort((a, b) => a.start - b.start || b.end - a.end);
  const out: SecretMatch[] = [];
  for (const s of spans) {
    const last = out[out.length - 1];
    if (last && s.start < last.end) {
      if (s.end > last.end) last.end = s.end;
      last.units.push(...s.units);
    } else {
      out.push({ ...s, units: [...s.units] });
    }
  }
  return out;
}

/** Replaces each match's span with `[REDACTED:<rule>]`. */
export function applyMasks(text: string, matches: readonly SecretMatch[]): string {
  if (matches.length === 0) return text;
  let out = '';
  let at = 0;
  for (const m of matches) {
    if (m.start < at) continue;
    out += text.slice(at, m.start) + `[REDACTED:${m.rule}]`;
    at = m.end;
  }
  return out + text.slice(at);
}

/**
 * Masks the secrets in `text` and cuts it to `maxChars` (default: no cut);
 * `missingBytes` counts bytes the caller dropped before. Only the first `maxChars` + a margin are scanned, so a 20 MB string costs
 * no more than a short one.
 */
export function redactText(text: string, maxChars = Number.POSITIVE_INFINITY, missingBytes = 0): string {
  if (!Number.isFinite(maxChars)) return applyMasks(text, secretSpans(text));
  const window = text.length > maxChars + REDACT_MARGIN ? text.slice(0, maxChars + REDACT_MARGIN) : text;
  const masked = applyMasks(window, secretSpans(window));
  const missing = window.length < text.length ? Buffer.byteLength(text) - Buffer.byteLength(window) : 0;
  return cut(masked, maxChars, missing + missingBytes);
}

export interface BoundedCopyOptions {
  /** Mask secrets and credential-keyed values (capture `redacted`) or copy as sent (`full`). */
  mask: boolean;
  /** Longest string kept, in characters. */
  maxString: number;
  /** Characters of strings and keys kept over the whole value; past it strings become `…[cut]`. */
  maxTotal: number;
  /** Items kept per array and keys per object. */
  maxItems?: number;
  /** Deepest nesting kept. */
  maxDepth?: number;
}

/**
 * A bounded copy of a JSON value for an event: strings cut, arrays and
 * objects capped, and with `mask` secrets redacted (keys too: a map keyed by
 * tokens must not ship them).
 */
export function boundedCopy(value: unknown, options: BoundedCopyOptions): unknown {
  const maxItems = options.maxItems ?? 1000;
  const maxDepth = options.maxDepth ?? 32;
  let budget = options.maxTotal;
  const str = (s: string, max: number): string => {
    if (budget <= 0) return '…[cut]';
    const out = options.mask ? redactText(s, Math.min(max, Math.max(16, budget))) : cut(s, Math.min(max, Math.max(16, budget)));
    budget -= out.length;
    return out;
  };
  const walk = (v: unknown, depth: number): unknown => {
    if (typeof v === 'string') return str(v, options.maxString);
    if (v === null || typeof v === 'number' || typeof v === 'boolean') return v;
    if (typeof v !== 'object') return null;
    if (depth >= maxDepth) return '…[too deep]';
    if (Array.isArray(v)) {
      const out: unknown[] = [];
      for (let i = 0; i < v.length; i++) {
        if (i >= maxItems || budget <= 0) {
          out.push(`…[+${v.length - i} items]`);
          break;
        }
        out.push(walk(v[i], depth + 1));
      }
      return out;
    }
    const out: Record<string, unknown> = {};
    const keys = Object.keys(v);
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i] as string;
      if (i >= maxItems || budget <= 0) {
        define(out, '…', `[+${keys.length - i} keys]`);
        break;
      }
      const item = (v as Record<string, unknown>)[k];
      const key = str(k, 256);
      const masked = options.mask && isCredentialKey(k) && item !== null && typeof item !== 'boolean' && item !== '';
      define(out, key, masked ? REDACTED : walk(item, depth + 1));
    }
    return out;
  };
  return walk(value, 0);
}

/** Own enumerable property even for `__proto__`: a copied key must not reach the prototype. */
function define(o: Record<string, unknown>, k: string, value: unknown): void {
  Object.defineProperty(o, k, { value, enumerable: true, writable: true, configurable: true });
}

/** Characters an excerpt shows escaped: controls, zero-width, bidi controls, Unicode tags. */
const INVISIBLE_FOR_EXCERPT =
  // eslint-disable-next-line no-control-regex -- control characters are what an excerpt must not show raw
  /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]|[\u{e0000}-\u{e007f}]/gu;
/** Long alphanumeric runs left in an excerpt (a secret cut at the window's edge no rule can recognise): never shown. */
const LONG_RUN = /[A-Za-z0-9+/=_-]{24,}/g;

const EXCERPT_CONTEXT = 40;
const EXCERPT_MAX = 300;

/**
 * A short, redacted excerpt around `[start, end)` of `text`: secrets that
 * overlap it are masked whole (found in a wider window), `maskAs` masks the
 * span itself, partial words at the edges are dropped, long alphanumeric
 * runs become `[…]`, and invisible characters are shown as `<U+XXXX>`.
 */
export function excerpt(text: string, start: number, end: number, maskAs?: string): string {
  let a = Math.max(0, start - EXCERPT_CONTEXT);
  let b = Math.min(text.length, Math.max(end, start) + EXCERPT_CONTEXT);
  if (b - a > EXCERPT_MAX) b = a + EXCERPT_MAX;
  // Drop partial words at the edges: a cut secret is no longer recognisable.
  if (a > 0 && /\S/.test(text.charAt(a - 1))) {
    const ws = text.slice(a, start).search(/\s/);
    a = ws === -1 ? start : a + ws + 1;
  }
  if (b < text.length && /\S/.test(text.charAt(b))) {
    const tail = text.slice(Math.max(end, a), b);
    const ws = Math.max(tail.lastIndexOf(' '), tail.lastIndexOf('\n'), tail.lastIndexOf('\t'));
    b = ws === -1 ? Math.max(end, a) : Math.max(end, a) + ws;
  }
  const wa = Math.max(0, a - 300);
  const wb = Math.min(text.length, b + 300);
  const wide = text.slice(wa, wb);
  const masks: SecretMatch[] = secretSpans(wide).map((m) => ({ ...m, start: m.start + wa, end: m.end + wa }));
  if (maskAs !== undefined) masks.push({ rule: maskAs, start, end, units: [] });
  masks.sort((x, y) => x.start - y.start);
  let out = a > 0 ? '…' : '';
  let at = a;
  for (const m of masks) {
    if (m.end <= at || m.start >= b) continue;
    out += text.slice(at, Math.max(at, m.start)) + `[REDACTED:${m.rule}]`;
    at = Math.min(b, Math.max(at, m.end));
  }
  out += text.slice(at, b) + (b < text.length ? '…' : '');
  out = out
    .replace(LONG_RUN, (run) => (/[0-9]/.test(run) && /[A-Za-z]/.test(run) ? '[…]' : run))
    .replace(INVISIBLE_FOR_EXCERPT, (c) => `<U+${(c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}>`)
    .replace(/\s+/g, ' ');
  return out.length > EXCERPT_MAX ? sliceSafe(out, 0, EXCERPT_MAX - 1) + '…' : out;
}
