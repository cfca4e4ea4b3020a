/**
 * `observation_gap`: a server keeps sending what the tap cannot fully
 * observe. One message nested past the parsing limit, or one burst that
 * outran the observer, is stored (the event's `cut`, a `delivery_gap` whose
 * reason begins with UNOBSERVED_REASON) and is no alert: a busy machine does
 * that. `MIN_GAPS` of them from one server within `WINDOW_MS` is a pattern a
 * server that wants to hide calls would produce, so it is alerted once per
 * (server, agent) and window. State: recent gap times per (server, agent), bounded.
 *
 * Also `ingest_refused`: tapwatch itself refused events while its data
 * directory was full (reported once space returned, as a gap whose reason
 * begins with INGEST_REFUSED_REASON). Nothing was lost (taps spooled), but
 * nothing was judged meanwhile either: alerted at once, high.
 */
import {
  INGEST_REFUSED_REASON,
  UNOBSERVED_REASON,
  type DeliveryGapEvent,
  type ServerRequestEvent,
  type ToolCallEvent,
  type ToolsListEvent,
} from '@tapwatch/schema';
import { defineDetector } from './detector.js';
import { BoundedMap, type Finding } from './types.js';

export const BLIND_SPOT_DETECTOR = 'observation_gap';
export const INGEST_REFUSED_DETECTOR = 'ingest_refused';

/** Gaps of one server (and agent) within the window that make an alert. */
export const MIN_GAPS = 3;
export const WINDOW_MS = 10 * 60_000;

interface Recent {
  /** Times (epoch ms) of the gaps within the window, oldest first, at most MIN_GAPS. */
  times: number[];
  /** What the gaps were, for the evidence (at most MIN_GAPS). */
  reasons: string[];
  eventIds: string[];
  /** No second alert before this time. */
  quietUntil: number;
}

export interface BlindSpotState {
  recent: BoundedMap<string, Recent>;
}

type Judged = DeliveryGapEvent | ToolCallEvent | ToolsListEvent | ServerRequestEvent;

/** What of `event` the tap could not observe, or undefined when it saw all of it. */
function unobserved(event: Judged): string | undefined {
  if (event.type === 'delivery_gap') return event.reason.startsWith(UNOBSERVED_REASON) ? event.reason : undefined;
  return event.cut && event.cut.length > 0 ? `${event.type} cut while parsing: ${event.cut.join(', ')}` : undefined;
}

export function detectBlindSpots(state: BlindSpotState, event: Judged): Finding[] {
  if (event.type === 'delivery_gap' && event.reason.startsWith(INGEST_REFUSED_REASON)) {
    return [
      {
        severity: 'high',
        detector: INGEST_REFUSED_DETECTOR,
        title: `tapwatch refused events while its data directory was full (${event.from ?? '?'} to ${event.to ?? '?'}); taps kept them, so they were stored and judged late.`,
        server: event.server,
        tool: '',
        agent: event.agent,
        session: event.session,
        evidence: { reason: event.reason, from: event.from ?? null, to: event.to ?? null },
        eventIds: [event.id],
      },
    ];
  }
  const what = unobserved(event);
  if (what === undefined) return [];
  const now = Date.parse(event.time);
  const key = `${event.server}\u0000${event.agent}`;
  let r = state.recent.get(key);
  if (!r) {
    r = { times: [], reasons: [], eventIds: [], quietUntil: 0 };
    state.recent.set(key, r);
  }
  r.times.push(now);
  r.reasons.push(what.slice(0, 200));
  r.eventIds.push(event.id);
  while (r.times.length > 0 && (r.times.length > MIN_GAPS || now - r.times[0]! > WINDOW_MS)) {
    r.times.shift();
    r.reasons.shift();
    r.eventIds.shift();
  }
  if (r.times.length < MIN_GAPS || now < r.quietUntil) return [];
  r.quietUntil = now + WINDOW_MS;
  return [
    {
      severity: 'medium',
      detector: BLIND_SPOT_DETECTOR,
      title: `Server ${event.server} sent ${MIN_GAPS} messages within ${WINDOW_MS / 60_000} minutes that tapwatch could not fully observe.`,
      server: event.server,
      tool: event.type === 'tool_call' ? event.tool : '',
      agent: event.agent,
      session: event.session,
      evidence: { gaps: r.reasons.slice(), windowMinutes: WINDOW_MS / 60_000 },
      eventIds: r.eventIds.slice(),
    },
  ];
}

export const BLIND_SPOTS = defineDetector<BlindSpotState, Judged['type']>({
  id: BLIND_SPOT_DETECTOR,
  emits: [BLIND_SPOT_DETECTOR, INGEST_REFUSED_DETECTOR],
  eventTypes: ['tool_call', 'tools_list', 'server_request', 'delivery_gap'],
  create: () => ({ recent: new BoundedMap(10_000) }),
  detect: (state, event) => detectBlindSpots(state, event),
});
