import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkRequest, hostAllowed, hostName, originAllowed } from '../../src/request-guard.js';

test('Host names parse with ports and IPv6 brackets; junk does not parse', () => {
  assert.equal(hostName('127.0.0.1:8787'), '127.0.0.1');
  assert.equal(hostName('[::1]:8787'), '::1');
  assert.equal(hostName('LocalHost'), 'localhost');
  assert.equal(hostName('Evil.Example:80'), 'evil.example');
  for (const junk of ['', '[::1', '[::1]x', 'a b', 'user@host', 'host:port', 'a/b']) assert.equal(hostName(junk), undefined, junk);
});

test('a rebound name is refused; loopback names, IP literals and listed names are answered', () => {
  for (const ok of ['127.0.0.1:8787', 'localhost:8787', '[::1]:8787', 'app.localhost', '10.1.2.3:8787', '[fe80::1]']) assert.equal(hostAllowed(ok), true, ok);
  for (const bad of ['evil.example:8787', 'localhost.evil.example', '127.0.0.1.nip.io:8787', '2130706433', 'tapwatch'])
    assert.equal(hostAllowed(bad), false, bad);
  assert.equal(hostAllowed('tapwatch:8787', ['tapwatch']), true);
  assert.equal(hostAllowed('anything.example', ['*']), true);
  // HTTP/1.0 clients may omit Host; a browser never does.
  assert.equal(hostAllowed(undefined), true);
});

test("only the API's own origin, or a listed one, may send requests", () => {
  assert.equal(originAllowed(undefined, '127.0.0.1:8787'), true);
  assert.equal(originAllowed('http://127.0.0.1:8787', '127.0.0.1:8787'), true);
  assert.equal(originAllowed('http://localhost', 'localhost:80'), true);
  assert.equal(originAllowed('https://dash.example', 'dash.example'), true);
  assert.equal(originAllowed('http://127.0.0.1:9999', '127.0.0.1:8787'), false, 'another port is another origin');
  assert.equal(originAllowed('http://localhost:8787', '127.0.0.1:8787'), false, 'another name is another origin');
  assert.equal(originAllowed('null', '127.0.0.1:8787'), false, 'sandboxed frames and file: pages');
  assert.equal(originAllowed('chrome-extension://abc', 'abc'), false);
  assert.equal(originAllowed('not a url', '127.0.0.1:8787'), false);
  assert.equal(originAllowed('https://dash.example:8443/', '127.0.0.1:8787', ['https://dash.example:8443']), true);
  assert.equal(originAllowed('https://other.example', '127.0.0.1:8787', ['https://dash.example']), false);
  assert.equal(originAllowed('null', '127.0.0.1:8787', ['*']), true);
});

test('checkRequest refuses with the code of the one table, in the order Host, Origin, body type', () => {
  const own = { host: '127.0.0.1:8787' };
  assert.equal(checkRequest(own, {}), undefined);
  assert.equal(checkRequest({ host: 'evil.example:8787', origin: 'http://evil.example:8787' }, {})?.code, 'TAPWATCH_FOREIGN_HOST');
  assert.equal(checkRequest({ host: 'evil.example:8787' }, {})?.httpStatus, 421);
  const foreign = checkRequest({ ...own, origin: 'http://127.0.0.1:9999' }, {});
  assert.deepEqual([foreign?.code, foreign?.httpStatus], ['TAPWATCH_FOREIGN_ORIGIN', 403]);
  const plain = checkRequest({ ...own, 'content-type': 'text/plain', 'content-length': '12' }, {});
  assert.deepEqual([plain?.code, plain?.httpStatus], ['TAPWATCH_UNSUPPORTED_MEDIA_TYPE', 415]);
  assert.equal(checkRequest({ ...own, 'content-type': 'application/x-www-form-urlencoded', 'transfer-encoding': 'chunked' }, {})?.httpStatus, 415);
  assert.equal(checkRequest({ ...own, 'content-length': '2' }, {})?.httpStatus, 415, 'a body with no type');
  assert.equal(checkRequest({ ...own, 'content-type': 'Application/JSON; charset=utf-8', 'content-length': '2' }, {}), undefined);
  assert.equal(checkRequest({ ...own, 'content-length': '0' }, {}), undefined, 'no body, no type needed');
  assert.equal(checkRequest({ ...own, 'content-type': 'text/plain', 'content-length': '2' }, {}, { body: false }), undefined, 'the upgrade has no body');
  assert.equal(
    checkRequest({ host: 'tapwatch:8787', origin: 'https://dash.example' }, { allowedHosts: ['tapwatch'], allowedOrigins: ['https://dash.example'] }),
    undefined,
  );
});
