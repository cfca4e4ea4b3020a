/**
 * The messages between the relay thread (observer.ts) and the observer
 * thread (worker.ts). Type-only apart from `SEGMENT`, so either side can
 * import it without loading the other.
 */
import type { TapEvent } from '@tapwatch/schema';
import type { FramingKind, ObserveCounts } from './framing.js';
import type { Direction, InspectionStats, TrackerIdentity } from './tracker.js';

/** Kinds of the segments of a batch. */
export const SEGMENT = { client: 0, server: 1 } as const;

/**
 * Relay thread → observer thread.
 * - `batch`: chunks of one session's byte streams, back to back in `bytes`,
 *   and per segment three numbers: kind (`SEGMENT`), byte length and the
 *   `Date.now()` at which it was relayed;
 * - `msg`: one whole message (a JSON body's bytes, or an SSE event's data);
 * - `skipped`: `count` chunks or messages (`bytes`) of a stream were left out
 *   (the observer was behind): framing resyncs and a gap is stored;
 * - `end`: the session ends (`silently`: dropped without events);
 * - `close`: post what is left, then `closed`.
 */
export type ToWorker =
  | { t: 'open'; key: number; identity: TrackerIdentity; framing: FramingKind }
  | { t: 'batch'; key: number; bytes: ArrayBuffer; segments: number[] }
  | { t: 'msg'; key: number; dir: Direction; payload: ArrayBuffer | string; at: number }
  | { t: 'skipped'; key: number; dir: Direction; count: number; bytes: number; at: number }
  | { t: 'end'; key: number; code: number | null; signal: string | null; silently: boolean; at: number }
  | { t: 'close' };

/** Observer thread → relay thread: events in order, with the bytes they account for (the relay's bound on work in flight). */
export type FromWorker = { t: 'events'; events: TapEvent[]; bytes: number; counts: ObserveCounts } | { t: 'closed'; inspection: InspectionStats };
