/**
 * The headers browsers send, on every kind of route of a real `tapwatch up`:
 * a rebound Host is 421, a foreign Origin 403, a body that is not JSON 415,
 * the WebSocket upgrade included; no route answers with CORS headers; the
 * names and origins in TAPWATCH_ALLOWED_HOSTS/ORIGINS are let through.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { authHeader, startUp, wsUpgradeStatus, type RunningTapwatch } from '../support/helpers.js';

let tw: RunningTapwatch;
let listed: RunningTapwatch;

before(async () => {
  [tw, listed] = await Promise.all([
    startUp(),
    startUp({ env: { TAPWATCH_ALLOWED_HOSTS: 'tapwatch.internal', TAPWATCH_ALLOWED_ORIGINS: 'https://dash.example' } }),
  ]);
});

after(async () => {
  await Promise.all([tw?.stop(), listed?.stop()]);
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function send(port: number, method: string, path: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        headers: { ...authHeader(), ...headers, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const ROUTES: Array<[string, string, string?]> = [
  ['GET', '/healthz'],
  ['GET', '/'],
  ['GET', '/v1/alerts'],
  ['GET', '/v1/openapi.json'],
  ['POST', '/v1/sql', JSON.stringify({ sql: 'SELECT 1' })],
  ['POST', '/v1/silences', JSON.stringify({ detector: 'exfiltration_chain', durationMinutes: 5, reason: 'test' })],
  ['POST', '/v1/ingest', '[]'],
  ['GET', '/no/such/route'],
];

test('a Host that is not loopback, an IP or listed gets 421 on every route and on the upgrade', async () => {
  for (const [method, path, body] of ROUTES) {
    const a = await send(tw.port, method, path, { host: `rebind.example:${tw.port}`, 'content-type': 'application/json' }, body);
    assert.equal(a.status, 421, `${method} ${path}`);
    assert.equal((JSON.parse(a.body) as { error: { code: string } }).error.code, 'TAPWATCH_FOREIGN_HOST');
  }
  assert.equal(await wsUpgradeStatus(`ws://127.0.0.1:${tw.port}/v1/alerts/stream`, { host: `rebind.example:${tw.port}` }), 421);
  for (const host of [`localhost:${tw.port}`, `127.0.0.1:${tw.port}`, `[::1]:${tw.port}`]) {
    assert.equal((await send(tw.port, 'GET', '/healthz', { host })).status, 200, host);
  }
});

test("a request from another origin is 403 on every route and the upgrade; the API's own origin passes", async () => {
  for (const [method, path, body] of ROUTES) {
    const a = await send(tw.port, method, path, { origin: 'http://127.0.0.1:1', 'content-type': 'application/json' }, body);
    assert.equal(a.status, 403, `${method} ${path}`);
    assert.equal((JSON.parse(a.body) as { error: { code: string } }).error.code, 'TAPWATCH_FOREIGN_ORIGIN');
    assert.equal(a.headers['access-control-allow-origin'], undefined);
  }
  assert.equal(await wsUpgradeStatus(`ws://127.0.0.1:${tw.port}/v1/alerts/stream`, { origin: 'https://evil.example' }), 403);
  assert.equal(await wsUpgradeStatus(`ws://127.0.0.1:${tw.port}/v1/alerts/stream`, { origin: 'null' }), 403);
  assert.equal(await wsUpgradeStatus(`ws://127.0.0.1:${tw.port}/v1/alerts/stream`, { ...authHeader(), origin: `http://127.0.0.1:${tw.port}` }), 101);
  const own = await send(
    tw.port,
    'POST',
    '/v1/sql',
    { origin: `http://127.0.0.1:${tw.port}`, 'content-type': 'application/json' },
    JSON.stringify({ sql: 'SELECT 1' }),
  );
  assert.equal(own.status, 200);
});

test('bodies in any type but application/json are 415 and change nothing', async () => {
  const silence = JSON.stringify({ detector: 'exfiltration_chain', durationMinutes: 100000, reason: 'a simple request' });
  for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonx']) {
    for (const path of ['/v1/silences', '/v1/ingest', '/v1/sql']) {
      const a = await send(tw.port, 'POST', path, { 'content-type': type }, silence);
      assert.equal(a.status, 415, `${type} ${path}`);
      assert.equal((JSON.parse(a.body) as { error: { code: string } }).error.code, 'TAPWATCH_UNSUPPORTED_MEDIA_TYPE');
    }
  }
  const listedNow = JSON.parse((await send(tw.port, 'GET', '/v1/silences', {})).body) as { items: unknown[] };
  assert.deepEqual(listedNow.items, []);
  const ok = await send(tw.port, 'POST', '/v1/silences', { 'content-type': 'application/json; charset=utf-8' }, silence);
  assert.equal(ok.status, 201);
});

test('listed host names and origins are answered; others still are not', async () => {
  const port = listed.port;
  assert.equal((await send(port, 'GET', '/healthz', { host: `tapwatch.internal:${port}` })).status, 200);
  assert.equal((await send(port, 'GET', '/healthz', { host: `other.internal:${port}` })).status, 421);
  const fromDash = await send(
    port,
    'POST',
    '/v1/sql',
    { origin: 'https://dash.example', 'content-type': 'application/json' },
    JSON.stringify({ sql: 'SELECT 1' }),
  );
  assert.equal(fromDash.status, 200);
  assert.equal((await send(port, 'GET', '/v1/alerts', { origin: 'https://other.example' })).status, 403);
  assert.equal(
    await wsUpgradeStatus(`ws://127.0.0.1:${port}/v1/alerts/stream`, { ...authHeader(), host: `tapwatch.internal:${port}`, origin: 'https://dash.example' }),
    101,
  );
});
