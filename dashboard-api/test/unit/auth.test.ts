import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { assertSafeBinding, isAuthorized, tokenMatches } from '@tapwatch/dashboard-api';

const req = (headers: Record<string, string>, url = '/') => ({ headers, url }) as unknown as IncomingMessage;

test('token comparison', () => {
  assert.equal(tokenMatches('secret', 'secret'), true);
  assert.equal(tokenMatches('secret', 'secreT'), false);
  assert.equal(tokenMatches('secret', undefined), false);
});

test('bearer header always; ?token= only where allowed (the WebSocket)', () => {
  assert.equal(isAuthorized('t0k', req({ authorization: 'Bearer t0k' }), false), true);
  assert.equal(isAuthorized('t0k', req({ authorization: 'Basic t0k' }), false), false);
  assert.equal(isAuthorized('t0k', req({}, '/v1/alerts/stream?token=t0k'), false), false);
  assert.equal(isAuthorized('t0k', req({}, '/v1/alerts/stream?token=t0k'), true), true);
  assert.equal(isAuthorized(undefined, req({}), false), true);
});

test('refuses a non-loopback address without a token', () => {
  assert.throws(() => assertSafeBinding('0.0.0.0', undefined), /TAPWATCH_TOKEN/);
  assert.throws(() => assertSafeBinding('10.1.2.3', undefined), /TAPWATCH_TOKEN/);
  assert.doesNotThrow(() => assertSafeBinding('127.0.0.1', undefined));
  assert.doesNotThrow(() => assertSafeBinding('::1', undefined));
  assert.doesNotThrow(() => assertSafeBinding('0.0.0.0', 'tok'));
});
