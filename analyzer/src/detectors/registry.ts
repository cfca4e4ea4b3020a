/**
 * Every detector, in the order the engine runs them, and the index from event
 * type to the detectors that judge it (as Falco indexes rules by event type):
 * an event reaches only the detectors that listed its type, in registry order.
 *
 * The order is behaviour: findings come out in it, and alert merging and
 * corroboration see them in it. Per event type it is:
 *   tool_call     unadvertised_tool, first_use, content, exfiltration_chain,
 *                 call_loop, error_streak, bulk_reads, call_rate, session_volume,
 *                 rare_sequence, rules, result size, argument size, latency,
 *                 observation_gap
 *   tools_list    tool_definition_changed, tool_poisoning, tool_shadowing,
 *                 (advertised tools noted), rules, observation_gap
 *   server_request, delivery_gap  observation_gap
 *   session_start new_server
 *   session_end   (rate normals learned)
 */
import type { AnyDetector, EventType } from './detector.js';
import { DEFINITION_CHANGE } from './definition-change.js';
import { POISONING } from './poisoning.js';
import { SHADOWING } from './shadowing.js';
import { NOVELTY } from './novelty.js';
import { FIRST_USE } from './first-use.js';
import { CONTENT } from './content.js';
import { FLOW } from './flow.js';
import { RATE } from './rate.js';
import { SEQUENCE } from './sequence.js';
import { RULES } from './rules.js';
import { ARGUMENT_SIZE, LATENCY, RESULT_SIZE } from './result-size.js';
import { BLIND_SPOTS } from './blind-spots.js';

export const DETECTORS: readonly AnyDetector[] = Object.freeze([
  DEFINITION_CHANGE,
  POISONING,
  SHADOWING,
  NOVELTY,
  FIRST_USE,
  CONTENT,
  FLOW,
  RATE,
  SEQUENCE,
  RULES,
  RESULT_SIZE,
  ARGUMENT_SIZE,
  LATENCY,
  BLIND_SPOTS,
]);

/**
 * Event type → positions (in `detectors`) of the detectors that judge it,
 * ascending. Throws when two detectors share an id.
 */
export function eventTypeIndex(detectors: readonly AnyDetector[]): ReadonlyMap<EventType, readonly number[]> {
  const ids = new Set<string>();
  const index = new Map<EventType, number[]>();
  detectors.forEach((d, i) => {
    if (ids.has(d.id)) throw new Error(`detector ${d.id} is registered twice`);
    ids.add(d.id);
    for (const type of new Set(d.eventTypes)) {
      const at = index.get(type);
      if (at) at.push(i);
      else index.set(type, [i]);
    }
  });
  return index;
}
