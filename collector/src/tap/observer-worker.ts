/**
 * The observer thread of the stdio tap (see observer.ts): frames, parses,
 * tracks and inspects the relayed bytes it is handed, and posts the events
 * back in order, with how many bytes they account for (the relay thread's
 * bound on work in flight).
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { TapEvent } from '@tapwatch/schema';
import { ObservationCore, type FromWorker, type ToWorker } from './observer.js';
import type { TrackerIdentity } from './tracker.js';

const port = parentPort;
if (!port) throw new Error('observer-worker runs only as a worker thread');

/** Acknowledge observed bytes at least this often even when no event came of them. */
const ACK_EVERY_BYTES = 256 * 1024;
let pending: TapEvent[] = [];
let unacked = 0;
const core = new ObservationCore((workerData as { identity: TrackerIdentity }).identity, (e) => pending.push(e));

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'data': {
      core.data(m.dir, Buffer.from(m.bytes));
      unacked += m.bytes.byteLength;
      if (pending.length === 0 && unacked < ACK_EVERY_BYTES) return;
      port.postMessage({ t: 'events', events: pending, bytes: unacked } satisfies FromWorker);
      pending = [];
      unacked = 0;
      return;
    }
    case 'resync':
      core.resync(m.dir);
      return;
    case 'end': {
      const inspection = core.end(m.code, m.signal);
      if (pending.length > 0) port.postMessage({ t: 'events', events: pending, bytes: 0 } satisfies FromWorker);
      pending = [];
      port.postMessage({ t: 'done', inspection } satisfies FromWorker);
      return;
    }
  }
});
