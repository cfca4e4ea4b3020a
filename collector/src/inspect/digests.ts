/**
 * Content digests: short hashes that let the analyzer see a piece of one
 * call's result turn up in a later call's arguments (exfiltration) without
 * either being shipped.
 *
 * ## The scheme (version 1) — what the analyzer can rely on
 *
 * A digest is 16 lowercase hex characters: a one-character unit tag, then the
 * first 15 hex characters of SHA-256 over the UTF-8 bytes of
 * `"tapwatch-digest-v1\0" + kind + "\0" + unit`. The tag is the unit's kind:
 *
 * | tag | kind      | unit                                                              |
 * |-----|-----------|-------------------------------------------------------------------|
 * | `a` | `token`   | a secret-like string exactly as written (case kept), trimmed,     |
 * |     |           | 6–4096 chars                                                      |
 * | `b` | `line`    | a line: text split on CR, LF, CRLF and the two characters `\n`    |
 * |     |           | (JSON-escaped text), trimmed, whitespace runs made one space;     |
 * |     |           | kept at 24–4096 chars with ≥ 12 letters/digits                    |
 * | `c` | `shingle` | 8 consecutive words (runs of Unicode letters/digits), lowercased, |
 * |     |           | joined by one space; kept when the 8 words total ≥ 24 chars       |
 *
 * `token` units —
 * - result side: each secret span a rule in `secrets.ts` matches (for a
 *   `password=…` assignment the value, for a connection string the password,
 *   for a PEM private key each base64 body line), and the whole result text
 *   when it is one word of 6–512 chars;
 * - argument side: the same rule matches, in each string and in each decoded
 *   form of it; a value under a credential key (`{"password": v}`); each
 *   string that is one word of 6–512 chars; each decoded form that is one
 *   word of 6–512 chars (and base64/hex payloads of 6–512 chars even with
 *   spaces); and candidate words: runs of 8–512 chars between whitespace,
 *   quotes, brackets and `,;|&` (also split again at `=` and `:`), with
 *   leading `([{<'"` and trailing `.,!?:;)]}>'"` dropped, that have a digit
 *   or a symbol, or are ≥ 16 chars and not camelCase/snake_case words.
 *
 * Decoded forms of an argument string (recursively, two levels, ≤ 64 forms,
 * within the inspection budget): percent-decoding; for each URL its query
 * values, fragment, path segments ≥ 8 chars and host labels ≥ 8 chars left of
 * the registrable part; base64/base64url runs ≥ 24 chars (and base64 wrapped
 * over lines) and hex runs ≥ 32 chars that decode to ≥ 90% printable UTF-8.
 * Every decoded form also yields `line` and `shingle` units.
 *
 * Selection (≤ 512 digests per list, tokens first, then lines, then
 * shingles): `line` and `shingle` digests keep the k units with the smallest
 * selection key — a 32-bit hash of the unit (FNV-1a per word/line, murmur3
 * finaliser), internal to the tap — result side 128 lines and 256 shingles,
 * argument side 128 and 192. Bottom-k by a content hash is consistent: a
 * fragment of a text keeps exactly those of the text's kept units that fall
 * inside it, so an excerpt of a large file sent on its own or in a short
 * message (the arguments select their own bottom-k too) still shares about
 * k × |fragment| / |text| of its digests. `token` digests are kept in full
 * up to 128 (result) / 192 (arguments): rule matches first, then decoded
 * payloads and whole-string words, then candidates by entropy × log2(length).
 *
 * Matching: an `a` digest shared between a result and a later call's
 * arguments means a secret named by a rule (or a whole one-word result) went
 * out; shared `b`/`c` digests mean shared text, whose weight depends on how
 * many and where it goes — an agent writing back a file it has just read
 * shares many, which is normal. Only text within the inspection budget
 * (1 MB per side of a call) is digested. Digests are one-way but not keyed:
 * whoever reads the events can test a guessed low-entropy secret against them.
 */
import { createHash } from 'node:crypto';
import { domainToASCII } from 'node:url';
import { scanSecrets, type SecretMatch } from './secrets.js';
import { BASE64_RUN, HEX_RUN, decodeText, fmix32, fnv1a, hasDigit, looksLikeWords, percentDecode, shannonEntropy } from './text.js';

export const DIGEST_SCHEME_VERSION = 1;
export const DIGEST_TAGS = Object.freeze({ token: 'a', line: 'b', shingle: 'c' } as const);
export type DigestKind = keyof typeof DIGEST_TAGS;

export const SHINGLE_WORDS = 8;
const MIN_LINE = 24;
const MAX_LINE = 4096;
const MIN_SHINGLE_CHARS = 24;

/** The digest of one unit (see the scheme above). */
export function digestOf(kind: DigestKind, unit: string): string {
  const h = createHash('sha256').update(`tapwatch-digest-v1\0${kind}\0${unit}`).digest('hex');
  return DIGEST_TAGS[kind] + h.slice(0, 15);
}

/** Keeps the k distinct units with the smallest keys (a bounded max-heap). */
class BottomK {
  private readonly keys: number[] = [];
  private readonly units: string[] = [];
  private readonly present = new Set<number>();
  constructor(private readonly k: number) {}

  /** True when `key` would be kept: lets callers skip building the unit. */
  wants(key: number): boolean {
    if (this.present.has(key)) return false;
    return this.keys.length < this.k || key < (this.keys[0] ?? 0);
  }

  add(key: number, unit: string): void {
    if (!this.wants(key)) return;
    if (this.keys.length >= this.k) {
      this.present.delete(this.keys[0] ?? 0);
      this.keys[0] = key;
      this.units[0] = unit;
      this.siftDown(0);
    } else {
      this.keys.push(key);
      this.units.push(unit);
      this.siftUp(this.keys.length - 1);
    }
    this.present.add(key);
  }

  /** Units by ascending key. */
  sorted(): string[] {
    return this.keys
      .map((k, i) => [k, this.units[i] as string] as const)
      .sort((x, y) => x[0] - y[0])
      .map(([, u]) => u);
  }

  private swap(i: number, j: number): void {
    [this.keys[i], this.keys[j]] = [this.keys[j] as number, this.keys[i] as number];
    [this.units[i], this.units[j]] = [this.units[j] as string, this.units[i] as string];
  }
  private siftUp(i: number): void {
    while (i > 0) {
      const p = (i - 1) >> 1;
      if ((this.keys[p] as number) >= (this.keys[i] as number)) return;
      this.swap(i, p);
      i = p;
    }
  }
  private siftDown(i: number): void {
    const n = this.keys.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let top = i;
      if (l < n && (this.keys[l] as number) > (this.keys[top] as number)) top = l;
      if (r < n && (this.keys[r] as number) > (this.keys[top] as number)) top = r;
      if (top === i) return;
      this.swap(i, top);
      i = top;
    }
  }
}

const WORD = /[\p{L}\p{N}]+/gu;
const LINE_SPLIT = /\r\n|\r|\n|\\n/;

export interface DigestLimits {
  tokens: number;
  lines: number;
  shingles: number;
}

export const RESULT_DIGEST_LIMITS: DigestLimits = Object.freeze({ tokens: 128, lines: 128, shingles: 256 });
export const ARGUMENT_DIGEST_LIMITS: DigestLimits = Object.freeze({ tokens: 192, lines: 128, shingles: 192 });

/** Token priority: rule matches first, then explicit payloads (query values, decoded blobs), then candidate words. */
export const TokenPriority = Object.freeze({ Secret: 0, Payload: 1, Candidate: 2 } as const);
export type TokenPriority = (typeof TokenPriority)[keyof typeof TokenPriority];

/** Collects the units of one side of a call and turns them into at most 512 digests. */
export class DigestCollector {
  private readonly tokens = new Map<string, { priority: number; score: number }>();
  private readonly lines: BottomK;
  private readonly shingles: BottomK;
  private candidateCount = 0;

  constructor(private readonly limits: DigestLimits) {
    this.lines = new BottomK(limits.lines);
    this.shingles = new BottomK(limits.shingles);
  }

  addToken(unit: string, priority: TokenPriority, score = 0): void {
    const u = unit.trim();
    if (u.length < 6 || u.length > 4096) return;
    const prev = this.tokens.get(u);
    if (prev && (prev.priority < priority || (prev.priority === priority && prev.score >= score))) return;
    if (!prev && priority === TokenPriority.Candidate && this.candidateCount++ >= 20_000) return;
    this.tokens.set(u, { priority, score });
  }

  addSecrets(matches: readonly SecretMatch[]): void {
    for (const m of matches) for (const u of m.units) this.addToken(u, TokenPriority.Secret);
  }

  /** Adds a text's lines and shingles. */
  addText(text: string): void {
    for (const raw of text.split(LINE_SPLIT)) {
      if (raw.length < MIN_LINE) continue;
      const line = raw.trim().replace(/\s+/g, ' ');
      if (line.length < MIN_LINE || line.length > MAX_LINE) continue;
      const key = fmix32(fnv1a(line));
      if (!this.lines.wants(key)) continue;
      if ((line.match(/[\p{L}\p{N}]/gu)?.length ?? 0) < 12) continue;
      this.lines.add(key, line);
    }
    this.addShingles(text);
  }

  private addShingles(text: string): void {
    const words: string[] = [];
    const hashes: number[] = [];
    WORD.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = WORD.exec(text)) !== null) {
      const w = m[0].toLowerCase();
      words.push(w);
      hashes.push(fnv1a(w));
    }
    const n = SHINGLE_WORDS;
    let chars = 0;
    for (let i = 0; i < words.length; i++) {
      // Both indexes are in bounds; `?? 0` only satisfies noUncheckedIndexedAccess.
      chars += words[i]?.length ?? 0;
      if (i >= n) chars -= words[i - n]?.length ?? 0;
      if (i < n - 1 || chars < MIN_SHINGLE_CHARS) continue;
      let h = 0x9747b28c;
      for (let j = i - n + 1; j <= i; j++) h = Math.imul(h ^ (hashes[j] as number), 0x5bd1e995) >>> 0;
      const key = fmix32(h);
      if (!this.shingles.wants(key)) continue;
      this.shingles.add(key, words.slice(i - n + 1, i + 1).join(' '));
    }
  }

  /** Candidate secret words of a text (argument side). */
  addCandidateWords(text: string): void {
    CANDIDATE.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = CANDIDATE.exec(text)) !== null) {
      this.addCandidate(m[0]);
      if (/[=:]/.test(m[0])) for (const part of m[0].split(/[=:]+/)) this.addCandidate(part);
      if (this.candidateCount >= 20_000) return;
    }
  }

  private addCandidate(word: string): void {
    const w = word.replace(/^[([{<'"]+|[.,!?:;)\]}>'"]+$/g, '');
    if (w.length < 8 || w.length > 512) return;
    if (!hasDigit(w) && !/[^A-Za-z0-9_.-]/.test(w) && (w.length < 16 || looksLikeWords(w))) return;
    this.addToken(w, TokenPriority.Candidate, shannonEntropy(w) * Math.log2(w.length));
  }

  /** The digests: tokens by priority (then score, then text), then lines and shingles by selection key. */
  digests(): string[] {
    const tokens = [...this.tokens.entries()]
      .sort((x, y) => x[1].priority - y[1].priority || y[1].score - x[1].score || (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0))
      .slice(0, this.limits.tokens)
      .map(([u]) => digestOf('token', u));
    const out = new Set<string>(tokens);
    for (const l of this.lines.sorted()) out.add(digestOf('line', l));
    for (const s of this.shingles.sorted()) out.add(digestOf('shingle', s));
    return [...out].slice(0, 512);
  }
}

const CANDIDATE = /[^\s"'`<>()[\]{},;|&]{8,512}/g;

// ---------------------------------------------------------------------------
// Decoded forms of argument strings

export interface DecodedForm {
  /** How it was decoded, e.g. `url`, `query`, `base64`, `hex`, `url>base64`. */
  via: string;
  text: string;
}

const URL_RE = /\b(?:https?|wss?|ftps?|sftp):\/\/[^\s"'<>`\\]{1,4096}/gi;
const WRAPPED_BASE64 = /(?<![^\n])[ \t]{0,8}(?:[A-Za-z0-9+/]{16,1024}={0,2}[ \t]{0,8}\r?\n[ \t]{0,8}){2,20000}[A-Za-z0-9+/]{0,1024}={0,2}/g;
const MAX_FORMS = 64;

/**
 * The decoded texts hiding in an argument string: percent-decoded, query
 * values, URL path segments, base64/base64url and hex payloads that decode to
 * text — recursively to `depth` 2, at most 64 forms and `budget` characters.
 */
export function decodedForms(s: string, budget: number): DecodedForm[] {
  const out: DecodedForm[] = [];
  let left = budget;
  const seen = new Set<string>([s]);
  const push = (via: string, text: string, depth: number) => {
    if (out.length >= MAX_FORMS || left <= 0 || text.length < 6 || seen.has(text)) return;
    const t = text.length > left ? text.slice(0, left) : text;
    seen.add(text);
    left -= t.length;
    out.push({ via, text: t });
    if (depth < 2) expand(t, via, depth + 1);
  };
  const expand = (text: string, via: string, depth: number) => {
    const prefix = via === '' ? '' : `${via}>`;
    // Matches are collected before pushing: `push` recurses into `expand`, which reuses the regexes.
    const found: [string, string][] = [];
    if (/%[0-9A-Fa-f]{2}/.test(text)) found.push([`${prefix}url`, percentDecode(text)]);
    if (text.includes('://')) {
      for (const url of (text.match(URL_RE) ?? []).slice(0, 32)) for (const part of urlParts(url)) found.push([`${prefix}query`, part]);
    }
    for (const run of (text.match(BASE64_RUN) ?? []).slice(0, 64)) {
      const decoded = decodeText(Buffer.from(run, 'base64'));
      if (decoded !== undefined) found.push([`${prefix}base64`, decoded]);
    }
    // Wrapped base64 (MIME, PEM-style 64/76-char lines): join the lines and decode the whole.
    if (text.includes('\n')) {
      for (const w of (text.match(WRAPPED_BASE64) ?? []).slice(0, 8)) {
        const decoded = decodeText(Buffer.from(w.replace(/\s+/g, ''), 'base64'));
        if (decoded !== undefined) found.push([`${prefix}base64`, decoded]);
      }
    }
    for (const run of (text.match(HEX_RUN) ?? []).slice(0, 64)) {
      const decoded = decodeText(Buffer.from(run, 'hex'));
      if (decoded !== undefined) found.push([`${prefix}hex`, decoded]);
    }
    for (const [v, t] of found) push(v, t, depth);
  };
  expand(s, '', 0);
  return out;
}

/** Query values, fragment, path segments and long host labels of a URL, decoded. */
function urlParts(raw: string): string[] {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return [];
  }
  const parts: string[] = [];
  for (const [, v] of u.searchParams) parts.push(v);
  if (u.hash.length > 1) {
    const frag = u.hash.slice(1);
    parts.push(percentDecode(frag, true));
    if (frag.includes('=')) for (const [, v] of new URLSearchParams(frag)) parts.push(v);
  }
  for (const seg of u.pathname.split('/')) if (seg.length >= 8) parts.push(percentDecode(seg));
  // DNS exfiltration puts data in labels: <data>.attacker.example
  const labels = hostOf(raw)?.split('.') ?? [];
  for (const l of labels.slice(0, -2)) if (l.length >= 8) parts.push(l);
  return parts;
}

/** The host of a URL as written (case kept), without brackets or port. */
function hostOf(url: string): string | undefined {
  const m = /^[a-z][a-z0-9+.-]*:\/\/(?:[^\s/?#@]{0,256}@)?(\[[0-9A-Fa-f:.]{2,45}\]|[^\s/?#:@\\]{1,253})/i.exec(url);
  return m?.[1];
}

// ---------------------------------------------------------------------------
// Destinations

const EMAIL_DOMAIN =
  /(?<=[A-Za-z0-9._%+-])@([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?){1,8})(?![A-Za-z0-9-]|\.[A-Za-z0-9])/g;
const FILE_EXTENSION_TLD =
  /\.(?:png|jpe?g|gif|svg|webp|ico|js|mjs|cjs|ts|tsx|jsx|json|css|scss|html?|md|txt|py|rb|go|rs|java|kt|c|h|cpp|hpp|sh|ya?ml|toml|lock|xml|csv|log|zip|gz|tar|pdf)$/i;

/**
 * Host names of http(s), ws(s), ftp(s) and sftp URLs and domains of e-mail
 * addresses in `text`: lowercased (IDNs in punycode), trailing dot dropped.
 */
export function destinationsIn(text: string, into: Set<string>, max = 64): void {
  if (into.size >= max) return;
  if (text.includes('://')) {
    URL_RE.lastIndex = 0;
    let m: RegExpExecArray | null;
    let n = 0;
    while ((m = URL_RE.exec(text)) !== null && n++ < 256 && into.size < max) {
      const host = hostOf(m[0]);
      if (host) addHost(host, into);
    }
  }
  if (text.includes('@')) {
    EMAIL_DOMAIN.lastIndex = 0;
    let m: RegExpExecArray | null;
    let n = 0;
    while ((m = EMAIL_DOMAIN.exec(text)) !== null && n++ < 256 && into.size < max) {
      const domain = m[1] ?? '';
      const tld = domain.slice(domain.lastIndexOf('.') + 1);
      if (!/^[A-Za-z]{2,63}$/.test(tld) && !/^xn--/i.test(tld)) continue;
      if (FILE_EXTENSION_TLD.test(domain)) continue; // icon@2x.png, pkg@1.2.3
      addHost(domain, into);
    }
  }
}

function addHost(host: string, into: Set<string>): void {
  let h = host.toLowerCase().replace(/\.$/, '');
  if (/[\u0080-\uffff]/.test(h)) h = domainToASCII(h) || h;
  if (h.length > 0 && h.length <= 253) into.add(h);
}

/**
 * A host name safe to ship at `metadata`/`redacted`: labels that are secrets
 * or long random strings (DNS exfiltration: `<key>.attacker.example`) become `*`.
 */
export function maskHost(host: string): string {
  const labels = host.split('.');
  return labels
    .map((l, i) => {
      if (i >= labels.length - 2 || l.length < 16) return l;
      const secret = scanSecrets(l).length > 0 || scanSecrets(l.toUpperCase()).length > 0;
      return secret || (shannonEntropy(l) >= 3.5 && hasDigit(l)) ? '*' : l;
    })
    .join('.');
}
