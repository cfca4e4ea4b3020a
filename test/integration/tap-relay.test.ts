/**
 * The stdio tap relays bytes untouched: for random byte streams (newlines,
 * CR, NUL, invalid UTF-8, JSON-RPC fragments, U+2028), what the client
 * writes reaches the server byte for byte, and what the server writes to
 * stdout and stderr reaches the client byte for byte. A real `tapwatch tap`
 * process around a real echoing server, a real HTTP sink on 127.0.0.1.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { TAPWATCH_BIN, waitFor } from '../support/helpers.js';

// The server: echoes stdin to stdout and, reversed in chunks, to stderr — so both directions and both streams are checked.
const ECHO_SERVER = `process.stdin.on('data', (d) => { process.stdout.write(d); process.stderr.write(Buffer.from(d).reverse()); });`;

let sink: Server;
let sinkUrl: string;
let received = 0;
const bodies: string[] = [];

before(async () => {
  sink = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => {
      received++;
      bodies.push(Buffer.concat(parts).toString('utf8'));
      res.writeHead(202, { 'content-type': 'application/json' }).end('{"accepted":0}');
    });
  });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
  sinkUrl = `http://127.0.0.1:${(sink.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((r) => sink.close(() => r())));

function runThroughTap(chunks: Buffer[]): Promise<{ out: Buffer; err: Buffer; code: number | null }> {
  return new Promise((resolve, reject) => {
    const tap = spawn(process.execPath, [TAPWATCH_BIN, 'tap', '--sink', sinkUrl, '--name', 'echo', '--', process.execPath, '-e', ECHO_SERVER], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, TAPWATCH_LOG_LEVEL: 'silent' },
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    tap.stdout.on('data', (d: Buffer) => out.push(d));
    tap.stderr.on('data', (d: Buffer) => err.push(d));
    tap.on('error', reject);
    tap.on('close', (code) => resolve({ out: Buffer.concat(out), err: Buffer.concat(err), code }));
    // Write in the given chunks, yielding between them, so chunk boundaries vary on the way in.
    (async () => {
      for (const c of chunks) {
        if (!tap.stdin.write(c)) await new Promise((r) => tap.stdin.once('drain', r));
        await new Promise((r) => setImmediate(r));
      }
      tap.stdin.end();
    })().catch(reject);
  });
}

const interesting = fc.oneof(
  fc.uint8Array({ minLength: 0, maxLength: 300 }).map((a) => Buffer.from(a)),
  fc.constantFrom(
    Buffer.from('{"jsonrpc":"2.0","id":0,"method":"tools/call","params":{"name":"x","arguments":{}}}\n'),
    Buffer.from('{"jsonrpc":"2.0","id":"0","result":{"content":[]}}\r\n'),
    Buffer.from('[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}]\n'),
    Buffer.from('{"t":"a\u2028b\u2029c"}\n', 'utf8'),
    Buffer.from([0xff, 0xfe, 0x00, 0x0a, 0xc3, 0x28, 0x0d, 0x0a]),
    Buffer.from('\n\n\r\n'),
  ),
);

test('property: for random byte streams, the bytes out equal the bytes in, on stdout and stderr', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(interesting, { minLength: 1, maxLength: 12 }), async (chunks) => {
      const sent = Buffer.concat(chunks);
      const { out, err, code } = await runThroughTap(chunks);
      assert.equal(code, 0);
      assert.ok(out.equals(sent), `stdout differs: sent ${sent.length} bytes, got ${out.length}`);
      // stderr got each chunk as the server read it, reversed: same multiset of bytes, same length.
      assert.equal(err.length, sent.length, 'stderr relayed in full');
      assert.deepEqual([...err].sort(), [...sent].sort());
    }),
    { numRuns: 25 },
  );
  assert.ok(received > 0, 'the tap delivered events to its sink meanwhile');
});

test('a large message (20 MB) in many chunks passes through unchanged', async () => {
  const line = Buffer.from(`{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"${'y'.repeat(20 * 1024 * 1024)}"}]}}\n`);
  const chunks: Buffer[] = [];
  for (let i = 0; i < line.length; i += 1_000_003) chunks.push(line.subarray(i, i + 1_000_003));
  const { out, code } = await runThroughTap(chunks);
  assert.equal(code, 0);
  assert.ok(out.equals(line));
});

test('a 20 MB response is observed whole: the call is reported with its size', async () => {
  const size = 20 * 1024 * 1024;
  // A server that answers any line with one 20 MB tools/call result for id 7, written in pieces.
  const server = `process.stdin.once('data', () => { const body = '{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"' + 'y'.repeat(${size}) + '"}]}}\\n'; for (let i = 0; i < body.length; i += 65521) process.stdout.write(body.slice(i, i + 65521)); process.stdin.resume(); });`;
  const before = bodies.length;
  const tap = spawn(
    process.execPath,
    [TAPWATCH_BIN, 'tap', '--sink', sinkUrl, '--name', 'big', '--session', 'big-20mb', '--', process.execPath, '-e', server],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, TAPWATCH_LOG_LEVEL: 'silent' },
    },
  );
  let outBytes = 0;
  tap.stdout.on('data', (d: Buffer) => (outBytes += d.length));
  tap.stdin.write('{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"big","arguments":{}}}\n');
  await waitFor('the 20 MB response relayed', () => outBytes > size, 30_000);
  tap.stdin.end();
  const code = await new Promise((r) => tap.on('close', r));
  assert.equal(code, 0);
  const call = await waitFor('the call event', () =>
    bodies
      .slice(before)
      .flatMap((b) => JSON.parse(b) as { type: string; session: string; responseBytes?: number; status?: string }[])
      .find((e) => e.type === 'tool_call' && e.session === 'big-20mb'),
  );
  assert.equal(call.status, 'ok');
  assert.ok((call.responseBytes ?? 0) > size, `responseBytes ${call.responseBytes}`);
});

function tapExit(serverScript: string, signal?: NodeJS.Signals): Promise<number | null> {
  return new Promise((resolve) => {
    const tap = spawn(process.execPath, [TAPWATCH_BIN, 'tap', '--sink', sinkUrl, '--', process.execPath, '-e', serverScript], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, TAPWATCH_LOG_LEVEL: 'silent' },
    });
    tap.stdout.resume();
    tap.stderr.resume();
    if (signal) tap.stdout.once('data', () => tap.kill(signal));
    tap.on('close', (code) => resolve(code));
  });
}

test("the tap exits with the server's exit code, 128+signal when the server dies of a signal it was passed", async () => {
  assert.equal(await tapExit('process.exit(3)'), 3);
  // The server prints once it is ready; SIGTERM to the tap is forwarded; the server dies of it.
  assert.equal(await tapExit("process.stdout.write('ready\\n'); setInterval(() => {}, 1000)", 'SIGTERM'), 143);
  // A server that handles the signal decides its own exit code.
  assert.equal(await tapExit("process.on('SIGINT', () => process.exit(0)); process.stdout.write('ready\\n'); setInterval(() => {}, 1000)", 'SIGINT'), 0);
});

test('TAPWATCH_CAPTURE sets the default capture level of the tap', async () => {
  const server = `require('node:readline').createInterface({ input: process.stdin }).on('line', (l) => { const m = JSON.parse(l); process.stdout.write(JSON.stringify({ jsonrpc: '2.0', id: m.id, result: { content: [{ type: 'text', text: 'ok' }] } }) + '\\n'); });`;
  const session = `cap-${Date.now()}`;
  await new Promise<void>((resolve, reject) => {
    const tap = spawn(process.execPath, [TAPWATCH_BIN, 'tap', '--sink', sinkUrl, '--session', session, '--', process.execPath, '-e', server], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, TAPWATCH_LOG_LEVEL: 'silent', TAPWATCH_CAPTURE: 'metadata' },
    });
    tap.stdout.once('data', () => tap.stdin.end());
    tap.stderr.resume();
    tap.on('error', reject);
    tap.on('close', () => resolve());
    tap.stdin.write(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'x', arguments: { a: 'hello' } } }) + '\n');
  });
  const calls = bodies.flatMap((b) => JSON.parse(b) as any[]).filter((e) => e.session === session && e.type === 'tool_call');
  assert.equal(calls.length, 1);
  assert.equal(calls[0].capture, 'metadata');
  assert.equal(calls[0].arguments, undefined, 'metadata carries no argument values');
});
