/**
 * Exactly once by id and content. Upstream delivery is at least once, so the
 * analyzer skips what is stored already; but an id alone is something anyone
 * who can ingest can copy. An event counts as a redelivery only when an event
 * of the same id *and* the same content fingerprint is stored (or came earlier
 * in the batch). One whose id is taken by other content is stored apart under
 * a derived id and raises `event_id_collision`: a forged event that arrives
 * first can no longer make the real one disappear. Pure: the caller reads the
 * stored claims and stores what this returns.
 */
import type { Alert, TapEvent } from '@tapwatch/schema';
import { collisionId, eventFingerprint, type StoredClaim } from '@tapwatch/store';
import { alertId } from './detectors/types.js';

export const EVENT_ID_COLLISION = 'event_id_collision';

type Claim = Omit<StoredClaim, 'id'>;

/** An event whose id was taken by other content: stored as `storedAs` instead. */
export interface IdCollision {
  /** The event as it arrived, with the id it claimed. */
  event: TapEvent;
  fingerprint: string;
  storedAs: string;
  /** The event that holds the id. */
  holder: Claim;
}

export interface DedupOutcome {
  /** Events to store and detect on, in batch order; one stored apart carries its derived id. */
  fresh: TapEvent[];
  duplicates: number;
  collisions: IdCollision[];
}

/**
 * Splits a batch into what is new and what is a redelivery, given what
 * storage holds under its ids (`EventRepository.storedClaims`). Rows stored
 * before fingerprints existed have none and are taken as the same content, as
 * the id alone was before.
 */
export function dedupByContent(events: TapEvent[], stored: StoredClaim[]): DedupOutcome {
  const claims = new Map<string, Claim[]>();
  const claim = (id: string, c: Claim) => {
    const list = claims.get(id);
    if (list) list.push(c);
    else claims.set(id, [c]);
  };
  for (const { id, ...c } of stored) claim(id, c);
  const out: DedupOutcome = { fresh: [], duplicates: 0, collisions: [] };
  for (const e of events) {
    const fingerprint = eventFingerprint(e);
    const mine: Claim = { fingerprint, session: e.session, server: e.server, agent: e.agent };
    const holders = claims.get(e.id);
    if (holders === undefined) {
      claim(e.id, mine);
      out.fresh.push(e);
      continue;
    }
    // The derived id encodes the fingerprint: anything under it is this content, stored apart before.
    const apart = collisionId(e.id, fingerprint);
    if (holders.some((h) => h.fingerprint === fingerprint || h.fingerprint === '') || claims.has(apart)) {
      out.duplicates++;
      continue;
    }
    claim(apart, mine);
    out.fresh.push({ ...e, id: apart });
    out.collisions.push({ event: e, fingerprint, storedAs: apart, holder: holders[0]! });
  }
  return out;
}

/** The alert for an id taken by other content (`time`: when it was raised). */
export function collisionAlert(c: IdCollision, time: string): Alert {
  const e = c.event;
  return {
    id: alertId(EVENT_ID_COLLISION, c.storedAs, e.id),
    time,
    severity: 'high',
    detector: EVENT_ID_COLLISION,
    title:
      `Two events of different content claim the id ${e.id}; the later one, a ${e.type} from ${e.server} in session ${e.session}, is stored apart as ${c.storedAs}.`.slice(
        0,
        1024,
      ),
    server: e.server,
    tool: e.type === 'tool_call' ? e.tool : '',
    agent: e.agent,
    session: e.session,
    evidence: {
      id: e.id,
      storedAs: c.storedAs,
      type: e.type,
      holder: c.holder,
      later: { fingerprint: c.fingerprint, session: e.session, server: e.server, agent: e.agent },
    },
    eventIds: [e.id, c.storedAs],
  };
}
