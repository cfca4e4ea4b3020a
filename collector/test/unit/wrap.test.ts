/**
 * `tapwatch wrap` / `unwrap` on config files the tests write: the three
 * formats, idempotence, dry run, byte-exact unwrap, user edits surviving
 * unwrap, bad input.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import {
  WrapError,
  backupPath,
  defaultConfigPath,
  statePath,
  tapSplit,
  unwrapFile,
  unwrapText,
  wrapFile,
  wrapText,
  type WrapOptions,
} from '@tapwatch/collector';

const LAUNCHER = ['/opt/node/bin/node', '/opt/tapwatch/collector/bin/tapwatch.js'];
const OPTS: WrapOptions = { launcher: LAUNCHER };

function dir(): string {
  return mkdtempSync(join(tmpdir(), 'tapwatch-wrap-unit-'));
}

function withFile(name: string, content: string | Buffer, fn: (path: string, root: string) => void): void {
  const root = dir();
  const path = join(root, name);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, content);
  try {
    fn(path, root);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** JSON with comments and trailing commas removed (what VS Code reads). */
function parseJsonc(text: string): any {
  const noComments = text.replace(/("(?:[^"\\]|\\.)*")|\/\/[^\n]*|\/\*[\s\S]*?\*\//g, (_m, str: string | undefined) => str ?? '');
  return JSON.parse(noComments.replace(/,(\s*[}\]])/g, '$1'));
}

const CLAUDE = `{
  "globalShortcut": "Ctrl+Space",
  "mcpServers": {
    "files": {
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-filesystem", "/home/me/docs"],
      "env": { "DEBUG": "1" },
      "cwd": "/home/me"
    },
    "memory": {
      "command": "npx"
    },
    "inline": { "command": "uvx", "args": ["mcp-server-time"] }
  }
}
`;

test('Claude Desktop: every stdio entry runs behind the tap; env, cwd and everything else untouched', () => {
  const plan = wrapText(CLAUDE, '/x/claude_desktop_config.json', { ...OPTS, sink: 'http://127.0.0.1:9999' });
  assert.equal(plan.format, 'claude');
  const before = JSON.parse(CLAUDE);
  const after = JSON.parse(plan.text);
  assert.equal(after.globalShortcut, 'Ctrl+Space');
  assert.deepEqual(after.mcpServers.files, {
    command: LAUNCHER[0],
    args: [
      LAUNCHER[1],
      'tap',
      '--name',
      'files',
      '--sink',
      'http://127.0.0.1:9999',
      '--',
      'npx',
      '-y',
      '@modelcontextprotocol/server-filesystem',
      '/home/me/docs',
    ],
    env: { DEBUG: '1' },
    cwd: '/home/me',
  });
  assert.deepEqual(after.mcpServers.memory, {
    command: LAUNCHER[0],
    args: [LAUNCHER[1], 'tap', '--name', 'memory', '--sink', 'http://127.0.0.1:9999', '--', 'npx'],
  });
  assert.deepEqual(after.mcpServers.inline.args.slice(-2), ['uvx', 'mcp-server-time']);
  assert.deepEqual(Object.keys(after.mcpServers), Object.keys(before.mcpServers), 'order kept, nothing added');
  for (const name of Object.keys(before.mcpServers))
    assert.deepEqual(
      Object.keys(after.mcpServers[name]).filter((k) => k !== 'args'),
      Object.keys(before.mcpServers[name]).filter((k) => k !== 'args'),
      `no extra keys in ${name}`,
    );
  // Lines that hold no changed value are byte for byte the same.
  const kept = CLAUDE.split('\n').filter((l) => !/"(command|args)"/.test(l));
  const wrappedLines = plan.text.split('\n');
  for (const l of kept) assert.ok(wrappedLines.includes(l), `line kept: ${l}`);
  assert.match(plan.text, /"command": "\/opt\/node\/bin\/node",\n {6}"args": \[/, 'the added "args" sits on its own line at the entry\'s indentation');
  assert.match(plan.text, /"inline": \{ "command": "\/opt\/node\/bin\/node", "args": \[/, 'a one-line entry stays on one line');
});

test('Cursor: stdio and url entries; with --proxy-listen each remote server gets its own local port and the path is kept', () => {
  const cursor = JSON.stringify(
    {
      mcpServers: {
        github: { url: 'https://api.example.com/mcp', headers: { Authorization: 'Bearer ${env:GH}' } },
        local: { command: 'node', args: ['server.js'] },
        legacy: { url: 'http://10.0.0.5:3000/sse?team=a' },
      },
    },
    null,
    2,
  );
  const path = '/p/.cursor/mcp.json';
  const untouched = wrapText(cursor, path, OPTS);
  assert.equal(untouched.format, 'cursor');
  assert.equal(JSON.parse(untouched.text).mcpServers.github.url, 'https://api.example.com/mcp', 'without --proxy-listen remote entries stay');
  const hint = untouched.notices.find((n) => n.name === 'github');
  assert.match(hint!.message, /proxy --upstream https:\/\/api\.example\.com\/mcp --listen 127\.0\.0\.1:\d+ --name github/);

  const plan = wrapText(cursor, path, { ...OPTS, proxyListen: { host: '127.0.0.1', port: 9100 } });
  const after = JSON.parse(plan.text);
  assert.equal(after.mcpServers.github.url, 'http://127.0.0.1:9100/mcp');
  assert.deepEqual(after.mcpServers.github.headers, { Authorization: 'Bearer ${env:GH}' });
  assert.equal(after.mcpServers.legacy.url, 'http://127.0.0.1:9101/sse?team=a');
  assert.deepEqual(after.mcpServers.local.args, [LAUNCHER[1], 'tap', '--name', 'local', '--', 'node', 'server.js']);
  const remotes = plan.records.filter((r) => r.kind === 'remote');
  assert.deepEqual(
    remotes.map((r) => r.kind === 'remote' && r.proxyCommand.slice(2)),
    [
      ['proxy', '--upstream', 'https://api.example.com/mcp', '--listen', '127.0.0.1:9100', '--name', 'github'],
      ['proxy', '--upstream', 'http://10.0.0.5:3000/sse?team=a', '--listen', '127.0.0.1:9101', '--name', 'legacy'],
    ],
  );
});

const VSCODE = `// Project MCP servers
{
\t"inputs": [
\t\t{ "type": "promptString", "id": "key", "description": "API key", "password": true }
\t],
\t"servers": {
\t\t/* the filesystem server */
\t\t"fs": {
\t\t\t"type": "stdio",
\t\t\t"command": "npx", // via npx
\t\t\t"args": [
\t\t\t\t"-y",
\t\t\t\t"@modelcontextprotocol/server-filesystem",
\t\t\t\t"\${workspaceFolder}",
\t\t\t],
\t\t\t"env": { "KEY": "\${input:key}" },
\t\t},
\t\t"remote": { "type": "http", "url": "https://mcp.example.com/mcp", "headers": { "X-Key": "\${input:key}" } },
\t},
}
`;

test('VS Code: servers/inputs, comments and trailing commas survive; multi-line args stay multi-line', () => {
  const plan = wrapText(VSCODE, '/w/.vscode/mcp.json', OPTS);
  assert.equal(plan.format, 'vscode');
  for (const comment of ['// Project MCP servers', '/* the filesystem server */', '// via npx']) assert.ok(plan.text.includes(comment), `kept: ${comment}`);
  const after = parseJsonc(plan.text);
  assert.deepEqual(after.inputs, parseJsonc(VSCODE).inputs);
  assert.deepEqual(after.servers.fs, {
    type: 'stdio',
    command: LAUNCHER[0],
    args: [LAUNCHER[1], 'tap', '--name', 'fs', '--', 'npx', '-y', '@modelcontextprotocol/server-filesystem', '${workspaceFolder}'],
    env: { KEY: '${input:key}' },
  });
  assert.match(plan.text, /"args": \[\n\t\t\t\t"\/opt\/tapwatch\/collector\/bin\/tapwatch.js",\n/, "one item a line at the items' indentation");
  assert.equal(after.servers.remote.url, 'https://mcp.example.com/mcp');
  // And back, exactly, through the per-entry path (as if the file had been edited since).
  assert.equal(unwrapText(plan.text, '/w/.vscode/mcp.json', plan.records).text, VSCODE);
});

test('wrapping twice changes nothing; entries already behind a tap (README style) are left alone', () => {
  withFile('claude_desktop_config.json', CLAUDE, (path) => {
    const first = wrapFile(path, OPTS);
    assert.equal(first.changed, true);
    const bytes = readFileSync(path);
    const state = readFileSync(statePath(path));
    const second = wrapFile(path, OPTS);
    assert.equal(second.changed, false);
    assert.deepEqual(second.written, []);
    assert.ok(readFileSync(path).equals(bytes));
    assert.ok(readFileSync(statePath(path)).equals(state));
  });
  const manual = JSON.stringify(
    { mcpServers: { files: { command: 'npx', args: ['tapwatch', 'tap', '--name', 'files', '--', 'npx', '-y', 'server-filesystem'] } } },
    null,
    2,
  );
  const plan = wrapText(manual, '/x/claude_desktop_config.json', OPTS);
  assert.equal(plan.text, manual);
  assert.deepEqual(plan.notices, [{ name: 'files', message: 'already runs behind the tap' }]);
  assert.deepEqual(tapSplit('npx', ['-y', 'tapwatch@0.1.0', 'tap', '--', 'x', '--', 'y']), {
    launcher: ['npx', '-y', 'tapwatch@0.1.0'],
    tapArgs: [],
    inner: ['x', '--', 'y'],
  });
  assert.equal(tapSplit('node', ['server.js', 'tap', '--', 'x']), undefined, 'a server that happens to take "tap" is not a tap');
});

test('a launcher of any name (--tapwatch) is recognised: idempotent, and unwrapped after edits', () => {
  const custom: WrapOptions = { launcher: ['/opt/bin/tw'] };
  withFile('claude_desktop_config.json', CLAUDE, (path) => {
    wrapFile(path, custom);
    const once = readFileSync(path, 'utf8');
    assert.match(once, /"command": "\/opt\/bin\/tw",\n {6}"args": \["tap", "--name", "files", "--", "npx"/);
    writeFileSync(path, once + '\n');
    const again = wrapFile(path, custom);
    assert.equal(JSON.parse(readFileSync(path, 'utf8')).mcpServers.files.args.filter((a: string) => a === 'tap').length, 1, 'not wrapped twice');
    assert.equal(again.notices.length, 0);
    assert.equal(again.changed, false);
    unwrapFile(path);
    assert.equal(readFileSync(path, 'utf8'), CLAUDE + '\n', 'unwrapped entry by entry, the edit kept');
  });
  assert.equal(tapSplit('/opt/bin/tw', ['tap', '--', 'srv']), undefined);
  assert.deepEqual(tapSplit('/opt/bin/tw', ['tap', '--', 'srv'], ['/opt/bin/tw'])?.inner, ['srv']);
});

test('--dry-run writes nothing and shows a unified diff', () => {
  withFile('claude_desktop_config.json', CLAUDE, (path, root) => {
    const o = wrapFile(path, { ...OPTS, dryRun: true });
    assert.equal(o.changed, true);
    assert.deepEqual(o.written, []);
    assert.equal(readFileSync(path, 'utf8'), CLAUDE);
    assert.equal(existsSync(statePath(path)), false);
    assert.equal(existsSync(backupPath(path)), false);
    assert.match(o.diff, /^--- .*claude_desktop_config\.json\n\+\+\+ .*\(wrapped\)\n@@ -\d+,\d+ \+\d+,\d+ @@\n/);
    assert.match(o.diff, /\n- {6}"command": "npx",\n/);
    assert.match(o.diff, /\n\+ {6}"command": "\/opt\/node\/bin\/node",\n/);
    wrapFile(path, OPTS);
    const wrapped = readFileSync(path);
    const u = unwrapFile(path, { dryRun: true });
    assert.equal(u.changed, true);
    assert.ok(readFileSync(path).equals(wrapped), 'unwrap --dry-run writes nothing either');
    assert.ok(existsSync(statePath(path)));
    assert.match(u.diff, /\n\+ {6}"command": "npx",\n/);
    void root;
  });
});

test('unwrap restores the original byte for byte: tabs, CRLF, a BOM, odd spacing, no final newline', () => {
  const odd = Buffer.concat([
    Buffer.from([0xef, 0xbb, 0xbf]),
    Buffer.from('{"mcpServers":{\r\n\t"a" :  {"command":"python3","args" : [ "-m","srv" ] },\r\n\t"b":{"command":"x\\u00e9"}\r\n}}', 'utf8'),
  ]);
  for (const content of [Buffer.from(CLAUDE), odd, Buffer.from(VSCODE)]) {
    withFile(content === odd ? 'odd.json' : 'config.json', content, (path) => {
      const w = wrapFile(path, { ...OPTS, format: content.toString().includes('"servers"') ? 'vscode' : undefined });
      assert.equal(w.changed, true);
      assert.ok(readFileSync(backupPath(path)).equals(content), 'the backup is the original');
      const u = unwrapFile(path);
      assert.equal(u.exact, true);
      assert.ok(readFileSync(path).equals(content), 'byte-equal after unwrap');
      assert.equal(existsSync(statePath(path)), false);
      assert.equal(existsSync(backupPath(path)), false);
    });
  }
});

test('edits made after wrap survive unwrap; only the tap wrapping is undone', () => {
  withFile('claude_desktop_config.json', CLAUDE, (path) => {
    wrapFile(path, { ...OPTS, proxyListen: { host: '127.0.0.1', port: 9300 } });
    const edited = JSON.parse(readFileSync(path, 'utf8'));
    edited.mcpServers.files.env.DEBUG = '2';
    edited.mcpServers.files.args.push('/home/me/more');
    edited.mcpServers.added = { command: 'deno', args: ['run', 'srv.ts'] };
    delete edited.mcpServers.inline;
    edited.theme = 'dark';
    writeFileSync(path, JSON.stringify(edited, null, 4));
    const u = unwrapFile(path);
    assert.equal(u.exact, false);
    assert.deepEqual(
      u.notices.map((n) => n.name),
      ['inline'],
      'the entry the user removed is reported',
    );
    const after = JSON.parse(readFileSync(path, 'utf8'));
    assert.deepEqual(after, {
      globalShortcut: 'Ctrl+Space',
      mcpServers: {
        files: {
          command: 'npx',
          args: ['-y', '@modelcontextprotocol/server-filesystem', '/home/me/docs', '/home/me/more'],
          env: { DEBUG: '2' },
          cwd: '/home/me',
        },
        memory: { command: 'npx' },
        added: { command: 'deno', args: ['run', 'srv.ts'] },
      },
      theme: 'dark',
    });
    assert.match(readFileSync(path, 'utf8'), /^ {4}"globalShortcut"/m, "the user's re-indentation is kept");
    assert.equal(existsSync(statePath(path)), false);
    assert.ok(existsSync(backupPath(path)), 'after a merge the pre-wrap copy stays');
  });
});

test('wrap again after edits wraps the new entries; unwrap then gives the edited file without any wrapping', () => {
  withFile('claude_desktop_config.json', CLAUDE, (path) => {
    wrapFile(path, OPTS);
    const edited = readFileSync(path, 'utf8').replace('"mcpServers": {\n', '"mcpServers": {\n    "fresh": { "command": "fresh-server" },\n');
    writeFileSync(path, edited);
    const again = wrapFile(path, OPTS);
    assert.equal(again.changed, true);
    const now = JSON.parse(readFileSync(path, 'utf8'));
    assert.deepEqual(now.mcpServers.fresh.args, [LAUNCHER[1], 'tap', '--name', 'fresh', '--', 'fresh-server']);
    assert.equal(now.mcpServers.files.args.filter((a: string) => a === 'tap').length, 1, 'not wrapped twice');
    unwrapFile(path);
    assert.equal(readFileSync(path, 'utf8'), CLAUDE.replace('"mcpServers": {\n', '"mcpServers": {\n    "fresh": { "command": "fresh-server" },\n'));
  });
});

test('bad input: a clear error with a code, and the file untouched', () => {
  const cases: [string, string, string | undefined, string][] = [
    ['not json', '{"mcpServers": {', undefined, 'TAPWATCH_WRAP_BAD_JSON'],
    ['garbage', 'hello', undefined, 'TAPWATCH_WRAP_BAD_JSON'],
    ['an array', '[1, 2]', undefined, 'TAPWATCH_WRAP_UNKNOWN_SHAPE'],
    ['no servers key', '{"other": {}}', undefined, 'TAPWATCH_WRAP_UNKNOWN_SHAPE'],
    ['servers not an object', '{"mcpServers": []}', undefined, 'TAPWATCH_WRAP_UNKNOWN_SHAPE'],
    ['the wrong format asked for', CLAUDE, 'vscode', 'TAPWATCH_WRAP_UNKNOWN_SHAPE'],
  ];
  for (const [what, content, format, code] of cases) {
    withFile('c.json', content, (path) => {
      assert.throws(
        () => wrapFile(path, { ...OPTS, format: format as 'vscode' | undefined }),
        (err: unknown) => err instanceof WrapError && err.code === code && err.message.includes(path),
        what,
      );
      assert.equal(readFileSync(path, 'utf8'), content, `${what}: untouched`);
      assert.equal(existsSync(statePath(path)), false);
      assert.equal(existsSync(backupPath(path)), false);
    });
  }
  assert.throws(
    () => wrapFile('/nonexistent/tapwatch/c.json', OPTS),
    (err: unknown) => err instanceof WrapError && err.code === 'TAPWATCH_WRAP_NOT_FOUND' && /no such file/.test(err.message),
  );
  withFile('c.json', CLAUDE, (path) => {
    assert.throws(
      () => unwrapFile(path),
      (err: unknown) => err instanceof WrapError && err.code === 'TAPWATCH_WRAP_NO_STATE',
    );
    writeFileSync(statePath(path), '{"something": "else"}');
    assert.throws(
      () => wrapFile(path, OPTS),
      (err: unknown) => err instanceof WrapError && err.code === 'TAPWATCH_WRAP_BAD_STATE',
    );
    assert.equal(readFileSync(path, 'utf8'), CLAUDE);
  });
  // Entries tapwatch cannot read are reported and left alone, the rest is wrapped.
  const plan = wrapText('{"mcpServers": {"a": 1, "b": {"command": "x", "args": [1]}, "c": {"type": "ws"}, "d": {"command": "ok"}}}', '/c.json', OPTS);
  assert.deepEqual(
    plan.notices.map((n) => n.name),
    ['a', 'b', 'c'],
  );
  assert.deepEqual(JSON.parse(plan.text).mcpServers.d.args, [LAUNCHER[1], 'tap', '--name', 'd', '--', 'ok']);
  const dashed = wrapText('{"mcpServers": {"-x": {"command": "srv"}}}', '/c.json', OPTS);
  assert.deepEqual(
    JSON.parse(dashed.text).mcpServers['-x'].args,
    [LAUNCHER[1], 'tap', '--name=-x', '--', 'srv'],
    'a name starting with a dash is not read as a flag',
  );
});

test('default config locations per client and platform', () => {
  const home = '/home/u';
  assert.equal(defaultConfigPath('claude', false, {}, 'darwin', home), '/home/u/Library/Application Support/Claude/claude_desktop_config.json');
  assert.equal(defaultConfigPath('claude', false, {}, 'linux', home), '/home/u/.config/Claude/claude_desktop_config.json');
  assert.equal(defaultConfigPath('claude', false, { XDG_CONFIG_HOME: '/xdg' }, 'linux', home), '/xdg/Claude/claude_desktop_config.json');
  assert.equal(defaultConfigPath('claude', false, { APPDATA: '/appdata' }, 'win32', home), join('/appdata', 'Claude', 'claude_desktop_config.json'));
  assert.equal(defaultConfigPath('cursor', false, {}, 'linux', home), '/home/u/.cursor/mcp.json');
  assert.equal(defaultConfigPath('cursor', true, {}, 'linux', home, '/proj'), '/proj/.cursor/mcp.json');
  assert.equal(defaultConfigPath('vscode', false, {}, 'darwin', home), '/home/u/Library/Application Support/Code/User/mcp.json');
  assert.equal(defaultConfigPath('vscode', false, {}, 'linux', home), '/home/u/.config/Code/User/mcp.json');
  assert.equal(defaultConfigPath('vscode', true, {}, 'linux', home, '/proj'), '/proj/.vscode/mcp.json');
  assert.throws(() => defaultConfigPath('claude', true, {}, 'linux', home), /no project-level config/);
});

test('property: any config of stdio and remote servers, any indentation, wraps to valid JSON and unwraps to the same text', () => {
  const word = fc.string({ minLength: 1, maxLength: 12 });
  const stdio = fc.record(
    {
      command: word,
      args: fc.option(fc.array(fc.string({ maxLength: 20 }), { maxLength: 5 }), { nil: undefined }),
      env: fc.option(fc.dictionary(word, word, { maxKeys: 2 }), { nil: undefined }),
    },
    { requiredKeys: ['command'] },
  );
  const remote = fc.record(
    {
      url: fc.constantFrom('https://a.example/mcp', 'http://127.0.0.1:3000/sse?x=1'),
      headers: fc.option(fc.dictionary(word, word, { maxKeys: 2 }), { nil: undefined }),
    },
    { requiredKeys: ['url'] },
  );
  fc.assert(
    fc.property(fc.dictionary(word, fc.oneof(stdio, remote), { maxKeys: 6 }), fc.constantFrom(0, 2, 4, '\t'), (servers, indent) => {
      const text = JSON.stringify({ mcpServers: servers }, null, indent);
      const plan = wrapText(text, '/c.json', { ...OPTS, proxyListen: { host: '127.0.0.1', port: 9000 } });
      const wrapped = JSON.parse(plan.text);
      for (const [name, entry] of Object.entries(servers)) {
        const w = wrapped.mcpServers[name];
        if ('command' in entry && !tapSplit(entry.command, entry.args ?? [])) {
          assert.deepEqual(w.args.slice(-1 - (entry.args?.length ?? 0)), [entry.command, ...(entry.args ?? [])]);
          assert.equal(w.command, LAUNCHER[0]);
        }
      }
      assert.equal(unwrapText(plan.text, '/c.json', plan.records).text, text);
    }),
    { numRuns: 200 },
  );
});
