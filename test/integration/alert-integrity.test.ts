/**
 * Alerts cannot be downgraded or hidden, against a real `tapwatch up` fed
 * through POST /v1/ingest: a low finding a server triggers on purpose does not
 * hold back a later critical one of the same (detector, server, tool, agent)
 * for the merge window, and a forged event that arrives first with a real
 * event's id does not make the real one a "duplicate" — both are stored and
 * `event_id_collision` is raised — while a true redelivery is still stored once.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { ContentFinding } from '@tapwatch/schema';
import { rows, startUp, subscribeAlerts, waitFor, type AlertCollector, type RunningTapwatch, ingestEvents } from '../support/helpers.js';
import { toolCallEvent } from '../support/events.js';

const WEAK_SECRET_IN_RESULT: ContentFinding = { kind: 'secret', where: 'result', rule: 'high_entropy_string' };
const AWS_KEY_IN_ARGUMENTS: ContentFinding = { kind: 'secret', where: 'arguments', field: 'body', rule: 'aws_access_key_id', excerpt: 'AKIA…' };

describe('with a real tapwatch up', () => {
  let tw: RunningTapwatch;
  let stream: AlertCollector;
  const run = randomUUID().slice(0, 8);

  before(async () => {
    tw = await startUp({ env: { TAPWATCH_TOKEN: '' } });
    stream = await subscribeAlerts(tw.url);
  });
  after(async () => {
    stream?.close();
    await tw?.stop();
  });

  const ingest = (events: unknown[]) => ingestEvents(tw.url, events);

  /** Ingests a marker event and waits until it is stored: everything ingested before it has been handled. */
  async function settled(): Promise<void> {
    const marker = toolCallEvent({ server: `${run}-marker`, session: `marker-${randomUUID()}` });
    await ingest([marker]);
    await waitFor(
      'the marker stored',
      async () => (await rows(tw.url, `SELECT 1 FROM tool_calls WHERE session = {s:String}`, undefined, { s: marker.session })).length === 1,
    );
  }

  test('a low finding first does not hold back a critical one of the same server, tool and agent: it is published at once with its own title', async () => {
    const common = { server: `${run}-fs`, tool: 'write_file', agent: `agent-${run}`, session: `down-${run}` };
    await ingest([toolCallEvent({ ...common, requestId: '1', findings: [WEAK_SECRET_IN_RESULT] })]);
    const low = await stream.waitForAlert((a) => a.server === common.server && a.detector === 'content.secret', 'the low alert');
    assert.equal(low.severity, 'low');

    await ingest([toolCallEvent({ ...common, requestId: '2', findings: [AWS_KEY_IN_ARGUMENTS] })]);
    // Without the fix this alert is held for the ten-minute merge window and then comes out as a low summary.
    const high = await stream.waitForAlert(
      (a) => a.server === common.server && a.detector === 'content.secret' && a.id !== low.id,
      'the AWS key alert, published at once',
      15_000,
    );
    assert.ok(high.severity === 'high' || high.severity === 'critical', `severity ${high.severity}`);
    assert.match(high.title, /A secret \(aws_access_key_id\) is being sent in the arguments of /);
    assert.equal(high.evidence.rule, 'aws_access_key_id', 'with its own evidence');
    const stored = await rows(tw.url, `SELECT severity, title FROM alerts WHERE id = {id:String}`, undefined, { id: high.id });
    assert.deepEqual(stored, [{ severity: high.severity, title: high.title }], 'and stored as published');
  });

  test('a forged event that arrives first with a real event id: both are stored and event_id_collision is raised; a redelivery is stored once', async () => {
    const id = randomUUID();
    // The forger copies the real event's id and time (storage deduplicates within an event's own time).
    const time = new Date().toISOString();
    const forged = toolCallEvent({ id, time, startedAt: time, server: `${run}-forger`, tool: 'read_file', agent: `agent-${run}`, session: `forged-${run}` });
    const real = toolCallEvent({
      id,
      time,
      startedAt: time,
      server: `${run}-real`,
      tool: 'write_file',
      agent: `agent-${run}`,
      session: `real-${run}`,
      findings: [AWS_KEY_IN_ARGUMENTS],
    });
    await ingest([forged]);
    await waitFor('the forged event stored', async () => (await rows(tw.url, `SELECT 1 FROM tool_calls WHERE id = {id:UUID}`, undefined, { id })).length === 1);

    await ingest([real]);
    const collision = await stream.waitForAlert((a) => a.detector === 'event_id_collision' && a.evidence?.id === id, 'the collision alert', 15_000);
    assert.equal(collision.severity, 'high');
    assert.equal(collision.server, real.server);
    assert.equal(collision.evidence.holder.server, forged.server);
    assert.equal(collision.evidence.holder.session, forged.session);
    assert.equal(collision.evidence.later.session, real.session);
    assert.notEqual(collision.evidence.storedAs, id);
    assert.deepEqual(collision.eventIds, [id, collision.evidence.storedAs]);
    // The real event was detected on too: its secret is not hidden behind the forged one.
    await stream.waitForAlert((a) => a.detector === 'content.secret' && a.server === real.server, "the real event's own alert");

    // True redeliveries: the real event again (a tap retrying), the forged one again, and a fresh event twice.
    const twice = toolCallEvent({ server: `${run}-real`, agent: `agent-${run}`, session: `twice-${run}` });
    await ingest([real]);
    await ingest([forged, twice]);
    await ingest([twice]);
    await settled();
    const stored = await rows(
      tw.url,
      `SELECT toString(id) AS id, server, session FROM tool_calls WHERE startsWith(session, 'forged-') OR startsWith(session, 'real-') OR startsWith(session, 'twice-') ORDER BY server, session`,
    );
    const ours = stored.filter((r) => r.session.endsWith(run));
    assert.deepEqual(
      ours.map((r) => [r.server, r.session]),
      [
        [forged.server, forged.session],
        [real.server, real.session],
        [twice.server, twice.session],
      ],
      'the forged and the real event each once, the redelivered event once',
    );
    assert.equal(ours.find((r) => r.session === forged.session)?.id, id, 'the first keeps the id');
    assert.equal(ours.find((r) => r.session === real.session)?.id, collision.evidence.storedAs, 'the real one is stored apart');
    const collisions = await rows(tw.url, `SELECT id FROM alerts WHERE detector = 'event_id_collision' AND server = {s:String}`, undefined, { s: real.server });
    assert.equal(collisions.length, 1, 'a redelivery of the real event raises no second collision');
  });
});
