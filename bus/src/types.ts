/**
 * The small interfaces between the analyzer and its transports. The embedded
 * default implements them in process (memory.ts), the distributed deployment
 * with Kafka (kafka.ts); nothing else knows which one runs.
 */
import { TapwatchError, type Alert, type TapEvent } from '@tapwatch/schema';

/**
 * Thrown by a source's heartbeat when the batch in hand is no longer this consumer's (a
 * rebalance gave its partition away, or the consumer is stopping): handlers stop retrying it,
 * and the partition's next owner stores it.
 */
export class BatchAbandoned extends TapwatchError {
  constructor(why: string) {
    super('TAPWATCH_BATCH_ABANDONED', `batch abandoned: ${why}`);
    this.name = 'BatchAbandoned';
  }
}

/** One record as it came off the bus: still bytes, parsed by the analyzer at its edge. */
export interface EventRecord {
  key: string | null;
  value: string;
}

/**
 * Handles one batch. It resolves only when the batch is safely stored; only
 * then does the source commit (Kafka offsets). `heartbeat` keeps a long
 * handler (storage down, retrying) in its consumer group.
 */
export type EventBatchHandler = (records: EventRecord[], heartbeat: () => Promise<void>) => Promise<BatchOutcome | void>;

/** A record of the batch that is not a valid event (not JSON, wrong shape, too big), by its index in the batch. */
export interface RejectedRecord {
  index: number;
  /** A short code: `not_json`, `invalid_event` or `too_big`. */
  reason: string;
  /** What was wrong, for a person reading the dead-letter topic. */
  detail: string;
}

/** What the handler tells its source about a batch it handled. */
export interface BatchOutcome {
  /** Records the source should set aside (Kafka: the dead-letter topic) before committing past them. */
  rejected: RejectedRecord[];
}

export interface EventSource {
  start(handler: EventBatchHandler): Promise<void>;
  /** Stops consuming after the batch in hand is handled. */
  stop(): Promise<void>;
}

/** Where the ingest endpoint puts accepted events. Resolves when they are durable on the bus. */
export interface EventPublisher {
  publish(events: TapEvent[]): Promise<void>;
  close(): Promise<void>;
}

export interface AlertPublisher {
  publish(alerts: Alert[]): Promise<void>;
  close(): Promise<void>;
}

export type AlertListener = (alert: Alert) => void;

export interface AlertFeed {
  /** Calls `listener` for each new alert; returns the unsubscribe function. */
  subscribe(listener: AlertListener): () => void;
  close(): Promise<void>;
}
