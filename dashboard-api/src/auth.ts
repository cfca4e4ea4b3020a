/**
 * Bearer-token checks for HTTP routes and the WebSocket upgrade. With no
 * token configured, access is open — which `assertSafeBinding` allows only on
 * a loopback address.
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { TapwatchError } from '@tapwatch/schema';

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

/** Refuses to serve without a token on anything but loopback. */
export function assertSafeBinding(host: string, token: string | undefined): void {
  if (!token && !LOOPBACK.test(host)) {
    throw new TapwatchError(
      'TAPWATCH_TOKEN_REQUIRED',
      `refusing to listen on ${host} without a token: set TAPWATCH_TOKEN (or listen on 127.0.0.1)`,
    );
  }
}
