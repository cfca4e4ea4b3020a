/**
 * Kafka sink: a tap writing straight to the events topic through the bus's
 * Kafka adapter (its record contract keys events by session, so one
 * session's events land on one partition, in order).
 */
import type { TapEvent } from '@tapwatch/schema';
import { KafkaEventPublisher, kafkaClient } from '@tapwatch/bus/kafka';
import { DeliveryError, QueueingSink, type QueueingSinkOptions } from './sink.js';

export interface KafkaSinkOptions extends QueueingSinkOptions {
  brokers: string[];
  topic: string;
  clientId?: string;
}

export class KafkaSink extends QueueingSink {
  private readonly publisher: KafkaEventPublisher;

  constructor(options: KafkaSinkOptions) {
    super(`kafka://${options.brokers.join(',')}`, options);
    const kafka = kafkaClient({ clientId: options.clientId ?? 'tapwatch-tap', brokers: options.brokers, role: 'tap' });
    this.publisher = new KafkaEventPublisher(kafka, options.topic);
  }

  protected async deliver(batch: TapEvent[]): Promise<void> {
    try {
      await this.publisher.publish(batch);
    } catch (err) {
      throw new DeliveryError(`kafka send failed: ${(err as Error).message}`, true, { cause: err });
    }
  }

  protected override async disconnect(): Promise<void> {
    await this.publisher.close();
  }
}
