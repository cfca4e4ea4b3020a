/**
 * The stdio tap on the protocol's less travelled paths, with real peers:
 * server-everything's progress, sampling, elicitation and roots requests and a
 * client cancellation, driven by the real SDK client through `tapwatch tap`
 * into a real `tapwatch up`; what the tap saw is read back with SQL.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { CreateMessageRequestSchema, ElicitRequestSchema, ListRootsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { EVERYTHING, connectThroughTap, rows, startUp, waitFor, type RunningTapwatch } from '../support/helpers.js';

let tw: RunningTapwatch;

before(async () => {
  tw = await startUp();
});

after(async () => {
  await tw?.stop();
});

test('progress, server→client requests and cancellation through the stdio tap are recorded', async () => {
  let rootsAsked!: () => void;
  const rootsRequested = new Promise<void>((r) => (rootsAsked = r));
  const tapped = await connectThroughTap({
    sink: tw.url,
    name: 'everything',
    server: [process.execPath, EVERYTHING, 'stdio'],
    clientName: 'protocol-e2e',
    capabilities: { sampling: {}, elicitation: {}, roots: { listChanged: true } },
    prepare: (client) => {
      client.setRequestHandler(CreateMessageRequestSchema, async () => ({
        role: 'assistant',
        content: { type: 'text', text: 'sampled reply' },
        model: 'test-model',
      }));
      client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept', content: {} }));
      client.setRequestHandler(ListRootsRequestSchema, async () => {
        rootsAsked();
        return { roots: [{ uri: 'file:///tmp', name: 'tmp' }] };
      });
    },
  });
  const { client, session } = tapped;
  // server-everything asks for the roots once the session is initialized, outside any call.
  await rootsRequested;

  let progressSeen = 0;
  const long = await client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 0.6, steps: 3 } }, undefined, {
    onprogress: () => progressSeen++,
  });
  assert.match(JSON.stringify(long.content), /completed/i);
  assert.ok(progressSeen >= 1, 'the server sent progress');

  const sampled = await client.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'hello', maxTokens: 10 } });
  assert.match(JSON.stringify(sampled.content), /sampled reply/);
  const elicited = await client.callTool({ name: 'trigger-elicitation-request', arguments: {} });
  assert.ok(elicited.content, 'elicitation call answered');
  const roots = await client.callTool({ name: 'get-roots-list', arguments: {} });
  assert.match(JSON.stringify(roots.content), /file:\/\/\/tmp/);

  // A call the client gives up on: the SDK sends notifications/cancelled and no response follows.
  const abort = new AbortController();
  const cancelled = client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 30, steps: 30 } }, undefined, {
    signal: abort.signal,
    onprogress: () => abort.abort('enough'),
  });
  await assert.rejects(cancelled);
  await tapped.close();

  // Calls a millisecond apart tie on started_at; the SDK numbers its requests in call order.
  const calls = await waitFor(
    'the five calls stored',
    async () => {
      const r = await rows(
        tw.url,
        'SELECT tool, status, progress_notifications, server_requests, protocol_version, client_name FROM tool_calls WHERE session = {s:String} ORDER BY started_at, toUInt64OrZero(request_id)',
        undefined,
        { s: session },
      );
      return r.length === 5 ? r : undefined;
    },
    30_000,
  );
  assert.deepEqual(
    calls.map((c) => [c.tool, c.status]),
    [
      ['trigger-long-running-operation', 'ok'],
      ['trigger-sampling-request', 'ok'],
      ['trigger-elicitation-request', 'ok'],
      ['get-roots-list', 'ok'],
      ['trigger-long-running-operation', 'cancelled'],
    ],
  );
  // server-everything sends one notification per step; the SDK client hands the last one (progress = total) to nobody.
  assert.equal(Number(calls[0].progress_notifications), 3, 'every progress notification on the wire is counted');
  assert.ok(Number(calls[4].progress_notifications) >= 1);
  assert.equal(Number(calls[1].server_requests), 1);
  for (const c of calls) {
    assert.ok(c.protocol_version, 'protocol version on every call');
    assert.equal(c.client_name, 'protocol-e2e');
  }

  const requests = await waitFor('server→client requests stored', async () => {
    const r = await rows(
      tw.url,
      'SELECT method, status, action, related_tool, response_bytes FROM server_requests WHERE session = {s:String} ORDER BY started_at',
      undefined,
      { s: session },
    );
    return r.length >= 3 ? r : undefined;
  });
  const byMethod = (m: string, tool: string) => requests.find((r) => r.method === m && r.related_tool === tool);
  assert.equal(byMethod('sampling/createMessage', 'trigger-sampling-request')?.status, 'ok');
  assert.ok(Number(byMethod('sampling/createMessage', 'trigger-sampling-request')?.response_bytes) > 0);
  assert.equal(byMethod('elicitation/create', 'trigger-elicitation-request')?.action, 'accept');
  assert.equal(byMethod('roots/list', '')?.status, 'ok', 'the roots request made outside any call is tied to none');
  assert.equal(requests.length, 3);
});

test('an 8 MB call both ways is relayed intact and observed on the observer thread', async () => {
  const tapped = await connectThroughTap({ sink: tw.url, name: 'everything-big', server: [process.execPath, EVERYTHING, 'stdio'] });
  // 8 MB: about the largest message server-everything and the SDK client exchange directly (the tap's own 20 MB case is in tap-relay).
  const message = 'y'.repeat(8 * 1024 * 1024);
  const r = await tapped.client.callTool({ name: 'echo', arguments: { message } });
  assert.equal((r.content as { text: string }[])[0]!.text, `Echo: ${message}`);
  await tapped.close();
  const [row] = await waitFor('the big call stored', async () => {
    const found = await rows(tw.url, 'SELECT request_bytes, response_bytes, status FROM tool_calls WHERE session = {s:String}', undefined, {
      s: tapped.session,
    });
    return found.length === 1 ? found : undefined;
  });
  assert.equal(row.status, 'ok');
  assert.ok(Number(row.request_bytes) > message.length, `request bytes ${row.request_bytes}`);
  assert.ok(Number(row.response_bytes) > message.length, `response bytes ${row.response_bytes}`);
  assert.doesNotMatch(tapped.stderr(), /left traffic out of observation/);
});
