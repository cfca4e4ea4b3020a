/**
 * The pieces every service is built from: the store, the bus (in-process or
 * Kafka), the analyzer stage, and the HTTP server's listen and close.
 */
import { createServer, type RequestListener, type Server } from 'node:http';
import { join } from 'node:path';
import { TapwatchError, log, type Config } from '@tapwatch/schema';
import { MemoryEventBus, WriteAheadLog, type AlertFeed, type AlertPublisher, type EventPublisher, type EventSource } from '@tapwatch/bus';
import { openStore as openClickHouse, type Store } from '@tapwatch/store';
import { Analyzer, type DetectionConfig } from '@tapwatch/analyzer';
import { closeServer, serve as listen, type AlertStream } from '@tapwatch/dashboard-api';

/** A running service: where it listens, and how it stops (flushing what it accepted). */
export interface Service {
  url: string;
  stop(): Promise<void>;
}

/** The store of the configured ClickHouse (CLICKHOUSE_URL), else the embedded engine under TAPWATCH_DATA_DIR. */
export function openStore(config: Config): Promise<Store> {
  return openClickHouse({
    url: config.CLICKHOUSE_URL,
    user: config.CLICKHOUSE_USER,
    password: config.CLICKHOUSE_PASSWORD,
    database: config.CLICKHOUSE_DATABASE,
    dataDir: config.TAPWATCH_DATA_DIR,
    readonlyUser: config.CLICKHOUSE_READONLY_USER,
    readonlyPassword: config.CLICKHOUSE_READONLY_PASSWORD,
    sqlMaxRows: config.TAPWATCH_SQL_MAX_ROWS,
    sqlTimeoutSeconds: config.TAPWATCH_SQL_TIMEOUT_S,
    retention: {
      content: config.TAPWATCH_RETENTION_CONTENT_DAYS,
      calls: config.TAPWATCH_RETENTION_CALLS_DAYS,
      history: config.TAPWATCH_RETENTION_HISTORY_DAYS,
    },
  });
}

/** What a service asks of the bus. */
export interface BusNeeds {
  /** The analyzer's consumer of the events topic (with its dead-letter topic). */
  consume?: boolean;
  /** A publisher of events (ingest). */
  publishEvents?: boolean;
  /** A publisher of alerts to the alerts topic (Kafka only; in process, the hub is the service's own). */
  publishAlerts?: boolean;
  /** A feed of the alerts topic (the API's stream, Kafka only). */
  feed?: boolean;
  /** Set when the service cannot run without Kafka: the command named in the error. */
  requireKafka?: string;
}

/** The bus a service runs on: KAFKA_BROKERS' Kafka, else the in-process bus. */
export interface Bus {
  kind: 'kafka' | 'memory';
  source?: EventSource | undefined;
  events?: EventPublisher | undefined;
  alerts?: AlertPublisher | undefined;
  feed?: AlertFeed | undefined;
  /** Events accepted and not yet handed on (in-process bus only). */
  depth(): number | undefined;
  /** Whether ingest can take events (in-process bus: not while its data directory is full). */
  health?: (() => { ok: boolean; reason?: string; since?: string }) | undefined;
  /** The Kafka consumer's lag and dead letters, live. */
  consumer?: (() => { lag: { total: number; partitions: Record<string, number> }; deadLettered: number }) | undefined;
  /** Closes the publishers and the feed (the source is stopped by the service, in its order). */
  close(): Promise<void>;
}

/** Opens the bus a service needs; Kafka's client is loaded only when KAFKA_BROKERS is set. */
export async function openBus(config: Config, needs: BusNeeds): Promise<Bus> {
  if (!config.KAFKA_BROKERS) {
    if (needs.requireKafka) {
      throw new TapwatchError(
        'TAPWATCH_KAFKA_REQUIRED',
        `${needs.requireKafka} needs Kafka: set KAFKA_BROKERS=host:port (or run \`tapwatch up\` for the all-in-one default)`,
      );
    }
    // Ingest and analyzer in one process: a write-ahead log makes 202 mean "on disk".
    const wal = needs.consume && needs.publishEvents ? new WriteAheadLog(join(config.TAPWATCH_DATA_DIR, 'wal')) : undefined;
    const bus = new MemoryEventBus({ maxBatch: config.TAPWATCH_BATCH_SIZE, wal });
    const recovered = await bus.recover();
    if (recovered > 0) log.info('queued again what was accepted before a crash and not stored', { events: recovered });
    return {
      kind: 'memory',
      source: needs.consume ? bus : undefined,
      events: needs.publishEvents ? bus : undefined,
      depth: () => bus.depth,
      health: () => bus.health(),
      close: () => bus.close(),
    };
  }
  const { KafkaAlertFeed, KafkaAlertPublisher, KafkaEventPublisher, KafkaEventSource, ensureTopics, kafkaClient } = await import('@tapwatch/bus/kafka');
  const kafka = kafkaClient({ brokers: config.KAFKA_BROKERS, clientId: config.KAFKA_CLIENT_ID });
  const topics = [config.TAPWATCH_EVENTS_TOPIC];
  if (needs.consume || needs.publishAlerts || needs.feed) topics.push(config.TAPWATCH_ALERTS_TOPIC);
  if (needs.consume) topics.push(config.TAPWATCH_DLQ_TOPIC);
  await ensureTopics(kafka, topics, config.TAPWATCH_TOPIC_PARTITIONS);
  const alerts = needs.publishAlerts ? new KafkaAlertPublisher(kafka, config.TAPWATCH_ALERTS_TOPIC) : undefined;
  const events = needs.publishEvents ? new KafkaEventPublisher(kafka, config.TAPWATCH_EVENTS_TOPIC) : undefined;
  const source = needs.consume
    ? new KafkaEventSource(kafka, config.TAPWATCH_EVENTS_TOPIC, config.TAPWATCH_CONSUMER_GROUP, { deadLetterTopic: config.TAPWATCH_DLQ_TOPIC })
    : undefined;
  let feed: InstanceType<typeof KafkaAlertFeed> | undefined;
  if (needs.feed) {
    feed = new KafkaAlertFeed(kafka, config.TAPWATCH_ALERTS_TOPIC);
    await feed.start();
  }
  return {
    kind: 'kafka',
    source,
    events,
    alerts,
    feed,
    depth: () => undefined,
    consumer: source ? () => ({ lag: source.lag(), deadLettered: source.deadLettered }) : undefined,
    async close() {
      await Promise.allSettled([events?.close(), alerts?.close(), feed?.close()]);
    },
  };
}

/** Detector settings from the config; rules file paths from TAPWATCH_RULES, then `extraRules`. */
export function detectionConfig(config: Config, extraRules: readonly string[] = []): DetectionConfig {
  const fromEnv = (config.TAPWATCH_RULES ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
  return {
    resultSize: { minSamples: config.TAPWATCH_OUTLIER_MIN_SAMPLES, threshold: config.TAPWATCH_OUTLIER_THRESHOLD },
    rulesPaths: [...fromEnv, ...extraRules],
  };
}

/** The analyzer stage as `up` and `analyzer` run it: detection settings, baseline refresh and record bound from the config. */
export function newAnalyzer(config: Config, store: Store, publisher: AlertPublisher): Analyzer {
  return new Analyzer({
    store,
    publishers: [publisher],
    detection: detectionConfig(config),
    baselineRefreshMs: config.TAPWATCH_BASELINE_REFRESH_S * 1000,
    maxRecordBytes: config.TAPWATCH_MAX_BODY_BYTES,
  });
}

/** Which Host and Origin headers the HTTP routes and the alert stream answer, besides loopback and their own. */
export function requestGuard(config: Config): { allowedHosts: readonly string[]; allowedOrigins: readonly string[] } {
  return { allowedHosts: config.TAPWATCH_ALLOWED_HOSTS, allowedOrigins: config.TAPWATCH_ALLOWED_ORIGINS };
}

/** The alert stream's counters for /healthz (`tapwatch status`). */
export function streamHealth(stream: AlertStream | undefined): { clients: number; sent: number; dropped: number } | undefined {
  return stream ? { clients: stream.clients, sent: stream.sent, dropped: stream.dropped } : undefined;
}

/**
 * An HTTP server for a service's app, listening on TAPWATCH_HOST:TAPWATCH_PORT. A request must
 * arrive whole, headers and body, within TAPWATCH_REQUEST_TIMEOUT_S (Node answers 408 and closes
 * the connection): a slow sender cannot hold a body buffer for long. Node checks the deadline
 * every `connectionsCheckingInterval` (30 s by default), so the check runs often enough for it.
 */
export async function serve(
  app: RequestListener,
  config: Config,
  attach?: (server: Server) => void,
): Promise<{ server: Server; url: string; close: () => Promise<void> }> {
  const requestTimeout = config.TAPWATCH_REQUEST_TIMEOUT_S * 1000;
  const server = createServer({ requestTimeout, headersTimeout: requestTimeout, connectionsCheckingInterval: Math.min(1000, requestTimeout / 4) }, app);
  attach?.(server);
  const url = await listen(server, config.TAPWATCH_HOST, config.TAPWATCH_PORT);
  return { server, url, close: () => closeServer(server) };
}

/**
 * Stops an event source, the analyzer's way: after the batch in hand is handled. If that takes
 * longer than 15 s (storage down), the analyzer gives the batch up, so the source can stop.
 */
export async function drainSource(source: EventSource, analyzer: Analyzer): Promise<void> {
  const giveUp = setTimeout(() => analyzer.stop(), 15_000);
  try {
    await source.stop();
  } finally {
    clearTimeout(giveUp);
  }
}
