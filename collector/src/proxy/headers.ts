/**
 * What the HTTP tap reads and rewrites in headers: hop-by-hop headers are
 * dropped both ways, `Host` names the upstream, and `Accept-Encoding` is
 * dropped on requests that accept `text/event-stream` (the proxy observes
 * plain bodies and never decodes and re-encodes one). Also the few header
 * and URL helpers the relay needs.
 */
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Headers that describe one connection, never the message (RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
]);

/** The client's request headers as sent, minus hop-by-hop ones; `Host` names the upstream. */
export function forwardRequestHeaders(req: IncomingMessage, upstream: URL): OutgoingHttpHeaders {
  const drop = connectionTokens(req.headers.connection);
  const acceptsSse = /text\/event-stream/i.test(headerValue(req.headers.accept) ?? '');
  const out: Record<string, string | string[]> = {};
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || lower.startsWith('proxy-') || drop.has(lower) || lower === 'host') continue;
    // Compressed SSE could not be observed nor flushed per event without re-encoding: ask for plain bodies.
    if (lower === 'accept-encoding' && acceptsSse) continue;
    const value = raw[i + 1]!;
    const prev = out[name];
    out[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  out.Host = upstream.host;
  return out;
}

/** The upstream's response headers, in order and spelling, minus hop-by-hop ones (flat [name, value, …]). */
export function forwardResponseHeaders(raw: string[]): string[] {
  const drop = new Set<string>();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === 'connection') for (const t of connectionTokens(raw[i + 1])) drop.add(t);
  }
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const lower = raw[i]!.toLowerCase();
    if (HOP_BY_HOP.has(lower) || lower.startsWith('proxy-') || drop.has(lower)) continue;
    out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}

function connectionTokens(value: string | string[] | undefined): Set<string> {
  const v = Array.isArray(value) ? value.join(',') : (value ?? '');
  return new Set(
    v
      .split(',')
      .map((t) => t.trim().toLowerCase())
      .filter(Boolean),
  );
}

export function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

export function isJson(contentType: string | string[] | undefined): boolean {
  const v = headerValue(contentType);
  return v !== undefined && /^\s*application\/([\w.+-]+\+)?json\b/i.test(v);
}

export function isEventStream(contentType: string): boolean {
  return /^\s*text\/event-stream/i.test(contentType);
}

export function isEncoded(contentEncoding: string | string[] | undefined): boolean {
  const v = headerValue(contentEncoding)?.trim().toLowerCase();
  return v !== undefined && v !== '' && v !== 'identity';
}

/** `localhost`, `*.localhost`, 127.0.0.0/8 or ::1. */
export function isLoopbackName(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h.endsWith('.localhost') || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === '::1' || h === '0:0:0:0:0:0:0:1';
}

/** The host name of a Host header value (`name[:port]`, `[v6][:port]`). */
export function hostName(hostHeader: string): string {
  const v = hostHeader.trim();
  if (v.startsWith('[')) return v.slice(1, v.indexOf(']') > 0 ? v.indexOf(']') : undefined);
  const colon = v.lastIndexOf(':');
  return colon >= 0 ? v.slice(0, colon) : v;
}

/** The path and query of a request target (origin-form, or absolute-form sent to a proxy). */
export function requestPath(url: string): string {
  if (url.startsWith('/')) return url;
  try {
    const u = new URL(url);
    return `${u.pathname}${u.search}`;
  } catch {
    return `/${url}`;
  }
}

/** The origin the client used to reach the proxy. */
export function proxyOrigin(req: IncomingMessage): string {
  const addr = req.socket.address() as AddressInfo;
  const host = req.headers.host ?? (addr.family === 'IPv6' ? `[${addr.address}]:${addr.port}` : `${addr.address}:${addr.port}`);
  return `http://${host}`;
}

/** The upstream URL without credentials (events carry it as the session's target). */
export function displayUrl(u: URL): string {
  const copy = new URL(u.href);
  copy.username = '';
  copy.password = '';
  return copy.href;
}
