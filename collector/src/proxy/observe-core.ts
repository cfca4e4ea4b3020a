/**
 * What the HTTP tap's observation does with one message, wherever it runs:
 * the proxy's observer thread (observe-worker.ts) or, inline, the relay's
 * thread (observe-thread.ts). One `SessionTracker` per tapwatch session,
 * keyed by a number the relay thread chose; messages arrive as the bytes of
 * a JSON body or the data of an SSE event, and are parsed here. Each carries
 * the time the relay thread handed it over, and the trackers read the clock
 * from it: durations are the relay's, whatever the observer's backlog.
 *
 * Imports only `@tapwatch/schema/light` at run time, so the observer thread
 * does not load zod a second time.
 */
import type { TapEvent } from '@tapwatch/schema';
import { log } from '@tapwatch/schema/light';
import { SessionTracker, type Direction, type TrackerIdentity } from '../tap/tracker.js';

/** Counters the relay thread adds to its `HttpProxyStats`. */
export interface ObserveCounts {
  /** Bodies or events that were not valid JSON. */
  parseErrors: number;
  /** Failures inside observation. */
  observeErrors: number;
}

/** A message to observe: a JSON body's bytes, or an SSE event's data. */
export type Payload = ArrayBuffer | string;

export class ProxyObservationCore {
  private readonly trackers = new Map<number, SessionTracker>();
  /** Counted since the last `takeCounts`. */
  private counts: ObserveCounts = { parseErrors: 0, observeErrors: 0 };
  /** The relay thread's time of the message being observed (epoch ms). */
  private at = Date.now();
  private readonly clock = () => this.at;

  constructor(private readonly emit: (event: TapEvent) => void) {}

  open(key: number, identity: TrackerIdentity): void {
    this.trackers.set(key, new SessionTracker(identity, this.emit, this.clock));
  }

  /** Observes one message; `at` is when the relay thread had it (epoch ms). */
  message(key: number, direction: Direction, payload: Payload, at: number): void {
    const tracker = this.trackers.get(key);
    if (!tracker) return;
    this.at = at;
    let parsed: unknown;
    try {
      parsed = JSON.parse(typeof payload === 'string' ? payload : Buffer.from(payload).toString('utf8'));
    } catch {
      this.counts.parseErrors++;
      return;
    }
    try {
      tracker.observe(direction, parsed);
    } catch (err) {
      this.counts.observeErrors++;
      log.warn('proxy observation failed on a message', { direction, error: (err as Error).message });
    }
  }

  /** Ends a session: its open calls become incomplete, then `session_end`; `silently` drops it without events. */
  end(key: number, silently: boolean, at: number): void {
    const tracker = this.trackers.get(key);
    if (!tracker) return;
    this.trackers.delete(key);
    if (silently) return;
    this.at = at;
    try {
      tracker.end(null, null);
    } catch (err) {
      this.counts.observeErrors++;
      log.warn('proxy could not end a session', { error: (err as Error).message });
    }
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
