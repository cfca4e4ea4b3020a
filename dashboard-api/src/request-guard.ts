/**
 * What a browser can make a request look like, refused before any route runs
 * (HTTP and the WebSocket upgrade alike):
 *
 * - DNS rebinding: a page on `evil.example` whose name is re-pointed at
 *   127.0.0.1 reaches the API with `Host: evil.example`. Only loopback names,
 *   IP literals (a rebinding attack needs a name it controls) and the names in
 *   TAPWATCH_ALLOWED_HOSTS are answered.
 * - Cross-site requests and WebSocket hijacking: a browser names the page that
 *   sent a request in `Origin`. Any origin but the API's own (same host and
 *   port as `Host`) or one in TAPWATCH_ALLOWED_ORIGINS is refused.
 * - "Simple" requests that skip the CORS preflight (`text/plain`, form
 *   encodings): a body is accepted only as `application/json`.
 *
 * Pure functions of the request's headers, so they are tested without a server.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';
import { ApiError } from './errors.js';

export interface RequestGuardOptions {
  /** Host names answered besides loopback names and IP literals (`*`: any). */
  allowedHosts?: readonly string[] | undefined;
  /** Origins (`https://dash.example:8443`) allowed besides the API's own (`*`: any). */
  allowedOrigins?: readonly string[] | undefined;
}

const LOOPBACK_NAMES = new Set(['localhost', 'localhost.', 'ip6-localhost', 'ip6-loopback']);

/** The host name of a `Host` header (`[::1]:8787` → `::1`, `Example.COM:80` → `example.com`); undefined when it does not parse. */
export function hostName(header: string): string | undefined {
  const h = header.trim().toLowerCase();
  if (h === '' || h.length > 255) return undefined;
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    if (end < 0) return undefined;
    const rest = h.slice(end + 1);
    if (rest !== '' && !/^:\d{1,5}$/.test(rest)) return undefined;
    return h.slice(1, end);
  }
  const m = /^([^:\s/@]+)(?::\d{1,5})?$/.exec(h);
  return m?.[1];
}

/** Whether a `Host` header names this API: a loopback name (or `*.localhost`), an IP literal, or an allowed name. */
export function hostAllowed(header: string | undefined, allowed: readonly string[] = []): boolean {
  // HTTP/1.0 clients may send no Host; browsers always send one.
  if (header === undefined) return true;
  const name = hostName(header);
  if (name === undefined) return false;
  if (LOOPBACK_NAMES.has(name) || name.endsWith('.localhost') || isIP(name) !== 0) return true;
  return allowed.some((a) => a === '*' || a.toLowerCase() === name);
}

/** Whether an `Origin` header is this API's own (same host and port as `Host`) or an allowed one. */
export function originAllowed(origin: string | undefined, host: string | undefined, allowed: readonly string[] = []): boolean {
  if (origin === undefined) return true;
  const bare = (o: string) => o.replace(/\/+$/, '').toLowerCase();
  if (allowed.includes('*') || allowed.some((a) => bare(a) === bare(origin))) return true;
  // `null` (sandboxed frames, file: pages, redirects) is never the API's own.
  if (origin === 'null' || host === undefined) return false;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  const defaultPort = url.protocol === 'https:' ? '443' : '80';
  const originHost = `${url.hostname}:${url.port || defaultPort}`;
  const h = host.trim().toLowerCase();
  const hostWithPort = /:\d{1,5}$/.test(h) ? h : `${h}:${defaultPort}`;
  return originHost === hostWithPort;
}

/** Media types a body is accepted as. */
function isJsonType(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const type = contentType.split(';')[0]?.trim().toLowerCase();
  return type === 'application/json';
}

function hasBody(headers: IncomingHttpHeaders): boolean {
  const length = headers['content-length'];
  if (length !== undefined) return Number(length) > 0;
  return headers['transfer-encoding'] !== undefined;
}

/** The browser-borne request refused, with its reason; undefined when the request may go on. */
export function checkRequest(headers: IncomingHttpHeaders, options: RequestGuardOptions, { body = true }: { body?: boolean } = {}): ApiError | undefined {
  if (!hostAllowed(headers.host, options.allowedHosts)) {
    return new ApiError(
      'FOREIGN_HOST',
      `Host ${JSON.stringify(headers.host)} is not this API's: use a loopback address or list the name in TAPWATCH_ALLOWED_HOSTS`,
    );
  }
  const origin = headers.origin;
  if (!originAllowed(origin, headers.host, options.allowedOrigins)) {
    return new ApiError('FOREIGN_ORIGIN', `requests from ${JSON.stringify(origin)} are refused: list the origin in TAPWATCH_ALLOWED_ORIGINS to allow it`);
  }
  return body ? checkBodyType(headers) : undefined;
}

/** A body in any type but application/json, refused; undefined when there is no body or it is JSON. */
export function checkBodyType(headers: IncomingHttpHeaders): ApiError | undefined {
  if (!hasBody(headers) || isJsonType(headers['content-type'])) return undefined;
  return new ApiError('UNSUPPORTED_MEDIA_TYPE', `bodies are accepted only as application/json, not ${JSON.stringify(headers['content-type'] ?? 'none')}`);
}
