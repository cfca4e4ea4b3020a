/**
 * The HTTP tap: a transparent reverse proxy between an MCP client and a
 * remote MCP server, reporting every tool call as the stdio tap does.
 *
 * Traffic first: status lines, headers (minus hop-by-hop ones) and bodies are
 * relayed as bytes, chunk by chunk as they arrive, with backpressure; nothing
 * is re-serialized and nothing waits for observation. The relay thread only
 * copies each message (a JSON body, or the data of each event of a
 * `text/event-stream` body, bounded in size) and hands it to the observer
 * thread (observe/observer.ts), which parses it and feeds one `SessionTracker`
 * per MCP session; events come back in order and go to `emit` here. The
 * relay thread parses a request body only when the session must be chosen
 * from it (a POST without a session id). A failure in observation is counted
 * in `stats`, never thrown into the relay.
 *
 * Deliberate changes to what passes through:
 * - `Host` names the upstream, and `Accept-Encoding` is dropped on requests
 *   that accept `text/event-stream` (every MCP request): the proxy observes
 *   plain bodies and streams events as they come, and never decodes and
 *   re-encodes a body. A response that is encoded anyway is relayed
 *   untouched and not observed (counted in `stats.encodedSkipped`).
 * - The legacy HTTP+SSE transport's `endpoint` event, when it names an
 *   absolute URL on the upstream's origin, is rewritten to the proxy's
 *   origin, so the client posts its messages through the proxy. Relative
 *   endpoints (what the SDK sends) pass unchanged.
 * - Listening on loopback, a request whose Host is not a loopback name gets a
 *   403 from the proxy: it rewrites Host, so the upstream's own DNS-rebinding
 *   check could not see a page that rebinds a name to the proxy's port.
 *
 * Which tracker sees a message (one tracker = one tapwatch session):
 * - a request with `Mcp-Session-Id`: the tracker of that session (the upstream
 *   assigned the id in its answer to `initialize`; an id first seen later gets
 *   a tracker then). DELETE answered 2xx, or an answer 404 for the session,
 *   ends it;
 * - legacy HTTP+SSE: the tracker created when the `GET` stream announced its
 *   endpoint; POSTs to that endpoint (path and query, i.e. its `sessionId`)
 *   and messages on that stream go to it; the stream closing ends it;
 * - an `initialize` without a session id starts a new tracker; when the
 *   upstream answers without a session id (a stateless server) it becomes
 *   that client's stateless tracker;
 * - any other request without a session id (a stateless server, or the
 *   2026-07-28 revision that has no sessions): one tracker per client, keyed
 *   by the client info in the request (`_meta`
 *   `io.modelcontextprotocol/clientInfo`, else the last `initialize`), for the
 *   life of the proxy.
 * Every tracker still open when the proxy closes is ended.
 */
import { randomUUID } from 'node:crypto';
import { request as httpRequest, Agent as HttpAgent, createServer, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { log, type CaptureLevel, type TapEvent } from '@tapwatch/schema';
import type { Direction, TrackerIdentity } from '../observe/tracker.js';
import { startObserver, type ObserverCounters, type ObserverMode } from '../observe/observer.js';
import { SseParser, type SseEvent } from './sse.js';

export interface HttpProxyOptions {
  /** The MCP server's URL (`http(s)://host[:port]/path`). Request paths pass through unchanged. */
  upstream: string;
  /** Address to listen on (default 127.0.0.1). */
  host?: string | undefined;
  /** Port to listen on; 0 picks a free one (default 8788). */
  port?: number | undefined;
  /** `--name`; else the server's `serverInfo.name`; else the upstream host and path. */
  serverName?: string | undefined;
  agent?: string | undefined;
  /** Session id of the first tracker; later ones get `<id>.2`, `<id>.3`, … (default: a UUID each). */
  session?: string | undefined;
  capture?: CaptureLevel | undefined;
  emit: (event: TapEvent) => void;
  /** Largest message (JSON body, or one SSE event) observed; larger ones are relayed, not observed. Default 32 MiB. */
  maxObservedBytes?: number | undefined;
  /**
   * A session with no request in flight and no traffic for this long is ended
   * (clients that never send DELETE would otherwise keep it for the life of
   * the proxy); a later request in it starts a new tapwatch session.
   * Default 30 minutes.
   */
  sessionIdleMs?: number | undefined;
  /** Where messages are parsed and inspected: `worker` (default, a thread of its own) or `inline` (the relay's thread; for comparison). */
  observer?: ObserverMode | undefined;
  /** Bytes handed to the observer thread and not yet observed, past which messages are left out (counted in `observeSkipped`). Default 16 MiB. */
  maxObserveInFlightBytes?: number | undefined;
}

export interface HttpProxyStats extends ObserverCounters {
  /** HTTP requests relayed (or answered 502). */
  requests: number;
  /** Requests the upstream could not be reached for, or that failed mid-response. */
  upstreamErrors: number;
  /** Client connections that went away before the response ended (the upstream request was aborted). */
  clientAborts: number;
  /** Bodies or events that were not valid JSON (counted by the observer thread, so shortly after the response). */
  parseErrors: number;
  /** Messages over `maxObservedBytes`, relayed but not observed. */
  oversized: number;
  /** Encoded (compressed) bodies, relayed but not observed. */
  encodedSkipped: number;
  /** Server messages on a stream no session could be found for (kept up to 1,000 a stream, then dropped). */
  unattributed: number;
  /** Requests refused because their Host was not a loopback name while the proxy listens on loopback. */
  hostRejected: number;
  /** Failures inside observation (the message was relayed anyway). */
  observeErrors: number;
  /** Messages left out of observation because the observer thread was behind (`maxObserveInFlightBytes`). */
  observeSkipped: number;
  observeSkippedBytes: number;
  /** Trackers created and ended. */
  sessionsStarted: number;
  sessionsEnded: number;
}

export interface RunningHttpProxy {
  /** `http://host:port` the proxy listens on. */
  url: string;
  /** The upstream URL. */
  upstream: string;
  readonly stats: HttpProxyStats;
  /** Stops listening, drops open connections, ends every open session and waits for their last events. */
  close(): Promise<void>;
}

/** Headers that describe one connection, never the message (RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization']);
/** How much of a legacy SSE stream is held back while looking for its `endpoint` event. */
const ENDPOINT_HOLD_BYTES = 64 * 1024;
const CLIENT_INFO_META = 'io.modelcontextprotocol/clientInfo';
/** Server messages held per exchange while its session is not known yet. */
const MAX_QUEUED = 1000;
/**
 * How long `close` waits for the observer thread's last events. Generous: the
 * thread runs at a low priority, and on a saturated machine a full backlog
 * (16 MiB of messages) takes seconds of CPU to inspect.
 */
const OBSERVER_CLOSE_MS = 30_000;
/** Niceness of the observer thread on Linux: the relay gets the CPU first. */
const OBSERVER_NICE = 10;

type SessionKind = 'session' | 'legacy' | 'stateless' | 'pending';

interface Managed {
  /** The observer's number for this session's tracker. */
  key: number;
  kind: SessionKind;
  /** Created for a session id the proxy had not seen: dropped silently if the upstream says it does not exist. */
  lazy: boolean;
  /** The upstream sent a message in this session. */
  answered: boolean;
  /** Exchanges (requests, open streams) currently attached to it. */
  open: number;
  lastActive: number;
  ended: boolean;
  clientKey: string | undefined;
}

/** Starts the proxy; resolves once it listens. */
export async function startHttpProxy(options: HttpProxyOptions): Promise<RunningHttpProxy> {
  const upstream = new URL(options.upstream);
  if (upstream.protocol !== 'http:' && upstream.protocol !== 'https:') throw new Error(`upstream must be an http(s) URL (got ${options.upstream})`);
  const secure = upstream.protocol === 'https:';
  const agent = secure ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
  const send = secure ? httpsRequest : httpRequest;
  const maxObserved = options.maxObservedBytes ?? 32 * 1024 * 1024;
  const display = displayUrl(upstream);
  const fallbackServerName = `${upstream.host}${upstream.pathname === '/' ? '' : upstream.pathname}`;

  const stats: HttpProxyStats = {
    requests: 0,
    upstreamErrors: 0,
    clientAborts: 0,
    parseErrors: 0,
    oversized: 0,
    encodedSkipped: 0,
    hostRejected: 0,
    unattributed: 0,
    observeErrors: 0,
    observeSkipped: 0,
    observeSkippedBytes: 0,
    sessionsStarted: 0,
    sessionsEnded: 0,
  };

  const bySessionId = new Map<string, Managed>();
  const byLegacyEndpoint = new Map<string, Managed>();
  const byClient = new Map<string, Managed>();
  const all = new Set<Managed>();
  let sessionCount = 0;
  /** The client of the last `initialize` a stateless server answered. */
  let lastInitializeKey: string | undefined;

  const emit = (event: TapEvent) => {
    try {
      options.emit(event);
    } catch (err) {
      log.warn('proxy could not hand an event to its sink', { error: (err as Error).message });
    }
  };

  const observer = startObserver(options.observer ?? 'worker', emit, { counters: stats, label: 'proxy', nice: OBSERVER_NICE, maxInFlightBytes: options.maxObserveInFlightBytes });

  const newSession = (kind: SessionKind, lazy: boolean, clientKey?: string): Managed => {
    sessionCount++;
    const session = options.session === undefined ? randomUUID() : sessionCount === 1 ? options.session : `${options.session}.${sessionCount}`;
    const identity: TrackerIdentity = {
      session,
      transport: 'http',
      serverName: options.serverName,
      fallbackServerName,
      agent: options.agent,
      hostname: hostname(),
      parentPid: process.ppid,
      target: display,
      capture: options.capture,
    };
    observer.open(sessionCount, identity, 'messages');
    const m: Managed = { key: sessionCount, kind, lazy, answered: false, ended: false, clientKey, open: 0, lastActive: Date.now() };
    all.add(m);
    stats.sessionsStarted++;
    return m;
  };

  const endSession = (m: Managed, silently = false) => {
    if (m.ended) return;
    m.ended = true;
    all.delete(m);
    for (const [k, v] of bySessionId) if (v === m) bySessionId.delete(k);
    for (const [k, v] of byLegacyEndpoint) if (v === m) byLegacyEndpoint.delete(k);
    if (m.clientKey !== undefined && byClient.get(m.clientKey) === m) byClient.delete(m.clientKey);
    if (!silently) stats.sessionsEnded++;
    if (silently) observer.drop(m.key);
    else observer.end(m.key);
  };

  /** Hands a message (a JSON body's bytes, or an SSE event's data) to the session's tracker. */
  const observe = (m: Managed, direction: Direction, message: Buffer | string) => {
    if (m.ended) return;
    if (direction === 'server') m.answered = true;
    m.lastActive = Date.now();
    observer.message(m.key, direction, message);
  };

  /** The stateless tracker of a client; an `initialize` answered without a session id replaces the previous one. */
  const statelessFor = (key: string): Managed => {
    let m = byClient.get(key);
    if (!m) {
      m = newSession('stateless', false, key);
      byClient.set(key, m);
    }
    return m;
  };

  const server = createServer((req, res) => {
    stats.requests++;
    try {
      handle(req, res);
    } catch (err) {
      // A bug here must cost one request, not the proxy.
      stats.upstreamErrors++;
      log.error('proxy failed on a request', { error: (err as Error).message });
      if (!res.headersSent) badGateway(res, `tapwatch proxy failed on this request: ${(err as Error).message}`);
      else res.destroy();
    }
  });
  // Long-lived SSE streams: no server-side timeouts of our own.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 65_000;

  // The proxy rewrites Host, so the upstream's own DNS-rebinding check cannot see a
  // page that rebinds a name to our loopback port: on loopback, the proxy checks.
  const loopbackOnly = isLoopbackName(options.host ?? '127.0.0.1');

  function handle(req: IncomingMessage, res: ServerResponse): void {
    if (loopbackOnly && !isLoopbackName(hostName(req.headers.host ?? ''))) {
      stats.hostRejected++;
      req.resume();
      const body = JSON.stringify({
        jsonrpc: '2.0',
        id: null,
        error: { code: -32000, message: 'tapwatch proxy: Host refused; a proxy listening on loopback accepts only loopback host names (DNS rebinding protection)' },
      });
      res.writeHead(403, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    const method = req.method ?? 'GET';
    const path = requestPath(req.url ?? '/');
    const target = new URL(path, upstream.origin);
    const sessionId = headerValue(req.headers['mcp-session-id']);
    const headers = forwardRequestHeaders(req, upstream);

    // Observation state of this exchange.
    let managed: Managed | undefined;
    const queued: (Buffer | string)[] = [];
    let responseSessionId: string | null | undefined;
    let responseStatus: number | undefined;
    let initializeKey: string | undefined;
    let exchangeClosed = false;
    let counted = false;

    const attach = (m: Managed) => {
      managed = m;
      if (!exchangeClosed) {
        counted = true;
        m.open++;
      }
      for (const msg of queued.splice(0)) observe(m, 'server', msg);
      settle();
    };
    const fromServer = (msg: Buffer | string) => {
      if (managed) observe(managed, 'server', msg);
      else if (queued.length < MAX_QUEUED) queued.push(msg);
      // A stream no session claims (not legacy SSE, no session id): bounded, then counted.
      else stats.unattributed++;
    };
    /** Applies what the response head says about the session, once both the tracker and the head are known. */
    const settle = () => {
      if (!managed || responseStatus === undefined) return;
      const m = managed;
      if (m.kind === 'pending') {
        if (responseSessionId) {
          m.kind = 'session';
          bySessionId.set(responseSessionId, m);
        } else if (responseStatus < 300) {
          m.kind = 'stateless';
          const key = initializeKey ?? 'anonymous';
          const previous = byClient.get(key);
          if (previous && previous !== m) endSession(previous);
          m.clientKey = key;
          byClient.set(key, m);
          lastInitializeKey = key;
        } else {
          endSession(m, !m.answered);
        }
        return;
      }
      if (sessionId && m.kind === 'session') {
        if (responseStatus === 404) endSession(m, m.lazy && !m.answered);
        else if (method === 'DELETE' && responseStatus < 300) endSession(m);
      }
    };

    // Which tracker, decided from the request head and (for POST) its body.
    const resolve = (parsed: unknown) => {
      if (sessionId) {
        let m = bySessionId.get(sessionId);
        if (!m) {
          m = newSession('session', true);
          bySessionId.set(sessionId, m);
        }
        return m;
      }
      const legacy = byLegacyEndpoint.get(target.pathname + target.search);
      if (legacy) return legacy;
      if (method !== 'POST') return undefined;
      const info = clientKeyOf(parsed);
      if (hasInitialize(parsed)) {
        initializeKey = info ?? 'anonymous';
        return newSession('pending', false, undefined);
      }
      // A 2025 stateless client names itself only in `initialize`.
      return statelessFor(info ?? lastInitializeKey ?? 'anonymous');
    };

    // ---- client → upstream ----
    const abort = new AbortController();
    const upReq = send(target, { method, headers, agent, signal: abort.signal });
    const observeBody = method === 'POST' && isJson(req.headers['content-type']) && !isEncoded(req.headers['content-encoding']);
    const bodyParts: Buffer[] = [];
    let bodyBytes = 0;
    let bodyTooLarge = false;
    req.on('data', (chunk: Buffer) => {
      if (!observeBody || bodyTooLarge) return;
      bodyBytes += chunk.length;
      if (bodyBytes > maxObserved) {
        bodyTooLarge = true;
        bodyParts.length = 0;
        stats.oversized++;
        return;
      }
      bodyParts.push(chunk);
    });
    req.pipe(upReq);
    req.on('end', () => {
      const body = observeBody && !bodyTooLarge && bodyBytes > 0 ? Buffer.concat(bodyParts, bodyBytes) : undefined;
      bodyParts.length = 0;
      // Only a POST without a session (stateless, 2026-07-28, initialize) is keyed by what it says;
      // a body that is not JSON is counted by the observer, not here.
      let parsed: unknown;
      if (body && !sessionId && !byLegacyEndpoint.has(target.pathname + target.search)) {
        try {
          parsed = JSON.parse(body.toString('utf8'));
        } catch {
          parsed = undefined;
        }
      }
      const m = resolve(parsed);
      if (!m) return;
      if (body) observe(m, 'client', body);
      attach(m);
    });
    req.on('error', () => abort.abort());

    // The client went away before the response ended: stop the upstream work too.
    res.on('close', () => {
      exchangeClosed = true;
      if (managed && counted) {
        managed.open--;
        managed.lastActive = Date.now();
      }
      if (!res.writableFinished) {
        stats.clientAborts++;
        abort.abort();
      }
    });

    // ---- upstream → client ----
    upReq.on('response', (up) => {
      const status = up.statusCode ?? 502;
      responseStatus = status;
      responseSessionId = headerValue(up.headers['mcp-session-id']) ?? null;
      settle();
      const contentType = headerValue(up.headers['content-type']) ?? '';
      const encoded = isEncoded(up.headers['content-encoding']);
      const sse = /^\s*text\/event-stream/i.test(contentType);
      res.writeHead(status, up.statusMessage, forwardResponseHeaders(up.rawHeaders));
      let wrote = false;
      // A stream's head goes out at once (the first event may be minutes away), unless the
      // first bytes of its body are already here: then head and body leave in one write.
      // Other heads ride with the body.
      if (sse)
        setImmediate(() => {
          if (!wrote && !res.writableEnded && !res.destroyed) res.flushHeaders();
        });
      const json = !sse && isJson(contentType);
      if ((sse || json) && encoded) stats.encodedSkipped++;

      let write = (chunk: Buffer) => {
        wrote = true;
        if (!res.write(chunk)) {
          up.pause();
          res.once('drain', () => up.resume());
        }
      };

      if (sse && !encoded) {
        const parser = new SseParser({ maxEventBytes: maxObserved });
        let reportedOversized = 0;
        const onEvents = (events: SseEvent[]) => {
          for (const ev of events) {
            if (ev.type !== 'message' || ev.data === '') continue; // priming events carry no message
            fromServer(ev.data);
          }
          if (parser.oversized !== reportedOversized) {
            stats.oversized += parser.oversized - reportedOversized;
            reportedOversized = parser.oversized;
          }
        };
        const legacyCandidate = method === 'GET' && !sessionId && !managed;
        if (legacyCandidate) {
          // Hold the head of the stream until its `endpoint` event, which may need rewriting.
          const hold = new EndpointHold(parser, (ev) => {
            const endpoint = new URL(ev.data, target);
            const m = newSession('legacy', false);
            byLegacyEndpoint.set(endpoint.pathname + endpoint.search, m);
            attach(m);
            up.once('close', () => endSession(m));
            if (!isAbsoluteUrl(ev.data)) return undefined;
            if (endpoint.origin !== upstream.origin) {
              log.warn('legacy SSE endpoint on another origin: its messages bypass the proxy', { origin: endpoint.origin });
              return undefined;
            }
            return `${proxyOrigin(req)}${endpoint.pathname}${endpoint.search}${endpoint.hash}`;
          });
          const direct = write;
          write = (chunk: Buffer) => {
            const out = hold.push(chunk);
            if (out.length > 0) direct(out);
          };
          up.on('data', (chunk: Buffer) => {
            write(chunk);
            guarded(() => onEvents(hold.events.splice(0)));
          });
          up.on('end', () => {
            const rest = hold.flush();
            if (rest.length > 0) direct(rest);
          });
        } else {
          up.on('data', (chunk: Buffer) => {
            write(chunk);
            guarded(() => onEvents(parser.push(chunk)));
          });
        }
      } else if (json && !encoded) {
        const parts: Buffer[] = [];
        let bytes = 0;
        let tooLarge = false;
        up.on('data', (chunk: Buffer) => {
          write(chunk);
          if (tooLarge) return;
          bytes += chunk.length;
          if (bytes > maxObserved) {
            tooLarge = true;
            parts.length = 0;
            stats.oversized++;
          } else {
            parts.push(chunk);
          }
        });
        up.on('end', () => {
          if (tooLarge || bytes === 0) return;
          fromServer(Buffer.concat(parts, bytes));
        });
      } else {
        up.on('data', (chunk: Buffer) => write(chunk));
      }
      up.on('end', () => res.end());
      up.on('error', () => {
        if (!abort.signal.aborted) stats.upstreamErrors++;
        res.destroy();
      });
      up.on('aborted', () => res.destroy());
    });

    upReq.on('error', (err) => {
      if (abort.signal.aborted) return; // we aborted it: the client is gone
      stats.upstreamErrors++;
      if (!res.headersSent) {
        badGateway(res, `tapwatch proxy: upstream ${display} unreachable: ${(err as NodeJS.ErrnoException).code ?? err.message}`);
      } else {
        res.destroy();
      }
      if (managed?.kind === 'pending') endSession(managed, !managed.answered);
    });

    function guarded(fn: () => void): void {
      try {
        fn();
      } catch (err) {
        stats.observeErrors++;
        log.warn('proxy observation failed on a stream', { error: (err as Error).message });
      }
    }
  }

  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8788, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolveListen();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;

  const idleMs = options.sessionIdleMs ?? 30 * 60_000;
  const sweep = setInterval(
    () => {
      const now = Date.now();
      for (const m of [...all]) if (m.kind !== 'pending' && m.open <= 0 && now - m.lastActive > idleMs) endSession(m);
    },
    Math.max(10, Math.min(idleMs / 2, 60_000)),
  );
  sweep.unref();

  let closing: Promise<void> | undefined;
  return {
    url,
    upstream: display,
    stats,
    close: () => {
      clearInterval(sweep);
      closing ??= (async () => {
        const stopped = new Promise<void>((resolveClose) => server.close(() => resolveClose()));
        server.closeAllConnections();
        for (const m of [...all]) endSession(m, m.kind === 'pending' && !m.answered);
        agent.destroy();
        // Events of every ended session reach `emit` before close resolves (the sink closes after).
        await Promise.all([stopped, observer.close(OBSERVER_CLOSE_MS)]);
      })();
      return closing;
    },
  };
}

/**
 * Holds back the head of a legacy SSE stream until its `endpoint` event has
 * been seen (or a message, or 64 KB: then there is nothing to rewrite), then
 * lets everything through unchanged. Complete blocks are released as soon as
 * they end, so nothing waits for more than one event.
 */
class EndpointHold {
  /** Events parsed from what was pushed, for the caller to observe. */
  readonly events: SseEvent[] = [];
  private held: Buffer[] = [];
  private heldBytes = 0;
  /** Stream offset of the first held byte. */
  private heldStart = 0;
  private holding = true;

  constructor(
    private readonly parser: SseParser,
    /** Called with the `endpoint` event; returns its new data, or undefined to keep it. */
    private readonly onEndpoint: (ev: SseEvent) => string | undefined,
  ) {}

  /** Feeds a chunk from upstream; returns the bytes to send to the client now. */
  push(chunk: Buffer): Buffer {
    const events = this.parser.push(chunk);
    this.events.push(...events);
    if (!this.holding) return chunk;
    this.held.push(chunk);
    this.heldBytes += chunk.length;
    let replace: { start: number; end: number; bytes: Buffer } | undefined;
    for (const ev of events) {
      if (ev.type === 'endpoint') {
        const data = this.onEndpoint(ev);
        if (data !== undefined) {
          const id = ev.id !== undefined ? `id: ${ev.id}\n` : '';
          replace = { start: ev.start, end: ev.end, bytes: Buffer.from(`event: endpoint\n${id}data: ${data}\n\n`) };
        }
        this.holding = false;
        break;
      }
      if (ev.type === 'message') {
        this.holding = false;
        break;
      }
    }
    const all = this.held.length === 1 ? this.held[0]! : Buffer.concat(this.held, this.heldBytes);
    if (!this.holding || this.heldBytes > ENDPOINT_HOLD_BYTES) {
      this.holding = false;
      this.held = [];
      this.heldBytes = 0;
      if (!replace) return all;
      return Buffer.concat([all.subarray(0, replace.start - this.heldStart), replace.bytes, all.subarray(replace.end - this.heldStart)]);
    }
    // Still looking: release the blocks that are complete, keep the rest.
    const cut = this.parser.boundary - this.heldStart;
    const out = all.subarray(0, cut);
    const rest = all.subarray(cut);
    this.held = rest.length > 0 ? [rest] : [];
    this.heldBytes = rest.length;
    this.heldStart = this.parser.boundary;
    return out;
  }

  /** The stream ended: whatever is still held goes out as it is. */
  flush(): Buffer {
    const out = Buffer.concat(this.held, this.heldBytes);
    this.held = [];
    this.heldBytes = 0;
    this.holding = false;
    return out;
  }
}

function badGateway(res: ServerResponse, message: string): void {
  const body = JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32000, message } });
  res.writeHead(502, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** The path and query of a request target (origin-form, or absolute-form sent to a proxy). */
function requestPath(url: string): string {
  if (url.startsWith('/')) return url;
  try {
    const u = new URL(url);
    return `${u.pathname}${u.search}`;
  } catch {
    return `/${url}`;
  }
}

/** The client's request headers as sent, minus hop-by-hop ones; `Host` names the upstream. */
function forwardRequestHeaders(req: IncomingMessage, upstream: URL): OutgoingHttpHeaders {
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
function forwardResponseHeaders(raw: string[]): string[] {
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
  const v = Array.isArray(value) ? value.join(',') : value ?? '';
  return new Set(
    v
      .split(',')
      .map((t) => t.trim().toLowerCase())
      .filter(Boolean),
  );
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function isJson(contentType: string | string[] | undefined): boolean {
  const v = headerValue(contentType);
  return v !== undefined && /^\s*application\/([\w.+-]+\+)?json\b/i.test(v);
}

function isEncoded(contentEncoding: string | string[] | undefined): boolean {
  const v = headerValue(contentEncoding)?.trim().toLowerCase();
  return v !== undefined && v !== '' && v !== 'identity';
}

/** `localhost`, `*.localhost`, 127.0.0.0/8 or ::1. */
function isLoopbackName(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h.endsWith('.localhost') || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === '::1' || h === '0:0:0:0:0:0:0:1';
}

/** The host name of a Host header value (`name[:port]`, `[v6][:port]`). */
function hostName(hostHeader: string): string {
  const v = hostHeader.trim();
  if (v.startsWith('[')) return v.slice(1, v.indexOf(']') > 0 ? v.indexOf(']') : undefined);
  const colon = v.lastIndexOf(':');
  return colon >= 0 ? v.slice(0, colon) : v;
}

function isAbsoluteUrl(s: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(s.trim());
}

/** The origin the client used to reach the proxy. */
function proxyOrigin(req: IncomingMessage): string {
  const addr = req.socket.address() as AddressInfo;
  const host = req.headers.host ?? (addr.family === 'IPv6' ? `[${addr.address}]:${addr.port}` : `${addr.address}:${addr.port}`);
  return `http://${host}`;
}

/** The upstream URL without credentials (events carry it as the session's target). */
function displayUrl(u: URL): string {
  const copy = new URL(u.href);
  copy.username = '';
  copy.password = '';
  return copy.href;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function messagesOf(parsed: unknown): Record<string, unknown>[] {
  return (Array.isArray(parsed) ? parsed : [parsed]).filter(isObject);
}

function hasInitialize(parsed: unknown): boolean {
  return messagesOf(parsed).some((m) => m.method === 'initialize' && Object.prototype.hasOwnProperty.call(m, 'id'));
}

/** `name@version` of the client, from the 2026-07-28 `_meta` or from `initialize`. */
function clientKeyOf(parsed: unknown): string | undefined {
  for (const m of messagesOf(parsed)) {
    const params = isObject(m.params) ? m.params : undefined;
    const meta = isObject(params?._meta) ? params._meta : undefined;
    const info = isObject(meta?.[CLIENT_INFO_META]) ? meta[CLIENT_INFO_META] : m.method === 'initialize' && isObject(params?.clientInfo) ? params.clientInfo : undefined;
    if (info && typeof info.name === 'string') return `${info.name}@${typeof info.version === 'string' ? info.version : ''}`;
  }
  return undefined;
}
