/**
 * One byte-stream session on an `Observer` of its own: what the stdio tap
 * needs (one server, two streams, one end). `WorkerObserver` observes on the
 * observer thread, `InlineObserver` on the calling thread; see observer.ts
 * for the budget and the batching.
 */
import type { TapEvent } from '@tapwatch/schema';
import { LocalObserver, ThreadObserver, type Observer, type ObserverMode } from './observer.js';
import type { Direction, InspectionStats, TrackerIdentity } from './tracker.js';

export type { ObserverMode } from './observer.js';

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

/** The session's key on its observer: the only one there. */
const KEY = 1;

class StreamSessionObserver implements SessionObserver {
  constructor(
    private readonly observer: Observer,
    identity: TrackerIdentity,
  ) {
    observer.open(KEY, identity, 'lines');
  }

  data(direction: Direction, chunk: Buffer): void {
    this.observer.data(KEY, direction, chunk);
  }

  async end(exitCode: number | null, signal: string | null, timeoutMs: number): Promise<ObserverSummary> {
    this.observer.end(KEY, exitCode, signal);
    const inspection = await this.observer.close(timeoutMs);
    return { inspection, skippedChunks: this.observer.counters.observeSkipped, skippedBytes: this.observer.counters.observeSkippedBytes };
  }
}

export class InlineObserver extends StreamSessionObserver {
  constructor(identity: TrackerIdentity, emit: (e: TapEvent) => void) {
    super(new LocalObserver(emit), identity);
  }
}

export class WorkerObserver extends StreamSessionObserver {
  constructor(identity: TrackerIdentity, emit: (e: TapEvent) => void, options: WorkerObserverOptions = {}) {
    super(new ThreadObserver(emit, options), identity);
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
