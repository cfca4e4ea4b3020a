/**
 * Small text helpers shared by the content checks, redaction and digests.
 * Everything here is linear in its input.
 */

/** Shannon entropy in bits per character. */
export function shannonEntropy(s: string): number {
  if (s.length === 0) return 0;
  const counts = new Map<number, number>();
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  let h = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

/** Share of adjacent character pairs that switch class (upper, lower, digit, other): high for random strings, low for words and paths. */
export function classTransitions(s: string): number {
  if (s.length < 2) return 0;
  let switches = 0;
  let prev = charClass(s.charCodeAt(0));
  for (let i = 1; i < s.length; i++) {
    const c = charClass(s.charCodeAt(i));
    if (c !== prev) switches++;
    prev = c;
  }
  return switches / (s.length - 1);
}

function charClass(c: number): number {
  if (c >= 65 && c <= 90) return 0;
  if (c >= 97 && c <= 122) return 1;
  if (c >= 48 && c <= 57) return 2;
  return 3;
}

/** 32-bit FNV-1a: a cheap, stable hash used only to pick which units get a SHA-256 digest. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Final avalanche of a 32-bit value (murmur3 fmix32). */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Cuts a string to at most `max` characters, marking the cut with the number
 * of UTF-8 bytes left out (`…[+N bytes]`). `missingBytes` counts bytes the
 * caller already dropped before handing `s` over. Never splits a surrogate pair.
 */
export function cut(s: string, max: number, missingBytes = 0): string {
  if (s.length <= max && missingBytes === 0) return s;
  const marker = (n: number) => `…[+${n} bytes]`;
  // Reserve room for the marker so the result stays within `max`.
  const room = max - marker(Buffer.byteLength(s) + missingBytes).length;
  let end = Math.max(0, Math.min(s.length, room));
  const c = s.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end--;
  return s.slice(0, end) + marker(Buffer.byteLength(s.slice(end)) + missingBytes);
}

/** Drops a trailing high surrogate left by a slice. */
export function sliceSafe(s: string, start: number, end: number): string {
  let e = Math.min(end, s.length);
  if (e < s.length) {
    const c = s.charCodeAt(e - 1);
    if (c >= 0xd800 && c <= 0xdbff) e--;
  }
  return s.slice(start, e);
}

/** True when a string has an ASCII digit. */
export function hasDigit(s: string): boolean {
  return /[0-9]/.test(s);
}

/** True when a string has an ASCII letter. */
export function hasLetter(s: string): boolean {
  return /[A-Za-z]/.test(s);
}

/**
 * True when the string reads as words: camelCase, snake_case, kebab-case or
 * dotted identifiers made of pieces of two letters or more, no digits. Such
 * values in `token = accessToken` are code, not credentials.
 */
export function looksLikeWords(s: string): boolean {
  if (/[^A-Za-z_.-]/.test(s)) return false;
  const pieces = s.split(/[_.-]+|(?<=[a-z])(?=[A-Z])/).filter((p) => p.length > 0);
  return pieces.length > 0 && pieces.every((p) => p.length >= 2 && /^(?:[A-Z]?[a-z]+|[A-Z]+)$/.test(p));
}

/** Decodes %XX escapes (and `+` as space when `plus`), leaving malformed sequences as they are. */
export function percentDecode(s: string, plus = false): string {
  if (!s.includes('%') && !(plus && s.includes('+'))) return s;
  const src = plus ? s.replace(/\+/g, ' ') : s;
  try {
    return decodeURIComponent(src);
  } catch {
    // Decode valid runs only: a lone '%' or a broken UTF-8 sequence must not lose the rest.
    return src.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
      try {
        return decodeURIComponent(run);
      } catch {
        return Buffer.from(run.replace(/%/g, ''), 'hex').toString('latin1');
      }
    });
  }
}

/**
 * Share of a decoded buffer that is printable text (ASCII printable,
 * whitespace, or valid multi-byte UTF-8). Random bytes score low.
 */
export function printableShare(buf: Buffer): { share: number; text: string } {
  const text = buf.toString('utf8');
  if (text.length === 0) return { share: 0, text };
  let good = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c >= 0x20 && c < 0x7f) || c === 9 || c === 10 || c === 13) good++;
    else if (c >= 0xa0 && c !== 0xfffd) good++;
  }
  return { share: good / text.length, text };
}

function isHexPair(s: string, i: number): boolean {
  return i + 1 < s.length && /^[0-9A-Fa-f]{2}$/.test(s.slice(i, i + 2));
}

/**
 * Percent-decodes `s` and maps each decoded character back to where it
 * starts in `s` (`map[text.length]` is `s.length`), so a span found in the
 * decoded text can be masked in the original.
 */
export function percentDecodeMapped(s: string): { text: string; map: number[] } {
  const chunks: string[] = [];
  const map: number[] = [];
  let i = 0;
  while (i < s.length) {
    const pct = s.indexOf('%', i);
    const plainEnd = pct === -1 ? s.length : pct;
    if (plainEnd > i) {
      chunks.push(s.slice(i, plainEnd));
      for (let k = i; k < plainEnd; k++) map.push(k);
      i = plainEnd;
      continue;
    }
    if (!isHexPair(s, i + 1)) {
      chunks.push('%');
      map.push(i);
      i++;
      continue;
    }
    const start = i;
    const bytes: number[] = [];
    while (i < s.length && s.charCodeAt(i) === 37 && isHexPair(s, i + 1)) {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 3;
    }
    const decoded = Buffer.from(bytes).toString('utf8');
    let b = 0;
    for (const ch of decoded) {
      const off = start + 3 * Math.min(b, bytes.length - 1);
      for (let k = 0; k < ch.length; k++) map.push(off);
      chunks.push(ch);
      b += ch === '\ufffd' ? 1 : Buffer.byteLength(ch);
    }
  }
  map.push(s.length);
  return { text: chunks.join(''), map };
}

/** base64/base64url runs worth decoding (≥ 24 chars), anchored at a run start. */
export const BASE64_RUN = /(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{24,}={0,2}/g;
/** Hex runs worth decoding (≥ 32 chars, whole bytes). */
export const HEX_RUN = /(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}){16,}(?![0-9A-Fa-f])/g;

/** Text when at least 90% of the decoded bytes are printable; else undefined (binary, or not an encoding at all). */
export function decodeText(buf: Buffer): string | undefined {
  if (buf.length < 6) return undefined;
  const { share, text } = printableShare(buf);
  return share >= 0.9 ? text : undefined;
}
