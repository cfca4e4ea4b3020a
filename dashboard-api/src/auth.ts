/**
 * Bearer-token checks for HTTP routes and the WebSocket upgrade. Every route
 * but `/healthz`'s status needs a token whose role allows it: TAPWATCH_TOKEN
 * (admin), one from the tokens file, or, when TAPWATCH_TOKEN is not set, the
 * local admin or ingest token (schema/src/credentials.ts), created at start.
 * Beyond loopback `assertSafeBinding` also wants a token an operator chose.
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { TapwatchError, ensureLocalTokens, type Config } from '@tapwatch/schema';
import { TokenFile, tokensPath, type Role } from './tokens.js';

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** Constant-time comparison (on digests, so lengths do not leak either). */
export function tokenMatches(expected: string, given: string | undefined): boolean {
  if (given === undefined) return false;
  return timingSafeEqual(digest(expected), digest(given));
}

/** The bearer token of a request, from `Authorization` or, when allowed, `?token=`. */
export function requestToken(req: IncomingMessage, allowQuery: boolean): string | undefined {
  const header = req.headers.authorization;
  if (typeof header === 'string') {
    const m = /^Bearer\s+(.+)$/i.exec(header.trim());
    if (m?.[1]) return m[1].trim();
  }
  if (allowQuery && req.url) {
    const q = new URL(req.url, 'http://localhost').searchParams.get('token');
    if (q) return q;
  }
  return undefined;
}

export function isAuthorized(token: string | undefined, req: IncomingMessage, allowQuery: boolean): boolean {
  if (!token) return true;
  return tokenMatches(token, requestToken(req, allowQuery));
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost|::ffff:127\.\d+\.\d+\.\d+)$/i;

/** Refuses to serve without a token on anything but loopback (`hasRoleTokens`: the tokens file holds some). */
export function assertSafeBinding(host: string, token: string | undefined, hasRoleTokens = false): void {
  if (!token && !hasRoleTokens && !LOOPBACK.test(host)) {
    throw new TapwatchError(
      'TAPWATCH_TOKEN_REQUIRED',
      `refusing to listen on ${host} without a token: set TAPWATCH_TOKEN or create one with \`tapwatch token create\` (or listen on 127.0.0.1)`,
    );
  }
}

/** What a route needs: a role, or `any` valid token. */
export type Need = Role | 'any';

/** The role a route needs (paths as requested, e.g. `/v1/alerts/abc/ack`). Unknown routes need admin. */
export function roleFor(method: string, path: string): Need {
  const m = method.toUpperCase();
  const read = m === 'GET' || m === 'HEAD';
  if (path === '/v1/ingest') return 'ingest';
  if (path === '/v1/openapi.json') return 'any';
  if (path === '/v1/alerts/stream' || path === '/v1/alerts' || path.startsWith('/v1/alerts/')) return 'alerts';
  if (path === '/v1/silences' && read) return 'alerts';
  if (path === '/v1/sql') return 'sql';
  if (read && ['/v1/calls', '/v1/tools', '/v1/sessions', '/v1/stats'].some((p) => path === p || path.startsWith(`${p}/`))) return 'sql';
  return 'admin';
}

/** Whether a token of role `have` may use a route that needs `need`: admin may all, sql may read alerts too. */
export function roleAllows(have: Role, need: Need): boolean {
  if (need === 'any' || have === 'admin') return true;
  if (have === need) return true;
  return have === 'sql' && need === 'alerts';
}

/** Who sent a request, for per-token limits: a stable id that is not the token itself, and whether it is an admin token. */
export interface TokenIdentity {
  id: string;
  admin: boolean;
}

export interface Authorizer {
  /** True when any token is configured: then every route needs one. */
  readonly enabled: boolean;
  /** 'ok', 401 (no or unknown token) or 403 (a valid token whose role does not allow this). */
  check(req: IncomingMessage, need: Need, allowQuery: boolean): 'ok' | 401 | 403;
  /** The token a request carries, as an identity (undefined: none, not a valid one, or no tokens are configured). */
  identify(req: IncomingMessage, allowQuery: boolean): TokenIdentity | undefined;
}

/** TAPWATCH_TOKEN (admin), the tokens file, and the local tokens (credentials.ts) when those are used. */
export function createAuthorizer(options: {
  adminToken?: string | undefined;
  tokens?: TokenFile | undefined;
  local?: { admin: string; ingest: string } | undefined;
}): Authorizer {
  const { adminToken, tokens, local } = options;
  return {
    get enabled() {
      return Boolean(adminToken) || Boolean(local) || (tokens?.list().length ?? 0) > 0;
    },
    check(req, need, allowQuery) {
      if (!this.enabled) return 'ok';
      const given = requestToken(req, allowQuery);
      if (given === undefined) return 401;
      if (adminToken && tokenMatches(adminToken, given)) return 'ok';
      if (local && tokenMatches(local.admin, given)) return 'ok';
      if (local && tokenMatches(local.ingest, given)) return roleAllows('ingest', need) ? 'ok' : 403;
      const record = tokens?.find(given);
      if (!record) return 401;
      return roleAllows(record.role, need) ? 'ok' : 403;
    },
    identify(req, allowQuery) {
      if (!this.enabled) return undefined;
      const given = requestToken(req, allowQuery);
      if (given === undefined) return undefined;
      if (adminToken && tokenMatches(adminToken, given)) return { id: 'admin', admin: true };
      if (local && tokenMatches(local.admin, given)) return { id: 'local-admin', admin: true };
      if (local && tokenMatches(local.ingest, given)) return { id: 'local-ingest', admin: false };
      const record = tokens?.find(given);
      return record ? { id: `token:${record.id}`, admin: record.role === 'admin' } : undefined;
    },
  };
}

type AuthConfig = Pick<Config, 'TAPWATCH_TOKEN' | 'TAPWATCH_DATA_DIR' | 'TAPWATCH_TOKENS_FILE' | 'TAPWATCH_CREDENTIALS_DIR'>;

const authorizers = new WeakMap<object, Authorizer>();

/** Whether an operator configured tokens (TAPWATCH_TOKEN or the tokens file); else the local tokens are used. */
export function tokensConfigured(config: AuthConfig): boolean {
  return Boolean(config.TAPWATCH_TOKEN) || new TokenFile(tokensPath(config.TAPWATCH_DATA_DIR, config.TAPWATCH_TOKENS_FILE)).list().length > 0;
}

/** The environment the local tokens are found with: TAPWATCH_CREDENTIALS_DIR of `config`, else the state directory. */
export function credentialsEnv(config: Pick<Config, 'TAPWATCH_CREDENTIALS_DIR'>): Record<string, string | undefined> {
  return { XDG_STATE_HOME: process.env.XDG_STATE_HOME, TAPWATCH_CREDENTIALS_DIR: config.TAPWATCH_CREDENTIALS_DIR };
}

/**
 * The authorizer of a service: TAPWATCH_TOKEN as admin plus the tokens file (one per config).
 * Without TAPWATCH_TOKEN the local tokens are created if missing and accepted too, so a service
 * is never open: authenticated by default.
 */
export function authorizerFor(config: AuthConfig): Authorizer {
  let a = authorizers.get(config);
  if (!a) {
    const local = config.TAPWATCH_TOKEN ? undefined : ensureLocalTokens(credentialsEnv(config));
    a = createAuthorizer({
      adminToken: config.TAPWATCH_TOKEN,
      tokens: new TokenFile(tokensPath(config.TAPWATCH_DATA_DIR, config.TAPWATCH_TOKENS_FILE)),
      local,
    });
    authorizers.set(config, a);
  }
  return a;
}
