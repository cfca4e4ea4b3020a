/** The Kafka adapter of the bus (loaded only where Kafka is used: `@tapwatch/bus/kafka`). */
export { kafkaClient, ensureTopics, consumerGroupLag } from './client.js';
export type { KafkaSettings, ConsumerLag } from './client.js';
export { KafkaEventSource, DEAD_LETTER_HEADERS } from './source.js';
export type { KafkaEventSourceOptions } from './source.js';
export { KafkaEventPublisher, KafkaAlertPublisher, KafkaAlertFeed } from './publishers.js';
