/** `tapwatch api`: SQL and REST over ClickHouse, the alert stream from the alerts topic, ingest to the events topic. */
import { log, type Config } from '@tapwatch/schema';
import { alertHistory, attachAlertStream, authorizerFor, createApp, metricsRenderer, type AlertStream } from '@tapwatch/dashboard-api';
import { openBus, openStore, requestGuard, serve, streamHealth, type Service } from './shared.js';

export async function startApi(config: Config): Promise<Service> {
  if (!config.CLICKHOUSE_URL) {
    log.warn(
      'tapwatch api without CLICKHOUSE_URL opens the embedded engine, which one process at a time can use; use `tapwatch up` for the all-in-one default',
      {
        setting: 'CLICKHOUSE_URL',
      },
    );
  }
  const store = await openStore(config);
  // Idempotent: lets SQL answer (on empty tables) even before an analyzer has started.
  await store.migrate();
  const bus = config.KAFKA_BROKERS ? await openBus(config, { publishEvents: true, feed: true }) : undefined;
  if (!bus) log.warn('no KAFKA_BROKERS: the API serves SQL only (no ingest, no alert stream)', { setting: 'KAFKA_BROKERS' });
  let stream: AlertStream | undefined;
  const { app, ingestStats } = createApp({
    token: config.TAPWATCH_TOKEN,
    authorizer: authorizerFor(config),
    maxBodyBytes: config.TAPWATCH_MAX_BODY_BYTES,
    maxIngestInFlight: config.TAPWATCH_INGEST_MAX_INFLIGHT,
    guard: requestGuard(config),
    publisher: bus?.events,
    store,
    health: () => ({ mode: 'api', alertSubscribers: stream?.clients ?? 0, alertStream: streamHealth(stream) }),
    metrics: () => metrics(),
  });
  const http = await serve(app, config, (server) => {
    const feed = bus?.feed;
    if (feed) {
      stream = attachAlertStream(server, feed, {
        token: config.TAPWATCH_TOKEN,
        authorize: (req) => authorizerFor(config).check(req, 'alerts', true),
        history: alertHistory(store),
        maxClients: config.TAPWATCH_WS_MAX_CLIENTS,
        maxClientsPerToken: config.TAPWATCH_WS_MAX_CLIENTS_PER_TOKEN,
        identify: (req) => authorizerFor(config).identify(req, true),
        guard: requestGuard(config),
      });
    }
  });
  const metrics = metricsRenderer({ service: 'api', ingest: bus?.events ? ingestStats : undefined, stream });
  return {
    url: http.url,
    async stop() {
      await stream?.close();
      await http.close();
      await bus?.close();
      await store.close();
    },
  };
}
