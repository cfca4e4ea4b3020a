/**
 * The analyzer's consumer of the events topic, with its dead-letter topic.
 * Events are keyed by session; offsets are committed only after the handler
 * resolved, i.e. after the batch was stored.
 */
import type { Consumer, Kafka, KafkaMessage, Producer } from 'kafkajs';
import { log, retry } from '@tapwatch/schema';
import { BatchAbandoned, type EventBatchHandler, type EventSource } from '../types.js';
import type { ConsumerLag } from './client.js';
import { incomingRecord } from '../record.js';

/** Options of the analyzer's consumer. */
export interface KafkaEventSourceOptions {
  /** Where records that are not valid events go, with the reason and their origin in headers. */
  deadLetterTopic?: string;
}

/** Headers a dead-lettered record carries (its key and value are the original bytes). */
export const DEAD_LETTER_HEADERS = {
  reason: 'tapwatch-reason',
  detail: 'tapwatch-detail',
  topic: 'tapwatch-source-topic',
  partition: 'tapwatch-source-partition',
  offset: 'tapwatch-source-offset',
  group: 'tapwatch-consumer-group',
  time: 'tapwatch-dead-lettered-at',
} as const;

function isRebalancing(err: unknown): boolean {
  const type = (err as { type?: string }).type;
  return type === 'REBALANCE_IN_PROGRESS' || type === 'NOT_COORDINATOR_FOR_GROUP' || type === 'ILLEGAL_GENERATION' || type === 'UNKNOWN_MEMBER_ID';
}

/**
 * Bytes fetched per partition and per fetch: the bound on what one analyzer holds in memory at once.
 * 4 MiB per partition (~8,000 typical events) rather than kafkajs's 1 MiB: every batch costs a
 * dedup query, an insert (a new part per table, merged later) and an offset commit, so bigger
 * batches cut storage's share per event (benchmarks/README.md, "Analyzer throughput after
 * exactly-once storage": +30 % events/s).
 */
const MAX_BYTES_PER_PARTITION = 4 * 1024 * 1024;
const MAX_BYTES_PER_FETCH = 8 * 1024 * 1024;

/**
 * The analyzer's consumer. One batch (one partition's fetch, at most
 * MAX_BYTES_PER_PARTITION) is in memory at a time; its offset is committed
 * only after the handler stored it and any invalid records are on the
 * dead-letter topic. While storage is down the handler keeps retrying the
 * batch in hand and heartbeating, so nothing further is fetched from the
 * partition (consumption is paused) and nothing is committed; a rebalance
 * meanwhile abandons the batch to its partition's new owner.
 */
export class KafkaEventSource implements EventSource {
  private readonly consumer: Consumer;
  private readonly producer: Producer | undefined;
  private readonly lagByPartition = new Map<number, number>();
  private producerReady: Promise<void> | undefined;
  /** Records sent to the dead-letter topic by this instance. */
  deadLettered = 0;

  constructor(
    kafka: Kafka,
    private readonly topic: string,
    private readonly groupId: string,
    private readonly options: KafkaEventSourceOptions = {},
  ) {
    // A short fetch wait keeps shutdown quick (disconnect waits for the fetch in flight);
    // fetches still return as soon as data arrives. The byte limits bound the batch in memory
    // (Kafka still returns one record bigger than the limit, so a big record cannot block a partition).
    this.consumer = kafka.consumer({
      groupId,
      allowAutoTopicCreation: false,
      sessionTimeout: 30_000,
      maxWaitTimeInMs: 500,
      maxBytesPerPartition: MAX_BYTES_PER_PARTITION,
      maxBytes: MAX_BYTES_PER_FETCH,
    });
    if (options.deadLetterTopic) this.producer = kafka.producer({ allowAutoTopicCreation: true });
  }

  /** Lag of the partitions this instance owns (for /healthz and /metrics). */
  lag(): ConsumerLag {
    const partitions: Record<string, number> = {};
    let total = 0;
    for (const [p, n] of [...this.lagByPartition].sort((a, b) => a[0] - b[0])) {
      partitions[String(p)] = n;
      total += n;
    }
    return { total, partitions };
  }

  async start(handler: EventBatchHandler): Promise<void> {
    // kafkajs restarts the consumer after retriable errors; a crash it does not recover from must be loud.
    this.consumer.on(this.consumer.events.CRASH, (e) => {
      log.error('kafka consumer crashed', { error: e.payload.error.message, restart: e.payload.restart, group: e.payload.groupId });
    });
    this.consumer.on(this.consumer.events.GROUP_JOIN, (e) => {
      const owned = new Set(e.payload.memberAssignment[this.topic] ?? []);
      for (const p of [...this.lagByPartition.keys()]) if (!owned.has(p)) this.lagByPartition.delete(p);
      for (const p of owned) if (!this.lagByPartition.has(p)) this.lagByPartition.set(p, 0);
      log.info('kafka partitions assigned', { topic: this.topic, group: this.groupId, partitions: [...owned].sort((a, b) => a - b) });
    });
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.topic, fromBeginning: true });
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        if (!isRunning() || isStale() || batch.messages.length === 0) return;
        // Records from the first of this batch to the partition's end: what is not stored yet.
        this.lagByPartition.set(batch.partition, Number(batch.offsetLagLow()) + 1);
        const beat = async (): Promise<void> => {
          if (!isRunning() || isStale()) throw new BatchAbandoned('the consumer is stopping or lost the partition');
          try {
            await heartbeat();
          } catch (err) {
            if (isRebalancing(err)) throw new BatchAbandoned(`the group is rebalancing (${(err as Error).message})`);
            throw err;
          }
        };
        const records = batch.messages.map(incomingRecord);
        let outcome;
        try {
          outcome = await handler(records, beat);
        } catch (err) {
          if (err instanceof BatchAbandoned) {
            log.info("batch left to the partition's next owner", { partition: batch.partition, error: (err as Error).message });
            return;
          }
          throw err;
        }
        const last = batch.messages[batch.messages.length - 1];
        if (!last) return;
        if (outcome && outcome.rejected.length > 0) {
          const dead = outcome.rejected.flatMap((r) => {
            const m = batch.messages[r.index];
            return m ? [{ message: m, reason: r.reason, detail: r.detail }] : [];
          });
          await this.deadLetter(batch.topic, batch.partition, dead, beat);
        }
        resolveOffset(last.offset);
        // Committed explicitly, only now that the batch is stored. (With autoCommit off,
        // kafkajs's commitOffsetsIfNecessary commits nothing.) Kafka's offset is the next one to read.
        await this.consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last.offset) + 1n).toString() }]);
        this.lagByPartition.set(batch.partition, Number(batch.offsetLag()));
      },
    });
  }

  /**
   * Puts invalid records on the dead-letter topic (original key and bytes, reason and origin in
   * headers), retrying until the broker has them: the offset past them is committed only then.
   */
  private async deadLetter(
    topic: string,
    partition: number,
    dead: { message: KafkaMessage; reason: string; detail: string }[],
    beat: () => Promise<void>,
  ): Promise<void> {
    const dlq = this.options.deadLetterTopic;
    if (!dlq || !this.producer || dead.length === 0) return;
    const producer = this.producer;
    const time = new Date().toISOString();
    const messages = dead.map(({ message, reason, detail }) => ({
      key: message.key,
      value: message.value,
      headers: {
        [DEAD_LETTER_HEADERS.reason]: reason,
        [DEAD_LETTER_HEADERS.detail]: detail.slice(0, 1000),
        [DEAD_LETTER_HEADERS.topic]: topic,
        [DEAD_LETTER_HEADERS.partition]: String(partition),
        [DEAD_LETTER_HEADERS.offset]: message.offset,
        [DEAD_LETTER_HEADERS.group]: this.groupId,
        [DEAD_LETTER_HEADERS.time]: time,
      },
    }));
    await retry(
      async () => {
        this.producerReady ??= producer.connect().catch((err: unknown) => {
          this.producerReady = undefined;
          throw err;
        });
        await this.producerReady;
        await producer.send({ topic: dlq, acks: -1, messages });
      },
      {
        initialDelayMs: 200,
        maxDelayMs: 5_000,
        bail: (err) => err instanceof BatchAbandoned,
        onRetry: async (err, attempt) => {
          if (attempt === 1 || attempt % 10 === 0)
            log.warn('cannot write to the dead-letter topic; retrying', { topic: dlq, attempt, error: (err as Error).message });
        },
        // Waits, then heartbeats: a batch lost meanwhile ends the retries (BatchAbandoned); a
        // broker briefly away does not.
        sleep: async (ms) => {
          await new Promise((resolve) => setTimeout(resolve, ms));
          await beat().catch((hbErr: unknown) => {
            if (hbErr instanceof BatchAbandoned) throw hbErr;
          });
        },
      },
    );
    this.deadLettered += messages.length;
    log.warn('invalid records sent to the dead-letter topic', {
      topic: dlq,
      records: messages.length,
      reasons: [...new Set(dead.map((d) => d.reason))],
      setting: 'TAPWATCH_DLQ_TOPIC',
    });
  }

  async stop(): Promise<void> {
    await this.consumer.disconnect();
    if (this.producerReady) await this.producer?.disconnect().catch(() => undefined);
  }
}
