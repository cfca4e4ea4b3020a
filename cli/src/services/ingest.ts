/** `tapwatch ingest`: taps' events over HTTP onto the events topic, for taps that cannot reach Kafka. */
import type { Config } from '@tapwatch/schema';
import { authorizerFor, createApp, metricsRenderer } from '@tapwatch/dashboard-api';
import { openBus, requestGuard, serve, type Service } from './shared.js';

export async function startIngest(config: Config): Promise<Service> {
  const bus = await openBus(config, { publishEvents: true, requireKafka: 'tapwatch ingest' });
  const { app, ingestStats } = createApp({
    token: config.TAPWATCH_TOKEN,
    authorizer: authorizerFor(config),
    maxBodyBytes: config.TAPWATCH_MAX_BODY_BYTES,
    maxIngestInFlight: config.TAPWATCH_INGEST_MAX_INFLIGHT,
    guard: requestGuard(config),
    publisher: bus.events,
    health: () => ({ mode: 'ingest' }),
    metrics: () => metrics(),
  });
  const metrics = metricsRenderer({ service: 'ingest', ingest: ingestStats });
  const http = await serve(app, config);
  return {
    url: http.url,
    async stop() {
      await http.close();
      await bus.close();
    },
  };
}
