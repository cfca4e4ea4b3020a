/** The bus between taps, the analyzer and the API: its interfaces and the in-process implementation. Kafka: `@tapwatch/bus/kafka`. */
export { MemoryEventBus, AlertHub } from './memory.js';
export { WriteAheadLog, isDiskFull } from './wal.js';
export type { WalOptions, WalPosition, RecoveredRecord } from './wal.js';
export type { MemoryBusOptions } from './memory.js';
export { BatchAbandoned } from './types.js';
export type {
  EventRecord,
  EventBatchHandler,
  EventSource,
  EventPublisher,
  AlertPublisher,
  AlertFeed,
  AlertListener,
  BatchOutcome,
  RejectedRecord,
} from './types.js';
export { eventRecord, alertRecord, incomingRecord } from './record.js';
export type { OutgoingRecord } from './record.js';
