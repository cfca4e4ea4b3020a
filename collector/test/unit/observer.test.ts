import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TapEventSchema, UNOBSERVED_REASON, type TapEvent } from '@tapwatch/schema';
import { InlineObserver, WorkerObserver, type TrackerIdentity } from '@tapwatch/collector';

const identity: TrackerIdentity = { session: 's-obs', transport: 'stdio', fallbackServerName: 'srv', hostname: 'h', parentPid: 1, agent: 'a' };

/** A session as wire bytes: initialize, a list, N calls with results, each message cut at awkward places. */
function session(calls: number): { client: Buffer[]; server: Buffer[] } {
  const line = (m: unknown) => Buffer.from(JSON.stringify(m) + '\n');
  const client = [
    line({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', clientInfo: { name: 'c' }, capabilities: {} } }),
  ];
  const server = [line({ jsonrpc: '2.0', id: 0, result: { protocolVersion: '2025-06-18', serverInfo: { name: 'srv' }, capabilities: {} } })];
  for (let i = 1; i <= calls; i++) {
    client.push(line({ jsonrpc: '2.0', id: i, method: 'tools/call', params: { name: 'echo', arguments: { message: `m${i} AKIA${'Q'.repeat(16)}` } } }));
    server.push(line({ jsonrpc: '2.0', id: i, result: { content: [{ type: 'text', text: `echo ${i} `.repeat(50) }] } }));
  }
  // Re-chunk: split every message in two uneven pieces.
  const rechunk = (bufs: Buffer[]) => bufs.flatMap((b) => [b.subarray(0, 7), b.subarray(7)]);
  return { client: rechunk(client), server: rechunk(server) };
}

async function observe(observer: InlineObserver | WorkerObserver, s: { client: Buffer[]; server: Buffer[] }) {
  for (let i = 0; i < Math.max(s.client.length, s.server.length); i++) {
    // Fresh copies: the observer must not depend on the caller keeping the chunk.
    if (s.client[i]) observer.data('client', Buffer.from(s.client[i]!));
    if (s.server[i]) observer.data('server', Buffer.from(s.server[i]!));
  }
  return observer.end(0, null, 10_000);
}

const comparable = (events: TapEvent[]) => events.map((e) => ({ ...e, id: '', time: '', ...(e.type === 'tool_call' ? { startedAt: '', durationMs: 0 } : {}) }));

test('the worker observer reports the same events, in the same order, as observing inline', async () => {
  const s = session(40);
  const inline: TapEvent[] = [];
  const threaded: TapEvent[] = [];
  await observe(new InlineObserver(identity, (e) => inline.push(e)), s);
  const summary = await observe(new WorkerObserver(identity, (e) => threaded.push(TapEventSchema.parse(e))), s);
  assert.equal(summary.skippedChunks, 0);
  assert.equal(threaded.filter((e) => e.type === 'tool_call').length, 40);
  assert.deepEqual(comparable(threaded), comparable(inline));
  // Content checks ran in the thread: the key in the arguments is found and masked.
  const call = threaded.find((e) => e.type === 'tool_call');
  assert.ok(call?.type === 'tool_call' && call.findings?.some((f) => f.kind === 'secret'));
  assert.doesNotMatch(JSON.stringify(threaded), /AKIAQQQQ/);
});

test('past its bound in flight the worker observer leaves chunks out, counts them and resyncs framing', async () => {
  const s = session(200);
  const events: TapEvent[] = [];
  const observer = new WorkerObserver(identity, (e) => events.push(TapEventSchema.parse(e)), { maxInFlightBytes: 4096 });
  const summary = await observe(observer, s);
  assert.ok(summary.skippedChunks > 0, 'a burst larger than the bound is partly left out');
  assert.ok(summary.skippedBytes > 0);
  const calls = events.filter((e) => e.type === 'tool_call');
  assert.ok(calls.length > 0, 'observation went on after the gap');
  // Whatever was seen is whole: every reported call has its own tool and id, no message glued to another.
  for (const c of calls) assert.ok(c.type === 'tool_call' && c.tool === 'echo' && /^\d+$/.test(c.requestId));
  assert.equal(events.at(-1)?.type, 'session_end');
  // What was left out is in the history: gaps of the session, which add up to every chunk skipped.
  const gaps = events.filter((e) => e.type === 'delivery_gap');
  assert.ok(gaps.length > 0);
  for (const g of gaps) assert.ok(g.type === 'delivery_gap' && g.reason.startsWith(UNOBSERVED_REASON) && g.session === 's-obs', JSON.stringify(g));
  assert.equal(
    gaps.reduce((n, g) => n + (g.type === 'delivery_gap' ? g.dropped : 0), 0),
    summary.skippedChunks,
  );
});

test('batched chunks keep the time they were relayed: a call lasts as long as the relay saw it', async () => {
  const events: TapEvent[] = [];
  // One batch for the whole session: without the relay's timestamps the call would last 0 ms.
  const observer = new WorkerObserver(identity, (e) => events.push(TapEventSchema.parse(e)), { batchMs: 10_000 });
  const s = session(1);
  for (const c of s.client.slice(0, 2)) observer.data('client', c);
  for (const c of s.server.slice(0, 2)) observer.data('server', c);
  observer.data('client', Buffer.concat(s.client.slice(2)));
  const t0 = Date.now();
  while (Date.now() - t0 < 60) {
    // Busy-wait: the relay's clock moves while the batch is still gathering.
  }
  observer.data('server', Buffer.concat(s.server.slice(2)));
  await observer.end(0, null, 10_000);
  const call = events.find((e) => e.type === 'tool_call');
  assert.ok(call?.type === 'tool_call');
  assert.ok(call.durationMs >= 55, `durationMs ${call.durationMs}`);
});

test('the worker observer observes a 20 MB result relayed in 64 KB chunks and in one piece', async () => {
  const text = 'lorem ipsum dolor sit amet '.repeat(Math.ceil((20 * 1024 * 1024) / 27));
  const request = Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'read', arguments: { path: '/x' } } }) + '\n');
  const response = Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 1, result: { content: [{ type: 'text', text }] } }) + '\n');
  for (const chunkBytes of [64 * 1024, response.length]) {
    const events: TapEvent[] = [];
    const observer = new WorkerObserver(identity, (e) => events.push(e), { maxInFlightBytes: 64 * 1024 * 1024 });
    observer.data('client', request);
    for (let i = 0; i < response.length; i += chunkBytes) observer.data('server', response.subarray(i, i + chunkBytes));
    const summary = await observer.end(0, null, 60_000);
    assert.equal(summary.skippedChunks, 0);
    const call = events.find((e) => e.type === 'tool_call');
    assert.ok(call?.type === 'tool_call' && call.status === 'ok', `a tool_call for chunks of ${chunkBytes} B`);
    assert.equal(call.responseBytes, response.length - 1 - Buffer.byteLength('{"jsonrpc":"2.0","id":1,"result":}'));
  }
});
