/**
 * Wires the detectors: holds their states, warms them from storage at start,
 * and runs every detector that applies to an event.
 */
import type { TapEvent, ToolDefinition } from '@tapwatch/schema';
import type { Store, ToolDefinitionRow } from '../store/store.js';
import { createDefinitionState, detectDefinitionChange, seedDefinition, type DefinitionState } from './definition-change.js';
import { createResultSizeState, detectResultSize, seedResultSizes, type ResultSizeConfig, type ResultSizeState } from './result-size.js';
import type { Finding } from './types.js';

export interface DetectionConfig {
  resultSize: ResultSizeConfig;
}

export interface DetectionOutcome {
  findings: Finding[];
  definitions: ToolDefinitionRow[];
}

export class DetectionEngine {
  private readonly resultSize: ResultSizeState;
  private readonly definitions: DefinitionState;

  constructor(config: DetectionConfig) {
    this.resultSize = createResultSizeState(config.resultSize);
    this.definitions = createDefinitionState();
  }

  /** Restores baselines and pins from storage, so a restart does not start blind. */
  async warm(store: Store): Promise<{ tools: number; definitions: number }> {
    const sizes = await store.recentResponseSizes(this.resultSize.config.window);
    for (const s of sizes) seedResultSizes(this.resultSize, s.server, s.tool, s.sizes);
    const defs = await store.knownDefinitions();
    for (const d of defs) {
      let pinned: Partial<ToolDefinition> = {};
      try {
        pinned = JSON.parse(d.first_definition) as Partial<ToolDefinition>;
      } catch {
        // an unreadable history row only loses the "before" excerpt
      }
      seedDefinition(this.definitions, d.server, d.tool, d.first_hash, pinned, d.hashes, d.last_hash);
    }
    return { tools: sizes.length, definitions: defs.length };
  }

  /** Runs the detectors over one event. Mutates detector state. */
  process(event: TapEvent): DetectionOutcome {
    switch (event.type) {
      case 'tool_call':
        return { findings: detectResultSize(this.resultSize, event), definitions: [] };
      case 'tools_list': {
        const { findings, history } = detectDefinitionChange(this.definitions, event);
        return { findings, definitions: history };
      }
      default:
        return { findings: [], definitions: [] };
    }
  }
}

export { RESULT_SIZE_DETECTOR } from './result-size.js';
export { DEFINITION_CHANGE_DETECTOR, definitionHash, canonicalJson } from './definition-change.js';
export type { Finding } from './types.js';
