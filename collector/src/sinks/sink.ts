/**
 * The sink side of a tap: where events go. A tap must never block or break the
 * MCP traffic it relays, so `send` only enqueues; a single background loop
 * delivers batches, retrying transient failures with backoff. The queue is
 * bounded: past it, events are dropped and counted rather than growing memory.
 */
import { log, type TapEvent } from '@tapwatch/schema';

export interface SinkStats {
  sent: number;
  dropped: number;
  failedAttempts: number;
  queued: number;
}

export interface EventSink {
  /** Enqueues an event; never throws, never blocks. */
  send(event: TapEvent): void;
  /** Waits until everything queued is delivered or `timeoutMs` passes; stops delivering after. */
  close(timeoutMs: number): Promise<SinkStats>;
  readonly stats: SinkStats;
}

/** A delivery failure; `retriable` false means the batch is dropped (e.g. the endpoint rejected it). */
export class DeliveryError extends Error {
  constructor(
    message: string,
    readonly retriable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DeliveryError';
  }
}

export interface QueueingSinkOptions {
  maxQueue?: number;
  maxBatch?: number;
  /** First retry delay; doubles up to `maxBackoffMs`. */
  backoffMs?: number;
  /**
   * How long to wait for more events before sending a partial batch. A few
   * milliseconds turn a call's three or four events into one request, which
   * halves the work per call on both sides; it never delays a close.
   */
  lingerMs?: number;
  maxBackoffMs?: number;
}

/** Queue, batching and retry shared by every sink; subclasses only `deliver`. */
export abstract class QueueingSink implements EventSink {
  readonly stats: SinkStats = { sent: 0, dropped: 0, failedAttempts: 0, queued: 0 };
  private queue: TapEvent[] = [];
  private running: Promise<void> | undefined;
  private closing = false;
  private wake: (() => void) | undefined;
  private idle = false;
  private readonly maxQueue: number;
  private readonly maxBatch: number;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly lingerMs: number;

  protected constructor(
    protected readonly label: string,
    options: QueueingSinkOptions = {},
  ) {
    this.maxQueue = options.maxQueue ?? 50_000;
    this.maxBatch = options.maxBatch ?? 500;
    this.backoffMs = options.backoffMs ?? 200;
    this.maxBackoffMs = options.maxBackoffMs ?? 5_000;
    this.lingerMs = options.lingerMs ?? 10;
  }

  /** Delivers one batch, or throws (a `DeliveryError` says whether to retry). */
  protected abstract deliver(batch: TapEvent[]): Promise<void>;
  /** Releases connections; called once at close. */
  protected async disconnect(): Promise<void> {}

  send(event: TapEvent): void {
    if (this.closing && !this.running) {
      this.stats.dropped++;
      return;
    }
    if (this.queue.length >= this.maxQueue) {
      this.stats.dropped++;
      if (this.stats.dropped === 1 || this.stats.dropped % 1000 === 0) {
        log.warn('tap sink queue full; dropping events', { sink: this.label, dropped: this.stats.dropped });
      }
      return;
    }
    this.queue.push(event);
    this.stats.queued = this.queue.length;
    this.running ??= this.loop();
    // Wake the loop only when it waits for events or a batch is full: not while it lingers or backs off.
    if (this.idle || this.queue.length >= this.maxBatch) this.wake?.();
  }

  async close(timeoutMs: number): Promise<SinkStats> {
    this.closing = true;
    this.wake?.();
    if (this.running) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), timeoutMs);
      });
      const outcome = await Promise.race([this.running.then(() => 'done' as const), timedOut]);
      clearTimeout(timer);
      if (outcome === 'timeout') {
        this.stats.dropped += this.queue.length;
        if (this.queue.length > 0) {
          log.warn('tap sink could not deliver before exit; events dropped', {
            sink: this.label,
            dropped: this.queue.length,
            hint: 'check that the sink is reachable (TAPWATCH_SINK / --sink)',
          });
        }
        this.queue = [];
        this.stats.queued = 0;
      }
    }
    await this.disconnect().catch(() => undefined);
    return { ...this.stats };
  }

  /** Sleeps `ms`, cut short by `close` (which wakes the loop). */
  private async sleep(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
    this.wake = undefined;
  }

  private async loop(): Promise<void> {
    let delay = this.backoffMs;
    for (;;) {
      if (this.queue.length === 0) {
        if (this.closing) break;
        this.idle = true;
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        this.idle = false;
        this.wake = undefined;
        continue;
      }
      if (this.lingerMs > 0 && !this.closing && this.queue.length < this.maxBatch) {
        await this.sleep(this.lingerMs);
      }
      const batch = this.queue.slice(0, this.maxBatch);
      try {
        await this.deliver(batch);
        this.queue.splice(0, batch.length);
        this.stats.sent += batch.length;
        this.stats.queued = this.queue.length;
        delay = this.backoffMs;
      } catch (err) {
        this.stats.failedAttempts++;
        const retriable = !(err instanceof DeliveryError) || err.retriable;
        if (!retriable) {
          this.queue.splice(0, batch.length);
          this.stats.dropped += batch.length;
          this.stats.queued = this.queue.length;
          log.error('tap sink rejected a batch; dropped', { sink: this.label, events: batch.length, error: errorText(err) });
          continue;
        }
        if (this.stats.failedAttempts === 1 || this.stats.failedAttempts % 20 === 0) {
          log.warn('tap sink unreachable; retrying', { sink: this.label, error: errorText(err), queued: this.queue.length });
        }
        await this.sleep(delay);
        delay = Math.min(delay * 2, this.maxBackoffMs);
      }
    }
    this.running = undefined;
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
