import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TapEventSchema, type TapEvent, type ToolCallEvent } from '@tapwatch/schema';
import { SessionTracker, commandName } from '@tapwatch/collector';

function setup(identity: Partial<ConstructorParameters<typeof SessionTracker>[0]> = {}) {
  const events: TapEvent[] = [];
  let now = 1_700_000_000_000;
  const tracker = new SessionTracker(
    { session: 's1', transport: 'stdio', fallbackServerName: 'cmd', hostname: 'host', parentPid: 42, ...identity },
    (e) => events.push(TapEventSchema.parse(e)), // every emitted event must satisfy the schema
    () => now,
  );
  const send = (dir: 'client' | 'server', msg: unknown) => tracker.observeLine(dir, Buffer.from(JSON.stringify(msg)));
  return { tracker, events, send, tick: (ms: number) => (now += ms) };
}

const calls = (events: TapEvent[]) => events.filter((e): e is ToolCallEvent => e.type === 'tool_call');

function initialize(send: ReturnType<typeof setup>['send']) {
  send('client', { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', clientInfo: { name: 'claude', version: '1' }, capabilities: {} } });
  send('server', { jsonrpc: '2.0', id: 0, result: { protocolVersion: '2025-06-18', serverInfo: { name: 'srv', version: '2' }, capabilities: {} } });
}

test('session_start carries client and server info from initialize; agent derives from host, parent and client', () => {
  const { events, send } = setup();
  initialize(send);
  const start = events.find((e) => e.type === 'session_start');
  assert.ok(start && start.type === 'session_start');
  assert.equal(start.client?.name, 'claude');
  assert.equal(start.serverInfo?.name, 'srv');
  assert.equal(start.protocolVersion, '2025-06-18');
  assert.equal(start.server, 'srv');
  assert.equal(start.agent, 'host:42:claude');
});

test('--name and --agent win over serverInfo and the derived agent', () => {
  const { events, send } = setup({ serverName: 'files', agent: 'a-1' });
  initialize(send);
  assert.equal(events[0]!.server, 'files');
  assert.equal(events[0]!.agent, 'a-1');
});

test('a tools/call is paired with its response by id: sizes, duration, status', () => {
  const { events, send, tick } = setup();
  initialize(send);
  send('client', { jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'echo', arguments: { message: 'hi' } } });
  tick(25);
  const result = { content: [{ type: 'text', text: 'Echo: hi' }] };
  send('server', { jsonrpc: '2.0', id: 5, result });
  const [c] = calls(events);
  assert.ok(c);
  assert.equal(c.tool, 'echo');
  assert.equal(c.requestBytes, Buffer.byteLength(JSON.stringify({ message: 'hi' })));
  assert.equal(c.responseBytes, Buffer.byteLength(JSON.stringify(result)));
  assert.equal(c.durationMs, 25);
  assert.equal(c.status, 'ok');
  assert.equal(c.isError, false);
  assert.deepEqual(c.argumentKeys, ['message']);
  assert.match(c.argumentsHash, /^[0-9a-f]{64}$/);
});

test('ids 0 and "0" are different requests; responses out of order pair correctly', () => {
  const { events, send } = setup();
  send('client', { jsonrpc: '2.0', id: 0, method: 'tools/call', params: { name: 'a', arguments: {} } });
  send('client', { jsonrpc: '2.0', id: '0', method: 'tools/call', params: { name: 'b', arguments: {} } });
  send('server', { jsonrpc: '2.0', id: '0', result: { content: [], isError: true } });
  send('server', { jsonrpc: '2.0', id: 0, result: { content: [] } });
  const got = calls(events).map((c) => [c.tool, c.requestId, c.status]);
  assert.deepEqual(got, [
    ['b', '"0"', 'tool_error'],
    ['a', '0', 'ok'],
  ]);
});

test('JSON-RPC errors, batches, cancellation and calls left open at the end', () => {
  const { tracker, events, send } = setup();
  send('client', [
    { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'x' } },
    { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'y' } },
    { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'z' } },
  ]);
  send('server', { jsonrpc: '2.0', id: 1, error: { code: -32602, message: 'bad args' } });
  send('client', { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 2 } });
  tracker.end(0, null);
  const got = calls(events).map((c) => [c.tool, c.status, c.errorCode]);
  assert.deepEqual(got, [
    ['x', 'rpc_error', -32602],
    ['y', 'cancelled', null],
    ['z', 'incomplete', null],
  ]);
  const end = events.at(-1);
  assert.ok(end?.type === 'session_end');
  assert.equal(end.calls, 3);
  assert.equal(end.incomplete, 1);
});

test('tools/list results become a tools_list event; server→client requests are not tool calls', () => {
  const { events, send } = setup();
  send('client', { jsonrpc: '2.0', id: 'l1', method: 'tools/list' });
  send('server', { jsonrpc: '2.0', id: 'l1', result: { tools: [{ name: 'echo', description: 'Echo', inputSchema: { type: 'object' } }, { bogus: true }] } });
  send('server', { jsonrpc: '2.0', id: 9, method: 'sampling/createMessage', params: {} });
  send('client', { jsonrpc: '2.0', id: 9, result: {} });
  const lists = events.filter((e) => e.type === 'tools_list');
  assert.equal(lists.length, 1);
  assert.deepEqual(lists[0]!.type === 'tools_list' && lists[0]!.tools.map((t) => t.name), ['echo']);
  assert.equal(calls(events).length, 0);
});

test('non-JSON lines are counted, never fatal', () => {
  const { tracker, events } = setup();
  tracker.observeLine('server', Buffer.from('Starting server...'));
  tracker.observeLine('server', Buffer.from('42'));
  tracker.end(null, 'SIGTERM');
  const end = events.at(-1);
  assert.ok(end?.type === 'session_end');
  assert.equal(end.nonJsonLines, 2);
  assert.equal(end.signal, 'SIGTERM');
});

test('commandName picks a readable server name from a command line', () => {
  assert.equal(commandName('npx', ['-y', '@modelcontextprotocol/server-filesystem', '/tmp']), 'server-filesystem');
  assert.equal(commandName('uvx', ['mcp-server-time']), 'mcp-server-time');
  assert.equal(commandName('/usr/bin/my-server', []), 'my-server');
});
