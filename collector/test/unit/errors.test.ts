import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TapwatchError } from '@tapwatch/schema';
import { DeliveryError, SinkUrlError, WrapError, createSink } from '@tapwatch/collector';

test("the collector's errors are TapwatchErrors with codes of the one table", async () => {
  const d = new DeliveryError('refused', false);
  assert.ok(d instanceof TapwatchError);
  assert.deepEqual([d.code, d.retriable], ['TAPWATCH_DELIVERY_FAILED', false]);
  assert.equal(new DeliveryError('timed out', true).retriable, true);
  assert.ok(new WrapError('TAPWATCH_WRAP_BAD_JSON', 'x') instanceof TapwatchError);
  await assert.rejects(
    createSink('ftp://x', { eventsTopic: 't', spool: false }),
    (err: unknown) => err instanceof SinkUrlError && err instanceof TapwatchError && err.code === 'TAPWATCH_BAD_SINK_URL',
  );
});
