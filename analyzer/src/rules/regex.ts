/**
 * Regular expressions from rules files: compiled once at load, refused when
 * they are long or have the classic shape of catastrophic backtracking — a
 * repeated group that itself contains an unbounded repeat, `(a+)+`,
 * `(?:\w*\s?)*`, `(x{2,})+`. The check is simple on purpose (it does not catch
 * overlapping alternations like `(a|a)*`); the engine also cuts every string
 * to a bounded length before matching, which caps the damage of what slips
 * through.
 */
import { RULES_FILE_LIMITS } from './schema.js';

/** A repeat that can iterate this many times or more counts as unbounded for the nesting check. */
const LARGE_REPEAT = 10;

interface Quantifier {
  /** Characters the quantifier spans, including a lazy/possessive `?`. */
  length: number;
  /** Can it repeat more than once? */
  repeats: boolean;
  /** Can it repeat without (a small) bound? */
  unbounded: boolean;
}

/** The quantifier starting at `i`, if any. */
function quantifierAt(p: string, i: number): Quantifier | undefined {
  const c = p[i];
  let q: Quantifier | undefined;
  if (c === '*' || c === '+') q = { length: 1, repeats: true, unbounded: true };
  else if (c === '?') q = { length: 1, repeats: false, unbounded: false };
  else if (c === '{') {
    const m = /^\{(\d+)(,(\d*))?\}/.exec(p.slice(i, i + 24));
    if (m) {
      const min = Number(m[1]);
      const max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
      q = { length: m[0].length, repeats: max > 1, unbounded: max >= LARGE_REPEAT };
    }
  }
  if (q && p[i + q.length] === '?') q.length++;
  return q;
}

/**
 * Why `pattern` is refused, or undefined when it is acceptable: too long, or a
 * repeated group holding an unbounded repeat.
 */
export function unsafeRegexReason(pattern: string): string | undefined {
  if (pattern.length > RULES_FILE_LIMITS.maxRegexLength) return `longer than ${RULES_FILE_LIMITS.maxRegexLength} characters`;
  // One frame per open group: does it contain an unbounded repeat?
  const stack: { unbounded: boolean }[] = [{ unbounded: false }];
  let i = 0;
  while (i < pattern.length) {
    const c = pattern[i]!;
    const top = stack[stack.length - 1]!;
    if (c === '\\') {
      i += 2;
      continue;
    }
    if (c === '[') {
      // Skip the class: `]` right after `[` or `[^` is a literal.
      let j = i + 1;
      if (pattern[j] === '^') j++;
      if (pattern[j] === ']') j++;
      while (j < pattern.length && pattern[j] !== ']') j += pattern[j] === '\\' ? 2 : 1;
      i = j + 1;
      continue;
    }
    if (c === '(') {
      stack.push({ unbounded: false });
      i++;
      // Group modifiers (`?:`, `?=`, `?!`, `?<=`, `?<!`, `?<name>`) are not quantifiers.
      if (pattern[i] === '?') {
        const m = /^\?(?::|=|!|<=|<!|<[A-Za-z_$][\w$]*>)/.exec(pattern.slice(i, i + 64));
        i += m ? m[0].length : 1;
      }
      continue;
    }
    if (c === ')') {
      const group = stack.length > 1 ? stack.pop()! : { unbounded: false };
      const q = quantifierAt(pattern, i + 1);
      if (q && group.unbounded && (q.unbounded || q.repeats)) {
        return `nested repeat: a repeated group contains an unbounded repeat near "${pattern.slice(Math.max(0, i - 20), i + 1 + q.length)}" (rewrite it without the outer repeat, or bound the inner one)`;
      }
      const parent = stack[stack.length - 1]!;
      parent.unbounded ||= group.unbounded || (q?.unbounded ?? false);
      i += 1 + (q?.length ?? 0);
      continue;
    }
    const q = quantifierAt(pattern, i);
    if (q) {
      top.unbounded ||= q.unbounded;
      i += q.length;
      continue;
    }
    i++;
  }
  return undefined;
}

/** Compiles a rule regex (case-insensitive, unanchored); throws an Error whose message says what is wrong. */
export function compileRuleRegex(pattern: string): RegExp {
  const unsafe = unsafeRegexReason(pattern);
  if (unsafe !== undefined) throw new Error(`refused: ${unsafe}`);
  try {
    return new RegExp(pattern, 'i');
  } catch (err) {
    const why = err instanceof Error ? err.message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '') : String(err);
    throw new Error(`invalid: ${why}`);
  }
}
