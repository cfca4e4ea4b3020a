/**
 * Prose as the rules read it: normalised text, its sentences, and excerpts
 * safe to print.
 */
import { ANSI_SEQUENCE, STRIPPABLE, escapeInvisible } from './invisible.js';

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
