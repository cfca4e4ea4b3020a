/**
 * Authenticated by default, on a real `tapwatch up` with no token configured
 * and a credentials directory of its own: it creates a 0600 admin and ingest
 * token, refuses every route but a minimal `/healthz` without one, prints the
 * dashboard URL with the admin token; the CLI and a real tap find their token
 * without configuration, and the tap's (ingest) token can do nothing else.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { EVERYTHING, TAPWATCH_BIN, connectThroughTap, rows, startUp, tempDir, waitFor, wsUpgradeStatus, type RunningTapwatch } from '../support/helpers.js';
import { toolCallEvent } from '../support/events.js';

const credentials = join(tempDir('credentials'), 'creds');
const env = { TAPWATCH_CREDENTIALS_DIR: credentials, TAPWATCH_TOKEN: '', TAPWATCH_TOKEN_FILE: '' };
let tw: RunningTapwatch;
let admin = '';
let ingest = '';

function cli(args: string[], extra: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env, TAPWATCH_URL: tw.url, ...extra };
    execFile(process.execPath, [TAPWATCH_BIN, ...args], { env: childEnv, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function call(method: string, path: string, token?: string, body?: unknown): Promise<{ status: number; body: any }> {
  const r = await fetch(`${tw.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await r.text();
  return { status: r.status, body: text.startsWith('{') || text.startsWith('[') ? JSON.parse(text) : text };
}

before(async () => {
  tw = await startUp({ env });
  admin = readFileSync(join(credentials, 'admin.token'), 'utf8').trim();
  ingest = readFileSync(join(credentials, 'ingest.token'), 'utf8').trim();
});
after(async () => {
  await tw?.stop();
});

test('tapwatch up creates private admin and ingest tokens and prints the dashboard URL with the admin one', () => {
  assert.match(admin, /^tw_[A-Za-z0-9_-]{43}$/);
  assert.match(ingest, /^tw_[A-Za-z0-9_-]{43}$/);
  assert.notEqual(admin, ingest);
  assert.equal(statSync(credentials).mode & 0o777, 0o700);
  for (const f of ['admin.token', 'ingest.token']) assert.equal(statSync(join(credentials, f)).mode & 0o777, 0o600, f);
  assert.ok(tw.output().includes(`dashboard: ${tw.url}/#token=${admin}\n`), tw.output());
  assert.ok(!tw.output().includes(ingest), 'the ingest token is not printed');
});

test('without a token every route but the status of /healthz is 401, the WebSocket included', async () => {
  for (const [method, path, body] of [
    ['GET', '/v1/alerts'],
    ['GET', '/v1/silences'],
    ['POST', '/v1/silences', { detector: 'exfiltration_chain', durationMinutes: 5, reason: 'x' }],
    ['POST', '/v1/sql', { sql: 'SELECT 1' }],
    ['POST', '/v1/ingest', [toolCallEvent({ session: 'no-token' })]],
    ['GET', '/v1/calls'],
    ['GET', '/metrics'],
  ] as Array<[string, string, unknown?]>) {
    assert.equal((await call(method, path, undefined, body)).status, 401, `${method} ${path}`);
    assert.equal((await call(method, path, 'tw_wrong', body)).status, 401, `${method} ${path} with a wrong token`);
  }
  assert.equal(await wsUpgradeStatus(`${tw.url.replace(/^http/, 'ws')}/v1/alerts/stream`), 401);
  const open = await call('GET', '/healthz');
  assert.equal(open.status, 200);
  assert.deepEqual(open.body, { status: 'ok' }, 'no counts, sizes or learning state without a token');
  const full = await call('GET', '/healthz', admin);
  assert.equal(full.body.status, 'ok');
  assert.ok(full.body.ingest && full.body.storage, 'details with a token');
  assert.equal((await rows(tw.url, 'SELECT 1 AS one', admin))[0].one, 1);
});

test('the ingest token sends events and nothing else', async () => {
  const ev = toolCallEvent({ session: `ingest-only-${Date.now()}` });
  assert.equal((await call('POST', '/v1/ingest', ingest, [ev])).status, 202);
  assert.equal((await call('POST', '/v1/sql', ingest, { sql: 'SELECT 1' })).status, 403);
  assert.equal((await call('GET', '/v1/alerts', ingest)).status, 403);
  assert.equal((await call('POST', '/v1/silences', ingest, { detector: 'exfiltration_chain', durationMinutes: 5, reason: 'x' })).status, 403);
  assert.equal(await wsUpgradeStatus(`${tw.url.replace(/^http/, 'ws')}/v1/alerts/stream`, { authorization: `Bearer ${ingest}` }), 403);
  await waitFor('the event stored', async () => (await rows(tw.url, `SELECT 1 FROM tool_calls WHERE session = '${ev.session}'`, admin)).length === 1);
});

test('the CLI finds the admin token, a real tap the ingest token; neither needs a setting', async () => {
  const sql = await cli(['sql', 'SELECT 41 + 1 AS answer']);
  assert.equal(sql.code, 0, sql.stderr);
  assert.match(sql.stdout, /42/);
  const status = await cli(['status']);
  assert.equal(status.code, 0, status.stderr);
  // Another user's machine, or a remote URL: the local token is not sent, so the answer is 401.
  const elsewhere = await cli(['sql', 'SELECT 1'], { TAPWATCH_CREDENTIALS_DIR: join(tempDir('empty'), 'none') });
  assert.equal(elsewhere.code, 1);
  assert.match(elsewhere.stderr, /TAPWATCH_UNAUTHORIZED/);

  const tapped = await connectThroughTap({ sink: tw.url, name: 'auth-default', server: [process.execPath, EVERYTHING, 'stdio'], env });
  await tapped.client.callTool({ name: 'echo', arguments: { message: 'hello' } });
  await tapped.close();
  await waitFor('the tapped call stored', async () => (await rows(tw.url, `SELECT 1 FROM tool_calls WHERE session = '${tapped.session}'`, admin)).length === 1);
});

test('a second tapwatch up keeps the tokens; a credentials file others can read stops it', async () => {
  const second = await startUp({ env });
  try {
    assert.equal(readFileSync(join(credentials, 'admin.token'), 'utf8').trim(), admin, 'not replaced');
    assert.equal((await rows(second.url, 'SELECT 1 AS one', admin))[0].one, 1);
  } finally {
    await second.stop();
  }
  const lax = join(tempDir('lax'), 'creds');
  const first = await startUp({ env: { ...env, TAPWATCH_CREDENTIALS_DIR: lax } });
  await first.stop();
  chmodSync(join(lax, 'admin.token'), 0o644);
  const r = await new Promise<{ code: number; stderr: string }>((resolve) =>
    execFile(
      process.execPath,
      [TAPWATCH_BIN, 'up', '--port', '0', '--data', tempDir('data')],
      { env: { ...process.env, ...env, TAPWATCH_CREDENTIALS_DIR: lax }, timeout: 60_000 },
      (err, _stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
    ),
  );
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /not a private file of this user/);
});

test('with TAPWATCH_TOKEN set no local token is accepted', async () => {
  const configured = await startUp({ env: { ...env, TAPWATCH_TOKEN: 'operator-chosen-token' } });
  try {
    assert.equal((await fetch(`${configured.url}/v1/alerts`, { headers: { authorization: `Bearer ${admin}` } })).status, 401);
    assert.equal((await fetch(`${configured.url}/v1/alerts`, { headers: { authorization: 'Bearer operator-chosen-token' } })).status, 200);
    assert.ok(!configured.output().includes('#token='), 'no URL with a token printed');
  } finally {
    await configured.stop();
  }
});
