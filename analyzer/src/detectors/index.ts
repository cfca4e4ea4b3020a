/**
 * Wires the detectors of the registry (registry.ts): holds their states,
 * warms them from storage at start, and runs the detectors that judge an
 * event's type, in registry order.
 */
import type { TapEvent } from '@tapwatch/schema';
import type { BaselineRepository, ToolDefinitionRow } from '@tapwatch/store';
import type { AnyDetector, DetectContext, DetectionConfig, EventType, LearningState } from './detector.js';
import { DETECTORS, eventTypeIndex } from './registry.js';
import { OnceStoreReader } from './store-reader.js';
import type { Finding } from './types.js';

export type { DetectionConfig, LearningState } from './detector.js';

export interface DetectionOutcome {
  findings: Finding[];
  definitions: ToolDefinitionRow[];
}

interface Slot {
  detector: AnyDetector;
  state: unknown;
}

/** The order of LearningState's keys as `/healthz` and `tapwatch status` print them. */
const LEARNING_KEYS = Object.freeze([
  'resultSize',
  'argumentSize',
  'latency',
  'pinnedDefinitions',
  'knownServers',
  'sequenceAgents',
  'sequenceStates',
] as const satisfies readonly (keyof LearningState)[]);

const NONE: readonly Slot[] = Object.freeze([]);

export class DetectionEngine {
  private readonly slots: readonly Slot[];
  private readonly byType: ReadonlyMap<EventType, readonly Slot[]>;

  /**
   * Creates every detector's state. Throws a RulesError (naming file, rule and
   * field) when a rules file is invalid. `detectors` is the registry to run
   * (all of them unless a test or tool says otherwise).
   */
  constructor(config: DetectionConfig, detectors: readonly AnyDetector[] = DETECTORS) {
    const index = eventTypeIndex(detectors);
    this.slots = detectors.map((detector) => ({ detector, state: detector.create(config) }));
    this.byType = new Map([...index].map(([type, at]) => [type, at.map((i) => this.slots[i]!)]));
  }

  /** Restores baselines, pins and known servers from storage, so a restart does not start blind. */
  async warm(store: BaselineRepository): Promise<{ tools: number; definitions: number; servers: number }> {
    const reader = new OnceStoreReader(store);
    const counts = await this.refreshFrom(reader);
    for (const { detector, state } of this.slots) await detector.warm?.(state, reader);
    return counts;
  }

  /**
   * Reloads the baselines that several analyzer instances share through
   * storage — value windows, per-session counts, definition pins, advertised
   * tools, known servers — replacing this instance's copy. Run at start and
   * periodically, so an instance learns what the others stored.
   */
  async refresh(store: BaselineRepository): Promise<{ tools: number; definitions: number; servers: number }> {
    return this.refreshFrom(new OnceStoreReader(store));
  }

  private async refreshFrom(reader: OnceStoreReader): Promise<{ tools: number; definitions: number; servers: number }> {
    for (const { detector, state } of this.slots) await detector.refresh?.(state, reader);
    return { tools: await reader.rows('recentResponseSizes'), definitions: await reader.rows('knownDefinitions'), servers: await reader.rows('knownServers') };
  }

  /**
   * What the detectors have learned so far, for `/healthz` and `tapwatch status`: per volume
   * metric the (server, tool) baselines judging on their own vs still learning, and the sizes
   * of the other models. Walks the baselines: call it on demand, not per event.
   */
  learningState(): LearningState {
    const parts: Partial<LearningState> = {};
    for (const { detector, state } of this.slots) Object.assign(parts, detector.learning?.(state));
    const out: Record<string, unknown> = {};
    for (const k of LEARNING_KEYS) out[k] = parts[k];
    return out as unknown as LearningState;
  }

  /** Runs the detectors over one event. Mutates detector state. */
  process(event: TapEvent): DetectionOutcome {
    const ctx: DetectContext = { definitions: [] };
    const findings: Finding[] = [];
    for (const { detector, state } of this.byType.get(event.type) ?? NONE) {
      for (const f of detector.detect(state, event, ctx)) findings.push(f);
    }
    return { findings, definitions: ctx.definitions };
  }
}

export { RESULT_SIZE_DETECTOR } from './result-size.js';
export { DEFINITION_CHANGE_DETECTOR, definitionHash, canonicalJson } from './definition-change.js';
export type { Finding } from './types.js';
