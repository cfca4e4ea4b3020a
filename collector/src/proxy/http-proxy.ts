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
 * Which tracker sees a message, and when a session ends: sessions.ts. One
 * round trip: exchange.ts. Every tracker still open when the proxy closes is
 * ended.
 */
import { request as httpRequest, Agent as HttpAgent, createServer, type Server } from 'node:http';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { log, type CaptureLevel, type TapEvent } from '@tapwatch/schema';
import { startObserver, type ObserverCounters, type ObserverMode } from '../observe/observer.js';
import type { TrackerIdentity } from '../observe/tracker.js';
import { Exchange, badGateway, refuseHost, type ProxyContext } from './exchange.js';
import { displayUrl, hostName, isLoopbackName } from './headers.js';
import { Sessions } from './sessions.js';

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

/**
 * How long `close` waits for the observer thread's last events. Generous: the
 * thread runs at a low priority, and on a saturated machine a full backlog
 * (16 MiB of messages) takes seconds of CPU to inspect.
 */
const OBSERVER_CLOSE_MS = 30_000;
/** Niceness of the observer thread on Linux: the relay gets the CPU first. */
const OBSERVER_NICE = 10;

/** Starts the proxy; resolves once it listens. */
export async function startHttpProxy(options: HttpProxyOptions): Promise<RunningHttpProxy> {
  const upstream = new URL(options.upstream);
  if (upstream.protocol !== 'http:' && upstream.protocol !== 'https:') throw new Error(`upstream must be an http(s) URL (got ${options.upstream})`);
  const secure = upstream.protocol === 'https:';
  const agent = secure ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });
  const stats = newStats();
  const emit = (event: TapEvent) => {
    try {
      options.emit(event);
    } catch (err) {
      log.warn('proxy could not hand an event to its sink', { error: (err as Error).message });
    }
  };
  const observer = startObserver(options.observer ?? 'worker', emit, {
    counters: stats,
    label: 'proxy',
    nice: OBSERVER_NICE,
    maxInFlightBytes: options.maxObserveInFlightBytes,
  });
  const display = displayUrl(upstream);
  const ctx: ProxyContext = {
    upstream,
    display,
    agent,
    send: secure ? httpsRequest : httpRequest,
    maxObserved: options.maxObservedBytes ?? 32 * 1024 * 1024,
    stats,
    sessions: new Sessions(observer, stats, options.session, identityFor(options, upstream, display)),
  };
  const server = createProxyServer(ctx, isLoopbackName(options.host ?? '127.0.0.1'));
  const url = await listen(server, options.port ?? 8788, options.host ?? '127.0.0.1');

  const idleMs = options.sessionIdleMs ?? 30 * 60_000;
  const sweep = setInterval(() => ctx.sessions.sweep(idleMs), Math.max(10, Math.min(idleMs / 2, 60_000)));
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
        ctx.sessions.endAll();
        agent.destroy();
        // Events of every ended session reach `emit` before close resolves (the sink closes after).
        await Promise.all([stopped, observer.close(OBSERVER_CLOSE_MS)]);
      })();
      return closing;
    },
  };
}

function newStats(): HttpProxyStats {
  return {
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
}

/** The identity of each new tracker of this proxy. */
function identityFor(options: HttpProxyOptions, upstream: URL, display: string): (session: string) => TrackerIdentity {
  const fallbackServerName = `${upstream.host}${upstream.pathname === '/' ? '' : upstream.pathname}`;
  return (session) => ({
    session,
    transport: 'http',
    serverName: options.serverName,
    fallbackServerName,
    agent: options.agent,
    hostname: hostname(),
    parentPid: process.ppid,
    target: display,
    capture: options.capture,
  });
}

/**
 * The proxy's HTTP server: one `Exchange` per request. `loopbackOnly`: the
 * proxy rewrites Host, so the upstream's own DNS-rebinding check cannot see a
 * page that rebinds a name to our loopback port; on loopback, the proxy checks.
 */
function createProxyServer(ctx: ProxyContext, loopbackOnly: boolean): Server {
  const { stats } = ctx;
  const server = createServer((req, res) => {
    stats.requests++;
    try {
      if (loopbackOnly && !isLoopbackName(hostName(req.headers.host ?? ''))) {
        stats.hostRejected++;
        refuseHost(req, res);
        return;
      }
      new Exchange(ctx, req, res).run();
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
  return server;
}

/** Listens; resolves with `http://host:port`. */
async function listen(server: Server, port: number, host: string): Promise<string> {
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolveListen();
    });
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${shown}:${address.port}`;
}
