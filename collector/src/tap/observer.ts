/**
 * Observation of a stdio session, kept off the relay's thread.
 *
 * The relay must never wait for observation: content checks on a 10 KB result
 * take milliseconds, and on the relay's thread they would delay the next
 * message by as much. `WorkerObserver` hands copies of the relayed chunks to
 * a worker thread that frames, parses, tracks and inspects them and posts the
 * events back in order. Chunks are batched for up to `BATCH_MS` (each carries
 * the time it was relayed, so durations stay those of the relay): one
 * message and one wake-up of the thread per batch instead of per chunk, which
 * is most of the relay thread's observation cost for small calls. Its queue is
 * bounded in bytes: past the bound chunks are left out of observation
 * (counted) and framing resyncs at the next newline, so a flood can cost
 * events but never memory or relay latency.
 * `InlineObserver` does the same work on the calling thread (tests, and the
 * baseline the benchmarks compare with).
 */
import { Worker } from 'node:worker_threads';
import type { TapEvent } from '@tapwatch/schema';
import { log } from '@tapwatch/schema/light';
import { LineSplitter } from './framing.js';
import { SessionTracker, type Direction, type InspectionStats, type TrackerIdentity } from './tracker.js';

export interface ObserverSummary {
  inspection: InspectionStats;
  /** Chunks left out of observation because the worker fell behind. */
  skippedChunks: number;
  skippedBytes: number;
}

export interface SessionObserver {
  /** Observes a copy of relayed bytes; never throws, never blocks for long. */
  data(direction: Direction, chunk: Buffer): void;
  /** Ends the session (open calls become incomplete) and waits for the last events. */
  end(exitCode: number | null, signal: string | null, timeoutMs: number): Promise<ObserverSummary>;
}

export type ObserverMode = 'worker' | 'inline';

/** Kinds of the segments of a batch. */
export const SEGMENT = { client: 0, server: 1, resyncClient: 2, resyncServer: 3 } as const;

/**
 * Messages from the relay thread to the worker. A batch is its chunks' bytes
 * back to back, and per segment three numbers: kind (`SEGMENT`), byte length
 * (0 for a resync) and the `Date.now()` at which it was relayed.
 */
export type ToWorker =
  | { t: 'batch'; bytes: ArrayBuffer; segments: number[] }
  | { t: 'end'; code: number | null; signal: string | null; at: number };
/** Messages from the worker to the relay thread. */
export type FromWorker =
  | { t: 'events'; events: TapEvent[]; bytes: number }
  | { t: 'done'; inspection: InspectionStats };

/** The framing and tracking both observers run; `flush` returns what `emit` received since the last flush. */
export class ObservationCore {
  private readonly splitters: Record<Direction, LineSplitter> = { client: new LineSplitter(), server: new LineSplitter() };
  readonly tracker: SessionTracker;

  constructor(identity: TrackerIdentity, emit: (e: TapEvent) => void, now?: () => number) {
    this.tracker = new SessionTracker(identity, emit, now);
  }

  data(direction: Direction, chunk: Buffer): void {
    try {
      for (const line of this.splitters[direction].push(chunk)) this.tracker.observeLine(direction, line);
    } catch (err) {
      // Observation must never take the relay down.
      log.warn('tap observation failed on a message', { direction, error: (err as Error).message });
    }
  }

  resync(direction: Direction): void {
    this.splitters[direction].resync();
  }

  end(code: number | null, signal: string | null): InspectionStats {
    for (const dir of ['client', 'server'] as const) {
      const last = this.splitters[dir].end();
      if (last) this.tracker.observeLine(dir, last);
    }
    this.tracker.end(code, signal);
    return this.tracker.inspectionStats;
  }
}

export class InlineObserver implements SessionObserver {
  private readonly core: ObservationCore;

  constructor(identity: TrackerIdentity, emit: (e: TapEvent) => void) {
    this.core = new ObservationCore(identity, emit);
  }

  data(direction: Direction, chunk: Buffer): void {
    this.core.data(direction, chunk);
  }

  end(exitCode: number | null, signal: string | null): Promise<ObserverSummary> {
    return Promise.resolve({ inspection: this.core.end(exitCode, signal), skippedChunks: 0, skippedBytes: 0 });
  }
}

export interface WorkerObserverOptions {
  /** Bytes handed to the worker and not yet observed, past which chunks are left out (default 16 MiB). */
  maxInFlightBytes?: number;
  /** Young generation of the observer thread's heap (MB). */
  youngGenerationMb?: number;
  /** Longest a relayed chunk waits to be handed to the worker with others (default `BATCH_MS`). */
  batchMs?: number;
  /** Called once the observer thread runs (see `leanHeap` in stdio.ts: its start resets V8's flags). */
  onOnline?: () => void;
}

/**
 * Default wait of a batch: long enough to gather the messages of several
 * back-to-back calls, short against the sink's own linger (10 ms).
 */
export const BATCH_MS = 2;
/** A batch is handed over at once when it holds this much. */
const BATCH_BYTES = 64 * 1024;

export class WorkerObserver implements SessionObserver {
  private readonly worker: Worker;
  private inFlight = 0;
  private readonly maxInFlight: number;
  private readonly skipping: Record<Direction, boolean> = { client: false, server: false };
  private skippedChunks = 0;
  private skippedBytes = 0;
  private failed = false;
  private done: ((inspection: InspectionStats) => void) | undefined;
  private readonly batchMs: number;
  /** The batch being gathered: bytes copied into `batch` up to `batchLength`, and its segments. */
  private batch: Buffer | undefined;
  private batchLength = 0;
  private segments: number[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(identity: TrackerIdentity, emit: (e: TapEvent) => void, options: WorkerObserverOptions = {}) {
    this.maxInFlight = options.maxInFlightBytes ?? 16 * 1024 * 1024;
    this.batchMs = options.batchMs ?? BATCH_MS;
    this.worker = new Worker(new URL('./observer-worker.js', import.meta.url), {
      workerData: { identity },
      // A small young generation: the checks make short-lived garbage, and V8's default
      // semi-spaces would let it grow the tap's resident memory by tens of MB for nothing.
      resourceLimits: { maxYoungGenerationSizeMb: options.youngGenerationMb ?? 4 },
    });
    this.worker.on('message', (m: FromWorker) => {
      if (m.t === 'events') {
        this.inFlight -= m.bytes;
        for (const e of m.events) {
          try {
            emit(e);
          } catch (err) {
            log.warn('tap could not hand an event to its sink', { error: (err as Error).message });
          }
        }
      } else {
        this.done?.(m.inspection);
      }
    });
    this.worker.on('error', (err) => {
      this.failed = true;
      log.error('tap observer thread failed; the relay goes on without observation', { error: err.message });
      this.done?.({ truncatedCalls: 0, uninspectedChars: 0, errors: 1 });
    });
    if (options.onOnline) this.worker.once('online', options.onOnline);
    // The relay, not observation, decides when the process may exit.
    this.worker.unref();
  }

  data(direction: Direction, chunk: Buffer): void {
    if (this.failed) return;
    if (this.inFlight + chunk.length > this.maxInFlight) {
      if (this.skippedChunks === 0) log.warn('tap observer is behind; leaving traffic out of observation', { inFlightBytes: this.inFlight });
      this.skippedChunks++;
      this.skippedBytes += chunk.length;
      this.skipping[direction] = true;
      return;
    }
    const at = Date.now();
    if (this.skipping[direction]) {
      this.skipping[direction] = false;
      this.segments.push(direction === 'client' ? SEGMENT.resyncClient : SEGMENT.resyncServer, 0, at);
    }
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
    this.post({ t: 'batch', bytes, segments }, [bytes]);
  }

  end(exitCode: number | null, signal: string | null, timeoutMs: number): Promise<ObserverSummary> {
    const summary = (inspection: InspectionStats): ObserverSummary => ({ inspection, skippedChunks: this.skippedChunks, skippedBytes: this.skippedBytes });
    if (this.failed) return Promise.resolve(summary({ truncatedCalls: 0, uninspectedChars: 0, errors: 1 }));
    return new Promise<ObserverSummary>((resolve) => {
      const timer = setTimeout(() => {
        log.warn('tap observer did not finish in time; the last events may be missing', { timeoutMs });
        finish({ truncatedCalls: 0, uninspectedChars: 0, errors: 1 });
      }, timeoutMs);
      const finish = (inspection: InspectionStats) => {
        clearTimeout(timer);
        this.done = undefined;
        void this.worker.terminate();
        resolve(summary(inspection));
      };
      this.done = finish;
      this.flush();
      this.post({ t: 'end', code: exitCode, signal, at: Date.now() });
    });
  }

  private post(message: ToWorker, transfer?: ArrayBuffer[]): void {
    try {
      this.worker.postMessage(message, transfer);
    } catch (err) {
      this.failed = true;
      log.error('tap could not reach its observer thread', { error: (err as Error).message });
    }
  }
}

/** The observer for a mode: `worker` (default) keeps observation off the relay's thread. */
export function createObserver(
  mode: ObserverMode,
  identity: TrackerIdentity,
  emit: (e: TapEvent) => void,
  options: WorkerObserverOptions = {},
): SessionObserver {
  return mode === 'inline' ? new InlineObserver(identity, emit) : new WorkerObserver(identity, emit, options);
}
