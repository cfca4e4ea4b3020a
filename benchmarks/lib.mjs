// Shared helpers of the benchmarks: statistics, process bookkeeping, machine
// facts and a `tapwatch up` launcher. Plain Node ESM, no build step.

import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readLocalToken } from '@tapwatch/schema';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const TAPWATCH_BIN = path.join(ROOT, 'cli', 'bin', 'tapwatch.js');
export const EVERYTHING = path.join(ROOT, 'node_modules', '@modelcontextprotocol', 'server-everything', 'dist', 'index.js');

// ---------------------------------------------------------------------------
// Flags: --name value or --name=value; numbers accept 200k / 3000.
// ---------------------------------------------------------------------------

export function parseFlags(argv, defaults) {
  const out = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-h' || a === '--help') {
      out.help = true;
      continue;
    }
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    let [name, value] = a.slice(2).split(/=(.*)/s, 2);
    const key = name.replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (!(key in defaults))
      throw new Error(
        `unknown flag --${name} (known: ${Object.keys(defaults)
          .map((k) => '--' + k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase()))
          .join(' ')})`,
      );
    if (typeof defaults[key] === 'boolean' && value === undefined) {
      out[key] = true;
      continue;
    }
    if (value === undefined) value = argv[++i];
    if (value === undefined) throw new Error(`--${name} needs a value`);
    out[key] = typeof defaults[key] === 'number' ? parseCount(value) : value;
  }
  return out;
}

function parseCount(v) {
  const m = /^(\d+(?:\.\d+)?)([kKmM]?)$/.exec(v.trim());
  if (!m) throw new Error(`not a number: ${v}`);
  const mult = { '': 1, k: 1e3, K: 1e3, m: 1e6, M: 1e6 }[m[2]];
  return Math.round(Number(m[1]) * mult);
}

// ---------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export function summarize(values) {
  const s = Float64Array.from(values).sort();
  let sum = 0;
  for (const v of s) sum += v;
  return {
    n: s.length,
    min: s[0],
    p50: percentile(s, 50),
    p90: percentile(s, 90),
    p99: percentile(s, 99),
    max: s[s.length - 1],
    mean: sum / s.length,
  };
}

export const median = (xs) => summarize(xs).p50;

export function fmt(x, digits = 3) {
  if (x === undefined || x === null || Number.isNaN(x)) return 'n/a';
  if (Math.abs(x) >= 100) return x.toFixed(0);
  if (Math.abs(x) >= 10) return x.toFixed(1);
  return x.toFixed(digits - 1);
}

export function table(headers, rows) {
  const cells = [headers, ...rows].map((r) => r.map((c) => String(c)));
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  const line = (r) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(cells[0]), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.slice(1).map(line)].join('\n');
}

// ---------------------------------------------------------------------------
// /proc readings (Linux)
// ---------------------------------------------------------------------------

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU seconds (user + system) used so far by `pid`, or undefined when gone. */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // utime, stime
  } catch {
    return undefined;
  }
}

/** { rssKiB, hwmKiB, threads } of `pid` from /proc/PID/status, or undefined. */
export function memory(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
    return { rssKiB: kib('VmRSS'), hwmKiB: kib('VmHWM'), threads: Number(/^Threads:\s+(\d+)/m.exec(status)?.[1]) };
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------
// Machine facts for the results
// ---------------------------------------------------------------------------

export function machine() {
  let cpu = os.cpus()[0]?.model ?? 'unknown';
  try {
    cpu = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpu;
  } catch {
    // not Linux
  }
  let nproc = os.availableParallelism?.() ?? os.cpus().length;
  try {
    nproc = Number(execFileSync('nproc', { encoding: 'utf8' }).trim());
  } catch {
    // keep Node's figure
  }
  const load = os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  return {
    date: new Date().toISOString(),
    nproc,
    cpu,
    ramGiB: Number((os.totalmem() / 2 ** 30).toFixed(1)),
    node: process.version,
    kernel: os.release(),
    loadavg: load,
  };
}

/**
 * Which code is being measured: git HEAD, whether the application (outside
 * benchmarks/) has uncommitted changes, and a fingerprint of the built
 * dist/ JavaScript of every workspace, which other people may rebuild while a benchmark runs.
 */
export function codeVersion() {
  const git = (args) => {
    try {
      return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return undefined;
    }
  };
  const dirty = (git(['status', '--porcelain']) ?? '').split('\n').filter((l) => l && !l.slice(3).startsWith('benchmarks/')).length;
  return { head: git(['rev-parse', '--short', 'HEAD']) ?? 'unknown', dirtyFiles: dirty, dist: distFingerprint() };
}

export function distFingerprint() {
  const h = createHash('sha256');
  const walk = (dir) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.js')) h.update(p).update(readFileSync(p));
    }
  };
  for (const ws of ['schema', 'collector', 'analyzer', 'dashboard-api']) walk(path.join(ROOT, ws, 'dist'));
  return h.digest('hex').slice(0, 12);
}

export function codeLine(c) {
  return `code: git ${c.head}${c.dirtyFiles ? ` + ${c.dirtyFiles} uncommitted file(s)` : ''}, dist ${c.dist}`;
}

/** Warns when the built code changed while the benchmark ran (its figures then mix two builds). */
export function checkCodeUnchanged(before) {
  const now = distFingerprint();
  if (now !== before.dist) {
    console.log(`\nWARNING: the built */dist changed during this run (${before.dist} → ${now}); the figures may mix two builds — run again.`);
    return false;
  }
  return true;
}

export function machineLine(m) {
  return `${m.date} · nproc ${m.nproc} · ${m.cpu} · ${m.ramGiB} GiB RAM · Node ${m.node} · Linux ${m.kernel} · loadavg at start ${m.loadavg}`;
}

// ---------------------------------------------------------------------------
// Cleanup: everything started is stopped on the way out, also on failure.
// ---------------------------------------------------------------------------

const cleanups = [];
let exiting = false;

/** Registers an async cleanup (run in reverse order) and returns an unregister function. */
export function onCleanup(fn) {
  cleanups.push(fn);
  return () => {
    const i = cleanups.indexOf(fn);
    if (i >= 0) cleanups.splice(i, 1);
  };
}

/** Runs all registered cleanups, newest first; errors are reported, not thrown. */
export async function cleanupAll() {
  while (cleanups.length > 0) {
    const fn = cleanups.pop();
    const t0 = performance.now();
    try {
      await fn();
    } catch (err) {
      process.stderr.write(`cleanup failed: ${err?.message ?? err}\n`);
    }
    const ms = performance.now() - t0;
    if (ms > 1000) process.stderr.write(`cleanup step took ${(ms / 1000).toFixed(1)} s: ${String(fn).replace(/\s+/g, ' ').slice(0, 100)}\n`);
  }
}

/** Children to SIGKILL synchronously if the process exits without cleaning up. */
const liveChildren = new Set();
export function trackChild(child) {
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  return child;
}
process.on('exit', () => {
  for (const c of liveChildren) {
    try {
      c.kill('SIGKILL');
    } catch {
      // gone
    }
  }
});

/** Wraps a benchmark's main: cleanups run on success, error and SIGINT/SIGTERM. */
export async function runMain(main) {
  const onSignal = async (sig) => {
    if (exiting) return;
    exiting = true;
    process.stderr.write(`\n${sig}: stopping everything that was started …\n`);
    await cleanupAll();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let code = 0;
  try {
    await main();
  } catch (err) {
    process.stderr.write(`benchmark failed: ${err?.stack ?? err}\n`);
    code = 1;
  } finally {
    if (!exiting) await cleanupAll();
  }
  process.exitCode = code;
  return code;
}

// ---------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(what, fn, timeoutMs = 30_000, everyMs = 100) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last.message})` : ''}`);
    await sleep(everyMs);
  }
}

export function tempDir(prefix) {
  return mkdtempSync(path.join(os.tmpdir(), `tapwatch-bench-${prefix}-`));
}

/**
 * Spawns a tapwatch server command (`up`, `analyzer`, …) with `--port 0`,
 * waits for its "listening on URL" line, and registers its shutdown.
 * Resolves with { url, pid, proc, output(), stop(), listeningAt }.
 */
export async function startTapwatch(command, { env = {}, nodeArgs = [], timeoutMs = 90_000, dataDir = tempDir(command), keepData = false } = {}) {
  let out = '';
  const proc = trackChild(
    spawn(process.execPath, [...nodeArgs, TAPWATCH_BIN, command, '--port', '0', '--host', '127.0.0.1', '--data', dataDir], {
      env: { ...process.env, TAPWATCH_LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: dataDir, // --cpu-prof writes here
    }),
  );
  const exited = new Promise((r) => proc.once('exit', (code, signal) => r({ code, signal })));
  let dead = false;
  void exited.then(() => (dead = true));
  let listeningAt;
  let url;
  const listening = new Promise((resolve) => {
    proc.stdout.on('data', (d) => {
      const t = performance.now();
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m && !url) {
        url = m[1];
        listeningAt = t;
        resolve();
      }
    });
  });
  proc.stderr.on('data', (d) => {
    out += d.toString();
    if (out.length > 1_000_000) out = out.slice(-500_000);
  });
  let stopped;
  const stop = () => {
    stopped ??= (async () => {
      if (!dead) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 30_000);
        await exited;
        clearTimeout(t);
      }
      return dataDir;
    })();
    return stopped;
  };
  const removeData = () => (keepData ? undefined : rmSync(dataDir, { recursive: true, force: true }));
  onCleanup(async () => {
    await stop();
    removeData();
  });
  let timer;
  try {
    await Promise.race([
      listening,
      exited.then(({ code, signal }) => {
        throw new Error(`tapwatch ${command} exited early (${signal ?? code}):\n${out.slice(-4000)}`);
      }),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`tapwatch ${command} did not listen within ${timeoutMs} ms:\n${out.slice(-4000)}`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
  return { url, pid: proc.pid, proc, dataDir, output: () => out, stop, exited, listeningAt: () => listeningAt };
}

/**
 * Authorization for the services a benchmark starts: TAPWATCH_TOKEN when set, else the local
 * admin token they create (tapwatch is authenticated by default; /healthz says only its status without one).
 */
export function authHeaders() {
  const token = process.env.TAPWATCH_TOKEN || readLocalToken('admin');
  return token ? { authorization: `Bearer ${token}` } : {};
}

export async function healthz(url) {
  const r = await fetch(`${url}/healthz`, { headers: authHeaders() });
  return r.json();
}

export async function sqlRows(url, query) {
  const r = await fetch(`${url}/v1/sql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...authHeaders() },
    body: JSON.stringify({ sql: query }),
  });
  const body = await r.json();
  if (r.status !== 200) throw new Error(`SQL failed (${r.status}): ${JSON.stringify(body)}`);
  return body.rows;
}

/**
 * An ingest endpoint that accepts and discards events (POST /v1/ingest → 202),
 * in its own process: the tap's relay cost without a sink doing work.
 * Resolves with { url, pid, received(), stop() }.
 */
export async function startNullSink() {
  const code = `
    const http = require('node:http');
    let events = 0;
    const server = http.createServer((req, res) => {
      if (req.method === 'GET' && req.url === '/count') return res.end(String(events));
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        try { const b = JSON.parse(Buffer.concat(chunks).toString()); events += Array.isArray(b) ? b.length : 1; } catch {}
        res.writeHead(202, { 'content-type': 'application/json' });
        res.end('{"accepted":true}');
      });
    });
    server.listen(0, '127.0.0.1', () => process.stdout.write('listening on http://127.0.0.1:' + server.address().port + '\\n'));
    process.on('SIGTERM', () => server.close(() => process.exit(0)));
    process.stdin.on('end', () => process.exit(0));
    process.stdin.resume();
  `;
  const proc = trackChild(spawn(process.execPath, ['-e', code], { stdio: ['pipe', 'pipe', 'inherit'] }));
  const exited = new Promise((r) => proc.once('exit', r));
  const url = await new Promise((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    proc.once('exit', (c) => reject(new Error(`null sink exited (${c})`)));
  });
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      await exited;
    }
  };
  onCleanup(stop);
  return { url, pid: proc.pid, received: async () => Number(await (await fetch(`${url}/count`)).text()), stop };
}

/** One `tools/call echo` on an MCP SDK client; its round-trip time in ms (throws if the echo is wrong). */
export async function callEcho(client, message) {
  const t0 = performance.now();
  const r = await client.callTool({ name: 'echo', arguments: { message } });
  const ms = performance.now() - t0;
  const text = r.content?.[0]?.text;
  if (typeof text !== 'string' || !text.endsWith(message)) throw new Error(`unexpected echo result: ${JSON.stringify(r).slice(0, 200)}`);
  return ms;
}
