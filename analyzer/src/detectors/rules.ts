/**
 * The declarative rules (analyzer/src/rules, loaded from the built-in and the
 * TAPWATCH_RULES files) as one registry entry. Their findings carry each
 * rule's own id, which only the loaded files know: `emits` names none.
 */
import { createRulesState, evaluateRules, loadRulesFiles } from '../rules/index.js';
import { defineDetector } from './detector.js';

export const RULES = defineDetector({
  id: 'rules',
  emits: [],
  eventTypes: ['tool_call', 'tools_list'],
  /** Throws a RulesError (naming file, rule and field) when a rules file is invalid. */
  create: (config) => createRulesState(loadRulesFiles(config.rulesPaths ?? [])),
  detect: evaluateRules,
});
