/**
 * End to end: `tapwatch proxy` (a real process) between real MCP clients and
 * real MCP servers over HTTP, reporting to a real `tapwatch up`; plus bare
 * `node:http` upstreams scripted by the tests for the byte-level promises
 * (headers, status codes, SSE framing and flushing, aborts, the 502).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Client as ClientV2, StreamableHTTPClientTransport as StreamableHTTPClientTransportV2 } from '@modelcontextprotocol/client';
import { ROOT, freePort, rows, startUp, tempDir, waitFor, type RunningTapwatch } from '../support/helpers.js';
import { startEverythingHttp, startProxy, startRawUpstream, startV2Server, type RunningProcess } from '../support/http-servers.js';

const TOKEN = `tok-${Math.random().toString(36).slice(2)}`;
let tw: RunningTapwatch;
const rand = () => Math.random().toString(36).slice(2, 10);

before(async () => {
  tw = await startUp({ token: TOKEN });
});

after(async () => {
  await tw?.stop();
});

/** A proxy reporting to the shared `tapwatch up`. */
function proxyTo(upstream: string, args: string[] = []): Promise<RunningProcess> {
  return startProxy(upstream, ['--sink', tw.url, ...args], { TAPWATCH_TOKEN: TOKEN });
}

async function callsOf(session: string, expected: number): Promise<any[]> {
  return waitFor(`${expected} tool_calls rows of session ${session}`, async () => {
    const r = await rows(
      tw.url,
      'SELECT tool, status, transport, server, agent, request_bytes, response_bytes, is_error, request_id FROM tool_calls WHERE session = {s:String} ORDER BY started_at, request_id',
      TOKEN,
      { s: session },
    );
    return r.length >= expected ? r : undefined;
  });
}

async function sessionEvents(session: string, expected: string[]): Promise<any[]> {
  return waitFor(`session events ${expected.join(',')} of ${session}`, async () => {
    const r = await rows(tw.url, 'SELECT event, client_name, server_name, calls FROM sessions WHERE session = {s:String} ORDER BY time', TOKEN, { s: session });
    return r.length === expected.length ? r : undefined;
  });
}

/** The same calls on a direct client and a proxied one: results must be equal, byte for byte once serialized. */
async function sameThroughBoth(direct: Client, proxied: Client): Promise<void> {
  const [dTools, pTools] = [await direct.listTools(), await proxied.listTools()];
  assert.equal(JSON.stringify(pTools), JSON.stringify(dTools), 'tools/list through the proxy equals direct');
  const big = 'abcdefghij'.repeat(1024);
  for (const [name, args] of [
    ['echo', { message: 'hello through the proxy ✓ \u2028' }],
    ['echo', { message: big }],
    ['get-sum', { a: 2, b: 40 }],
  ] as const) {
    const d = await direct.callTool({ name, arguments: args });
    const p = await proxied.callTool({ name, arguments: args });
    assert.equal(JSON.stringify(p), JSON.stringify(d), `${name} through the proxy equals direct`);
  }
}

test('Streamable HTTP: server-everything behind the proxy — equal results, every call in tool_calls (transport http), DELETE ends the session', async () => {
  const upstream = await startEverythingHttp('streamableHttp');
  const session = `px-${rand()}`;
  const agent = `agent-${rand()}`;
  const proxy = await proxyTo(`${upstream.url}/mcp`, ['--name', 'everything-http', '--agent', agent, '--session', session]);
  try {
    const direct = new Client({ name: 'direct', version: '1.0.0' });
    await direct.connect(new StreamableHTTPClientTransport(new URL('/mcp', upstream.url)));
    const proxied = new Client({ name: 'proxied', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(new URL('/mcp', proxy.url));
    await proxied.connect(transport);
    assert.ok(transport.sessionId, 'the upstream session id reaches the client through the proxy');
    await sameThroughBoth(direct, proxied);
    await transport.terminateSession(); // DELETE
    await proxied.close();
    await direct.close();

    const calls = await callsOf(session, 3);
    assert.deepEqual(
      calls.map((c) => [c.tool, c.status, c.transport, c.server, c.agent, c.is_error]),
      [
        ['echo', 'ok', 'http', 'everything-http', agent, false],
        ['echo', 'ok', 'http', 'everything-http', agent, false],
        ['get-sum', 'ok', 'http', 'everything-http', agent, false],
      ],
    );
    assert.ok(calls[1].request_bytes > 10_240 && calls[1].response_bytes > 10_240, 'sizes of the 10 KB echo');
    assert.ok(calls[0].request_bytes > 0 && calls[0].response_bytes > calls[0].request_bytes);
    const events = await sessionEvents(session, ['start', 'end']);
    assert.equal(events[0].client_name, 'proxied');
    assert.equal(events[1].calls, 3);
  } finally {
    await proxy.stop();
    await upstream.stop();
  }
});

test('legacy HTTP+SSE: server-everything sse behind the proxy — equal results, calls recorded, the stream closing ends the session', async () => {
  const upstream = await startEverythingHttp('sse');
  const session = `px-sse-${rand()}`;
  const proxy = await proxyTo(`${upstream.url}/sse`, ['--session', session]);
  try {
    const direct = new Client({ name: 'direct', version: '1.0.0' });
    await direct.connect(new SSEClientTransport(new URL('/sse', upstream.url)));
    const proxied = new Client({ name: 'proxied-sse', version: '1.0.0' });
    await proxied.connect(new SSEClientTransport(new URL('/sse', proxy.url)));
    await sameThroughBoth(direct, proxied);
    await proxied.close();
    await direct.close();
    const calls = await callsOf(session, 3);
    assert.deepEqual(
      calls.map((c) => [c.tool, c.status, c.transport]),
      [
        ['echo', 'ok', 'http'],
        ['echo', 'ok', 'http'],
        ['get-sum', 'ok', 'http'],
      ],
    );
    // No --name: the server's own serverInfo.name.
    assert.ok(
      calls.every((c) => c.server === 'mcp-servers/everything'),
      JSON.stringify(calls.map((c) => c.server)),
    );
    const events = await sessionEvents(session, ['start', 'end']);
    assert.equal(events[0].client_name, 'proxied-sse');
  } finally {
    await proxy.stop();
    await upstream.stop();
  }
});

test('mcp-remote (stdio ↔ HTTP bridge) through the proxy: calls work and are recorded', async () => {
  const upstream = await startEverythingHttp('streamableHttp');
  const server = `via-mcp-remote-${rand()}`;
  const proxy = await proxyTo(`${upstream.url}/mcp`, ['--name', server]);
  const configDir = tempDir('mcp-remote');
  try {
    const client = new Client({ name: 'stdio-client', version: '1.0.0' });
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [join(ROOT, 'node_modules', 'mcp-remote', 'dist', 'proxy.js'), `${proxy.url}/mcp`, '--transport', 'http-only'],
        env: { ...(process.env as Record<string, string>), MCP_REMOTE_CONFIG_DIR: configDir },
        stderr: 'pipe',
      }),
    );
    const r = await client.callTool({ name: 'echo', arguments: { message: 'via mcp-remote' } });
    assert.deepEqual(r.content, [{ type: 'text', text: 'Echo: via mcp-remote' }]);
    const sum = await client.callTool({ name: 'get-sum', arguments: { a: 1, b: 2 } });
    assert.match(JSON.stringify(sum.content), /3/);
    await client.close();
    // mcp-remote opens a probe session of its own first (client "mcp-remote-fallback-test"): select by server.
    const calls = await waitFor('the calls made through mcp-remote', async () => {
      const x = await rows(tw.url, 'SELECT tool, status, transport, agent FROM tool_calls WHERE server = {s:String} ORDER BY started_at', TOKEN, { s: server });
      return x.length >= 2 ? x : undefined;
    });
    assert.deepEqual(
      calls.map((c) => [c.tool, c.status, c.transport]),
      [
        ['echo', 'ok', 'http'],
        ['get-sum', 'ok', 'http'],
      ],
    );
    assert.match(calls[0].agent, /stdio-client \(via mcp-remote/, 'the agent names the client mcp-remote bridges');
    // mcp-remote never sends DELETE: stopping the proxy ends its open sessions and flushes them to the sink.
    await proxy.stop();
    const ended = await waitFor('the sessions ended by the proxy shutdown', async () => {
      const x = await rows(tw.url, "SELECT session, calls FROM sessions WHERE server = {s:String} AND event = 'end' ORDER BY calls", TOKEN, { s: server });
      return x.length >= 2 ? x : undefined;
    });
    assert.deepEqual(
      ended.map((e) => e.calls),
      [0, 2],
      'the probe session of mcp-remote and the real one',
    );
  } finally {
    await proxy.stop();
    await upstream.stop();
    rmSync(configDir, { recursive: true, force: true });
  }
});

/** One raw HTTP exchange through node:http (fetch would add and forbid headers). */
function exchange(
  url: string,
  options: { method?: string; headers?: Record<string, string | string[]>; body?: string },
): Promise<{ status: number; statusMessage: string; headers: IncomingHttpHeaders; rawHeaders: string[]; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers ?? {}, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          statusMessage: res.statusMessage ?? '',
          headers: res.headers,
          rawHeaders: res.rawHeaders,
          body: Buffer.concat(parts),
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

test('status codes, headers and bodies pass through unchanged; hop-by-hop headers do not; Host names the upstream', async () => {
  const seen: { url: string; headers: IncomingHttpHeaders; body: string }[] = [];
  // Deliberately odd bytes: spacing, escapes, no trailing newline.
  const oddJson = '{ "jsonrpc":"2.0" ,"id":7,  "result":{"tools":[],"x":"\\u00e9\\n"} }';
  const upstream = await startRawUpstream((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ url: req.url ?? '', headers: req.headers, body });
      if (req.url === '/auth') {
        res.writeHead(401, 'Token Please', [
          'WWW-Authenticate',
          'Bearer resource_metadata="http://127.0.0.1/.well-known/oauth-protected-resource", scope="files:read"',
          'Mcp-Param-Foo',
          'foo-value',
          'X-Custom',
          'a',
          'X-Custom',
          'b',
          'Content-Type',
          'application/json',
          'Connection',
          'close, X-Hop',
          'X-Hop',
          'must not pass',
        ]);
        res.end('{"error":"unauthorized"}');
      } else if (req.headers['mcp-session-id'] === 'gone') {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end('{"jsonrpc":"2.0","id":null,"error":{"code":-32001,"message":"Session not found"}}');
      } else {
        res.writeHead(200, { 'Content-Type': 'application/json', 'Mcp-Session-Id': 's-123', 'Mcp-Param-Unknown-Thing': 'kept' });
        res.end(oddJson);
      }
    });
  });
  const proxy = await proxyTo(`${upstream.url}/mcp`);
  try {
    const auth = await exchange(`${proxy.url}/auth`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
    });
    assert.equal(auth.status, 401);
    assert.equal(auth.statusMessage, 'Token Please');
    assert.equal(auth.headers['www-authenticate'], 'Bearer resource_metadata="http://127.0.0.1/.well-known/oauth-protected-resource", scope="files:read"');
    assert.equal(auth.headers['mcp-param-foo'], 'foo-value');
    assert.deepEqual(
      auth.rawHeaders.filter((_, i) => auth.rawHeaders[i - 1] === 'X-Custom'),
      ['a', 'b'],
      'repeated headers keep their order and spelling',
    );
    assert.equal(auth.headers['x-hop'], undefined, 'a header the upstream named in Connection is hop-by-hop');
    assert.equal(auth.body.toString(), '{"error":"unauthorized"}');

    const sent = '{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{"_meta":{"k":"\\u2028"}}}';
    const ok = await exchange(`${proxy.url}/mcp?x=1`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        Accept: 'application/json, text/event-stream',
        'Accept-Encoding': 'gzip, br',
        'MCP-Protocol-Version': '2026-07-28',
        'Mcp-Method': 'tools/list',
        'Mcp-Name': 'anything',
        'Mcp-Param-Bar': 'bar-value',
        Authorization: 'Bearer abc',
        Connection: 'keep-alive, X-Drop-Me',
        'X-Drop-Me': '1',
        'Keep-Alive': 'timeout=5',
        'Proxy-Authorization': 'Basic Zm9v',
      },
      body: sent,
    });
    assert.equal(ok.status, 200);
    assert.equal(ok.body.toString(), oddJson, 'the body arrives byte for byte');
    assert.equal(ok.headers['mcp-session-id'], 's-123');
    assert.equal(ok.headers['mcp-param-unknown-thing'], 'kept');
    const up = seen.find((s) => s.url === '/mcp?x=1')!;
    assert.equal(up.body, sent, 'the request body arrives byte for byte');
    assert.equal(up.headers.host, new URL(upstream.url).host);
    assert.equal(up.headers['mcp-protocol-version'], '2026-07-28');
    assert.equal(up.headers['mcp-method'], 'tools/list');
    assert.equal(up.headers['mcp-name'], 'anything');
    assert.equal(up.headers['mcp-param-bar'], 'bar-value');
    assert.equal(up.headers.authorization, 'Bearer abc');
    assert.equal(up.headers['x-drop-me'], undefined);
    assert.equal(up.headers['keep-alive'], undefined);
    assert.equal(up.headers['proxy-authorization'], undefined);
    assert.equal(up.headers['accept-encoding'], undefined, 'no compression asked for on SSE-capable requests');

    const gone = await exchange(`${proxy.url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'mcp-session-id': 'gone' },
      body: '{"jsonrpc":"2.0","id":2,"method":"tools/list"}',
    });
    assert.equal(gone.status, 404);
    assert.match(gone.body.toString(), /Session not found/);
  } finally {
    await proxy.stop();
    await upstream.stop();
  }
});

/** Reads an SSE response through the proxy and resolves each time a given number of `data:` events has arrived. */
function readEvents(res: IncomingMessage, onEvent: (data: string, count: number) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    let count = 0;
    res.setEncoding('utf8');
    res.on('data', (c: string) => {
      text += c;
      const blocks = text.split('\n\n');
      const complete = blocks.length - 1;
      while (count < complete) {
        const block = blocks[count]!;
        count++;
        onEvent(block, count);
      }
    });
    res.on('end', () => resolve(text));
    res.on('close', () => resolve(text));
    res.on('error', reject);
  });
}

function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

function within<T>(p: Promise<T>, what: string, ms = 20_000): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms)))]).finally(() =>
    clearTimeout(timer),
  );
}

test('SSE: a priming event, a comment, multi-line data; each event reaches the client before the upstream writes the next; the call is recorded', async () => {
  const session = `px-sse-raw-${rand()}`;
  const firstSeen = deferred();
  const upstreamDone = deferred();
  const upstream = await startRawUpstream((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const msg = JSON.parse(body);
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write('id: p-1\nretry: 1000\ndata: \n\n'); // priming: empty data
      res.write(': a comment\n\n');
      res.write(`event: message\nid: p-2\ndata: {"jsonrpc":"2.0","method":"notifications/progress",\ndata: "params":{"progressToken":1,"progress":1}}\n\n`);
      // The next event is written only once the client has the first ones: a buffering proxy deadlocks here.
      void firstSeen.promise.then(() => {
        res.end(`id: p-3\ndata: {"jsonrpc":"2.0","id":${JSON.stringify(msg.id)},\ndata: "result":{"content":[{"type":"text","text":"multi\\nline"}]}}\n\n`);
        upstreamDone.resolve();
      });
    });
  });
  const proxy = await proxyTo(`${upstream.url}/mcp`, ['--session', session, '--name', 'raw-sse']);
  try {
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = httpRequest(
        `${proxy.url}/mcp`,
        { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' } },
        resolve,
      );
      req.on('error', reject);
      req.end(JSON.stringify({ jsonrpc: '2.0', id: 'call-1', method: 'tools/call', params: { name: 'slow', arguments: { n: 1 } } }));
    });
    assert.equal(res.headers['content-type'], 'text/event-stream');
    const blocks: string[] = [];
    const text = readEvents(res, (block, n) => {
      blocks.push(block);
      if (n === 3) firstSeen.resolve();
    });
    await within(firstSeen.promise, 'the first three SSE blocks before the upstream writes the fourth');
    const all = await within(text, 'the end of the SSE response');
    await upstreamDone.promise;
    assert.equal(blocks[0], 'id: p-1\nretry: 1000\ndata: ');
    assert.equal(blocks[1], ': a comment');
    assert.ok(all.endsWith('data: "result":{"content":[{"type":"text","text":"multi\\nline"}]}}\n\n'), 'the stream arrives byte for byte');
    const calls = await callsOf(session, 1);
    assert.deepEqual(
      calls.map((c) => [c.tool, c.status, c.request_id, c.server]),
      [['slow', 'ok', '"call-1"', 'raw-sse']],
    );
  } finally {
    await proxy.stop();
    await upstream.stop();
  }
});

test('legacy SSE: an absolute endpoint on the upstream origin is rewritten to the proxy; the posted call and its answer on the stream are recorded', async () => {
  const session = `px-legacy-${rand()}`;
  let stream: import('node:http').ServerResponse | undefined;
  const posted: string[] = [];
  const upstream = await startRawUpstream((req, res) => {
    if (req.method === 'GET') {
      stream = res;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(`: hello\n\nevent: endpoint\ndata: http://${req.headers.host}/message?sessionId=abc\n\n`);
      return;
    }
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      posted.push(`${req.url} ${body}`);
      res.writeHead(202).end('Accepted');
      const msg = JSON.parse(body);
      if (msg.id !== undefined)
        stream?.write(`event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { content: [{ type: 'text', text: 'pong' }] } })}\n\n`);
    });
  });
  const proxy = await proxyTo(`${upstream.url}/sse`, ['--session', session, '--name', 'legacy-raw']);
  try {
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = httpRequest(`${proxy.url}/sse`, { headers: { accept: 'text/event-stream' } }, resolve);
      req.on('error', reject);
      req.end();
    });
    const endpoint = deferred<string>();
    const answer = deferred<string>();
    const done = readEvents(res, (block) => {
      if (block.startsWith('event: endpoint')) endpoint.resolve(block);
      if (block.includes('pong')) answer.resolve(block);
    });
    const block = await within(endpoint.promise, 'the endpoint event');
    assert.equal(block, `event: endpoint\ndata: ${proxy.url}/message?sessionId=abc`);
    const post = await exchange(`${proxy.url}/message?sessionId=abc`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'ping-tool', arguments: {} } }),
    });
    assert.equal(post.status, 202);
    assert.equal(post.body.toString(), 'Accepted');
    await within(answer.promise, 'the answer on the stream');
    assert.deepEqual(
      posted.map((p) => p.split(' ')[0]),
      ['/message?sessionId=abc'],
    );
    res.destroy();
    await done.catch(() => undefined);
    const calls = await callsOf(session, 1);
    assert.deepEqual(
      calls.map((c) => [c.tool, c.status, c.server]),
      [['ping-tool', 'ok', 'legacy-raw']],
    );
    await sessionEvents(session, ['start', 'end']);
  } finally {
    await proxy.stop();
    await upstream.stop();
  }
});

test('a client that disconnects mid-SSE aborts the upstream request; an unreachable upstream is a 502 naming it, and the proxy lives on', async () => {
  const upstreamClosed = deferred();
  const upstream = await startRawUpstream((req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('id: 1\ndata: \n\n');
    res.on('close', () => upstreamClosed.resolve());
  });
  const proxy = await proxyTo(`${upstream.url}/mcp`);
  try {
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest(`${proxy.url}/mcp`, { headers: { accept: 'text/event-stream', 'mcp-session-id': 'live' } }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', (err) => (req.destroyed ? undefined : reject(err)));
      req.end();
    });
    await within(upstreamClosed.promise, 'the upstream to see its request closed');
  } finally {
    await proxy.stop();
    await upstream.stop();
  }

  const deadPort = await freePort();
  const dead = await proxyTo(`http://127.0.0.1:${deadPort}/mcp`);
  try {
    for (let i = 0; i < 2; i++) {
      const r = await exchange(`${dead.url}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
      });
      assert.equal(r.status, 502);
      assert.equal(r.headers['content-type'], 'application/json');
      const body = JSON.parse(r.body.toString());
      assert.equal(body.jsonrpc, '2.0');
      assert.equal(body.error.code, -32000);
      assert.match(body.error.message, new RegExp(`127\\.0\\.0\\.1:${deadPort}/mcp`));
    }
    assert.equal(dead.proc.exitCode, null, 'the proxy is still running');
  } finally {
    await dead.stop();
  }
});

test('2026-07-28: a stateless SDK v2 server behind the proxy — Mcp-Method/Mcp-Name reach it, the v2 client works, calls are recorded', async () => {
  const upstream = await startV2Server('v2-behind-proxy');
  const session = `px-v2-${rand()}`;
  const proxy = await proxyTo(`${upstream.url}/mcp`, ['--session', session]);
  try {
    const client = new ClientV2({ name: 'v2-client', version: '2.4.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    await client.connect(new StreamableHTTPClientTransportV2(new URL('/mcp', proxy.url)));
    const tools = await client.listTools();
    assert.deepEqual(tools.tools.map((t) => t.name).sort(), ['add', 'echo']);
    const r = await client.callTool({ name: 'echo', arguments: { message: 'modern' } });
    assert.deepEqual(r.content, [{ type: 'text', text: 'v2 echo: modern' }]);
    const sum = await client.callTool({ name: 'add', arguments: { a: 20, b: 22 } });
    assert.deepEqual(sum.content, [{ type: 'text', text: '42' }]);
    await client.close();

    const call = upstream.requests.find((q) => q.headers['mcp-method'] === 'tools/call' && q.headers['mcp-name'] === 'echo');
    assert.ok(
      call,
      `Mcp-Method/Mcp-Name reached the upstream: ${JSON.stringify(upstream.requests.map((q) => [q.headers['mcp-method'], q.headers['mcp-name']]))}`,
    );
    assert.equal(call.headers['mcp-protocol-version'], '2026-07-28');
    assert.ok(
      upstream.requests.some((q) => q.headers['mcp-method'] === 'server/discover'),
      'no initialize: server/discover',
    );

    const calls = await callsOf(session, 2);
    assert.deepEqual(
      calls.map((c) => [c.tool, c.status, c.transport, c.server]),
      [
        ['echo', 'ok', 'http', 'v2-behind-proxy'],
        ['add', 'ok', 'http', 'v2-behind-proxy'],
      ],
    );
    assert.match(calls[0].agent, /:v2-client$/, 'the agent names the client from the request _meta');
  } finally {
    await proxy.stop();
    await upstream.stop();
  }
});

// The conformance CLI imports `globSync` from node:fs (Node ≥ 22) for a command
// the server scenarios never run; on Node 20 a resolve hook hands it a node:fs
// with that one export added, so the suite loads at all.
const FS_SHIM = `data:text/javascript,${encodeURIComponent("import fs from 'node:fs'; export * from 'node:fs'; export default fs; export function globSync() { throw new Error('globSync is not available on this Node'); }")}`;
const HOOKS = `data:text/javascript,${encodeURIComponent(
  `export async function resolve(s, c, next) { if ((s === 'fs' || s === 'node:fs') && c.parentURL && c.parentURL.includes('/@modelcontextprotocol/conformance/')) return { url: ${JSON.stringify(FS_SHIM)}, shortCircuit: true }; return next(s, c); }`,
)}`;
const REGISTER = `data:text/javascript,${encodeURIComponent(`import { register } from 'node:module'; register(${JSON.stringify(HOOKS)});`)}`;

/** Runs the MCP conformance suite's server scenarios against `url`; returns the scenarios that passed and those that did not. */
async function conformance(url: string): Promise<{ passed: string[]; failed: string[]; output: string }> {
  const cwd = tempDir('conformance');
  const bin = join(ROOT, 'node_modules', '@modelcontextprotocol', 'conformance', 'dist', 'index.js');
  const proc = spawn(process.execPath, ['--import', REGISTER, bin, 'server', '--url', url], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stdout.on('data', (d: Buffer) => (output += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (output += d.toString()));
  await within(new Promise((r) => proc.once('exit', r)), 'the conformance suite', 180_000).catch((err: unknown) => {
    proc.kill('SIGKILL');
    throw err;
  });
  rmSync(cwd, { recursive: true, force: true });
  const passed: string[] = [];
  const failed: string[] = [];
  for (const m of output.matchAll(/^([✓✗]) ([\w-]+): (\d+) passed, (\d+) failed/gmu)) (m[1] === '✓' ? passed : failed).push(m[2]!);
  return { passed: passed.sort(), failed: failed.sort(), output };
}

test('MCP conformance suite: every scenario server-everything passes directly passes through the proxy (plus DNS-rebinding protection)', async (t) => {
  const upstream = await startEverythingHttp('streamableHttp');
  const proxy = await proxyTo(`${upstream.url}/mcp`, ['--name', 'conformance']);
  try {
    const direct = await conformance(`${upstream.url}/mcp`);
    assert.ok(direct.passed.length >= 10, `the suite ran directly:\n${direct.output.slice(-3000)}`);
    const proxied = await conformance(`${proxy.url}/mcp`);
    for (const name of direct.passed)
      assert.ok(proxied.passed.includes(name), `${name} passes directly but not through the proxy:\n${proxied.output.slice(-3000)}`);
    // The one difference allowed: the proxy on loopback refuses foreign Host names itself
    // (it rewrites Host, so the server's own check could not), which server-everything does not.
    assert.deepEqual(
      proxied.passed.filter((name) => !direct.passed.includes(name)),
      direct.failed.includes('dns-rebinding-protection') ? ['dns-rebinding-protection'] : [],
    );
    t.diagnostic(
      `conformance: ${direct.passed.length} of ${direct.passed.length + direct.failed.length} scenarios pass directly, ${proxied.passed.length} through the proxy; failing both ways: ${proxied.failed.join(', ')}`,
    );
    const r = await waitFor('conformance calls recorded', async () => {
      const x = await rows(tw.url, "SELECT count() AS n FROM tool_calls WHERE server = 'conformance'", TOKEN);
      return x[0].n > 0 ? x : undefined;
    });
    assert.ok(r[0].n > 0);
  } finally {
    await proxy.stop();
    await upstream.stop();
  }
});
