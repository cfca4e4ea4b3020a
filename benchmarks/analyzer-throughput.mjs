#!/usr/bin/env node
// Events per second from Kafka into ClickHouse through the real analyzer
// (`tapwatch analyzer`, embedded chDB) vs a bare kafkajs consumer group that
// reads the same topic from the same broker in the same run and only counts.
// A measurement, not a test: see benchmarks/README.md.
//
//   npm run build && node benchmarks/analyzer-throughput.mjs [--events 200k]
//        [--sessions 2000] [--batch-sizes default,5000] [--cpu-prof] [--json FILE]

import { randomUUID, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { TapEventSchema } from '@tapwatch/schema';
import { startKafka } from '../test/support/kafka.mjs';
import {
  cpuSeconds,
  fmt,
  healthz,
  machine,
  machineLine,
  codeVersion,
  codeLine,
  checkCodeUnchanged,
  memory,
  onCleanup,
  parseFlags,
  runMain,
  sleep,
  sqlRows,
  startTapwatch,
  summarize,
  table,
  tempDir,
  waitFor,
} from './lib.mjs';
import { summarizeProfile } from './profile-summary.mjs';

const DEFAULTS = {
  events: 200_000,
  sessions: 2000,
  produceBatch: 4000,
  batchSizes: 'default',
  parseBaseline: true,
  cpuProf: false,
  profDir: '',
  brokers: '',
  json: '',
  timeoutS: 900,
};

const HELP = `Usage: node benchmarks/analyzer-throughput.mjs [options]

  --events N          tool_call events produced (default ${DEFAULTS.events})
  --sessions N        distinct sessions (message keys) (default ${DEFAULTS.sessions})
  --produce-batch N   messages per producer.send (default ${DEFAULTS.produceBatch})
  --batch-sizes LIST  one analyzer run per value of TAPWATCH_BATCH_SIZE, comma-separated;
                      'default' leaves it unset (default: ${DEFAULTS.batchSizes})
  --parse-baseline    also time a bare consumer that decodes, JSON.parses and validates
                      every record with TapEventSchema (default on; --parse-baseline=false)
  --cpu-prof          run the analyzer under node --cpu-prof and print where it spends time
  --prof-dir DIR      keep the .cpuprofile files there (default: a temp dir, removed)
  --brokers H:P       use a running broker instead of starting one with test/support/kafka.mjs
  --timeout-s N       give up on one consumer after N seconds (default ${DEFAULTS.timeoutS})
  --json FILE         also write the raw summary as JSON
`;

// ---------------------------------------------------------------------------
// Realistic tool_call events
// ---------------------------------------------------------------------------

/** mulberry32: a small seeded PRNG so every run produces the same workload. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Servers and their tools: median response bytes, log-spread, argument names, weight. */
const CATALOGUE = {
  filesystem: {
    read_file: { median: 4000, sigma: 1.1, keys: ['path'], w: 30 },
    list_directory: { median: 900, sigma: 0.8, keys: ['path'], w: 15 },
    search_files: { median: 1500, sigma: 1.2, keys: ['path', 'pattern'], w: 6 },
    write_file: { median: 60, sigma: 0.3, keys: ['path', 'content'], w: 5 },
  },
  github: {
    search_repositories: { median: 12000, sigma: 0.7, keys: ['query', 'page'], w: 6 },
    get_file_contents: { median: 6000, sigma: 1.0, keys: ['owner', 'repo', 'path'], w: 10 },
    list_commits: { median: 8000, sigma: 0.6, keys: ['owner', 'repo', 'sha'], w: 4 },
    create_issue: { median: 1800, sigma: 0.3, keys: ['owner', 'repo', 'title', 'body'], w: 1 },
  },
  fetch: {
    fetch: { median: 20000, sigma: 1.3, keys: ['url', 'max_length'], w: 10 },
  },
  memory: {
    read_graph: { median: 3000, sigma: 0.9, keys: [], w: 3 },
    search_nodes: { median: 700, sigma: 0.9, keys: ['query'], w: 4 },
    create_entities: { median: 200, sigma: 0.5, keys: ['entities'], w: 2 },
  },
  postgres: {
    query: { median: 2500, sigma: 1.4, keys: ['sql'], w: 3 },
  },
  slack: {
    list_channels: { median: 5000, sigma: 0.4, keys: ['limit', 'cursor'], w: 1 },
    post_message: { median: 300, sigma: 0.2, keys: ['channel_id', 'text'], w: 1 },
  },
};

function buildCatalogue() {
  const tools = [];
  for (const [server, ts] of Object.entries(CATALOGUE)) for (const [tool, spec] of Object.entries(ts)) tools.push({ server, tool, ...spec });
  const total = tools.reduce((s, t) => s + t.w, 0);
  let acc = 0;
  for (const t of tools) t.cum = (acc += t.w) / total;
  return tools;
}

/**
 * `n` tool_call events over `sessions` sessions (keys), in time order over the
 * last hour; lognormal sizes and durations per tool, ~3% errors, and a rare
 * (1 in 20,000) response 100× larger than usual, which the outlier detector may flag.
 */
function generateEvents(n, sessions, seed = 42) {
  const rnd = prng(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
  const lognormal = (median, sigma) => median * Math.exp(sigma * normal());
  const tools = buildCatalogue();
  const pickTool = () => {
    const u = rnd();
    return tools.find((t) => u <= t.cum) ?? tools[tools.length - 1];
  };
  const sessionIds = Array.from({ length: sessions }, (_, i) => `sess-${i.toString().padStart(5, '0')}-${randomBytes(4).toString('hex')}`);
  const sessionAgent = sessionIds.map((_, i) => `agent-${(i % 150).toString().padStart(3, '0')}`);
  const requestCounter = new Uint32Array(sessions);
  const start = Date.now() - 3_600_000;
  const step = 3_600_000 / n;
  const values = new Array(n);
  const keys = new Array(n);
  for (let i = 0; i < n; i++) {
    const s = Math.floor(rnd() * sessions);
    const t = pickTool();
    const durationMs = Math.round(lognormal(t.server === 'fetch' ? 350 : 40, 0.9) * 1000) / 1000;
    const end = start + i * step;
    const u = rnd();
    const status = u < 0.97 ? 'ok' : u < 0.99 ? 'tool_error' : 'rpc_error';
    let responseBytes = Math.max(2, Math.round(lognormal(t.median, t.sigma)));
    if (status === 'ok' && rnd() < 1 / 20_000) responseBytes *= 100;
    if (status !== 'ok') responseBytes = Math.round(lognormal(120, 0.3));
    const event = {
      v: 1,
      id: randomUUID(),
      time: new Date(end).toISOString(),
      session: sessionIds[s],
      agent: sessionAgent[s],
      server: t.server,
      transport: 'stdio',
      type: 'tool_call',
      tool: t.tool,
      requestId: String(++requestCounter[s]),
      startedAt: new Date(end - durationMs).toISOString(),
      durationMs,
      requestBytes: Math.max(2, Math.round(lognormal(90, 0.7))),
      responseBytes,
      status,
      isError: status !== 'ok',
      errorCode: status === 'rpc_error' ? -32603 : null,
      errorMessage: status === 'rpc_error' ? 'Internal error' : status === 'tool_error' ? 'tool reported an error' : null,
      argumentKeys: t.keys,
      argumentsHash: randomBytes(32).toString('hex'),
    };
    values[i] = JSON.stringify(event);
    keys[i] = event.session;
  }
  return { values, keys };
}

// ---------------------------------------------------------------------------
// Consumers
// ---------------------------------------------------------------------------

/** The analyzer consumer's fetch limits (MAX_BYTES_PER_PARTITION, MAX_BYTES_PER_FETCH in bus/src/kafka/source.ts; keep in step). */
const FETCH_LIMITS = { maxBytesPerPartition: 4 * 1024 * 1024, maxBytes: 8 * 1024 * 1024 };

const kafkaFor = (brokers, clientId) => new Kafka({ clientId, brokers: [brokers], logLevel: logLevel.NOTHING, retry: { retries: 8, initialRetryTime: 300 } });

/**
 * A bare consumer group with the analyzer's consumer and run() settings,
 * whose eachBatch only counts (or, with `parse`, also decodes and validates).
 */
async function bareConsumer({ brokers, topic, n, parse, timeoutS }) {
  const kafka = kafkaFor(brokers, 'tapwatch-bench-bare');
  const groupId = `bench-bare-${parse ? 'parse-' : ''}${randomUUID()}`;
  // Same consumer options, run() options and per-batch commit as KafkaEventSource
  // in bus/src/kafka/source.ts (keep in step with it).
  const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false, sessionTimeout: 30_000, maxWaitTimeInMs: 500, ...FETCH_LIMITS });
  let joinedAt;
  consumer.on(consumer.events.GROUP_JOIN, () => (joinedAt ??= performance.now()));
  let count = 0;
  let batches = 0;
  let invalid = 0;
  let doneAt;
  let resolveDone;
  const done = new Promise((r) => (resolveDone = r));
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  await consumer.connect();
  onCleanup(() => consumer.disconnect().catch(() => undefined));
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, isRunning, isStale }) => {
      if (!isRunning() || isStale() || batch.messages.length === 0) return;
      if (parse) {
        for (const m of batch.messages) {
          const value = m.value ? m.value.toString('utf8') : '';
          if (m.key) m.key.toString('utf8');
          if (!TapEventSchema.safeParse(JSON.parse(value)).success) invalid++;
        }
      }
      count += batch.messages.length;
      batches++;
      const last = batch.messages[batch.messages.length - 1];
      if (last) {
        resolveOffset(last.offset);
        await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last.offset) + 1n).toString() }]);
      }
      if (count >= n && doneAt === undefined) {
        doneAt = performance.now();
        resolveDone();
      }
    },
  });
  const timer = setTimeout(() => resolveDone(), timeoutS * 1000);
  await done;
  clearTimeout(timer);
  const cpu = process.cpuUsage(cpu0);
  await consumer.disconnect();
  if (doneAt === undefined) throw new Error(`bare consumer read only ${count}/${n} within ${timeoutS} s`);
  const seconds = (doneAt - joinedAt) / 1000;
  return {
    name: parse ? 'bare kafkajs + decode/JSON.parse/validate' : 'bare kafkajs consumer (count only)',
    groupId,
    events: count,
    invalid,
    batches,
    seconds,
    joinSeconds: (joinedAt - started) / 1000,
    eventsPerSecond: n / seconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
  };
}

/** The real analyzer as its own process; done when /healthz says all N are stored. */
async function analyzerRun({ admin, brokers, topic, n, batchSize, cpuProf, profDir, timeoutS }) {
  const groupId = `bench-analyzer-${randomUUID()}`;
  const env = {
    KAFKA_BROKERS: brokers,
    TAPWATCH_EVENTS_TOPIC: topic,
    TAPWATCH_ALERTS_TOPIC: `${topic}-alerts`,
    TAPWATCH_CONSUMER_GROUP: groupId,
    TAPWATCH_LOG_LEVEL: 'warn',
    ...(batchSize === 'default' ? {} : { TAPWATCH_BATCH_SIZE: batchSize }),
  };
  const nodeArgs = cpuProf ? ['--cpu-prof', '--cpu-prof-dir', profDir, '--cpu-prof-name', `analyzer-${groupId}.cpuprofile`] : [];
  const spawnedAt = performance.now();
  const svc = await startTapwatch('analyzer', { env, nodeArgs }); // its data dir is removed at the end, after the row count
  // `listening on` is printed after the consumer group joined (consumer.run
  // resolves after join + sync); the store was migrated before that.
  const t0 = svc.listeningAt();
  const cpu0 = cpuSeconds(svc.pid);
  let peakRssKiB = 0;
  let stats;
  let doneAt;
  let firstStoredAt;
  const deadline = Date.now() + timeoutS * 1000;
  for (;;) {
    const mem = memory(svc.pid);
    if (mem) peakRssKiB = Math.max(peakRssKiB, mem.rssKiB);
    try {
      stats = (await healthz(svc.url)).analyzer;
    } catch {
      // busy; next poll
    }
    const now = performance.now();
    if (stats?.eventsStored > 0) firstStoredAt ??= now;
    if (stats?.eventsStored >= n) {
      doneAt = now;
      break;
    }
    if (Date.now() > deadline) throw new Error(`analyzer stored only ${stats?.eventsStored}/${n} within ${timeoutS} s:\n${svc.output().slice(-3000)}`);
    await sleep(50);
  }
  const cpu = cpuSeconds(svc.pid) - cpu0;
  const mem = memory(svc.pid);
  // The last batch's offsets are committed after its detectors ran; stopping
  // before that would leave it uncommitted (it would be replayed on restart).
  let committedAt;
  try {
    await waitFor('the analyzer to commit every offset', async () => (await committedOffsets(admin, groupId, topic)).committed >= n, 30_000, 50);
    committedAt = performance.now();
  } catch (err) {
    process.stderr.write(`WARNING: ${err.message}\n`);
  }
  await svc.stop();
  const seconds = (doneAt - t0) / 1000;
  return {
    name: `tapwatch analyzer${batchSize === 'default' ? '' : ` (TAPWATCH_BATCH_SIZE=${batchSize})`}`,
    groupId,
    events: stats.eventsStored,
    stats,
    seconds,
    startSeconds: (t0 - spawnedAt) / 1000,
    firstStoredSeconds: (firstStoredAt - t0) / 1000,
    storedToCommittedSeconds: committedAt === undefined ? undefined : (committedAt - doneAt) / 1000,
    eventsPerSecond: n / seconds,
    cpuSeconds: cpu,
    peakRssMiB: Math.max(peakRssKiB, mem?.hwmKiB ?? 0) / 1024,
    threads: mem?.threads,
    dataDir: svc.dataDir,
    output: svc.output(),
  };
}

/** Counts the rows the analyzer stored, through `tapwatch api` on its (now free) data dir. */
async function storedRows(dataDir) {
  const api = await startTapwatch('api', { dataDir, env: { TAPWATCH_LOG_LEVEL: 'error' } });
  try {
    const rows = await sqlRows(api.url, 'SELECT count() AS n, uniqExact(session) AS sessions, uniqExact(server, tool) AS tools FROM tool_calls');
    const alerts = await sqlRows(api.url, 'SELECT count() AS n FROM alerts');
    return { rows: Number(rows[0].n), sessions: Number(rows[0].sessions), tools: Number(rows[0].tools), alerts: Number(alerts[0].n) };
  } finally {
    await api.stop();
  }
}

async function committedOffsets(admin, groupId, topic) {
  const [t] = await admin.fetchOffsets({ groupId, topics: [topic] });
  let committed = 0;
  let partitionsCommitted = 0;
  for (const p of t?.partitions ?? []) {
    if (Number(p.offset) >= 0) {
      committed += Number(p.offset);
      partitionsCommitted++;
    }
  }
  return { committed, partitionsCommitted };
}

// ---------------------------------------------------------------------------

const T0 = performance.now();
const phase = (what) => process.stderr.write(`[${((performance.now() - T0) / 1000).toFixed(1)} s] ${what}\n`);

async function main() {
  const opts = parseFlags(process.argv.slice(2), DEFAULTS);
  if (opts.help) {
    process.stdout.write(HELP);
    return;
  }
  if (typeof opts.parseBaseline === 'string') opts.parseBaseline = opts.parseBaseline !== 'false';
  const m = machine();
  const code = codeVersion();
  const n = opts.events;

  phase('starting Kafka');
  let brokers = opts.brokers;
  let broker;
  if (!brokers) {
    broker = await startKafka();
    onCleanup(() => broker.stop());
    brokers = broker.brokers;
  }
  const kafkaVersion = broker?.version ?? 'external';
  console.log(`# analyzer-throughput — ${machineLine(m)} · Kafka ${kafkaVersion}`);
  console.log(codeLine(code));
  console.log(`${n} tool_call events, ${opts.sessions} sessions, 6 partitions\n`);

  const kafka = kafkaFor(brokers, 'tapwatch-bench');
  const admin = kafka.admin();
  await admin.connect();
  onCleanup(() => admin.disconnect());
  const topic = `bench-events-${Date.now()}-${randomBytes(3).toString('hex')}`;
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 6, replicationFactor: 1 }] });

  phase(`generating ${n} events`);
  const { values, keys } = generateEvents(n, opts.sessions);
  // Every event satisfies the schema the analyzer validates with.
  for (const v of values) TapEventSchema.parse(JSON.parse(v));
  const meanBytes = values.reduce((s, v) => s + v.length, 0) / n;

  phase('producing');
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  onCleanup(() => producer.disconnect());
  const p0 = performance.now();
  for (let i = 0; i < n; i += opts.produceBatch) {
    const messages = [];
    for (let j = i; j < Math.min(n, i + opts.produceBatch); j++) messages.push({ key: keys[j], value: values[j] });
    await producer.send({ topic, acks: -1, messages });
  }
  const produceSeconds = (performance.now() - p0) / 1000;
  await producer.disconnect();
  const offsets = await admin.fetchTopicOffsets(topic);
  const inTopic = offsets.reduce((s, p) => s + Number(p.high) - Number(p.low), 0);
  if (inTopic !== n) throw new Error(`topic holds ${inTopic} messages, expected ${n}`);
  const perPartition = offsets.map((p) => Number(p.high)).sort((a, b) => a - b);
  console.log(
    `produced ${n} events (mean ${fmt(meanBytes)} B, ${fmt((meanBytes * n) / 2 ** 20)} MiB) in ${fmt(produceSeconds)} s = ${fmt(n / produceSeconds)} events/s; per partition ${perPartition.join(', ')}`,
  );

  let profDir = opts.profDir;
  if (opts.cpuProf) {
    profDir ||= tempDir('prof');
    mkdirSync(profDir, { recursive: true });
  }

  const brokerCpu = () => (broker ? cpuSeconds(broker.pid) : undefined);
  const runs = [];
  const measure = async (label, fn) => {
    phase(label);
    const b0 = brokerCpu();
    const r = await fn();
    const b1 = brokerCpu();
    r.brokerCpuSeconds = b0 !== undefined && b1 !== undefined ? b1 - b0 : undefined;
    runs.push(r);
    return r;
  };

  await measure('bare consumer', () => bareConsumer({ brokers, topic, n, parse: false, timeoutS: opts.timeoutS }));
  if (opts.parseBaseline) await measure('bare consumer + parse', () => bareConsumer({ brokers, topic, n, parse: true, timeoutS: opts.timeoutS }));
  for (const bs of String(opts.batchSizes)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const r = await measure(`analyzer (batch size ${bs})`, () =>
      analyzerRun({ admin, brokers, topic, n, batchSize: bs, cpuProf: opts.cpuProf, profDir, timeoutS: opts.timeoutS }),
    );
    phase('counting stored rows');
    r.stored = await storedRows(r.dataDir).catch((err) => ({ error: err.message }));
  }
  await measure('bare consumer again', () => bareConsumer({ brokers, topic, n, parse: false, timeoutS: opts.timeoutS }));

  for (const r of runs) Object.assign(r, await committedOffsets(admin, r.groupId, topic));

  // Report.
  const bare = runs.filter((r) => r.name.startsWith('bare kafkajs consumer'));
  const bareRate = summarize(bare.map((r) => r.eventsPerSecond)).mean;
  console.log('\nThroughput (time from group join to the last event consumed / stored)\n');
  console.log(
    table(
      ['consumer', 'events', 'seconds', 'events/s', 'vs bare', 'consumer CPU s', 'broker CPU s', 'peak RSS MiB', 'batches', 'committed offsets'],
      runs.map((r) => [
        r.name,
        r.events,
        fmt(r.seconds),
        fmt(r.eventsPerSecond),
        fmt(r.eventsPerSecond / bareRate),
        fmt(r.cpuSeconds),
        r.brokerCpuSeconds === undefined ? 'n/a' : fmt(r.brokerCpuSeconds),
        r.peakRssMiB ? fmt(r.peakRssMiB) : '—',
        r.stats?.batches ?? r.batches,
        `${r.committed} (${r.partitionsCommitted}/6 partitions)`,
      ]),
    ),
  );
  console.log(`\n'vs bare' is relative to the mean of the ${bare.length} count-only bare runs (${fmt(bareRate)} events/s).`);
  for (const r of runs.filter((x) => x.stats)) {
    console.log(
      `${r.name}: spawn→listening ${fmt(r.startSeconds)} s, listening→first stored ${fmt(r.firstStoredSeconds)} s, ` +
        `all stored→all committed ${fmt(r.storedToCommittedSeconds)} s, ` +
        `${r.stats.batches} batches (${fmt(r.stats.eventsIn / r.stats.batches)} events/batch), ${r.stats.alerts} alerts, ${r.stats.invalidRecords} invalid, ` +
        `${r.stats.storeRetries} store retries, ${r.threads} threads at the end; CPU ${fmt(r.cpuSeconds / r.seconds)} cores on average; ` +
        `rows in tool_calls afterwards: ${r.stored?.rows ?? r.stored?.error} (${r.stored?.sessions} sessions, ${r.stored?.tools} tools, ${r.stored?.alerts} alerts)`,
    );
  }

  if (opts.cpuProf) {
    const files = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile'));
    for (const f of files) {
      console.log(`\nCPU profile of the analyzer (${path.join(profDir, f)}):\n`);
      console.log(summarizeProfile(path.join(profDir, f)));
    }
    if (!opts.profDir) onCleanup(async () => (await import('node:fs')).rmSync(profDir, { recursive: true, force: true }));
  }

  code.unchangedDuringRun = checkCodeUnchanged(code);
  if (opts.json) {
    writeFileSync(
      opts.json,
      JSON.stringify(
        { machine: m, code, kafkaVersion, options: opts, topic, produced: { n, meanBytes, produceSeconds }, runs: runs.map(({ output: _output, ...r }) => r) },
        null,
        2,
      ),
    );
    console.log(`wrote ${opts.json}`);
  }
  for (const r of runs) if (r.dataDir) onCleanup(async () => (await import('node:fs')).rmSync(r.dataDir, { recursive: true, force: true }));
}

await runMain(main);
