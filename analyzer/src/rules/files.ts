/**
 * Rules files on disk: the built-in file shipped with the analyzer and extra
 * files named by the operator. The only I/O of the rules engine; everything
 * else takes sources as text.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { RulesError, RulesErrorCode } from './errors.js';
import { loadRules, type CompiledRules, type RuleSource } from './load.js';

/** Absolute path of the built-in rules (`analyzer/rules/builtin.yaml`, shipped in the package). */
export const BUILTIN_RULES_PATH = fileURLToPath(new URL('../../rules/builtin.yaml', import.meta.url));
/** The name the built-in file has in messages and evidence. */
export const BUILTIN_RULES_NAME = 'builtin.yaml';

/** Reads rules files as sources, in order. Throws one RulesError (UNREADABLE) naming every file that could not be read. */
export function readRulesFiles(paths: readonly string[]): RuleSource[] {
  const problems: string[] = [];
  const sources: RuleSource[] = [];
  let cause: unknown;
  for (const path of paths) {
    try {
      sources.push({ name: path, text: readFileSync(path, 'utf8') });
    } catch (err) {
      cause ??= err;
      const code = (err as { code?: unknown }).code;
      problems.push(`${path}: cannot read the rules file${typeof code === 'string' ? ` (${code})` : ''}; check the path in TAPWATCH_RULES`);
    }
  }
  if (problems.length > 0) throw new RulesError(problems, RulesErrorCode.UNREADABLE, cause);
  return sources;
}

/** The built-in rules as a source. */
export function builtinRulesSource(): RuleSource {
  return { name: BUILTIN_RULES_NAME, text: readFileSync(BUILTIN_RULES_PATH, 'utf8') };
}

/**
 * Loads the built-in rules, then each extra file in order (later files
 * replace or tune earlier rules by id). Throws a RulesError on any problem.
 */
export function loadRulesFiles(extraPaths: readonly string[] = [], options: { builtin?: boolean } = {}): CompiledRules {
  const sources = [...(options.builtin === false ? [] : [builtinRulesSource()]), ...readRulesFiles(extraPaths)];
  return loadRules(sources);
}
