/**
 * Rules as data: detections declared in YAML or JSON files, validated at
 * load, evaluated as a pure detector. See `analyzer/rules/README.md`.
 */
export { loadRules } from './load.js';
export type { RuleSource, CompiledRules, CompiledRule, CompiledEventRule, CompiledSequenceRule, CompiledStep } from './load.js';
export { createRulesState, evaluateRules, trackedBindings, RULE_DETECTOR_PREFIX, DEFAULT_RULES_LIMITS } from './engine.js';
export type { RulesState, RulesLimits } from './engine.js';
export { loadRulesFiles, readRulesFiles, builtinRulesSource, BUILTIN_RULES_PATH, BUILTIN_RULES_NAME } from './files.js';
export { RulesError, RulesErrorCode } from './errors.js';
export { RulesFileSchema, RULES_FORMAT_VERSION, RULES_FILE_LIMITS } from './schema.js';
export type { RulesFile, RuleInput, Condition, StringMatcher, SequenceStep, Binding } from './schema.js';
export { unsafeRegexReason } from './regex.js';
