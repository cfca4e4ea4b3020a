/**
 * Tokens with roles on a real `tapwatch up`: created, listed and revoked with
 * `tapwatch token` while the server runs, stored hashed, and enforced on the
 * HTTP routes and the WebSocket (401 without a valid token, 403 with a role
 * that does not allow the route); TAPWATCH_TOKEN stays admin.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { TAPWATCH_BIN, startUp, waitFor, wsUpgradeStatus, type RunningTapwatch } from '../support/helpers.js';
import { toolCallEvent } from '../support/events.js';

const ADMIN = `admin-${randomUUID()}`;
let tw: RunningTapwatch;
const tokens: Record<string, string> = {};

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env: NodeJS.ProcessEnv = { ...process.env, TAPWATCH_URL: tw.url };
    delete env.TAPWATCH_TOKEN;
    delete env.TAPWATCH_TOKENS_FILE;
    execFile(process.execPath, [TAPWATCH_BIN, ...args], { env, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

function event() {
  return toolCallEvent({ session: 'tokens', server: 'tokens-srv', tool: 'read', requestBytes: 1, responseBytes: 1 });
}

const auth = (token?: string): Record<string, string> => (token ? { authorization: `Bearer ${token}` } : {});

async function status(method: string, path: string, token?: string, body?: unknown): Promise<number> {
  const r = await fetch(`${tw.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...auth(token) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  await r.arrayBuffer();
  return r.status;
}

const wsStatus = (token?: string) => wsUpgradeStatus(`${tw.url.replace(/^http/, 'ws')}/v1/alerts/stream`, auth(token));

before(async () => {
  tw = await startUp({ token: ADMIN });
  for (const role of ['alerts', 'sql', 'ingest', 'admin']) {
    const r = await cli(['token', 'create', '--role', role, '--name', `${role}-bot`, '--data', tw.dataDir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^tw_[A-Za-z0-9_-]{43}\n$/);
    assert.match(r.stderr, new RegExp(`created ${role}-bot \\(id [0-9a-f]{8}, role ${role}\\)`));
    tokens[role] = r.stdout.trim();
  }
});
after(async () => {
  await tw?.stop();
});

test('each role reaches exactly its routes: 401 without a valid token, 403 with the wrong role', async () => {
  const sql = { sql: 'SELECT count() AS n FROM tool_calls' };
  const cases: [string, string, unknown, Record<string, number>][] = [
    ['POST', '/v1/sql', sql, { none: 401, bogus: 401, alerts: 403, sql: 200, ingest: 403, admin: 200, env: 200 }],
    ['POST', '/v1/ingest', [event()], { none: 401, bogus: 401, alerts: 403, sql: 403, ingest: 202, admin: 202, env: 202 }],
    ['GET', '/v1/alerts', undefined, { none: 401, bogus: 401, alerts: 200, sql: 200, ingest: 403, admin: 200, env: 200 }],
    ['GET', '/v1/calls', undefined, { none: 401, bogus: 401, alerts: 403, sql: 200, ingest: 403, admin: 200, env: 200 }],
    ['GET', '/v1/openapi.json', undefined, { none: 401, bogus: 401, alerts: 200, sql: 200, ingest: 200, admin: 200, env: 200 }],
  ];
  const tokenOf = (who: string) => (who === 'none' ? undefined : who === 'bogus' ? 'tw_not-a-token' : who === 'env' ? ADMIN : tokens[who]);
  for (const [method, path, body, expected] of cases) {
    for (const [who, want] of Object.entries(expected)) {
      assert.equal(await status(method, path, tokenOf(who), body), want, `${who} ${method} ${path}`);
    }
  }
  const forbidden = await fetch(`${tw.url}/v1/sql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...auth(tokens.ingest) },
    body: JSON.stringify(sql),
  });
  const err = ((await forbidden.json()) as any).error;
  assert.equal(err.code, 'TAPWATCH_FORBIDDEN');
  assert.match(err.message, /POST \/v1\/sql needs the sql role/);
  // Silencing is an administrator's decision.
  const silence = { detector: 'x', minutes: 5, reason: 'test' };
  assert.equal(await status('POST', '/v1/silences', tokens.sql, silence), 403);
  assert.equal(await status('POST', '/v1/silences', tokens.alerts, silence), 403);
});

test('the WebSocket: alerts, sql and admin tokens open it, ingest gets 403, none or a wrong one 401; ?token= works', async () => {
  assert.equal(await wsStatus(), 401);
  assert.equal(await wsStatus('tw_wrong'), 401);
  assert.equal(await wsStatus(tokens.ingest), 403);
  assert.equal(await wsStatus(tokens.alerts), 101);
  assert.equal(await wsStatus(tokens.sql), 101);
  assert.equal(await wsStatus(tokens.admin), 101);
  assert.equal(await wsStatus(ADMIN), 101);
  assert.equal(await wsUpgradeStatus(`${tw.url.replace(/^http/, 'ws')}/v1/alerts/stream?token=${encodeURIComponent(tokens.alerts!)}`), 101);
});

test('tokens are stored hashed in a 0600 file; list shows no secrets; revoke applies at once', async () => {
  const file = join(tw.dataDir, 'tokens.json');
  const text = readFileSync(file, 'utf8');
  for (const t of Object.values(tokens)) assert.ok(!text.includes(t), 'the token itself is not stored');
  assert.equal(statSync(file).mode & 0o777, 0o600);

  const list = await cli(['token', 'list', '--data', tw.dataDir]);
  assert.equal(list.code, 0);
  assert.match(list.stdout, /^id\s+name\s+role\s+created\n/);
  for (const role of ['alerts', 'sql', 'ingest', 'admin']) assert.match(list.stdout, new RegExp(`${role}-bot\\s+${role}\\s`));
  for (const t of Object.values(tokens)) assert.ok(!list.stdout.includes(t));

  const dup = await cli(['token', 'create', '--role', 'sql', '--name', 'sql-bot', '--data', tw.dataDir]);
  assert.equal(dup.code, 1);
  assert.match(dup.stderr, /a token named sql-bot exists/);
  const badRole = await cli(['token', 'create', '--role', 'root', '--name', 'x', '--data', tw.dataDir]);
  assert.equal(badRole.code, 2);
  assert.match(badRole.stderr, /--role must be one of alerts, sql, ingest, admin/);

  assert.equal(await status('POST', '/v1/sql', tokens.sql, { sql: 'SELECT 1' }), 200);
  const revoked = await cli(['token', 'revoke', 'sql-bot', '--data', tw.dataDir]);
  assert.equal(revoked.code, 0, revoked.stderr);
  await waitFor('the revoked token refused', async () => (await status('POST', '/v1/sql', tokens.sql, { sql: 'SELECT 1' })) === 401);
  assert.equal(await status('POST', '/v1/sql', tokens.admin, { sql: 'SELECT 1' }), 200, 'other tokens still work');
  const again = await cli(['token', 'revoke', 'sql-bot', '--data', tw.dataDir]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /no token with id or name sql-bot/);
});

test('the CLI uses a role token: tapwatch sql with an sql token, refused with an alerts token', async () => {
  const env = { ...process.env, TAPWATCH_URL: tw.url };
  const run = (token: string) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(process.execPath, [TAPWATCH_BIN, 'sql', '--token', token, 'SELECT 1 AS one'], { env, timeout: 60_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      ),
    );
  const ok = await run(tokens.admin!);
  assert.equal(ok.code, 0, ok.stderr);
  const refused = await run(tokens.alerts!);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /needs the sql role \(TAPWATCH_FORBIDDEN\)/);
});
