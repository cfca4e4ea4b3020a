/**
 * `tapwatch up | analyzer | api | ingest`: parses flags and environment once,
 * starts the service, and shuts it down cleanly on SIGINT/SIGTERM.
 */
import { ConfigError, TapwatchError, loadConfig, localTokenPath, log, readLocalToken, setLogLevel, type Config } from '@tapwatch/schema';
import { assertSafeBinding, authorizerFor, credentialsEnv, tokensConfigured } from '@tapwatch/dashboard-api';
import { exitCodeOf } from '../client.js';
import { HELP_OPTION, parseFlags } from '../flags.js';
import { startService, type Service, type ServiceName } from '../services/index.js';

const COMMON_FLAGS = `  --port N       port to listen on (default $TAPWATCH_PORT, else 8787)
  --host ADDR    address to listen on (default $TAPWATCH_HOST, else 127.0.0.1);
                 anything but loopback requires TAPWATCH_TOKEN or a token file;
                 without TAPWATCH_TOKEN, local tokens are created (0600) in
                 $TAPWATCH_CREDENTIALS_DIR, else $XDG_STATE_HOME/tapwatch/credentials
  --data DIR     data directory of the embedded engine (default $TAPWATCH_DATA_DIR, else .tapwatch)
  -h, --help     show this help`;

const HELP: Record<ServiceName, string> = {
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

/** Runs one service until SIGINT or SIGTERM; resolves with the exit code once it has shut down. */
export async function serviceCommand(name: ServiceName, argv: string[]): Promise<number> {
  const help = HELP[name];
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
    assertSafeBinding(config.TAPWATCH_HOST, config.TAPWATCH_TOKEN, tokensConfigured(config));
    authorizerFor(config);
    service = await startService(name, config);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    process.stderr.write(`tapwatch ${name}: ${msg}\n`);
    log.error('start failed', { command: name, error: msg, code: err instanceof TapwatchError ? err.code : undefined });
    // A bad setting found while starting (TAPWATCH_WEBHOOKS, a rules file) exits 2 like one found by loadConfig.
    return err instanceof TapwatchError ? exitCodeOf(err) : 1;
  }
  process.stdout.write(`tapwatch ${name} listening on ${service.url}\n`);
  if (!config.TAPWATCH_TOKEN && (name === 'up' || name === 'api')) {
    // Like Jupyter: the URL opens the dashboard signed in (a #fragment never reaches a server or a Referer).
    const admin = readLocalToken('admin', credentialsEnv(config));
    if (admin)
      process.stdout.write(
        `dashboard: ${service.url}/#token=${admin}\n(token in ${localTokenPath('admin', credentialsEnv(config))}; taps and the CLI on this machine find theirs)\n`,
      );
  }
  log.info('started', {
    command: name,
    url: service.url,
    bus: config.KAFKA_BROKERS ? 'kafka' : 'memory',
    store: config.CLICKHOUSE_URL ? 'server' : 'embedded',
  });

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
