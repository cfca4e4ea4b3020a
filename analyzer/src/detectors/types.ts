/**
 * What a detector returns: an alert without its id and time, which the
 * analyzer assigns. Detectors are pure functions of (event, their own explicit
 * state); they do no I/O.
 */
import { createHash } from 'node:crypto';
import type { Alert } from '@tapwatch/schema';

export type Finding = Omit<Alert, 'id' | 'time'>;

/** A stable alert id: the same cause (detector, event, subject) always gives the same id. */
export function alertId(detector: string, eventId: string, subject: string): string {
  return createHash('sha256').update(`${detector}\u0000${eventId}\u0000${subject}`).digest('hex').slice(0, 32);
}

/**
 * A Map that forgets its least recently used keys past `max`: per-key state stays bounded.
 *
 * Recency is kept to within `max / 16` places: a read moves an entry to the recent end only
 * when at least that many entries were moved there since its last move. Reads are the
 * analyzer's hottest path (several per event, on maps of up to 200k sessions), and a move is a
 * delete plus an insert into the underlying Map; an entry that recent is nowhere near eviction.
 * Below 32 keys the order is exact.
 */
export class BoundedMap<K, V> {
  private readonly map = new Map<K, { value: V; tick: number }>();
  /** Moves to the recent end so far; an entry's `tick` is the count at its last move. */
  private tick = 0;
  private readonly slack: number;

  constructor(private readonly max: number) {
    this.slack = Math.max(1, Math.floor(max / 16));
  }

  get(key: K): V | undefined {
    const e = this.map.get(key);
    if (e === undefined) return undefined;
    if (this.tick - e.tick >= this.slack) this.touch(key, e);
    return e.value;
  }

  set(key: K, value: V): void {
    const e = this.map.get(key);
    if (e !== undefined) {
      e.value = value;
      if (this.tick - e.tick >= this.slack) this.touch(key, e);
      return;
    }
    this.map.set(key, { value, tick: ++this.tick });
    if (this.map.size > this.max) {
      const oldest = this.map.keys().next();
      if (!oldest.done) this.map.delete(oldest.value);
    }
  }

  has(key: K): boolean {
    return this.map.has(key);
  }

  delete(key: K): boolean {
    return this.map.delete(key);
  }

  /** A snapshot of the entries, oldest first (safe to delete while iterating it). */
  entries(): [K, V][] {
    return [...this.map].map(([k, e]) => [k, e.value]);
  }

  get size(): number {
    return this.map.size;
  }

  private touch(key: K, e: { value: V; tick: number }): void {
    this.map.delete(key);
    this.map.set(key, e);
    e.tick = ++this.tick;
  }
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MB`;
}
