/**
 * What observation does with what a tap relayed, wherever it runs: the
 * observer thread (worker.ts) or, inline, the relay's thread (observer.ts).
 * One `SessionTracker` per tapwatch session, keyed by a number the relay
 * thread chose, behind the framing its transport needs (framing.ts). Each
 * hand-over carries the time the relay thread had it, and the trackers read
 * the clock from it: durations are the relay's, whatever the observer's
 * backlog.
 *
 * Imports only `@tapwatch/schema/light` at run time, so the observer thread
 * does not load zod a second time.
 */
import type { TapEvent } from '@tapwatch/schema';
import { log } from '@tapwatch/schema/light';
import { createFraming, type Framing, type FramingKind, type ObserveCounts, type Payload } from './framing.js';
import { SessionTracker, type Direction, type InspectionStats, type TrackerIdentity } from './tracker.js';

interface ObservedSession {
  tracker: SessionTracker;
  framing: Framing;
}

export class ObservationCore {
  private readonly sessions = new Map<number, ObservedSession>();
  /** Counted since the last `takeCounts`. */
  private counts: ObserveCounts = { parseErrors: 0, observeErrors: 0 };
  /** What content inspection left out, over the sessions ended so far. */
  private readonly inspected: InspectionStats = { truncatedCalls: 0, uninspectedChars: 0, errors: 0 };
  /** The relay thread's time of what is being observed (epoch ms). */
  private at = Date.now();
  private readonly clock = () => this.at;

  constructor(private readonly emit: (event: TapEvent) => void) {}

  open(key: number, identity: TrackerIdentity, framing: FramingKind): void {
    this.sessions.set(key, { tracker: new SessionTracker(identity, this.emit, this.clock), framing: createFraming(framing) });
  }

  /** Observes what was handed over for a session; `at` is when the relay thread had it (epoch ms). */
  data(key: number, direction: Direction, payload: Payload, at: number): void {
    const s = this.sessions.get(key);
    if (!s) return;
    this.at = at;
    s.framing.data(s.tracker, direction, payload, this.counts);
  }

  /** `count` chunks or messages (`bytes`) of a session were left out of observation: framing resyncs, a gap is stored. */
  skipped(key: number, direction: Direction, count: number, bytes: number, at: number): void {
    const s = this.sessions.get(key);
    if (!s) return;
    this.at = at;
    s.framing.resync(direction);
    try {
      s.tracker.noteUnobserved(direction, count, bytes, 'the observer was behind (its budget of bytes in flight was spent)');
    } catch (err) {
      this.noteError(err);
    }
  }

  /** A failure in observation outside a framing (counted and logged; the relay is unaffected). */
  noteError(err: unknown): void {
    this.counts.observeErrors++;
    log.warn('observation failed', { error: err instanceof Error ? err.message : String(err) });
  }

  /** Ends a session: its open calls become incomplete, then `session_end`; `silently` drops it without events. */
  end(key: number, exitCode: number | null, signal: string | null, silently: boolean, at: number): void {
    const s = this.sessions.get(key);
    if (!s) return;
    this.sessions.delete(key);
    if (silently) return;
    this.at = at;
    try {
      s.framing.end(s.tracker);
      s.tracker.end(exitCode, signal);
    } catch (err) {
      this.counts.observeErrors++;
      log.warn(`${s.framing.label} could not end a session`, { error: (err as Error).message });
    }
    const i = s.tracker.inspectionStats;
    this.inspected.truncatedCalls += i.truncatedCalls;
    this.inspected.uninspectedChars += i.uninspectedChars;
    this.inspected.errors += i.errors;
  }

  /** What content inspection left out in the sessions ended so far. */
  get inspection(): InspectionStats {
    return { ...this.inspected };
  }

  /** Something was counted since the last `takeCounts`. */
  get hasCounts(): boolean {
    return this.counts.parseErrors > 0 || this.counts.observeErrors > 0;
  }

  /** The counts since the last call, reset. */
  takeCounts(): ObserveCounts {
    const c = this.counts;
    this.counts = { parseErrors: 0, observeErrors: 0 };
    return c;
  }
}
