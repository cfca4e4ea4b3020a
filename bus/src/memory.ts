/**
 * The in-process bus of the embedded default (`tapwatch up` without Kafka):
 * ingest publishes into a bounded queue, the analyzer drains it in batches,
 * alerts fan out to subscribers in the same process.
 */
import { TapwatchError, type Alert, type TapEvent } from '@tapwatch/schema';
import { eventRecord } from './record.js';
import type { AlertFeed, AlertListener, AlertPublisher, EventBatchHandler, EventPublisher, EventRecord, EventSource } from './types.js';

export interface MemoryBusOptions {
  maxBatch: number;
  /** Most events held before ingest answers 503 (taps retry). */
  maxQueued?: number;
}

export class MemoryEventBus implements EventPublisher, EventSource {
  private queue: EventRecord[] = [];
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

  async publish(events: TapEvent[]): Promise<void> {
    if (this.stopping) throw new TapwatchError('TAPWATCH_SHUTTING_DOWN', 'tapwatch is shutting down; retry later', { retriable: true, httpStatus: 503 });
    if (this.queue.length + events.length > this.maxQueued) {
      throw new TapwatchError('TAPWATCH_BACKPRESSURE', 'the analyzer is behind; retry later', { retriable: true, httpStatus: 503 });
    }
    for (const e of events) this.queue.push(eventRecord(e));
    this.wake?.();
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
    }
  }
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
