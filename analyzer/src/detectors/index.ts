/**
 * Wires the detectors: holds their states, warms them from storage at start,
 * and runs every detector that applies to an event, in order.
 */
import type { TapEvent, ToolDefinition } from '@tapwatch/schema';
import type { BaselineRepository, ToolDefinitionRow } from '@tapwatch/store';
import { createContentState, detectContent, type ContentState } from './content.js';
import { createDefinitionState, detectDefinitionChange, seedDefinition, type DefinitionState } from './definition-change.js';
import { createFlowState, detectFlow, type FlowState } from './flow.js';
import { createPoisoningState, detectPoisoning, type PoisoningState } from './poisoning.js';
import { createShadowingState, detectShadowing, seedShadowing, type ShadowingState } from './shadowing.js';
import {
  createAgentNoveltyState,
  createNoveltyState,
  detectFirstUse,
  detectNewServer,
  detectUnadvertised,
  noteToolsList,
  seedAdvertised,
  seedServer,
  type AgentNoveltyState,
  type NoveltyState,
} from './novelty.js';
import { isEgressCall } from './egress.js';
import { createSequenceState, detectSequence, learnTransition, type SequenceState } from './sequence.js';
import { createRateState, detectRate, learnSessionEnd, seedSessionCounts, seedSessionVolumes, type RateState } from './rate.js';
import { METRICS, baselineProgress, createResultSizeState, detectResultSize, seedResultSizes, type ResultSizeConfig, type ResultSizeState } from './result-size.js';
import type { Finding } from './types.js';
import { createRulesState, evaluateRules, loadRulesFiles, type RulesState } from '../rules/index.js';

export interface DetectionConfig {
  resultSize: ResultSizeConfig;
  /** Extra rules files loaded after the built-in ones (TAPWATCH_RULES). */
  rulesPaths?: readonly string[];
}

export interface DetectionOutcome {
  findings: Finding[];
  definitions: ToolDefinitionRow[];
}

export interface LearningState {
  resultSize: { learned: number; learning: number; minSamples: number };
  argumentSize: { learned: number; learning: number; minSamples: number };
  latency: { learned: number; learning: number; minSamples: number };
  /** Tool definitions pinned (rug-pull baselines). */
  pinnedDefinitions: number;
  knownServers: number;
  /** Agents with a call-sequence model of their own, and calls the global model knows. */
  sequenceAgents: number;
  sequenceStates: number;
}

export class DetectionEngine {
  private readonly resultSize: ResultSizeState;
  private readonly argumentSize: ResultSizeState;
  private readonly latency: ResultSizeState;
  private readonly definitions: DefinitionState;
  private readonly content: ContentState;
  private readonly flow: FlowState;
  private readonly novelty: NoveltyState;
  private readonly rate: RateState;
  private readonly poisoning: PoisoningState;
  private readonly shadowing: ShadowingState;
  private readonly sequence: SequenceState;
  private readonly firstUse: AgentNoveltyState;
  private readonly rules: RulesState;

  /** Throws a RulesError (naming file, rule and field) when a rules file is invalid. */
  constructor(config: DetectionConfig) {
    this.resultSize = createResultSizeState(config.resultSize);
    this.argumentSize = createResultSizeState(config.resultSize, METRICS.arguments);
    this.latency = createResultSizeState(config.resultSize, METRICS.latency);
    this.definitions = createDefinitionState();
    this.content = createContentState();
    this.flow = createFlowState();
    this.novelty = createNoveltyState();
    this.rate = createRateState();
    this.poisoning = createPoisoningState();
    this.shadowing = createShadowingState();
    this.sequence = createSequenceState();
    this.firstUse = createAgentNoveltyState();
    this.rules = createRulesState(loadRulesFiles(config.rulesPaths ?? []));
  }

  /** Restores baselines, pins and known servers from storage, so a restart does not start blind. */
  async warm(store: BaselineRepository): Promise<{ tools: number; definitions: number; servers: number }> {
    const counts = await this.refresh(store);
    let previous: { session: string; state: string } | undefined;
    for (const c of await store.recentCallSequence(50_000)) {
      const state = `${c.server}/${c.tool}`;
      learnTransition(this.sequence, c.agent, previous?.session === c.session ? previous.state : '^', state);
      previous = { session: c.session, state };
    }
    for (const v of await store.recentSessionVolumes(200)) seedSessionVolumes(this.rate, v.agent, v.volumes);
    return counts;
  }

  /**
   * Reloads the baselines that several analyzer instances share through
   * storage — value windows, per-session counts, definition pins, advertised
   * tools, known servers — replacing this instance's copy. Run at start and
   * periodically, so an instance learns what the others stored.
   */
  async refresh(store: BaselineRepository): Promise<{ tools: number; definitions: number; servers: number }> {
    const sizes = await store.recentResponseSizes(this.resultSize.config.window);
    for (const s of sizes) {
      seedResultSizes(this.resultSize, s.server, s.tool, s.sizes);
      seedResultSizes(this.argumentSize, s.server, s.tool, s.requests);
      seedResultSizes(this.latency, s.server, s.tool, s.durations);
    }
    const defs = (await store.knownDefinitions()).sort((a, b) => a.first_seen.localeCompare(b.first_seen));
    const known: { server: string; tool: string; description?: string }[] = [];
    for (const d of defs) {
      let pinned: Partial<ToolDefinition> = {};
      try {
        pinned = JSON.parse(d.first_definition) as Partial<ToolDefinition>;
      } catch {
        // an unreadable history row only loses the "before" excerpt
      }
      seedDefinition(this.definitions, d.server, d.tool, d.first_hash, pinned, d.hashes, d.last_hash);
      seedAdvertised(this.novelty, d.server, d.tool);
      known.push({ server: d.server, tool: d.tool, ...(typeof pinned.description === 'string' ? { description: pinned.description } : {}) });
    }
    // Oldest first: the first server seen with a tool name keeps it.
    seedShadowing(this.shadowing, known);
    const servers = await store.knownServers();
    for (const s of servers) seedServer(this.novelty, s);
    for (const c of await store.recentSessionCounts(500)) seedSessionCounts(this.rate, c.server, c.tool, c.counts);
    return { tools: sizes.length, definitions: defs.length, servers: servers.length };
  }

  /**
   * What the detectors have learned so far, for `/healthz` and `tapwatch status`: per volume
   * metric the (server, tool) baselines judging on their own vs still learning, and the sizes
   * of the other models. Walks the baselines: call it on demand, not per event.
   */
  learningState(): LearningState {
    return {
      resultSize: baselineProgress(this.resultSize),
      argumentSize: baselineProgress(this.argumentSize),
      latency: baselineProgress(this.latency),
      pinnedDefinitions: this.definitions.pins.size,
      knownServers: this.novelty.servers.size,
      sequenceAgents: this.sequence.agents.size,
      sequenceStates: this.sequence.stateCounts.size,
    };
  }

  /** Runs the detectors over one event. Mutates detector state. */
  process(event: TapEvent): DetectionOutcome {
    switch (event.type) {
      case 'tool_call':
        return {
          findings: [
            ...detectUnadvertised(this.novelty, event),
            ...detectFirstUse(this.firstUse, event, isEgressCall(event)),
            ...detectContent(this.content, event),
            ...detectFlow(this.flow, event),
            ...detectRate(this.rate, event),
            ...detectSequence(this.sequence, event),
            ...evaluateRules(this.rules, event),
            ...detectResultSize(this.resultSize, event),
            ...detectResultSize(this.argumentSize, event),
            ...detectResultSize(this.latency, event),
          ],
          definitions: [],
        };
      case 'tools_list': {
        const { findings, history } = detectDefinitionChange(this.definitions, event);
        const poisoned = detectPoisoning(this.poisoning, event);
        const shadowed = detectShadowing(this.shadowing, event);
        noteToolsList(this.novelty, event);
        return { findings: [...findings, ...poisoned, ...shadowed, ...evaluateRules(this.rules, event)], definitions: history };
      }
      case 'session_start':
        return { findings: detectNewServer(this.novelty, event), definitions: [] };
      case 'session_end':
        learnSessionEnd(this.rate, event);
        return { findings: [], definitions: [] };
      default:
        return { findings: [], definitions: [] };
    }
  }
}

export { RESULT_SIZE_DETECTOR } from './result-size.js';
export { DEFINITION_CHANGE_DETECTOR, definitionHash, canonicalJson } from './definition-change.js';
export type { Finding } from './types.js';
