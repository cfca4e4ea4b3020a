/**
 * The one interface every detector implements, and what the engine hands it.
 *
 * A detector is a pure function of (its own state, one event) → findings; the
 * engine owns the states, routes each event only to the detectors that listed
 * its type (see registry.ts) and runs them in registry order. Reading storage
 * happens in the warm-up hooks only, through a `StoreReader`.
 */
import type { TapEvent } from '@tapwatch/schema';
import type { BaselineRepository, ToolDefinitionRow } from '@tapwatch/store';
import type { ResultSizeConfig } from './result-size.js';
import type { Finding } from './types.js';

export interface DetectionConfig {
  resultSize: ResultSizeConfig;
  /** Extra rules files loaded after the built-in ones (TAPWATCH_RULES). */
  rulesPaths?: readonly string[];
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

export type EventType = TapEvent['type'];

/** The event of one type (or of a union of types). */
export type EventOf<T extends EventType> = Extract<TapEvent, { type: T }>;

/** What a detector may hand back besides findings, for one event. */
export interface DetectContext {
  /** Tool definitions to record in the definition history (first sightings and changes). */
  readonly definitions: ToolDefinitionRow[];
}

/**
 * The baseline repository's read methods the warm-up hooks use. The engine passes a reader
 * that runs each query at most once per warm-up pass (several detectors seed
 * from the same rows), so a hook may call whatever it needs.
 */
export type StoreReader = Pick<
  BaselineRepository,
  'recentResponseSizes' | 'knownDefinitions' | 'knownServers' | 'recentSessionCounts' | 'recentCallSequence' | 'recentSessionVolumes'
>;

export interface Detector<S = unknown, T extends EventType = EventType> {
  /** Registry key: unique. */
  readonly id: string;
  /**
   * The `detector` names its findings carry: its id alone, or several when one
   * state is shared by several detectors (each in its own file), or a prefix
   * (`content` for `content.<kind>`).
   */
  readonly emits: readonly string[];
  /** The event types it judges: the engine sends it nothing else. */
  readonly eventTypes: readonly T[];
  /** Its state, explicit and bounded. Throws when the config is unusable (e.g. an invalid rules file). */
  create(config: DetectionConfig): S;
  /** Judges one event, mutating `state` only. No I/O. */
  detect(state: S, event: EventOf<T>, ctx: DetectContext): Finding[];
  /**
   * Reloads the baselines several analyzer instances share through storage,
   * replacing this instance's copy: at start and periodically.
   */
  refresh?(state: S, store: StoreReader): Promise<void>;
  /** Restores what only this instance learns (after `refresh`, once at start). */
  warm?(state: S, store: StoreReader): Promise<void>;
  /** Its part of `/healthz`'s learning state. Walks the state: on demand, not per event. */
  learning?(state: S): Partial<LearningState>;
}

/** A detector with its types erased, as the registry holds it. */
export type AnyDetector = Detector<unknown, EventType>;

/**
 * Checks a detector against its own state and event types, then erases them
 * for the registry: `detect` is only ever called with the types it listed.
 */
export function defineDetector<S, T extends EventType>(detector: Detector<S, T>): AnyDetector {
  return detector as unknown as AnyDetector;
}
