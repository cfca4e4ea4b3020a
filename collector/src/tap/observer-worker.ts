/**
 * The observer thread of the stdio tap (see observer.ts): frames, parses,
 * tracks and inspects the batches of relayed bytes it is handed, on the clock
 * of the relay (each segment carries when it was relayed), and posts the
 * events back in order, with how many bytes they account for (the relay
 * thread's bound on work in flight).
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { TapEvent } from '@tapwatch/schema';
import { ObservationCore, SEGMENT, type FromWorker, type ToWorker } from './observer.js';
import type { TrackerIdentity } from './tracker.js';

const port = parentPort;
if (!port) throw new Error('observer-worker runs only as a worker thread');

/** Acknowledge observed bytes at least this often even when no event came of them. */
const ACK_EVERY_BYTES = 256 * 1024;
let pending: TapEvent[] = [];
let unacked = 0;
/** When the segment being observed was relayed: the tracker's clock. */
let relayedAt = Date.now();
const core = new ObservationCore((workerData as { identity: TrackerIdentity }).identity, (e) => pending.push(e), () => relayedAt);

port.on('message', (m: ToWorker) => {
  if (m.t === 'batch') {
    const bytes = Buffer.from(m.bytes);
    const s = m.segments;
    let offset = 0;
    for (let i = 0; i + 2 < s.length; i += 3) {
      const kind = s[i];
      const length = s[i + 1] ?? 0;
      relayedAt = s[i + 2] ?? Date.now();
      if (kind === SEGMENT.client || kind === SEGMENT.server) {
        core.data(kind === SEGMENT.client ? 'client' : 'server', bytes.subarray(offset, offset + length));
        offset += length;
      } else {
        core.resync(kind === SEGMENT.resyncClient ? 'client' : 'server');
      }
    }
    unacked += offset;
    if (pending.length === 0 && unacked < ACK_EVERY_BYTES) return;
    port.postMessage({ t: 'events', events: pending, bytes: unacked } satisfies FromWorker);
    pending = [];
    unacked = 0;
    return;
  }
  relayedAt = m.at;
  const inspection = core.end(m.code, m.signal);
  if (pending.length > 0 || unacked > 0) port.postMessage({ t: 'events', events: pending, bytes: unacked } satisfies FromWorker);
  pending = [];
  unacked = 0;
  port.postMessage({ t: 'done', inspection } satisfies FromWorker);
});
