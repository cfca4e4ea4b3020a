/**
 * One request/response round trip through the HTTP tap.
 *
 * Traffic first: the request is piped to the upstream as it arrives, and the
 * status line, headers and body of the answer are relayed chunk by chunk,
 * with backpressure; nothing is re-serialized and nothing waits for
 * observation. On the side, the exchange copies each message (a JSON body,
 * or the data of each event of a `text/event-stream` body, bounded in size)
 * and hands it to its session (sessions.ts), which it learns from the
 * request head, from a POST's body when there is no session id, or from the
 * `endpoint` event of a legacy SSE stream. Server messages that arrive
 * before the session is known wait, bounded, in `queued`.
 */
import type { Agent as HttpAgent, ClientRequest, IncomingMessage, RequestOptions, ServerResponse } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import { log } from '@tapwatch/schema';
import type { HttpProxyStats } from './http-proxy.js';
import { forwardRequestHeaders, forwardResponseHeaders, headerValue, isEncoded, isEventStream, isJson, proxyOrigin, requestPath } from './headers.js';
import { peekJson } from './jsonrpc-peek.js';
import { EndpointHold, rewriteEndpoint } from './legacy-sse.js';
import type { ProxySession, RequestHead, Sessions } from './sessions.js';
import { SseParser, type SseEvent } from './sse.js';

/** Server messages held per exchange while its session is not known yet. */
const MAX_QUEUED = 1000;

/** What every exchange of one proxy shares. */
export interface ProxyContext {
  upstream: URL;
  /** The upstream URL without credentials. */
  display: string;
  agent: HttpAgent | HttpsAgent;
  send: (url: URL, options: RequestOptions) => ClientRequest;
  /** Largest message observed; larger ones are relayed, not observed. */
  maxObserved: number;
  stats: HttpProxyStats;
  sessions: Sessions;
}

/** Writes a chunk to the client, pausing the upstream while the client's buffer is full. */
type Write = (chunk: Buffer) => void;

export class Exchange {
  private readonly head: RequestHead;
  private readonly target: URL;
  private readonly abort = new AbortController();
  /** The session the exchange belongs to, once known. */
  private session: ProxySession | undefined;
  /** Server messages waiting for `session`. */
  private readonly queued: (Buffer | string)[] = [];
  private responseSessionId: string | null | undefined;
  private responseStatus: number | undefined;
  /** The client an `initialize` without a session id names. */
  private initializeKey: string | undefined;
  /** The client's side of the exchange closed. */
  private closed = false;
  /** The exchange counts in its session's `open`. */
  private counted = false;
  /** Something of the body was written to the client. */
  private wrote = false;

  constructor(
    private readonly ctx: ProxyContext,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
  ) {
    const path = requestPath(req.url ?? '/');
    this.target = new URL(path, ctx.upstream.origin);
    this.head = { method: req.method ?? 'GET', sessionId: headerValue(req.headers['mcp-session-id']), pathAndQuery: this.target.pathname + this.target.search };
  }

  /** Starts relaying: the request to the upstream, its answer back to the client. */
  run(): void {
    const { ctx, req, res } = this;
    const upReq = ctx.send(this.target, {
      method: this.head.method,
      headers: forwardRequestHeaders(req, ctx.upstream),
      agent: ctx.agent,
      signal: this.abort.signal,
    });
    this.relayRequest(upReq);
    req.on('error', () => this.abort.abort());
    // The client went away before the response ended: stop the upstream work too.
    res.on('close', () => {
      this.closed = true;
      if (this.session && this.counted) {
        this.session.open--;
        this.session.lastActive = Date.now();
      }
      if (!res.writableFinished) {
        ctx.stats.clientAborts++;
        this.abort.abort();
      }
    });
    upReq.on('response', (up) => this.relayResponse(up));
    upReq.on('error', (err) => this.upstreamFailed(err));
  }

  /** Client → upstream: piped as it comes; a JSON POST body is also kept (bounded) to observe. */
  private relayRequest(upReq: ClientRequest): void {
    const { req, ctx } = this;
    const observeBody = this.head.method === 'POST' && isJson(req.headers['content-type']) && !isEncoded(req.headers['content-encoding']);
    const parts: Buffer[] = [];
    let bytes = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      if (!observeBody || tooLarge) return;
      bytes += chunk.length;
      if (bytes > ctx.maxObserved) {
        tooLarge = true;
        parts.length = 0;
        ctx.stats.oversized++;
        return;
      }
      parts.push(chunk);
    });
    req.pipe(upReq);
    req.on('end', () => {
      const body = observeBody && !tooLarge && bytes > 0 ? Buffer.concat(parts, bytes) : undefined;
      parts.length = 0;
      this.requestEnded(body);
    });
  }

  /** The request body is in: choose the session, observe the body, attach. */
  private requestEnded(body: Buffer | undefined): void {
    const { head, ctx } = this;
    // Only a POST without a session (stateless, 2026-07-28, initialize) is keyed by what it says;
    // a body that is not JSON is counted by the observer, not here.
    const parsed = body && !head.sessionId && !ctx.sessions.isLegacyEndpoint(head.pathAndQuery) ? peekJson(body) : undefined;
    const choice = ctx.sessions.choose(head, parsed);
    if (choice.initializeKey !== undefined) this.initializeKey = choice.initializeKey;
    const m = choice.session;
    if (!m) return;
    if (body) ctx.sessions.observe(m, 'client', body);
    this.attach(m);
  }

  /** The exchange's session is known: queued server messages go to it. */
  private attach(m: ProxySession): void {
    this.session = m;
    if (!this.closed) {
      this.counted = true;
      m.open++;
    }
    for (const msg of this.queued.splice(0)) this.ctx.sessions.observe(m, 'server', msg);
    this.settle();
  }

  private fromServer(msg: Buffer | string): void {
    if (this.session) this.ctx.sessions.observe(this.session, 'server', msg);
    else if (this.queued.length < MAX_QUEUED) this.queued.push(msg);
    // A stream no session claims (not legacy SSE, no session id): bounded, then counted.
    else this.ctx.stats.unattributed++;
  }

  /** Applies what the response head says about the session, once both the session and the head are known. */
  private settle(): void {
    const { session: m, responseStatus: status, head } = this;
    if (!m || status === undefined) return;
    if (m.kind === 'pending') {
      this.ctx.sessions.answerPending(m, this.responseSessionId, status, this.initializeKey);
      return;
    }
    if (head.sessionId && m.kind === 'session') {
      if (status === 404) this.ctx.sessions.end(m, m.lazy && !m.answered);
      else if (head.method === 'DELETE' && status < 300) this.ctx.sessions.end(m);
    }
  }

  /** Upstream → client: the head, then the body as it comes, observed by content type. */
  private relayResponse(up: IncomingMessage): void {
    const { res, ctx } = this;
    const status = up.statusCode ?? 502;
    this.responseStatus = status;
    this.responseSessionId = headerValue(up.headers['mcp-session-id']) ?? null;
    this.settle();
    const contentType = headerValue(up.headers['content-type']) ?? '';
    const encoded = isEncoded(up.headers['content-encoding']);
    const sse = isEventStream(contentType);
    res.writeHead(status, up.statusMessage, forwardResponseHeaders(up.rawHeaders));
    // A stream's head goes out at once (the first event may be minutes away), unless the
    // first bytes of its body are already here: then head and body leave in one write.
    // Other heads ride with the body.
    if (sse)
      setImmediate(() => {
        if (!this.wrote && !res.writableEnded && !res.destroyed) res.flushHeaders();
      });
    const json = !sse && isJson(contentType);
    if ((sse || json) && encoded) ctx.stats.encodedSkipped++;
    const write: Write = (chunk) => {
      this.wrote = true;
      if (!res.write(chunk)) {
        up.pause();
        res.once('drain', () => up.resume());
      }
    };
    if (sse && !encoded) this.relayEventStream(up, write);
    else if (json && !encoded) this.relayJson(up, write);
    else up.on('data', (chunk: Buffer) => write(chunk));
    up.on('end', () => res.end());
    up.on('error', () => {
      if (!this.abort.signal.aborted) ctx.stats.upstreamErrors++;
      res.destroy();
    });
    up.on('aborted', () => res.destroy());
  }

  /** A JSON body: relayed as it comes, observed whole at its end (unless over `maxObserved`). */
  private relayJson(up: IncomingMessage, write: Write): void {
    const parts: Buffer[] = [];
    let bytes = 0;
    let tooLarge = false;
    up.on('data', (chunk: Buffer) => {
      write(chunk);
      if (tooLarge) return;
      bytes += chunk.length;
      if (bytes > this.ctx.maxObserved) {
        tooLarge = true;
        parts.length = 0;
        this.ctx.stats.oversized++;
      } else {
        parts.push(chunk);
      }
    });
    up.on('end', () => {
      if (tooLarge || bytes === 0) return;
      this.fromServer(Buffer.concat(parts, bytes));
    });
  }

  /** An event stream: relayed as it comes, each message event observed. */
  private relayEventStream(up: IncomingMessage, write: Write): void {
    const parser = new SseParser({ maxEventBytes: this.ctx.maxObserved });
    let reportedOversized = 0;
    const onEvents = (events: SseEvent[]) => {
      for (const ev of events) {
        if (ev.type !== 'message' || ev.data === '') continue; // priming events carry no message
        this.fromServer(ev.data);
      }
      if (parser.oversized !== reportedOversized) {
        this.ctx.stats.oversized += parser.oversized - reportedOversized;
        reportedOversized = parser.oversized;
      }
    };
    if (this.head.method === 'GET' && !this.head.sessionId && !this.session) {
      this.relayLegacyStream(up, write, parser, onEvents);
      return;
    }
    up.on('data', (chunk: Buffer) => {
      write(chunk);
      this.guarded(() => onEvents(parser.push(chunk)));
    });
  }

  /** A stream that may be legacy HTTP+SSE: its head is held until its `endpoint` event, which may need rewriting. */
  private relayLegacyStream(up: IncomingMessage, direct: Write, parser: SseParser, onEvents: (events: SseEvent[]) => void): void {
    const hold = new EndpointHold(parser, (ev) => {
      const endpoint = new URL(ev.data, this.target);
      const m = this.ctx.sessions.startLegacy(endpoint.pathname + endpoint.search);
      this.attach(m);
      up.once('close', () => this.ctx.sessions.end(m));
      return rewriteEndpoint(ev.data, endpoint, this.ctx.upstream, () => proxyOrigin(this.req));
    });
    up.on('data', (chunk: Buffer) => {
      const out = hold.push(chunk);
      if (out.length > 0) direct(out);
      this.guarded(() => onEvents(hold.events.splice(0)));
    });
    up.on('end', () => {
      const rest = hold.flush();
      if (rest.length > 0) direct(rest);
    });
  }

  private upstreamFailed(err: Error): void {
    const { res, ctx } = this;
    if (this.abort.signal.aborted) return; // we aborted it: the client is gone
    ctx.stats.upstreamErrors++;
    if (!res.headersSent) {
      badGateway(res, `tapwatch proxy: upstream ${ctx.display} unreachable: ${(err as NodeJS.ErrnoException).code ?? err.message}`);
    } else {
      res.destroy();
    }
    const m = this.session;
    if (m?.kind === 'pending') ctx.sessions.end(m, !m.answered);
  }

  private guarded(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.ctx.stats.observeErrors++;
      log.warn('proxy observation failed on a stream', { error: (err as Error).message });
    }
  }
}

/** Answers a request the proxy could not relay. */
export function badGateway(res: ServerResponse, message: string): void {
  const body = JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32000, message } });
  res.writeHead(502, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** Answers a request whose Host is not a loopback name while the proxy listens on loopback (DNS rebinding). */
export function refuseHost(req: IncomingMessage, res: ServerResponse): void {
  req.resume();
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id: null,
    error: { code: -32000, message: 'tapwatch proxy: Host refused; a proxy listening on loopback accepts only loopback host names (DNS rebinding protection)' },
  });
  res.writeHead(403, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
