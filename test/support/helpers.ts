/**
 * Helpers for integration and end-to-end tests: real processes, real ports,
 * polling with timeouts instead of sleeps, and cleanup of everything started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import WebSocket from 'ws';
import { readLocalToken } from '@tapwatch/schema';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const TAPWATCH_BIN = join(ROOT, 'cli', 'bin', 'tapwatch.js');
export const EVERYTHING = join(ROOT, 'node_modules', '@modelcontextprotocol', 'server-everything', 'dist', 'index.js');
export const EVERYTHING_2025 = join(ROOT, 'node_modules', 'server-everything-2025', 'dist', 'index.js');
export const FILESYSTEM = join(ROOT, 'node_modules', '@modelcontextprotocol', 'server-filesystem', 'dist', 'index.js');
export const MEMORY = join(ROOT, 'node_modules', '@modelcontextprotocol', 'server-memory', 'dist', 'index.js');
/** The benign part of the eval harness's development corpus, as a snapshot (see its README). */
export const DEV_CORPUS = join(ROOT, 'test', 'fixtures', 'dev-corpus');
export const DEV_ENVIRONMENT = join(DEV_CORPUS, 'environment.json');

/** Polls `fn` until it returns a truthy value or `timeoutMs` passes; the error names `what`. */
export async function waitFor<T>(what: string, fn: () => Promise<T> | T, timeoutMs = 20_000, everyMs = 100): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolvePort(port));
    });
  });
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `tapwatch-${prefix}-`));
}

/**
 * The local token of `role` that a `tapwatch up` without TAPWATCH_TOKEN created (scripts/run-tests.mjs gives
 * the run its own TAPWATCH_CREDENTIALS_DIR); '' before one exists.
 */
export function localToken(role: 'admin' | 'ingest' = 'admin'): string {
  return readLocalToken(role, process.env) ?? '';
}

/** The Authorization header of the local admin token (what the CLI sends on loopback). */
export function authHeader(token: string = localToken()): Record<string, string> {
  return token ? { authorization: `Bearer ${token}` } : {};
}

/** POSTs events to /v1/ingest as a tap would (the admin token unless given) and asserts the 202. */
export async function ingestEvents(url: string, events: unknown[], token: string = localToken()): Promise<void> {
  const r = await fetch(`${url}/v1/ingest`, {
    method: 'POST',
    headers: { ...authHeader(token), 'content-type': 'application/json' },
    body: JSON.stringify(events),
  });
  if (r.status !== 202) throw new Error(`ingest answered ${r.status}: ${await r.text()}`);
}

export interface RunningTapwatch {
  url: string;
  /** The token the service accepts as admin: TAPWATCH_TOKEN when given, else the local admin token. */
  token: string;
  port: number;
  proc: ChildProcess;
  dataDir: string;
  output: () => string;
  /** SIGTERM, wait for exit; resolves with the exit code. */
  stop: () => Promise<number | null>;
}

/** Starts `tapwatch up` as a real process and waits for /healthz to answer 200. */
export async function startUp(options: { env?: NodeJS.ProcessEnv; token?: string; args?: string[] } = {}): Promise<RunningTapwatch> {
  const args = options.args ?? [];
  const given = args.indexOf('--data');
  const dataDir = given >= 0 && args[given + 1] ? args[given + 1]! : tempDir('data');
  return startTapwatch('up', {
    env: { ...options.env, ...(options.token ? { TAPWATCH_TOKEN: options.token } : {}) },
    dataDir,
    args: args.filter((_, i) => i !== given && i !== given + 1),
  });
}

/** Starts a tapwatch server command (`up`, `analyzer`, `api`, `ingest`) on a free port and waits for /healthz. */
export async function startTapwatch(command: string, options: { env?: NodeJS.ProcessEnv; dataDir?: string; args?: string[] } = {}): Promise<RunningTapwatch> {
  const port = await freePort();
  const dataDir = options.dataDir ?? tempDir('data');
  let out = '';
  const proc = spawn(process.execPath, [TAPWATCH_BIN, command, '--port', String(port), '--host', '127.0.0.1', '--data', dataDir, ...(options.args ?? [])], {
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  const url = `http://127.0.0.1:${port}`;
  let dead = false;
  void exited.then(() => (dead = true));
  await waitFor(
    `tapwatch ${command} to answer /healthz`,
    async () => {
      if (dead) throw new Error(`tapwatch ${command} exited early:\n${out}`);
      const r = await fetch(`${url}/healthz`);
      return r.status === 200;
    },
    60_000,
    200,
  ).catch((err: unknown) => {
    proc.kill('SIGKILL');
    throw err;
  });
  return {
    url,
    token: options.env?.TAPWATCH_TOKEN || localToken(),
    port,
    proc,
    dataDir,
    output: () => out,
    stop: async () => {
      if (!dead) proc.kill('SIGTERM');
      const code = await exited;
      rmSync(dataDir, { recursive: true, force: true });
      return code;
    },
  };
}

/** POST /v1/sql; returns the HTTP status and parsed body. */
export async function sql(url: string, query: string, token: string = localToken(), params?: Record<string, unknown>): Promise<{ status: number; body: any }> {
  const r = await fetch(`${url}/v1/sql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...authHeader(token) },
    body: JSON.stringify({ sql: query, ...(params ? { params } : {}) }),
  });
  return { status: r.status, body: await r.json() };
}

/** SQL that must succeed: returns the rows. */
export async function rows(url: string, query: string, token: string = localToken(), params?: Record<string, unknown>): Promise<any[]> {
  const { status, body } = await sql(url, query, token, params);
  if (status !== 200) throw new Error(`SQL failed (${status}): ${JSON.stringify(body)}`);
  return body.rows as any[];
}

export interface AlertCollector {
  alerts: any[];
  ws: WebSocket;
  waitForAlert: (pred: (a: any) => boolean, what: string, timeoutMs?: number) => Promise<any>;
  close: () => void;
}

/** Subscribes to the alert stream and collects every alert. */
export async function subscribeAlerts(url: string, token: string = localToken(), viaQuery = false): Promise<AlertCollector> {
  const wsUrl = `${url.replace(/^http/, 'ws')}/v1/alerts/stream${token && viaQuery ? `?token=${encodeURIComponent(token)}` : ''}`;
  const ws = new WebSocket(wsUrl, token && !viaQuery ? { headers: { authorization: `Bearer ${token}` } } : {});
  const alerts: any[] = [];
  ws.on('message', (d) => alerts.push(JSON.parse(d.toString())));
  await new Promise<void>((res, rej) => {
    ws.once('open', () => res());
    ws.once('error', rej);
    ws.once('unexpected-response', (_req, r) => rej(new Error(`upgrade refused: ${r.statusCode}`)));
  });
  return {
    alerts,
    ws,
    waitForAlert: (pred, what, timeoutMs = 20_000) => waitFor(`alert: ${what}`, () => alerts.find(pred), timeoutMs, 50),
    close: () => ws.close(),
  };
}

/** The status code of a WebSocket upgrade attempt (101 if it opened). */
export function wsUpgradeStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((res, rej) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => {
      ws.terminate();
      res(101);
    });
    ws.once('unexpected-response', (_req, r) => {
      res(r.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('error', (e) => rej(e));
  });
}

export interface TappedClient {
  client: Client;
  session: string;
  stderr: () => string;
  close: () => Promise<void>;
}

/** Connects the real SDK client to a real MCP server through `tapwatch tap`. */
export async function connectThroughTap(options: {
  sink: string;
  name?: string;
  agent?: string;
  session?: string;
  server: string[];
  env?: Record<string, string>;
  clientName?: string;
  /** Client capabilities (sampling, elicitation, roots) and handlers installed before connecting. */
  capabilities?: ConstructorParameters<typeof Client>[1] extends infer O ? (O extends { capabilities?: infer C } ? C : never) : never;
  prepare?: (client: Client) => void;
}): Promise<TappedClient> {
  const session = options.session ?? `s-${Math.random().toString(36).slice(2)}`;
  const args = [TAPWATCH_BIN, 'tap', '--sink', options.sink, '--session', session];
  if (options.name) args.push('--name', options.name);
  if (options.agent) args.push('--agent', options.agent);
  args.push('--', ...options.server);
  const transport = new StdioClientTransport({
    command: process.execPath,
    args,
    env: { ...(process.env as Record<string, string>), ...options.env },
    stderr: 'pipe',
  });
  let err = '';
  transport.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const client = new Client(
    { name: options.clientName ?? 'tapwatch-e2e', version: '1.0.0' },
    options.capabilities ? { capabilities: options.capabilities } : undefined,
  );
  options.prepare?.(client);
  await client.connect(transport);
  return { client, session, stderr: () => err, close: () => client.close() };
}

/** Connects the real SDK client directly to the server (the baseline for relay checks). */
export async function connectDirect(server: string[]): Promise<Client> {
  const [command, ...args] = server;
  const transport = new StdioClientTransport({ command: command!, args, stderr: 'pipe' });
  const client = new Client({ name: 'tapwatch-e2e', version: '1.0.0' });
  await client.connect(transport);
  return client;
}

/** The tool definitions a real server lists, read with the real SDK client. */
export async function listToolsOf(server: string[]): Promise<Awaited<ReturnType<Client['listTools']>>['tools']> {
  const client = await connectDirect(server);
  try {
    return (await client.listTools()).tools;
  } finally {
    await client.close();
  }
}
