/**
 * `tapwatch wrap` / `unwrap` as a user runs them: the real CLI rewrites a
 * Claude-Desktop-style config, the wrapped entry is started exactly as a
 * client starts it (the SDK's StdioClientTransport with the entry's command,
 * args and env) against a real server-filesystem and a real `tapwatch up`, and
 * unwrap puts the file back byte for byte. A remote entry goes through the
 * `tapwatch proxy` command wrap prints. Exit codes of the CLI.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { EVERYTHING, FILESYSTEM, TAPWATCH_BIN, freePort, rows, startUp, tempDir, waitFor, type RunningTapwatch } from '../support/helpers.js';

let tw: RunningTapwatch;
const dirs: string[] = [];
const procs: ChildProcess[] = [];

before(async () => {
  tw = await startUp();
});

after(async () => {
  await Promise.all(
    procs.map(
      (p) =>
        new Promise<void>((r) => {
          if (p.exitCode !== null || p.signalCode !== null) return r();
          p.once('exit', () => r());
          p.kill('SIGTERM');
        }),
    ),
  );
  await tw?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function cli(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [TAPWATCH_BIN, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, ...options.env },
    cwd: options.cwd,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function scratch(prefix: string): string {
  const d = tempDir(prefix);
  dirs.push(d);
  return d;
}

test('wrap a Claude Desktop config, start the entry as the client would: the call lands in tool_calls under its name; unwrap is byte-equal', async () => {
  const home = scratch('wrap-claude');
  const docs = join(home, 'docs');
  mkdirSync(docs);
  writeFileSync(join(docs, 'note.txt'), 'hello from the wrapped server\n');
  const name = `files-${Math.random().toString(36).slice(2, 8)}`;
  const configPath = join(home, 'claude_desktop_config.json');
  const original = `{
  "mcpServers": {
    "${name}": {
      "command": ${JSON.stringify(process.execPath)},
      "args": [${JSON.stringify(FILESYSTEM)}, ${JSON.stringify(docs)}],
      "env": { "TAPWATCH_AGENT": "wrap-it-agent" }
    }
  },
  "globalShortcut": ""
}
`;
  writeFileSync(configPath, original);

  const dry = cli(['wrap', configPath, '--sink', tw.url, '--dry-run']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /^\+ {6}"args": \[.*"tap", "--name", /m);
  assert.equal(readFileSync(configPath, 'utf8'), original, '--dry-run wrote nothing');

  const wrap = cli(['wrap', configPath, '--sink', tw.url]);
  assert.equal(wrap.code, 0, wrap.stderr);
  assert.match(wrap.stdout, new RegExp(`${name}: runs behind tapwatch tap`));
  const again = cli(['wrap', configPath, '--sink', tw.url]);
  assert.equal(again.code, 0);
  assert.match(again.stdout, /already wrapped; nothing to change/);

  const entry = JSON.parse(readFileSync(configPath, 'utf8')).mcpServers[name];
  assert.equal(entry.command, process.execPath);
  assert.deepEqual(entry.args.slice(0, 4), [TAPWATCH_BIN, 'tap', '--name', name]);
  const client = new Client({ name: 'claude-ai', version: '0.1.0' });
  await client.connect(
    new StdioClientTransport({ command: entry.command, args: entry.args, env: { ...(process.env as Record<string, string>), ...entry.env }, stderr: 'pipe' }),
  );
  const read = await client.callTool({ name: 'read_text_file', arguments: { path: join(docs, 'note.txt') } });
  assert.match(JSON.stringify(read.content), /hello from the wrapped server/);
  await client.close();

  const calls = await waitFor(
    'the wrapped call stored',
    async () => {
      const r = await rows(tw.url, 'SELECT tool, status, transport, agent FROM tool_calls WHERE server = {s:String}', undefined, { s: name });
      return r.length > 0 ? r : undefined;
    },
    30_000,
  );
  assert.deepEqual(calls, [{ tool: 'read_text_file', status: 'ok', transport: 'stdio', agent: 'wrap-it-agent' }]);

  const unwrap = cli(['unwrap', configPath]);
  assert.equal(unwrap.code, 0, unwrap.stderr);
  assert.match(unwrap.stdout, /restored byte for byte/);
  assert.ok(readFileSync(configPath).equals(Buffer.from(original)), 'byte-equal to the file before wrap');
  assert.equal(existsSync(`${configPath}.tapwatch.json`), false);
  assert.equal(existsSync(`${configPath}.tapwatch-backup`), false);
});

test('a remote entry with --proxy-listen: the printed tapwatch proxy command serves the rewritten url and the call is recorded', async () => {
  const upstreamPort = await freePort();
  let upstreamOut = '';
  const upstream = spawn(process.execPath, [EVERYTHING, 'streamableHttp'], {
    env: { ...process.env, PORT: String(upstreamPort) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  procs.push(upstream);
  upstream.stdout?.on('data', (d: Buffer) => (upstreamOut += d.toString()));
  upstream.stderr?.on('data', (d: Buffer) => (upstreamOut += d.toString()));
  await waitFor('server-everything streamableHttp to listen', () => /listening on port|running on port/i.test(upstreamOut), 30_000, 50);

  const home = scratch('wrap-cursor');
  const configPath = join(home, 'mcp.json');
  const name = `remote-${Math.random().toString(36).slice(2, 8)}`;
  const original = JSON.stringify({ mcpServers: { [name]: { url: `http://127.0.0.1:${upstreamPort}/mcp`, headers: { 'X-Test': '1' } } } }, null, 2);
  writeFileSync(configPath, original);
  const listenPort = await freePort();
  const wrap = cli(['wrap', configPath, '--sink', tw.url, '--proxy-listen', `127.0.0.1:${listenPort}`]);
  assert.equal(wrap.code, 0, wrap.stderr);
  const entry = JSON.parse(readFileSync(configPath, 'utf8')).mcpServers[name];
  assert.equal(entry.url, `http://127.0.0.1:${listenPort}/mcp`);
  assert.deepEqual(entry.headers, { 'X-Test': '1' });
  const state = JSON.parse(readFileSync(`${configPath}.tapwatch.json`, 'utf8'));
  const command: string[] = state.entries[0].proxyCommand;
  assert.ok(wrap.stdout.includes(command.join(' ')), 'the exact command is printed');

  let proxyOut = '';
  const proxy = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(proxy);
  proxy.stdout?.on('data', (d: Buffer) => (proxyOut += d.toString()));
  proxy.stderr?.on('data', (d: Buffer) => (proxyOut += d.toString()));
  await waitFor(
    'the proxy to listen',
    () => {
      if (proxy.exitCode !== null) throw new Error(`proxy exited: ${proxyOut}`);
      return /listening on/.test(proxyOut);
    },
    30_000,
    50,
  );

  const client = new Client({ name: 'cursor', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(entry.url)));
  const r = await client.callTool({ name: 'echo', arguments: { message: 'via the wrapped url' } });
  assert.match(JSON.stringify(r.content), /via the wrapped url/);
  await client.close();
  const calls = await waitFor(
    'the proxied call stored',
    async () => {
      const found = await rows(tw.url, 'SELECT tool, status, transport FROM tool_calls WHERE server = {s:String}', undefined, { s: name });
      return found.length > 0 ? found : undefined;
    },
    30_000,
  );
  assert.deepEqual(calls, [{ tool: 'echo', status: 'ok', transport: 'http' }]);

  assert.equal(cli(['unwrap', configPath]).code, 0);
  assert.equal(readFileSync(configPath, 'utf8'), original);
});

test('exit codes: 0 done, 1 error with the file untouched, 2 usage; help lists the commands', () => {
  const home = scratch('wrap-codes');
  const bad = join(home, 'bad.json');
  writeFileSync(bad, '{"mcpServers": {"a": ');
  const notJson = cli(['wrap', bad]);
  assert.equal(notJson.code, 1);
  assert.match(notJson.stderr, /is not valid JSON: .* at line 1, column \d+ \(TAPWATCH_WRAP_BAD_JSON\)/);
  assert.equal(readFileSync(bad, 'utf8'), '{"mcpServers": {"a": ');

  const missing = cli(['wrap', join(home, 'nope.json')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no such file \(TAPWATCH_WRAP_NOT_FOUND\)/);

  const good = join(home, 'claude_desktop_config.json');
  writeFileSync(good, '{"mcpServers": {}}');
  const nothing = cli(['wrap', good]);
  assert.equal(nothing.code, 0);
  assert.match(nothing.stdout, /nothing to wrap/);
  assert.equal(existsSync(`${good}.tapwatch.json`), false);
  const noState = cli(['unwrap', good]);
  assert.equal(noState.code, 1);
  assert.match(noState.stderr, /TAPWATCH_WRAP_NO_STATE/);

  for (const args of [
    ['wrap'],
    ['wrap', good, '--bogus'],
    ['wrap', good, '--client', 'claude'],
    ['wrap', '--client', 'zed'],
    ['wrap', good, '--proxy-listen', 'nope'],
    ['unwrap', good, '--sink', 'http://x'],
    ['wrap', '--client', 'claude', '--project'],
  ]) {
    const r = cli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /Usage: tapwatch wrap/);
  }
  const help = cli(['wrap', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--proxy-listen HOST:PORT/);
  assert.match(cli(['--help']).stdout, /\n {2}wrap {6}.*\n {2}unwrap {4}/);
});

test("--client finds the client's own file: Claude Desktop under the XDG config dir, Cursor's project file with --project", () => {
  const home = scratch('wrap-client');
  const claudeDir = join(home, 'xdg', 'Claude');
  mkdirSync(claudeDir, { recursive: true });
  const claude = join(claudeDir, 'claude_desktop_config.json');
  const content = '{"mcpServers": {"t": {"command": "srv"}}}';
  writeFileSync(claude, content);
  const env = { HOME: home, XDG_CONFIG_HOME: join(home, 'xdg') };
  const r = cli(['wrap', '--client', 'claude'], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdout.startsWith(`${claude} (claude): 1 stdio`), r.stdout);
  assert.equal(JSON.parse(readFileSync(claude, 'utf8')).mcpServers.t.args.at(-1), 'srv');
  assert.equal(cli(['unwrap', '--client', 'claude'], { env }).code, 0);
  assert.equal(readFileSync(claude, 'utf8'), content);

  const project = join(home, 'proj');
  mkdirSync(join(project, '.cursor'), { recursive: true });
  writeFileSync(join(project, '.cursor', 'mcp.json'), content);
  const c = cli(['wrap', '--client', 'cursor', '--project', '--dry-run'], { env, cwd: project });
  assert.equal(c.code, 0, c.stderr);
  assert.match(c.stdout, /\.cursor\/mcp\.json \(cursor\): 1 stdio and 0 remote server\(s\) would be wrapped/);
});
