/**
 * `tapwatch wrap [CONFIG] …` and `tapwatch unwrap [CONFIG] …`: put every
 * server of an MCP client's config behind tapwatch, and take them out again.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { WrapError } from './errors.js';
import { backupPath, defaultConfigPath, unwrapFile, wrapFile, type FileOutcome } from './files.js';
import { CONFIG_FORMATS, shellJoin, type ConfigFormat } from './rewrite.js';

export const WRAP_HELP = `Usage: tapwatch wrap [CONFIG] [options]
       tapwatch unwrap [CONFIG] [options]

wrap rewrites an MCP client's config so every stdio server runs behind
\`tapwatch tap\` (and, with --proxy-listen, every remote server behind a local
\`tapwatch proxy\`). unwrap puts the file back: byte for byte when it was not
edited since, else undoing only the wrapping and keeping the other edits.

Which file:
  CONFIG                 the config file's path; or
  --client NAME          that client's config on this machine:
                           claude  macOS ~/Library/Application Support/Claude/claude_desktop_config.json
                                   Windows %APPDATA%\\Claude\\claude_desktop_config.json
                                   Linux ~/.config/Claude/claude_desktop_config.json
                           cursor  ~/.cursor/mcp.json
                           vscode  the user profile's mcp.json (Code/User/mcp.json)
  --project              with --client cursor|vscode: ./.cursor/mcp.json or ./.vscode/mcp.json
  --format NAME          claude, cursor or vscode, instead of detecting it
                         ("mcpServers" = Claude Desktop / Cursor, "servers" = VS Code)

wrap options:
  --sink URL             --sink for every tap and proxy (default: theirs, i.e.
                         $TAPWATCH_SINK, else http://127.0.0.1:8787)
  --tapwatch CMD         how the config runs tapwatch, e.g. "npx -y tapwatch" (split
                         on spaces unless it is an existing file). Default: this
                         node and this tapwatch's bin, as absolute paths
  --proxy-listen HOST:PORT
                         point remote (url) servers at local proxies on PORT,
                         PORT+1, … and print the \`tapwatch proxy\` commands to run.
                         Without it remote entries are left as they are.

  --dry-run              print the diff; write nothing
  -h, --help             show this help

Entries get no extra keys. Next to CONFIG, wrap writes CONFIG.tapwatch-backup (the
file before the first wrap) and CONFIG.tapwatch.json (what unwrap needs). Wrapping
twice changes nothing. Comments and formatting are kept: only the changed values
("command", "args", "url") are rewritten.
Exit codes: 0 done (or nothing to do), 1 error (file untouched), 2 usage.
`;

/** Runs `wrap` or `unwrap`; resolves with the process exit code. */
/**
 * Runs `wrap` or `unwrap`. `launcher` is the command line that starts this tapwatch (the CLI
 * passes its node and bin, absolute), used unless `--tapwatch` names another.
 */
export async function wrapCommand(name: 'wrap' | 'unwrap', argv: string[], launcher: readonly string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        client: { type: 'string' },
        project: { type: 'boolean' },
        format: { type: 'string' },
        sink: { type: 'string' },
        tapwatch: { type: 'string' },
        'proxy-listen': { type: 'string' },
        'dry-run': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    return usage(name, (err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(WRAP_HELP);
    return 0;
  }
  if (positionals.length > 1) return usage(name, `one config file at a time (got ${positionals.length})`);
  const asFormat = (flag: string, v: string | undefined): ConfigFormat | undefined | Error => {
    if (v === undefined) return undefined;
    return CONFIG_FORMATS.includes(v as ConfigFormat) ? (v as ConfigFormat) : new Error(`${flag} must be one of ${CONFIG_FORMATS.join(', ')} (got '${v}')`);
  };
  const client = asFormat('--client', values.client);
  const format = asFormat('--format', values.format);
  if (client instanceof Error) return usage(name, client.message);
  if (format instanceof Error) return usage(name, format.message);
  const given = positionals[0];
  if (given !== undefined && client !== undefined) return usage(name, 'give a CONFIG path or --client, not both');
  if (given === undefined && client === undefined) return usage(name, 'which config? give its path or --client claude|cursor|vscode');
  if (values.project && (client === undefined || client === 'claude'))
    return usage(name, '--project goes with --client cursor|vscode (Claude Desktop has no project-level config)');
  if (name === 'unwrap' && (values.sink !== undefined || values.tapwatch !== undefined || values['proxy-listen'] !== undefined)) {
    return usage(name, '--sink, --tapwatch and --proxy-listen are wrap options');
  }
  let proxyListen: { host: string; port: number } | undefined;
  if (values['proxy-listen'] !== undefined) {
    const m = /^(\[[^\]]+\]|[^:\s]+):(\d{1,5})$/.exec(values['proxy-listen']);
    const port = m ? Number(m[2]) : NaN;
    if (!m || port < 1 || port > 65535) return usage(name, `--proxy-listen must be HOST:PORT (got '${values['proxy-listen']}')`);
    proxyListen = { host: m[1]!.replace(/^\[|\]$/g, ''), port };
  }
  if (values.tapwatch !== undefined && values.tapwatch.trim() === '') return usage(name, '--tapwatch needs a command');

  try {
    const path = given !== undefined ? resolve(given) : defaultConfigPath(client!, values.project === true);
    const dryRun = values['dry-run'] === true;
    if (name === 'unwrap') {
      report('unwrap', unwrapFile(path, { dryRun, format }), dryRun);
      return 0;
    }
    const command =
      values.tapwatch === undefined ? [...launcher] : existsSync(values.tapwatch) ? [resolve(values.tapwatch)] : values.tapwatch.trim().split(/\s+/);
    report('wrap', wrapFile(path, { launcher: command, sink: values.sink, proxyListen, format, dryRun }), dryRun);
    return 0;
  } catch (err) {
    if (err instanceof WrapError) {
      process.stderr.write(`tapwatch ${name}: ${err.message} (${err.code})\n`);
      return 1;
    }
    throw err;
  }
}

function usage(name: string, message: string): number {
  process.stderr.write(`tapwatch ${name}: ${message}\n\n${WRAP_HELP}`);
  return 2;
}

function report(name: 'wrap' | 'unwrap', o: FileOutcome, dryRun: boolean): void {
  const lines: string[] = [];
  if (dryRun && o.diff) lines.push(o.diff.trimEnd());
  if (name === 'wrap') {
    const stdio = o.records.filter((r) => r.kind === 'stdio');
    const remote = o.records.filter((r) => r.kind === 'remote');
    const summary = o.changed
      ? `${stdio.length} stdio and ${remote.length} remote server(s) ${dryRun ? 'would be ' : ''}wrapped`
      : o.records.length > 0
        ? 'already wrapped; nothing to change'
        : 'nothing to wrap';
    lines.push(`${o.path} (${o.format}): ${summary}`);
    for (const r of stdio) lines.push(`  ${r.name}: runs behind tapwatch tap`);
    for (const r of remote) lines.push(`  ${r.name}: url now ${r.local}; start its proxy with:\n      ${shellJoin(r.proxyCommand)}`);
    for (const n of o.notices) lines.push(`  ${n.name}: ${n.message}`);
    if (o.changed && !dryRun) {
      lines.push(`Backup: ${backupPath(o.path)}. Undo with: tapwatch unwrap ${shellJoin([o.path])}`);
      lines.push('Restart the client (or reload its MCP servers) to apply.');
    }
  } else {
    const how = o.exact ? 'restored byte for byte' : 'tap wrapping undone; edits made since wrap kept';
    lines.push(`${o.path}: ${o.changed ? how : 'already as it was'}`);
    for (const n of o.notices) lines.push(`  ${n.name}: ${n.message}`);
    if (!dryRun && o.removed.length > 0) lines.push(`Removed ${o.removed.join(', ')}.`);
    if (!dryRun && !o.exact && existsSync(backupPath(o.path))) lines.push(`The file as it was before wrap is still in ${backupPath(o.path)}.`);
  }
  if (dryRun) lines.push('(dry run: nothing written)');
  process.stdout.write(lines.join('\n') + '\n');
}
