/**
 * What storage deduplicates on besides the id: a fingerprint of the event's
 * content. A tap that retries or replays its spool sends the same serialized
 * event again, byte for byte, so a redelivery has the id and the fingerprint
 * of its first copy; an event that only borrows another's id (forged, or
 * from a broken tap) has a different fingerprint and must not be taken for
 * that event's redelivery.
 */
import { createHash } from 'node:crypto';
import type { TapEvent } from '@tapwatch/schema';

/** Fingerprints already computed: the analyzer checks an event and the store writes it (one hash per event). */
const computed = new WeakMap<TapEvent, string>();

/**
 * The content fingerprint of an event: SHA-256 (128 bits, hex) of the parsed
 * event serialized without its id. Parsing gives the schema's fields in the
 * schema's order, and a retry resends identical JSON, so a redelivery
 * fingerprints alike. The id is left out so that an event stored apart under
 * `collisionId` keeps the fingerprint of what was sent.
 */
export function eventFingerprint(event: TapEvent): string {
  let fp = computed.get(event);
  if (fp === undefined) {
    const { id: _id, ...content } = event;
    fp = createHash('sha256').update(JSON.stringify(content)).digest('hex').slice(0, 32);
    computed.set(event, fp);
  }
  return fp;
}

/**
 * The id an event is stored under when its own id is taken by an event of
 * other content: a UUID (version 8, RFC 9562) derived from the id and the
 * fingerprint, so the same event delivered again gets the same one and is
 * stored once.
 */
export function collisionId(id: string, fingerprint: string): string {
  const h = createHash('sha256').update(`${id}\u0000${fingerprint}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x80;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
