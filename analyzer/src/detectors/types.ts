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

/** A Map that forgets its least recently used keys past `max`: per-key state stays bounded. */
export class BoundedMap<K, V> {
  private readonly map = new Map<K, V>();
  constructor(private readonly max: number) {}

  get(key: K): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
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
    return [...this.map.entries()];
  }

  get size(): number {
    return this.map.size;
  }
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MB`;
}
