/**
 * The SDK tap in process: the real SDK Client and McpServer (v1 and v2) over
 * the SDK's in-memory linked pair, with the wrapper on either end.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import {
  Client as ClientV2,
  InMemoryTransport as InMemoryTransportV2,
  StreamableHTTPClientTransport as StreamableHTTPClientTransportV2,
} from '@modelcontextprotocol/client';
import { McpServer as McpServerV2 } from '@modelcontextprotocol/server';
import { z } from 'zod';
import { tapTransport, type EventSink, type SinkStats } from '@tapwatch/collector';
import { TapEventSchema, type TapEvent } from '@tapwatch/schema';

function newServer(): McpServer {
  const server = new McpServer({ name: 'unit-server', version: '1.2.3' });
  server.registerTool('echo', { description: 'echoes', inputSchema: { message: z.string() } }, async ({ message }) => ({
    content: [{ type: 'text', text: `Echo: ${message}` }],
  }));
  server.registerTool('fail', { description: 'always fails', inputSchema: {} }, async () => ({
    content: [{ type: 'text', text: 'nope' }],
    isError: true,
  }));
  return server;
}

async function exercise(client: Client): Promise<unknown[]> {
  const out: unknown[] = [];
  out.push((await client.listTools()).tools.map((t) => t.name));
  out.push(await client.callTool({ name: 'echo', arguments: { message: 'hi' } }));
  out.push(await client.callTool({ name: 'fail', arguments: {} }));
  return out;
}

function checkEvents(events: TapEvent[]): void {
  for (const e of events) assert.ok(TapEventSchema.safeParse(e).success, `event ${e.type} matches the schema`);
  const types = events.map((e) => e.type);
  assert.deepEqual(types, ['session_start', 'tools_list', 'tool_call', 'tool_call', 'session_end']);
  const calls = events.filter((e) => e.type === 'tool_call');
  assert.deepEqual(
    calls.map((c) => [c.tool, c.status, c.transport]),
    [
      ['echo', 'ok', 'sdk'],
      ['fail', 'tool_error', 'sdk'],
    ],
  );
  const start = events[0]!;
  assert.equal(start.type === 'session_start' && start.serverInfo?.name, 'unit-server');
  assert.equal(start.type === 'session_start' && start.client?.name, 'unit-client');
  assert.equal(new Set(events.map((e) => e.session)).size, 1, 'one session id');
}

test('client side: the SDK client through the wrapper reports every call; results equal those without it', async () => {
  const [plainClientT, plainServerT] = InMemoryTransport.createLinkedPair();
  const plainServer = newServer();
  await plainServer.connect(plainServerT);
  const plain = new Client({ name: 'unit-client', version: '1.0.0' });
  await plain.connect(plainClientT);
  const expected = await exercise(plain);
  await plain.close();

  const events: TapEvent[] = [];
  const [clientT, serverT] = InMemoryTransport.createLinkedPair();
  const server = newServer();
  await server.connect(serverT);
  const client = new Client({ name: 'unit-client', version: '1.0.0' });
  const wrapped = tapTransport(clientT, { side: 'client', sink: (e) => events.push(e), agent: 'a1' });
  assert.ok(wrapped instanceof InMemoryTransport, 'the wrapper is still an InMemoryTransport');
  await client.connect(wrapped);
  assert.deepEqual(await exercise(client), expected);
  await client.close();
  checkEvents(events);
  assert.equal(events[0]!.server, 'unit-server', 'server name from serverInfo when none given');
  assert.equal(events[0]!.agent, 'a1');
});

test('server side: the transport given to McpServer.connect reports every call with the directions reversed', async () => {
  const events: TapEvent[] = [];
  const [clientT, serverT] = InMemoryTransport.createLinkedPair();
  const server = newServer();
  await server.connect(tapTransport(serverT, { side: 'server', server: 'named', sink: (e) => events.push(e), agent: 'a2', session: 'fixed' }));
  const client = new Client({ name: 'unit-client', version: '1.0.0' });
  await client.connect(clientT);
  const results = await exercise(client);
  assert.deepEqual(results[1], { content: [{ type: 'text', text: 'Echo: hi' }] });
  await client.close();
  // Closing the client side closes the pair; the server side learns through onclose.
  checkEvents(events);
  assert.ok(events.every((e) => e.server === 'named' && e.session === 'fixed'));
});

test('send options and the onmessage extra argument pass through unchanged', async () => {
  const [a, b] = InMemoryTransport.createLinkedPair();
  const wrapped = tapTransport(a, { side: 'client', sink: () => undefined, agent: 'x' });
  const seenByB: [JSONRPCMessage, unknown][] = [];
  const seenByWrapped: [JSONRPCMessage, unknown, number][] = [];
  b.onmessage = (m, extra) => seenByB.push([m, extra]);
  wrapped.onmessage = (...args: unknown[]) => seenByWrapped.push([args[0] as JSONRPCMessage, args[1], args.length]);
  await wrapped.start();
  await b.start();
  const auth = { token: 't', clientId: 'c', scopes: ['s'] };
  const ping: JSONRPCMessage = { jsonrpc: '2.0', id: 0, method: 'ping' };
  await wrapped.send(ping, { authInfo: auth } as never);
  assert.deepEqual(seenByB, [[ping, { authInfo: auth }]]);
  await b.send({ jsonrpc: '2.0', id: 0, result: {} }, { authInfo: auth });
  assert.deepEqual(seenByWrapped, [[{ jsonrpc: '2.0', id: 0, result: {} }, { authInfo: auth }, 2]]);
  await wrapped.close();
});

test('callbacks chain like on the bare transport; unknown properties read and write through to it', async () => {
  const [a, b] = InMemoryTransport.createLinkedPair();
  let earlyCloses = 0;
  a.onclose = () => earlyCloses++;
  const events: TapEvent[] = [];
  const wrapped = tapTransport(a, { side: 'client', sink: (e) => events.push(e), agent: 'x' });
  assert.equal(typeof wrapped.onclose, 'function', 'a callback set before wrapping is kept');
  let closes = 0;
  const previous = wrapped.onclose;
  wrapped.onclose = () => {
    previous?.();
    closes++;
  };
  const errors: Error[] = [];
  wrapped.onerror = (e) => errors.push(e);
  a.onerror?.(new Error('boom'));
  assert.deepEqual(
    errors.map((e) => e.message),
    ['boom'],
    'an error raised by the inner transport reaches the handler set on the wrapper',
  );

  (wrapped as unknown as Record<string, unknown>).custom = 42;
  assert.equal((a as unknown as Record<string, unknown>).custom, 42);
  wrapped.sessionId = 'sid-1';
  assert.equal(a.sessionId, 'sid-1');
  a.sessionId = 'sid-2';
  assert.equal(wrapped.sessionId, 'sid-2');
  assert.equal(wrapped.start, wrapped.start, 'a method read twice is the same function');

  await b.start();
  await wrapped.start();
  await wrapped.close();
  // The bare in-memory pair calls onclose twice on the closing side; the wrapper passes each call on…
  assert.ok(closes >= 1);
  assert.equal(earlyCloses, closes);
  // …and ends its session once.
  assert.deepEqual(
    events.map((e) => e.type),
    ['session_start', 'session_end'],
  );
});

test('observation failures never break the transport: a throwing sink, hostile messages', async () => {
  const [clientT, serverT] = InMemoryTransport.createLinkedPair();
  const server = newServer();
  await server.connect(serverT);
  const client = new Client({ name: 'unit-client', version: '1.0.0' });
  let attempts = 0;
  await client.connect(
    tapTransport(clientT, {
      side: 'client',
      agent: 'x',
      sink: () => {
        attempts++;
        throw new Error('sink down');
      },
    }),
  );
  const r = await client.callTool({ name: 'echo', arguments: { message: 'still works' } });
  assert.deepEqual(r.content, [{ type: 'text', text: 'Echo: still works' }]);
  await client.close();
  assert.ok(attempts >= 3, 'the sink was tried for every event');

  // A message the tracker cannot read as JSON-RPC still reaches the peer.
  const [a, b] = InMemoryTransport.createLinkedPair();
  const got: unknown[] = [];
  b.onmessage = (m) => got.push(m);
  const w = tapTransport(a, { side: 'client', sink: () => undefined, agent: 'x' });
  await w.start();
  await b.start();
  const odd = { jsonrpc: '2.0', id: { nested: [1] }, method: 'tools/call', params: { name: 42, arguments: 'x'.repeat(10) } };
  await w.send(odd as never);
  await w.send([odd, null] as never);
  assert.equal(got.length, 2);
  await w.close();
});

test('an EventSink given by the caller receives the events and is not closed by the wrapper', async () => {
  const got: TapEvent[] = [];
  let closed = false;
  const sink: EventSink = {
    send: (e) => void got.push(e),
    close: async (): Promise<SinkStats> => {
      closed = true;
      return sink.stats;
    },
    // Only the fields this test reads; the sink's stats grow with its features.
    stats: { sent: 0, dropped: 0, failedAttempts: 0, queued: 0 } as SinkStats,
  };
  const [clientT, serverT] = InMemoryTransport.createLinkedPair();
  await newServer().connect(serverT);
  const client = new Client({ name: 'unit-client', version: '1.0.0' });
  await client.connect(tapTransport(clientT, { side: 'client', sink, agent: 'x' }));
  await client.callTool({ name: 'echo', arguments: { message: 'm' } });
  await client.close();
  assert.deepEqual(
    got.map((e) => e.type),
    ['session_start', 'tool_call', 'session_end'],
  );
  assert.equal(closed, false);
});

test('bad options are refused at wrap time', () => {
  const [a] = InMemoryTransport.createLinkedPair();
  assert.throws(() => tapTransport(a, { side: 'middle' as 'client', sink: () => undefined, agent: 'x' }), /side must be/);
  assert.throws(() => tapTransport(a, { side: 'client', sink: () => undefined, agent: 'x', capture: 'everything' as 'full' }));
});

test('SDK v2: the v2 Client and McpServer over the v2 in-memory pair, wrapped on both ends', async () => {
  const clientEvents: TapEvent[] = [];
  const serverEvents: TapEvent[] = [];
  const [clientT, serverT] = InMemoryTransportV2.createLinkedPair();
  const server = new McpServerV2({ name: 'unit-server', version: '2.0.0' });
  server.registerTool('echo', { description: 'echoes', inputSchema: z.object({ message: z.string() }) }, async ({ message }) => ({
    content: [{ type: 'text' as const, text: `Echo: ${message}` }],
  }));
  await server.connect(tapTransport(serverT, { side: 'server', sink: (e) => serverEvents.push(e), agent: 'x' }));
  const client = new ClientV2({ name: 'unit-client', version: '1.0.0' });
  await client.connect(tapTransport(clientT, { side: 'client', sink: (e) => clientEvents.push(e), agent: 'x' }));
  const r = await client.callTool({ name: 'echo', arguments: { message: 'v2' } });
  assert.deepEqual(r.content, [{ type: 'text', text: 'Echo: v2' }]);
  await client.close();
  for (const events of [clientEvents, serverEvents]) {
    const calls = events.filter((e) => e.type === 'tool_call');
    assert.deepEqual(
      calls.map((c) => [c.tool, c.status]),
      [['echo', 'ok']],
    );
    assert.equal(events.at(-1)?.type, 'session_end');
  }
});

test('SDK v2: transport members v1 does not have (hasPerRequestStream, setSupportedProtocolVersions) pass through', () => {
  const inner = new StreamableHTTPClientTransportV2(new URL('http://127.0.0.1:9/mcp'));
  const wrapped = tapTransport(inner, { side: 'client', sink: () => undefined, agent: 'x' });
  assert.equal(inner.hasPerRequestStream, true);
  assert.equal(wrapped.hasPerRequestStream, true);
  assert.ok(wrapped instanceof StreamableHTTPClientTransportV2);
  wrapped.setProtocolVersion?.('2025-11-25');
  assert.equal(inner.protocolVersion, '2025-11-25', 'called on the real transport');
});
