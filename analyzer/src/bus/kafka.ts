/**
 * Kafka transports of the analyzer and the API: the only analyzer file that
 * imports kafkajs. Events are keyed by session; the analyzer commits offsets
 * only after its handler resolved, i.e. after the batch was stored.
 */
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type Consumer, type Producer } from 'kafkajs';
import { AlertSchema, log, type Alert, type TapEvent } from '@tapwatch/schema';
import type { AlertFeed, AlertListener, AlertPublisher, EventBatchHandler, EventPublisher, EventSource } from './types.js';

export interface KafkaSettings {
  brokers: string[];
  clientId: string;
}

/** kafkajs logs to the console by default; route it through tapwatch's structured logger. */
function logCreator() {
  return ({ level, log: entry }: { level: number; log: { message: string } & Record<string, unknown> }) => {
    const fields = { message: entry.message };
    if (level === logLevel.ERROR) log.warn('kafkajs', fields);
    else if (level === logLevel.WARN) log.info('kafkajs', fields);
    else log.debug('kafkajs', fields);
  };
}

export function kafkaClient(settings: KafkaSettings): Kafka {
  return new Kafka({
    clientId: settings.clientId,
    brokers: settings.brokers,
    logCreator,
    retry: { retries: 8, initialRetryTime: 300 },
  });
}

/** Creates the topics if missing, with `partitions` partitions. */
export async function ensureTopics(kafka: Kafka, topics: string[], partitions: number): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t));
    if (missing.length > 0) {
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((topic) => ({ topic, numPartitions: partitions, replicationFactor: -1 })),
      });
      log.info('kafka topics created', { topics: missing, partitions });
    }
  } finally {
    await admin.disconnect();
  }
}

export class KafkaEventSource implements EventSource {
  private readonly consumer: Consumer;

  constructor(
    kafka: Kafka,
    private readonly topic: string,
    groupId: string,
  ) {
    // A short fetch wait keeps shutdown quick (disconnect waits for the fetch in flight);
    // fetches still return as soon as data arrives.
    this.consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false, sessionTimeout: 30_000, maxWaitTimeInMs: 500 });
  }

  async start(handler: EventBatchHandler): Promise<void> {
    // kafkajs restarts the consumer after retriable errors; a crash it does not recover from must be loud.
    this.consumer.on(this.consumer.events.CRASH, (e) => {
      log.error('kafka consumer crashed', { error: e.payload.error.message, restart: e.payload.restart, group: e.payload.groupId });
    });
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.topic, fromBeginning: true });
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        if (!isRunning() || isStale() || batch.messages.length === 0) return;
        const records = batch.messages.map((m) => ({
          key: m.key ? m.key.toString('utf8') : null,
          value: m.value ? m.value.toString('utf8') : '',
        }));
        await handler(records, heartbeat);
        const last = batch.messages[batch.messages.length - 1];
        if (!last) return;
        resolveOffset(last.offset);
        // Committed explicitly, only now that the batch is stored. (With autoCommit off,
        // kafkajs's commitOffsetsIfNecessary commits nothing.) Kafka's offset is the next one to read.
        await this.consumer.commitOffsets([
          { topic: batch.topic, partition: batch.partition, offset: (BigInt(last.offset) + 1n).toString() },
        ]);
      },
    });
  }

  async stop(): Promise<void> {
    await this.consumer.disconnect();
  }
}

class KafkaProducerBase {
  protected readonly producer: Producer;
  private connected: Promise<void> | undefined;

  constructor(kafka: Kafka) {
    this.producer = kafka.producer({ allowAutoTopicCreation: true });
  }

  protected async ready(): Promise<void> {
    this.connected ??= this.producer.connect().catch((err: unknown) => {
      this.connected = undefined;
      throw err;
    });
    await this.connected;
  }

  async close(): Promise<void> {
    if (this.connected) await this.producer.disconnect();
  }
}

/** Ingest → events topic; resolves once the broker acknowledged (acks=all). */
export class KafkaEventPublisher extends KafkaProducerBase implements EventPublisher {
  constructor(
    kafka: Kafka,
    private readonly topic: string,
  ) {
    super(kafka);
  }

  async publish(events: TapEvent[]): Promise<void> {
    await this.ready();
    await this.producer.send({
      topic: this.topic,
      acks: -1,
      messages: events.map((e) => ({ key: e.session, value: JSON.stringify(e) })),
    });
  }
}

/** Analyzer → alerts topic, keyed by alert id, for the API and SIEMs. */
export class KafkaAlertPublisher extends KafkaProducerBase implements AlertPublisher {
  constructor(
    kafka: Kafka,
    private readonly topic: string,
  ) {
    super(kafka);
  }

  async publish(alerts: Alert[]): Promise<void> {
    if (alerts.length === 0) return;
    await this.ready();
    await this.producer.send({
      topic: this.topic,
      acks: -1,
      messages: alerts.map((a) => ({ key: a.id, value: JSON.stringify(a) })),
    });
  }
}

/** The API's view of the alerts topic: every API instance reads every alert (its own group). */
export class KafkaAlertFeed implements AlertFeed {
  private readonly consumer: Consumer;
  private readonly listeners = new Set<AlertListener>();
  private started: Promise<void> | undefined;

  constructor(
    kafka: Kafka,
    private readonly topic: string,
  ) {
    this.consumer = kafka.consumer({ groupId: `tapwatch-api-${randomUUID()}`, maxWaitTimeInMs: 500 });
  }

  /** Joins the topic; alerts published after this resolves are delivered. */
  async start(): Promise<void> {
    this.started ??= (async () => {
      await this.consumer.connect();
      await this.consumer.subscribe({ topic: this.topic, fromBeginning: false });
      await this.consumer.run({
        eachMessage: async ({ message }) => {
          if (!message.value) return;
          let alert: Alert;
          try {
            alert = AlertSchema.parse(JSON.parse(message.value.toString('utf8')));
          } catch (err) {
            log.warn('skipping a malformed alert record', { topic: this.topic, error: (err as Error).message });
            return;
          }
          for (const l of this.listeners) {
            try {
              l(alert);
            } catch {
              // one listener's failure does not stop the others
            }
          }
        },
      });
    })();
    await this.started;
  }

  subscribe(listener: AlertListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.listeners.clear();
    await this.consumer.disconnect();
  }
}
