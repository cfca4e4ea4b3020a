/**
 * The file side of `tapwatch wrap` / `unwrap`: where each client keeps its
 * config, the backup and the state file, and the order of writes.
 *
 * Next to a wrapped `<config>` live:
 * - `<config>.tapwatch.json`: the state — the exact bytes the file had before
 *   wrapping, a hash of the bytes wrap wrote, and what changed per entry. With
 *   it, `unwrap` restores the original byte for byte when the file was not
 *   edited since, and otherwise undoes only the wrapping, entry by entry.
 * - `<config>.tapwatch-backup`: a plain copy of the file as it was before the
 *   first `wrap`, for people rather than for tapwatch.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { unifiedDiff } from './diff.js';
import { WrapError } from './errors.js';
import { CONFIG_FORMATS, unwrapText, wrapText, type ConfigFormat, type EntryRecord, type Notice, type WrapOptions } from './rewrite.js';

export interface WrapState {
  tapwatch: 'wrap-state';
  version: 1;
  format: ConfigFormat;
  wrappedAt: string;
  /** The file's bytes before wrapping, base64. */
  original: string;
  /** sha256 (hex) of the bytes `wrap` wrote. */
  wrappedSha256: string;
  /** The command line that runs tapwatch in the wrapped entries. */
  launcher: string[];
  entries: EntryRecord[];
}

export interface FileOutcome {
  path: string;
  format: ConfigFormat;
  /** Whether the config's content changes (or, with dry run, would). */
  changed: boolean;
  diff: string;
  records: EntryRecord[];
  notices: Notice[];
  /** Unwrap only: the original came back byte for byte. */
  exact?: boolean;
  /** Files written and removed (none on a dry run). */
  written: string[];
  removed: string[];
}

export const statePath = (config: string): string => `${config}.tapwatch.json`;
export const backupPath = (config: string): string => `${config}.tapwatch-backup`;

/** Wraps the config at `path`; with `dryRun`, only computes the diff. */
export function wrapFile(path: string, options: WrapOptions & { dryRun?: boolean }): FileOutcome {
  const current = readConfig(path);
  const state = readState(path);
  const currentText = current.toString('utf8');
  // Re-wrapping starts from the unwrapped file, so options can change and edits made since are kept.
  let base: Buffer;
  if (!state) base = current;
  else if (sha256(current) === state.wrappedSha256) base = Buffer.from(state.original, 'base64');
  else base = Buffer.from(unwrapText(currentText, path, state.entries, { format: options.format ?? state.format, launcher: state.launcher }).text, 'utf8');
  const plan = wrapText(base.toString('utf8'), path, options);
  const changed = plan.text !== currentText;
  const outcome: FileOutcome = {
    path,
    format: plan.format,
    changed,
    diff: unifiedDiff(currentText, plan.text, path, `${path} (wrapped)`),
    records: plan.records,
    notices: plan.notices,
    written: [],
    removed: [],
  };
  if (!changed || options.dryRun) return outcome;

  const wrapped = Buffer.from(plan.text, 'utf8');
  const newState: WrapState = {
    tapwatch: 'wrap-state',
    version: 1,
    format: plan.format,
    wrappedAt: new Date().toISOString(),
    original: base.toString('base64'),
    wrappedSha256: sha256(wrapped),
    launcher: options.launcher,
    entries: plan.records,
  };
  if (!state) write(backupPath(path), current, outcome);
  write(statePath(path), JSON.stringify(newState, null, 2) + '\n', outcome);
  write(path, wrapped, outcome);
  return outcome;
}

/** Undoes `wrapFile`; with `dryRun`, only computes the diff. */
export function unwrapFile(path: string, options: { dryRun?: boolean; format?: ConfigFormat | undefined } = {}): FileOutcome {
  const current = readConfig(path);
  const state = readState(path);
  if (!state) {
    throw new WrapError(
      'TAPWATCH_WRAP_NO_STATE',
      `${path} was not wrapped by \`tapwatch wrap\` (no ${statePath(path)}); nothing to undo` +
        (existsSync(backupPath(path)) ? `. A copy of the file from before a wrap is in ${backupPath(path)}` : ''),
    );
  }
  const currentText = current.toString('utf8');
  const exact = sha256(current) === state.wrappedSha256;
  let restored: Buffer;
  let notices: Notice[] = [];
  if (exact) {
    restored = Buffer.from(state.original, 'base64');
  } else {
    const merged = unwrapText(currentText, path, state.entries, { format: options.format ?? state.format, launcher: state.launcher });
    restored = Buffer.from(merged.text, 'utf8');
    notices = merged.notices;
  }
  const outcome: FileOutcome = {
    path,
    format: state.format,
    changed: !restored.equals(current),
    diff: unifiedDiff(currentText, restored.toString('utf8'), path, `${path} (unwrapped)`),
    records: state.entries,
    notices,
    exact,
    written: [],
    removed: [],
  };
  if (options.dryRun) return outcome;
  if (outcome.changed) write(path, restored, outcome);
  remove(statePath(path), outcome);
  // After an exact restore the backup says nothing new; after a merge it is the only copy of the pre-wrap file.
  if (exact) remove(backupPath(path), outcome);
  return outcome;
}

/**
 * The default config path of a client on this platform. `project`: the
 * project-level file under the current directory (Cursor, VS Code).
 */
export function defaultConfigPath(
  client: ConfigFormat,
  project: boolean,
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
  home: string = homedir(),
  cwd: string = process.cwd(),
): string {
  if (project) {
    if (client === 'cursor') return resolve(cwd, '.cursor', 'mcp.json');
    if (client === 'vscode') return resolve(cwd, '.vscode', 'mcp.json');
    throw new WrapError('TAPWATCH_WRAP_NOT_FOUND', 'Claude Desktop has no project-level config; drop --project');
  }
  if (client === 'cursor') return join(home, '.cursor', 'mcp.json');
  const app = client === 'claude' ? 'Claude' : join('Code', 'User');
  const file = client === 'claude' ? 'claude_desktop_config.json' : 'mcp.json';
  if (platform === 'darwin') return join(home, 'Library', 'Application Support', app, file);
  if (platform === 'win32') return join(env.APPDATA ?? join(home, 'AppData', 'Roaming'), app, file);
  return join(env.XDG_CONFIG_HOME ?? join(home, '.config'), app, file);
}

function readConfig(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (err as Error).message;
    throw new WrapError('TAPWATCH_WRAP_NOT_FOUND', `cannot read ${path}: ${why}`, err);
  }
}

function readState(path: string): WrapState | undefined {
  const file = statePath(path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new WrapError('TAPWATCH_WRAP_BAD_STATE', `cannot read ${file}: ${(err as Error).message}`, err);
  }
  const bad = (why: string) =>
    new WrapError(
      'TAPWATCH_WRAP_BAD_STATE',
      `${file} is not a tapwatch wrap state (${why}); move it away if it is not tapwatch's, or restore ${path} from ${backupPath(path)}`,
    );
  let s: Partial<WrapState>;
  try {
    s = JSON.parse(text) as Partial<WrapState>;
  } catch {
    throw bad('not JSON');
  }
  if (s === null || typeof s !== 'object' || s.tapwatch !== 'wrap-state') throw bad('no "tapwatch": "wrap-state"');
  if (s.version !== 1) throw bad(`version ${String(s.version)}, this tapwatch reads 1`);
  if (!CONFIG_FORMATS.includes(s.format as ConfigFormat)) throw bad('unknown format');
  if (typeof s.original !== 'string' || typeof s.wrappedSha256 !== 'string' || !Array.isArray(s.entries)) throw bad('missing fields');
  if (!Array.isArray(s.launcher) || !s.launcher.every((w) => typeof w === 'string')) throw bad('no launcher');
  for (const e of s.entries as unknown[]) {
    const r = e as Record<string, unknown>;
    const ok =
      typeof r?.name === 'string' &&
      ((r.kind === 'stdio' && typeof r.commandText === 'string' && (r.argsText === null || typeof r.argsText === 'string')) ||
        (r.kind === 'remote' && typeof r.urlText === 'string' && typeof r.local === 'string'));
    if (!ok) throw bad('a bad entry record');
  }
  return s as WrapState;
}

function write(file: string, data: Buffer | string, outcome: FileOutcome): void {
  try {
    // In place (not rename): keeps the file's mode, owner and any symlink the client follows.
    writeFileSync(file, data);
  } catch (err) {
    throw new WrapError('TAPWATCH_WRAP_WRITE_FAILED', `cannot write ${file}: ${(err as Error).message}`, err);
  }
  outcome.written.push(file);
}

function remove(file: string, outcome: FileOutcome): void {
  if (!existsSync(file)) return;
  rmSync(file, { force: true });
  outcome.removed.push(file);
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}
