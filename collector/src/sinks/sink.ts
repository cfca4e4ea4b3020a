/**
 * The sink side of a tap: where events go. A tap must never block or break the
 * MCP traffic it relays, so `send` only enqueues; a single background loop
 * delivers batches, retrying transient failures with backoff. While the sink
 * cannot take events they go to a disk spool (`spool.ts`) and are delivered
 * from there first, oldest first, when it can again. Memory is bounded: past
 * the queue (or the spool's bound), events are dropped, counted, and reported
 * as one `delivery_gap` event ahead of the next delivery.
 */
import { randomUUID } from 'node:crypto';
import { EVENT_SCHEMA_VERSION, TapwatchError, backoffDelay, log, type DeliveryGapEvent, type TapEvent } from '@tapwatch/schema';
import { earliest, infoOf, latest, Spool, type DropInfo, type SpoolOptions } from './spool.js';

export interface SinkStats {
  sent: number;
  dropped: number;
  failedAttempts: number;
  queued: number;
  /** Events waiting in the disk spool. */
  spooled: number;
}

export interface EventSink {
  /** Enqueues an event; never throws, never blocks. */
  send(event: TapEvent): void;
  /**
   * Waits until everything queued is delivered or `timeoutMs` passes; stops delivering after.
   * With a spool, what is left stays there for the next tap process (not dropped).
   */
  close(timeoutMs: number): Promise<SinkStats>;
  readonly stats: SinkStats;
}

/** A delivery failure; `retriable` false means the batch is dropped (e.g. the endpoint rejected it). */
export class DeliveryError extends TapwatchError {
  constructor(message: string, retriable: boolean, options: { cause?: unknown } = {}) {
    super('TAPWATCH_DELIVERY_FAILED', message, { retriable, cause: options.cause });
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
  /** Disk spool for events the sink cannot take now (without: memory only, bounded by `maxQueue`). */
  spool?: Omit<SpoolOptions, 'onDrop'> | undefined;
  /** Claim spools that dead taps of the same sink left (default true when there is a spool). */
  recoverOrphans?: boolean;
}

/**
 * Counts what was lost and turns it into one `delivery_gap` event, delivered
 * ahead of the next batch; the same event is retried until it is delivered.
 */
class GapTracker {
  private dropped = 0;
  private from: string | undefined;
  private to: string | undefined;
  private identity: DropInfo['identity'];
  private readonly reasons = new Set<string>();
  private event: DeliveryGapEvent | undefined;
  /** Identity of the last event sent, for a gap whose own events are unknown. */
  lastIdentity: DropInfo['identity'];

  get pending(): boolean {
    return this.dropped > 0;
  }

  note(count: number, info: DropInfo, reason: string): void {
    if (count <= 0) return;
    this.dropped += count;
    this.from = earliest(this.from, info.from);
    this.to = latest(this.to, info.to);
    this.identity ??= info.identity;
    this.reasons.add(reason);
    this.event = undefined;
  }

  /** The gap event to deliver now, if any (the same object until it is settled or more is lost). */
  take(): DeliveryGapEvent | undefined {
    if (this.dropped === 0) return undefined;
    const who = this.identity ?? this.lastIdentity;
    if (!who) return undefined;
    this.event ??= {
      v: EVENT_SCHEMA_VERSION,
      id: randomUUID(),
      type: 'delivery_gap',
      time: new Date().toISOString(),
      ...who,
      dropped: this.dropped,
      ...(this.from ? { from: this.from } : {}),
      ...(this.to ? { to: this.to } : {}),
      reason: [...this.reasons].join('; ').slice(0, 256),
    };
    return this.event;
  }

  /** `event` was delivered: forget what it reported. */
  settle(event: DeliveryGapEvent): void {
    this.dropped = Math.max(0, this.dropped - event.dropped);
    if (this.event === event) this.event = undefined;
    if (this.dropped === 0) {
      this.from = undefined;
      this.to = undefined;
      this.identity = undefined;
      this.reasons.clear();
    }
  }
}

/** Queue, spool, batching and retry shared by every sink; subclasses only `deliver`. */
export abstract class QueueingSink implements EventSink {
  readonly stats: SinkStats = { sent: 0, dropped: 0, failedAttempts: 0, queued: 0, spooled: 0 };
  private queue: TapEvent[] = [];
  private running: Promise<void> | undefined;
  private closing = false;
  /** Set when close gave up: the loop must not touch queue or spool again. */
  private abandoned = false;
  private wake: (() => void) | undefined;
  private idle = false;
  /** No delivery attempt before this time (backoff after a failure). */
  private retryAt = 0;
  private readonly maxQueue: number;
  private readonly maxBatch: number;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly lingerMs: number;
  private readonly gap = new GapTracker();
  private readonly spool: Spool | undefined;
  private recovering: Promise<unknown> | undefined;

  protected constructor(
    protected readonly label: string,
    options: QueueingSinkOptions = {},
  ) {
    this.maxQueue = options.maxQueue ?? 50_000;
    this.maxBatch = options.maxBatch ?? 500;
    this.backoffMs = options.backoffMs ?? 200;
    this.maxBackoffMs = options.maxBackoffMs ?? 5_000;
    this.lingerMs = options.lingerMs ?? 10;
    if (options.spool) {
      this.spool = new Spool({ ...options.spool, onDrop: (n, info, reason) => this.noteDrop(n, info, reason) });
      if (options.recoverOrphans ?? true) {
        // In the background: the relay never waits for it, and the loop picks the events up.
        this.recovering = this.spool.recover().then(
          (n) => {
            this.stats.spooled = this.spool?.pending ?? 0;
            if (n > 0 && !this.closing) this.kick();
          },
          (err: unknown) => log.debug('tap spool: recovery failed', { error: errorText(err) }),
        );
      }
    }
  }

  /** Delivers one batch, or throws (a `DeliveryError` says whether to retry). */
  protected abstract deliver(batch: TapEvent[]): Promise<void>;
  /** Releases connections; called once at close. */
  protected async disconnect(): Promise<void> {}

  send(event: TapEvent): void {
    if (this.closing && !this.running) {
      this.noteDrop(1, infoOf([event]), 'sent after close');
      return;
    }
    this.gap.lastIdentity = { session: event.session, agent: event.agent, server: event.server, transport: event.transport };
    if (this.queue.length >= this.maxQueue) {
      this.noteDrop(1, infoOf([event]), 'tap queue full');
      if (this.stats.dropped === 1 || this.stats.dropped % 1000 === 0) {
        log.warn('tap sink queue full; dropping events', { sink: this.label, dropped: this.stats.dropped });
      }
      return;
    }
    this.queue.push(event);
    this.stats.queued = this.queue.length;
    this.running ??= this.loop();
    // Wake the loop when it waits for events, or when a batch is full and it can act on it
    // (deliver, or move it to the spool): not while it lingers or backs off with nothing to do.
    if (this.idle || (this.queue.length >= this.maxBatch && (this.retryAt <= Date.now() || this.spool?.writable))) this.wake?.();
  }

  async close(timeoutMs: number): Promise<SinkStats> {
    this.closing = true;
    this.retryAt = 0;
    if (this.spool && !this.running && (this.spool.pending > 0 || this.gap.pending)) this.running = this.loop();
    this.wake?.();
    if (this.running) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), timeoutMs);
      });
      const outcome = await Promise.race([this.running.then(() => 'done' as const), timedOut]);
      clearTimeout(timer);
      if (outcome === 'timeout') {
        this.abandoned = true;
        this.wake?.();
        await this.keepForLater();
      }
    }
    if (this.spool) {
      await this.recovering;
      await this.spool.close().catch(() => undefined);
      this.stats.spooled = this.spool.pending;
      if (this.stats.spooled > 0) {
        log.warn('tap sink could not deliver before exit; events kept in the spool for the next tap', {
          sink: this.label,
          spooled: this.stats.spooled,
          hint: 'check that the sink is reachable (TAPWATCH_SINK / --sink); see TAPWATCH_SPOOL_DIR',
        });
      }
    }
    await this.disconnect().catch(() => undefined);
    return { ...this.stats };
  }

  /** At a close that timed out: the queue (and an unsent gap report) go to the spool, or are dropped without one. */
  private async keepForLater(): Promise<void> {
    const left = this.queue.splice(0);
    this.stats.queued = 0;
    const gap = this.gap.take();
    if (this.spool?.writable) {
      if (gap) {
        this.gap.settle(gap);
        left.push(gap);
      }
      await this.spool.append(left);
      return;
    }
    if (left.length > 0) {
      this.stats.dropped += left.length;
      log.warn('tap sink could not deliver before exit; events dropped', {
        sink: this.label,
        dropped: left.length,
        hint: 'check that the sink is reachable (TAPWATCH_SINK / --sink)',
      });
    }
  }

  private noteDrop(count: number, info: DropInfo, reason: string): void {
    this.stats.dropped += count;
    this.gap.note(count, info, reason);
  }

  private kick(): void {
    this.running ??= this.loop();
    this.wake?.();
  }

  /** Sleeps `ms`, cut short by `close` or `send` (which wake the loop). */
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

  /** Moves the in-memory queue to the end of the spool (keeps order: the spool is older). */
  private async spill(): Promise<void> {
    if (!this.spool?.writable || this.queue.length === 0) return;
    const events = this.queue.splice(0);
    this.stats.queued = 0;
    await this.spool.append(events);
    this.stats.spooled = this.spool.pending;
  }

  private async loop(): Promise<void> {
    let failures = 0;
    for (;;) {
      if (this.abandoned) break;
      const spooled = this.spool?.pending ?? 0;
      // While anything is spooled, newer events queue behind it on disk, not in memory.
      if (spooled > 0 && this.queue.length > 0) {
        await this.spill();
        continue;
      }
      if (this.queue.length === 0 && spooled === 0 && !this.gap.pending) {
        if (this.closing) break;
        this.idle = true;
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        this.idle = false;
        this.wake = undefined;
        continue;
      }
      const wait = this.retryAt - Date.now();
      if (wait > 0) {
        await this.sleep(wait);
        continue;
      }
      const fromSpool = spooled > 0;
      if (!fromSpool && this.lingerMs > 0 && !this.closing && this.queue.length < this.maxBatch) {
        await this.sleep(this.lingerMs);
        if (this.abandoned) break;
        if ((this.spool?.pending ?? 0) > 0) continue;
      }
      const batch = fromSpool ? await this.spool!.peek(this.maxBatch) : this.queue.slice(0, this.maxBatch);
      if (this.abandoned) break;
      const gap = this.gap.take();
      if (batch.length === 0 && !gap) {
        if (fromSpool) continue; // an unreadable segment was dropped (and counted)
        // Only a gap with no identity to report it under (nothing was ever sent): wait for events.
        if (this.closing) break;
        this.idle = true;
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        this.idle = false;
        this.wake = undefined;
        continue;
      }
      try {
        await this.deliver(gap ? [gap, ...batch] : batch);
        if (this.abandoned) break;
        if (gap) this.gap.settle(gap);
        await this.remove(batch.length, fromSpool);
        this.stats.sent += batch.length;
        failures = 0;
      } catch (err) {
        if (this.abandoned) break;
        // Not the sink: an event in memory that JSON cannot hold. Retrying would fail forever and
        // spilling it would end the loop: drop those events (a gap reports them) and go on.
        if (!fromSpool && !(err instanceof DeliveryError) && this.dropUnserializable(batch)) continue;
        this.stats.failedAttempts++;
        const retriable = !(err instanceof DeliveryError) || err.retriable;
        if (!retriable) {
          if (gap) this.gap.settle(gap);
          await this.remove(batch.length, fromSpool);
          this.noteDrop(batch.length, infoOf(batch), 'rejected by the sink');
          log.error('tap sink rejected a batch; dropped', { sink: this.label, events: batch.length, error: errorText(err) });
          continue;
        }
        if (this.stats.failedAttempts === 1 || this.stats.failedAttempts % 20 === 0) {
          log.warn('tap sink unreachable; retrying', {
            sink: this.label,
            error: errorText(err),
            queued: this.queue.length,
            spooled: this.spool?.pending ?? 0,
          });
        }
        if (!fromSpool) await this.spill();
        this.retryAt = Date.now() + backoffDelay(++failures, { initialDelayMs: this.backoffMs, maxDelayMs: this.maxBackoffMs });
      }
    }
    this.running = undefined;
  }

  /** Removes from the queue the events of `batch` that JSON.stringify refuses; true when there were any. */
  private dropUnserializable(batch: TapEvent[]): boolean {
    const bad = new Set(batch.filter((e) => !serializable(e)));
    if (bad.size === 0) return false;
    this.queue = this.queue.filter((e) => !bad.has(e));
    this.stats.queued = this.queue.length;
    this.noteDrop(bad.size, infoOf([...bad]), 'event could not be serialised');
    log.error('tap sink dropped events it could not serialise', { sink: this.label, events: bad.size });
    return true;
  }

  private async remove(n: number, fromSpool: boolean): Promise<void> {
    if (fromSpool) {
      await this.spool!.ack(n);
      this.stats.spooled = this.spool!.pending;
    } else {
      this.queue.splice(0, n);
      this.stats.queued = this.queue.length;
    }
  }
}

function serializable(e: TapEvent): boolean {
  try {
    JSON.stringify(e);
    return true;
  } catch {
    return false;
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
