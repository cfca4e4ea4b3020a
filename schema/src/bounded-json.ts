/**
 * JSON from the monitored world, parsed with a depth limit.
 *
 * V8's `JSON.parse` takes any depth, but `JSON.stringify`, structured clone
 * (`postMessage`) and every recursive walk after it overflow the stack a few
 * thousand levels down: one `tools/list` whose `inputSchema` nests 3,000
 * levels deep (60 KB) ended the tap. `parseBounded` scans the bytes first
 * (strings skipped with `indexOf`, so a long base64 result costs little) and,
 * when some value lies deeper than `maxDepth`, parses a copy in which each
 * such value is replaced by the string `CUT_MARKER`: no tree deeper than the
 * limit is ever built, and the caller learns that something was cut.
 */

/** Deepest nesting kept: real tool schemas stay below 20; past 64 is an attack or a bug. */
export const MAX_JSON_DEPTH = 64;

/** What stands in for a value nested deeper than the limit. */
export const CUT_MARKER = `[tapwatch: cut, nested deeper than ${MAX_JSON_DEPTH} levels]`;

export interface BoundedJson {
  value: unknown;
  /** Values nested deeper than the limit were replaced by `CUT_MARKER`. */
  cut: boolean;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const OPEN_OBJECT = 0x7b;
const CLOSE_ARRAY = 0x5d;
const CLOSE_OBJECT = 0x7d;

/**
 * Parses `input` as JSON with nothing deeper than `maxDepth` (values past it
 * become `CUT_MARKER`). Throws a SyntaxError, as `JSON.parse` does, when it is
 * not JSON.
 */
export function parseBounded(input: Buffer | string, maxDepth: number = MAX_JSON_DEPTH): BoundedJson {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  // Each level takes at least two bytes: a short message cannot be too deep.
  if (bytes.length <= 2 * maxDepth || firstTooDeep(bytes, maxDepth) < 0) {
    return { value: JSON.parse(typeof input === 'string' ? input : input.toString('utf8')), cut: false };
  }
  return { value: JSON.parse(cutTooDeep(bytes, maxDepth)), cut: true };
}

/** Index after the closing quote of the string whose opening quote is at `start`, or -1 when it never closes. */
function stringEnd(bytes: Buffer, start: number): number {
  let i = start;
  for (;;) {
    const q = bytes.indexOf(QUOTE, i + 1);
    if (q < 0) return -1;
    // The quote is escaped when an odd number of backslashes stands before it.
    let slashes = 0;
    for (let j = q - 1; j > start && bytes[j] === BACKSLASH; j--) slashes++;
    if (slashes % 2 === 0) return q + 1;
    i = q;
  }
}

/** Index of the first opening bracket deeper than `maxDepth`, or -1. */
function firstTooDeep(bytes: Buffer, maxDepth: number): number {
  let depth = 0;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if (c === QUOTE) {
      const end = stringEnd(bytes, i);
      if (end < 0) return -1; // not JSON: JSON.parse will say so
      i = end - 1;
    } else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (++depth > maxDepth) return i;
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) {
      depth--;
    }
  }
  return -1;
}

/** Index after the bracket that closes the one at `open`, or the end of the input. */
function closingEnd(bytes: Buffer, open: number): number {
  let depth = 0;
  for (let i = open; i < bytes.length; i++) {
    const c = bytes[i];
    if (c === QUOTE) {
      const end = stringEnd(bytes, i);
      if (end < 0) return bytes.length;
      i = end - 1;
    } else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      depth++;
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) {
      if (--depth === 0) return i + 1;
    }
  }
  return bytes.length;
}

/** The text with every value deeper than `maxDepth` replaced by the marker, as a string. */
function cutTooDeep(bytes: Buffer, maxDepth: number): string {
  const marker = JSON.stringify(CUT_MARKER);
  const parts: string[] = [];
  let copiedTo = 0;
  let depth = 0;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if (c === QUOTE) {
      const end = stringEnd(bytes, i);
      if (end < 0) break;
      i = end - 1;
    } else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (depth + 1 > maxDepth) {
        parts.push(bytes.toString('utf8', copiedTo, i), marker);
        copiedTo = closingEnd(bytes, i);
        i = copiedTo - 1;
      } else {
        depth++;
      }
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) {
      depth--;
    }
  }
  parts.push(bytes.toString('utf8', copiedTo));
  return parts.join('');
}
