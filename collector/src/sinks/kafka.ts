/**
 * Kafka sink: the only collector file that imports kafkajs. Events are keyed
 * by session so one session's events land on one partition, in order.
 */
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { log, type TapEvent } from '@tapwatch/schema';
import { DeliveryError, QueueingSink, type QueueingSinkOptions } from './sink.js';

export interface KafkaSinkOptions extends QueueingSinkOptions {
  brokers: string[];
  topic: string;
  clientId?: string;
}

export class KafkaSink extends QueueingSink {
  private readonly producer: Producer;
  private connected: Promise<void> | undefined;
  private readonly topic: string;

  constructor(options: KafkaSinkOptions) {
    super(`kafka://${options.brokers.join(',')}`, options);
    this.topic = options.topic;
    const kafka = new Kafka({
      clientId: options.clientId ?? 'tapwatch-tap',
      brokers: options.brokers,
      // kafkajs logs to stdout by default, which is the MCP wire of a stdio tap.
      logCreator: kafkaLogCreator,
      retry: { retries: 3, initialRetryTime: 200 },
      connectionTimeout: 3_000,
    });
    this.producer = kafka.producer({ allowAutoTopicCreation: true });
  }

  protected async deliver(batch: TapEvent[]): Promise<void> {
    try {
      this.connected ??= this.producer.connect();
      await this.connected;
      await this.producer.send({
        topic: this.topic,
        acks: -1,
        messages: batch.map((e) => ({ key: e.session, value: JSON.stringify(e) })),
      });
    } catch (err) {
      this.connected = undefined;
      throw new DeliveryError(`kafka send failed: ${(err as Error).message}`, true, { cause: err });
    }
  }

  protected override async disconnect(): Promise<void> {
    await this.producer.disconnect();
  }
}

/** Routes kafkajs logs to tapwatch's stderr logger (warnings and errors only). */
export function kafkaLogCreator(): (entry: { level: number; log: { message: string } }) => void {
  return ({ level, log: entry }) => {
    if (level === logLevel.ERROR) log.warn('kafkajs', { message: entry.message });
    else if (level === logLevel.WARN) log.debug('kafkajs', { message: entry.message });
  };
}
