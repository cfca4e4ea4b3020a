/**
 * Unusual call sequences: a transition model over tool calls (first-order,
 * states are `server/tool`). Per agent, smoothed toward the global model:
 *
 *   P(b | a) = (agent(a→b) + α · P_global(b | a)) / (agent(a) + α)
 *   P_global(b | a) = (global(a→b) + β) / (global(a) + β · |states|)
 *
 * A transition is rare when P < `rareProbability`, judged only once the
 * source state has `minSourceObservations` in the global model and the target
 * state is itself known (first use of a tool is novelty, not sequence). One
 * rare transition is noise; `minRare` of them within the session's last
 * `window` calls raise an alert. Calls that raised it do not teach the model.
 */
import type { ToolCallEvent } from '@tapwatch/schema';
import { BoundedMap, type Finding } from './types.js';
import { defineDetector } from './detector.js';

export const SEQUENCE_DETECTOR = 'rare_sequence';

export interface SequenceConfig {
  rareProbability: number;
  minSourceObservations: number;
  minTargetObservations: number;
  minRare: number;
  window: number;
  /** Weight of the global prior in an agent's model. */
  alpha: number;
  /** Additive smoothing of the global model. */
  beta: number;
}

interface Transitions {
  total: number;
  next: Map<string, number>;
}

interface SessionTrail {
  last: string | undefined;
  /** For the last `window` calls: whether the transition into each was rare. */
  rare: { state: string; from: string; p: number; callId: string; at: number }[];
  seen: number;
  alerted: boolean;
}

export interface SequenceState {
  config: SequenceConfig;
  global: Map<string, Transitions>;
  stateCounts: Map<string, number>;
  agents: BoundedMap<string, Map<string, Transitions>>;
  sessions: BoundedMap<string, SessionTrail>;
}

const MAX_STATES = 20_000;

export function createSequenceState(config: Partial<SequenceConfig> = {}, maxAgents = 50_000, maxSessions = 200_000): SequenceState {
  return {
    config: {
      rareProbability: 0.005,
      minSourceObservations: 100,
      minTargetObservations: 20,
      minRare: 3,
      window: 10,
      alpha: 20,
      beta: 0.01,
      ...config,
    },
    global: new Map(),
    stateCounts: new Map(),
    agents: new BoundedMap(maxAgents),
    sessions: new BoundedMap(maxSessions),
  };
}

function bump(table: Map<string, Transitions>, from: string, to: string): void {
  let t = table.get(from);
  if (!t) {
    if (table.size >= MAX_STATES) return;
    t = { total: 0, next: new Map() };
    table.set(from, t);
  }
  t.total++;
  t.next.set(to, (t.next.get(to) ?? 0) + 1);
}

/** Teaches the model one transition (also used to seed from storage). */
export function learnTransition(state: SequenceState, agent: string, from: string, to: string): void {
  bump(state.global, from, to);
  if (state.stateCounts.size < MAX_STATES || state.stateCounts.has(to)) state.stateCounts.set(to, (state.stateCounts.get(to) ?? 0) + 1);
  let mine = state.agents.get(agent);
  if (!mine) {
    mine = new Map();
    state.agents.set(agent, mine);
  }
  bump(mine, from, to);
}

/** P(to | from) for an agent, smoothed toward the global model. */
export function transitionProbability(state: SequenceState, agent: string, from: string, to: string): number {
  const { alpha, beta } = state.config;
  const g = state.global.get(from);
  const states = Math.max(state.stateCounts.size, 1);
  const pGlobal = ((g?.next.get(to) ?? 0) + beta) / ((g?.total ?? 0) + beta * states);
  const a = state.agents.get(agent)?.get(from);
  return ((a?.next.get(to) ?? 0) + alpha * pGlobal) / ((a?.total ?? 0) + alpha);
}

/** Judges one call, then learns from it unless it raised an alert. Mutates `state`. */
export function detectSequence(state: SequenceState, event: ToolCallEvent): Finding[] {
  const to = `${event.server}/${event.tool}`;
  let trail = state.sessions.get(event.session);
  if (!trail) {
    trail = { last: undefined, rare: [], seen: 0, alerted: false };
    state.sessions.set(event.session, trail);
  }
  const from = trail.last;
  trail.last = to;
  trail.seen++;
  if (from === undefined) {
    learnTransition(state, event.agent, '^', to);
    return [];
  }
  const { config } = state;
  const sourceObs = state.global.get(from)?.total ?? 0;
  const targetObs = state.stateCounts.get(to) ?? 0;
  const p = transitionProbability(state, event.agent, from, to);
  const judged = sourceObs >= config.minSourceObservations && targetObs >= config.minTargetObservations;
  const rare = judged && p < config.rareProbability;
  if (rare) trail.rare.push({ state: to, from, p, callId: event.id, at: trail.seen });
  // Keep only rare transitions among the session's last `window` calls. A rare transition is
  // learned only once it leaves the window without having raised an alert, so that a burst
  // of the same odd move in one session keeps counting as odd.
  const seen = trail.seen;
  const expired = trail.rare.filter((r) => seen - r.at >= config.window);
  trail.rare = trail.rare.filter((r) => seen - r.at < config.window);
  if (!trail.alerted) for (const r of expired) learnTransition(state, event.agent, r.from, r.state);
  const recentRare = trail.rare;
  if (rare && !trail.alerted && recentRare.length >= config.minRare) {
    trail.alerted = true;
    return [
      {
        severity: 'medium',
        detector: SEQUENCE_DETECTOR,
        title: `${recentRare.length} unusual call transitions within ${config.window} calls in session ${event.session} (last: ${from} → ${to}).`,
        server: event.server,
        tool: event.tool,
        agent: event.agent,
        session: event.session,
        evidence: {
          transitions: recentRare.map((r) => ({ from: r.from, to: r.state, probability: Number(r.p.toExponential(2)), callId: r.callId })),
          threshold: config.rareProbability,
          window: config.window,
        },
        eventIds: recentRare.map((r) => r.callId),
      },
    ];
  }
  if (!rare) learnTransition(state, event.agent, from, to);
  return [];
}

export const SEQUENCE = defineDetector({
  id: SEQUENCE_DETECTOR,
  emits: [SEQUENCE_DETECTOR],
  eventTypes: ['tool_call'],
  create: () => createSequenceState(),
  detect: detectSequence,
  /** Replays the most recent stored calls, session by session, through the model. */
  async warm(state, store) {
    let previous: { session: string; state: string } | undefined;
    for (const c of await store.recentCallSequence(50_000)) {
      const to = `${c.server}/${c.tool}`;
      learnTransition(state, c.agent, previous?.session === c.session ? previous.state : '^', to);
      previous = { session: c.session, state: to };
    }
  },
  learning: (state) => ({ sequenceAgents: state.agents.size, sequenceStates: state.stateCounts.size }),
});
