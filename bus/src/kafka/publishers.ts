/**
 * Producers of the events and alerts topics, and the API's feed of the
 * alerts topic. Records follow the contract in record.ts.
 */
import { randomUUID } from 'node:crypto';
import type { Consumer, Kafka, Producer } from 'kafkajs';
import { AlertSchema, log, type Alert, type TapEvent } from '@tapwatch/schema';
import type { AlertFeed, AlertListener, AlertPublisher, EventPublisher } from '../types.js';
import { alertRecord, eventRecord, type OutgoingRecord } from '../record.js';

class KafkaProducerBase {
  protected readonly producer: Producer;
  private connected: Promise<void> | undefined;

  constructor(kafka: Kafka) {
    this.producer = kafka.producer({ allowAutoTopicCreation: true });
  }

  /** Sends on a connected producer; after a failure the next send connects again. */
  protected async send(topic: string, messages: OutgoingRecord[]): Promise<void> {
    try {
      this.connected ??= this.producer.connect();
      await this.connected;
      await this.producer.send({ topic, acks: -1, messages });
    } catch (err) {
      this.connected = undefined;
      throw err;
    }
  }

  async close(): Promise<void> {
    if (this.connected) await this.producer.disconnect();
  }
}

/** Ingest (and a tap's Kafka sink) → events topic; resolves once the broker acknowledged (acks=all). */
export class KafkaEventPublisher extends KafkaProducerBase implements EventPublisher {
  constructor(
    kafka: Kafka,
    private readonly topic: string,
  ) {
    super(kafka);
  }

  async publish(events: TapEvent[]): Promise<void> {
    await this.send(this.topic, events.map(eventRecord));
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
    await this.send(this.topic, alerts.map(alertRecord));
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
