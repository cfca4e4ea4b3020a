/**
 * Framings: how what a tap relays becomes the JSON-RPC messages a
 * `SessionTracker` observes. Both run where observation runs (the observer
 * thread, or inline), never on the relay's hot path.
 *
 * - `lines`: a byte stream of newline-delimited JSON-RPC (the stdio
 *   transport), handed over in arbitrary chunks; `LineSplitter` finds the
 *   messages, and a line that is not JSON counts in the session's
 *   `nonJsonLines`. Chunks left out of observation make it resync at the
 *   next newline.
 * - `messages`: whole messages (the HTTP tap's JSON bodies and SSE event
 *   data), each parsed here; one that is not JSON counts in `parseErrors`.
 *
 * Each framing catches its own failures (logged and counted in
 * `observeErrors`): observation must never take the relay down.
 */
import { log, parseBounded } from '@tapwatch/schema/light';
import { LineSplitter } from './line-splitter.js';
import type { Direction, SessionTracker } from './tracker.js';

/** Which framing a session's traffic goes through. */
export type FramingKind = 'lines' | 'messages';

/** What the relay handed over: stream bytes, a JSON body's bytes, or an SSE event's data. */
export type Payload = Buffer | ArrayBuffer | string;

/** Counters observation keeps for the relay thread (added to the HTTP tap's stats). */
export interface ObserveCounts {
  /** Bodies or events that were not valid JSON (`messages` framing). */
  parseErrors: number;
  /** Failures inside observation. */
  observeErrors: number;
}

export interface Framing {
  /** Who logs: `tap` (stdio) or `proxy` (HTTP), as the taps' log lines always said. */
  readonly label: 'tap' | 'proxy';
  /** Frames what was handed over and feeds the complete messages to `tracker`. */
  data(tracker: SessionTracker, direction: Direction, payload: Payload, counts: ObserveCounts): void;
  /** Bytes of `direction` were left out of observation: forget a partial message. */
  resync(direction: Direction): void;
  /** The session ends: feeds what is left without a terminator. */
  end(tracker: SessionTracker): void;
}

/** Newline-delimited JSON-RPC over a byte stream (stdio). */
export class LineFraming implements Framing {
  readonly label = 'tap';
  private readonly splitters: Record<Direction, LineSplitter> = { client: new LineSplitter(), server: new LineSplitter() };

  data(tracker: SessionTracker, direction: Direction, payload: Payload, counts: ObserveCounts): void {
    const splitter = this.splitters[direction];
    const oversized = splitter.oversized;
    let lines: Buffer[];
    try {
      lines = splitter.push(asBuffer(payload));
    } catch (err) {
      failed(tracker, direction, counts, err, 'tap');
      return;
    }
    if (splitter.oversized > oversized) {
      observeSafely(() => tracker.noteUnobserved(direction, splitter.oversized - oversized, 0, 'longer than the longest message observed'), counts, 'tap');
    }
    for (const line of lines) {
      try {
        tracker.observeLine(direction, line);
      } catch (err) {
        failed(tracker, direction, counts, err, 'tap');
      }
    }
  }

  resync(direction: Direction): void {
    this.splitters[direction].resync();
  }

  end(tracker: SessionTracker): void {
    for (const dir of ['client', 'server'] as const) {
      const last = this.splitters[dir].end();
      if (last) tracker.observeLine(dir, last);
    }
  }
}

/** One JSON-RPC message (or batch) per payload (HTTP bodies, SSE events). */
export class MessageFraming implements Framing {
  readonly label = 'proxy';

  data(tracker: SessionTracker, direction: Direction, payload: Payload, counts: ObserveCounts): void {
    let parsed: ReturnType<typeof parseBounded>;
    try {
      parsed = parseBounded(typeof payload === 'string' ? payload : asBuffer(payload));
    } catch {
      counts.parseErrors++;
      return;
    }
    try {
      tracker.observe(direction, parsed.value, parsed.cut);
    } catch (err) {
      failed(tracker, direction, counts, err, 'proxy');
    }
  }

  resync(): void {
    // Messages arrive whole: nothing partial to forget.
  }

  end(): void {
    // Nothing is held between messages.
  }
}

/** Observation failed on a message: counted, logged, and stored as a gap (unless that fails too). */
function failed(tracker: SessionTracker, direction: Direction, counts: ObserveCounts, err: unknown, label: 'tap' | 'proxy'): void {
  const error = err instanceof Error ? err.message : String(err);
  counts.observeErrors++;
  log.warn(`${label} observation failed on a message`, { direction, error });
  observeSafely(() => tracker.noteUnobserved(direction, 1, 0, `observation failed (${error})`), counts, label);
}

function observeSafely(run: () => void, counts: ObserveCounts, label: 'tap' | 'proxy'): void {
  try {
    run();
  } catch (err) {
    counts.observeErrors++;
    log.warn(`${label} could not record a gap in observation`, { error: err instanceof Error ? err.message : String(err) });
  }
}

export function createFraming(kind: FramingKind): Framing {
  return kind === 'lines' ? new LineFraming() : new MessageFraming();
}

/** A view (no copy) of the payload's bytes. */
function asBuffer(payload: Payload): Buffer {
  if (Buffer.isBuffer(payload)) return payload;
  return typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Buffer.from(payload);
}
