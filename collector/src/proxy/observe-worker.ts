/**
 * The observer thread of the HTTP tap (see observe-thread.ts): hosts every
 * session's tracker, parses and inspects the messages it is handed, and posts
 * the events back in order with how many bytes they account for (the relay
 * thread's bound on work in flight).
 */
import { parentPort } from 'node:worker_threads';
import type { TapEvent } from '@tapwatch/schema';
import { ProxyObservationCore } from './observe-core.js';
import type { FromObserver, ToObserver } from './observe-thread.js';

const port = parentPort;
if (!port) throw new Error('observe-worker runs only as a worker thread');

/** Acknowledge observed bytes at least this often even when no event came of them. */
const ACK_EVERY_BYTES = 256 * 1024;
let pending: TapEvent[] = [];
let unacked = 0;
const core = new ProxyObservationCore((e) => pending.push(e));

const flush = (force: boolean) => {
  if (!force && pending.length === 0 && unacked < ACK_EVERY_BYTES && !core.hasCounts) return;
  port.postMessage({ t: 'events', events: pending, bytes: unacked, counts: core.takeCounts() } satisfies FromObserver);
  pending = [];
  unacked = 0;
};

port.on('message', (m: ToObserver) => {
  switch (m.t) {
    case 'open':
      core.open(m.key, m.identity);
      return;
    case 'msg':
      core.message(m.key, m.dir, m.payload);
      unacked += typeof m.payload === 'string' ? m.payload.length : m.payload.byteLength;
      flush(false);
      return;
    case 'end':
      core.end(m.key, m.silently);
      flush(false);
      return;
    case 'close':
      flush(true);
      port.postMessage({ t: 'closed' } satisfies FromObserver);
      return;
  }
});
