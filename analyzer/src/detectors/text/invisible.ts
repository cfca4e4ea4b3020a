/**
 * Invisible, reordering and control characters: finding them (the ordinary
 * ones — joiners in emoji and non-Latin scripts, bidi marks in right-to-left
 * text — aside), stripping them before matching, and showing them escaped.
 */

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

const TAGS_AND_SELECTORS = [
  [0xe0000, 0xe007f],
  [0xe0100, 0xe01ef],
] as const;

/** Every character that `findInvisible` may report (controls aside), for stripping before matching. */
export const STRIPPABLE = codePointClass(
  [
    [0x200b, 0x200f],
    [0x2060, 0x2064],
    0xfeff,
    0x180e,
    0x034f,
    0x00ad,
    0x17b4,
    0x17b5,
    [0x202a, 0x202e],
    [0x2066, 0x2069],
    0x061c,
    [0xfe00, 0xfe0f],
    ...TAGS_AND_SELECTORS,
  ],
  'g',
);
const ESC = String.fromCharCode(0x1b);
const BEL = String.fromCharCode(0x07);
/** ANSI/VT escape sequences: CSI (`ESC [ … m`), OSC (`ESC ] … BEL`) and two-character escapes. */
export const ANSI_SEQUENCE = new RegExp(`${ESC}(?:\\[[0-9;?]*[ -/]*[@-~]|\\][^${BEL}${ESC}]{0,256}(?:${BEL}|${ESC}\\\\)?|[@-Z\\\\-_])?`, 'g');

/** Characters an excerpt shows escaped: invisible, reordering, filler and control characters. */
const ESCAPED = codePointClass(
  [
    [0x00, 0x08],
    0x0b,
    0x0c,
    [0x0e, 0x1f],
    [0x7f, 0x9f],
    0x00ad,
    0x034f,
    0x061c,
    0x115f,
    0x1160,
    0x17b4,
    0x17b5,
    0x180e,
    [0x200b, 0x200f],
    [0x202a, 0x202e],
    [0x2060, 0x2064],
    [0x2066, 0x2069],
    0x2800,
    0x3164,
    [0xfe00, 0xfe0f],
    0xfeff,
    0xffa0,
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
