// Exactly once by id and content (analyzer/src/dedup.ts): what is a redelivery,
// what is an id taken by other content, and the alert the latter raises.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TapEventSchema } from '@tapwatch/schema';
import { collisionId, eventFingerprint, type StoredClaim } from '@tapwatch/store';
import { collisionAlert, dedupByContent, EVENT_ID_COLLISION } from '../../src/dedup.js';
import { toolCallEvent } from '../../../test/support/events.js';

const claim = (id: string, e: { session: string; server: string; agent: string }, fingerprint: string): StoredClaim => ({
  id,
  fingerprint,
  session: e.session,
  server: e.server,
  agent: e.agent,
});

test('the fingerprint is the same for a redelivery (re-serialized and re-parsed) and differs for other content; the derived id is a stable UUID', () => {
  const e = toolCallEvent({ arguments: { b: 1, a: [1, 2] } });
  const again = TapEventSchema.parse(JSON.parse(JSON.stringify(e)));
  assert.equal(eventFingerprint(again), eventFingerprint(e));
  assert.equal(eventFingerprint({ ...e, id: collisionId(e.id, eventFingerprint(e)) }), eventFingerprint(e), 'the id is not part of it');
  assert.notEqual(eventFingerprint(toolCallEvent({ id: e.id, arguments: { b: 2, a: [1, 2] } })), eventFingerprint(e));
  const derived = collisionId(e.id, eventFingerprint(e));
  assert.equal(derived, collisionId(e.id, eventFingerprint(again)));
  assert.notEqual(derived, e.id);
  assert.ok(TapEventSchema.safeParse({ ...e, id: derived }).success, `${derived} is a UUID the schema takes`);
});

test('same id and content is a duplicate, in the batch or stored; same id and other content is stored apart and reported', () => {
  const real = toolCallEvent({ server: 'real', session: 'r' });
  const forged = toolCallEvent({ id: real.id, server: 'forger', session: 'f', responseBytes: 1 });
  const other = toolCallEvent();

  const inBatch = dedupByContent([forged, real, real, forged, other], []);
  const apart = collisionId(real.id, eventFingerprint(real));
  assert.deepEqual(
    inBatch.fresh.map((e) => [e.id, e.server]),
    [
      [real.id, 'forger'],
      [apart, 'real'],
      [other.id, other.server],
    ],
  );
  assert.equal(inBatch.duplicates, 2);
  assert.equal(inBatch.collisions.length, 1);
  assert.equal(inBatch.collisions[0]!.event, real, 'the event as it arrived');
  assert.equal(inBatch.collisions[0]!.holder.server, 'forger');

  // The forged one stored earlier: the real one is kept apart.
  const later = dedupByContent([real], [claim(real.id, forged, eventFingerprint(forged))]);
  assert.deepEqual(
    later.fresh.map((e) => e.id),
    [apart],
  );
  // The real one redelivered after it was stored apart: a duplicate, no second collision.
  const redelivered = dedupByContent([real], [claim(real.id, forged, eventFingerprint(forged)), claim(apart, real, eventFingerprint(real))]);
  assert.deepEqual(redelivered, { fresh: [], duplicates: 1, collisions: [] });
  // The same content stored under its own id: a plain redelivery.
  assert.deepEqual(dedupByContent([real], [claim(real.id, real, eventFingerprint(real))]), { fresh: [], duplicates: 1, collisions: [] });
  // A row stored before fingerprints existed: taken as the same event, as the id alone was.
  assert.deepEqual(dedupByContent([real], [claim(real.id, forged, '')]), { fresh: [], duplicates: 1, collisions: [] });
});

test('the collision alert is high and names the id, where it was stored apart and both sources', () => {
  const real = toolCallEvent({ server: 'real', session: 'r', tool: 'send' });
  const forged = toolCallEvent({ id: real.id, server: 'forger', session: 'f' });
  const [c] = dedupByContent([real], [claim(real.id, forged, eventFingerprint(forged))]).collisions;
  const a = collisionAlert(c!, new Date().toISOString());
  assert.equal(a.detector, EVENT_ID_COLLISION);
  assert.equal(a.severity, 'high');
  assert.equal(a.server, 'real');
  assert.equal(a.tool, 'send');
  assert.deepEqual(a.eventIds, [real.id, c!.storedAs]);
  assert.equal(a.evidence.id, real.id);
  assert.deepEqual(a.evidence.holder, { fingerprint: eventFingerprint(forged), session: 'f', server: 'forger', agent: forged.agent });
  assert.deepEqual(a.evidence.later, { fingerprint: eventFingerprint(real), session: 'r', server: 'real', agent: real.agent });
  assert.equal(collisionAlert(c!, a.time).id, a.id, 'deterministic: a replay cannot raise it twice');
});
