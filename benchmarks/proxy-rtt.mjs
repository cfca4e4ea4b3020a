#!/usr/bin/env node
// Round-trip time of MCP `tools/call echo` on the real
// @modelcontextprotocol/server-everything over Streamable HTTP, direct vs
// through `tapwatch proxy` (with a real `tapwatch up` as the http sink), and
// the proxy's memory and CPU under a fixed call rate (~1,000 calls/s).
// A measurement, not a test: see benchmarks/README.md.
//
//   npm run build && node benchmarks/proxy-rtt.mjs [--calls 2000] [--warmup 200]
//        [--block 100] [--big-bytes 10240] [--rate 1000] [--load-s 15]
//        [--concurrency 32] [--observers worker] [--bare] [--null-sink] [--json FILE]
//
// `--observers inline,worker` runs one proxy per observer mode side by side:
// their blocks alternate with the direct ones in the same run, so the
// before/after comparison shares its baseline and its machine load. `--bare`
// adds a plain Node.js relay (http.request piped both ways, no observation,
// no sink): the floor any Node.js proxy hop costs on the machine.
// `--null-sink` sends the proxies' events to a sink that counts and discards
// them instead of `tapwatch up`, whose ingest and analysis would otherwise
// share the machine's cores with the proxied path only.

import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  callEcho,
  EVERYTHING,
  TAPWATCH_BIN,
  checkCodeUnchanged,
  codeLine,
  codeVersion,
  cpuSeconds,
  fmt,
  freePort,
  machine,
  machineLine,
  memory,
  onCleanup,
  parseFlags,
  runMain,
  sleep,
  sqlRows,
  startNullSink,
  startTapwatch,
  summarize,
  table,
  trackChild,
  waitFor,
} from './lib.mjs';

const DEFAULTS = {
  calls: 2000,
  warmup: 200,
  block: 100,
  bigBytes: 10240,
  rate: 1000,
  loadS: 15,
  concurrency: 32,
  observers: 'worker',
  bare: false,
  nullSink: false,
  json: '',
};

const HELP = `Usage: node benchmarks/proxy-rtt.mjs [options]

  --calls N        measured calls per path and series (default ${DEFAULTS.calls})
  --warmup N       unmeasured calls per path and series first (default ${DEFAULTS.warmup})
  --block N        calls per block; direct and proxied blocks alternate (default ${DEFAULTS.block})
  --big-bytes N    message size of the large series (default ${DEFAULTS.bigBytes})
  --rate N         target calls/s of the load phase, per path (default ${DEFAULTS.rate})
  --load-s N       seconds of load per path (default ${DEFAULTS.loadS})
  --concurrency N  clients (MCP sessions) sharing the load (default ${DEFAULTS.concurrency})
  --observers LIST proxies to run, one per observer mode (worker, inline), side by
                   side in the same run (default ${DEFAULTS.observers})
  --bare           also measure a plain Node.js relay (no observation, no sink)
  --null-sink      events go to a null sink (counted, discarded), not tapwatch up
  --json FILE      also write the raw summary as JSON
`;

/** A plain relay to 127.0.0.1:argv[1]: what any Node.js proxy hop costs, without observation or sink. */
const BARE_RELAY = `
const http = require('node:http');
const port = Number(process.argv[1]);
const agent = new http.Agent({ keepAlive: true });
const hop = new Set(['connection', 'keep-alive', 'transfer-encoding', 'host']);
const server = http.createServer((req, res) => {
  const headers = {};
  for (const [k, v] of Object.entries(req.headers)) if (!hop.has(k)) headers[k] = v;
  headers.host = '127.0.0.1:' + port;
  const up = http.request({ host: '127.0.0.1', port, path: req.url, method: req.method, headers, agent }, (r) => {
    const out = {};
    for (const [k, v] of Object.entries(r.headers)) if (!hop.has(k)) out[k] = v;
    res.writeHead(r.statusCode, out);
    r.pipe(res);
  });
  up.on('error', () => res.destroy());
  req.pipe(up);
});
server.listen(0, '127.0.0.1', () => console.log('bare relay on ' + server.address().port));
`;

/** Spawns a process that prints a line matching `pattern` once ready; registers its shutdown. */
async function startProcess(label, args, env, pattern) {
  const proc = trackChild(spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  const exited = new Promise((r) => proc.once('exit', r));
  const collect = (d) => {
    out += d.toString();
    if (out.length > 200_000) out = out.slice(-100_000);
  };
  proc.stdout.on('data', collect);
  proc.stderr.on('data', collect);
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(t);
    }
  };
  onCleanup(stop);
  const match = await waitFor(
    `${label} to start`,
    () => {
      if (proc.exitCode !== null) throw new Error(`${label} exited:\n${out.slice(-4000)}`);
      return pattern.exec(out);
    },
    60_000,
    50,
  );
  return { pid: proc.pid, proc, match, output: () => out, stop };
}

async function connect(label, url) {
  const client = new Client({ name: `tapwatch-bench-${label}`, version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(url));
  await client.connect(transport);
  let closed;
  const close = () => {
    closed ??= (async () => {
      await transport.terminateSession().catch(() => undefined);
      await client.close().catch(() => undefined);
    })();
    return closed;
  };
  onCleanup(close);
  return { label, client, close };
}

/** Alternating blocks of `block` calls; the order within a round flips every round. */
async function series(paths, message, { calls, warmup, block }) {
  const samples = new Map(paths.map((p) => [p.label, []]));
  for (let done = 0; done < warmup; done += block) {
    for (const p of paths) for (let i = 0; i < Math.min(block, warmup - done); i++) await callEcho(p.client, message);
  }
  for (let done = 0, round = 0; done < calls; done += block, round++) {
    const order = round % 2 === 0 ? paths : [...paths].reverse();
    const n = Math.min(block, calls - done);
    for (const p of order) {
      const out = samples.get(p.label);
      for (let i = 0; i < n; i++) out.push(await callEcho(p.client, message));
    }
  }
  return Object.fromEntries(paths.map((p) => [p.label, summarize(samples.get(p.label))]));
}

/**
 * Open-loop load: calls start on a fixed schedule (`rate`/s) spread over the
 * clients, whatever the answers do; a call is skipped (counted) when its client
 * still waits for the previous one. Samples the RSS and CPU of `watchPid`.
 */
async function load(clients, { rate, seconds, watchPid }) {
  const interval = 1000 / rate;
  const busy = new Array(clients.length).fill(false);
  const latencies = [];
  let started = 0;
  let skipped = 0;
  let errors = 0;
  const rss = [];
  const cpu0 = cpuSeconds(watchPid);
  const mem0 = memory(watchPid);
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  const sampler = setInterval(() => {
    const m = memory(watchPid);
    if (m) rss.push(m.rssKiB);
  }, 250);
  const inflight = new Set();
  let next = t0;
  let k = 0;
  while (performance.now() < end) {
    const now = performance.now();
    while (next <= now) {
      const i = k++ % clients.length;
      next += interval;
      if (busy[i]) {
        skipped++;
        continue;
      }
      busy[i] = true;
      started++;
      const p = callEcho(clients[i].client, 'load')
        .then((ms) => latencies.push(ms))
        .catch(() => errors++)
        .finally(() => {
          busy[i] = false;
          inflight.delete(p);
        });
      inflight.add(p);
    }
    await sleep(Math.max(0, Math.min(5, next - performance.now())));
  }
  await Promise.all(inflight);
  clearInterval(sampler);
  const elapsed = (performance.now() - t0) / 1000;
  const cpu1 = cpuSeconds(watchPid);
  const mem1 = memory(watchPid);
  return {
    achievedPerS: latencies.length / elapsed,
    started,
    skipped,
    errors,
    latency: summarize(latencies),
    watchedCpuPct: cpu0 !== undefined && cpu1 !== undefined ? ((cpu1 - cpu0) / elapsed) * 100 : undefined,
    rssStartMiB: mem0 ? mem0.rssKiB / 1024 : undefined,
    rssMaxMiB: rss.length ? Math.max(...rss) / 1024 : undefined,
    rssEndMiB: mem1 ? mem1.rssKiB / 1024 : undefined,
    hwmMiB: mem1 ? mem1.hwmKiB / 1024 : undefined,
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
  console.log(`# proxy-rtt — ${machineLine(m)}`);
  console.log(codeLine(code));
  console.log(
    `calls ${opts.calls}/path/series after ${opts.warmup} warm-up, blocks of ${opts.block}, big message ${opts.bigBytes} B; ` +
      `load ${opts.rate} calls/s for ${opts.loadS} s over ${opts.concurrency} sessions per path\n`,
  );

  phase(opts.nullSink ? 'starting a null sink' : 'starting tapwatch up');
  const up = opts.nullSink ? await startNullSink() : await startTapwatch('up');
  phase('starting server-everything (streamableHttp) and tapwatch proxy');
  const port = await freePort();
  const server = await startProcess('server-everything', [EVERYTHING, 'streamableHttp'], { PORT: String(port) }, /listening on port/i);
  const direct = `http://127.0.0.1:${port}/mcp`;
  const modes = String(opts.observers)
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
  if (modes.length === 0 || modes.some((x) => x !== 'worker' && x !== 'inline'))
    throw new Error(`--observers must list worker and/or inline (got '${opts.observers}')`);
  /** One proxy per observer mode; a single one keeps the label `proxied`. */
  const proxies = [];
  for (const mode of modes) {
    const proc = await startProcess(
      `tapwatch proxy (${mode})`,
      [TAPWATCH_BIN, 'proxy', '--upstream', direct, '--listen', '127.0.0.1:0', '--sink', up.url, '--name', 'everything-http', '--observer', mode],
      { TAPWATCH_LOG_LEVEL: 'warn' },
      /tapwatch proxy listening on (http:\/\/\S+) → /,
    );
    proxies.push({ label: modes.length === 1 ? 'proxied' : `proxied ${mode}`, mode, proc, url: `${proc.match[1]}/mcp` });
  }
  if (opts.bare) {
    const proc = await startProcess('bare relay', ['-e', BARE_RELAY, String(port)], {}, /bare relay on (\d+)/);
    proxies.push({ label: 'bare relay', mode: 'none', proc, url: `http://127.0.0.1:${proc.match[1]}/mcp`, bare: true });
  }
  console.log(
    `${opts.nullSink ? 'null sink' : 'tapwatch up'} at ${up.url}; server-everything at ${direct}; ${proxies.map((p) => `${p.label} at ${p.url} (pid ${p.proc.pid})`).join('; ')}`,
  );

  // 1. RTT, one session per path, alternating blocks.
  const small = 'hello, tapwatch';
  const big = Array.from({ length: opts.bigBytes }, (_, i) => 'abcdefghijklmnopqrstuvwxyz0123456789 '[(i * 7919) % 37]).join('');
  const results = {};
  const proxyCpu0 = proxies.map((p) => cpuSeconds(p.proc.pid));
  for (const [name, message] of [
    [`echo ${small.length} B`, small],
    [`echo ${big.length} B`, big],
  ]) {
    const paths = [await connect('direct', direct)];
    for (const p of proxies) paths.push(await connect(p.label, p.url));
    phase(`measuring ${name}`);
    results[name] = await series(paths, message, opts);
    for (const p of paths) await p.close();
  }
  const rttCalls = 2 * (opts.calls + opts.warmup);
  const proxyCpuPerCallUs = Object.fromEntries(proxies.map((p, i) => [p.label, ((cpuSeconds(p.proc.pid) - proxyCpu0[i]) * 1e6) / rttCalls]));

  // 2. Load: the same schedule direct (baseline) and through the proxy.
  const loads = {};
  for (const [label, url] of [['direct', direct], ...proxies.map((p) => [p.label, p.url])]) {
    phase(`load ${label}: connecting ${opts.concurrency} sessions`);
    const clients = [];
    for (let i = 0; i < opts.concurrency; i++) clients.push(await connect(`load-${label}-${i}`, url));
    phase(`load ${label}: ${opts.rate} calls/s for ${opts.loadS} s`);
    loads[label] = await load(clients, { rate: opts.rate, seconds: opts.loadS, watchPid: proxies.find((p) => p.label === label)?.proc.pid ?? server.pid });
    for (const c of clients) await c.close();
  }

  // The sink did real work: every proxied call is a row in tool_calls.
  phase('checking the sink');
  const expected = proxies.filter((p) => !p.bare).reduce((n, p) => n + rttCalls + loads[p.label].latency.n, 0);
  let stored = 0;
  await waitFor(
    `${expected} tool_calls ${opts.nullSink ? 'events at the null sink' : 'rows'}`,
    async () => {
      if (opts.nullSink) {
        // Every event counts there (session_start/end too): at least one per call.
        stored = await up.received();
      } else {
        const rows = await sqlRows(up.url, "SELECT count() AS n FROM tool_calls WHERE server = 'everything-http'");
        stored = Number(rows[0]?.n ?? 0);
      }
      return stored >= expected;
    },
    120_000,
    500,
  ).catch((err) => console.log(`WARNING: ${err.message}`));

  // Report.
  const rows = [];
  const added = [];
  for (const [name, r] of Object.entries(results)) {
    for (const label of Object.keys(r)) {
      const s = r[label];
      rows.push([name, label, s.n, fmt(s.p50), fmt(s.p90), fmt(s.p99), fmt(s.mean), fmt(s.max)]);
    }
    for (const p of proxies) {
      const x = r[p.label];
      added.push([name, p.label, fmt((x.p50 - r.direct.p50) * 1000), fmt((x.p99 - r.direct.p99) * 1000), fmt(x.p50 / r.direct.p50), fmt(x.p99 / r.direct.p99)]);
    }
  }
  console.log('\nRound-trip time of tools/call echo over Streamable HTTP (ms)\n');
  console.log(table(['series', 'path', 'n', 'p50', 'p90', 'p99', 'mean', 'max'], rows));
  console.log('\nAdded by the proxy (proxied − direct)\n');
  console.log(table(['series', 'path', 'added p50 (µs)', 'added p99 (µs)', 'p50 ratio', 'p99 ratio'], added));
  for (const [label, us] of Object.entries(proxyCpuPerCallUs)) console.log(`\n${label}: proxy CPU during the RTT series ${fmt(us)} µs per call`);

  console.log(
    `\nLoad: ${opts.rate} calls/s scheduled for ${opts.loadS} s over ${opts.concurrency} sessions (watched process: the server when direct, the proxy when proxied)\n`,
  );
  console.log(
    table(
      ['path', 'achieved calls/s', 'skipped', 'errors', 'p50 ms', 'p99 ms', 'watched CPU %', 'RSS start MiB', 'RSS max MiB', 'RSS end MiB'],
      Object.entries(loads).map(([label, l]) => [
        label,
        fmt(l.achievedPerS),
        l.skipped,
        l.errors,
        fmt(l.latency.p50),
        fmt(l.latency.p99),
        fmt(l.watchedCpuPct),
        fmt(l.rssStartMiB),
        fmt(l.rssMaxMiB),
        fmt(l.rssEndMiB),
      ]),
    ),
  );
  console.log(
    opts.nullSink ? `\nnull sink: ${stored} events received for ${expected} proxied calls` : `\nsink: ${stored}/${expected} proxied calls stored in tool_calls`,
  );
  code.unchangedDuringRun = checkCodeUnchanged(code);
  if (opts.json) {
    writeFileSync(opts.json, JSON.stringify({ machine: m, code, options: opts, results, proxyCpuPerCallUs, loads, sink: { stored, expected } }, null, 2));
    console.log(`wrote ${opts.json}`);
  }
}

await runMain(main);
