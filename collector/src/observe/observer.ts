/**
 * Observation of what the taps relay, kept off the relay's thread.
 *
 * The relay must never wait for observation: content checks on a 10 KB
 * result take milliseconds, and on the relay's thread every message behind
 * that one would wait for them. `ThreadObserver` hands copies of what is
 * relayed to one observer thread (worker.ts) that hosts every session's
 * tracker, frames, parses and inspects, and posts the events back in order.
 * Two kinds of hand-over, one per framing (framing.ts):
 *
 * - `data`: chunks of a byte stream (stdio). They are batched for up to
 *   `batchMs` (each carries the time it was relayed, so durations stay those
 *   of the relay): one message and one wake-up of the thread per batch
 *   instead of per chunk, which is most of the relay thread's observation
 *   cost for small calls. A chunk left out resyncs framing at the next
 *   newline.
 * - `message`: one whole message (an HTTP body, an SSE event's data), handed
 *   over at once: a body's own ArrayBuffer is moved, not copied again.
 *
 * Work in flight is bounded in bytes: past the bound, traffic is left out of
 * observation and counted, so a flood can cost events but never memory or
 * relay latency; what was left out is stored as a `delivery_gap` of the
 * session, so the history says where it is blind. `LocalObserver` does the same work on the calling thread
 * (tests, and the baseline the benchmarks compare with).
 */
import { Worker } from 'node:worker_threads';
import { randomUUID } from 'node:crypto';
import type { TapEvent } from '@tapwatch/schema';
import { EVENT_SCHEMA_VERSION, UNOBSERVED_REASON, log } from '@tapwatch/schema/light';
import { ObservationCore } from './core.js';
import type { FramingKind, ObserveCounts } from './framing.js';
import { SEGMENT, type FromWorker, type ToWorker } from './protocol.js';
import type { Direction, InspectionStats, TrackerIdentity } from './tracker.js';

export type ObserverMode = 'worker' | 'inline';

/** What the relay thread hands to observation; no method throws or blocks for long. */
export interface Observer {
  /** Counters of observation; the HTTP tap's stats object itself when it passed one. */
  readonly counters: ObserverCounters;
  /** Starts a tracker for a session (`key`, chosen by the caller), framed as `framing` says. */
  open(key: number, identity: TrackerIdentity, framing: FramingKind): void;
  /** A chunk of a session's byte stream (`lines` framing); copied, the caller may reuse it. */
  data(key: number, direction: Direction, chunk: Buffer): void;
  /** One whole message (`messages` framing); the caller must not use a Buffer after this. */
  message(key: number, direction: Direction, payload: Buffer | string): void;
  /** Ends a session: open calls become incomplete, then `session_end`. */
  end(key: number, exitCode?: number | null, signal?: string | null): void;
  /** Drops a session without events. */
  drop(key: number): void;
  /** Waits (at most `timeoutMs`) until every event of what was handed over has been emitted, then stops. */
  close(timeoutMs: number): Promise<InspectionStats>;
}

/** Counters observation keeps (fields of the HTTP tap's stats). */
export interface ObserverCounters extends ObserveCounts {
  /** Chunks or messages left out of observation because the observer thread was behind. */
  observeSkipped: number;
  observeSkippedBytes: number;
}

export interface ObserverOptions {
  /** Bytes handed to the observer thread and not yet observed, past which traffic is left out (default 16 MiB). */
  maxInFlightBytes?: number | undefined;
  /** Young generation of the observer thread's heap (MB, default 4). */
  youngGenerationMb?: number | undefined;
  /** Longest a relayed chunk waits to be handed over with others (default `BATCH_MS`). */
  batchMs?: number | undefined;
  /** Niceness of the observer thread on Linux (0–19, default 0). */
  nice?: number | undefined;
  /** Called once the observer thread runs (see `leanHeap` in tap/stdio.ts: its start resets V8's flags). */
  onOnline?: (() => void) | undefined;
  /** Where counts go (default: an object of the observer's own). */
  counters?: ObserverCounters | undefined;
  /** Who logs: `tap` (default) or `proxy`. */
  label?: 'tap' | 'proxy' | undefined;
}

/**
 * Default wait of a batch: long enough to gather the messages of several
 * back-to-back calls, short against the sink's own linger (10 ms).
 */
export const BATCH_MS = 2;
/** A batch is handed over at once when it holds this much. */
const BATCH_BYTES = 64 * 1024;
/** What is reported when observation could not finish. */
const FAILED: InspectionStats = { truncatedCalls: 0, uninspectedChars: 0, errors: 1 };

export function newCounters(): ObserverCounters {
  return { parseErrors: 0, observeErrors: 0, observeSkipped: 0, observeSkippedBytes: 0 };
}

function addCounts(counters: ObserverCounters, counts: ObserveCounts): void {
  counters.parseErrors += counts.parseErrors;
  counters.observeErrors += counts.observeErrors;
}

function safeEmit(label: string, emit: (e: TapEvent) => void, e: TapEvent): void {
  try {
    emit(e);
  } catch (err) {
    log.warn(`${label} could not hand an event to its sink`, { error: (err as Error).message });
  }
}

/** Observation on the calling thread. */
export class LocalObserver implements Observer {
  private readonly core: ObservationCore;
  readonly counters: ObserverCounters;

  constructor(emit: (e: TapEvent) => void, options: Pick<ObserverOptions, 'counters' | 'label'> = {}) {
    const label = options.label ?? 'tap';
    this.counters = options.counters ?? newCounters();
    this.core = new ObservationCore((e) => safeEmit(label, emit, e));
  }

  open(key: number, identity: TrackerIdentity, framing: FramingKind): void {
    this.core.open(key, identity, framing);
  }

  data(key: number, direction: Direction, chunk: Buffer): void {
    this.core.data(key, direction, chunk, Date.now());
    this.takeCounts();
  }

  message(key: number, direction: Direction, payload: Buffer | string): void {
    this.core.data(key, direction, payload, Date.now());
    this.takeCounts();
  }

  end(key: number, exitCode: number | null = null, signal: string | null = null): void {
    this.core.end(key, exitCode, signal, false, Date.now());
    this.takeCounts();
  }

  drop(key: number): void {
    this.core.end(key, null, null, true, Date.now());
  }

  close(): Promise<InspectionStats> {
    return Promise.resolve(this.core.inspection);
  }

  private takeCounts(): void {
    if (this.core.hasCounts) addCounts(this.counters, this.core.takeCounts());
  }
}

/** Observation on a thread of its own, budgeted in bytes in flight. */
export class ThreadObserver implements Observer {
  readonly counters: ObserverCounters;
  private readonly worker: Worker;
  private readonly label: string;
  private readonly maxInFlight: number;
  private readonly batchMs: number;
  private inFlight = 0;
  private failed = false;
  private closed: ((inspection: InspectionStats) => void) | undefined;
  private closing: Promise<InspectionStats> | undefined;
  /** Streams (`streamId`) with chunks or messages left out since their last hand-over: reported before the next. */
  private readonly skipping = new Map<number, { count: number; bytes: number }>();
  /** Sessions open in the observer thread, for the gaps reported if it fails. */
  private readonly open_ = new Map<number, TrackerIdentity>();
  /** The batch being gathered, of session `batchKey`: bytes copied into `batch` up to `batchLength`, and its segments. */
  private batch: Buffer | undefined;
  private batchLength = 0;
  private batchKey = 0;
  private segments: number[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly emit: (e: TapEvent) => void,
    options: ObserverOptions = {},
  ) {
    this.counters = options.counters ?? newCounters();
    this.label = options.label ?? 'tap';
    this.maxInFlight = options.maxInFlightBytes ?? 16 * 1024 * 1024;
    this.batchMs = options.batchMs ?? BATCH_MS;
    this.worker = new Worker(new URL('./worker.js', import.meta.url), {
      workerData: { nice: options.nice ?? 0 },
      // A small young generation: the checks make short-lived garbage, and V8's default
      // semi-spaces would let it grow the tap's resident memory by tens of MB for nothing.
      resourceLimits: { maxYoungGenerationSizeMb: options.youngGenerationMb ?? 4 },
    });
    this.worker.on('message', (m: FromWorker) => this.received(m));
    this.worker.on('error', (err) => this.fail(`${this.label} observer thread failed; the relay goes on without observation`, err));
    if (options.onOnline) this.worker.once('online', options.onOnline);
    // The relay, not observation, decides when the process may exit.
    this.worker.unref();
  }

  open(key: number, identity: TrackerIdentity, framing: FramingKind): void {
    this.open_.set(key, identity);
    this.post({ t: 'open', key, identity, framing });
  }

  data(key: number, direction: Direction, chunk: Buffer): void {
    if (this.failed || this.closing) return;
    if (this.inFlight + chunk.length > this.maxInFlight) {
      this.skip(key, direction, chunk.length);
      return;
    }
    const at = Date.now();
    if (key !== this.batchKey) {
      this.flush();
      this.batchKey = key;
    }
    if (this.skipping.size > 0) this.reportSkipped(key, direction);
    this.inFlight += chunk.length;
    // One copy, into the batch's own buffer, which is then moved (not cloned) to the worker:
    // the caller may reuse the chunk's memory, and a chunk may be a view on a larger buffer.
    if (this.batchLength > 0 && this.batchLength + chunk.length > BATCH_BYTES) this.flush();
    const needed = this.batchLength + chunk.length;
    if (!this.batch || this.batch.length < needed) {
      // Grown by doubling (unpooled, so its ArrayBuffer is its own and can be transferred).
      const grown = Buffer.allocUnsafeSlow(Math.max(needed, Math.min(BATCH_BYTES, 2 * (this.batch?.length ?? 2048))));
      this.batch?.copy(grown, 0, 0, this.batchLength);
      this.batch = grown;
    }
    chunk.copy(this.batch, this.batchLength);
    this.batchLength += chunk.length;
    this.segments.push(direction === 'client' ? SEGMENT.client : SEGMENT.server, chunk.length, at);
    if (this.batchLength >= BATCH_BYTES) this.flush();
    else this.timer ??= setTimeout(this.flushLater, this.batchMs).unref();
  }

  message(key: number, direction: Direction, payload: Buffer | string): void {
    if (this.failed || this.closing) return;
    const size = payload.length;
    if (this.inFlight + size > this.maxInFlight) {
      this.skip(key, direction, size);
      return;
    }
    this.inFlight += size;
    // Stream chunks gathered before this message go first.
    if (this.segments.length > 0) this.flush();
    if (this.skipping.size > 0) this.reportSkipped(key, direction);
    if (typeof payload === 'string') {
      this.post({ t: 'msg', key, dir: direction, payload, at: Date.now() });
    } else {
      // One copy at most, into an ArrayBuffer of its own, moved (not cloned) to the thread.
      const bytes = toArrayBuffer(payload);
      this.post({ t: 'msg', key, dir: direction, payload: bytes, at: Date.now() }, [bytes]);
    }
  }

  end(key: number, exitCode: number | null = null, signal: string | null = null): void {
    this.flush();
    if (this.skipping.size > 0) {
      this.reportSkipped(key, 'client');
      this.reportSkipped(key, 'server');
    }
    this.open_.delete(key);
    this.post({ t: 'end', key, code: exitCode, signal, silently: false, at: Date.now() });
  }

  drop(key: number): void {
    this.flush();
    this.skipping.delete(streamId(key, 'client'));
    this.skipping.delete(streamId(key, 'server'));
    this.open_.delete(key);
    this.post({ t: 'end', key, code: null, signal: null, silently: true, at: Date.now() });
  }

  /** Leaves a chunk or message out of observation (the thread is behind), to be reported before the stream's next hand-over. */
  private skip(key: number, direction: Direction, size: number): void {
    if (this.counters.observeSkipped === 0)
      log.warn(`${this.label} observer is behind; leaving traffic out of observation`, { inFlightBytes: this.inFlight, size });
    this.counters.observeSkipped++;
    this.counters.observeSkippedBytes += size;
    const id = streamId(key, direction);
    const s = this.skipping.get(id);
    if (s) {
      s.count++;
      s.bytes += size;
    } else {
      this.skipping.set(id, { count: 1, bytes: size });
    }
  }

  /** Tells the thread what of the stream was left out (it resyncs and stores a gap), after what was handed over before it. */
  private reportSkipped(key: number, direction: Direction): void {
    const id = streamId(key, direction);
    const s = this.skipping.get(id);
    if (!s) return;
    this.skipping.delete(id);
    this.flush();
    this.post({ t: 'skipped', key, dir: direction, count: s.count, bytes: s.bytes, at: Date.now() });
  }

  close(timeoutMs: number): Promise<InspectionStats> {
    this.closing ??= new Promise<InspectionStats>((resolve) => {
      if (this.failed) {
        void this.worker.terminate();
        resolve(FAILED);
        return;
      }
      // A ref'd timer also keeps the process alive until the last events are back.
      const timer = setTimeout(() => {
        log.warn(`${this.label} observer did not finish in time; the last events may be missing`, { timeoutMs });
        finish(FAILED);
      }, timeoutMs);
      const finish = (inspection: InspectionStats) => {
        clearTimeout(timer);
        this.closed = undefined;
        void this.worker.terminate();
        resolve(inspection);
      };
      this.closed = finish;
      this.flush();
      this.post({ t: 'close' });
    });
    return this.closing;
  }

  private received(m: FromWorker): void {
    if (m.t === 'closed') {
      this.closed?.(m.inspection);
      return;
    }
    this.inFlight -= m.bytes;
    addCounts(this.counters, m.counts);
    for (const e of m.events) safeEmit(this.label, this.emit, e);
  }

  private readonly flushLater = (): void => {
    this.timer = undefined;
    this.flush();
  };

  /** Hands the gathered batch to the worker. */
  private flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.segments.length === 0) return;
    const bytes = (this.batch ?? Buffer.allocUnsafeSlow(0)).buffer as ArrayBuffer;
    const segments = this.segments;
    this.batch = undefined;
    this.batchLength = 0;
    this.segments = [];
    this.post({ t: 'batch', key: this.batchKey, bytes, segments }, [bytes]);
  }

  private post(message: ToWorker, transfer?: ArrayBuffer[]): void {
    if (this.failed) return;
    try {
      this.worker.postMessage(message, transfer);
    } catch (err) {
      this.fail(`${this.label} could not reach its observer thread`, err as Error);
    }
  }

  private fail(message: string, err: Error): void {
    if (this.failed) return;
    this.failed = true;
    this.counters.observeErrors++;
    log.error(message, { error: err.message });
    // The relay goes on: each open session's history says from when it is unobserved.
    const time = new Date().toISOString();
    for (const identity of this.open_.values()) {
      safeEmit(this.label, this.emit, {
        v: EVENT_SCHEMA_VERSION,
        id: randomUUID(),
        type: 'delivery_gap',
        time,
        session: identity.session,
        agent: (identity.agent ?? `${identity.hostname}:${identity.parentPid}`).slice(0, 512),
        server: (identity.serverName ?? identity.fallbackServerName).slice(0, 512),
        transport: identity.transport,
        dropped: 0,
        reason: `${UNOBSERVED_REASON} the rest of the session: the observer thread failed (${err.message})`.slice(0, 256),
      });
    }
    this.open_.clear();
    this.closed?.(FAILED);
  }
}

/** The observer for a mode: `worker` (default) keeps observation off the relay's thread. */
export function startObserver(mode: ObserverMode, emit: (e: TapEvent) => void, options: ObserverOptions = {}): Observer {
  return mode === 'inline' ? new LocalObserver(emit, options) : new ThreadObserver(emit, options);
}

/** One number per (session, direction), for `skipping`. */
function streamId(key: number, direction: Direction): number {
  return direction === 'client' ? 2 * key : 2 * key + 1;
}

/**
 * The bytes of a Buffer in an ArrayBuffer of their own: the Buffer's own when it
 * spans all of it (`Buffer.concat` of 4 KiB or more), else a copy (a small
 * Buffer is a view on a shared pool). The caller must not use the Buffer after
 * the ArrayBuffer has been transferred.
 */
function toArrayBuffer(b: Buffer): ArrayBuffer {
  if (b.byteOffset === 0 && b.buffer.byteLength === b.length && b.buffer instanceof ArrayBuffer) return b.buffer;
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer;
}
