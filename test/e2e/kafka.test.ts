/**
 * The same end-to-end flow with a real Apache Kafka broker between tap and
 * analyzer: `tapwatch tap --sink kafka://…` → topic → `tapwatch up` with
 * KAFKA_BROKERS (analyzer consumer group, embedded ClickHouse engine) → SQL and
 * WebSocket; alerts also land on the alerts topic. Also `tapwatch ingest` and
 * the http sink path into Kafka.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { startKafka, type RunningKafka } from '../support/kafka.mjs';
import {
  EVERYTHING,
  EVERYTHING_2025,
  TAPWATCH_BIN,
  connectThroughTap,
  freePort,
  rows,
  startUp,
  subscribeAlerts,
  waitFor,
  type AlertCollector,
  type RunningTapwatch,
} from '../support/helpers.js';

const id = randomUUID().slice(0, 8);
const TOPICS = { TAPWATCH_EVENTS_TOPIC: `events-${id}`, TAPWATCH_ALERTS_TOPIC: `alerts-${id}`, TAPWATCH_CONSUMER_GROUP: `analyzer-${id}` };
let broker: RunningKafka;
let tw: RunningTapwatch;
let stream: AlertCollector;

before(async () => {
  broker = await startKafka();
  tw = await startUp({ env: { KAFKA_BROKERS: broker.brokers, ...TOPICS, TAPWATCH_TOPIC_PARTITIONS: '3' } });
  stream = await subscribeAlerts(tw.url);
});

after(async () => {
  stream?.close();
  await tw?.stop();
  await broker?.stop();
});

const kafkaSink = () => `kafka://${broker.brokers}`;
const tapEnv = () => ({ TAPWATCH_EVENTS_TOPIC: TOPICS.TAPWATCH_EVENTS_TOPIC });

test('tap → Kafka → analyzer → ClickHouse: every call is a row; outsized result and changed definition alert on the stream and the alerts topic', async () => {
  const agent = `agent-k-${id}`;
  const tapped = await connectThroughTap({ sink: kafkaSink(), name: 'everything', agent, server: [process.execPath, EVERYTHING, 'stdio'], env: tapEnv() });
  await tapped.client.listTools();
  for (let i = 0; i < 30; i++) await tapped.client.callTool({ name: 'echo', arguments: { message: `k${i}` } });
  await tapped.client.callTool({ name: 'echo', arguments: { message: 'y'.repeat(250_000) } });
  await tapped.close();

  const n = await waitFor(
    '31 rows via Kafka',
    async () => {
      const r = await rows(tw.url, 'SELECT count() AS n FROM tool_calls WHERE session = {s:String}', undefined, { s: tapped.session });
      return r[0].n === 31 ? r[0].n : undefined;
    },
    30_000,
  );
  assert.equal(n, 31);
  const outlier = await stream.waitForAlert((a) => a.detector === 'result_size_outlier' && a.session === tapped.session, 'size outlier via Kafka', 30_000);
  assert.equal(outlier.agent, agent);

  // Rug pull across two published versions of the same server, both through Kafka.
  const v1 = await connectThroughTap({ sink: kafkaSink(), name: 'helper', server: [process.execPath, EVERYTHING_2025, 'stdio'], env: tapEnv() });
  await v1.client.listTools();
  await v1.close();
  await waitFor(
    'v1 definitions stored',
    async () => (await rows(tw.url, `SELECT count() AS n FROM tool_definitions WHERE server = 'helper'`))[0].n > 0,
    30_000,
  );
  const v2 = await connectThroughTap({ sink: kafkaSink(), name: 'helper', server: [process.execPath, EVERYTHING, 'stdio'], env: tapEnv() });
  await v2.client.listTools();
  await v2.close();
  const changed = await stream.waitForAlert(
    (a) => a.detector === 'tool_definition_changed' && a.session === v2.session && a.tool === 'echo',
    'definition change via Kafka',
    30_000,
  );

  // The analyzer also published both alerts on the alerts topic, for other consumers (API instances, SIEMs).
  const kafka = new Kafka({ clientId: 'e2e-reader', brokers: [broker.brokers], logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `reader-${id}`, maxWaitTimeInMs: 200 });
  const seen = new Set<string>();
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: TOPICS.TAPWATCH_ALERTS_TOPIC, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void seen.add(JSON.parse(String(message.value)).id) });
    await waitFor('alerts on the alerts topic', () => seen.has(outlier.id) && seen.has(changed.id), 30_000);
  } finally {
    await consumer.disconnect();
  }
});

test('events keep their session key on the topic (one session → one partition, in order)', async () => {
  const tapped = await connectThroughTap({ sink: kafkaSink(), name: 'order', server: [process.execPath, EVERYTHING, 'stdio'], env: tapEnv() });
  for (let i = 0; i < 10; i++) await tapped.client.callTool({ name: 'echo', arguments: { message: String(i) } });
  await tapped.close();
  const r = await waitFor(
    'ordered rows',
    async () => {
      const got = await rows(tw.url, 'SELECT request_id FROM tool_calls WHERE session = {s:String} ORDER BY time, toUInt32OrZero(request_id)', undefined, {
        s: tapped.session,
      });
      return got.length === 10 ? got : undefined;
    },
    30_000,
  );
  const ids = r.map((x) => Number(x.request_id));
  assert.deepEqual(
    ids,
    [...ids].sort((a, b) => a - b),
  );
  const admin = new Kafka({ clientId: 'e2e-admin', brokers: [broker.brokers], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchOffsets({ groupId: TOPICS.TAPWATCH_CONSUMER_GROUP, topics: [TOPICS.TAPWATCH_EVENTS_TOPIC] });
    const committed = offsets[0]!.partitions.reduce((s, p) => s + Math.max(0, Number(p.offset)), 0);
    const ends = await admin.fetchTopicOffsets(TOPICS.TAPWATCH_EVENTS_TOPIC);
    const total = ends.reduce((s, p) => s + Number(p.high), 0);
    await waitFor(
      'offsets committed after storage',
      async () => {
        const o = await admin.fetchOffsets({ groupId: TOPICS.TAPWATCH_CONSUMER_GROUP, topics: [TOPICS.TAPWATCH_EVENTS_TOPIC] });
        return o[0]!.partitions.reduce((s, p) => s + Math.max(0, Number(p.offset)), 0) === total;
      },
      15_000,
    );
    assert.ok(committed <= total);
    assert.equal(ends.length, 3, 'the topic was created with TAPWATCH_TOPIC_PARTITIONS partitions');
  } finally {
    await admin.disconnect();
  }
});

test('taps that cannot reach Kafka send to `tapwatch ingest`, which forwards to the topic', async () => {
  const port = await freePort();
  const token = `ingest-${id}`;
  const ingest = spawn(process.execPath, [TAPWATCH_BIN, 'ingest', '--port', String(port)], {
    env: { ...process.env, KAFKA_BROKERS: broker.brokers, ...TOPICS, TAPWATCH_TOKEN: token },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((r) => ingest.on('exit', (c) => r(c)));
  try {
    await waitFor('ingest ready', async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200, 30_000);
    const unauthorized = await fetch(`http://127.0.0.1:${port}/v1/ingest`, { method: 'POST', body: '[]' });
    assert.equal(unauthorized.status, 401);
    const tapped = await connectThroughTap({
      sink: `http://127.0.0.1:${port}`,
      name: 'via-ingest',
      server: [process.execPath, EVERYTHING, 'stdio'],
      env: { TAPWATCH_TOKEN: token },
    });
    for (let i = 0; i < 4; i++) await tapped.client.callTool({ name: 'get-sum', arguments: { a: i, b: 1 } });
    await tapped.close();
    await waitFor(
      'rows from the ingest path',
      async () => (await rows(tw.url, 'SELECT count() AS n FROM tool_calls WHERE session = {s:String}', undefined, { s: tapped.session }))[0].n === 4,
      30_000,
    );
  } finally {
    ingest.kill('SIGTERM');
    assert.equal(await exited, 0, 'ingest exits cleanly on SIGTERM');
  }
});

test('offsets are committed after storage: an analyzer restarted on the same group and data stores nothing twice', async () => {
  const before = await rows(tw.url, 'SELECT count() AS n, uniqExact(id) AS u FROM tool_calls');
  assert.equal(before[0].n, before[0].u);
  const dataDir = tw.dataDir;
  stream.close();
  tw.proc.kill('SIGTERM');
  assert.equal(await new Promise((r) => tw.proc.once('exit', r)), 0);
  tw = await startUp({ env: { KAFKA_BROKERS: broker.brokers, ...TOPICS, TAPWATCH_TOPIC_PARTITIONS: '3' }, args: ['--data', dataDir] });
  stream = await subscribeAlerts(tw.url);
  const tapped = await connectThroughTap({ sink: kafkaSink(), name: 'after-restart', server: [process.execPath, EVERYTHING, 'stdio'], env: tapEnv() });
  await tapped.client.callTool({ name: 'echo', arguments: { message: 'again' } });
  await tapped.close();
  // Once the new call is stored, the analyzer has caught up with the topic: nothing old came back.
  await waitFor(
    'the new call',
    async () => (await rows(tw.url, 'SELECT count() AS n FROM tool_calls WHERE session = {s:String}', undefined, { s: tapped.session }))[0].n === 1,
    30_000,
  );
  const afterRestart = await rows(tw.url, 'SELECT count() AS n, uniqExact(id) AS u FROM tool_calls');
  assert.equal(afterRestart[0].n, before[0].n + 1);
  assert.equal(afterRestart[0].u, afterRestart[0].n, 'no event stored twice');
});
