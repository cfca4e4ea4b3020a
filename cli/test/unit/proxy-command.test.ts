/**
 * `tapwatch proxy`: flag parsing and usage errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseListen } from '@tapwatch/collector';

const BIN = fileURLToPath(new URL('../../bin/tapwatch.js', import.meta.url));

test('--listen accepts host:port, [v6]:port and :port; rejects the rest', () => {
  assert.deepEqual(parseListen('127.0.0.1:8788'), { host: '127.0.0.1', port: 8788 });
  assert.deepEqual(parseListen('0.0.0.0:0'), { host: '0.0.0.0', port: 0 });
  assert.deepEqual(parseListen('[::1]:9000'), { host: '::1', port: 9000 });
  assert.deepEqual(parseListen(':9000'), { host: '127.0.0.1', port: 9000 });
  assert.deepEqual(parseListen('localhost:1'), { host: 'localhost', port: 1 });
  for (const bad of ['8788', 'host:', 'host:99999', 'host:port', '::1:80', '']) assert.equal(parseListen(bad), undefined, bad);
});

test('usage errors exit 2 with the reason and the usage; --help documents the options', () => {
  const run = (...args: string[]) =>
    spawnSync(process.execPath, [BIN, 'proxy', ...args], { encoding: 'utf8', env: { ...process.env, TAPWATCH_SINK: 'http://127.0.0.1:9' } });
  const cases: [string[], RegExp][] = [
    [[], /--upstream URL is required/],
    [['--upstream', 'not a url'], /--upstream is not a URL/],
    [['--upstream', 'ftp://example.com/mcp'], /--upstream must be http:\/\/ or https:\/\//],
    [['--upstream', 'http://127.0.0.1:1/mcp', '--listen', 'nowhere'], /--listen must be HOST:PORT \(got 'nowhere'\)/],
    [['--upstream', 'http://127.0.0.1:1/mcp', '--capture', 'all'], /--capture must be one of metadata, redacted, full \(got 'all'\)/],
    [['--upstream', 'http://127.0.0.1:1/mcp', '--observer', 'thread'], /--observer must be worker or inline \(got 'thread'\)/],
    [['--upstream', 'http://127.0.0.1:1/mcp', '--idle-timeout', '0'], /--idle-timeout must be a positive number of seconds \(got '0'\)/],
    [['--upstream', 'http://127.0.0.1:1/mcp', '--idle-timeout', 'soon'], /--idle-timeout must be a positive number of seconds \(got 'soon'\)/],
    [['--upstream', 'http://127.0.0.1:1/mcp', '--unknown'], /Unknown option '--unknown'/],
  ];
  for (const [args, message] of cases) {
    const r = run(...args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.match(r.stderr, /Usage: tapwatch proxy --upstream URL/);
  }
  const help = run('--help');
  assert.equal(help.status, 0);
  for (const flag of [
    '--upstream URL',
    '--listen HOST:PORT',
    '--name SERVER',
    '--agent ID',
    '--session ID',
    '--sink URL',
    '--capture LEVEL',
    '--observer MODE',
    '--idle-timeout S',
  ])
    assert.ok(help.stdout.includes(flag), flag);
  const top = spawnSync(process.execPath, [BIN, '--help'], { encoding: 'utf8' });
  assert.match(top.stdout, /proxy\s+put a remote MCP server \(HTTP\) behind the tap/);
});
