/**
 * The HTTP tap's observation never costs traffic: bad JSON, oversized and
 * compressed bodies and a throwing sink are relayed untouched and counted;
 * sessions are keyed as documented; idle sessions end. In-process only: the
 * proxy and a scripted `node:http` upstream on 127.0.0.1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { TapEventSchema, type TapEvent, type ToolCallEvent } from '@tapwatch/schema';
import { startHttpProxy, type HttpProxyOptions, type RunningHttpProxy } from '@tapwatch/collector';

type Handler = (msg: any, req: IncomingMessage, res: ServerResponse) => void;

async function setup(handler: Handler, options: Partial<HttpProxyOptions> = {}) {
  const upstream = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const text = Buffer.concat(parts).toString();
      handler(text ? JSON.parse(text) : undefined, req, res);
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const events: TapEvent[] = [];
  const proxy: RunningHttpProxy = await startHttpProxy({
    upstream: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/mcp`,
    port: 0,
    emit: (e) => events.push(TapEventSchema.parse(e)),
    ...options,
  });
  let upstreamRequests = 0;
  upstream.on('request', () => upstreamRequests++);
  const post = (body: unknown, headers: Record<string, string> = {}) =>
    new Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
      const req = request(
        `${proxy.url}/mcp`,
        { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers } },
        (res) => {
          const parts: Buffer[] = [];
          res.on('data', (c: Buffer) => parts.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
        },
      );
      req.on('error', reject);
      req.end(typeof body === 'string' ? body : JSON.stringify(body));
    });
  const close = async () => {
    await proxy.close();
    upstream.closeAllConnections();
    await new Promise((r) => upstream.close(r));
  };
  return { proxy, events, post, close, upstreamRequests: () => upstreamRequests };
}

const call = (id: number, name = 'echo') => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: { message: 'x' } } });
const calls = (events: TapEvent[]) => events.filter((e): e is ToolCallEvent => e.type === 'tool_call');

async function until<T>(what: string, fn: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a response that is not JSON is relayed as it came and counted; the call stays open until the session ends', async () => {
  const t = await setup((_msg, _req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"jsonrpc": "2.0", "id": 1, "result": oops');
  });
  try {
    const r = await t.post(call(1));
    assert.equal(r.body.toString(), '{"jsonrpc": "2.0", "id": 1, "result": oops');
    // Counted by the observer thread, so shortly after the response.
    await until('the parse error to be counted', () => (t.proxy.stats.parseErrors === 1 ? true : undefined));
  } finally {
    await t.close();
  }
  assert.deepEqual(
    calls(t.events).map((c) => c.status),
    ['incomplete'],
  );
});

test('a response over maxObservedBytes is relayed whole and not observed (counted); the next one is', async () => {
  const big = 'y'.repeat(8_000);
  const t = await setup(
    (msg, _req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { content: [{ type: 'text', text: msg.id === 1 ? big : 'small' }] } }));
    },
    { maxObservedBytes: 1024 },
  );
  try {
    const r = await t.post(call(1));
    assert.equal(JSON.parse(r.body.toString()).result.content[0].text, big);
    assert.equal(t.proxy.stats.oversized, 1);
    await t.post(call(2));
    await until('the second call', () => calls(t.events).find((c) => c.requestId === '2'));
  } finally {
    await t.close();
  }
  assert.deepEqual(
    calls(t.events).map((c) => [c.requestId, c.status]),
    [
      ['2', 'ok'],
      ['1', 'incomplete'],
    ],
  );
});

test('a compressed response is relayed untouched and skipped by observation; Accept-Encoding only passes on requests that do not accept SSE', async () => {
  const seen: (string | undefined)[] = [];
  const payload = JSON.stringify({ jsonrpc: '2.0', id: 1, result: { content: [] } });
  const t = await setup((_msg, req, res) => {
    seen.push(req.headers['accept-encoding']);
    res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    res.end(gzipSync(payload));
  });
  try {
    const r = await t.post(call(1), { 'accept-encoding': 'gzip' });
    assert.equal(r.headers['content-encoding'], 'gzip');
    assert.deepEqual(r.body, gzipSync(payload));
    assert.equal(t.proxy.stats.encodedSkipped, 1);
    await t.post(call(2), { accept: 'application/json', 'accept-encoding': 'gzip' });
    assert.deepEqual(seen, [undefined, 'gzip']);
  } finally {
    await t.close();
  }
});

test('a sink that throws costs nothing: the response arrives unchanged', async () => {
  const t = await setup(
    (msg, _req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { content: [{ type: 'text', text: 'fine' }] } }));
    },
    {
      emit: () => {
        throw new Error('sink down');
      },
    },
  );
  try {
    for (let i = 1; i <= 3; i++) assert.equal(JSON.parse((await t.post(call(i))).body.toString()).result.content[0].text, 'fine');
  } finally {
    await t.close();
  }
});

test('sessions: Mcp-Session-Id from initialize keys one session; a stateless 2025 client and a 2026-07-28 client each get their own; idle sessions end', async () => {
  const t = await setup(
    (msg, req, res) => {
      const stateful = req.url === '/mcp' && (req.headers['x-stateful'] === '1' || req.headers['mcp-session-id'] === 'sess-1');
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (stateful && msg.method === 'initialize') headers['mcp-session-id'] = 'sess-1';
      const result =
        msg.method === 'initialize'
          ? { protocolVersion: '2025-11-25', serverInfo: { name: stateful ? 'stateful' : 'stateless' }, capabilities: {} }
          : { content: [{ type: 'text', text: 'ok' }] };
      res.writeHead(200, headers);
      res.end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result }));
    },
    { sessionIdleMs: 200, session: 'S' },
  );
  const init = (id: number, name: string) => ({
    jsonrpc: '2.0',
    id,
    method: 'initialize',
    params: { protocolVersion: '2025-11-25', clientInfo: { name, version: '1' }, capabilities: {} },
  });
  const meta = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientInfo': { name: 'modern', version: '2' } };
  try {
    await t.post(init(0, 'stateful-client'), { 'x-stateful': '1' });
    await t.post(call(1), { 'mcp-session-id': 'sess-1' });
    await t.post(init(0, 'old-stateless'));
    await t.post(call(2));
    await t.post({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'echo', arguments: {}, _meta: meta } });
    const ends = await until('every session to end once idle', () => {
      const e = t.events.filter((x) => x.type === 'session_end');
      return e.length === 3 ? e : undefined;
    });
    assert.deepEqual(ends.map((e) => e.session).sort(), ['S', 'S.2', 'S.3']);
  } finally {
    await t.close();
  }
  const byCall = Object.fromEntries(calls(t.events).map((c) => [c.requestId, c]));
  assert.equal(byCall['1']!.session, 'S');
  assert.equal(byCall['1']!.server, 'stateful');
  assert.equal(byCall['2']!.session, 'S.2');
  assert.equal(byCall['2']!.server, 'stateless');
  assert.match(byCall['2']!.agent, /:old-stateless$/);
  assert.equal(byCall['3']!.session, 'S.3');
  assert.match(byCall['3']!.agent, /:modern$/);
  assert.ok(calls(t.events).every((c) => c.transport === 'http' && c.status === 'ok'));
  assert.equal(t.proxy.stats.sessionsEnded, 3);
});

test('on loopback, a request whose Host is not a loopback name is refused before it reaches the upstream (DNS rebinding)', async () => {
  const t = await setup((msg, _req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { content: [] } }));
  });
  try {
    const refused = await t.post(call(1), { host: 'rebound.example:8788' });
    assert.equal(refused.status, 403);
    assert.match(JSON.parse(refused.body.toString()).error.message, /DNS rebinding/);
    assert.equal(t.upstreamRequests(), 0);
    assert.equal(t.proxy.stats.hostRejected, 1);
    for (const host of ['localhost:1', '127.0.0.2', '[::1]:80', 'a.localhost']) assert.equal((await t.post(call(2), { host })).status, 200, host);
    assert.equal(t.upstreamRequests(), 4);
  } finally {
    await t.close();
  }
});
