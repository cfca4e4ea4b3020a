import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertSafeBinding, createAuthorizer, roleAllows, roleFor } from '../../src/auth.js';
import { TokenFile, hashToken, tokensPath } from '../../src/tokens.js';

const req = (token?: string, url = '/') => ({ headers: token ? { authorization: `Bearer ${token}` } : {}, url }) as unknown as IncomingMessage;

test('routes need the role that fits them; unknown routes need admin', () => {
  assert.equal(roleFor('POST', '/v1/ingest'), 'ingest');
  assert.equal(roleFor('POST', '/v1/sql'), 'sql');
  assert.equal(roleFor('GET', '/v1/alerts/stream'), 'alerts');
  assert.equal(roleFor('GET', '/v1/alerts'), 'alerts');
  assert.equal(roleFor('POST', '/v1/alerts/abc/ack'), 'alerts');
  assert.equal(roleFor('GET', '/v1/calls'), 'sql');
  assert.equal(roleFor('GET', '/v1/tools/s/t/history'), 'sql');
  assert.equal(roleFor('GET', '/v1/silences'), 'alerts');
  assert.equal(roleFor('POST', '/v1/silences'), 'admin');
  assert.equal(roleFor('DELETE', '/v1/silences/x'), 'admin');
  assert.equal(roleFor('GET', '/v1/webhooks/deadletters'), 'admin');
  assert.equal(roleFor('GET', '/v1/openapi.json'), 'any');
  assert.equal(roleFor('GET', '/v1/something-new'), 'admin');
  assert.equal(roleAllows('admin', 'ingest'), true);
  assert.equal(roleAllows('sql', 'alerts'), true);
  assert.equal(roleAllows('alerts', 'sql'), false);
  assert.equal(roleAllows('ingest', 'alerts'), false);
  assert.equal(roleAllows('ingest', 'any'), true);
});

test('a token file stores hashes only, is re-read when it changes, and checks tokens by role', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tapwatch-tokens-'));
  try {
    const path = tokensPath(dir);
    assert.equal(path, join(dir, 'tokens.json'));
    const file = new TokenFile(path);
    const auth = createAuthorizer({ adminToken: 'env-admin', tokens: file });
    assert.equal(file.list().length, 0);
    const { token, record } = file.create('ci', 'ingest');
    assert.match(token, /^tw_[A-Za-z0-9_-]{43}$/);
    assert.equal(record.hash, hashToken(token));
    assert.ok(!readFileSync(path, 'utf8').includes(token));
    assert.equal(auth.check(req(token), 'ingest', false), 'ok');
    assert.equal(auth.check(req(token), 'sql', false), 403);
    assert.equal(auth.check(req('tw_other'), 'ingest', false), 401);
    assert.equal(auth.check(req(), 'ingest', false), 401);
    assert.equal(auth.check(req('env-admin'), 'admin', false), 'ok');
    assert.equal(auth.check(req(undefined, `/v1/alerts/stream?token=${token}`), 'ingest', true), 'ok');
    assert.equal(auth.check(req(undefined, `/v1/alerts/stream?token=${token}`), 'ingest', false), 401);

    // Another process (the CLI) changes the file: a second TokenFile on the same path sees it.
    const other = new TokenFile(path);
    other.revoke('ci');
    assert.equal(auth.check(req(token), 'ingest', false), 401);
    assert.throws(() => file.create('bad name!', 'sql'), /token name/);
    file.create('x', 'sql');
    assert.throws(() => other.create('x', 'sql'), /a token named x exists/);

    writeFileSync(path, '{"tokens": 3}');
    assert.throws(() => file.list(), /no "tokens" array/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('with no token anywhere access is open (loopback only); role tokens alone also allow other addresses', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tapwatch-tokens-'));
  try {
    const file = new TokenFile(tokensPath(dir));
    const auth = createAuthorizer({ tokens: file });
    assert.equal(auth.enabled, false);
    assert.equal(auth.check(req(), 'admin', false), 'ok');
    file.create('a', 'alerts');
    assert.equal(auth.enabled, true);
    assert.equal(auth.check(req(), 'alerts', false), 401);
    assert.throws(() => assertSafeBinding('0.0.0.0', undefined, false), /tapwatch token create/);
    assert.doesNotThrow(() => assertSafeBinding('0.0.0.0', undefined, true));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
