/**
 * Hostile traffic never stops relay or observation: a real `tapwatch tap` and
 * a real `tapwatch proxy` in front of a server that nests its definitions and
 * results thousands of levels deep (test/fixtures/hostile-server.mjs), into a
 * real `tapwatch up`. Before parsing had limits, one such `tools/list` ended
 * the tap (3,000 levels) or its observer thread (20,000), and a deep `_meta`,
 * `structuredContent` or `error.data` hid its call. Now the client gets every
 * byte the server wrote, every call is stored (cut, with a flag saying so),
 * and the injection and the secret that follow still raise their alerts. A
 * fast-check run then replays arbitrary results, deep ones among them,
 * through the same tap.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import fc from 'fast-check';
import { ROOT, TAPWATCH_BIN, localToken, rows, startUp, waitFor, type RunningTapwatch } from '../support/helpers.js';
import { startProxy, startRawUpstream } from '../support/http-servers.js';
// @ts-expect-error -- a plain .mjs fixture without types
import { HOSTILE_TOOLS, deepText, respond } from '../fixtures/hostile-server.mjs';

const HOSTILE = join(ROOT, 'test', 'fixtures', 'hostile-server.mjs');
const AWS_KEY = 'AKIAZ7Q4LTX2MBV5NWRY';
const CUT = 'response: nested deeper than 64 levels';
const respondTo = respond as (line: string, depth?: number) => string | undefined;
const deep = deepText as (levels: number, leaf?: string) => string;

let tw: RunningTapwatch;

before(async () => {
  tw = await startUp();
});
after(async () => {
  await tw?.stop();
});

/** The requests of one session, as lines. */
function sessionLines(): string[] {
  const line = (m: unknown) => JSON.stringify(m);
  let id = 0;
  const call = (name: string, args: Record<string, unknown> = {}) =>
    line({ jsonrpc: '2.0', id: ++id, method: 'tools/call', params: { name, arguments: args } });
  return [
    line({
      jsonrpc: '2.0',
      id: id,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw-client', version: '1' } },
    }),
    line({ jsonrpc: '2.0', method: 'notifications/initialized' }),
    line({ jsonrpc: '2.0', id: ++id, method: 'tools/list' }),
    ...HOSTILE_TOOLS.filter((t: string) => t !== 'send').map((t: string) => call(t)),
    call('send', { to: 'backup@example.net', body: `aws_access_key_id=${AWS_KEY}` }),
  ];
}

/** A tap in front of a server: write lines, read exactly what comes back. */
class RawTap {
  readonly proc: ChildProcessWithoutNullStreams;
  private out = Buffer.alloc(0);
  exited = false;

  constructor(name: string, session: string, server: string[], env: NodeJS.ProcessEnv = {}) {
    this.proc = spawn(process.execPath, [TAPWATCH_BIN, 'tap', '--sink', tw.url, '--name', name, '--session', session, '--', ...server], {
      env: { ...process.env, TAPWATCH_LOG_LEVEL: 'error', ...env },
    });
    this.proc.stdout.on('data', (d: Buffer) => (this.out = Buffer.concat([this.out, d])));
    this.proc.on('exit', () => (this.exited = true));
  }

  get received(): Buffer {
    return this.out;
  }

  /** Writes a line and waits until `expectBytes` bytes in all have come back. */
  async send(line: string, expectBytes: number): Promise<void> {
    this.proc.stdin.write(line + '\n');
    await waitFor(`${expectBytes} bytes back through the tap`, () => this.out.length >= expectBytes || this.exited, 30_000);
    assert.equal(this.exited, false, 'the tap is still running');
  }

  async close(): Promise<number | null> {
    this.proc.stdin.end();
    if (this.exited) return this.proc.exitCode;
    return new Promise((r) => this.proc.on('close', (code) => r(code)));
  }
}

async function callsOf(session: string, n: number): Promise<{ tool: string; status: string; cut: string[] }[]> {
  return waitFor(`${n} calls of ${session}`, async () => {
    const r = await rows(tw.url, 'SELECT tool, status, cut FROM tool_calls WHERE session = {s:String} ORDER BY toUInt64(request_id)', localToken(), {
      s: session,
    });
    return r.length >= n ? r : undefined;
  });
}

for (const depth of [3_000, 20_000]) {
  test(`the stdio tap, ${depth} levels deep: byte-exact relay, every call stored cut, alerts still raised`, async () => {
    const session = `hostile-${depth}-${randomUUID()}`;
    const tap = new RawTap(`hostile-${depth}`, session, [process.execPath, HOSTILE], { HOSTILE_DEPTH: String(depth) });
    let expected = '';
    for (const line of sessionLines()) {
      const answer = respondTo(line, depth);
      if (answer !== undefined) expected += answer + '\n';
      await tap.send(line, Buffer.byteLength(expected));
    }
    assert.equal(await tap.close(), 0);
    assert.ok(tap.received.equals(Buffer.from(expected)), 'the client received exactly what the server wrote');

    const calls = await callsOf(session, 5);
    assert.deepEqual(
      calls.map((c) => [c.tool, c.status, c.cut]),
      [
        ['deep_meta', 'ok', [CUT]],
        ['deep_structured', 'ok', [CUT]],
        ['deep_error', 'rpc_error', [CUT]],
        ['fetch_page', 'ok', []],
        ['send', 'ok', []],
      ],
    );
    const defs = await waitFor('the deep definition stored', async () => {
      const r = await rows(tw.url, 'SELECT tool, cut FROM tool_definitions WHERE session = {s:String} ORDER BY tool', localToken(), { s: session });
      return r.length === 6 ? r : undefined;
    });
    assert.deepEqual(defs.find((d) => d.tool === 'deep_schema')?.cut, [CUT]);
    const alerts = await waitFor('the injection and the secret alerted', async () => {
      const r = await rows(tw.url, 'SELECT detector, tool FROM alerts WHERE session = {s:String}', localToken(), { s: session });
      const found = r.map((a) => `${a.detector} ${a.tool}`);
      return found.includes('content.injection_phrase fetch_page') && found.includes('content.secret send') ? found : undefined;
    });
    // Three cut messages from one server in minutes: the pattern is alerted too.
    assert.ok(alerts.includes('observation_gap deep_error') || alerts.some((a) => a.startsWith('observation_gap')), alerts.join(', '));
    const ends = await rows(tw.url, "SELECT calls FROM sessions WHERE session = {s:String} AND event = 'end'", localToken(), { s: session });
    assert.equal(Number(ends[0]?.calls), 5, 'the session ended normally');
  });
}

test('the HTTP proxy, 20,000 levels deep: byte-exact bodies, every call stored cut', async () => {
  const depth = 20_000;
  const upstream = await startRawUpstream((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const answer = req.method === 'POST' ? respondTo(Buffer.concat(parts).toString('utf8'), depth) : undefined;
      if (answer === undefined) {
        res.writeHead(req.method === 'POST' ? 202 : 405).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'hostile-http' }).end(answer);
    });
  });
  const proxy = await startProxy(upstream.url, ['--sink', tw.url, '--name', 'hostile-http']);
  try {
    for (const line of sessionLines()) {
      const res = await fetch(`${proxy.url}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': 'hostile-http' },
        body: line,
      });
      const body = Buffer.from(await res.arrayBuffer());
      const answer = respondTo(line, depth);
      if (answer === undefined) assert.equal(res.status, 202);
      else assert.ok(body.equals(Buffer.from(answer)), `the body of ${line.slice(0, 60)} is relayed byte for byte`);
    }
    const calls = await waitFor('the proxied calls', async () => {
      const r = await rows(tw.url, "SELECT tool, status, cut FROM tool_calls WHERE server = 'hostile-http' ORDER BY toUInt64(request_id)", localToken());
      return r.length >= 5 ? r : undefined;
    });
    assert.deepEqual(
      calls.map((c) => [c.tool, c.status, c.cut.length > 0]),
      [
        ['deep_meta', 'ok', true],
        ['deep_structured', 'ok', true],
        ['deep_error', 'rpc_error', true],
        ['fetch_page', 'ok', false],
        ['send', 'ok', false],
      ],
    );
    await waitFor('the injection and the secret alerted through the proxy', async () => {
      const r = await rows(tw.url, "SELECT detector, tool FROM alerts WHERE server = 'hostile-http'", localToken());
      const found = r.map((x) => `${x.detector} ${x.tool}`);
      return found.includes('content.secret send') && found.includes('content.injection_phrase fetch_page');
    });
  } finally {
    await proxy.stop();
    await upstream.stop();
  }
});

/** Results a client would accept: arbitrary JSON, values nested far past the limit, odd strings. */
const hostileResult = fc.oneof(
  fc.jsonValue({ maxDepth: 6 }).map((v) => JSON.stringify({ content: [], structuredContent: v })),
  fc.integer({ min: 65, max: 30_000 }).map((n) => `{"content":[],"_meta":${deep(n)}}`),
  fc.integer({ min: 65, max: 5_000 }).map((n) => `{"content":[{"type":"text","text":"x"}],"structuredContent":${'['.repeat(n)}${']'.repeat(n)}}`),
  fc.string({ unit: 'binary', maxLength: 200 }).map((s) => JSON.stringify({ content: [{ type: 'text', text: s + '"]}\\' }] })),
);

test('fuzz: arbitrary results, deep and odd ones among them, are relayed byte-exact and each call is stored', async () => {
  const session = `fuzz-${randomUUID()}`;
  // The server answers `replay` with the result text the client chose: fast-check picks it.
  const tap = new RawTap('hostile-fuzz', session, [process.execPath, HOSTILE]);
  let expected = '';
  let id = 0;
  const init = JSON.stringify({
    jsonrpc: '2.0',
    id: 0,
    method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'fuzz' } },
  });
  expected += respondTo(init)! + '\n';
  await tap.send(init, Buffer.byteLength(expected));
  const count = 60;
  const samples = fc.sample(hostileResult, { numRuns: count, seed: 20261204 });
  for (const result of samples) {
    const line = JSON.stringify({ jsonrpc: '2.0', id: ++id, method: 'tools/call', params: { name: 'replay', arguments: { result } } });
    expected += respondTo(line)! + '\n';
    await tap.send(line, Buffer.byteLength(expected));
  }
  assert.equal(await tap.close(), 0);
  assert.ok(tap.received.equals(Buffer.from(expected)), 'every byte relayed as the server wrote it');
  const calls = await callsOf(session, count);
  assert.equal(calls.length, count);
  assert.ok(
    calls.every((c) => c.tool === 'replay' && c.status === 'ok'),
    'every call stored as answered',
  );
  assert.ok(calls.filter((c) => c.cut.length > 0).length > 0, 'the deep ones are flagged');
});

test('fuzz through the HTTP proxy: the same kinds of results, byte-exact bodies, each call stored', async () => {
  const upstream = await startRawUpstream((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const answer = respondTo(Buffer.concat(parts).toString('utf8'));
      if (answer === undefined) res.writeHead(202).end();
      else res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'fuzz-http' }).end(answer);
    });
  });
  const proxy = await startProxy(upstream.url, ['--sink', tw.url, '--name', 'hostile-fuzz-http']);
  try {
    const post = async (line: string) => {
      const res = await fetch(`${proxy.url}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': 'fuzz-http' },
        body: line,
      });
      return Buffer.from(await res.arrayBuffer());
    };
    await post(
      JSON.stringify({
        jsonrpc: '2.0',
        id: 0,
        method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'fuzz' } },
      }),
    );
    const count = 40;
    let id = 0;
    for (const result of fc.sample(hostileResult, { numRuns: count, seed: 4122026 })) {
      const line = JSON.stringify({ jsonrpc: '2.0', id: ++id, method: 'tools/call', params: { name: 'replay', arguments: { result } } });
      assert.ok((await post(line)).equals(Buffer.from(respondTo(line)!)), `body ${id} relayed byte for byte`);
    }
    const calls = await waitFor(`${count} proxied calls stored`, async () => {
      const r = await rows(tw.url, "SELECT status, cut FROM tool_calls WHERE server = 'hostile-fuzz-http'", localToken());
      return r.length >= count ? r : undefined;
    });
    assert.equal(calls.length, count);
    assert.ok(calls.every((c) => c.status === 'ok'));
    assert.ok(
      calls.some((c) => c.cut.length > 0),
      'the deep ones are flagged',
    );
  } finally {
    await proxy.stop();
    await upstream.stop();
  }
});
