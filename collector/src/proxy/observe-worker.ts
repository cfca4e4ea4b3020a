/**
 * The observer thread of the HTTP tap (see observe-thread.ts): hosts every
 * session's tracker, parses and inspects the messages it is handed, and posts
 * the events back in order with how many bytes they account for (the relay
 * thread's bound on work in flight).
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { log } from '@tapwatch/schema/light';
import type { TapEvent } from '@tapwatch/schema';
import { ProxyObservationCore } from './observe-core.js';
import type { FromObserver, ToObserver } from './observe-thread.js';

const port = parentPort;
if (!port) throw new Error('observe-worker runs only as a worker thread');

// Lower this thread's CPU priority (Linux: a thread's id is a valid `setpriority` target),
// so that on a busy machine the relay, and the client and server it serves, get the cores
// first; observation catches up when they are idle, and its bound on bytes in flight
// decides what it leaves out meanwhile.
const nice = (workerData as { nice?: number } | undefined)?.nice ?? 0;
if (nice > 0 && process.platform === 'linux') {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, Math.min(19, nice));
  } catch (err) {
    log.debug('proxy observer thread keeps its priority', { error: (err as Error).message });
  }
}

let pending: TapEvent[] = [];
let unacked = 0;
let scheduled = false;
const core = new ProxyObservationCore((e) => pending.push(e));

/** Posts the events, counts and observed bytes since the last post, if any. */
const flush = () => {
  scheduled = false;
  if (pending.length === 0 && unacked === 0 && !core.hasCounts) return;
  port.postMessage({ t: 'events', events: pending, bytes: unacked, counts: core.takeCounts() } satisfies FromObserver);
  pending = [];
  unacked = 0;
};
// One post per turn of this thread's loop, not per message: the messages that queued up
// while the checks ran are answered together, and the relay thread has fewer to receive.
// Every turn acknowledges what it observed, so the relay's bound counts only real backlog.
const schedule = () => {
  if (scheduled) return;
  scheduled = true;
  setImmediate(flush);
};

port.on('message', (m: ToObserver) => {
  switch (m.t) {
    case 'open':
      core.open(m.key, m.identity);
      return;
    case 'msg':
      core.message(m.key, m.dir, m.payload, m.at);
      unacked += typeof m.payload === 'string' ? m.payload.length : m.payload.byteLength;
      schedule();
      return;
    case 'end':
      core.end(m.key, m.silently, m.at);
      schedule();
      return;
    case 'close':
      flush();
      port.postMessage({ t: 'closed' } satisfies FromObserver);
      return;
  }
});
