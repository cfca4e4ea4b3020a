/**
 * Horizontal analyzers, the deployment shape: two `tapwatch analyzer`
 * processes in one consumer group share a 4-partition events topic (events
 * keyed by session) and one store (CLICKHOUSE_URL: the real engine behind
 * ClickHouse's HTTP interface, test/support/clickhouse-http.mjs). One is
 * killed with SIGKILL mid-stream; the other takes its partitions over after
 * the rebalance. Counting rows proves every event stored exactly once.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { startKafka, type RunningKafka } from '../support/kafka.mjs';
import { startClickHouseHttp, type RunningClickHouseHttp } from '../support/clickhouse-http.mjs';
import { authHeader, startTapwatch, tempDir, waitFor, type RunningTapwatch } from '../support/helpers.js';
import { toolCallEvent } from '../support/events.js';

const id = randomUUID().slice(0, 8);
const TOPIC = `events-${id}`;
const PARTITIONS = 4;
const chDir = tempDir('scale-ch');
let broker: RunningKafka;
let ch: RunningClickHouseHttp;
let producer: Producer;
const analyzers: RunningTapwatch[] = [];

const env = () => ({
  KAFKA_BROKERS: broker.brokers,
  CLICKHOUSE_URL: ch.url,
  TAPWATCH_EVENTS_TOPIC: TOPIC,
  TAPWATCH_ALERTS_TOPIC: `alerts-${id}`,
  TAPWATCH_DLQ_TOPIC: `events-${id}.dlq`,
  TAPWATCH_CONSUMER_GROUP: `analyzer-${id}`,
  TAPWATCH_TOPIC_PARTITIONS: String(PARTITIONS),
  TAPWATCH_LOG_LEVEL: 'warn',
});

before(async () => {
  broker = await startKafka();
  ch = await startClickHouseHttp({ dataDir: chDir });
  const kafka = new Kafka({ clientId: `scale-${id}`, brokers: [broker.brokers], logLevel: logLevel.NOTHING });
  // The topic exists with its partitions before the analyzers join, as in a deployment.
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic: TOPIC, numPartitions: PARTITIONS, replicationFactor: 1 }] });
  await admin.disconnect();
  producer = kafka.producer();
  await producer.connect();
});

after(async () => {
  await producer?.disconnect().catch(() => undefined);
  for (const a of analyzers) await a.stop();
  await ch?.shutdown();
  await broker?.stop();
  rmSync(chDir, { recursive: true, force: true });
});

async function health(a: RunningTapwatch): Promise<any> {
  return (await fetch(`${a.url}/healthz`, { headers: authHeader() })).json();
}

/** Partitions of the events topic an analyzer owns (its lag is reported per owned partition). */
async function owned(a: RunningTapwatch): Promise<string[]> {
  return Object.keys((await health(a)).analyzer.lag.partitions);
}

async function counted(prefix: string): Promise<{ rows: number; unique: number; physical: number }> {
  const [seen] = await ch.query<{ rows: number; unique: number }>(
    `SELECT count() AS rows, uniqExact(id) AS unique FROM tapwatch.tool_calls WHERE startsWith(session, '${prefix}-')`,
  );
  const [raw] = await ch.query<{ physical: number }>(
    `SELECT count() AS physical FROM tapwatch.tool_calls WHERE startsWith(session, '${prefix}-') SETTINGS final = 0`,
  );
  return { rows: Number(seen?.rows), unique: Number(seen?.unique), physical: Number(raw?.physical) };
}

test('two analyzers share the partitions and one store; one is SIGKILLed mid-stream, the other takes over; every event stored exactly once', async () => {
  const a = await startTapwatch('analyzer', { env: env() });
  analyzers.push(a);
  const b = await startTapwatch('analyzer', { env: env() });
  analyzers.push(b);
  const split = await waitFor(
    'both analyzers owning partitions',
    async () => {
      const [pa, pb] = [await owned(a), await owned(b)];
      return pa.length > 0 && pb.length > 0 && pa.length + pb.length === PARTITIONS ? { pa, pb } : undefined;
    },
    60_000,
    250,
  );
  assert.equal(new Set([...split.pa, ...split.pb]).size, PARTITIONS, 'each partition has one owner');

  const prefix = `scale-${id}`;
  let sent = 0;
  const send = async (n: number) => {
    const events = Array.from({ length: n }, (_, i) => toolCallEvent({ session: `${prefix}-${(sent + i) % 200}`, requestId: String(sent + i) }));
    await producer.send({ topic: TOPIC, acks: -1, messages: events.map((e) => ({ key: e.session, value: JSON.stringify(e) })) });
    sent += n;
  };

  // First part of the stream: both analyzers store their share.
  for (let i = 0; i < 10; i++) await send(200);
  await waitFor(
    'both analyzers storing',
    async () => {
      const [ha, hb] = [await health(a), await health(b)];
      return ha.analyzer.eventsStored > 0 && hb.analyzer.eventsStored > 0;
    },
    60_000,
    250,
  );

  // Kill one mid-stream: whatever it stored but did not commit is redelivered to the other.
  a.proc.kill('SIGKILL');
  for (let i = 0; i < 10; i++) await send(200);

  await waitFor('the survivor owning every partition', async () => (await owned(b)).length === PARTITIONS, 90_000, 500);
  const c = await waitFor(
    `${sent} rows`,
    async () => {
      const got = await counted(prefix);
      return got.rows >= sent ? got : undefined;
    },
    90_000,
    250,
  );
  assert.deepEqual(c, { rows: sent, unique: sent, physical: sent }, 'every event stored once: none lost, none doubled');
  const hb = await waitFor(
    'the survivor caught up',
    async () => {
      const h = await health(b);
      return h.analyzer.lag.total === 0 ? h : undefined;
    },
    30_000,
    250,
  );
  assert.ok(hb.analyzer.eventsStored < sent, 'the survivor stored only part of the stream; the killed one stored the rest');
  assert.deepEqual(await counted(prefix), { rows: sent, unique: sent, physical: sent });
});
