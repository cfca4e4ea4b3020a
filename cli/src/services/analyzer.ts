/** `tapwatch analyzer`: consume the events topic, store, detect, publish alerts; /healthz and /metrics on its port. */
import type { Config } from '@tapwatch/schema';
import { alertDelivery } from '@tapwatch/analyzer';
import { authorizerFor, createApp, metricsRenderer } from '@tapwatch/dashboard-api';
import { drainSource, newAnalyzer, openBus, openStore, requestGuard, serve, type Service } from './shared.js';

export async function startAnalyzer(config: Config): Promise<Service> {
  const bus = await openBus(config, { consume: true, publishAlerts: true, requireKafka: 'tapwatch analyzer' });
  const source = bus.source!;
  const consumer = bus.consumer!;
  const store = await openStore(config);
  const delivery = alertDelivery(config, store, [bus.alerts!]);
  const analyzer = newAnalyzer(config, store, delivery.publisher);
  await analyzer.init();
  await source.start(analyzer.handleBatch);
  const { app } = createApp({
    token: config.TAPWATCH_TOKEN,
    authorizer: authorizerFor(config),
    maxBodyBytes: config.TAPWATCH_MAX_BODY_BYTES,
    guard: requestGuard(config),
    probeStore: store,
    // Dead letters and lag of this instance, live (the same numbers /metrics reads).
    health: () => ({ mode: 'analyzer', analyzer: { ...analyzer.stats, ...consumer() }, learning: analyzer.learning() }),
    metrics: metricsRenderer({
      service: 'analyzer',
      analyzer: analyzer.stats,
      alerts: delivery.publisher.stats,
      webhooks: delivery.webhooks?.stats,
      consumer,
    }),
  });
  const http = await serve(app, config);
  return {
    url: http.url,
    async stop() {
      const closing = http.close();
      await drainSource(source, analyzer);
      await delivery.close();
      await bus.close();
      await closing;
      await store.close();
    },
  };
}
