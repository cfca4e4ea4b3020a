#!/usr/bin/env node
// Round-trip time of MCP `tools/call echo` on the real
// @modelcontextprotocol/server-everything, direct vs through `tapwatch tap`
// (with a real `tapwatch up` as the http sink), plus process startup time.
// A measurement, not a test: see benchmarks/README.md.
//
//   npm run build && node benchmarks/tap-rtt.mjs [--calls 3000] [--warmup 200]
//        [--block 100] [--big-bytes 10240] [--startups 10] [--load-rate 1000]
//        [--load-seconds 10] [--json FILE]

import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import {
  callEcho,
  EVERYTHING,
  TAPWATCH_BIN,
  cpuSeconds,
  fmt,
  machine,
  machineLine,
  codeVersion,
  codeLine,
  checkCodeUnchanged,
  median,
  onCleanup,
  parseFlags,
  runMain,
  healthz,
  sqlRows,
  startNullSink,
  startTapwatch,
  summarize,
  table,
  waitFor,
} from './lib.mjs';
import { summarizeProfile } from './profile-summary.mjs';

const DEFAULTS = {
  calls: 3000,
  warmup: 200,
  block: 100,
  bigBytes: 10240,
  startups: 10,
  nullSink: true,
  loadRate: 1000,
  loadSeconds: 10,
  cpuProf: '',
  json: '',
};

const HELP = `Usage: node benchmarks/tap-rtt.mjs [options]

  --calls N       measured calls per path and series (default ${DEFAULTS.calls})
  --warmup N      unmeasured calls per path and series first (default ${DEFAULTS.warmup})
  --block N       calls per block; direct and tapped blocks alternate (default ${DEFAULTS.block})
  --big-bytes N   message size of the large series (default ${DEFAULTS.bigBytes})
  --startups N    spawn→initialize measurements per path (default ${DEFAULTS.startups})
  --null-sink     also measure a third path: tapped into a sink that discards events
                  (the relay's own cost; default on, --null-sink=false to skip)
  --load-rate N   open-loop load: calls/s sent to a fresh tap (real sink) without waiting
                  for answers, 15 B echoes; its peak RSS is the memory aim (default ${DEFAULTS.loadRate})
  --load-seconds N  length of the load (default ${DEFAULTS.loadSeconds}; 0 skips it)
  --cpu-prof DIR  run the RTT taps under node --cpu-prof, keep the profiles in DIR and
                  print a summary of where the tap spends its CPU
  --json FILE     also write the raw summary as JSON
`;

/** One MCP client on its own stdio transport; `pid` is the process it spawned. */
async function connect(label, command, args, nodeArgs = [], env = {}) {
  const transport = new StdioClientTransport({
    command,
    args: [...nodeArgs, ...args],
    env: { ...process.env, TAPWATCH_LOG_LEVEL: 'warn', ...env },
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (d) => {
    stderr += d.toString();
    if (stderr.length > 64_000) stderr = stderr.slice(-32_000);
  });
  const client = new Client({ name: `tapwatch-bench-${label}`, version: '1.0.0' });
  const t0 = performance.now();
  await client.connect(transport);
  const connectMs = performance.now() - t0;
  let closed;
  const close = () => {
    closed ??= client.close().catch(() => undefined);
    return closed;
  };
  return { label, client, transport, pid: transport.pid, connectMs, stderr: () => stderr, close };
}

/** Peak and current resident memory of a process (MiB), from /proc. */
function memoryOf(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rssMiB: kb('VmRSS') / 1024, peakRssMiB: kb('VmHWM') / 1024 };
  } catch {
    return { rssMiB: NaN, peakRssMiB: NaN };
  }
}

const directArgs = () => [EVERYTHING, 'stdio'];
const tappedArgs = (sink, session, name = 'everything') => [
  TAPWATCH_BIN,
  'tap',
  '--sink',
  sink,
  '--session',
  session,
  '--name',
  name,
  '--',
  process.execPath,
  EVERYTHING,
  'stdio',
];

/** Alternating blocks of `block` calls; the order within a round flips every round. */
async function series(paths, message, { calls, warmup, block }) {
  const samples = new Map(paths.map((p) => [p.label, []]));
  for (let done = 0; done < warmup; done += block) {
    for (const p of paths) for (let i = 0; i < Math.min(block, warmup - done); i++) await callEcho(p.client, message);
  }
  const cpu0 = new Map(paths.map((p) => [p.label, cpuSeconds(p.pid)]));
  const t0 = performance.now();
  for (let done = 0, round = 0; done < calls; done += block, round++) {
    const order = round % 2 === 0 ? paths : [...paths].reverse();
    const n = Math.min(block, calls - done);
    for (const p of order) {
      const out = samples.get(p.label);
      for (let i = 0; i < n; i++) out.push(await callEcho(p.client, message));
    }
  }
  const result = {};
  const seconds = (performance.now() - t0) / 1000;
  for (const p of paths) {
    const cpu1 = cpuSeconds(p.pid);
    result[p.label] = {
      ...summarize(samples.get(p.label)),
      ...memoryOf(p.pid),
      callsPerSecond: (samples.get(p.label).length / samples.get(p.label).reduce((a, b) => a + b, 0)) * 1000,
      seriesSeconds: seconds,
      // CPU of the spawned process (the tap, or the server itself when direct) per measured call.
      spawnedCpuUsPerCall: cpu0.get(p.label) !== undefined && cpu1 !== undefined ? ((cpu1 - cpu0.get(p.label)) * 1e6) / calls : undefined,
    };
  }
  return result;
}

/**
 * Open-loop load on one client: `rate` calls/s for `seconds`, sent on a 10 ms
 * tick whatever the answers; RSS of the spawned process sampled every tick.
 */
async function load(p, message, rate, seconds) {
  const latencies = [];
  let sent = 0;
  let maxRssMiB = 0;
  const inflight = new Set();
  const cpu0 = cpuSeconds(p.pid);
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    const due = Math.floor(((performance.now() - t0) / 1000) * rate);
    for (; sent < due; sent++) {
      const c = callEcho(p.client, message).then((ms) => {
        latencies.push(ms);
        inflight.delete(c);
      });
      inflight.add(c);
    }
    maxRssMiB = Math.max(maxRssMiB, memoryOf(p.pid).rssMiB);
    await new Promise((r) => setTimeout(r, 10));
  }
  await Promise.all(inflight);
  const elapsed = (performance.now() - t0) / 1000;
  return {
    ...summarize(latencies),
    callsPerSecond: latencies.length / elapsed,
    sampledMaxRssMiB: maxRssMiB,
    ...memoryOf(p.pid),
    cpuUsPerCall: ((cpuSeconds(p.pid) - cpu0) * 1e6) / latencies.length,
  };
}

const T0 = performance.now();
const phase = (what) => process.stderr.write(`[${((performance.now() - T0) / 1000).toFixed(1)} s] ${what}\n`);

async function main() {
  const opts = parseFlags(process.argv.slice(2), DEFAULTS);
  if (opts.help) {
    process.stdout.write(HELP);
    return;
  }
  const m = machine();
  const code = codeVersion();
  console.log(`# tap-rtt — ${machineLine(m)}`);
  console.log(codeLine(code));
  console.log(
    `calls ${opts.calls}/path/series after ${opts.warmup} warm-up, blocks of ${opts.block}, big message ${opts.bigBytes} B, ${opts.startups} startups/path\n`,
  );

  // The sink: a real `tapwatch up` (in-process bus + embedded ClickHouse).
  phase('starting tapwatch up');
  const up = await startTapwatch('up');
  phase('measuring startups');
  console.log(`tapwatch up at ${up.url} (pid ${up.pid})`);

  // 1. Startup: spawn → initialize response (client.connect resolves on it), alternating.
  const startup = { direct: [], tapped: [] };
  const shutdown = { direct: [], tapped: [] };
  for (let i = 0; i < opts.startups; i++) {
    const order = i % 2 === 0 ? ['direct', 'tapped'] : ['tapped', 'direct'];
    for (const which of order) {
      const c =
        which === 'direct'
          ? await connect('direct', process.execPath, directArgs())
          : await connect('tapped', process.execPath, tappedArgs(up.url, `bench-startup-${i}`));
      startup[which].push(c.connectMs);
      const t0 = performance.now();
      await c.close();
      shutdown[which].push(performance.now() - t0);
    }
  }

  // 2. RTT: per series, one long-lived client per path, measured in the same run.
  //    Each series has its own tapped server name: the result-size detector
  //    baselines per (server, tool), and the 10 KB echoes would otherwise all be
  //    flagged against the short ones' baseline (an alert per call).
  if (opts.cpuProf) mkdirSync(opts.cpuProf, { recursive: true });
  if (typeof opts.nullSink === 'string') opts.nullSink = opts.nullSink !== 'false';
  const nullSink = opts.nullSink ? await startNullSink() : undefined;
  const upCpu0 = cpuSeconds(up.pid);
  const small = 'hello, tapwatch';
  const big = Array.from({ length: opts.bigBytes }, (_, i) => 'abcdefghijklmnopqrstuvwxyz0123456789 '[(i * 7919) % 37]).join('');
  const results = {};
  const sessions = [];
  for (const [i, [name, message]] of [
    [`echo ${small.length} B`, small],
    [`echo ${big.length} B`, big],
  ].entries()) {
    phase(`connecting the clients of ${name}`);
    const session = `bench-rtt-${Date.now()}-${i}`;
    sessions.push(session);
    const direct = await connect('direct', process.execPath, directArgs());
    onCleanup(() => direct.close());
    const prof = opts.cpuProf ? ['--cpu-prof', '--cpu-prof-dir', opts.cpuProf, '--cpu-prof-name', `tap-${i}.cpuprofile`] : [];
    const tapped = await connect('tapped', process.execPath, tappedArgs(up.url, session, `everything-${i}`), prof);
    onCleanup(() => tapped.close());
    const inline = await connect('tapped, inline observer', process.execPath, tappedArgs(up.url, `${session}-inline`, `everything-inline-${i}`), [], {
      TAPWATCH_TAP_OBSERVER: 'inline',
    });
    onCleanup(() => inline.close());
    const paths = [direct, tapped, inline];
    if (nullSink) {
      const nulled = await connect('tapped, null sink', process.execPath, tappedArgs(nullSink.url, `${session}-null`, `everything-null-${i}`));
      onCleanup(() => nulled.close());
      paths.push(nulled);
    }
    phase(`measuring ${name}`);
    results[name] = await series(paths, message, opts);
    for (const p of paths) await p.close();
  }
  const upCpu = cpuSeconds(up.pid) - upCpu0;

  // The sink did real work: every tapped call is a row in tool_calls.
  phase('checking the sink');
  const expected = 2 * (opts.calls + opts.warmup);
  let stored = 0;
  await waitFor(
    `${expected} tool_calls rows of the RTT sessions`,
    async () => {
      const rows = await sqlRows(up.url, `SELECT count() AS n FROM tool_calls WHERE session IN (${sessions.map((x) => `'${x}'`).join(', ')})`);
      stored = Number(rows[0]?.n ?? 0);
      return stored >= expected;
    },
    60_000,
    250,
  ).catch((err) => console.log(`WARNING: ${err.message}`));

  // 3. Memory under load (once the sink has stored the series above, so it is idle again): a fresh tap (its VmHWM is the load's alone) and a direct server for comparison.
  //    Into the null sink first: on a small machine, `tapwatch up` storing 1,000 events/s takes most of
  //    the CPU and the figures would be the machine's saturation, not the tap's.
  let loaded;
  if (opts.loadSeconds > 0) {
    const session = `bench-load-${Date.now()}`;
    loaded = {};
    const loadPaths = [
      ...(nullSink ? [['tapped, null sink', tappedArgs(nullSink.url, `${session}-null`, 'everything-load-null')]] : []),
      ['tapped', tappedArgs(up.url, session, 'everything-load')],
      ['direct', directArgs()],
    ];
    for (const [label, args] of loadPaths) {
      const c = await connect(label, process.execPath, args);
      onCleanup(() => c.close());
      loaded[label] = { idleRssMiB: memoryOf(c.pid).rssMiB };
      phase(`${label}: ${opts.loadRate} calls/s for ${opts.loadSeconds} s after 1 s of warm-up`);
      await load(c, small, opts.loadRate, 1);
      Object.assign(loaded[label], await load(c, small, opts.loadRate, opts.loadSeconds));
      await c.close();
    }
  }
  const upStats = await healthz(up.url).catch(() => undefined);

  // Report.
  const rows = [];
  const added = [];
  const ratios = [];
  const nullRows = [];
  for (const [name, r] of Object.entries(results)) {
    for (const label of Object.keys(r)) {
      const s = r[label];
      rows.push([
        name,
        label,
        s.n,
        fmt(s.p50),
        fmt(s.p90),
        fmt(s.p99),
        fmt(s.mean),
        fmt(s.max),
        s.spawnedCpuUsPerCall === undefined ? 'n/a' : fmt(s.spawnedCpuUsPerCall),
        fmt(s.callsPerSecond),
        fmt(s.peakRssMiB),
      ]);
    }
    for (const label of Object.keys(r).filter((l) => l !== 'direct')) {
      const t = r[label];
      added.push([name, label, fmt((t.p50 - r.direct.p50) * 1000), fmt((t.p99 - r.direct.p99) * 1000), fmt(t.peakRssMiB)]);
    }
    ratios.push([
      name,
      fmt(r.tapped.p50 / r.direct.p50),
      fmt(r.tapped.p99 / r.direct.p99),
      fmt(r.tapped.mean / r.direct.mean),
      fmt((r.tapped.p50 - r.direct.p50) * 1000),
    ]);
    const z = r['tapped, null sink'];
    if (z)
      nullRows.push([
        name,
        fmt(z.p50 / r.direct.p50),
        fmt(z.p90 / r.direct.p90),
        fmt(z.p99 / r.direct.p99),
        fmt(z.mean / r.direct.mean),
        fmt((z.p50 - r.direct.p50) * 1000),
      ]);
  }
  console.log(
    '\nRound-trip time of tools/call echo (ms; CPU = µs of CPU per measured call in the spawned process: the server when direct, the tap when tapped)\n',
  );
  console.log(table(['series', 'path', 'n', 'p50', 'p90', 'p99', 'mean', 'max', 'CPU µs/call', 'calls/s', 'peak RSS MiB'], rows));
  console.log("\nAdded to a call by each tapped path vs direct, same run (µs), and the tap process's peak RSS (direct: the server's)\n");
  console.log(table(['series', 'path', 'added p50 µs', 'added p99 µs', 'peak RSS MiB'], added));
  console.log('\nTapped / direct\n');
  console.log(table(['series', 'p50 ratio', 'p99 ratio', 'mean ratio', 'added p50 (µs)'], ratios));
  if (nullRows.length) {
    console.log(`\nTapped into a null sink (events discarded, ${await nullSink.received()} received) / direct: the relay's own cost\n`);
    console.log(table(['series', 'p50 ratio', 'p90 ratio', 'p99 ratio', 'mean ratio', 'added p50 (µs)'], nullRows));
  }
  if (loaded) {
    console.log(
      `\nOpen-loop load: ${opts.loadRate} calls/s of echo ${small.length} B for ${opts.loadSeconds} s on a fresh process (ms; RSS MiB; CPU µs per call)\n`,
    );
    console.log(
      table(
        ['path', 'calls', 'calls/s', 'p50', 'p99', 'max', 'idle RSS', 'max sampled RSS', 'peak RSS (VmHWM)', 'CPU µs/call'],
        Object.entries(loaded).map(([k, l]) => [
          k,
          l.n,
          fmt(l.callsPerSecond),
          fmt(l.p50),
          fmt(l.p99),
          fmt(l.max),
          fmt(l.idleRssMiB),
          fmt(l.sampledMaxRssMiB),
          fmt(l.peakRssMiB),
          fmt(l.cpuUsPerCall),
        ]),
      ),
    );
  }
  const st = { direct: summarize(startup.direct), tapped: summarize(startup.tapped) };
  console.log('\nStartup: spawn → initialize response (ms)\n');
  console.log(
    table(
      ['path', 'n', 'min', 'median', 'p90', 'max', 'mean'],
      ['direct', 'tapped'].map((k) => [k, st[k].n, fmt(st[k].min), fmt(st[k].p50), fmt(st[k].p90), fmt(st[k].max), fmt(st[k].mean)]),
    ),
  );
  console.log(
    `\nstartup median ratio tapped/direct: ${fmt(median(startup.tapped) / median(startup.direct))} (+${fmt(median(startup.tapped) - median(startup.direct))} ms)`,
  );
  console.log(`client.close() → process gone: direct median ${fmt(median(shutdown.direct))} ms, tapped median ${fmt(median(shutdown.tapped))} ms`);
  const tappedCalls = expected;
  console.log(
    `sink: ${stored}/${expected} tapped calls stored in tool_calls; tapwatch up used ${fmt(upCpu)} s CPU ≈ ${fmt((upCpu * 1e6) / tappedCalls)} µs/call`,
  );

  const a = upStats?.analyzer;
  if (a)
    console.log(
      `tapwatch up analyzer (whole run, incl. startups): ${a.eventsStored} events stored in ${a.batches} batches (${fmt(a.eventsStored / a.batches)} events/insert), ${a.alerts} alerts`,
    );

  if (opts.cpuProf) {
    for (const f of readdirSync(opts.cpuProf)
      .filter((x) => /^tap-\d+\.cpuprofile$/.test(x))
      .sort()) {
      console.log(`\nCPU profile of the tap (real sink) of series ${f.match(/\d+/)[0]}: ${path.join(opts.cpuProf, f)}\n`);
      console.log(summarizeProfile(path.join(opts.cpuProf, f), { top: 15 }));
    }
  }
  code.unchangedDuringRun = checkCodeUnchanged(code);
  if (opts.json) {
    writeFileSync(
      opts.json,
      JSON.stringify(
        {
          machine: m,
          code,
          options: opts,
          results,
          load: loaded,
          startup: { ...st, raw: startup, shutdown },
          sink: { stored, expected, upCpuSeconds: upCpu, upStats },
        },
        null,
        2,
      ),
    );
    console.log(`wrote ${opts.json}`);
  }
}

await runMain(main);
