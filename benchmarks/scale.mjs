#!/usr/bin/env node
// Scale-out of the analyzer, in one run on one broker and one topic:
//  - events/s end to end (Kafka → `tapwatch analyzer` → ClickHouse) with one and
//    with two analyzer processes in one consumer group, sharing one store
//    (CLICKHOUSE_URL: the real engine behind test/support/clickhouse-http.mjs,
//    in this process), against a bare kafkajs consumer group on the same topic;
//  - each at several loads (--events list), to see how they grow;
//  - analyzer memory per 100k sessions (RSS growth while absorbing events of
//    --state-sessions distinct sessions);
//  - with --burst N: N events produced at once, one analyzer's RSS sampled every
//    second while it absorbs them (is memory bounded?).
// A measurement, not a test: see benchmarks/README.md ("Scale-out").
//
//   npm run build && node benchmarks/scale.mjs [--events 50k,200k] [--sessions 2000]
//        [--state-sessions 100k] [--burst 1m] [--json FILE]

import { randomBytes, randomUUID } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { Kafka, logLevel } from 'kafkajs';
import { openStore } from '@tapwatch/store';
import { startKafka } from '../test/support/kafka.mjs';
import { startClickHouseHttp } from '../test/support/clickhouse-http.mjs';
import {
  codeLine,
  codeVersion,
  fmt,
  healthz,
  machine,
  machineLine,
  memory,
  onCleanup,
  parseFlags,
  runMain,
  sleep,
  startTapwatch,
  table,
  tempDir,
} from './lib.mjs';

const DEFAULTS = { events: '50k,200k', sessions: 2000, stateSessions: 100_000, burst: 0, partitions: 4, json: '', timeoutS: 900 };
const HELP = `Usage: node benchmarks/scale.mjs [options]

  --events LIST         loads, comma-separated (k/m suffixes) (default ${DEFAULTS.events})
  --sessions N          distinct sessions of the throughput runs (default ${DEFAULTS.sessions})
  --state-sessions N    sessions of the memory-per-session run (default 100k; 0: skip)
  --burst N             also produce N events at once and sample one analyzer's RSS (default off)
  --partitions N        partitions of each topic (default ${DEFAULTS.partitions})
  --timeout-s N         give up on one run after N seconds (default ${DEFAULTS.timeoutS})
  --json FILE           also write the raw results as JSON
`;

const count = (s) => {
  const m = /^(\d+(?:\.\d+)?)([km]?)$/i.exec(String(s).trim());
  if (!m) throw new Error(`not a count: ${s}`);
  return Math.round(Number(m[1]) * (m[2].toLowerCase() === 'm' ? 1e6 : m[2].toLowerCase() === 'k' ? 1e3 : 1));
};

const int = (x) => Math.round(x).toLocaleString('en');
const T0 = performance.now();
const phase = (what) => process.stderr.write(`[${((performance.now() - T0) / 1000).toFixed(1)} s] ${what}\n`);

/** A valid tool_call event (the schema the analyzer validates), ~500 bytes. */
function event(i, session, t) {
  return {
    v: 1,
    id: randomUUID(),
    time: new Date(t).toISOString(),
    session,
    agent: `agent-${i % 97}`,
    server: ['filesystem', 'github', 'fetch', 'memory'][i % 4],
    transport: 'stdio',
    type: 'tool_call',
    tool: ['read_file', 'list_directory', 'search', 'fetch', 'read_graph'][i % 5],
    requestId: String(i),
    startedAt: new Date(t - 20).toISOString(),
    durationMs: 20 + (i % 50),
    requestBytes: 80 + (i % 40),
    responseBytes: 1000 + ((i * 7919) % 6000),
    status: 'ok',
    isError: false,
    errorCode: null,
    errorMessage: null,
    argumentKeys: ['path'],
    argumentsHash: randomBytes(16).toString('hex'),
  };
}

/** Produces `n` events over `sessions` sessions (keyed by session) in sends of 4000; returns seconds. */
async function produce(producer, topic, n, sessions) {
  const t0 = performance.now();
  const start = Date.now() - 3_600_000;
  const prefix = randomBytes(3).toString('hex');
  for (let i = 0; i < n; i += 4000) {
    const messages = [];
    for (let j = i; j < Math.min(n, i + 4000); j++) {
      const session = `s-${prefix}-${j % sessions}`;
      messages.push({ key: session, value: JSON.stringify(event(j, session, start + j)) });
    }
    await producer.send({ topic, acks: -1, messages });
  }
  return (performance.now() - t0) / 1000;
}

/** The analyzer consumer's fetch limits (MAX_BYTES_PER_PARTITION, MAX_BYTES_PER_FETCH in bus/src/kafka/source.ts; keep in step). */
const FETCH_LIMITS = { maxBytesPerPartition: 4 * 1024 * 1024, maxBytes: 8 * 1024 * 1024 };

async function bare(kafka, topic, n, timeoutS) {
  const consumer = kafka.consumer({
    groupId: `bench-bare-${randomUUID()}`,
    allowAutoTopicCreation: false,
    sessionTimeout: 30_000,
    maxWaitTimeInMs: 500,
    ...FETCH_LIMITS,
  });
  let joinedAt;
  let doneAt;
  let seen = 0;
  let resolve;
  const done = new Promise((r) => (resolve = r));
  consumer.on(consumer.events.GROUP_JOIN, () => (joinedAt ??= performance.now()));
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset }) => {
      const last = batch.messages.at(-1);
      if (!last) return;
      seen += batch.messages.length;
      resolveOffset(last.offset);
      await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last.offset) + 1n).toString() }]);
      if (seen >= n && !doneAt) {
        doneAt = performance.now();
        resolve();
      }
    },
  });
  const timer = setTimeout(resolve, timeoutS * 1000);
  await done;
  clearTimeout(timer);
  await consumer.disconnect();
  if (!doneAt) throw new Error(`bare consumer read ${seen}/${n}`);
  return { name: 'bare kafkajs consumer', processes: 1, seconds: (doneAt - joinedAt) / 1000, eventsPerSecond: n / ((doneAt - joinedAt) / 1000) };
}

/** `k` analyzer processes in one new group on `topic`, one store database; done when they stored `n` between them. */
async function analyzers({ brokers, ch, topic, n, k, timeoutS, sampleEveryMs = 200 }) {
  const group = `bench-analyzer-${randomUUID().slice(0, 8)}`;
  const database = `bench_${group.replace(/-/g, '_')}`;
  const env = {
    KAFKA_BROKERS: brokers,
    CLICKHOUSE_URL: ch.url,
    CLICKHOUSE_DATABASE: database,
    TAPWATCH_EVENTS_TOPIC: topic,
    TAPWATCH_ALERTS_TOPIC: `${topic}-alerts`,
    TAPWATCH_DLQ_TOPIC: `${topic}-dlq`,
    TAPWATCH_CONSUMER_GROUP: group,
    TAPWATCH_LOG_LEVEL: 'warn',
  };
  // The schema is migrated first, once: analyzers migrating a fresh database at the same moment
  // race in the version-4 table rebuild (see benchmarks/README.md, Scale-out). Then all start
  // together; the clock starts when the first one consumes, so a second one's join and the
  // rebalance it causes are part of the measured time.
  const store = await openStore({
    url: ch.url,
    user: 'default',
    password: '',
    database,
    dataDir: tempDir('scale-unused'),
    sqlMaxRows: 10,
    sqlTimeoutSeconds: 10,
  });
  await store.migrate();
  await store.close();
  const procs = await Promise.all(Array.from({ length: k }, () => startTapwatch('analyzer', { env })));
  const t0 = Math.min(...procs.map((p) => p.listeningAt()));
  const rss = procs.map(() => ({ start: 0, peak: 0, end: 0, samples: [] }));
  procs.forEach((p, i) => (rss[i].start = (memory(p.pid)?.rssKiB ?? 0) / 1024));
  const deadline = Date.now() + timeoutS * 1000;
  let stored = 0;
  let doneAt;
  let lastSample = 0;
  for (;;) {
    const now = performance.now();
    if (now - lastSample >= sampleEveryMs) {
      lastSample = now;
      procs.forEach((p, i) => {
        const m = (memory(p.pid)?.rssKiB ?? 0) / 1024;
        rss[i].peak = Math.max(rss[i].peak, m);
        rss[i].samples.push([Math.round((now - t0) / 100) / 10, Math.round(m)]);
      });
    }
    const stats = await Promise.all(
      procs.map((p) =>
        healthz(p.url).then(
          (h) => h.analyzer,
          () => undefined,
        ),
      ),
    );
    stored = stats.reduce((s, x) => s + (x?.eventsStored ?? 0), 0);
    if (stored >= n) {
      doneAt = performance.now();
      break;
    }
    if (Date.now() > deadline) throw new Error(`analyzers stored ${stored}/${n} within ${timeoutS} s`);
    await sleep(50);
  }
  procs.forEach((p, i) => (rss[i].end = (memory(p.pid)?.rssKiB ?? 0) / 1024));
  const [row] = await ch.query(`SELECT count() AS rows FROM ${database}.tool_calls`);
  await Promise.all(procs.map((p) => p.stop()));
  const seconds = (doneAt - t0) / 1000;
  return { name: `tapwatch analyzer × ${k}`, processes: k, seconds, eventsPerSecond: n / seconds, rows: Number(row.rows), rss };
}

async function main() {
  const opts = parseFlags(process.argv.slice(2), DEFAULTS);
  if (opts.help) return void process.stdout.write(HELP);
  const loads = String(opts.events).split(',').map(count);
  const m = machine();
  const code = codeVersion();
  phase('starting Kafka and the ClickHouse HTTP front');
  const broker = await startKafka();
  onCleanup(() => broker.stop());
  const chDir = tempDir('scale-ch');
  const ch = await startClickHouseHttp({ dataDir: chDir });
  onCleanup(async () => {
    await ch.shutdown();
    rmSync(chDir, { recursive: true, force: true });
  });
  const kafka = new Kafka({ clientId: 'bench-scale', brokers: [broker.brokers], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  onCleanup(() => admin.disconnect());
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  onCleanup(() => producer.disconnect());
  const newTopic = async (tag) => {
    const topic = `bench-scale-${tag}-${randomBytes(3).toString('hex')}`;
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: opts.partitions, replicationFactor: 1 }] });
    return topic;
  };

  console.log(
    `# scale — ${machineLine(m)} · Kafka ${broker.version} · ${opts.partitions} partitions · store: chDB behind the ClickHouse HTTP front (in the benchmark process)`,
  );
  console.log(codeLine(code));
  const results = { machine: m, code, loads: [], state: undefined, burst: undefined };

  for (const n of loads) {
    const topic = await newTopic(`${n}`);
    phase(`producing ${n} events (${opts.sessions} sessions)`);
    const produceSeconds = await produce(producer, topic, n, opts.sessions);
    phase('bare consumer');
    const b = await bare(kafka, topic, n, opts.timeoutS);
    phase('one analyzer');
    const one = await analyzers({ brokers: broker.brokers, ch, topic, n, k: 1, timeoutS: opts.timeoutS });
    phase('two analyzers');
    const two = await analyzers({ brokers: broker.brokers, ch, topic, n, k: 2, timeoutS: opts.timeoutS });
    results.loads.push({ events: n, produceSeconds, runs: [b, one, two] });
    console.log(`\n## ${n.toLocaleString('en')} events (produced at ${int(n / produceSeconds)} events/s)\n`);
    console.log(
      table(
        ['consumer', 'seconds', 'events/s', 'vs bare', 'rows stored', 'peak RSS MiB per process'],
        [b, one, two].map((r) => [
          r.name,
          fmt(r.seconds),
          int(r.eventsPerSecond),
          fmt(r.eventsPerSecond / b.eventsPerSecond, 3),
          r.rows ?? '—',
          r.rss ? r.rss.map((x) => int(x.peak)).join(' / ') : '—',
        ]),
      ),
    );
  }

  if (opts.stateSessions > 0) {
    const sessions = opts.stateSessions;
    const n = sessions * 2;
    const topic = await newTopic('state');
    phase(`memory per session: ${n} events over ${sessions} sessions`);
    await produce(producer, topic, n, sessions);
    const r = await analyzers({ brokers: broker.brokers, ch, topic, n, k: 1, timeoutS: opts.timeoutS });
    const grown = r.rss[0].end - r.rss[0].start;
    results.state = { sessions, events: n, ...r, grownMiB: grown, perHundredKMiB: (grown * 100_000) / sessions };
    console.log(`\n## Memory per 100k sessions\n`);
    console.log(
      `${n.toLocaleString('en')} events over ${sessions.toLocaleString('en')} sessions: analyzer RSS ${int(r.rss[0].start)} MiB at start → ${int(r.rss[0].peak)} MiB peak → ${int(r.rss[0].end)} MiB after; ` +
        `growth ${int(grown)} MiB = **${int(results.state.perHundredKMiB)} MiB per 100k sessions** (RSS includes garbage not yet collected: an upper bound).`,
    );
  }

  if (opts.burst > 0) {
    const n = count(opts.burst);
    const topic = await newTopic('burst');
    phase(`burst: producing ${n} events`);
    const produceSeconds = await produce(producer, topic, n, opts.sessions);
    phase('burst: one analyzer absorbs them');
    const r = await analyzers({ brokers: broker.brokers, ch, topic, n, k: 1, timeoutS: opts.timeoutS, sampleEveryMs: 1000 });
    results.burst = { events: n, produceSeconds, ...r };
    const samples = r.rss[0].samples;
    const pick = [0, 0.25, 0.5, 0.75, 1].map((f) => samples[Math.min(samples.length - 1, Math.floor(f * (samples.length - 1)))]);
    console.log(`\n## Burst of ${n.toLocaleString('en')} events\n`);
    console.log(
      `Produced in ${fmt(produceSeconds)} s; one analyzer stored them in ${fmt(r.seconds)} s (${int(r.eventsPerSecond)} events/s), ${r.rows.toLocaleString('en')} rows.`,
    );
    console.log(`Analyzer RSS (s → MiB): ${pick.map(([t, mib]) => `${t} s: ${mib}`).join(' · ')}; peak ${int(r.rss[0].peak)} MiB.`);
  }
  if (opts.json) writeFileSync(opts.json, JSON.stringify(results, null, 2));
}

runMain(main);
