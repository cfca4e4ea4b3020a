/**
 * `tapwatch tap --capture`: flag validation, and the level reaching events
 * through the stdio tap (a tiny stdio server written inline; no network).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { runStdioTap } from '@tapwatch/collector';
import type { TapEvent, ToolCallEvent } from '@tapwatch/schema';
import { fakeSecrets } from './content-corpus.js';

const BIN = fileURLToPath(new URL('../../../cli/bin/tapwatch.js', import.meta.url));

test('--capture rejects an unknown level with the usage; --help documents the levels', () => {
  const bad = spawnSync(process.execPath, [BIN, 'tap', '--capture', 'everything', '--', process.execPath, '-e', ''], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--capture must be one of metadata, redacted, full \(got 'everything'\)/);
  assert.match(bad.stderr, /Usage: tapwatch tap/);
  const badEnv = spawnSync(process.execPath, [BIN, 'tap', '--', process.execPath, '-e', ''], {
    encoding: 'utf8',
    env: { ...process.env, TAPWATCH_CAPTURE: 'everything' },
  });
  assert.notEqual(badEnv.status, 0, 'a bad TAPWATCH_CAPTURE stops the tap');
  assert.match(badEnv.stderr, /TAPWATCH_CAPTURE/);
  const help = spawnSync(process.execPath, [BIN, 'tap', '--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--capture LEVEL/);
});

// Answers every tools/call with the secret it was started with; exits when stdin ends.
const SERVER = `
const rl = require('node:readline').createInterface({ input: process.stdin });
rl.on('line', (l) => {
  const m = JSON.parse(l);
  if (m.method === 'tools/call') process.stdout.write(JSON.stringify({ jsonrpc: '2.0', id: m.id, result: { content: [{ type: 'text', text: 'token: ' + process.argv[1] }] } }) + '\\n');
});
`;

test('the capture level reaches the events the stdio tap emits, and the relay is unchanged', async () => {
  const secret = fakeSecrets(41).github_token!;
  for (const capture of ['metadata', 'redacted', 'full'] as const) {
    const events: TapEvent[] = [];
    const stdin = new PassThrough();
    const stdout = new PassThrough();
    let relayed = '';
    const answered = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no answer relayed within 10 s')), 10_000);
      stdout.on('data', (c: Buffer) => {
        relayed += c.toString('utf8');
        if (relayed.includes('\n')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    const done = runStdioTap({
      command: process.execPath,
      args: ['-e', SERVER, secret],
      session: `s-${capture}`,
      capture,
      emit: (e) => events.push(e),
      stdin,
      stdout,
      stderr: new PassThrough(),
    });
    stdin.write(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'whoami', arguments: { verbose: true } } }) + '\n');
    await answered;
    stdin.end();
    const { exitCode } = await done;
    assert.equal(exitCode, 0);
    assert.ok(relayed.includes(secret), 'the client gets the server bytes untouched');
    const call = events.find((e): e is ToolCallEvent => e.type === 'tool_call');
    assert.ok(call, capture);
    assert.equal(call.capture, capture);
    assert.deepEqual(
      call.findings?.map((f) => f.rule),
      ['github_token'],
    );
    const wire = JSON.stringify(events);
    assert.equal(wire.includes(secret), capture === 'full', `${capture}: secret on the wire`);
  }
});
