/**
 * Rules as data: the file format (schema errors that name the file, the rule
 * and the field), every condition operator both ways, exceptions, sequences
 * (bindings, windows by calls and by time, expiry, one alert per
 * completion), overrides across files, tools_list rules, titles and
 * evidence, and bounded state under many sessions.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TapEvent, ToolCallEvent } from '@tapwatch/schema';
import { TapwatchError } from '@tapwatch/schema';
import {
  createRulesState,
  evaluateRules,
  loadRules,
  RulesError,
  RulesErrorCode,
  trackedBindings,
  unsafeRegexReason,
  type CompiledRules,
  type RulesLimits,
} from '../../src/rules/index.js';
import type { Finding } from '../../src/detectors/types.js';
import { sessionEndEvent, toolCallEvent, toolsListEvent } from '../../../test/support/events.js';

const T0 = Date.UTC(2026, 0, 1);
const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();

function load(text: string, name = 'rules.yaml'): CompiledRules {
  return loadRules([{ name, text }]);
}

/** The problems loading `text` reports (fails the test when it loads). */
function problems(text: string, name = 'rules.yaml'): string[] {
  try {
    load(text, name);
  } catch (err) {
    assert.ok(err instanceof RulesError, `expected a RulesError, got ${String(err)}`);
    return [...err.problems];
  }
  assert.fail('expected the rules to be refused');
}

/** A one-rule file whose `when` is `when` (YAML flow syntax). */
function rule(when: string, extra = ''): string {
  return `version: 1\nlists:\n  hosts: [webhook.site, ngrok.io]\n  names: [Alpha, beta]\nrules:\n  - id: r\n    description: test rule\n    severity: high\n    when: ${when}\n${extra}`;
}

function fires(text: string, event: TapEvent, limits: Partial<RulesLimits> = {}): Finding[] {
  return evaluateRules(createRulesState(load(text), limits), event);
}

function call(over: Partial<ToolCallEvent> = {}): ToolCallEvent {
  return toolCallEvent({ time: at(0), ...over });
}

// ---------------------------------------------------------------------------
// Schema and compile errors

test('schema: a missing id, a bad severity and an unknown key are named with the file, the rule and the field', () => {
  assert.deepEqual(problems('version: 1\nrules:\n  - { description: x, severity: high, when: { tool: a } }\n'), ['rules.yaml: rule #1: id: required']);
  assert.deepEqual(problems('version: 1\nrules:\n  - { id: r1, description: x, severity: urgent, when: { tool: a } }\n'), [
    'rules.yaml: rule "r1": severity: expected one of low, medium, high, critical, got "urgent"',
  ]);
  assert.deepEqual(problems('version: 1\nrules:\n  - { id: r1, description: x, severity: high, when: { tool: a, arguement: { path: p } }, tilte: t }\n'), [
    'rules.yaml: rule "r1": when.arguement: unknown key (did you mean "argument"?)',
    'rules.yaml: rule "r1": tilte: unknown key (did you mean "title"?)',
  ]);
  assert.deepEqual(problems('version: 1\nrules:\n  - { id: r1, description: x, severity: high, when: { tool: { matchs: a } } }\n'), [
    'rules.yaml: rule "r1": when.tool.matchs: unknown key (did you mean "matches"?)',
  ]);
  assert.deepEqual(problems('rules: []\n'), ['rules.yaml: version: required (1)']);
  assert.deepEqual(problems('version: 1\nsurprise: true\n'), ['rules.yaml: surprise: unknown key']);
});

test('schema: a value of the wrong type says what was expected', () => {
  const [p] = problems('version: 1\nrules:\n  - id: shell-startup-write\n    description: x\n    severity: high\n    when:\n      tool: 5\n');
  assert.match(p!, /^rules\.yaml: rule "shell-startup-write": when\.tool: expected string or list/);
  assert.deepEqual(problems(rule('{ tool: { equals: 5 } }')), ['rules.yaml: rule "r": when.tool.equals: expected string or list of strings']);
  assert.deepEqual(problems(rule('{ request_bytes: { gt: "x" } }')), ['rules.yaml: rule "r": when.request_bytes.gt: expected number, got "x"']);
  assert.deepEqual(problems(rule('{ is_error: "yes" }')), ['rules.yaml: rule "r": when.is_error: expected boolean, got "yes"']);
  assert.deepEqual(problems(rule('{}')), ['rules.yaml: rule "r": when: a condition needs at least one key']);
  assert.deepEqual(problems(rule('{ not: { tool: { equals: [] } } }')).length, 1);
});

test('schema: bad and catastrophic regexes are refused at load, naming the rule and the field', () => {
  const [bad] = problems(rule('{ tool: { matches: "(a" } }'));
  assert.match(bad!, /^rules\.yaml: rule "r": when\.tool\.matches: bad regex "\(a": invalid: Unterminated group/);
  const [nested] = problems(rule('{ any_argument: { matches: "(a+)+b" } }'));
  assert.match(nested!, /^rules\.yaml: rule "r": when\.any_argument\.matches: bad regex "\(a\+\)\+b": refused: nested repeat/);
  const [long] = problems(rule(`{ tool: { matches: "${'a'.repeat(1001)}" } }`));
  assert.match(long!, /refused: longer than 1000 characters/);
  // A bad regex in a list is reported where the list is used.
  const [inList] = problems(
    'version: 1\nlists: { pats: ["ok", "(x*)*"] }\nrules:\n  - { id: r2, description: x, severity: low, when: { tool: { matches: $pats } } }\n',
  );
  assert.match(inList!, /rule "r2": when\.tool\.matches: bad regex "\(x\*\)\*": refused/);
});

test('regex safety: nested unbounded repeats are refused, ordinary patterns pass', () => {
  for (const bad of ['(a+)+', '(a*)*', '(?:\\w+\\s?)*', '((ab)+c)+', '(a{2,})+', '(x+){12}', '(?<n>a+)*', '(\\d+\\.){2}']) {
    assert.ok(unsafeRegexReason(bad), `should refuse ${bad}`);
  }
  for (const good of ['(\\d{1,3}\\.){3}\\d{1,3}', '\\w+@\\w+', '(a|b)*c', '[(a+)+]', '\\(a+\\)+', '(?:ab)+', '(a+)?', 'x{2,5}y+']) {
    assert.equal(unsafeRegexReason(good), undefined, `should accept ${good}`);
  }
});

test('schema: unknown list and macro references, macro cycles and bad paths are errors', () => {
  assert.deepEqual(problems(rule('{ tool: $nope }')), ['rules.yaml: rule "r": when.tool: unknown list "$nope"']);
  assert.deepEqual(problems(rule('{ tool: { contains: [a, $nope] } }')), ['rules.yaml: rule "r": when.tool.contains: unknown list "$nope"']);
  assert.deepEqual(problems('version: 1\nmacros: { m: { tool: a } }\nrules:\n  - { id: r, description: x, severity: low, when: { macro: mm } }\n'), [
    'rules.yaml: rule "r": when.macro: unknown macro "mm" (known: m)',
  ]);
  const cycle = problems(
    'version: 1\nmacros: { a: { macro: b }, b: { macro: a } }\nrules:\n  - { id: r, description: x, severity: low, when: { macro: a } }\n',
  );
  assert.equal(cycle.length, 1);
  assert.match(cycle[0]!, /macro cycle: a → b → a/);
  assert.match(problems(rule('{ argument: { path: "a..b", equals: x } }'))[0]!, /when\.argument\.path: bad argument path "a\.\.b"/);
  // A mistake in a macro no rule uses is still reported.
  assert.deepEqual(problems('version: 1\nmacros: { unused: { tool: $missing } }\n'), ['rules.yaml: macro "unused": tool: unknown list "$missing"']);
});

test('schema: sequences need within and by; tools_list rules only take tool keys; titles only known fields', () => {
  assert.deepEqual(problems('version: 1\nrules:\n  - { id: s, description: x, severity: low, sequence: [ { when: { tool: a } }, { when: { tool: b } } ] }\n'), [
    'rules.yaml: rule "s": within: required for a sequence (calls, seconds or both)',
    'rules.yaml: rule "s": by: required for a sequence (session, agent or server+session)',
  ]);
  assert.deepEqual(
    problems('version: 1\nrules:\n  - { id: s, description: x, severity: low, sequence: [ { when: { tool: a } } ], within: { calls: 3 }, by: session }\n'),
    ['rules.yaml: rule "s": sequence: needs at least two steps (or one step with `count` of 2 or more); a single condition is a `when` rule'],
  );
  assert.deepEqual(
    problems(
      'version: 1\nrules:\n  - { id: s, description: x, severity: low, sequence: [ { when: { tool: a } }, { when: { tool: b } } ], within: {}, by: sesion }\n',
    ),
    ['rules.yaml: rule "s": within: give calls, seconds or both', 'rules.yaml: rule "s": by: expected one of session, agent, server+session, got "sesion"'],
  );
  assert.deepEqual(problems('version: 1\nrules:\n  - { id: t, event: tools_list, description: x, severity: low, when: { argument: { path: p } } }\n'), [
    'rules.yaml: rule "t": when.argument: not available on tools_list events (they support server, agent, session, tool, tool_description, tool_text)',
  ]);
  assert.deepEqual(
    problems('version: 1\nmacros: { out: { egress: true } }\nrules:\n  - { id: t, event: tools_list, description: x, severity: low, when: { macro: out } }\n'),
    [
      'rules.yaml: macro "out" (used by tools_list rule "t"): egress: not available on tools_list events (they support server, agent, session, tool, tool_description, tool_text)',
    ],
  );
  assert.deepEqual(problems(rule('{ tool_description: { contains: x } }')), [
    'rules.yaml: rule "r": when.tool_description: only for `event: tools_list` rules',
  ]);
  assert.deepEqual(problems(rule('{ tool: a }', '    title: "{server} did {bogus}"\n')), ['rules.yaml: rule "r": title: unknown field {bogus}']);
});

test('schema: every problem of every file is reported at once, in a RulesError with a code', () => {
  try {
    loadRules([
      {
        name: 'a.yaml',
        text: 'version: 1\nrules:\n  - { id: x, description: d, severity: bad, when: { tool: t } }\n  - { id: y, description: d, severity: low, when: { tool: $none } }\n',
      },
      { name: 'b.json', text: '{"version": 1, "rules": [{"id": "z", "severity": "low", "when": {"tool": "t"}}]}' },
      { name: 'c.yml', text: 'version: 1\nrules:\n  - id: r1\n   description: x\n' },
    ]);
    assert.fail('should throw');
  } catch (err) {
    assert.ok(err instanceof RulesError);
    assert.ok(err instanceof TapwatchError);
    assert.equal(err.code, RulesErrorCode.INVALID);
    assert.equal(err.problems.length, 3, err.message);
    assert.match(err.problems[0]!, /^a\.yaml: rule "x": severity/);
    assert.match(err.problems[1]!, /^b\.json: rule "z": description: required/);
    assert.match(err.problems[2]!, /^c\.yml: not valid YAML: .*line 4/);
    assert.match(err.message, /^3 problems in rules files:/);
  }
  // Once every file is well-formed, references, regexes and titles are checked, again all at once.
  try {
    loadRules([
      { name: 'a.yaml', text: 'version: 1\nrules:\n  - { id: y, description: d, severity: low, when: { tool: $none } }\n' },
      { name: 'b.yaml', text: 'version: 1\nrules:\n  - { id: z, description: d, severity: low, when: { tool: { matches: "(" } }, title: "{nope}" }\n' },
    ]);
    assert.fail('should throw');
  } catch (err) {
    assert.ok(err instanceof RulesError);
    assert.equal(err.problems.length, 3, err.message);
    assert.match(err.problems[0]!, /^a\.yaml: rule "y": when\.tool: unknown list "\$none"/);
    assert.match(err.problems[1]!, /^b\.yaml: rule "z": when\.tool\.matches: bad regex/);
    assert.match(err.problems[2]!, /^b\.yaml: rule "z": title: unknown field \{nope\}/);
  }
  assert.match(problems('{"version": 1,', 'x.json')[0]!, /^x\.json: not valid JSON/);
  assert.deepEqual(
    problems(
      'version: 1\nrules:\n  - { id: r1, description: x, severity: high, when: { tool: a } }\n  - { id: r1, description: x, severity: high, when: { tool: b } }\n',
    ),
    ['rules.yaml: rule "r1": id used twice in this file'],
  );
  assert.deepEqual(problems('- just\n- a list\n'), ['rules.yaml: expected a mapping with version: 1 and rules, got a list']);
});

// ---------------------------------------------------------------------------
// Condition operators

test('operators: a plain string equals (case-insensitively), a list or $list is any of', () => {
  assert.equal(fires(rule('{ tool: Write_File }'), call({ tool: 'write_file' })).length, 1);
  assert.equal(fires(rule('{ tool: write_file }'), call({ tool: 'write_files' })).length, 0);
  assert.equal(fires(rule('{ tool: [a, b, write_file] }'), call({ tool: 'write_file' })).length, 1);
  assert.equal(fires(rule('{ agent: $names }'), call({ agent: 'alpha' })).length, 1);
  assert.equal(fires(rule('{ agent: $names }'), call({ agent: 'gamma' })).length, 0);
  assert.equal(fires(rule('{ agent: { in: [$names, gamma] } }'), call({ agent: 'gamma' })).length, 1);
  assert.equal(fires(rule('{ server: { equals: fs } }'), call({ server: 'fs' })).length, 1);
  assert.equal(fires(rule('{ session: { equals: s1 } }'), call({ session: 's2' })).length, 0);
  assert.equal(fires(rule('{ status: tool_error }'), call({ status: 'tool_error', isError: true })).length, 1);
  assert.equal(fires(rule('{ status: tool_error }'), call({ status: 'ok' })).length, 0);
});

test('operators: contains, starts_with, ends_with, matches', () => {
  assert.equal(fires(rule('{ tool: { contains: FILE } }'), call({ tool: 'read_file' })).length, 1);
  assert.equal(fires(rule('{ tool: { contains: dir } }'), call({ tool: 'read_file' })).length, 0);
  assert.equal(fires(rule('{ tool: { starts_with: [get_, read_] } }'), call({ tool: 'read_file' })).length, 1);
  assert.equal(fires(rule('{ tool: { starts_with: get_ } }'), call({ tool: 'read_file' })).length, 0);
  assert.equal(fires(rule('{ tool: { ends_with: _FILE } }'), call({ tool: 'read_file' })).length, 1);
  assert.equal(fires(rule('{ tool: { ends_with: _dir } }'), call({ tool: 'read_file' })).length, 0);
  assert.equal(fires(rule(`{ tool: { matches: '^(write|edit)_?file$' } }`), call({ tool: 'EditFile' })).length, 1);
  assert.equal(fires(rule(`{ tool: { matches: '^(write|edit)_?file$' } }`), call({ tool: 'read_file' })).length, 0);
  // Several operators: all must hold.
  assert.equal(fires(rule('{ tool: { starts_with: read, ends_with: file } }'), call({ tool: 'read_file' })).length, 1);
  assert.equal(fires(rule('{ tool: { starts_with: read, ends_with: dir } }'), call({ tool: 'read_file' })).length, 0);
});

test('operators: word splits names on case and separators; file_name takes the last path segment', () => {
  assert.equal(fires(rule('{ tool: { word: delete } }'), call({ tool: 'bulkDeleteRows' })).length, 1);
  assert.equal(fires(rule('{ tool: { word: delete } }'), call({ tool: 'undeleted_items' })).length, 0);
  const write = (path: string) => call({ tool: 'write_file', arguments: { path } });
  assert.equal(fires(rule('{ argument: { path: path, file_name: [.bashrc] } }'), write('/home/u/.bashrc')).length, 1);
  assert.equal(fires(rule('{ argument: { path: path, file_name: [.bashrc] } }'), write('C:\\Users\\u\\.BASHRC')).length, 1);
  assert.equal(fires(rule('{ argument: { path: path, file_name: [.bashrc] } }'), write('/home/u/.bashrc.bak')).length, 0);
  assert.equal(fires(rule('{ argument: { path: path, file_name: [.bashrc] } }'), write('/home/u/.bashrc/notes')).length, 0);
});

test('operators: domain matches a host or its subdomains, in URLs, e-mail addresses and bare hosts', () => {
  const arg = (url: string) => call({ tool: 'fetch', arguments: { url } });
  const r = rule('{ any_argument: { domain: $hosts } }');
  assert.equal(fires(r, arg('https://x1.ngrok.io/collect?d=1')).length, 1);
  assert.equal(fires(r, arg('HTTPS://WEBHOOK.SITE/abc')).length, 1);
  assert.equal(fires(r, arg('ops@webhook.site')).length, 1);
  assert.equal(fires(r, arg('see https://docs.example.com and then https://webhook.site/x')).length, 1);
  assert.equal(fires(r, arg('https://notngrok.io/x')).length, 0, 'a different domain ending the same way');
  assert.equal(fires(r, arg('https://webhook.site.example.com/')).length, 0, 'the name as a subdomain of another');
  assert.equal(fires(r, arg('/home/dev/webhook.site/readme.md')).length, 0, 'a path is not a host');
  assert.equal(fires(rule('{ destination: { domain: ngrok.io } }'), call({ destinations: ['a.b.ngrok.io'] })).length, 1);
  assert.equal(fires(rule('{ destination: { domain: ngrok.io } }'), call({ destinations: ['example.com'] })).length, 0);
  assert.equal(fires(rule('{ destination: { domain: ngrok.io } }'), call({})).length, 0, 'no destinations');
});

test('operators: not on strings, and not/any/all on conditions', () => {
  assert.equal(fires(rule('{ tool: { contains: file, not: { starts_with: read } } }'), call({ tool: 'write_file' })).length, 1);
  assert.equal(fires(rule('{ tool: { contains: file, not: { starts_with: read } } }'), call({ tool: 'read_file' })).length, 0);
  assert.equal(fires(rule('{ not: { tool: read_file } }'), call({ tool: 'write_file' })).length, 1);
  assert.equal(fires(rule('{ not: { tool: read_file } }'), call({ tool: 'read_file' })).length, 0);
  assert.equal(fires(rule('{ any: [ { tool: a }, { server: fs } ] }'), call({ tool: 'b', server: 'fs' })).length, 1);
  assert.equal(fires(rule('{ any: [ { tool: a }, { server: gh } ] }'), call({ tool: 'b', server: 'fs' })).length, 0);
  assert.equal(fires(rule('{ all: [ { tool: b }, { server: fs } ] }'), call({ tool: 'b', server: 'fs' })).length, 1);
  assert.equal(fires(rule('{ all: [ { tool: b }, { server: gh } ] }'), call({ tool: 'b', server: 'fs' })).length, 0);
  // Top-level keys are an implicit all.
  assert.equal(fires(rule('{ tool: b, server: gh }'), call({ tool: 'b', server: 'fs' })).length, 0);
});

test('operators: argument by path (dots, [n], [*], numeric segments), existence, numbers as text', () => {
  const args = { options: { url: 'https://a.example/x' }, paths: ['/a', '/b/.zshrc'], edits: [{ path: '/x' }, { path: '/y/.profile' }], count: 42, flag: true };
  const ev = call({ tool: 'multi', arguments: args });
  assert.equal(fires(rule('{ argument: { path: options.url, starts_with: "https://" } }'), ev).length, 1);
  assert.equal(fires(rule('{ argument: { path: "paths[1]", file_name: .zshrc } }'), ev).length, 1);
  assert.equal(fires(rule('{ argument: { path: "paths[0]", file_name: .zshrc } }'), ev).length, 0);
  assert.equal(fires(rule('{ argument: { path: paths, file_name: .zshrc } }'), ev).length, 1, 'an array at the path: any item');
  assert.equal(fires(rule('{ argument: { path: "edits[*].path", file_name: .profile } }'), ev).length, 1);
  assert.equal(fires(rule('{ argument: { path: "edits.1.path", file_name: .profile } }'), ev).length, 1);
  assert.equal(fires(rule('{ argument: { path: "edits.0.path", file_name: .profile } }'), ev).length, 0);
  assert.equal(fires(rule('{ argument: { path: count, equals: "42" } }'), ev).length, 1);
  assert.equal(fires(rule('{ argument: { path: flag, equals: "true" } }'), ev).length, 1);
  assert.equal(fires(rule('{ argument: { path: options } }'), ev).length, 1, 'no operator: the argument exists');
  assert.equal(fires(rule('{ argument: { path: missing } }'), ev).length, 0);
  assert.equal(fires(rule('{ argument: { path: options.url, contains: x } }'), call({ tool: 'multi' })).length, 0, 'no arguments (metadata capture)');
});

test('operators: any_argument (optionally by key) and argument_key', () => {
  const ev = call({ arguments: { title: 'rm -rf /tmp/x', nested: { command: 'ls -la' } }, argumentKeys: ['title', 'nested'] });
  assert.equal(fires(rule('{ any_argument: { contains: "rm -rf" } }'), ev).length, 1);
  assert.equal(fires(rule('{ any_argument: { key: command, contains: "rm -rf" } }'), ev).length, 0, 'only under the key');
  assert.equal(fires(rule('{ any_argument: { key: command, starts_with: ls } }'), ev).length, 1);
  assert.equal(fires(rule('{ any_argument: { key: { matches: "^(cmd|command)$" } } }'), ev).length, 1, 'no operator: any value under the key');
  assert.equal(fires(rule('{ argument_key: nested }'), ev).length, 1);
  assert.equal(fires(rule('{ argument_key: { starts_with: cmd } }'), ev).length, 0);
});

test('operators: error reads the RPC error message or an isError result; result reads the preview', () => {
  const r = rule(`{ error: { matches: 'denied|forbidden' } }`);
  assert.equal(fires(r, call({ status: 'rpc_error', isError: true, errorMessage: 'Permission denied' })).length, 1);
  assert.equal(fires(r, call({ status: 'tool_error', isError: true, resultPreview: 'HTTP 403 Forbidden' })).length, 1);
  assert.equal(
    fires(r, call({ status: 'ok', resultPreview: 'the request was denied by the judge (a news article)' })).length,
    0,
    'a successful result is not an error',
  );
  assert.equal(fires(r, call({ status: 'tool_error', isError: true, resultPreview: 'ENOENT: no such file' })).length, 0);
  assert.equal(fires(rule('{ result: { contains: "BEGIN" } }'), call({ resultPreview: '-----BEGIN x' })).length, 1);
  assert.equal(fires(rule('{ result: { contains: "BEGIN" } }'), call({ resultPreview: 'nothing' })).length, 0);
  assert.equal(fires(rule('{ is_error: true }'), call({ isError: true, status: 'tool_error' })).length, 1);
  assert.equal(fires(rule('{ is_error: true }'), call({})).length, 0);
});

test('operators: finding by kind, where, rule and field', () => {
  const ev = call({ findings: [{ kind: 'sensitive_path', where: 'arguments', field: 'path', rule: 'ssh_key_path' }] });
  assert.equal(fires(rule('{ finding: { kind: sensitive_path } }'), ev).length, 1);
  assert.equal(fires(rule('{ finding: { kind: sensitive_path, where: result } }'), ev).length, 0);
  assert.equal(fires(rule('{ finding: { rule: { matches: "^ssh_" }, field: path } }'), ev).length, 1);
  assert.equal(fires(rule('{ finding: { kind: secret } }'), ev).length, 0);
  assert.equal(fires(rule('{ finding: {} }'), ev).length, 1, 'an empty finding condition: any finding');
  assert.equal(fires(rule('{ finding: {} }'), call({})).length, 0);
});

test('operators: numbers (plain equals, gt/gte/lt/lte/eq) on sizes and duration', () => {
  const ev = call({ requestBytes: 100, responseBytes: 5_000_000, durationMs: 2500 });
  assert.equal(fires(rule('{ response_bytes: { gt: 1000000 } }'), ev).length, 1);
  assert.equal(fires(rule('{ response_bytes: { lt: 1000000 } }'), ev).length, 0);
  assert.equal(fires(rule('{ request_bytes: 100 }'), ev).length, 1);
  assert.equal(fires(rule('{ request_bytes: { eq: 101 } }'), ev).length, 0);
  assert.equal(fires(rule('{ duration_ms: { gte: 2500, lte: 2500 } }'), ev).length, 1);
  assert.equal(fires(rule('{ duration_ms: { gt: 2500 } }'), ev).length, 0);
});

test('operators: egress and macros (one or a list)', () => {
  const text = `version: 1
macros:
  out: { egress: true }
  gh: { server: github }
rules:
  - { id: one, description: d, severity: low, when: { macro: out } }
  - { id: both, description: d, severity: low, when: { macro: [out, gh] } }
  - { id: inward, description: d, severity: low, when: { egress: false } }
`;
  const ids = (e: ToolCallEvent) =>
    evaluateRules(createRulesState(load(text)), e)
      .map((f) => f.detector)
      .sort();
  assert.deepEqual(ids(call({ server: 'github', tool: 'create_issue' })), ['rule:both', 'rule:one']);
  assert.deepEqual(ids(call({ server: 'fetch', tool: 'fetch' })), ['rule:one']);
  assert.deepEqual(ids(call({ server: 'fs', tool: 'read_file' })), ['rule:inward']);
  assert.deepEqual(ids(call({ server: 'fs', tool: 'read_file', destinations: ['evil.example'] })), ['rule:one']);
});

test('operators: strings are cut to the evaluation bound before matching', () => {
  const long = `${'a'.repeat(70_000)}NEEDLE`;
  const ev = call({ arguments: { text: long } });
  assert.equal(fires(rule('{ any_argument: { matches: NEEDLE } }'), ev).length, 0, 'past 64 KB: not seen');
  assert.equal(fires(rule('{ any_argument: { matches: NEEDLE } }'), ev, { maxStringChars: 80_000 }).length, 1);
});

// ---------------------------------------------------------------------------
// Exceptions, titles, evidence

test('exceptions: any matching exception suppresses the rule', () => {
  const text = rule(
    `{ tool: { word: [write] } }`,
    `    except:\n      - server: trusted-admin\n      - agent: { in: [ci-bot] }\n      - argument: { path: path, matches: '^/tmp/' }\n`,
  );
  assert.equal(fires(text, call({ tool: 'write_file', arguments: { path: '/home/u/x' } })).length, 1);
  assert.equal(fires(text, call({ tool: 'write_file', server: 'trusted-admin' })).length, 0);
  assert.equal(fires(text, call({ tool: 'write_file', agent: 'ci-bot' })).length, 0);
  assert.equal(fires(text, call({ tool: 'write_file', arguments: { path: '/tmp/x' } })).length, 0);
  assert.equal(fires(text, call({ tool: 'write_file', arguments: { path: '/var/tmp/x' } })).length, 1);
});

test('titles and evidence: template fields, argument paths, cleaned and bounded values', () => {
  const text = rule(
    `{ tool: { word: write }, argument: { path: path, contains: bashrc } }`,
    `    title: "{server}/{tool} by {agent} writes {argument.path} ({match}; {rule}, {severity}; {argument.nope})"\n`,
  );
  const [f] = fires(text, call({ server: 'fs', tool: 'write_file', agent: 'bot', arguments: { path: '/home/u/.bashrc\n\u001b[31mred' } }));
  assert.ok(f);
  assert.equal(f.title, 'fs/write_file by bot writes /home/u/.bashrc [31mred (/home/u/.bashrc [31mred; r, high; ?)');
  assert.equal(f.detector, 'rule:r');
  assert.equal(f.severity, 'high');
  assert.deepEqual(f.eventIds.length, 1);
  assert.equal(f.evidence.rule, 'r');
  assert.equal(f.evidence.description, 'test rule');
  assert.equal(f.evidence.source, 'rules.yaml');
  assert.deepEqual(
    (f.evidence.matched as { field: string }[]).map((m) => m.field),
    ['tool', 'arguments.path'],
  );
  // Default title: the description and the call.
  const [d] = fires(rule('{ tool: x }'), call({ server: 'fs', tool: 'x' }));
  assert.equal(d?.title, 'test rule (fs/x).');
  // Long values: at most 200 characters in evidence, 100 per field in titles.
  const [l] = fires(rule('{ any_argument: { contains: z } }', '    title: "{match}"\n'), call({ arguments: { body: 'z'.repeat(5000) } }));
  const m = (l?.evidence.matched as { value: string }[])[0]!;
  assert.ok(m.value.length <= 200);
  assert.ok(l!.title.length <= 100);
});

// ---------------------------------------------------------------------------
// Sequences

const SEQ = (by: string, within: string) => `version: 1
rules:
  - id: seq
    description: read then send
    severity: high
    sequence:
      - when: { tool: read }
      - when: { tool: send }
    within: ${within}
    by: ${by}
`;

function stream(text: string, events: Partial<ToolCallEvent>[], limits: Partial<RulesLimits> = {}): Finding[][] {
  const s = createRulesState(load(text), limits);
  return events.map((e) => evaluateRules(s, call(e)));
}

test('sequences: A then B in the same session alerts once, with both call ids and the gap', () => {
  const out = stream(SEQ('session', '{ calls: 5, seconds: 300 }'), [
    { tool: 'read', time: at(0), id: '00000000-0000-4000-8000-000000000001' },
    { tool: 'other', time: at(1) },
    { tool: 'send', time: at(12), id: '00000000-0000-4000-8000-000000000003' },
    { tool: 'send', time: at(13) },
  ]);
  assert.deepEqual(
    out.map((o) => o.length),
    [0, 0, 1, 0],
    'one alert, no second one for a second B',
  );
  const f = out[2]![0]!;
  assert.deepEqual(f.eventIds, ['00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000003']);
  assert.equal(f.evidence.gapCalls, 2);
  assert.equal(f.evidence.gapSeconds, 12);
  assert.equal(f.evidence.by, 'session');
  assert.equal((f.evidence.steps as unknown[]).length, 2);
  assert.equal(f.title, 'read then send (fs/read then fs/send, 2 calls and 12 s apart, same session).');
});

test('sequences: a new A after a completion can complete again (one alert per completion)', () => {
  const out = stream(SEQ('session', '{ calls: 5 }'), [{ tool: 'read' }, { tool: 'send' }, { tool: 'read' }, { tool: 'send' }]);
  assert.deepEqual(
    out.map((o) => o.length),
    [0, 1, 0, 1],
  );
});

test('sequences: B before A, and a call matching both steps alone, do not complete', () => {
  assert.deepEqual(stream(SEQ('session', '{ calls: 5 }'), [{ tool: 'send' }, { tool: 'read' }]).flat(), []);
  const both = `version: 1\nrules:\n  - id: s\n    description: d\n    severity: low\n    sequence: [ { when: { tool: { contains: x } } }, { when: { tool: { contains: x } } } ]\n    within: { calls: 5 }\n    by: session\n`;
  assert.deepEqual(stream(both, [{ tool: 'x' }]).flat(), [], 'one call is one step');
  assert.equal(stream(both, [{ tool: 'x' }, { tool: 'x' }]).flat().length, 1);
});

test('sequences: by session keeps sessions apart; by agent joins them', () => {
  const events = [
    { tool: 'read', session: 's1', agent: 'a1' },
    { tool: 'send', session: 's2', agent: 'a1' },
  ];
  assert.equal(stream(SEQ('session', '{ calls: 5 }'), events).flat().length, 0);
  const byAgent = stream(SEQ('agent', '{ calls: 5 }'), events).flat();
  assert.equal(byAgent.length, 1);
  assert.equal(byAgent[0]!.evidence.key, 'a1');
  assert.equal(stream(SEQ('agent', '{ calls: 5 }'), [events[0]!, { ...events[1]!, agent: 'a2' }]).flat().length, 0);
  const bySS = SEQ('server+session', '{ calls: 5 }');
  assert.equal(
    stream(bySS, [
      { tool: 'read', server: 'x' },
      { tool: 'send', server: 'y' },
    ]).flat().length,
    0,
  );
  assert.equal(
    stream(bySS, [
      { tool: 'read', server: 'x' },
      { tool: 'send', server: 'x' },
    ]).flat().length,
    1,
  );
});

test('sequences: within N calls counts every call of the binding, up to and including N after the first', () => {
  const fill = (n: number) => Array.from({ length: n }, () => ({ tool: 'noise' }));
  const text = SEQ('session', '{ calls: 5 }');
  assert.equal(stream(text, [{ tool: 'read' }, ...fill(4), { tool: 'send' }]).flat().length, 1, '5 calls apart');
  assert.equal(stream(text, [{ tool: 'read' }, ...fill(5), { tool: 'send' }]).flat().length, 0, '6 calls apart: expired');
  // Calls of other sessions do not count.
  assert.equal(stream(text, [{ tool: 'read' }, ...fill(8).map((e) => ({ ...e, session: 'other' })), { tool: 'send' }]).flat().length, 1);
  // A later A restarts the window.
  assert.equal(stream(text, [{ tool: 'read' }, ...fill(4), { tool: 'read' }, ...fill(4), { tool: 'send' }]).flat().length, 1);
});

test('sequences: within seconds uses event time; expired chains are dropped', () => {
  const text = SEQ('session', '{ seconds: 60 }');
  assert.equal(
    stream(text, [
      { tool: 'read', time: at(0) },
      { tool: 'send', time: at(60) },
    ]).flat().length,
    1,
  );
  assert.equal(
    stream(text, [
      { tool: 'read', time: at(0) },
      { tool: 'send', time: at(61) },
    ]).flat().length,
    0,
  );
  // Both bounds: the tighter one wins.
  const both = SEQ('session', '{ seconds: 600, calls: 1 }');
  assert.equal(
    stream(both, [
      { tool: 'read', time: at(0) },
      { tool: 'x', time: at(1) },
      { tool: 'send', time: at(2) },
    ]).flat().length,
    0,
  );
  // After expiry, a B needs a new A.
  assert.equal(
    stream(text, [
      { tool: 'read', time: at(0) },
      { tool: 'send', time: at(100) },
      { tool: 'read', time: at(101) },
      { tool: 'send', time: at(102) },
    ]).flat().length,
    1,
  );
});

test('sequences: count repeats a step; step and rule exceptions', () => {
  const text = `version: 1
rules:
  - id: fails
    description: three failures
    severity: medium
    sequence:
      - when: { is_error: true }
        except: [ { tool: flaky } ]
        count: 3
    within: { calls: 4 }
    by: session
    except: [ { agent: tester } ]
    title: "{steps} failures in {calls} calls, first {first.tool}, last {tool}"
`;
  const fail = (tool = 'x', agent = 'a') => ({ tool, agent, isError: true, status: 'tool_error' as const });
  const ok = { tool: 'ok' };
  const out = stream(text, [fail('one'), ok, fail(), fail('three'), fail(), fail(), fail()]).flat();
  assert.equal(out.length, 2, 'three, then three more');
  assert.equal(out[0]!.title, '3 failures in 3 calls, first one, last three');
  assert.equal(out[0]!.eventIds.length, 3);
  assert.equal(stream(text, [fail(), fail('flaky'), fail()]).flat().length, 0, 'the step exception');
  assert.equal(stream(text, [fail(), fail(), ok, ok, fail()]).flat().length, 1, 'the last 4 calls after the first');
  assert.equal(stream(text, [fail(), ok, ok, fail(), ok, fail()]).flat().length, 0, '5 calls after the first');
  assert.equal(stream(text, [fail('x', 'tester'), fail('x', 'tester'), fail('x', 'tester')]).flat().length, 0, 'the rule exception');
});

test('sequences: state stays bounded under 100k distinct sessions, and recent sessions still complete', () => {
  const compiled = load(SEQ('session', '{ calls: 5, seconds: 300 }'));
  const s = createRulesState(compiled, { maxKeysPerRule: 10_000 });
  const read = call({ tool: 'read' });
  const started = performance.now();
  for (let i = 0; i < 100_000; i++) evaluateRules(s, { ...read, session: `s${i}` });
  const ms = performance.now() - started;
  assert.equal(trackedBindings(s), 10_000);
  assert.equal(evaluateRules(s, call({ tool: 'send', session: 's99999' })).length, 1, 'a recent session is still tracked');
  assert.equal(evaluateRules(s, call({ tool: 'send', session: 's0' })).length, 0, 'the oldest was forgotten');
  assert.ok(ms < 10_000, `100k events took ${ms.toFixed(0)} ms`);
  // The default bound applies too.
  const d = createRulesState(compiled);
  for (let i = 0; i < 100_000; i++) evaluateRules(d, { ...read, session: `s${i}` });
  assert.ok(trackedBindings(d) <= 50_000);
  // Calls that match no step do not create state.
  const quiet = createRulesState(compiled);
  const noise = call({ tool: 'noise' });
  for (let i = 0; i < 1000; i++) evaluateRules(quiet, { ...noise, session: `q${i}` });
  assert.equal(trackedBindings(quiet), 0);
});

// ---------------------------------------------------------------------------
// Overrides across files

test('overrides: later files replace rules, lists and macros by name; an id-only rule disables or re-grades', () => {
  const base = `version: 1
lists: { bad: [evil] }
macros: { sink: { tool: send } }
rules:
  - { id: a, description: d, severity: high, when: { tool: $bad } }
  - { id: b, description: d, severity: high, when: { macro: sink } }
  - { id: c, description: d, severity: high, when: { tool: c } }
`;
  const user = `version: 1
lists: { bad: [worse] }
rules:
  - { id: a, severity: low }
  - { id: b, enabled: false }
  - { id: c, description: replaced, severity: medium, when: { tool: cc } }
  - { id: d, description: new, severity: low, when: { tool: d } }
`;
  const compiled = loadRules([
    { name: 'builtin.yaml', text: base },
    { name: 'mine.yaml', text: user },
  ]);
  assert.deepEqual(
    compiled.rules.map((r) => `${r.id}:${r.severity}:${r.source}`),
    ['a:low:builtin.yaml', 'c:medium:mine.yaml', 'd:low:mine.yaml'],
  );
  assert.deepEqual(compiled.disabled, ['b']);
  assert.deepEqual(compiled.sources, ['builtin.yaml', 'mine.yaml']);
  const s = createRulesState(compiled);
  assert.deepEqual(evaluateRules(s, call({ tool: 'evil' })), [], 'the list was replaced');
  assert.equal(evaluateRules(s, call({ tool: 'worse' }))[0]?.detector, 'rule:a');
  assert.deepEqual(evaluateRules(s, call({ tool: 'c' })), []);
  assert.equal(evaluateRules(s, call({ tool: 'cc' }))[0]?.evidence.description, 'replaced');
  // A disabled rule can come back.
  const again = loadRules([
    { name: 'builtin.yaml', text: base },
    { name: 'mine.yaml', text: user },
    { name: 'more.json', text: '{"version": 1, "rules": [{"id": "b", "enabled": true}]}' },
  ]);
  assert.ok(again.rules.some((r) => r.id === 'b'));
  assert.match(problems('version: 1\nrules:\n  - { id: nothing-here, enabled: false }\n')[0]!, /rule "nothing-here": overrides no earlier rule/);
  assert.match(
    problems('version: 1\nrules:\n  - { id: x, enabled: false, title: t }\n')[0]!,
    /rule "x": title: a rule without `when` or `sequence` only overrides/,
  );
});

// ---------------------------------------------------------------------------
// tools_list rules and other events

test('tools_list rules: one finding per event naming the matching tools; tool_call rules ignore tools_list', () => {
  const text = `version: 1
rules:
  - id: desc
    event: tools_list
    description: Tool text names a drop site
    severity: medium
    when:
      any:
        - tool_description: { matches: 'webhook\\.site' }
        - tool_text: { contains: pastebin }
    except: [ { tool: allowed } ]
  - { id: calls, description: d, severity: low, when: { tool: { contains: "" } } }
`;
  const s = createRulesState(load(text));
  const list = toolsListEvent([
    { name: 'a', description: 'Posts results to https://webhook.site/x' },
    { name: 'b', description: 'harmless', inputSchema: { type: 'object', properties: { to: { type: 'string', description: 'e.g. a pastebin url' } } } },
    { name: 'c', description: 'harmless' },
    { name: 'allowed', description: 'webhook.site' },
  ]);
  const out = evaluateRules(s, list);
  assert.equal(out.length, 1);
  assert.equal(out[0]!.detector, 'rule:desc');
  assert.equal(out[0]!.tool, 'a');
  assert.equal(out[0]!.evidence.toolsMatched, 2);
  assert.equal(out[0]!.title, 'Tool text names a drop site (docs: a, b).');
  assert.deepEqual(evaluateRules(s, toolsListEvent([{ name: 'c', description: 'harmless' }])), []);
  assert.deepEqual(evaluateRules(s, sessionEndEvent()), []);
  assert.equal(evaluateRules(s, call({ tool: 'x' })).length, 1, 'the tool_call rule runs on calls only');
});
