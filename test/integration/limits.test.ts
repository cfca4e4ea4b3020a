/**
 * Per-client limits of a real `tapwatch up` on a real port: alert-stream
 * slots per token (an admin token is never locked out by other tokens'
 * sockets), a request that does not arrive whole within
 * TAPWATCH_REQUEST_TIMEOUT_S is cut, and ingest bodies read at once are capped.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import WebSocket from 'ws';
import { authHeader, localToken, startUp, type RunningTapwatch } from '../support/helpers.js';
import { TokenFile } from '../../dashboard-api/src/tokens.js';

let tw: RunningTapwatch;
const tokens: Record<string, string> = {};
const open: (WebSocket | Socket)[] = [];

before(async () => {
  tw = await startUp({
    env: {
      TAPWATCH_TOKEN: '',
      TAPWATCH_WS_MAX_CLIENTS: '3',
      TAPWATCH_WS_MAX_CLIENTS_PER_TOKEN: '2',
      TAPWATCH_REQUEST_TIMEOUT_S: '1',
      TAPWATCH_INGEST_MAX_INFLIGHT: '2',
    },
  });
  const file = new TokenFile(join(tw.dataDir, 'tokens.json'));
  for (const name of ['x', 'y', 'z']) tokens[name] = file.create(`alerts-${name}-${randomUUID().slice(0, 8)}`, 'alerts').token;
});

after(async () => {
  for (const s of open) {
    if (s instanceof WebSocket) s.terminate();
    else s.destroy();
  }
  await tw?.stop();
});

/**
 * Subscribes with `token` and says whether the stream took the subscriber: a pong to a ping
 * (only subscribers are answered), or the close code and reason it was refused with.
 */
function subscribe(token: string): Promise<{ taken: true } | { taken: false; code: number; reason: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${tw.url.replace(/^http/, 'ws')}/v1/alerts/stream`, { headers: { authorization: `Bearer ${token}` } });
    open.push(ws);
    ws.once('open', () => ws.send(JSON.stringify({ type: 'ping' })));
    ws.on('message', (d) => {
      if ((JSON.parse(d.toString()) as { type?: string }).type === 'pong') resolve({ taken: true });
    });
    ws.once('close', (code, reason) => resolve({ taken: false, code, reason: reason.toString() }));
    ws.once('error', reject);
  });
}

test("one token holds at most its share of alert-stream slots, and other tokens' sockets never lock out an admin", async () => {
  assert.deepEqual(await subscribe(tokens.x!), { taken: true });
  assert.deepEqual(await subscribe(tokens.x!), { taken: true });
  const third = await subscribe(tokens.x!);
  assert.equal(third.taken, false, 'a third socket of one token is refused');
  assert.equal((third as { code: number }).code, 1013);
  assert.match((third as { reason: string }).reason, /TAPWATCH_WS_MAX_CLIENTS_PER_TOKEN/);
  assert.deepEqual(await subscribe(tokens.y!), { taken: true }, 'another token still gets a slot');
  const full = await subscribe(tokens.z!);
  assert.equal(full.taken, false, 'TAPWATCH_WS_MAX_CLIENTS (3) is full');
  assert.match((full as { reason: string }).reason, /TAPWATCH_WS_MAX_CLIENTS\)/);
  assert.deepEqual(await subscribe(localToken()), { taken: true }, 'the admin token subscribes though the stream is full');
});

interface SlowBody {
  socket: Socket;
  /** What the server answered, if anything. */
  answer: () => string;
  /** Resolves when the server has closed the connection. */
  closed: Promise<void>;
}

/** Sends a request's headers and the first bytes of a body that never comes whole. */
function slowBody(path: string): Promise<SlowBody> {
  return new Promise((resolve, reject) => {
    let answer = '';
    const socket = connect(tw.port, '127.0.0.1');
    open.push(socket);
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.on('data', (d: Buffer) => (answer += d.toString()));
    socket.once('error', reject);
    socket.once('connect', () => {
      const auth = authHeader().authorization ?? '';
      socket.write(
        `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:${tw.port}\r\nAuthorization: ${auth}\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n[{"v":1,`,
      );
      resolve({ socket, answer: () => answer, closed });
    });
  });
}

/** Fails after `ms` unless `p` settles first. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_r, rej) => (timer = setTimeout(() => rej(new Error(`${what} after ${ms} ms`)), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

const ingest = (body: string) =>
  fetch(`${tw.url}/v1/ingest`, {
    method: 'POST',
    headers: { ...authHeader(), 'content-type': 'application/json', connection: 'close' },
    body,
    signal: AbortSignal.timeout(10_000),
  });

test('a body that does not arrive within TAPWATCH_REQUEST_TIMEOUT_S is answered 408 and its connection closed', async () => {
  const started = Date.now();
  const slow = await slowBody('/v1/ingest');
  // The deadline is 1 s (checked every 250 ms); 15 s is far from both it and Node's default of 300 s.
  await within(slow.closed, 15_000, 'the slow body was still open');
  assert.ok(slow.answer() === '' || /^HTTP\/1\.1 408/.test(slow.answer()), slow.answer());
  assert.ok(Date.now() - started >= 900, 'not before the deadline');
});

test('past TAPWATCH_INGEST_MAX_INFLIGHT bodies being read, one more ingest gets 503 TAPWATCH_INGEST_BUSY; later ones are taken', async () => {
  const slow = await Promise.all([slowBody('/v1/ingest'), slowBody('/v1/ingest')]);
  // Both reach the handler well within their 1 s deadline.
  await new Promise((r) => setTimeout(r, 200));
  const busy = await ingest('[]');
  assert.equal(busy.status, 503);
  assert.equal(((await busy.json()) as { error: { code: string } }).error.code, 'TAPWATCH_INGEST_BUSY');
  // The slow ones are cut by the request deadline, which frees their slots.
  await within(Promise.all(slow.map((s) => s.closed)), 15_000, 'the slow bodies were still open');
  const r = await ingest('[]');
  assert.equal(r.status, 422, 'read and judged (an empty array), not refused as busy');
});
