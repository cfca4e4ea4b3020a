/**
 * The server-side commands of `tapwatch`: `up`, `analyzer`, `api`, `ingest`.
 * Each parses its flags and environment once, wires the stages through the
 * bus and store interfaces, and shuts down cleanly on SIGINT/SIGTERM.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError, TapwatchError, loadConfig, log, setLogLevel, type Config } from '@tapwatch/schema';
import {
  AlertHub,
  Analyzer,
  alertDelivery,
  KafkaAlertFeed,
  KafkaAlertPublisher,
  KafkaEventPublisher,
  KafkaEventSource,
  MemoryEventBus,
  ensureTopics,
  kafkaClient,
  openClickHouseStore,
  type AlertFeed,
  type AlertPublisher,
  type EventPublisher,
  type EventSource,
  type Store,
} from '@tapwatch/analyzer';
import { createApp } from './app.js';
import { metricsRenderer, type MetricSources } from './metrics.js';
import { assertSafeBinding } from './auth.js';
import { authorizerFor } from './tokens.js';
import { attachAlertStream, type AlertStream } from './ws-hub.js';
import { alertHistory } from './sql-history.js';
import { backtestCommand } from './backtest-command.js';
import { sqlCommand } from './cli-sql.js';
import { alertsCommand } from './cli-alerts.js';
import { statusCommand } from './cli-status.js';
import { tokenCommand } from './cli-token.js';
import { HELP_OPTION, parseFlags } from './flags.js';

const COMMON_FLAGS = `  --port N       port to listen on (default $TAPWATCH_PORT, else 8787)
  --host ADDR    address to listen on (default $TAPWATCH_HOST, else 127.0.0.1);
                 anything but loopback requires TAPWATCH_TOKEN
  --data DIR     data directory of the embedded engine (default $TAPWATCH_DATA_DIR, else .tapwatch)
  -h, --help     show this help`;

const HELP: Record<string, string> = {
  up: `Usage: tapwatch up [--port 8787] [--host 127.0.0.1] [--data DIR]

Runs all of tapwatch in one process: tap ingest, analyzer and API on one port.
Without settings it needs nothing else: an in-process bus and ClickHouse's
engine embedded (chDB), data under DIR. KAFKA_BROKERS switches the bus to
Kafka, CLICKHOUSE_URL the storage to a ClickHouse server.

${COMMON_FLAGS}
`,
  analyzer: `Usage: tapwatch analyzer [--port N] [--host ADDR] [--data DIR]

Consumes events from Kafka (KAFKA_BROKERS, required) in the consumer group
TAPWATCH_CONSUMER_GROUP, stores them in ClickHouse (CLICKHOUSE_URL, else the
embedded engine under DIR), runs the detectors and writes alerts to ClickHouse
and to TAPWATCH_ALERTS_TOPIC. Serves GET /healthz on the port.

${COMMON_FLAGS}
`,
  api: `Usage: tapwatch api [--port N] [--host ADDR] [--data DIR]

Serves GET /healthz, POST /v1/sql over ClickHouse (CLICKHOUSE_URL), the
WebSocket /v1/alerts/stream (alerts read from Kafka) and POST /v1/ingest
(events written to Kafka) when KAFKA_BROKERS is set.

${COMMON_FLAGS}
`,
  ingest: `Usage: tapwatch ingest [--port N] [--host ADDR]

Accepts taps' events on POST /v1/ingest and writes them to Kafka
(KAFKA_BROKERS, required): for taps that cannot reach Kafka themselves.

${COMMON_FLAGS}
`,
};

/** Runs one server-side command; resolves with the exit code once it has shut down. */
export async function runCommand(name: string, argv: string[]): Promise<number> {
  if (name === 'backtest') return backtestCommand(argv);
  if (name === 'sql') return sqlCommand(argv);
  if (name === 'alerts') return alertsCommand(argv);
  if (name === 'status') return statusCommand(argv);
  if (name === 'token') return tokenCommand(argv);
  const help = HELP[name];
  if (!help) {
    process.stderr.write(`tapwatch: unknown command '${name}'\n`);
    return 2;
  }
  const values = parseFlags(name, argv, { port: { type: 'string' }, host: { type: 'string' }, data: { type: 'string' }, ...HELP_OPTION }, help);
  if (typeof values === 'number') return values;
  let config: Config;
  try {
    config = loadConfig(process.env, { TAPWATCH_PORT: values.port, TAPWATCH_HOST: values.host, TAPWATCH_DATA_DIR: values.data });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`tapwatch ${name}: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  setLogLevel(config.TAPWATCH_LOG_LEVEL);

  let service: Service;
  try {
    assertSafeBinding(config.TAPWATCH_HOST, config.TAPWATCH_TOKEN, authorizerFor(config).enabled);
    service = await startService(name, config);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    process.stderr.write(`tapwatch ${name}: ${msg}\n`);
    log.error('start failed', { command: name, error: msg, code: err instanceof TapwatchError ? err.code : undefined });
    return 1;
  }
  process.stdout.write(`tapwatch ${name} listening on ${service.url}\n`);
  log.info('started', { command: name, url: service.url, bus: config.KAFKA_BROKERS ? 'kafka' : 'memory', store: config.CLICKHOUSE_URL ? 'server' : 'embedded' });

  return new Promise<number>((resolve) => {
    let stopping = false;
    const onSignal = (sig: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      log.info('shutting down', { signal: sig });
      const force = setTimeout(() => {
        log.error('shutdown took too long; exiting');
        resolve(1);
      }, 25_000);
      force.unref();
      service.stop().then(
        () => {
          clearTimeout(force);
          resolve(0);
        },
        (err: unknown) => {
          clearTimeout(force);
          log.error('shutdown failed', { error: (err as Error).message });
          resolve(1);
        },
      );
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
}

/** The analyzer stage as `up` and `analyzer` run it: detection settings, baseline refresh and record bound from the config. */
function newAnalyzer(config: Config, store: Store, publisher: AlertPublisher): Analyzer {
  return new Analyzer({
    store,
    publishers: [publisher],
    detection: detectionConfig(config),
    baselineRefreshMs: config.TAPWATCH_BASELINE_REFRESH_S * 1000,
    maxRecordBytes: config.TAPWATCH_MAX_BODY_BYTES,
  });
}

/** The alert stream's counters for /healthz (`tapwatch status`). */
function streamHealth(stream: AlertStream | undefined): { clients: number; sent: number; dropped: number } | undefined {
  return stream ? { clients: stream.clients, sent: stream.sent, dropped: stream.dropped } : undefined;
}

export interface Service {
  url: string;
  stop(): Promise<void>;
}

/** Starts the named service from a parsed config (also used by tests). */
export async function startService(name: string, config: Config): Promise<Service> {
  switch (name) {
    case 'up':
      return startUp(config);
    case 'analyzer':
      return startAnalyzer(config);
    case 'api':
      return startApi(config);
    case 'ingest':
      return startIngest(config);
    default:
      throw new TapwatchError('TAPWATCH_UNKNOWN_COMMAND', `unknown service ${name}`);
  }
}

function openStore(config: Config): Promise<Store> {
  return openClickHouseStore({
    url: config.CLICKHOUSE_URL,
    user: config.CLICKHOUSE_USER,
    password: config.CLICKHOUSE_PASSWORD,
    database: config.CLICKHOUSE_DATABASE,
    dataDir: config.TAPWATCH_DATA_DIR,
    readonlyUser: config.CLICKHOUSE_READONLY_USER,
    readonlyPassword: config.CLICKHOUSE_READONLY_PASSWORD,
    sqlMaxRows: config.TAPWATCH_SQL_MAX_ROWS,
    sqlTimeoutSeconds: config.TAPWATCH_SQL_TIMEOUT_S,
  });
}

function requireKafka(config: Config, command: string): string[] {
  if (!config.KAFKA_BROKERS) {
    throw new TapwatchError('TAPWATCH_KAFKA_REQUIRED', `${command} needs Kafka: set KAFKA_BROKERS=host:port (or run \`tapwatch up\` for the all-in-one default)`);
  }
  return config.KAFKA_BROKERS;
}

/** Detector settings from the config; rules file paths from TAPWATCH_RULES. */
export function detectionConfig(config: Config, extraRules: readonly string[] = []) {
  const fromEnv = (config.TAPWATCH_RULES ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
  return {
    resultSize: { minSamples: config.TAPWATCH_OUTLIER_MIN_SAMPLES, threshold: config.TAPWATCH_OUTLIER_THRESHOLD },
    rulesPaths: [...fromEnv, ...extraRules],
  };
}

async function listen(server: Server, config: Config): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.TAPWATCH_PORT, config.TAPWATCH_HOST, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return `http://${host}:${addr.port}`;
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}

/** Everything in one process. */
async function startUp(config: Config): Promise<Service> {
  const store = await openStore(config);
  const hub = new AlertHub();
  const publishers: AlertPublisher[] = [hub];
  let source: EventSource;
  let ingest: EventPublisher;
  let busDepth: () => number | undefined = () => undefined;
  let consumer: MetricSources['consumer'];
  const closers: (() => Promise<void>)[] = [];

  if (config.KAFKA_BROKERS) {
    const kafka = kafkaClient({ brokers: config.KAFKA_BROKERS, clientId: config.KAFKA_CLIENT_ID });
    await ensureTopics(kafka, [config.TAPWATCH_EVENTS_TOPIC, config.TAPWATCH_ALERTS_TOPIC, config.TAPWATCH_DLQ_TOPIC], config.TAPWATCH_TOPIC_PARTITIONS);
    const alertsOut = new KafkaAlertPublisher(kafka, config.TAPWATCH_ALERTS_TOPIC);
    publishers.push(alertsOut);
    const events = new KafkaEventPublisher(kafka, config.TAPWATCH_EVENTS_TOPIC);
    ingest = events;
    const kafkaSource = new KafkaEventSource(kafka, config.TAPWATCH_EVENTS_TOPIC, config.TAPWATCH_CONSUMER_GROUP, { deadLetterTopic: config.TAPWATCH_DLQ_TOPIC });
    source = kafkaSource;
    consumer = () => ({ lag: kafkaSource.lag(), deadLettered: kafkaSource.deadLettered });
    closers.push(() => events.close(), () => alertsOut.close());
  } else {
    const bus = new MemoryEventBus({ maxBatch: config.TAPWATCH_BATCH_SIZE });
    ingest = bus;
    source = bus;
    busDepth = () => bus.depth;
  }

  const delivery = alertDelivery(config, store, publishers);
  closers.push(() => delivery.close());
  const analyzer = newAnalyzer(config, store, delivery.publisher);
  await analyzer.init();
  await source.start(analyzer.handleBatch);

  const { app, ingestStats } = createApp({
    token: config.TAPWATCH_TOKEN,
    authorizer: authorizerFor(config),
    maxBodyBytes: config.TAPWATCH_MAX_BODY_BYTES,
    publisher: ingest,
    store,
    health: () => ({
      mode: 'up',
      analyzer: consumer ? { ...analyzer.stats, ...consumer() } : analyzer.stats,
      learning: analyzer.learning(),
      queued: busDepth(),
      alertStream: streamHealth(stream),
    }),
    onSilencesChanged: () => delivery.publisher.refresh(),
    metrics: () => metrics(),
  });
  const server = createServer(app);
  const stream = attachAlertStream(server, hub, { token: config.TAPWATCH_TOKEN, authorize: (req) => authorizerFor(config).check(req, 'alerts', true), history: alertHistory(store), maxClients: config.TAPWATCH_WS_MAX_CLIENTS });
  const metrics = metricsRenderer({
    service: 'up',
    ingest: ingestStats,
    analyzer: analyzer.stats,
    alerts: delivery.publisher.stats,
    stream,
    webhooks: delivery.webhooks?.stats,
    queued: busDepth,
    consumer,
  });
  const url = await listen(server, config);

  return {
    url,
    async stop() {
      // Stop taking events, then finish what was accepted, then close storage.
      await stream.close();
      const closing = closeServer(server);
      const giveUp = setTimeout(() => analyzer.stop(), 15_000);
      await source.stop().catch((err: unknown) => log.warn('bus stop failed', { error: (err as Error).message }));
      clearTimeout(giveUp);
      await Promise.allSettled(closers.map((c) => c()));
      await closing;
      await store.close();
    },
  };
}

async function startAnalyzer(config: Config): Promise<Service> {
  const brokers = requireKafka(config, 'tapwatch analyzer');
  const kafka = kafkaClient({ brokers, clientId: config.KAFKA_CLIENT_ID });
  await ensureTopics(kafka, [config.TAPWATCH_EVENTS_TOPIC, config.TAPWATCH_ALERTS_TOPIC, config.TAPWATCH_DLQ_TOPIC], config.TAPWATCH_TOPIC_PARTITIONS);
  const store = await openStore(config);
  const alertsOut = new KafkaAlertPublisher(kafka, config.TAPWATCH_ALERTS_TOPIC);
  const delivery = alertDelivery(config, store, [alertsOut]);
  const analyzer = newAnalyzer(config, store, delivery.publisher);
  await analyzer.init();
  const source = new KafkaEventSource(kafka, config.TAPWATCH_EVENTS_TOPIC, config.TAPWATCH_CONSUMER_GROUP, { deadLetterTopic: config.TAPWATCH_DLQ_TOPIC });
  await source.start(analyzer.handleBatch);
  // Dead letters and lag of this instance, live (the same numbers /metrics can read through source.lag()).
  const analyzerHealth = () => ({ ...analyzer.stats, deadLettered: source.deadLettered, lag: source.lag() });
  const { app } = createApp({
    token: config.TAPWATCH_TOKEN,
    authorizer: authorizerFor(config),
    maxBodyBytes: config.TAPWATCH_MAX_BODY_BYTES,
    probeStore: store,
    health: () => ({ mode: 'analyzer', analyzer: analyzerHealth(), learning: analyzer.learning() }),
    metrics: metricsRenderer({
      service: 'analyzer',
      analyzer: analyzer.stats,
      alerts: delivery.publisher.stats,
      webhooks: delivery.webhooks?.stats,
      consumer: () => ({ lag: source.lag(), deadLettered: source.deadLettered }),
    }),
  });
  const server = createServer(app);
  const url = await listen(server, config);
  return {
    url,
    async stop() {
      const closing = closeServer(server);
      const giveUp = setTimeout(() => analyzer.stop(), 15_000);
      await source.stop();
      clearTimeout(giveUp);
      await delivery.close();
      await alertsOut.close();
      await closing;
      await store.close();
    },
  };
}

async function startApi(config: Config): Promise<Service> {
  if (!config.CLICKHOUSE_URL) {
    log.warn('tapwatch api without CLICKHOUSE_URL opens the embedded engine, which one process at a time can use; use `tapwatch up` for the all-in-one default', {
      setting: 'CLICKHOUSE_URL',
    });
  }
  const store = await openStore(config);
  // Idempotent: lets SQL answer (on empty tables) even before an analyzer has started.
  await store.migrate();
  let publisher: EventPublisher | undefined;
  let feed: (AlertFeed & { start?: () => Promise<void> }) | undefined;
  if (config.KAFKA_BROKERS) {
    const kafka = kafkaClient({ brokers: config.KAFKA_BROKERS, clientId: config.KAFKA_CLIENT_ID });
    await ensureTopics(kafka, [config.TAPWATCH_EVENTS_TOPIC, config.TAPWATCH_ALERTS_TOPIC], config.TAPWATCH_TOPIC_PARTITIONS);
    publisher = new KafkaEventPublisher(kafka, config.TAPWATCH_EVENTS_TOPIC);
    const kafkaFeed = new KafkaAlertFeed(kafka, config.TAPWATCH_ALERTS_TOPIC);
    await kafkaFeed.start();
    feed = kafkaFeed;
  } else {
    log.warn('no KAFKA_BROKERS: the API serves SQL only (no ingest, no alert stream)', { setting: 'KAFKA_BROKERS' });
  }
  const { app, ingestStats } = createApp({
    token: config.TAPWATCH_TOKEN,
    authorizer: authorizerFor(config),
    maxBodyBytes: config.TAPWATCH_MAX_BODY_BYTES,
    publisher,
    store,
    health: () => ({ mode: 'api', alertSubscribers: stream?.clients ?? 0, alertStream: streamHealth(stream) }),
    metrics: () => metrics(),
  });
  const server = createServer(app);
  const stream: AlertStream | undefined = feed ? attachAlertStream(server, feed, { token: config.TAPWATCH_TOKEN, authorize: (req) => authorizerFor(config).check(req, 'alerts', true), history: alertHistory(store), maxClients: config.TAPWATCH_WS_MAX_CLIENTS }) : undefined;
  const metrics = metricsRenderer({ service: 'api', ingest: publisher ? ingestStats : undefined, stream });
  const url = await listen(server, config);
  return {
    url,
    async stop() {
      await stream?.close();
      await closeServer(server);
      await Promise.allSettled([feed?.close(), publisher?.close()]);
      await store.close();
    },
  };
}

async function startIngest(config: Config): Promise<Service> {
  const brokers = requireKafka(config, 'tapwatch ingest');
  const kafka = kafkaClient({ brokers, clientId: config.KAFKA_CLIENT_ID });
  await ensureTopics(kafka, [config.TAPWATCH_EVENTS_TOPIC], config.TAPWATCH_TOPIC_PARTITIONS);
  const publisher = new KafkaEventPublisher(kafka, config.TAPWATCH_EVENTS_TOPIC);
  const { app, ingestStats } = createApp({
    token: config.TAPWATCH_TOKEN,
    authorizer: authorizerFor(config),
    maxBodyBytes: config.TAPWATCH_MAX_BODY_BYTES,
    publisher,
    health: () => ({ mode: 'ingest' }),
    metrics: () => metrics(),
  });
  const metrics = metricsRenderer({ service: 'ingest', ingest: ingestStats });
  const server = createServer(app);
  const url = await listen(server, config);
  return {
    url,
    async stop() {
      await closeServer(server);
      await publisher.close();
    },
  };
}
