/**
 * Errors of the rules engine. A rules file is configuration: every problem
 * found while loading is collected (not only the first) and reported at once,
 * each naming the file, the rule or macro and the path of the bad field.
 */
import { TapwatchError } from '@tapwatch/schema';

export const RulesErrorCode = Object.freeze({
  /** A rules file is not valid YAML/JSON or not a valid rules document: fix the file named in each problem. */
  INVALID: 'TAPWATCH_RULES_INVALID',
  /** A rules file could not be read: check the path (TAPWATCH_RULES) and its permissions. */
  UNREADABLE: 'TAPWATCH_RULES_UNREADABLE',
});
export type RulesErrorCode = (typeof RulesErrorCode)[keyof typeof RulesErrorCode];

/** Every problem found in a set of rules files; `problems` holds one line each (`file: rule "id": path: what is wrong`). */
export class RulesError extends TapwatchError {
  constructor(
    readonly problems: readonly string[],
    code: RulesErrorCode = RulesErrorCode.INVALID,
    cause?: unknown,
  ) {
    super(
      code,
      problems.length === 1 ? `invalid rules: ${problems[0]}` : `${problems.length} problems in rules files:\n  ${problems.join('\n  ')}`,
      cause === undefined ? {} : { cause },
    );
    this.name = 'RulesError';
  }
}
