/**
 * Local credentials: how `tapwatch up` is authenticated by default.
 *
 * With no token configured (neither TAPWATCH_TOKEN nor a tokens file with
 * tokens), a service creates two tokens in the user's state directory
 * (`TAPWATCH_CREDENTIALS_DIR`, default `$XDG_STATE_HOME/tapwatch/credentials`,
 * mode 0700): `admin.token` (everything; the CLI and the dashboard URL use it)
 * and `ingest.token` (POST /v1/ingest only; what taps send). Each file is
 * 0600, so programs of the same user find them and other users cannot. A
 * tap only ever reads the ingest one: a wrapped server that steals it can
 * send events but not read history, silence or acknowledge alerts.
 *
 * No zod here: taps import this through `@tapwatch/schema/light`.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, linkSync, lstatSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { TapwatchError } from './errors.js';

export type LocalRole = 'admin' | 'ingest';

type Env = Record<string, string | undefined>;

/** `$XDG_STATE_HOME/tapwatch`, else `~/.local/state/tapwatch`. */
export function stateDir(env: Env = process.env): string {
  const state = env.XDG_STATE_HOME && env.XDG_STATE_HOME.trim() !== '' ? env.XDG_STATE_HOME : join(homedir(), '.local', 'state');
  return join(state, 'tapwatch');
}

/** Where the local tokens live: TAPWATCH_CREDENTIALS_DIR, else `credentials` in the state directory. */
export function credentialsDir(env: Env = process.env): string {
  const given = env.TAPWATCH_CREDENTIALS_DIR?.trim();
  return given ? given : join(stateDir(env), 'credentials');
}

export function localTokenPath(role: LocalRole, env: Env = process.env): string {
  return join(credentialsDir(env), `${role}.token`);
}

const TOKEN_SHAPE = /^tw_[A-Za-z0-9_-]{43}$/;

/** Refuses a credentials file others could have read or replaced. */
function assertPrivate(path: string): void {
  const st = lstatSync(path);
  const ownerOk = typeof process.getuid !== 'function' || st.uid === process.getuid();
  if (!st.isFile() || !ownerOk || (st.mode & 0o077) !== 0) {
    throw new TapwatchError(
      'TAPWATCH_UNSAFE_CREDENTIALS',
      `${path} is not a private file of this user (mode ${(st.mode & 0o777).toString(8)}); others may have read it: remove it and restart tapwatch to get a new token`,
    );
  }
}

/** The local token of `role`, or undefined when none was created yet. Throws on a file others can read. */
export function readLocalToken(role: LocalRole, env: Env = process.env): string | undefined {
  const path = localTokenPath(role, env);
  let text: string;
  try {
    assertPrivate(path);
    text = readFileSync(path, 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  if (!TOKEN_SHAPE.test(text)) {
    throw new TapwatchError('TAPWATCH_UNSAFE_CREDENTIALS', `${path} does not hold a token tapwatch wrote: remove it and restart tapwatch to get a new one`);
  }
  return text;
}

/** The local tokens, created when missing (safe when two services start at once: the first file written wins). */
export function ensureLocalTokens(env: Env = process.env): { admin: string; ingest: string; dir: string } {
  const dir = credentialsDir(env);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const tokens = { admin: '', ingest: '' };
  for (const role of ['admin', 'ingest'] as const) {
    let token = readLocalToken(role, env);
    if (!token) {
      const path = localTokenPath(role, env);
      const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
      writeFileSync(tmp, `tw_${randomBytes(32).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
      try {
        // link() fails when the file exists: a token another process wrote first is kept.
        linkSync(tmp, path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      } finally {
        unlinkSync(tmp);
      }
      token = readLocalToken(role, env);
      if (!token) throw new TapwatchError('TAPWATCH_UNSAFE_CREDENTIALS', `could not create ${path}`);
    }
    tokens[role] = token;
  }
  return { ...tokens, dir };
}

const LOOPBACK_HOST = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\]|::1|\[::ffff:127\.\d+\.\d+\.\d+\])$/i;

/** Whether a URL points at this machine's loopback (the only place local tokens are sent). */
export function isLoopbackUrl(url: string): boolean {
  try {
    return LOOPBACK_HOST.test(new URL(url).hostname);
  } catch {
    return false;
  }
}
