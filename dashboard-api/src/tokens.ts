/**
 * API tokens with roles, kept hashed in a JSON file (`TAPWATCH_TOKENS_FILE`,
 * default `<data dir>/tokens.json`, mode 0600). A token is 32 random bytes
 * (`tw_` + base64url), so a plain SHA-256 of it is enough to store: nothing
 * to brute-force. The server re-reads the file when it changes, so tokens
 * created or revoked with `tapwatch token` apply at once.
 *
 * Roles: `alerts` (read the alert stream and alerts, acknowledge them),
 * `sql` (everything `alerts` can, plus SQL and the call history), `ingest`
 * (taps: POST /v1/ingest only), `admin` (everything). TAPWATCH_TOKEN stays
 * the admin token.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { TapwatchError } from '@tapwatch/schema';

export const ROLES = ['alerts', 'sql', 'ingest', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface TokenRecord {
  id: string;
  name: string;
  role: Role;
  /** SHA-256 of the token, hex. */
  hash: string;
  created: string;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Where tokens live: TAPWATCH_TOKENS_FILE, else tokens.json in the data directory. */
export function tokensPath(dataDir: string, file?: string | undefined): string {
  return resolve(file ?? join(dataDir, 'tokens.json'));
}

export class TokenFile {
  private cached: TokenRecord[] = [];
  private stamp = '';

  constructor(readonly path: string) {}

  /** The stored tokens (re-read when the file changed; none when it does not exist). */
  list(): TokenRecord[] {
    let stamp: string;
    try {
      const st = statSync(this.path);
      stamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
    } catch {
      this.cached = [];
      this.stamp = '';
      return this.cached;
    }
    if (stamp !== this.stamp) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(readFileSync(this.path, 'utf8'));
      } catch (err) {
        throw new TapwatchError('TAPWATCH_BAD_TOKENS_FILE', `cannot read the tokens file ${this.path}: ${(err as Error).message}; fix or remove it`, {
          cause: err,
        });
      }
      const tokens = (parsed as { tokens?: unknown }).tokens;
      if (!Array.isArray(tokens)) throw new TapwatchError('TAPWATCH_BAD_TOKENS_FILE', `the tokens file ${this.path} has no "tokens" array; fix or remove it`);
      this.cached = tokens.filter(
        (t): t is TokenRecord =>
          typeof t === 'object' && t !== null && typeof t.hash === 'string' && /^[0-9a-f]{64}$/.test(t.hash) && (ROLES as readonly string[]).includes(t.role),
      );
      this.stamp = stamp;
    }
    return this.cached;
  }

  /** The record of a presented token, compared in constant time. */
  find(token: string): TokenRecord | undefined {
    const given = Buffer.from(hashToken(token), 'hex');
    let found: TokenRecord | undefined;
    for (const t of this.list()) {
      if (timingSafeEqual(Buffer.from(t.hash, 'hex'), given)) found = t;
    }
    return found;
  }

  /** Creates a token; the token itself is returned once and never stored. */
  create(name: string, role: Role): { token: string; record: TokenRecord } {
    if (!/^[\w.@-]{1,64}$/.test(name)) throw new TapwatchError('TAPWATCH_BAD_TOKEN_NAME', 'a token name is 1 to 64 letters, digits, _ . @ or -');
    const tokens = [...this.list()];
    if (tokens.some((t) => t.name === name))
      throw new TapwatchError('TAPWATCH_TOKEN_EXISTS', `a token named ${name} exists: revoke it first or choose another name`);
    const token = `tw_${randomBytes(32).toString('base64url')}`;
    const record: TokenRecord = { id: randomBytes(4).toString('hex'), name, role, hash: hashToken(token), created: new Date().toISOString() };
    this.write([...tokens, record]);
    return { token, record };
  }

  /** Removes the token with this id or name; returns it, or undefined when there is none. */
  revoke(idOrName: string): TokenRecord | undefined {
    const tokens = this.list();
    const gone = tokens.find((t) => t.id === idOrName || t.name === idOrName);
    if (gone) this.write(tokens.filter((t) => t !== gone));
    return gone;
  }

  private write(tokens: TokenRecord[]): void {
    mkdirSync(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify({ version: 1, tokens }, null, 2)}\n`, { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, this.path);
    this.stamp = '';
  }
}
