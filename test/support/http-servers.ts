/**
 * HTTP peers for the proxy tests: real MCP servers over HTTP (server-everything
 * in its `streamableHttp` and `sse` modes, a stateless SDK v2 server), a
 * `tapwatch proxy` process, and a bare `node:http` upstream a test scripts
 * itself. Everything listens on 127.0.0.1 on a free port and has a `stop`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer, createMcpHandler } from '@modelcontextprotocol/server';
import * as z from 'zod';
import { EVERYTHING, TAPWATCH_BIN, freePort, waitFor } from './helpers.js';

export interface RunningProcess {
  /** `http://127.0.0.1:PORT` */
  url: string;
  proc: ChildProcess;
  output: () => string;
  stop: () => Promise<void>;
}

function stopper(proc: ChildProcess): () => Promise<void> {
  const exited = new Promise<void>((r) => {
    if (proc.exitCode !== null || proc.signalCode !== null) r();
    else proc.once('exit', () => r());
  });
  return async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
}

/** server-everything over HTTP: `streamableHttp` serves `/mcp`, `sse` serves `/sse` + `/message`. */
export async function startEverythingHttp(mode: 'streamableHttp' | 'sse'): Promise<RunningProcess> {
  const port = await freePort();
  const proc = spawn(process.execPath, [EVERYTHING, mode], { env: { ...process.env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const stop = stopper(proc);
  await waitFor(
    `server-everything ${mode} to listen`,
    () => {
      if (proc.exitCode !== null) throw new Error(`server-everything exited: ${out}`);
      return /listening on port|running on port/i.test(out);
    },
    30_000,
    50,
  ).catch(async (err: unknown) => {
    await stop();
    throw err;
  });
  return { url: `http://127.0.0.1:${port}`, proc, output: () => out, stop };
}

/** `tapwatch proxy --upstream URL --listen 127.0.0.1:0 …`; resolves when it prints where it listens. */
export async function startProxy(upstream: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<RunningProcess> {
  const proc = spawn(process.execPath, [TAPWATCH_BIN, 'proxy', '--upstream', upstream, '--listen', '127.0.0.1:0', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const stop = stopper(proc);
  const url = await waitFor(
    'tapwatch proxy to listen',
    () => {
      if (proc.exitCode !== null) throw new Error(`tapwatch proxy exited (${proc.exitCode}): ${out}`);
      return /tapwatch proxy listening on (http:\/\/\S+) → /.exec(out)?.[1];
    },
    30_000,
    50,
  ).catch(async (err: unknown) => {
    await stop();
    throw err;
  });
  return { url, proc, output: () => out, stop };
}

export interface RawUpstream {
  url: string;
  server: Server;
  stop: () => Promise<void>;
}

/** A bare `node:http` server answering with `handler`: the test decides every byte. */
export async function startRawUpstream(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<RawUpstream> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export interface V2Upstream extends RawUpstream {
  /** Method, path and headers of every request the server received. */
  requests: { method: string; url: string; headers: IncomingHttpHeaders }[];
}

/**
 * A real SDK v2 server (`@modelcontextprotocol/server`, 2026-07-28 revision,
 * stateless, per-request instances from `createMcpHandler`) behind a small
 * `node:http` → fetch adapter, with tools `echo` and `add`.
 */
export async function startV2Server(name = 'v2-stateless'): Promise<V2Upstream> {
  const factory = () => {
    const server = new McpServer({ name, version: '2.0.0' });
    server.registerTool('echo', { description: 'Echoes its message', inputSchema: z.object({ message: z.string() }) }, async ({ message }) => ({
      content: [{ type: 'text', text: `v2 echo: ${message}` }],
    }));
    server.registerTool('add', { description: 'Adds two numbers', inputSchema: z.object({ a: z.number(), b: z.number() }) }, async ({ a, b }) => ({
      content: [{ type: 'text', text: String(a + b) }],
    }));
    return server;
  };
  const handler = createMcpHandler(factory);
  const requests: V2Upstream['requests'] = [];
  const raw = await startRawUpstream((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    void serveFetch(handler.fetch, req, res);
  });
  return {
    ...raw,
    requests,
    stop: async () => {
      await handler.close();
      await raw.stop();
    },
  };
}

async function serveFetch(fetchHandler: (r: Request) => Promise<Response>, req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const headers = new Headers();
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
    const method = req.method ?? 'GET';
    const abort = new AbortController();
    res.on('close', () => abort.abort());
    const request = new Request(`http://${req.headers.host ?? '127.0.0.1'}${req.url ?? '/'}`, {
      method,
      headers,
      signal: abort.signal,
      ...(method === 'GET' || method === 'HEAD' ? {} : { body: Buffer.concat(chunks) }),
    });
    const response = await fetchHandler(request);
    const out: string[] = [];
    response.headers.forEach((v, k) => out.push(k, v));
    res.writeHead(response.status, out);
    if (response.body) {
      for await (const chunk of response.body) res.write(chunk);
    }
    res.end();
  } catch (err) {
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
    res.end(String(err));
  }
}
