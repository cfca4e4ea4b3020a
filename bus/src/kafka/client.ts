/**
 * The Kafka client: connection settings, logging, topics and group lag. With
 * the rest of this folder, the only code that imports kafkajs.
 */
import { Kafka, logLevel } from 'kafkajs';
import { log } from '@tapwatch/schema';

export interface KafkaSettings {
  brokers: string[];
  clientId: string;
  /**
   * `service` (analyzer, API, ingest: patient retries, kafkajs warnings at info) or `tap` (a
   * tap must not stall its relay: few quick retries, a short connect timeout, warnings at debug,
   * since a stdio tap's stderr is the user's terminal). Default `service`.
   */
  role?: 'service' | 'tap';
}

type KafkaLogEntry = { level: number; log: { message: string } & Record<string, unknown> };

/** kafkajs logs to the console by default (a stdio tap's stdout is the MCP wire): route it through tapwatch's structured logger. */
function logCreator(role: 'service' | 'tap') {
  return () =>
    ({ level, log: entry }: KafkaLogEntry) => {
      const fields = { message: entry.message };
      if (level === logLevel.ERROR) log.warn('kafkajs', fields);
      else if (level === logLevel.WARN) (role === 'tap' ? log.debug : log.info)('kafkajs', fields);
      else if (role === 'service') log.debug('kafkajs', fields);
    };
}

export function kafkaClient(settings: KafkaSettings): Kafka {
  const role = settings.role ?? 'service';
  return new Kafka({
    clientId: settings.clientId,
    brokers: settings.brokers,
    logCreator: logCreator(role),
    ...(role === 'tap' ? { retry: { retries: 3, initialRetryTime: 200 }, connectionTimeout: 3_000 } : { retry: { retries: 8, initialRetryTime: 300 } }),
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

/** Consumer lag of one analyzer instance: records behind the end of each partition it owns. */
export interface ConsumerLag {
  /** Sum over the partitions this instance owns. */
  total: number;
  /** Partition → records not yet stored, as of the last fetch of that partition. */
  partitions: Record<string, number>;
}

/**
 * The consumer group's lag on a topic, from the broker (committed offsets vs partition ends):
 * what the whole group has yet to store, whichever instance owns each partition.
 */
export async function consumerGroupLag(kafka: Kafka, groupId: string, topic: string): Promise<ConsumerLag> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [ends, committed] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId, topics: [topic] })]);
    const done = new Map((committed[0]?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
    const partitions: Record<string, number> = {};
    let total = 0;
    for (const end of ends.sort((a, b) => a.partition - b.partition)) {
      const at = done.get(end.partition) ?? -1;
      // -1: nothing committed yet; the group starts at the beginning (low watermark).
      const n = Math.max(0, Number(end.high) - (at < 0 ? Number(end.low) : at));
      partitions[String(end.partition)] = n;
      total += n;
    }
    return { total, partitions };
  } finally {
    await admin.disconnect();
  }
}
