/**
 * The pure part of `tapwatch wrap` / `unwrap`: text in, text out, no I/O.
 *
 * A config is changed by splicing only the values that move (`command`,
 * `args`, `url`), so comments, order and formatting survive. Entries get no
 * extra keys (clients validate them); what wrapping changed is recorded in a
 * state file instead (see `WrapState`), and a wrapped stdio entry is
 * recognised by its shape: a tapwatch launcher, then `tap`, then `--`.
 */
import { basename } from 'node:path';
import { WrapError } from './errors.js';
import {
  applyEdits,
  eol,
  formatStringArray,
  lineIndent,
  parseJsonc,
  plain,
  prop,
  stringArray,
  type Edit,
  type JsonNode,
  type ObjectNode,
  type PropNode,
} from './jsonc.js';

export type ConfigFormat = 'claude' | 'cursor' | 'vscode';
export const CONFIG_FORMATS: readonly ConfigFormat[] = ['claude', 'cursor', 'vscode'];

export interface WrapOptions {
  /** The command line that runs tapwatch, e.g. `[node, /abs/cli/bin/tapwatch.js]`. */
  launcher: string[];
  /** `--sink` for every tap and proxy; omitted: theirs ($TAPWATCH_SINK, else http://127.0.0.1:8787). */
  sink?: string | undefined;
  /** Where local proxies listen: remote server i (in file order) gets `port + i`. Omitted: remote entries stay unchanged. */
  proxyListen?: { host: string; port: number } | undefined;
  /** Overrides format detection. */
  format?: ConfigFormat | undefined;
}

/** What wrapping changed in one entry, so unwrapping can put it back. */
export type EntryRecord =
  | {
      name: string;
      kind: 'stdio';
      /** The original `command` value, as written in the file. */
      commandText: string;
      /** The original `args` value as written, or null when the entry had no `args`. */
      argsText: string | null;
    }
  | {
      name: string;
      kind: 'remote';
      /** The original `url` value, as written in the file. */
      urlText: string;
      upstream: string;
      /** The URL the entry points at now: the local proxy. */
      local: string;
      /** The proxy's command line the user must run. */
      proxyCommand: string[];
    };

export interface Notice {
  name: string;
  message: string;
}

export interface WrapPlan {
  format: ConfigFormat;
  text: string;
  records: EntryRecord[];
  /** Entries left as they were, with the reason (already wrapped, unknown shape, remote without --proxy-listen). */
  notices: Notice[];
}

interface Located {
  format: ConfigFormat;
  servers: ObjectNode;
  entries: { name: string; node: JsonNode; prop: PropNode }[];
}

/** Finds the servers object of a Claude Desktop / Cursor (`mcpServers`) or VS Code (`servers`) config. */
export function locateServers(text: string, path: string, format?: ConfigFormat): Located {
  const root = parseJsonc(text, path);
  if (root.type !== 'object') {
    throw new WrapError('TAPWATCH_WRAP_UNKNOWN_SHAPE', `${path}: expected a JSON object with "mcpServers" (Claude Desktop, Cursor) or "servers" (VS Code)`);
  }
  const mcpServers = prop(root, 'mcpServers');
  const servers = prop(root, 'servers');
  let key: 'mcpServers' | 'servers';
  if (format) key = format === 'vscode' ? 'servers' : 'mcpServers';
  else if (mcpServers) key = 'mcpServers';
  else if (servers) key = 'servers';
  else {
    throw new WrapError(
      'TAPWATCH_WRAP_UNKNOWN_SHAPE',
      `${path}: found neither "mcpServers" (Claude Desktop, Cursor) nor "servers" (VS Code); nothing tapwatch knows how to wrap`,
    );
  }
  const found = key === 'mcpServers' ? mcpServers : servers;
  if (found?.value.type !== 'object') {
    throw new WrapError(
      'TAPWATCH_WRAP_UNKNOWN_SHAPE',
      `${path}: ${found ? `"${key}" is not an object` : `no "${key}" object`}${format ? ` (expected for --format ${format})` : ''}`,
    );
  }
  // Claude Desktop and Cursor share the shape; only the file name tells them apart.
  const detected: ConfigFormat = format ?? (key === 'servers' ? 'vscode' : basename(path) === 'mcp.json' ? 'cursor' : 'claude');
  const obj = found.value;
  // JSON lets a key repeat; like JSON.parse (and every client), the last one counts.
  const entries = obj.props.filter((p, i) => !obj.props.slice(i + 1).some((q) => q.key === p.key)).map((p) => ({ name: p.key, node: p.value, prop: p }));
  return { format: detected, servers: obj, entries };
}

/** Rewrites every stdio entry to run behind `tapwatch tap` and, with `proxyListen`, every remote entry to a local proxy. */
export function wrapText(text: string, path: string, options: WrapOptions): WrapPlan {
  const { format, entries } = locateServers(text, path, options.format);
  const edits: Edit[] = [];
  const records: EntryRecord[] = [];
  const notices: Notice[] = [];
  let remoteIndex = 0;
  for (const { name, node } of entries) {
    if (node.type !== 'object') {
      notices.push({ name, message: 'left as is: not an object' });
      continue;
    }
    const command = prop(node, 'command');
    const url = prop(node, 'url');
    if (command?.value.type === 'string') {
      const argsProp = prop(node, 'args');
      const args = argsProp ? stringArray(argsProp.value) : [];
      if (!args) {
        notices.push({ name, message: 'left as is: "args" is not a list of strings' });
        continue;
      }
      const cmd = command.value.value as string;
      if (tapSplit(cmd, args, options.launcher)) {
        notices.push({ name, message: 'already runs behind the tap' });
        continue;
      }
      const [launchCmd, ...launchArgs] = options.launcher;
      const wrappedArgs = [...launchArgs, 'tap', ...nameFlag(name), ...(options.sink ? ['--sink', options.sink] : []), '--', cmd, ...args];
      edits.push({ start: command.value.start, end: command.value.end, text: JSON.stringify(launchCmd) });
      const indent = lineIndent(text, command.keyStart);
      if (argsProp) {
        edits.push({
          start: argsProp.value.start,
          end: argsProp.value.end,
          text: formatStringArray(wrappedArgs, text, argsProp.value, lineIndent(text, argsProp.keyStart)),
        });
      } else {
        // No "args": add one right after "command", on its own line when the entry spans lines.
        const multiline = text.slice(node.start, command.keyStart).includes('\n');
        const sep = multiline ? `${eol(text)}${indent}` : ' ';
        edits.push({ start: command.value.end, end: command.value.end, text: `,${sep}"args": ${formatStringArray(wrappedArgs, text, undefined, indent)}` });
      }
      records.push({
        name,
        kind: 'stdio',
        commandText: text.slice(command.value.start, command.value.end),
        argsText: argsProp ? text.slice(argsProp.value.start, argsProp.value.end) : null,
      });
      continue;
    }
    if (url?.value.type === 'string') {
      const upstream = url.value.value as string;
      let parsed: URL;
      try {
        parsed = new URL(upstream);
      } catch {
        notices.push({ name, message: `left as is: url ${JSON.stringify(upstream)} is not a URL` });
        continue;
      }
      if (!options.proxyListen) {
        const example = proxyPlan(options, name, parsed, { host: '127.0.0.1', port: 8788 });
        notices.push({
          name,
          message:
            `remote server left as is: a client config cannot start the HTTP tap. Run \`${shellJoin(example.proxyCommand)}\` ` +
            `and set its url to ${example.local}, or rerun with --proxy-listen 127.0.0.1:PORT to do it here`,
        });
        continue;
      }
      const plan = proxyPlan(options, name, parsed, { host: options.proxyListen.host, port: options.proxyListen.port + remoteIndex++ });
      edits.push({ start: url.value.start, end: url.value.end, text: JSON.stringify(plan.local) });
      records.push({ name, kind: 'remote', urlText: text.slice(url.value.start, url.value.end), upstream, local: plan.local, proxyCommand: plan.proxyCommand });
      continue;
    }
    notices.push({ name, message: 'left as is: neither a "command" (stdio) nor a "url" (remote) entry' });
  }
  return { format, text: applyEdits(text, edits), records, notices };
}

/**
 * Undoes the tap wrapping of the recorded entries in `text`, keeping every
 * other edit made since: an entry whose command line changed after `--` keeps
 * the change; a remote entry whose url changed is left alone.
 */
export function unwrapText(
  text: string,
  path: string,
  records: EntryRecord[],
  options: { format?: ConfigFormat | undefined; launcher?: string[] | undefined } = {},
): { text: string; notices: Notice[] } {
  const { entries } = locateServers(text, path, options.format);
  const edits: Edit[] = [];
  const notices: Notice[] = [];
  for (const record of records) {
    const entry = entries.find((e) => e.name === record.name);
    if (!entry || entry.node.type !== 'object') {
      notices.push({ name: record.name, message: 'no longer in the file; nothing to restore' });
      continue;
    }
    const node = entry.node;
    if (record.kind === 'remote') {
      const url = prop(node, 'url');
      if (url?.value.type === 'string' && url.value.value === record.local) {
        edits.push({ start: url.value.start, end: url.value.end, text: record.urlText });
      } else {
        notices.push({ name: record.name, message: 'url changed since wrap; left as is' });
      }
      continue;
    }
    const command = prop(node, 'command');
    const argsProp = prop(node, 'args');
    const args = argsProp ? stringArray(argsProp.value) : [];
    const split = command?.value.type === 'string' && args ? tapSplit(command.value.value as string, args, options.launcher) : undefined;
    if (!command || !argsProp || !split || split.inner.length === 0) {
      notices.push({ name: record.name, message: 'no longer runs behind the tap; left as is' });
      continue;
    }
    const [innerCmd, ...innerArgs] = split.inner as [string, ...string[]];
    const originalCmd = parseJsonc(record.commandText, 'state');
    const originalArgs = record.argsText === null ? null : parseJsonc(record.argsText, 'state');
    edits.push({
      start: command.value.start,
      end: command.value.end,
      text: plain(originalCmd) === innerCmd ? record.commandText : JSON.stringify(innerCmd),
    });
    if (originalArgs && sameStrings(stringArray(originalArgs), innerArgs)) {
      edits.push({ start: argsProp.value.start, end: argsProp.value.end, text: record.argsText! });
    } else if (originalArgs === null && innerArgs.length === 0) {
      edits.push(removeProp(text, node, argsProp));
    } else {
      edits.push({
        start: argsProp.value.start,
        end: argsProp.value.end,
        text: formatStringArray(innerArgs, text, argsProp.value, lineIndent(text, argsProp.keyStart)),
      });
    }
  }
  return { text: applyEdits(text, edits), notices };
}

/**
 * Splits a command line that runs a server behind `tapwatch tap`: the launcher
 * (`launcher`, or any command line whose word is a tapwatch bin or package), the tap's own
 * options, and the server's command line after `--`. Undefined otherwise.
 */
export function tapSplit(command: string, args: string[], launcher: string[] = []): { launcher: string[]; tapArgs: string[]; inner: string[] } | undefined {
  const words = [command, ...args];
  // The launcher wrap used counts whatever its name (`--tapwatch /opt/bin/tw`).
  const known = launcher.length > 0 && launcher.every((w, i) => words[i] === w) ? launcher.length - 1 : -1;
  for (let i = 0; i < Math.min(words.length - 1, 6); i++) {
    if ((i !== known && !isTapwatchWord(words[i]!)) || words[i + 1] !== 'tap') continue;
    const dd = words.indexOf('--', i + 2);
    if (dd < 0) continue;
    return { launcher: words.slice(0, i + 1), tapArgs: words.slice(i + 2, dd), inner: words.slice(dd + 1) };
  }
  return undefined;
}

function isTapwatchWord(word: string): boolean {
  const base = basename(word.replace(/\\/g, '/')).toLowerCase();
  return /^tapwatch(\.(js|mjs|cjs|cmd|exe|ps1))?$/.test(base) || /^tapwatch@/.test(base) || /^@tapwatch\/collector(@|$)/.test(word);
}

/** Where a remote server's proxy listens and the command that starts it. */
export function proxyPlan(
  options: WrapOptions,
  name: string,
  upstream: URL,
  listen: { host: string; port: number },
): { local: string; proxyCommand: string[] } {
  const hostPort = `${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${listen.port}`;
  // The proxy passes request paths through to the upstream, so the entry keeps its path and query.
  const local = `http://${hostPort}${upstream.pathname}${upstream.search}`;
  const proxyCommand = [
    ...options.launcher,
    'proxy',
    '--upstream',
    upstream.href,
    '--listen',
    hostPort,
    ...nameFlag(name),
    ...(options.sink ? ['--sink', options.sink] : []),
  ];
  return { local, proxyCommand };
}

/** A command line as a POSIX shell would read it back. */
export function shellJoin(words: string[]): string {
  return words.map((w) => (/^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** `--name NAME`; `--name=NAME` when the name starts with a dash (parseArgs would read it as a flag). */
function nameFlag(name: string): string[] {
  return name.startsWith('-') ? [`--name=${name}`] : ['--name', name];
}

function sameStrings(a: string[] | undefined, b: string[]): boolean {
  return a !== undefined && a.length === b.length && a.every((v, i) => v === b[i]);
}

/** An edit that deletes one property together with the comma that joined it. */
function removeProp(text: string, obj: ObjectNode, p: PropNode): Edit {
  const i = obj.props.indexOf(p);
  const prev = obj.props[i - 1];
  if (prev) return { start: prev.value.end, end: p.value.end, text: '' };
  const next = obj.props[i + 1];
  if (next) return { start: p.keyStart, end: next.keyStart, text: '' };
  return {
    start: obj.start + 1,
    end: obj.end - 1,
    text: text.slice(obj.start + 1, obj.end - 1).includes('\n') ? eol(text) + lineIndent(text, obj.end - 1) : '',
  };
}
