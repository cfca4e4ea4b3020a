/**
 * Secret detection: a table of named rules, each a linear regular expression
 * (anchored at token starts with a lookbehind, bounded quantifiers, no nested
 * repetition) plus an optional check in code for what a regex cannot say
 * (a JWT header that decodes to JSON with `alg`, a value that is not a
 * placeholder). `scanSecrets` runs them all and returns non-overlapping spans.
 *
 * Tuned for precision on what tools return every day — source code, JSON,
 * CSV, logs, lockfiles, git output, base64 images — over recall on exotic
 * credential formats; the digests in `digests.ts` catch a secret moving
 * between calls even when no rule here names it.
 */
import { classTransitions, hasDigit, hasLetter, looksLikeWords, shannonEntropy } from './text.js';

export interface SecretMatch {
  /** Rule name, e.g. `aws_access_key_id`. */
  rule: string;
  /** Span of the secret in the scanned text (what redaction masks). */
  start: number;
  end: number;
  /** The strings that stand for this secret in digests: the secret itself, or each body line of a PEM block. */
  units: string[];
}

export interface RegexRule {
  name: string;
  /** Flags `g` and `d`; named group `s` is the secret (else the whole match). */
  re: RegExp;
  /** Extra judgement on a match; `s` is the secret text. */
  accept?: (s: string, m: RegExpExecArray, text: string, start: number, end: number) => boolean;
}

/** Most matches a single rule reports per text: a pathological input cannot make scanning quadratic. */
const MAX_MATCHES_PER_RULE = 512;
/** Longest PEM block we follow (a 16k-bit RSA key is ~13 KB). */
const MAX_PEM_BLOCK = 64 * 1024;

const PLACEHOLDER =
  /^(?:[$%<{[*#]|x{3,}$|\.{3}|…)|\{\{|\$\{|\*{3,}|x{4,}|(?:^|[_-])(?:your|example|sample|placeholder|changeme|change_me|dummy|fake|redacted|replace|todo|tbd|xxx)(?:[_-]|$)/i;
const NOT_A_VALUE = new Set([
  'string',
  'str',
  'number',
  'int',
  'integer',
  'boolean',
  'bool',
  'bytes',
  'object',
  'any',
  'unknown',
  'none',
  'null',
  'nil',
  'undefined',
  'true',
  'false',
  'required',
  'optional',
  'text',
  'hidden',
  'secret',
  'password',
  'token',
  'value',
  'readonly',
  'function',
  'default',
  'omitted',
  'masked',
  'notset',
  'not_set',
  'empty',
]);

const CODE_REFERENCE =
  /^(?:process\.env|import\.meta\.env|os\.environ|os\.getenv|env|secrets|vars|inputs|config|settings|self|this|ctx|req|request|options|opts|props|params|args)\./i;

/** Key names that carry credentials' names but not credentials: pagination cursors and the like. */
const BENIGN_TOKEN_KEYS =
  /(?:page|next|continuation|sync|cursor|resume|csrf|xsrf|verification|reset|refresh_?after|max|num|count|progress|idempotency|request|cancellation|cancel|lexer|parser|syntax|punctuator|arrow|comment|string|keyword|identifier)[_-]?token$/i;

/** True for values of `password=…` that name or point at a secret rather than being one. */
function isPlaceholderOrReference(v: string, text: string, end: number): boolean {
  const lower = v.toLowerCase();
  if (NOT_A_VALUE.has(lower)) return true;
  if (PLACEHOLDER.test(v)) return true;
  if (/^=|^[0-9.]+$|^[a-z][a-z0-9+.-]*:\/\//i.test(v)) return true;
  if (/^(?:\/|\.\.?\/|~\/|[A-Za-z]:\\)/.test(v)) return true; // a path (PWD=/home/me)
  if (/^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+$/.test(v) && !hasDigit(v)) return true; // config.password, this.token
  if (CODE_REFERENCE.test(v)) return true; // process.env.TOKEN!, os.environ['X']
  if (/^!+[A-Za-z_$]/.test(v)) return true; // !!node.exclamationToken
  if (text.charCodeAt(end) === 40 /* ( */) return true; // getPassword()
  if (new Set(v).size <= 2) return true; // aaaaaa, ------
  return false;
}

/** A value strong enough to be a real credential rather than prose or an identifier. */
function isNonTrivialValue(v: string): boolean {
  if (hasDigit(v) || /[^A-Za-z0-9_.-]/.test(v)) return true;
  return v.length >= 12 && !looksLikeWords(v);
}

/**
 * True when `v`, found under a credential-looking key (`{ "password": v }`),
 * is a real value rather than a placeholder, a reference or a type name.
 */
export function isCredentialValue(v: string): boolean {
  const t = v.trim();
  return t.length >= 6 && t.length <= 4096 && !/\s/.test(t) && !isPlaceholderOrReference(t, t, t.length) && isNonTrivialValue(t);
}

/** Reads the key name ending at `end` (letters, digits, `_`, `-`, `.`). */
function keyNameBefore(text: string, end: number): string {
  let i = end;
  while (i > 0 && end - i < 64 && /[A-Za-z0-9_.-]/.test(text.charAt(i - 1))) i--;
  return text.slice(i, end);
}

function jwtHeaderOk(s: string): boolean {
  const head = Buffer.from(s.slice(0, s.indexOf('.')), 'base64url').toString('utf8');
  // Cheap test first: look-alikes must not cost an exception each.
  if (!head.startsWith('{') || !head.trimEnd().endsWith('}') || !head.includes('"alg"')) return false;
  try {
    const json: unknown = JSON.parse(head);
    return typeof json === 'object' && json !== null && typeof (json as Record<string, unknown>).alg === 'string';
  } catch {
    return false;
  }
}

/** Prefixed tokens start where an alphanumeric run starts (`MY_TOKEN_ghp_…` and `--key=sk-…` still count). */
const TOKEN_START = '(?<![A-Za-z0-9])';
/** …and end where their alphabet ends, so a trailing `-` or `_` cannot hide one. */
const tokenEnd = (alphabet: string) => `(?![${alphabet}])`;

/** The regex rules, most specific first: where spans overlap, the earlier rule names the secret. */
export const SECRET_RULES: readonly RegexRule[] = Object.freeze([
  {
    name: 'aws_access_key_id',
    re: /(?<![A-Za-z0-9])(?<s>(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})(?![A-Za-z0-9])/dg,
  },
  { name: 'github_token', re: new RegExp(`${TOKEN_START}(?<s>gh[pousr]_[A-Za-z0-9]{36,251})${tokenEnd('A-Za-z0-9')}`, 'dg') },
  { name: 'github_fine_grained_token', re: new RegExp(`${TOKEN_START}(?<s>github_pat_[A-Za-z0-9_]{22,244})${tokenEnd('A-Za-z0-9_')}`, 'dg') },
  { name: 'gitlab_token', re: new RegExp(`${TOKEN_START}(?<s>glpat-[A-Za-z0-9_-]{20,64})${tokenEnd('A-Za-z0-9_-')}`, 'dg') },
  {
    name: 'slack_token',
    re: new RegExp(`${TOKEN_START}(?<s>xox[abprs]-[A-Za-z0-9-]{10,250})${tokenEnd('A-Za-z0-9-')}`, 'dg'),
    accept: (s) => hasDigit(s),
  },
  { name: 'stripe_secret_key', re: new RegExp(`${TOKEN_START}(?<s>[sr]k_live_[A-Za-z0-9]{20,247})${tokenEnd('A-Za-z0-9')}`, 'dg') },
  { name: 'google_api_key', re: new RegExp(`${TOKEN_START}(?<s>AIza[A-Za-z0-9_-]{35})${tokenEnd('A-Za-z0-9_-')}`, 'dg') },
  { name: 'anthropic_api_key', re: new RegExp(`${TOKEN_START}(?<s>sk-ant-[A-Za-z0-9_-]{32,250})${tokenEnd('A-Za-z0-9_-')}`, 'dg') },
  {
    name: 'openai_api_key',
    re: new RegExp(`${TOKEN_START}(?<s>sk-(?!ant-)(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,250})${tokenEnd('A-Za-z0-9_-')}`, 'dg'),
    accept: (s) => /[0-9]/.test(s) && /[A-Z]/.test(s) && /[a-z].*[a-z]/.test(s.slice(3)),
  },
  { name: 'npm_token', re: new RegExp(`${TOKEN_START}(?<s>npm_[A-Za-z0-9]{36})${tokenEnd('A-Za-z0-9')}`, 'dg') },
  {
    name: 'jwt',
    // Strict start (not after `-`/`_`): attempts begin only at run starts, which keeps `eyJ-eyJ-…` linear.
    re: /(?<![A-Za-z0-9_-])(?<s>eyJ[A-Za-z0-9_-]{5,2048}\.[A-Za-z0-9_-]{2,8192}\.[A-Za-z0-9_-]{0,4096})(?![A-Za-z0-9_-])/dg,
    accept: (s) => jwtHeaderOk(s),
  },
  {
    name: 'aws_secret_access_key',
    re: /(?:aws_?secret_?(?:access_?)?key|secret_?access_?key)[^\n]{0,30}?(?<![A-Za-z0-9/+])(?<s>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])/dgi,
    accept: (s) => hasDigit(s) && /[A-Z]/.test(s) && /[a-z]/.test(s),
  },
  {
    name: 'connection_string_credentials',
    re: /:\/\/(?<u>[^\s:/?#@"'<>[\]]{0,128}):(?<s>[^\s/?#@"'<>]{1,256})@(?=[A-Za-z0-9[_-])/dg,
    accept: (s, m, text) =>
      /[A-Za-z0-9]/.test(text.charAt(m.index - 1)) && s.length >= 6 && !PLACEHOLDER.test(s) && !NOT_A_VALUE.has(s.toLowerCase()) && isNonTrivialValue(s),
  },
  {
    name: 'authorization_header',
    re: /(?<![A-Za-z-])(?:proxy-)?authorization["']?[ \t]{0,3}[:=][ \t]{0,3}["']?(?:(?:Bearer|Basic|Token|Bot|Digest)[ \t]{1,3})?(?<s>[A-Za-z0-9._~+/-]{8,4096}=*)(?![A-Za-z0-9._~+/=-])/dgi,
    accept: (s) => (hasDigit(s) || shannonEntropy(s) >= 3) && !looksLikeWords(s),
  },
  {
    name: 'bearer_token',
    re: /(?<![A-Za-z])Bearer[ \t]{1,3}(?<s>[A-Za-z0-9._~+/-]{16,4096}=*)(?![A-Za-z0-9._~+/=-])/dg,
    accept: (s) => hasDigit(s) && hasLetter(s),
  },
  {
    name: 'credential_assignment',
    re: /(?<k>pass(?:word|wd|phrase)?|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|client[_-]?secret|auth[_-]?token|credentials?|(?<=[_-])key)["']?[ \t]{0,3}(?::?=|:)[ \t]{0,3}["'`]?(?<s>[^\s"'`,;<>(){}[\]\\]{5,255}[^\s"'`,;<>(){}[\]\\.])/dgi,
    accept: (s, m, text, start, end) => {
      const k = m.groups?.k ?? '';
      const kStart = m.index;
      const before = text.charAt(kStart - 1);
      // The keyword must begin a key name or a camelCase word: `db_password`, `dbPassword`, not `bypass`.
      if (/[A-Za-z]/.test(before) && !(/[a-z0-9]/.test(before) && /[A-Z]/.test(k.charAt(0)))) return false;
      const keyName = keyNameBefore(text, kStart + k.length);
      if (BENIGN_TOKEN_KEYS.test(keyName)) return false;
      if (/^key$/i.test(k)) {
        // Bare `…_KEY=` only in environment-file style: SENDGRID_KEY=…, not sort_key: created_at or const X_KEY = "…".
        if (!/^[A-Z0-9_]*_KEY$/.test(keyName) || !/^=["']?$/.test(text.slice(kStart + k.length, start))) return false;
      }
      if (isPlaceholderOrReference(s, text, end)) return false;
      if (keyName.length >= 4 && s.toLowerCase().includes(keyName.toLowerCase())) return false; // ArrowToken = ArrowToken$1
      return isNonTrivialValue(s);
    },
  },
]);

/** Rule names `scanSecrets` can report, for documentation and tests. */
export const SECRET_RULE_NAMES: readonly string[] = Object.freeze(['private_key', ...SECRET_RULES.map((r) => r.name), 'high_entropy_string']);

interface Region {
  start: number;
  end: number;
}

/** Context words just before a long random string that say it is a hash, id or cursor, not a credential. */
const HASHY_CONTEXT =
  /(?:\bh1|integrity|checksum|digest|hash|sha\d{0,3}|md5|etag|nonce|signature|sig|page_?token|next_?token|cursor|continuation|["_\s]id|^id|uuid|guid|commit|revision|rev|fingerprint|base64|blob|image)["']?\s{0,3}[:=,]?\s{0,3}["']?$/i;
const HASHY_KEY =
  /(?:integrity|checksum|digest|hash|sha\d*|md5|etag|nonce|signature|sig|pagetoken|nexttoken|cursor|continuation|id|ids|uuid|guid|commit|revision|rev|fingerprint|base64|blob|image)$/i;

const HIGH_ENTROPY = /(?<![A-Za-z0-9+/_-])(?<s>[A-Za-z0-9+/_-]{32,1024}={0,2})(?![A-Za-z0-9+/_-])/dg;
const BASE64_LINE = /^[A-Za-z0-9+/=]{40,}$/;

export interface ScanOptions {
  /** The argument's key name, when scanning an argument string (`id`, `sha` … quiet the entropy rule). */
  keyHint?: string | undefined;
}

/**
 * Finds secrets in `text`. Spans never overlap; more specific rules win.
 * Cost is linear in the text (each rule is one pass, matches per rule capped).
 */
export function scanSecrets(text: string, options: ScanOptions = {}): SecretMatch[] {
  const accepted: SecretMatch[] = [];
  const quiet: Region[] = [];
  if (text.length < 8) return accepted;

  scanPem(text, accepted, quiet);

  for (const rule of SECRET_RULES) {
    rule.re.lastIndex = 0;
    let count = 0;
    let m: RegExpExecArray | null;
    while ((m = rule.re.exec(text)) !== null && count < MAX_MATCHES_PER_RULE) {
      const span = m.indices?.groups?.s ?? [m.index, m.index + m[0].length];
      const [start, end] = span;
      const s = text.slice(start, end);
      if (overlaps(accepted, start, end)) continue;
      if (rule.accept && !rule.accept(s, m, text, start, end)) continue;
      accepted.push({ rule: rule.name, start, end, units: [s] });
      count++;
    }
  }

  scanHighEntropy(text, accepted, quiet, options.keyHint);
  accepted.sort((a, b) => a.start - b.start);
  return accepted;
}

function overlaps(list: readonly Region[], start: number, end: number): boolean {
  for (const r of list) if (start < r.end && r.start < end) return true;
  return false;
}

const PEM_BEGIN = /-----BEGIN (?<label>[A-Z0-9]{1,20}(?: [A-Z0-9]{1,20}){0,4})-----/g;
const PEM_LINE_SPLIT = /\r?\n|\\r\\n|\\n/;

/**
 * PEM blocks: private keys are secrets (their body lines are the digest units,
 * so a few lines copied elsewhere still match); certificates and public keys
 * are quieted so their base64 does not look like a random secret.
 */
function scanPem(text: string, accepted: SecretMatch[], quiet: Region[]): void {
  PEM_BEGIN.lastIndex = 0;
  let m: RegExpExecArray | null;
  let count = 0;
  while ((m = PEM_BEGIN.exec(text)) !== null && count++ < MAX_MATCHES_PER_RULE) {
    const label = m.groups?.label ?? '';
    const bodyStart = m.index + m[0].length;
    // Look for the end only within the longest block we follow: a text of bare headers must not cost a full scan each.
    const endRel = text.slice(bodyStart, bodyStart + MAX_PEM_BLOCK).indexOf('-----END ');
    const endMarker = endRel === -1 ? -1 : bodyStart + endRel;
    let bodyEnd: number;
    let blockEnd: number;
    if (endMarker !== -1 && endMarker - bodyStart <= MAX_PEM_BLOCK) {
      bodyEnd = endMarker;
      const close = text.indexOf('-----', endMarker + 9);
      blockEnd = close !== -1 && close - endMarker < 64 ? close + 5 : endMarker + 9;
    } else {
      // A cut-off block: the body runs while lines look like base64 or PEM headers.
      bodyEnd = bodyStart;
      const limit = Math.min(text.length, bodyStart + MAX_PEM_BLOCK);
      const line = /(?:\r?\n|\\r\\n|\\n)?([^\n\\]{0,128})/y;
      line.lastIndex = bodyStart;
      let lm: RegExpExecArray | null;
      while (line.lastIndex < limit && (lm = line.exec(text)) !== null && lm[0].length > 0) {
        const l = (lm[1] ?? '').trim();
        if (l !== '' && !/^[A-Za-z0-9+/=]+$/.test(l) && !/^[A-Za-z-]+:/.test(l)) break;
        bodyEnd = line.lastIndex;
      }
      blockEnd = bodyEnd;
    }
    const body = text
      .slice(bodyStart, bodyEnd)
      .split(PEM_LINE_SPLIT)
      .map((l) => l.trim())
      .filter((l) => l.length >= 16 && /^[A-Za-z0-9+/=]+$/.test(l));
    // A header with no body is code that looks for one (`pem.startsWith("-----BEGIN PRIVATE KEY-----")`).
    if ((!label.endsWith('PRIVATE KEY') && !label.endsWith('PRIVATE KEY BLOCK')) || body.length === 0) {
      quiet.push({ start: m.index, end: blockEnd });
      PEM_BEGIN.lastIndex = Math.max(PEM_BEGIN.lastIndex, blockEnd);
      continue;
    }
    accepted.push({ rule: 'private_key', start: m.index, end: blockEnd, units: body.slice(0, 256) });
    PEM_BEGIN.lastIndex = Math.max(PEM_BEGIN.lastIndex, blockEnd);
  }
}

/**
 * Long random-looking strings: ≥ 32 chars of base64/base64url alphabet with
 * Shannon entropy ≥ 4.3 bits/char, digits and letters mixed, frequent
 * character-class switches. Hex (≤ 4 bits/char: git SHAs, hashes, UUIDs)
 * cannot reach the threshold; strings over 1 KB are data, not credentials;
 * lockfile integrity hashes, ids and cursors are quieted by their context,
 * base64 blocks (several full-width base64 lines) and data: URIs as blobs.
 */
function scanHighEntropy(text: string, accepted: SecretMatch[], quiet: Region[], keyHint: string | undefined): void {
  if (keyHint !== undefined && HASHY_KEY.test(keyHint.replace(/[^A-Za-z0-9]/g, ''))) return;
  HIGH_ENTROPY.lastIndex = 0;
  let m: RegExpExecArray | null;
  let count = 0;
  while ((m = HIGH_ENTROPY.exec(text)) !== null && count < MAX_MATCHES_PER_RULE) {
    const start = m.index;
    const end = start + m[0].length;
    const tok = m[0];
    const core = tok.replace(/=+$/, '');
    if (core.length < 32) continue;
    if (/^[0-9a-fA-F-]+$/.test(core) || /^sha(?:1|224|256|384|512)-/i.test(core)) continue;
    if (!hasDigit(core) || !hasLetter(core)) continue;
    if (shannonEntropy(core) < 4.3 || classTransitions(core) < 0.3) continue;
    if (core.includes('/') && core.split('/').every((seg) => seg === '' || /^[0-9.]+$/.test(seg) || looksLikeWords(seg))) continue; // a path
    // An identifier around a hex hash: NODE_SEA_FUSE_fce680ab…, build-3f9a…
    if (core.split(/[_-]/).some((part) => part.length >= 16 && /^[0-9a-fA-F]+$/.test(part))) continue;
    if (overlaps(accepted, start, end) || overlaps(quiet, start, end)) continue;
    const lineStart = text.lastIndexOf('\n', start - 1) + 1;
    const before = text.slice(Math.max(lineStart, start - 40), start);
    if (HASHY_CONTEXT.test(before)) continue;
    if (inUrlPath(text, start, lineStart)) continue;
    if (inBase64Block(text, start, end, lineStart)) continue;
    accepted.push({ rule: 'high_entropy_string', start, end, units: [tok] });
    count++;
  }
}

/** True when the string sits in the path of a URL (`https://host/…/<id>`), not in its query. */
function inUrlPath(text: string, start: number, lineStart: number): boolean {
  let i = start;
  while (i > lineStart && start - i < 512 && !/[\s"'<>()]/.test(text.charAt(i - 1))) i--;
  const word = text.slice(i, start);
  return word.includes('://') && !/[?#&]/.test(word);
}

function inBase64Block(text: string, start: number, end: number, lineStart: number): boolean {
  let lineEnd = text.indexOf('\n', end);
  if (lineEnd === -1) lineEnd = text.length;
  if (text.slice(lineStart, lineEnd).trim() !== text.slice(start, end) || end - start < 40) return false;
  const prevStart = lineStart >= 1 ? text.lastIndexOf('\n', lineStart - 2) + 1 : -1;
  const prev = prevStart >= 0 ? text.slice(prevStart, lineStart).trim() : '';
  const nextEnd = text.indexOf('\n', lineEnd + 1);
  const next = lineEnd < text.length ? text.slice(lineEnd + 1, nextEnd === -1 ? text.length : nextEnd).trim() : '';
  return BASE64_LINE.test(prev.slice(0, 1024)) || BASE64_LINE.test(next.slice(0, 1024));
}
