/**
 * The distributed shape with the real binaries: `tapwatch analyzer` and
 * `tapwatch api` as separate processes around a real Kafka broker, as
 * docker-compose runs them. Taps write to Kafka; the analyzer stores and
 * detects; the API streams the analyzer's alerts from the alerts topic and
 * forwards its own ingest to the events topic.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startKafka, type RunningKafka } from '../support/kafka.mjs';
import { EVERYTHING, authHeader, connectThroughTap, rows, startTapwatch, subscribeAlerts, waitFor, type RunningTapwatch } from '../support/helpers.js';

const id = randomUUID().slice(0, 8);
const TOKEN = `svc-${id}`;
let broker: RunningKafka;
let analyzer: RunningTapwatch;
let api: RunningTapwatch;

before(async () => {
  broker = await startKafka();
  const env = {
    KAFKA_BROKERS: broker.brokers,
    TAPWATCH_EVENTS_TOPIC: `events-${id}`,
    TAPWATCH_ALERTS_TOPIC: `alerts-${id}`,
    TAPWATCH_CONSUMER_GROUP: `analyzer-${id}`,
    TAPWATCH_TOKEN: TOKEN,
  };
  analyzer = await startTapwatch('analyzer', { env });
  api = await startTapwatch('api', { env });
});

after(async () => {
  const codes = await Promise.all([api?.stop(), analyzer?.stop()]);
  await broker?.stop();
  assert.deepEqual(codes, [0, 0], 'both services exit cleanly on SIGTERM');
});

async function storedByAnalyzer(): Promise<number> {
  const h = (await (await fetch(`${analyzer.url}/healthz`, { headers: authHeader(TOKEN) })).json()) as { analyzer: { eventsStored: number } };
  return h.analyzer.eventsStored;
}

test('analyzer and api as separate processes: tap → Kafka → analyzer; alerts → Kafka → api WebSocket; api ingest → Kafka', async () => {
  const stream = await subscribeAlerts(api.url, TOKEN, true);
  try {
    const tapped = await connectThroughTap({
      sink: `kafka://${broker.brokers}`,
      name: 'everything',
      agent: `agent-${id}`,
      server: [process.execPath, EVERYTHING, 'stdio'],
      env: { TAPWATCH_EVENTS_TOPIC: `events-${id}` },
    });
    await tapped.client.listTools();
    for (let i = 0; i < 25; i++) await tapped.client.callTool({ name: 'echo', arguments: { message: `m${i}` } });
    await tapped.client.callTool({ name: 'echo', arguments: { message: 'z'.repeat(200_000) } });
    await tapped.close();
    // session_start + tools_list + 26 calls + session_end
    await waitFor('the analyzer stored every event', async () => (await storedByAnalyzer()) === 29, 30_000);
    const alert = await stream.waitForAlert((a) => a.detector === 'result_size_outlier' && a.session === tapped.session, 'outlier streamed by the api', 30_000);
    assert.equal(alert.agent, `agent-${id}`);

    // A tap that cannot reach Kafka posts to the api's ingest, which forwards to the topic.
    const viaApi = await connectThroughTap({ sink: api.url, name: 'via-api', server: [process.execPath, EVERYTHING, 'stdio'], env: { TAPWATCH_TOKEN: TOKEN } });
    await viaApi.client.callTool({ name: 'get-sum', arguments: { a: 1, b: 2 } });
    await viaApi.close();
    // session_start + 1 call + session_end
    await waitFor('the analyzer stored the ingested events', async () => (await storedByAnalyzer()) === 29 + 3, 30_000);
  } finally {
    stream.close();
  }
  // The api's SQL runs under the read-only guard on its own store.
  const r = await rows(api.url, 'SELECT count() AS n FROM tool_calls', TOKEN);
  assert.equal(typeof r[0].n, 'number');
  const refused = await fetch(`${api.url}/v1/sql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({ sql: 'DROP TABLE tool_calls' }),
  });
  assert.equal(refused.status, 403);
});
