/**
 * The SDK tap: a delegating wrapper around an MCP SDK `Transport` that reports
 * the same events as the stdio tap (`transport: 'sdk'`).
 *
 * It is typed structurally, so the collector never imports the SDK: the same
 * wrapper serves `@modelcontextprotocol/sdk` 1.x and the 2.x packages
 * (`@modelcontextprotocol/client` / `server`), whose Transport adds
 * `hasPerRequestStream`, `setSupportedProtocolVersions` and a `requestSignal`
 * send option — all of which pass through untouched.
 *
 * The wrapper is a Proxy over the real transport rather than a copy of its
 * surface: `instanceof` still holds, getters (`sessionId`) run on the real
 * object, methods the wrapper does not know about (`handleRequest`,
 * `finishAuth`, `setProtocolVersion`, …) are called with the real transport as
 * `this` (so private `#fields` work), and properties set on the wrapper land on
 * the real transport. Only `send`, `close` and the three callbacks are
 * intercepted. Observation runs before delivery, inside try/catch: a failure
 * there is logged and the message goes on regardless.
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { CaptureLevelSchema, loadConfig, log, type CaptureLevel, type TapEvent } from '@tapwatch/schema';
import { createSink, type EventSink, type SinkStats } from '../sinks/index.js';
import { SessionTracker, type Direction } from '../observe/tracker.js';

/**
 * What tapwatch needs of an MCP SDK transport (v1 `Transport`, v2 `Transport`).
 * Callback parameters are `never` so any SDK's narrower message types fit.
 */
export interface TransportLike {
  start(): Promise<void>;
  send(message: never, options?: never): Promise<void>;
  close(): Promise<void>;
  onclose?: (() => void) | undefined;
  onerror?: ((error: never) => void) | undefined;
  onmessage?: ((message: never, extra?: never) => void) | undefined;
  sessionId?: string | undefined;
}

/** Where events go: a sink URL, an `EventSink` (not closed by the wrapper) or a function. */
export type TapTransportSink = string | EventSink | ((event: TapEvent) => void);

export interface TapTransportOptions {
  /**
   * Which end of the MCP connection the wrapped transport belongs to. `client`:
   * `send` carries client→server messages (e.g. `StdioClientTransport`);
   * `server`: `send` carries server→client messages (the transport given to
   * `McpServer.connect`).
   */
  side: 'client' | 'server';
  /** Server name on events (like `tapwatch tap --name`); default the server's `serverInfo.name`. */
  server?: string | undefined;
  /**
   * Default `$TAPWATCH_SINK`, else `http://127.0.0.1:8787`. A URL makes the
   * wrapper own its sink: created here, flushed and closed when the transport
   * closes. Share one `EventSink` between many wrapped transports (e.g. one per
   * HTTP session on a server) to keep a single connection.
   */
  sink?: TapTransportSink | undefined;
  /** Agent id; default `$TAPWATCH_AGENT`, else host:pid:client-name. */
  agent?: string | undefined;
  /**
   * Session id on events. Default: the transport's MCP session id if it has
   * one when the first event is emitted (Streamable HTTP), else a new UUID.
   */
  session?: string | undefined;
  /** Content capture level; default `$TAPWATCH_CAPTURE`, else `redacted`. */
  capture?: CaptureLevel | undefined;
  /** What the server is (a command line or URL) for `session_start.target`. */
  target?: string | undefined;
  /** Bearer token for an http sink URL; default `$TAPWATCH_TOKEN`. */
  token?: string | undefined;
  /** How long `close()` waits for an owned sink to deliver (default 5000 ms). */
  flushTimeoutMs?: number | undefined;
}

type Callback = 'onmessage' | 'onclose' | 'onerror';
const CALLBACKS: ReadonlySet<PropertyKey> = new Set<PropertyKey>(['onmessage', 'onclose', 'onerror']);
type AnyFn = (...args: unknown[]) => unknown;

/**
 * Wraps an MCP SDK transport so every message through it is reported to
 * tapwatch; returns an object usable wherever the transport was.
 *
 * ```ts
 * const transport = tapTransport(new StdioClientTransport({ command: 'npx', args: ['-y', '@modelcontextprotocol/server-everything'] }),
 *   { side: 'client', server: 'everything', sink: 'http://127.0.0.1:8787' });
 * await client.connect(transport);
 * ```
 *
 * Throws only for bad options (an unknown `side` or `capture`, a bad setting in
 * the environment); once wrapped, nothing tapwatch does can fail the transport.
 */
export function tapTransport<T extends TransportLike>(inner: T, options: TapTransportOptions): T {
  if (options.side !== 'client' && options.side !== 'server') {
    throw new TypeError(`tapTransport: side must be 'client' or 'server' (got ${String(options.side)})`);
  }
  const tap = new TransportTap(inner, options);
  const bound = new WeakMap<AnyFn, AnyFn>();
  return new Proxy(inner, {
    get(target, prop) {
      if (prop === 'send') return tap.send;
      if (prop === 'close') return tap.close;
      if (CALLBACKS.has(prop)) return tap.handlers[prop as Callback];
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      // Called with the real transport as `this`; one bound function per method keeps identity stable.
      const fn = value as AnyFn;
      let b = bound.get(fn);
      if (!b) {
        b = fn.bind(target) as AnyFn;
        bound.set(fn, b);
      }
      return b;
    },
    set(target, prop, value: unknown) {
      if (CALLBACKS.has(prop)) {
        tap.handlers[prop as Callback] = typeof value === 'function' ? (value as AnyFn) : undefined;
        return true;
      }
      return Reflect.set(target, prop, value, target);
    },
  });
}

/** The observing half of a wrapped transport. */
class TransportTap {
  /** The callbacks the SDK (or the user) installed on the wrapper. */
  readonly handlers: Record<Callback, AnyFn | undefined>;
  private readonly tracker: SessionTracker;
  private readonly outgoing: Direction;
  private readonly incoming: Direction;
  private readonly owned: Promise<EventSink | undefined> | undefined;
  private readonly flushTimeoutMs: number;
  private ended = false;
  private finished: Promise<SinkStats | undefined> | undefined;

  constructor(
    private readonly inner: TransportLike,
    options: TapTransportOptions,
  ) {
    this.outgoing = options.side === 'client' ? 'client' : 'server';
    this.incoming = options.side === 'client' ? 'server' : 'client';
    this.flushTimeoutMs = options.flushTimeoutMs ?? 5_000;

    const needsConfig = options.agent === undefined || options.capture === undefined || options.sink === undefined || typeof options.sink === 'string';
    const config = needsConfig ? loadConfig() : undefined;
    const capture = CaptureLevelSchema.parse(options.capture ?? config?.TAPWATCH_CAPTURE ?? 'redacted');

    let emit: (event: TapEvent) => void;
    const sink = options.sink ?? config?.TAPWATCH_SINK ?? 'http://127.0.0.1:8787';
    if (typeof sink === 'function') {
      emit = sink;
    } else if (typeof sink === 'string') {
      // createSink is async (kafkajs loads on demand): events wait in order until it is ready.
      const early: TapEvent[] = [];
      let ready: EventSink | undefined;
      let failed = false;
      this.owned = createSink(sink, {
        token: options.token ?? config?.TAPWATCH_TOKEN,
        credentialsDir: config?.TAPWATCH_CREDENTIALS_DIR,
        eventsTopic: config?.TAPWATCH_EVENTS_TOPIC ?? 'tapwatch.events',
        spool: config ? { dir: config.TAPWATCH_SPOOL_DIR, maxBytes: config.TAPWATCH_SPOOL_MAX_BYTES } : false,
      }).then(
        (s) => {
          ready = s;
          for (const e of early.splice(0)) s.send(e);
          return s;
        },
        (err: unknown) => {
          failed = true;
          log.warn('sdk tap cannot create its sink; events are dropped', { error: (err as Error).message, hint: 'check the sink option / TAPWATCH_SINK' });
          return undefined;
        },
      );
      emit = (e) => {
        if (ready) ready.send(e);
        else if (!failed) early.push(e);
      };
    } else {
      emit = (e) => sink.send(e);
    }

    let session: string | undefined = options.session;
    const identity = {
      // Fixed at the first event: the MCP session id exists by then on Streamable HTTP.
      get session(): string {
        session ??= readSessionId(inner) ?? randomUUID();
        return session;
      },
      transport: 'sdk' as const,
      serverName: options.server,
      fallbackServerName: 'unknown',
      agent: options.agent ?? config?.TAPWATCH_AGENT,
      hostname: hostname(),
      // The stdio tap's parent is the client; here the client (or server) is this process.
      parentPid: process.pid,
      target: options.target,
      capture,
    };
    this.tracker = new SessionTracker(identity, (event) => {
      try {
        emit(event);
      } catch (err) {
        log.warn('sdk tap could not hand an event to its sink', { error: (err as Error).message });
      }
    });

    this.handlers = {
      onmessage: inner.onmessage as AnyFn | undefined,
      onclose: inner.onclose as AnyFn | undefined,
      onerror: inner.onerror as AnyFn | undefined,
    };
    const t = inner as unknown as Record<Callback, AnyFn>;
    t.onmessage = (...args: unknown[]) => {
      this.observe(this.incoming, args[0]);
      return this.handlers.onmessage?.(...args);
    };
    t.onerror = (...args: unknown[]) => this.handlers.onerror?.(...args);
    t.onclose = (...args: unknown[]) => {
      this.endSession();
      try {
        return this.handlers.onclose?.(...args);
      } finally {
        // The peer went away without our close(): flush in the background.
        void this.finish();
      }
    };
  }

  readonly send = (...args: unknown[]): Promise<void> => {
    // Before the real send: a response can arrive before send() resolves (Streamable HTTP).
    this.observe(this.outgoing, args[0]);
    return (this.inner.send as unknown as AnyFn).apply(this.inner, args) as Promise<void>;
  };

  readonly close = async (): Promise<void> => {
    try {
      await this.inner.close();
    } finally {
      this.endSession();
      await this.finish();
    }
  };

  private observe(direction: Direction, message: unknown): void {
    if (this.ended) return;
    try {
      this.tracker.observe(direction, message);
    } catch (err) {
      log.warn('sdk tap observation failed on a message', { direction, error: (err as Error).message });
    }
  }

  private endSession(): void {
    if (this.ended) return;
    this.ended = true;
    try {
      this.tracker.end(null, null);
    } catch (err) {
      log.warn('sdk tap could not end its session', { error: (err as Error).message });
    }
  }

  /** Flushes and closes an owned sink, once. */
  private finish(): Promise<SinkStats | undefined> {
    this.finished ??= (async () => {
      const sink = await this.owned;
      if (!sink) return undefined;
      const stats = await sink.close(this.flushTimeoutMs);
      if (stats.dropped > 0) log.warn('sdk tap closed with undelivered events', { dropped: stats.dropped, sent: stats.sent });
      return stats;
    })().catch((err: unknown) => {
      log.warn('sdk tap could not close its sink', { error: (err as Error).message });
      return undefined;
    });
    return this.finished;
  }
}

function readSessionId(inner: TransportLike): string | undefined {
  try {
    const id = inner.sessionId;
    return typeof id === 'string' && id.length > 0 ? id : undefined;
  } catch {
    return undefined;
  }
}
