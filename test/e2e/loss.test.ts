/**
 * Never lose, never double. Real MCP traffic (server-everything behind
 * `tapwatch tap`, driven by the SDK client) while the sink goes away: a Kafka
 * broker stopped and started again on its port and data, `tapwatch up`
 * stopped and restarted on its port and data, a tap SIGKILLed while its sink is
 * down. Calls keep working; afterwards every call is stored exactly once. Then
 * a replay of the whole topic (consumer offsets reset to the earliest) and a
 * batch posted twice change nothing, and raise no alert again.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { Kafka, logLevel } from 'kafkajs';
import { startKafka, type RunningKafka } from '../support/kafka.mjs';
import { toolCallEvent } from '../support/events.js';
import {
  EVERYTHING,
  TAPWATCH_BIN,
  connectThroughTap,
  freePort,
  rows,
  startUp,
  subscribeAlerts,
  tempDir,
  waitFor,
  type RunningTapwatch,
  authHeader,
} from '../support/helpers.js';

const id = randomUUID().slice(0, 8);
const TOPICS = { TAPWATCH_EVENTS_TOPIC: `loss-events-${id}`, TAPWATCH_ALERTS_TOPIC: `loss-alerts-${id}`, TAPWATCH_CONSUMER_GROUP: `loss-analyzer-${id}` };
const SERVER = [process.execPath, EVERYTHING, 'stdio'];
const dirs: string[] = [];

const procs: ChildProcess[] = [];

function dir(prefix: string): string {
  const d = tempDir(prefix);
  dirs.push(d);
  return d;
}

after(() => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** `tapwatch up` on a given port and data dir (to restart it where taps expect it). */
async function upOn(
  port: number,
  dataDir: string,
  env: NodeJS.ProcessEnv = {},
): Promise<{ url: string; proc: ChildProcess; stop: () => Promise<number | null> }> {
  const proc = spawn(process.execPath, [TAPWATCH_BIN, 'up', '--port', String(port), '--host', '127.0.0.1', '--data', dataDir], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  procs.push(proc);
  let out = '';
  proc.stderr?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  const exited = new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    'tapwatch up to answer /healthz',
    async () => {
      if (proc.exitCode !== null) throw new Error(`tapwatch up exited early:\n${out}`);
      return (await fetch(`${url}/healthz`)).status === 200;
    },
    60_000,
    200,
  );
  return {
    url,
    proc,
    stop: async () => {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      return exited;
    },
  };
}

/** SIGTERM, and SIGKILL if it has not exited after 15 s (a stuck shutdown must not stall the suite). */
async function stopOrKill(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

async function callCounts(url: string, session: string): Promise<{ n: number; ids: number; requests: number }> {
  const [r] = await rows(
    url,
    'SELECT count() AS n, uniqExact(id) AS ids, uniqExact(request_id) AS requests FROM tool_calls WHERE session = {s:String}',
    undefined,
    { s: session },
  );
  return { n: Number(r.n), ids: Number(r.ids), requests: Number(r.requests) };
}

/** Waits until `expected` calls of `session` are stored, then checks each is there once. */
async function assertExactlyOnce(url: string, session: string, expected: number, what: string): Promise<void> {
  await waitFor(`${what}: ${expected} calls stored`, async () => (await callCounts(url, session)).n >= expected, 90_000, 250);
  assert.deepEqual(await callCounts(url, session), { n: expected, ids: expected, requests: expected }, `${what}: every call exactly once`);
}

/** Events (lines) in a spool directory tree. */
function spooledEvents(root: string): number {
  if (!existsSync(root)) return 0;
  let n = 0;
  const walk = (d: string): void => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else if (f.endsWith('.ndjson'))
        n += readFileSync(p, 'utf8')
          .split('\n')
          .filter((l) => l !== '').length;
    }
  };
  walk(root);
  return n;
}

async function echo(client: Client, message: string): Promise<void> {
  const r = await client.callTool({ name: 'echo', arguments: { message } });
  assert.equal((r.content as { text: string }[])[0]?.text, `Echo: ${message}`, 'the call succeeds with its normal result');
}

// ---------------------------------------------------------------- Kafka

let kafkaPort: number;
let kafkaDir: string;
let broker: RunningKafka | undefined;
let kafkaUp: RunningTapwatch | undefined;

before(async () => {
  kafkaPort = await freePort();
  kafkaDir = dir('loss-kafka');
  broker = await startKafka({ port: kafkaPort, dataDir: kafkaDir });
  kafkaUp = await startUp({ env: { KAFKA_BROKERS: broker.brokers, ...TOPICS, TAPWATCH_TOPIC_PARTITIONS: '2' } });
});

after(async () => {
  if (kafkaUp) {
    await stopOrKill(kafkaUp.proc);
    await kafkaUp.stop();
  }
  await broker?.stop();
});

let kafkaSession = '';

test('Kafka stopped mid-session: calls keep working with normal results; when it is back every call is stored exactly once', async () => {
  const spool = dir('loss-spool-k');
  const tapped = await connectThroughTap({
    sink: `kafka://127.0.0.1:${kafkaPort}`,
    name: 'loss-kafka',
    server: SERVER,
    env: { TAPWATCH_EVENTS_TOPIC: TOPICS.TAPWATCH_EVENTS_TOPIC, TAPWATCH_SPOOL_DIR: spool },
  });
  kafkaSession = tapped.session;
  try {
    for (let i = 0; i < 10; i++) await echo(tapped.client, `before ${i}`);
    await waitFor('calls before the outage stored', async () => (await callCounts(kafkaUp!.url, tapped.session)).n === 10, 60_000, 250);

    await broker!.stop();
    broker = undefined;
    for (let i = 0; i < 15; i++) await echo(tapped.client, `during ${i}`);
    // The tap gave up on the broker for now and moved the events to disk.
    await waitFor('the outage spooled', () => spooledEvents(spool) > 0, 60_000, 250);

    broker = await startKafka({ port: kafkaPort, dataDir: kafkaDir });
    for (let i = 0; i < 5; i++) await echo(tapped.client, `after ${i}`);
    // An outsized result once the baseline exists: an alert for the replay test to watch.
    await echo(tapped.client, 'y'.repeat(200_000));
    await waitFor('the spool drained into the broker', () => spooledEvents(spool) === 0, 90_000, 250);
  } finally {
    await tapped.close();
  }
  await assertExactlyOnce(kafkaUp!.url, tapped.session, 31, 'Kafka outage');
  assert.equal(spooledEvents(spool), 0, 'the spool is empty once delivered');
});

test('a replay of the whole topic (offsets reset to the earliest) stores nothing again and raises no alert again', async () => {
  assert.ok(kafkaSession, 'runs after the Kafka outage test');
  const url = kafkaUp!.url;
  await waitFor(
    'the outlier alert stored',
    async () => Number((await rows(url, `SELECT count() AS n FROM alerts WHERE session = {s:String}`, undefined, { s: kafkaSession }))[0].n) > 0,
    60_000,
    250,
  );
  const tables = ['tool_calls', 'sessions', 'tool_definitions', 'server_requests', 'delivery_gaps', 'alerts'];
  const snapshot = async (u: string) => {
    const out: Record<string, number> = {};
    for (const t of tables) out[t] = Number((await rows(u, `SELECT count() AS n FROM ${t}`))[0].n);
    out.alertIds = Number((await rows(u, 'SELECT uniqExact(id) AS n FROM alerts'))[0].n);
    return out;
  };
  const admin = new Kafka({ clientId: `loss-admin-${id}`, brokers: [broker!.brokers], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  const committed = async () =>
    (await admin.fetchOffsets({ groupId: TOPICS.TAPWATCH_CONSUMER_GROUP, topics: [TOPICS.TAPWATCH_EVENTS_TOPIC] }))[0]!.partitions.reduce(
      (s, p) => s + Math.max(0, Number(p.offset)),
      0,
    );
  const ends = async (topic: string) => (await admin.fetchTopicOffsets(topic)).reduce((s, p) => s + Number(p.high), 0);
  try {
    const total = await ends(TOPICS.TAPWATCH_EVENTS_TOPIC);
    await waitFor('everything consumed and committed', async () => (await committed()) === total, 60_000, 250);
    const before = await snapshot(url);
    assert.equal(before.alerts, before.alertIds);
    const alertsOnTopic = await ends(TOPICS.TAPWATCH_ALERTS_TOPIC);
    assert.ok(alertsOnTopic > 0, 'alerts were published');

    const dataDir = kafkaUp!.dataDir;
    kafkaUp!.proc.kill('SIGTERM');
    await stopOrKill(kafkaUp!.proc);
    // Offsets can be reset only when no member is left in the group (a killed one times out).
    await waitFor(
      'the consumer group empty',
      async () => ['Empty', 'Dead'].includes((await admin.describeGroups([TOPICS.TAPWATCH_CONSUMER_GROUP])).groups[0]?.state ?? ''),
      60_000,
      500,
    );
    await admin.resetOffsets({ groupId: TOPICS.TAPWATCH_CONSUMER_GROUP, topic: TOPICS.TAPWATCH_EVENTS_TOPIC, earliest: true });
    assert.equal(await committed(), 0, 'the group starts over');

    kafkaUp = await startUp({ env: { KAFKA_BROKERS: broker!.brokers, ...TOPICS, TAPWATCH_TOPIC_PARTITIONS: '2' }, args: ['--data', dataDir] });
    const stream = await subscribeAlerts(kafkaUp.url);
    try {
      await waitFor('the replay consumed and committed', async () => (await committed()) === total, 90_000, 250);
      const health = (await (await fetch(`${kafkaUp.url}/healthz`, { headers: authHeader() })).json()) as { analyzer?: { duplicates?: number } };
      assert.ok((health.analyzer?.duplicates ?? 0) > 0, `the analyzer saw the replayed events and skipped them (${JSON.stringify(health.analyzer)})`);
      assert.deepEqual(await snapshot(kafkaUp.url), before, 'every table unchanged');
      assert.equal(await ends(TOPICS.TAPWATCH_ALERTS_TOPIC), alertsOnTopic, 'no alert published again');
      assert.deepEqual(stream.alerts, [], 'no alert on the WebSocket again');
    } finally {
      stream.close();
    }
  } finally {
    await admin.disconnect();
  }
});

// ---------------------------------------------------------------- HTTP

let httpPort: number;
let httpDir: string;
let httpUp: Awaited<ReturnType<typeof upOn>> | undefined;

before(async () => {
  httpPort = await freePort();
  httpDir = dir('loss-up');
  httpUp = await upOn(httpPort, httpDir);
});
after(async () => {
  await httpUp?.stop();
});

test('tapwatch up stopped (SIGTERM) and restarted on its port and data mid-session: calls keep working; every call stored exactly once', async () => {
  const spool = dir('loss-spool-h');
  const tapped = await connectThroughTap({ sink: `http://127.0.0.1:${httpPort}`, name: 'loss-http', server: SERVER, env: { TAPWATCH_SPOOL_DIR: spool } });
  try {
    for (let i = 0; i < 10; i++) await echo(tapped.client, `before ${i}`);
    await waitFor('calls before the restart stored', async () => (await callCounts(httpUp!.url, tapped.session)).n === 10, 60_000, 250);
    assert.equal(await httpUp!.stop(), 0, 'up exits cleanly on SIGTERM');
    httpUp = undefined;
    for (let i = 0; i < 15; i++) await echo(tapped.client, `during ${i}`);
    await waitFor('the outage spooled', () => spooledEvents(spool) > 0, 60_000, 250);
    httpUp = await upOn(httpPort, httpDir);
    for (let i = 0; i < 5; i++) await echo(tapped.client, `after ${i}`);
    await waitFor('the spool drained into the restarted up', () => spooledEvents(spool) === 0, 60_000, 250);
  } finally {
    await tapped.close();
  }
  await assertExactlyOnce(httpUp!.url, tapped.session, 30, 'up restart');
  const gaps = await rows(httpUp!.url, 'SELECT count() AS n FROM delivery_gaps WHERE session = {s:String}', undefined, { s: tapped.session });
  assert.equal(Number(gaps[0].n), 0, 'nothing was lost, so no gap is reported');
});

test('a tap SIGKILLed while its sink is down leaves a spool; a later tap of the same sink delivers it, each call once', async () => {
  const spool = dir('loss-spool-kill');
  assert.equal(await httpUp!.stop(), 0);
  httpUp = undefined;
  const session = `killed-${id}`;
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [TAPWATCH_BIN, 'tap', '--sink', `http://127.0.0.1:${httpPort}`, '--session', session, '--name', 'loss-kill', '--', ...SERVER],
    env: { ...(process.env as Record<string, string>), TAPWATCH_SPOOL_DIR: spool },
    stderr: 'pipe',
  });
  const client = new Client({ name: 'loss-e2e', version: '1.0.0' });
  await client.connect(transport);
  const closed = new Promise<void>((r) => {
    transport.onclose = () => r();
  });
  for (let i = 0; i < 12; i++) await echo(client, `doomed ${i}`);
  // session_start + 12 calls at least; then the tap dies without a chance to flush.
  await waitFor('the calls spooled', () => spooledEvents(spool) >= 13, 60_000, 250);
  const pid = transport.pid;
  assert.ok(pid);
  process.kill(pid, 'SIGKILL');
  await closed;
  await waitFor('the killed tap reaped', () => {
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  });

  httpUp = await upOn(httpPort, httpDir);
  const later = await connectThroughTap({ sink: `http://127.0.0.1:${httpPort}`, name: 'loss-kill', server: SERVER, env: { TAPWATCH_SPOOL_DIR: spool } });
  try {
    await echo(later.client, 'later');
    await assertExactlyOnce(httpUp.url, session, 12, 'killed tap');
  } finally {
    await later.close();
  }
  await assertExactlyOnce(httpUp.url, later.session, 1, 'the later tap');
  await waitFor('the recovered spool removed', () => spooledEvents(spool) === 0, 30_000, 250);
});

test('a tap re-sending the same batch to /v1/ingest is stored once', async () => {
  const session = `resent-${id}`;
  const batch = Array.from({ length: 5 }, (_, i) => toolCallEvent({ session, server: 'loss-resend', requestId: String(i) }));
  for (let i = 0; i < 2; i++) {
    const r = await fetch(`${httpUp!.url}/v1/ingest`, {
      method: 'POST',
      headers: { ...authHeader(), 'content-type': 'application/json' },
      body: JSON.stringify(batch),
    });
    assert.equal(r.status, 202);
  }
  // A third, later batch marks when the two before it are through the pipeline.
  const marker = toolCallEvent({ session, server: 'loss-resend', requestId: 'marker' });
  assert.equal(
    (
      await fetch(`${httpUp!.url}/v1/ingest`, {
        method: 'POST',
        body: JSON.stringify([marker]),
        headers: { ...authHeader(), 'content-type': 'application/json' },
      })
    ).status,
    202,
  );
  await assertExactlyOnce(httpUp!.url, session, 6, 'batch sent twice');
});
