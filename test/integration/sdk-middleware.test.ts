/**
 * The SDK tap with real peers: the real SDK client wrapping a stdio transport
 * to server-everything, a real McpServer whose Streamable HTTP transport is
 * wrapped, and the SDK v2 client; events go to a real `tapwatch up` and are
 * read back from tool_calls.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { Client as ClientV2 } from '@modelcontextprotocol/client';
import { StdioClientTransport as StdioClientTransportV2 } from '@modelcontextprotocol/client/stdio';
import { z } from 'zod';
import { tapTransport } from '@tapwatch/collector';
import { EVERYTHING, rows, startUp, waitFor, type RunningTapwatch } from '../support/helpers.js';

let tw: RunningTapwatch;

before(async () => {
  tw = await startUp();
});

after(async () => {
  await tw?.stop();
});

async function storedCalls(session: string, expected: number): Promise<any[]> {
  return waitFor(
    `${expected} calls of session ${session} stored`,
    async () => {
      const r = await rows(
        tw.url,
        'SELECT tool, status, transport, server, agent, request_id FROM tool_calls WHERE session = {s:String} ORDER BY started_at, request_id',
        undefined,
        { s: session },
      );
      return r.length >= expected ? r : undefined;
    },
    30_000,
  );
}

async function everythingCalls(client: { callTool: Client['callTool'] }): Promise<unknown[]> {
  return [
    await client.callTool({ name: 'echo', arguments: { message: 'through the sdk tap' } }),
    await client.callTool({ name: 'get-sum', arguments: { a: 20, b: 22 } }),
  ];
}

test('client side: StdioClientTransport to server-everything; calls land in tool_calls with transport sdk and equal results', async () => {
  const direct = new Client({ name: 'sdk-it', version: '1.0.0' });
  await direct.connect(new StdioClientTransport({ command: process.execPath, args: [EVERYTHING, 'stdio'], stderr: 'pipe' }));
  const expected = await everythingCalls(direct);
  await direct.close();

  const session = `sdk-${randomUUID()}`;
  const client = new Client({ name: 'sdk-it', version: '1.0.0' });
  const transport = tapTransport(new StdioClientTransport({ command: process.execPath, args: [EVERYTHING, 'stdio'], stderr: 'pipe' }), {
    side: 'client',
    server: 'everything',
    sink: tw.url,
    session,
    agent: 'sdk-agent',
  });
  await client.connect(transport);
  assert.ok((await client.listTools()).tools.some((t) => t.name === 'echo'));
  assert.deepEqual(await everythingCalls(client), expected, 'results through the wrapper equal results without it');
  await client.close();

  const calls = await storedCalls(session, 2);
  assert.deepEqual(
    calls.map((c) => [c.tool, c.status, c.transport, c.server, c.agent]),
    [
      ['echo', 'ok', 'sdk', 'everything', 'sdk-agent'],
      ['get-sum', 'ok', 'sdk', 'everything', 'sdk-agent'],
    ],
  );
  const ended = await waitFor('session end stored', async () => {
    const r = await rows(tw.url, 'SELECT count() AS n FROM sessions WHERE session = {s:String}', undefined, { s: session });
    return r[0].n > 0 ? r : undefined;
  });
  assert.ok(ended[0].n > 0);
});

test('server side: a real McpServer over Streamable HTTP; sessionId and setProtocolVersion pass through the wrappers on both ends', async () => {
  const mcp = new McpServer({ name: 'http-server', version: '1.0.0' });
  mcp.registerTool('shout', { description: 'upper-cases', inputSchema: { text: z.string() } }, async ({ text }) => ({
    content: [{ type: 'text', text: text.toUpperCase() }],
  }));
  const inner = new StreamableHTTPServerTransport({ sessionIdGenerator: () => randomUUID() });
  const serverSide = tapTransport(inner, { side: 'server', sink: tw.url, agent: 'sdk-server-agent' });
  await mcp.connect(serverSide);
  const http: Server = createServer((req, res) => {
    // The wrapper forwards methods it does not know about, such as handleRequest.
    void serverSide.handleRequest(req, res);
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const url = new URL(`http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`);
  try {
    const clientInner = new StreamableHTTPClientTransport(url);
    const clientSide = tapTransport(clientInner, { side: 'client', sink: () => undefined, agent: 'x' });
    const client = new Client({ name: 'sdk-http-client', version: '1.0.0' });
    await client.connect(clientSide);

    assert.ok(inner.sessionId, 'the server assigned a session id');
    assert.equal(serverSide.sessionId, inner.sessionId, 'sessionId reads through the server-side wrapper');
    assert.equal(clientSide.sessionId, inner.sessionId, 'sessionId reads through the client-side wrapper');
    assert.ok(clientInner.protocolVersion, 'the client called setProtocolVersion on the real transport through the wrapper');
    assert.equal(clientSide.protocolVersion, clientInner.protocolVersion);

    const r = await client.callTool({ name: 'shout', arguments: { text: 'quiet' } });
    assert.deepEqual(r.content, [{ type: 'text', text: 'QUIET' }]);
    const sessionId = inner.sessionId!;
    await client.close();

    // Events of the server side carry the MCP session id by default.
    const calls = await storedCalls(sessionId, 1);
    assert.deepEqual(
      calls.map((c) => [c.tool, c.status, c.transport, c.server, c.agent]),
      [['shout', 'ok', 'sdk', 'http-server', 'sdk-server-agent']],
    );
  } finally {
    await serverSide.close();
    await new Promise((r) => http.close(r));
  }
});

test('SDK v2: @modelcontextprotocol/client over its stdio transport, wrapped; calls land in tool_calls', async () => {
  const session = `sdk2-${randomUUID()}`;
  const client = new ClientV2({ name: 'sdk-v2-it', version: '1.0.0' });
  const transport = tapTransport(new StdioClientTransportV2({ command: process.execPath, args: [EVERYTHING, 'stdio'], stderr: 'pipe' }), {
    side: 'client',
    sink: tw.url,
    session,
    agent: 'sdk-v2-agent',
  });
  await client.connect(transport);
  const results = await everythingCalls(client as unknown as { callTool: Client['callTool'] });
  assert.match(JSON.stringify(results[0]), /through the sdk tap/);
  assert.match(JSON.stringify(results[1]), /42/);
  await client.close();
  const calls = await storedCalls(session, 2);
  assert.deepEqual(
    calls.map((c) => [c.tool, c.status, c.transport, c.agent]),
    [
      ['echo', 'ok', 'sdk', 'sdk-v2-agent'],
      ['get-sum', 'ok', 'sdk', 'sdk-v2-agent'],
    ],
  );
  assert.ok(
    calls.every((c) => c.server.length > 0 && c.server !== 'unknown'),
    'server name from serverInfo',
  );
});
