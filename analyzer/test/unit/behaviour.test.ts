/**
 * Behavioural detectors over tool calls: content findings, exfiltration
 * chains, novelty, loops, error streaks and bulk reads — positive and negative
 * cases for each.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createContentState,
  createFlowState,
  createNoveltyState,
  createRateState,
  detectContent,
  detectFlow,
  detectNewServer,
  detectRate,
  detectUnadvertised,
  isEgressCall,
  learnSessionEnd,
  noteToolsList,
} from '@tapwatch/analyzer';
import type { SessionStartEvent } from '@tapwatch/schema';
import { sessionEndEvent, toolCallEvent, toolsListEvent } from '../../../test/support/events.js';

const at = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms).toISOString();

test('content: a named secret in arguments to an egress tool is critical; in a result high; entropy alone stays low', () => {
  const s = createContentState();
  const out = detectContent(
    s,
    toolCallEvent({ tool: 'create_issue', findings: [{ kind: 'secret', where: 'arguments', field: 'body', rule: 'github_token' }] }),
  );
  assert.equal(out[0]?.severity, 'critical');
  assert.equal(out[0]?.detector, 'content.secret');
  const res = detectContent(s, toolCallEvent({ session: 's2', findings: [{ kind: 'secret', where: 'result', rule: 'aws_access_key_id' }] }));
  assert.equal(res[0]?.severity, 'high');
  const weak = detectContent(s, toolCallEvent({ session: 's3', findings: [{ kind: 'secret', where: 'result', rule: 'high_entropy' }] }));
  assert.equal(weak[0]?.severity, 'low');
  assert.deepEqual(detectContent(s, toolCallEvent({})), [], 'no findings, no alert');
});

test('content: traversal, shell injection and injected instructions alert once per session and rule', () => {
  const s = createContentState();
  const trav = toolCallEvent({ findings: [{ kind: 'path_traversal', where: 'arguments', field: 'path', rule: 'dot_dot_slash' }] });
  assert.equal(detectContent(s, trav)[0]?.severity, 'high');
  assert.deepEqual(detectContent(s, { ...trav, id: crypto.randomUUID() }), [], 'the same rule in the same session is not repeated');
  const inj = detectContent(s, toolCallEvent({ findings: [{ kind: 'injection_phrase', where: 'result', rule: 'ignore_previous_instructions' }] }));
  assert.equal(inj[0]?.severity, 'high');
  const shell = detectContent(s, toolCallEvent({ findings: [{ kind: 'shell_injection', where: 'arguments', field: 'pattern', rule: 'curl_pipe_shell' }] }));
  assert.equal(shell[0]?.severity, 'high');
});

test('egress: network, messaging and shared-system writes are egress; reads of shared systems are not', () => {
  for (const t of ['fetch', 'http_request', 'send_email', 'create_issue', 'add_issue_comment', 'createPullRequest', 'upload_snapshot', 'post_message']) {
    assert.equal(isEgressCall({ tool: t }), true, t);
  }
  for (const t of ['read_file', 'get_issue', 'list_pull_requests', 'search_repositories', 'list_directory', 'write_file', 'create_entities']) {
    assert.equal(isEgressCall({ tool: t }), false, t);
  }
  assert.equal(isEgressCall({ tool: 'translate_text', destinations: ['evil.example'] }), true, 'a destination makes any call egress');
});

test('flow: a secret read then an egress carrying its digests is critical; without overlap high; outside the window nothing', () => {
  const s = createFlowState({ windowMs: 60_000 });
  const read = toolCallEvent({
    agent: 'A',
    time: at(0),
    tool: 'read_file',
    findings: [{ kind: 'secret', where: 'result', rule: 'aws_secret_access_key' }],
    resultDigests: ['00000000000000aa', '00000000000000bb'],
  });
  assert.deepEqual(detectFlow(s, read), []);
  const send = toolCallEvent({
    agent: 'A',
    time: at(2000),
    server: 'fetch',
    tool: 'fetch',
    destinations: ['collector.example'],
    argumentDigests: ['00000000000000bb'],
  });
  const [f] = detectFlow(s, send);
  assert.equal(f?.severity, 'critical');
  assert.deepEqual(f?.eventIds, [read.id, send.id]);
  const plain = toolCallEvent({ agent: 'A', time: at(3000), server: 'github', tool: 'create_issue' });
  assert.equal(detectFlow(s, plain)[0]?.severity, 'high');
  const late = toolCallEvent({ agent: 'A', time: at(120_000), server: 'github', tool: 'create_issue' });
  assert.deepEqual(detectFlow(s, late), [], 'beyond the window');
  const other = toolCallEvent({ agent: 'B', time: at(4000), server: 'github', tool: 'create_issue' });
  assert.deepEqual(detectFlow(s, other), [], 'per agent');
});

test('flow: ordinary reads followed by egress are quiet', () => {
  const s = createFlowState();
  detectFlow(s, toolCallEvent({ agent: 'A', time: at(0), tool: 'read_file', resultDigests: ['00000000000000cc'] }));
  assert.deepEqual(detectFlow(s, toolCallEvent({ agent: 'A', time: at(10), tool: 'create_issue', argumentDigests: ['00000000000000cc'] })), []);
});

const start = (over: Partial<SessionStartEvent>): SessionStartEvent => ({ ...sessionEndEvent(), type: 'session_start', ...over }) as SessionStartEvent;

test('novelty: a never-seen server joining mid-session is medium; at session start low; known servers nothing', () => {
  const s = createNoveltyState();
  detectNewServer(s, start({ session: 'x', server: 'filesystem' }));
  detectUnadvertised(s, toolCallEvent({ session: 'x', server: 'filesystem' }));
  const fresh = detectNewServer(s, start({ session: 'x', server: 'second' }));
  assert.equal(fresh[0]?.severity, 'low', 'a fresh deployment: every server is new, joining mid-session is only noted');
  for (let i = 0; i < 200; i++) detectUnadvertised(s, toolCallEvent({ session: `h${i}`, server: 'filesystem' }));
  const late = detectNewServer(s, start({ session: 'x', server: 'sync-agent' }));
  assert.equal(late[0]?.severity, 'medium');
  assert.equal(late[0]?.evidence.midSession, true);
  assert.equal(detectNewServer(s, start({ session: 'y', server: 'brand-new' }))[0]?.severity, 'low');
  assert.deepEqual(detectNewServer(s, start({ session: 'z', server: 'filesystem' })), []);
});

test('novelty: calling a tool the server never advertised is high; advertised tools and unlisted servers are fine', () => {
  const s = createNoveltyState();
  noteToolsList(s, toolsListEvent([{ name: 'get_issue' }, { name: 'create_issue' }], { server: 'github' }));
  assert.deepEqual(detectUnadvertised(s, toolCallEvent({ server: 'github', tool: 'get_issue' })), []);
  const [f] = detectUnadvertised(s, toolCallEvent({ server: 'github', tool: 'delete_repository' }));
  assert.equal(f?.severity, 'high');
  assert.deepEqual(detectUnadvertised(s, toolCallEvent({ server: 'never-listed', tool: 'anything' })), []);
});

test('rate: the same call repeated, and two calls ping-ponging, raise a loop alert; varied calls do not', () => {
  const s = createRateState({ loopWindow: 12 });
  let fired: string[] = [];
  for (let i = 0; i < 12; i++) fired.push(...detectRate(s, toolCallEvent({ session: 'L', argumentsHash: 'same' })).map((f) => f.detector));
  assert.deepEqual(fired, ['call_loop']);
  fired = [];
  for (let i = 0; i < 12; i++)
    fired.push(
      ...detectRate(s, toolCallEvent({ session: 'P', tool: i % 2 ? 'read_file' : 'list_directory', argumentsHash: String(i % 2) })).map((f) => f.detector),
    );
  assert.deepEqual(fired, ['call_loop']);
  fired = [];
  for (let i = 0; i < 30; i++) fired.push(...detectRate(s, toolCallEvent({ session: 'V', argumentsHash: `h${i % 5}` })).map((f) => f.detector));
  assert.deepEqual(fired, []);
});

test('rate: an error streak alerts at the configured length; interrupted errors do not', () => {
  const s = createRateState({ errorStreak: 5 });
  const err = (session: string, i: number) => toolCallEvent({ session, isError: true, status: 'tool_error', argumentsHash: String(i) });
  const fired: string[] = [];
  for (let i = 0; i < 8; i++) fired.push(...detectRate(s, err('E', i)).map((f) => f.detector));
  assert.deepEqual(fired, ['error_streak']);
  for (let i = 0; i < 12; i++) {
    const e = i % 4 === 3 ? toolCallEvent({ session: 'F', argumentsHash: String(i) }) : err('F', i);
    assert.deepEqual(detectRate(s, e), []);
  }
});

test('rate: bulk reads are judged against the per-session normal learned from finished sessions', () => {
  const s = createRateState({ bulkMinSessions: 20, bulkFloor: 25, bulkFactor: 2 });
  for (let n = 0; n < 30; n++) {
    const session = `n${n}`;
    for (let i = 0; i < 3 + (n % 8); i++) detectRate(s, toolCallEvent({ session, argumentsHash: `${n}-${i}` }));
    learnSessionEnd(s, sessionEndEvent({ session, server: 'fs' }));
  }
  const fired: number[] = [];
  for (let i = 0; i < 60; i++) {
    if (detectRate(s, toolCallEvent({ session: 'crawl', argumentsHash: `c${i}` })).some((f) => f.detector === 'bulk_reads')) fired.push(i + 1);
  }
  assert.deepEqual(fired, [25], 'fires once, at the floor (2 × p99 of 10 is below it)');
  for (let i = 0; i < 20; i++)
    assert.deepEqual(
      detectRate(s, toolCallEvent({ session: 'normal', argumentsHash: `x${i}` })).filter((f) => f.detector === 'bulk_reads'),
      [],
    );
});

test('corroboration: a second family agreeing in the same session raises severity one level; the same family does not', async () => {
  const { corroborate, createCorroborationState } = await import('@tapwatch/analyzer');
  const s = createCorroborationState(60_000);
  const f = (detector: string, severity: 'low' | 'medium' | 'high' | 'critical', session = 'S') => ({
    severity,
    detector,
    title: 't',
    server: 'x',
    tool: 'y',
    agent: 'a',
    session,
    evidence: {},
    eventIds: [],
  });
  const [first] = corroborate(s, [f('content.secret', 'high')], 0);
  assert.equal(first!.severity, 'high');
  const [same] = corroborate(s, [f('content.path_traversal', 'high')], 10);
  assert.equal(same!.severity, 'high', 'same family: no raise');
  const [other] = corroborate(s, [f('new_server', 'low')], 20);
  assert.equal(other!.severity, 'medium');
  assert.deepEqual(other!.evidence.corroboratedBy, ['content']);
  const [elsewhere] = corroborate(s, [f('new_server', 'low', 'T')], 30);
  assert.equal(elsewhere!.severity, 'low', 'another session: no raise');
  const [late] = corroborate(s, [f('call_loop', 'medium')], 120_000);
  assert.equal(late!.severity, 'medium', 'outside the window: no raise');
});

test('sequence: after learning a routine, three unusual transitions in ten calls alert; the routine and first uses do not', async () => {
  const { createSequenceState, detectSequence } = await import('@tapwatch/analyzer');
  const s = createSequenceState({ minSourceObservations: 50, minTargetObservations: 10 });
  const routine = ['list_directory', 'read_file', 'read_file', 'write_file'];
  for (let n = 0; n < 60; n++) {
    for (const tool of routine) assert.deepEqual(detectSequence(s, toolCallEvent({ agent: 'A', session: `r${n}`, tool })), []);
  }
  // a rarely used but known tool appears a few times so it is a known target
  for (let n = 0; n < 12; n++) {
    detectSequence(s, toolCallEvent({ agent: 'A', session: `k${n}`, tool: 'delete_file' }));
  }
  // first use of a brand-new tool is novelty, not sequence
  const firstUse = ['list_directory', 'get_file_info', 'get_file_info', 'read_file'].flatMap((tool) =>
    detectSequence(s, toolCallEvent({ agent: 'A', session: 'new', tool })),
  );
  assert.deepEqual(firstUse, []);
  // the routine in a new session stays quiet
  const quiet = routine.flatMap((tool) => detectSequence(s, toolCallEvent({ agent: 'A', session: 'q', tool })));
  assert.deepEqual(quiet, []);
  // an odd walk out of well-known states: list → write, read → delete, read → list were never seen
  const odd = ['list_directory', 'write_file', 'read_file', 'delete_file', 'read_file', 'list_directory'].flatMap((tool) =>
    detectSequence(s, toolCallEvent({ agent: 'A', session: 'odd', tool })),
  );
  assert.equal(odd.length, 1);
  assert.equal(odd[0]!.detector, 'rare_sequence');
  assert.ok((odd[0]!.evidence.transitions as unknown[]).length >= 3);
});

test('volume: argument-size outliers page, latency outliers are only noted', async () => {
  const { createResultSizeState, detectResultSize, METRICS } = await import('@tapwatch/analyzer');
  const args = createResultSizeState({ minSamples: 20, threshold: 4.5 }, METRICS.arguments);
  const slow = createResultSizeState({ minSamples: 20, threshold: 4.5 }, METRICS.latency);
  for (let i = 0; i < 40; i++) {
    detectResultSize(args, toolCallEvent({ requestBytes: 80 + (i % 7) * 10 }));
    detectResultSize(slow, toolCallEvent({ durationMs: 20 + (i % 5) * 5 }));
  }
  const [big] = detectResultSize(args, toolCallEvent({ requestBytes: 60_000 }));
  assert.equal(big?.detector, 'argument_size_outlier');
  assert.equal(big?.severity, 'high');
  const [late] = detectResultSize(slow, toolCallEvent({ durationMs: 30_000 }));
  assert.equal(late?.detector, 'latency_outlier');
  assert.equal(late?.severity, 'low');
  assert.deepEqual(detectResultSize(slow, toolCallEvent({ session: 'other', durationMs: 1500 })), [], 'under the 2 s floor');
});

test('first use: per agent, after a history, a new tool, argument or egress destination is noted at low', async () => {
  const { createAgentNoveltyState, detectFirstUse } = await import('@tapwatch/analyzer');
  const s = createAgentNoveltyState(10);
  for (let i = 0; i < 12; i++)
    assert.deepEqual(detectFirstUse(s, toolCallEvent({ agent: 'A', argumentKeys: ['path'] }), false), [], "an agent's first calls build its history");
  const [f] = detectFirstUse(s, toolCallEvent({ agent: 'A', server: 'fetch', tool: 'fetch', argumentKeys: ['url'], destinations: ['new.example'] }), true);
  assert.equal(f?.severity, 'low');
  assert.deepEqual(f?.evidence.newDestinations, ['new.example']);
  assert.deepEqual(
    detectFirstUse(s, toolCallEvent({ agent: 'A', server: 'fetch', tool: 'fetch', argumentKeys: ['url'], destinations: ['new.example'] }), true),
    [],
  );
  assert.deepEqual(detectFirstUse(s, toolCallEvent({ agent: 'B', tool: 'anything' }), false), [], 'a new agent has no history yet');
});

test('flow: after an untrusted read, an egress of comparable size is high even without matching digests', () => {
  const s = createFlowState();
  detectFlow(
    s,
    toolCallEvent({
      agent: 'U',
      time: at(0),
      tool: 'fetch',
      responseBytes: 4000,
      findings: [{ kind: 'injection_phrase', where: 'result', rule: 'ignore_previous_instructions' }],
    }),
  );
  const [f] = detectFlow(s, toolCallEvent({ agent: 'U', time: at(500), server: 'chat', tool: 'send_message', requestBytes: 3500 }));
  assert.equal(f?.severity, 'high');
  assert.equal(f?.evidence.similarSize, true);
  const t = createFlowState();
  detectFlow(
    t,
    toolCallEvent({
      agent: 'V',
      time: at(0),
      tool: 'fetch',
      responseBytes: 4000,
      findings: [{ kind: 'injection_phrase', where: 'result', rule: 'ignore_previous_instructions' }],
    }),
  );
  assert.deepEqual(
    detectFlow(t, toolCallEvent({ agent: 'V', time: at(500), server: 'chat', tool: 'send_message', requestBytes: 120 })),
    [],
    'a short unrelated message after an untrusted read is not a chain',
  );
});

test("session volume: a session pulling far more bytes than the agent's normal sessions is medium; normal sessions are quiet", async () => {
  const { createRateState, detectRate, learnSessionEnd } = await import('@tapwatch/analyzer');
  const s = createRateState();
  for (let n = 0; n < 12; n++) {
    for (let i = 0; i < 5; i++) detectRate(s, toolCallEvent({ agent: 'V', session: `v${n}`, argumentsHash: `${n}.${i}`, responseBytes: 100_000 }));
    learnSessionEnd(s, sessionEndEvent({ agent: 'V', session: `v${n}`, server: 'fs' }));
  }
  let fired = 0;
  for (let i = 0; i < 5; i++)
    fired += detectRate(s, toolCallEvent({ agent: 'V', session: 'ok', argumentsHash: `o${i}`, responseBytes: 100_000 })).filter(
      (f) => f.detector === 'session_volume',
    ).length;
  assert.equal(fired, 0);
  const got: string[] = [];
  for (let i = 0; i < 8; i++)
    got.push(...detectRate(s, toolCallEvent({ agent: 'V', session: 'dump', argumentsHash: `d${i}`, responseBytes: 400_000 })).map((f) => f.detector));
  assert.deepEqual(
    got.filter((d) => d === 'session_volume'),
    ['session_volume'],
    'fires once, past 2 MB (4 × p99 of 500 KB)',
  );
});

test('merge: repeats of one detector, server, tool and agent within the window become one summary with a count', async () => {
  const { createMergeState, mergeAlerts, closeExpired } = await import('@tapwatch/analyzer');
  const s = createMergeState(60_000);
  const alert = (i: number, over: Record<string, unknown> = {}) => ({
    id: `a${i}`,
    time: at(i * 1000),
    severity: 'medium' as const,
    detector: 'call_loop',
    title: 'loop',
    server: 'fs',
    tool: 'read_file',
    agent: 'A',
    session: `s${i % 2}`,
    evidence: {},
    eventIds: [`e${i}`],
    ...over,
  });
  assert.deepEqual(
    mergeAlerts(s, [alert(0)], 0).map((a) => a.id),
    ['a0'],
    'the first goes out at once',
  );
  assert.deepEqual(mergeAlerts(s, [alert(1), alert(2), alert(3)], 3000), [], 'repeats are held');
  assert.deepEqual(
    mergeAlerts(s, [alert(4, { agent: 'B' })], 4000).map((a) => a.id),
    ['a4'],
    'another agent is its own group',
  );
  const [summary] = closeExpired(s, 61_000);
  assert.equal(summary?.id, 'a0:repeats');
  assert.equal(summary?.evidence.count, 3);
  assert.deepEqual(summary?.evidence.sessions, ['s1', 's0']);
  assert.deepEqual(summary?.eventIds, ['e1', 'e2', 'e3']);
  assert.match(summary!.title, /^3 more alerts like this/);
  assert.deepEqual(
    closeExpired(s, 200_000).map((a) => a.id),
    [],
    'B had no repeats: no summary',
  );
});

test('merge never lowers severity: a higher-severity alert after a low one of its group goes out at once with its own title, and summaries carry the highest severity', async () => {
  const { createMergeState, mergeAlerts, closeExpired } = await import('@tapwatch/analyzer');
  const s = createMergeState(60_000);
  const alert = (i: number, severity: 'low' | 'medium' | 'high' | 'critical', title: string) => ({
    id: `a${i}`,
    time: at(i * 1000),
    severity,
    detector: 'content.secret',
    title,
    server: 'fs',
    tool: 'read_file',
    agent: 'A',
    session: 's',
    evidence: { n: i },
    eventIds: [`e${i}`],
  });
  const low = 'A result of fs/read_file holds a high-entropy string that may be a secret.';
  const critical = 'A secret (aws-access-key) is being sent in the arguments of fs/read_file.';
  assert.deepEqual(
    mergeAlerts(s, [alert(0, 'low', low)], 0).map((a) => a.id),
    ['a0'],
  );
  assert.deepEqual(mergeAlerts(s, [alert(1, 'low', low)], 1000), [], 'an equal severity is held, as before');
  // The critical one, in the same batch as another low repeat.
  const out = mergeAlerts(s, [alert(2, 'critical', critical), alert(3, 'low', low)], 2000);
  const published = out.find((a) => a.id === 'a2');
  assert.ok(published, 'the critical alert is published at once');
  assert.equal(published.severity, 'critical');
  assert.equal(published.title, critical, 'with its own title');
  assert.deepEqual(published.evidence, { n: 2 }, 'and its own evidence');
  const lowSummary = out.find((a) => a.id === 'a0:repeats');
  assert.equal(lowSummary?.severity, 'low', 'what the low alert held goes out as its summary');
  assert.equal(lowSummary?.evidence.count, 1);
  assert.deepEqual(
    out.map((a) => a.id),
    ['a0:repeats', 'a2'],
    'the low repeat after it is held under the critical one',
  );
  assert.deepEqual(mergeAlerts(s, [alert(4, 'critical', critical), alert(5, 'medium', 'm')], 4000), [], 'repeats at or below critical are held');
  const [summary, ...rest] = closeExpired(s, 70_000);
  assert.equal(rest.length, 0);
  assert.equal(summary?.id, 'a2:repeats');
  assert.equal(summary?.severity, 'critical', 'the summary carries the highest severity in it');
  assert.equal(summary?.title, `3 more alerts like this within 3s: ${critical}`, 'and its title');
  assert.deepEqual(summary?.eventIds, ['e3', 'e4', 'e5']);
});

test("call rate: a session far faster than the agent's usual peaks is noted (low); usual pace is not", async () => {
  const { createRateState, detectRate, learnSessionEnd } = await import('@tapwatch/analyzer');
  const s = createRateState();
  let t = 0;
  for (let n = 0; n < 12; n++) {
    for (let i = 0; i < 15; i++) detectRate(s, toolCallEvent({ agent: 'R', session: `r${n}`, argumentsHash: `${n}.${i}`, time: at((t += 2000)) }));
    learnSessionEnd(s, sessionEndEvent({ agent: 'R', session: `r${n}`, server: 'fs' }));
  }
  const usual: string[] = [];
  for (let i = 0; i < 15; i++)
    usual.push(...detectRate(s, toolCallEvent({ agent: 'R', session: 'u', argumentsHash: `u${i}`, time: at((t += 2000)) })).map((f) => f.detector));
  assert.ok(!usual.includes('call_rate'));
  const fast: { detector: string; severity: string }[] = [];
  for (let i = 0; i < 20; i++) fast.push(...detectRate(s, toolCallEvent({ agent: 'R', session: 'f', argumentsHash: `f${i}`, time: at((t += 20)) })));
  const rate = fast.filter((f) => f.detector === 'call_rate');
  assert.equal(rate.length, 1);
  assert.equal(rate[0]!.severity, 'low');
});
