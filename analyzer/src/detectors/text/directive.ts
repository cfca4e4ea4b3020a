/**
 * Whether a sentence tells the model what to do (the patterns are in
 * lexicon/directives.ts).
 */
import { IMPERATIVE_START, OBLIGATION, SEQUENCE_MARKER } from '../lexicon/directives.js';

/**
 * True when a (normalised) sentence tells the model to act: it sequences the
 * model's actions ("before using this tool", "whenever you call"), puts an
 * obligation on it ("you must first read", "always include") or is an
 * imperative clause ("Read …", "…, then send …"). Whether the action is the
 * tool's own job is for the caller to judge.
 */
export function isDirective(sentence: string): boolean {
  return SEQUENCE_MARKER.test(sentence) || OBLIGATION.test(sentence) || IMPERATIVE_START.test(sentence);
}
