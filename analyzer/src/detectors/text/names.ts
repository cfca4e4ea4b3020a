/**
 * Tool names and identifiers: the key under which look-alike names meet,
 * their words, whether a name is specific, identifier tokens in prose.
 */
import { CONFUSABLES } from '../lexicon/confusables.js';
import { STRIPPABLE } from './invisible.js';

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
