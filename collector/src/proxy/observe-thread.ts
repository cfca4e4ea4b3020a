/**
 * The HTTP tap's observation, kept off the relay's thread.
 *
 * Content checks on a 10 KB result cost milliseconds of CPU; on the relay's
 * thread every response behind that one would wait for them. The relay
 * thread therefore only copies each message (a JSON body, or an SSE event's
 * data) and posts it, with the number of its session, to one observer thread
 * that hosts every session's `SessionTracker` and posts the events back in
 * order. Work in flight is bounded in bytes: past the bound, messages are
 * left out of observation and counted, so a flood can cost events but never
 * memory or relay latency. Each message carries the relay's time, so call
 * durations do not include the observer's backlog. `inline` mode does the same work on the relay's
 * thread (tests, and the baseline the benchmark compares with).
 */
import { Worker } from 'node:worker_threads';
import type { TapEvent } from '@tapwatch/schema';
import { log } from '@tapwatch/schema/light';
import type { Direction, TrackerIdentity } from '../tap/tracker.js';
import { ProxyObservationCore, type ObserveCounts, type Payload } from './observe-core.js';

export type ProxyObserverMode = 'worker' | 'inline';

/** What the relay thread hands to observation; no method throws or blocks for long. */
export interface ProxyObserver {
  /** Starts a tracker for a session. */
  open(key: number, identity: TrackerIdentity): void;
  /** Observes one message of a session (a JSON body's bytes — copied here — or an SSE event's data). */
  message(key: number, direction: Direction, payload: Buffer | string): void;
  /** Ends a session; `silently` drops it without a `session_end`. */
  end(key: number, silently: boolean): void;
  /** Waits (at most `timeoutMs`) until every event of what was handed over has been emitted, then stops. */
  close(timeoutMs: number): Promise<void>;
}

/** Counters observation keeps in the proxy's stats. */
export interface ObserverCounters extends ObserveCounts {
  /** Messages left out of observation because the observer thread was behind. */
  observeSkipped: number;
  observeSkippedBytes: number;
}

export interface ProxyObserverOptions {
  /** Bytes handed to the observer thread and not yet observed, past which messages are left out (default 16 MiB). */
  maxInFlightBytes?: number | undefined;
  /** Young generation of the observer thread's heap (MB, default 4). */
  youngGenerationMb?: number | undefined;
  /** Niceness of the observer thread on Linux (0–19, default 10): the relay gets the CPU first. */
  nice?: number | undefined;
}

/** Messages from the relay thread to the observer thread. */
export type ToObserver =
  | { t: 'open'; key: number; identity: TrackerIdentity }
  | { t: 'msg'; key: number; dir: Direction; payload: Payload; at: number }
  | { t: 'end'; key: number; silently: boolean; at: number }
  | { t: 'close' };
/** Messages from the observer thread to the relay thread. */
export type FromObserver = { t: 'events'; events: TapEvent[]; bytes: number; counts: ObserveCounts } | { t: 'closed' };

function safeEmit(emit: (e: TapEvent) => void, e: TapEvent): void {
  try {
    emit(e);
  } catch (err) {
    log.warn('proxy could not hand an event to its sink', { error: (err as Error).message });
  }
}

function addCounts(counters: ObserverCounters, counts: ObserveCounts): void {
  counters.parseErrors += counts.parseErrors;
  counters.observeErrors += counts.observeErrors;
}

export class InlineProxyObserver implements ProxyObserver {
  private readonly core: ProxyObservationCore;

  constructor(
    emit: (e: TapEvent) => void,
    private readonly counters: ObserverCounters,
  ) {
    this.core = new ProxyObservationCore((e) => safeEmit(emit, e));
  }

  open(key: number, identity: TrackerIdentity): void {
    this.core.open(key, identity);
  }

  message(key: number, direction: Direction, payload: Buffer | string): void {
    this.core.message(key, direction, typeof payload === 'string' ? payload : toArrayBuffer(payload), Date.now());
    addCounts(this.counters, this.core.takeCounts());
  }

  end(key: number, silently: boolean): void {
    this.core.end(key, silently, Date.now());
    addCounts(this.counters, this.core.takeCounts());
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

export class WorkerProxyObserver implements ProxyObserver {
  private readonly worker: Worker;
  private readonly maxInFlight: number;
  private inFlight = 0;
  private failed = false;
  private closed: (() => void) | undefined;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly emit: (e: TapEvent) => void,
    private readonly counters: ObserverCounters,
    options: ProxyObserverOptions = {},
  ) {
    this.maxInFlight = options.maxInFlightBytes ?? 16 * 1024 * 1024;
    this.worker = new Worker(new URL('./observe-worker.js', import.meta.url), {
      workerData: { nice: options.nice ?? 10 },
      // The checks make short-lived garbage; V8's default semi-spaces would grow the
      // proxy's resident memory by tens of MB for nothing (as in the stdio tap's observer).
      resourceLimits: { maxYoungGenerationSizeMb: options.youngGenerationMb ?? 4 },
    });
    this.worker.on('message', (m: FromObserver) => {
      if (m.t === 'events') {
        this.inFlight -= m.bytes;
        addCounts(this.counters, m.counts);
        for (const e of m.events) safeEmit(this.emit, e);
      } else {
        this.closed?.();
      }
    });
    this.worker.on('error', (err) => {
      this.fail('proxy observer thread failed; the relay goes on without observation', err);
    });
    // The relay, not observation, decides when the process may exit.
    this.worker.unref();
  }

  open(key: number, identity: TrackerIdentity): void {
    this.post({ t: 'open', key, identity });
  }

  message(key: number, direction: Direction, payload: Buffer | string): void {
    if (this.failed || this.closing) return;
    const size = typeof payload === 'string' ? payload.length : payload.length;
    if (this.inFlight + size > this.maxInFlight) {
      if (this.counters.observeSkipped === 0) log.warn('proxy observer is behind; leaving messages out of observation', { inFlightBytes: this.inFlight, size });
      this.counters.observeSkipped++;
      this.counters.observeSkippedBytes += size;
      return;
    }
    this.inFlight += size;
    if (typeof payload === 'string') {
      this.post({ t: 'msg', key, dir: direction, payload, at: Date.now() });
    } else {
      // One copy into an ArrayBuffer of its own, moved (not cloned) to the thread.
      const bytes = toArrayBuffer(payload);
      this.post({ t: 'msg', key, dir: direction, payload: bytes, at: Date.now() }, [bytes]);
    }
  }

  end(key: number, silently: boolean): void {
    this.post({ t: 'end', key, silently, at: Date.now() });
  }

  close(timeoutMs: number): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      if (this.failed) {
        void this.worker.terminate();
        resolve();
        return;
      }
      // A ref'd timer also keeps the process alive until the last events are back.
      const timer = setTimeout(() => {
        log.warn('proxy observer did not finish in time; the last events may be missing', { timeoutMs });
        finish();
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        this.closed = undefined;
        void this.worker.terminate();
        resolve();
      };
      this.closed = finish;
      this.post({ t: 'close' });
    });
    return this.closing;
  }

  private post(message: ToObserver, transfer?: ArrayBuffer[]): void {
    if (this.failed) return;
    try {
      this.worker.postMessage(message, transfer);
    } catch (err) {
      this.fail('proxy could not reach its observer thread', err as Error);
    }
  }

  private fail(message: string, err: Error): void {
    if (this.failed) return;
    this.failed = true;
    this.counters.observeErrors++;
    log.error(message, { error: err.message });
    this.closed?.();
  }
}

/** The observer for a mode: `worker` (default) keeps observation off the relay's thread. */
export function createProxyObserver(mode: ProxyObserverMode, emit: (e: TapEvent) => void, counters: ObserverCounters, options?: ProxyObserverOptions): ProxyObserver {
  return mode === 'inline' ? new InlineProxyObserver(emit, counters) : new WorkerProxyObserver(emit, counters, options);
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
