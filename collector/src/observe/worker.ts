/**
 * The observer thread (see observer.ts): hosts every session's tracker,
 * frames, parses and inspects what it is handed on the clock of the relay
 * (each hand-over carries when it was relayed), and posts the events back in
 * order with how many bytes they account for (the relay thread's bound on
 * work in flight).
 */
import { randomUUID } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import type { TapEvent } from '@tapwatch/schema';
import { EVENT_SCHEMA_VERSION, UNOBSERVED_REASON, log } from '@tapwatch/schema/light';
import { ObservationCore } from './core.js';
import { SEGMENT, type FromWorker, type ToWorker } from './protocol.js';

if (!parentPort) throw new Error('observe/worker runs only as a worker thread');
const port = parentPort;

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
    log.debug('observer thread keeps its priority', { error: (err as Error).message });
  }
}

/** A batch acknowledges its bytes at least this often even when no event came of them. */
const ACK_EVERY_BYTES = 256 * 1024;
let pending: TapEvent[] = [];
let unacked = 0;
let scheduled = false;
const core = new ObservationCore((e) => pending.push(e));

/** Posts the events, counts and observed bytes since the last post, if any. */
const flush = () => {
  scheduled = false;
  if (pending.length === 0 && unacked === 0 && !core.hasCounts) return;
  const events = pending;
  const bytes = unacked;
  pending = [];
  unacked = 0;
  try {
    port.postMessage({ t: 'events', events, bytes, counts: core.takeCounts() } satisfies FromWorker);
  } catch {
    // An event the structured clone cannot copy (parsing bounds depth, so this is a bug or
    // something new): post the others one by one, and a gap for each one that fails.
    for (const e of events) postOne(e);
    port.postMessage({ t: 'events', events: [], bytes, counts: core.takeCounts() } satisfies FromWorker);
  }
};

function postOne(e: TapEvent): void {
  try {
    port.postMessage({ t: 'events', events: [e], bytes: 0, counts: { parseErrors: 0, observeErrors: 0 } } satisfies FromWorker);
  } catch (err) {
    const gap: TapEvent = {
      v: EVENT_SCHEMA_VERSION,
      id: randomUUID(),
      type: 'delivery_gap',
      time: e.time,
      session: e.session,
      agent: e.agent,
      server: e.server,
      transport: e.transport,
      dropped: 1,
      reason: `${UNOBSERVED_REASON} a ${e.type} event could not be handed over (${(err as Error).message})`.slice(0, 256),
    };
    port.postMessage({ t: 'events', events: [gap], bytes: 0, counts: { parseErrors: 0, observeErrors: 1 } } satisfies FromWorker);
  }
}
// Whole messages are answered once per turn of this thread's loop, not one by one: the
// messages that queued up while the checks ran are answered together, and the relay thread
// has fewer to receive. Every turn acknowledges what it observed, so the relay's bound
// counts only real backlog.
const schedule = () => {
  if (scheduled) return;
  scheduled = true;
  setImmediate(flush);
};

/** Observes a batch of stream chunks; answers at once when it made events or enough bytes are unacknowledged. */
function observeBatch(key: number, bytes: Buffer, s: number[]): void {
  // Every byte handed over is acknowledged, observed or not: the relay's budget must not leak.
  // (`bytes` may be longer than its segments: the relay grows its batch buffer by doubling.)
  for (let i = 1; i < s.length; i += 3) unacked += s[i] ?? 0;
  let offset = 0;
  for (let i = 0; i + 2 < s.length; i += 3) {
    const kind = s[i];
    const length = s[i + 1] ?? 0;
    const at = s[i + 2] ?? Date.now();
    core.data(key, kind === SEGMENT.client ? 'client' : 'server', bytes.subarray(offset, offset + length), at);
    offset += length;
  }
  if (pending.length > 0 || unacked >= ACK_EVERY_BYTES) flush();
}

port.on('message', (m: ToWorker) => {
  try {
    handle(m);
  } catch (err) {
    // Nothing a server sends may end this thread: count it, and the session goes on.
    core.noteError(err);
    schedule();
  }
});

function handle(m: ToWorker): void {
  switch (m.t) {
    case 'open':
      core.open(m.key, m.identity, m.framing);
      return;
    case 'batch':
      observeBatch(m.key, Buffer.from(m.bytes), m.segments);
      return;
    case 'msg':
      unacked += typeof m.payload === 'string' ? m.payload.length : m.payload.byteLength;
      schedule();
      core.data(m.key, m.dir, m.payload, m.at);
      return;
    case 'skipped':
      core.skipped(m.key, m.dir, m.count, m.bytes, m.at);
      schedule();
      return;
    case 'end':
      core.end(m.key, m.code, m.signal, m.silently, m.at);
      schedule();
      return;
    case 'close':
      flush();
      port.postMessage({ t: 'closed', inspection: core.inspection } satisfies FromWorker);
      return;
  }
}
