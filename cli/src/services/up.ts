/** `tapwatch up`: ingest, analyzer and API in one process (in-process bus and embedded engine unless configured otherwise). */
import { log, type Config } from '@tapwatch/schema';
import { AlertHub, type AlertPublisher } from '@tapwatch/bus';
import { alertDelivery } from '@tapwatch/analyzer';
import { alertHistory, attachAlertStream, authorizerFor, createApp, metricsRenderer, type AlertStream } from '@tapwatch/dashboard-api';
import { drainSource, newAnalyzer, openBus, openStore, requestGuard, serve, streamHealth, type Service } from './shared.js';

export async function startUp(config: Config): Promise<Service> {
  const store = await openStore(config);
  const hub = new AlertHub();
  const bus = await openBus(config, { consume: true, publishEvents: true, publishAlerts: true });
  const source = bus.source!;
  const publishers: AlertPublisher[] = bus.alerts ? [hub, bus.alerts] : [hub];
  const delivery = alertDelivery(config, store, publishers);
  const analyzer = newAnalyzer(config, store, delivery.publisher);
  await analyzer.init();
  await source.start(analyzer.handleBatch);

  let stream: AlertStream | undefined;
  const { app, ingestStats } = createApp({
    token: config.TAPWATCH_TOKEN,
    authorizer: authorizerFor(config),
    maxBodyBytes: config.TAPWATCH_MAX_BODY_BYTES,
    maxIngestInFlight: config.TAPWATCH_INGEST_MAX_INFLIGHT,
    guard: requestGuard(config),
    publisher: bus.events,
    store,
    ready: bus.health,
    health: () => ({
      mode: 'up',
      analyzer: bus.consumer ? { ...analyzer.stats, ...bus.consumer() } : analyzer.stats,
      learning: analyzer.learning(),
      queued: bus.depth(),
      alertStream: streamHealth(stream),
    }),
    onSilencesChanged: () => delivery.publisher.refresh(),
    metrics: () => metrics(),
  });
  const http = await serve(app, config, (server) => {
    stream = attachAlertStream(server, hub, {
      token: config.TAPWATCH_TOKEN,
      authorize: (req) => authorizerFor(config).check(req, 'alerts', true),
      history: alertHistory(store),
      maxClients: config.TAPWATCH_WS_MAX_CLIENTS,
      maxClientsPerToken: config.TAPWATCH_WS_MAX_CLIENTS_PER_TOKEN,
      identify: (req) => authorizerFor(config).identify(req, true),
      guard: requestGuard(config),
    });
  });
  const metrics = metricsRenderer({
    service: 'up',
    ingest: ingestStats,
    analyzer: analyzer.stats,
    alerts: delivery.publisher.stats,
    stream,
    webhooks: delivery.webhooks?.stats,
    queued: () => bus.depth(),
    consumer: bus.consumer,
  });

  return {
    url: http.url,
    async stop() {
      // Stop taking events, then finish what was accepted, then close storage.
      await stream?.close();
      const closing = http.close();
      await drainSource(source, analyzer).catch((err: unknown) => log.warn('bus stop failed', { error: (err as Error).message }));
      await Promise.allSettled([delivery.close(), bus.close()]);
      await closing;
      await store.close();
    },
  };
}
