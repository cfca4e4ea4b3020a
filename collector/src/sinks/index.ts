/**
 * Picks a sink from a URL: `kafka://host:port[,host:port]` or `http(s)://host:port`.
 */
import { BrokerListSchema } from '@tapwatch/schema';
import { HttpSink } from './http.js';
import type { EventSink } from './sink.js';

export interface SinkSettings {
  token?: string | undefined;
  eventsTopic: string;
}

/** Thrown for a sink URL tapwatch cannot use; the message says what is accepted. */
export class SinkUrlError extends Error {
  readonly code = 'TAPWATCH_BAD_SINK_URL';
}

export async function createSink(url: string, settings: SinkSettings): Promise<EventSink> {
  if (url.startsWith('kafka://')) {
    const brokers = BrokerListSchema.safeParse(url);
    if (!brokers.success) throw new SinkUrlError(`bad sink ${url}: expected kafka://host:port[,host:port…]`);
    // Loaded only when used, so an http-only tap never pays for kafkajs.
    const { KafkaSink } = await import('./kafka.js');
    return new KafkaSink({ brokers: brokers.data, topic: settings.eventsTopic });
  }
  if (/^https?:\/\//.test(url)) {
    try {
      return new HttpSink(url, { token: settings.token });
    } catch {
      throw new SinkUrlError(`bad sink ${url}: not a valid URL`);
    }
  }
  throw new SinkUrlError(`bad sink ${url}: expected http://host:port or kafka://host:port[,…]`);
}

export { HttpSink } from './http.js';
export { QueueingSink, DeliveryError } from './sink.js';
export type { EventSink, SinkStats } from './sink.js';
