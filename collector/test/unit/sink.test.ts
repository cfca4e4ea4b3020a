import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeliveryError, QueueingSink } from '@tapwatch/collector';
import type { TapEvent } from '@tapwatch/schema';
import { sessionEndEvent } from '../../../test/support/events.js';

class FakeSink extends QueueingSink {
  delivered: TapEvent[][] = [];
  failures: (DeliveryError | Error)[] = [];
  constructor(opts = {}) {
    super('fake', { backoffMs: 5, maxBackoffMs: 20, ...opts });
  }
  protected async deliver(batch: TapEvent[]): Promise<void> {
    const f = this.failures.shift();
    if (f) throw f;
    this.delivered.push([...batch]);
  }
}

const event = (): TapEvent => sessionEndEvent();

test('retries a transient failure and delivers everything in order', async () => {
  const sink = new FakeSink();
  sink.failures.push(new Error('ECONNREFUSED'), new DeliveryError('503', true));
  const sent = [event(), event(), event()];
  for (const e of sent) sink.send(e);
  const stats = await sink.close(2_000);
  assert.deepEqual(
    sink.delivered.flat().map((e) => e.id),
    sent.map((e) => e.id),
  );
  assert.equal(stats.sent, 3);
  assert.equal(stats.dropped, 0);
  assert.equal(stats.failedAttempts, 2);
});

test('a rejected batch (non-retriable) is dropped and counted; later events still go', async () => {
  const sink = new FakeSink({ maxBatch: 1 });
  sink.failures.push(new DeliveryError('422', false));
  sink.send(event());
  sink.send(event());
  const stats = await sink.close(2_000);
  assert.equal(stats.dropped, 1);
  assert.equal(stats.sent, 1);
});

test('a full queue drops and counts instead of growing', async () => {
  const sink = new FakeSink({ maxQueue: 2 });
  sink.failures.push(new Error('down'));
  for (let i = 0; i < 5; i++) sink.send(event());
  const stats = await sink.close(2_000);
  assert.equal(stats.dropped, 3);
  assert.equal(stats.sent, 2);
});

test('close gives up after its timeout when the sink stays down, counting what was lost', async () => {
  const sink = new FakeSink();
  for (let i = 0; i < 50; i++) sink.failures.push(new Error('down'));
  sink.send(event());
  const stats = await sink.close(100);
  assert.equal(stats.sent, 0);
  assert.equal(stats.dropped, 1);
});
