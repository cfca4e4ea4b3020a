/**
 * The in-process bus of the embedded default (`tapwatch up` without Kafka):
 * ingest publishes into a bounded queue, the analyzer drains it in batches,
 * alerts fan out to subscribers in the same process.
 *
 * With a write-ahead log (wal.ts) `publish` resolves only once the events are
 * on disk, and the log's commit mark follows what the analyzer has stored:
 * after a crash `recover` queues again everything accepted and not yet
 * stored. A full disk makes `publish` fail with TAPWATCH_DISK_FULL (ingest
 * answers 503 and taps spool) and `health` say so; when an append works
 * again, `onDiskRecovered` hears how long and how much was refused.
 */
import { randomUUID } from 'node:crypto';
import { EVENT_SCHEMA_VERSION, INGEST_REFUSED_REASON, TapwatchError, type Alert, type TapEvent } from '@tapwatch/schema';
import { eventRecord } from './record.js';
import type { AlertFeed, AlertListener, AlertPublisher, EventBatchHandler, EventPublisher, EventRecord, EventSource } from './types.js';
import { type WalPosition, type WriteAheadLog } from './wal.js';

export interface MemoryBusOptions {
  maxBatch: number;
  /** Most events held before ingest answers 503 (taps retry). */
  maxQueued?: number;
  /** Makes accepted events durable (`recover` first, before the first `publish`). */
  wal?: WriteAheadLog | undefined;
}

/** A record and, with a log, where it ends there. */
interface QueuedRecord extends EventRecord {
  end?: WalPosition | undefined;
}

export class MemoryEventBus implements EventPublisher, EventSource {
  private queue: QueuedRecord[] = [];
  /** Events whose append to the log is in flight: they count against `maxQueued` already. */
  private reserved = 0;
  /** Since when appends fail for a full disk, and how many events were refused meanwhile. */
  private full: { since: string; refused: number; message: string } | undefined;
  private wake: (() => void) | undefined;
  private running: Promise<void> | undefined;
  private stopping = false;
  private readonly maxQueued: number;

  constructor(private readonly options: MemoryBusOptions) {
    this.maxQueued = options.maxQueued ?? 200_000;
  }

  get depth(): number {
    return this.queue.length;
  }

  /** Whether ingest can take events; not while the data directory is full. */
  health(): { ok: boolean; reason?: string; since?: string } {
    return this.full ? { ok: false, reason: this.full.message, since: this.full.since } : { ok: true };
  }

  /** Queues what the log holds past its commit mark (accepted before a crash, not stored). Returns how many. */
  async recover(): Promise<number> {
    const wal = this.options.wal;
    if (!wal) return 0;
    const records = await wal.open();
    for (const r of records) this.queue.push({ key: null, value: r.value, end: r.end });
    if (records.length > 0) this.wake?.();
    return records.length;
  }

  async publish(events: TapEvent[]): Promise<void> {
    if (this.stopping) throw new TapwatchError('TAPWATCH_SHUTTING_DOWN', 'tapwatch is shutting down; retry later', { retriable: true, httpStatus: 503 });
    if (this.queue.length + this.reserved + events.length > this.maxQueued) {
      throw new TapwatchError('TAPWATCH_BACKPRESSURE', 'the analyzer is behind; retry later', { retriable: true, httpStatus: 503 });
    }
    const records: QueuedRecord[] = events.map(eventRecord);
    const wal = this.options.wal;
    if (wal) {
      let end: WalPosition;
      this.reserved += events.length;
      try {
        end = await wal.append(records.map((r) => r.value));
      } catch (err) {
        this.reserved -= events.length;
        if (err instanceof TapwatchError && err.code === 'TAPWATCH_DISK_FULL') {
          this.full ??= { since: new Date().toISOString(), refused: 0, message: err.message };
          this.full.refused += events.length;
        }
        throw err;
      }
      this.reserved -= events.length;
      // Where each record ends: the append wrote them back to back, the last ending at `end`.
      let offset = end.offset;
      for (let i = records.length - 1; i >= 0; i--) {
        records[i]!.end = { segment: end.segment, offset };
        offset -= Buffer.byteLength(records[i]!.value) + 1;
      }
      if (this.full) this.recovered();
    }
    for (const r of records) this.queue.push(r);
    this.wake?.();
  }

  /** An append worked after the disk was full: the refusal is reported as an event of its own, stored like any other. */
  private recovered(): void {
    const full = this.full!;
    this.full = undefined;
    const now = new Date().toISOString();
    const gap: TapEvent = {
      v: EVENT_SCHEMA_VERSION,
      id: randomUUID(),
      type: 'delivery_gap',
      time: now,
      session: 'tapwatch-ingest',
      agent: 'tapwatch',
      server: 'tapwatch',
      transport: 'http',
      dropped: 0,
      from: full.since,
      to: now,
      reason:
        `${INGEST_REFUSED_REASON} the data directory was full from ${full.since} to ${now}; ${full.refused} events refused with 503 (taps kept them in their spools)`.slice(
          0,
          256,
        ),
    };
    // Queued behind the events that proved the disk works again; it goes to the log with the next append.
    void this.publish([gap]).catch(() => undefined);
  }

  async start(handler: EventBatchHandler): Promise<void> {
    this.running = this.loop(handler);
  }

  /** Stops after draining what was accepted: an accepted event is never dropped at shutdown. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.running;
  }

  async close(): Promise<void> {
    await this.stop();
    await this.options.wal?.close();
  }

  private async loop(handler: EventBatchHandler): Promise<void> {
    for (;;) {
      if (this.queue.length === 0) {
        if (this.stopping) return;
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        this.wake = undefined;
        continue;
      }
      const batch = this.queue.slice(0, this.options.maxBatch);
      try {
        await handler(batch, async () => {});
      } catch {
        // The handler gave up on this batch only because we are stopping; the events stay queued.
        if (this.stopping) return;
        await new Promise((resolve) => setTimeout(resolve, 500));
        continue;
      }
      this.queue.splice(0, batch.length);
      const end = lastEnd(batch);
      if (end) await this.options.wal?.commit(end);
    }
  }
}

function lastEnd(batch: QueuedRecord[]): WalPosition | undefined {
  for (let i = batch.length - 1; i >= 0; i--) if (batch[i]!.end) return batch[i]!.end;
  return undefined;
}

/** In-process alert fan-out; also the API's feed when the analyzer runs in the same process. */
export class AlertHub implements AlertPublisher, AlertFeed {
  private readonly listeners = new Set<AlertListener>();

  async publish(alerts: Alert[]): Promise<void> {
    for (const a of alerts) this.deliver(a);
  }

  /** Delivers one alert to every listener; a failing listener does not stop the others. */
  deliver(alert: Alert): void {
    for (const l of this.listeners) {
      try {
        l(alert);
      } catch {
        // A listener's failure is its own; the hub keeps delivering.
      }
    }
  }

  subscribe(listener: AlertListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.listeners.clear();
  }
}
