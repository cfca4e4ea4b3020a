/**
 * The alert stream: WebSocket `/v1/alerts/stream`. The only file that imports ws.
 *
 * Messages from the server are either an alert — the alert JSON object,
 * unchanged, so plain clients just parse every message as an alert — or a
 * control message, which always has a `type` field (alerts never do):
 * `subscribed`, `replay_end`, `pong`, `error`. Control messages are only
 * sent to clients that ask for them (a subscribe message, `since=`, a ping).
 *
 * Filters (minimum `severity`, `server`, `tool`, `agent`, `detector`; repeated
 * or comma lists; `prefix*`) come from the query string and can be replaced
 * at any time with `{"type":"subscribe","filters":{…}}`.
 *
 * Resume: `since=<alert id or ISO time>` replays the stored alerts after that
 * point, in (time, id) order, then goes live with no gap and no duplicate:
 * the client joins the live feed first (alerts are buffered), the replay is
 * sent, then the buffer is drained skipping ids already sent.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import { TapwatchError, log, type Alert } from '@tapwatch/schema';
import type { AlertFeed } from '@tapwatch/bus';
import { isAuthorized, type TokenIdentity } from './auth.js';
import { filtersFromQuery, matchesFilters, parseFilters, type AlertFilters } from './alert-filters.js';
import type { AlertHistory, ReplayCursor } from './alert-history.js';
import { checkRequest, type RequestGuardOptions } from './request-guard.js';

export const ALERT_STREAM_PATH = '/v1/alerts/stream';

/** Close codes and reasons a client can act on. */
export const STREAM_CLOSE = Object.freeze({
  SLOW: { code: 1013, reason: 'subscriber too slow: reconnect with since=<last alert id> to resume' },
  FULL: { code: 1013, reason: 'too many alert-stream subscribers (TAPWATCH_WS_MAX_CLIENTS): try again later' },
  TOKEN_FULL: { code: 1013, reason: 'too many alert-stream subscribers of this token (TAPWATCH_WS_MAX_CLIENTS_PER_TOKEN): close one first' },
  SHUTDOWN: { code: 1001, reason: 'tapwatch is shutting down' },
});

/** Decides whether a request may open the stream: 'ok', or the HTTP status to refuse it with (401, 403). */
export type StreamAuthorizer = (req: IncomingMessage) => 'ok' | 401 | 403;

export interface AlertStreamOptions {
  token?: string | undefined;
  /** Overrides the single-token check (roles). */
  authorize?: StreamAuthorizer | undefined;
  /** A subscriber whose unsent data passes this is too slow and is closed, so it cannot hold memory or slow others. */
  maxBufferedBytes?: number;
  /** Ping interval; a client that misses a pong by the next ping is dropped. */
  heartbeatMs?: number;
  /** Most open subscribers; one more is closed with 1013 at once (admin tokens' subscribers count only against `maxClientsPerToken`). */
  maxClients?: number;
  /** Most open subscribers of one token; one more is closed with 1013 at once. */
  maxClientsPerToken?: number;
  /** Who a request's token is, for `maxClientsPerToken`; without it (or an identity) a subscriber counts only against `maxClients`. */
  identify?: ((req: IncomingMessage) => TokenIdentity | undefined) | undefined;
  /** Stored alerts, for `since=`; without it resume is refused. */
  history?: AlertHistory | undefined;
  /** Live alerts held for one subscriber while its replay runs; past it the subscriber is closed as too slow. */
  maxPending?: number;
  /** Hosts and origins answered besides loopback and the API's own: a page on another site cannot subscribe (request-guard.ts). */
  guard?: RequestGuardOptions | undefined;
}

export interface AlertStream {
  readonly clients: number;
  readonly sent: number;
  /** Subscribers let go: too slow, or missed a pong. */
  readonly dropped: number;
  close(): Promise<void>;
}

interface Subscriber {
  ws: WebSocket;
  /** The id of the subscriber's token, when known. */
  owner: string | undefined;
  filters: AlertFilters;
  alive: boolean;
  /**
   * Ids of the last alerts sent on this socket (at most RECENT_IDS): a live
   * alert that a replay already sent (the alert feed catching up after a
   * restart) is not sent twice.
   */
  recent: Set<string>;
  /** Set while a replay runs: live alerts wait here. */
  pending: Alert[] | undefined;
  /** Ids sent during the current replay, to skip them when the buffer drains. */
  replayed: Set<string> | undefined;
}

const REPLAY_PAGE = 1000;
const RECENT_IDS = 2000;

export function attachAlertStream(server: Server, feed: AlertFeed, options: AlertStreamOptions = {}): AlertStream {
  const maxBuffered = options.maxBufferedBytes ?? 8 * 1024 * 1024;
  const maxClients = options.maxClients ?? 100;
  const maxPerToken = options.maxClientsPerToken ?? 10;
  const perToken = new Map<string, number>();
  const maxPending = options.maxPending ?? 10_000;
  const authorize: StreamAuthorizer = options.authorize ?? ((req) => (isAuthorized(options.token, req, true) ? 'ok' : 401));
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  const subscribers = new Map<WebSocket, Subscriber>();
  let sent = 0;
  let dropped = 0;

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const refused = checkRequest(req.headers, options.guard ?? {}, { body: false });
    if (refused) return reject(socket, refused.httpStatus, refused.code, refused.message);
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== ALERT_STREAM_PATH) return reject(socket, 404, 'TAPWATCH_NOT_FOUND', 'no such route');
    const verdict = authorize(req);
    if (verdict === 401) return reject(socket, 401, 'TAPWATCH_UNAUTHORIZED', 'missing or wrong token: send Authorization: Bearer <token> or ?token=');
    if (verdict === 403) return reject(socket, 403, 'TAPWATCH_FORBIDDEN', 'this token may not read alerts: it needs the alerts or admin role');
    let filters: AlertFilters;
    try {
      filters = filtersFromQuery(url.searchParams);
    } catch (err) {
      return reject(socket, 400, (err as TapwatchError).code, (err as Error).message);
    }
    const since = url.searchParams.get('since') ?? undefined;
    const who = options.identify?.(req);
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', () => ws.terminate());
      const held = who ? (perToken.get(who.id) ?? 0) : 0;
      if (who && held >= maxPerToken) {
        log.warn('alert stream: a token holds its share of subscribers, refusing one more', { held, setting: 'TAPWATCH_WS_MAX_CLIENTS_PER_TOKEN' });
        ws.close(STREAM_CLOSE.TOKEN_FULL.code, STREAM_CLOSE.TOKEN_FULL.reason);
        return;
      }
      // Admin subscribers are held to their own share only: other tokens' sockets cannot lock the operator out.
      if (!who?.admin && subscribers.size >= maxClients) {
        log.warn('alert stream full: refusing a subscriber', { clients: subscribers.size, setting: 'TAPWATCH_WS_MAX_CLIENTS' });
        ws.close(STREAM_CLOSE.FULL.code, STREAM_CLOSE.FULL.reason);
        return;
      }
      const sub: Subscriber = { ws, owner: who?.id, filters, alive: true, recent: new Set(), pending: undefined, replayed: undefined };
      subscribers.set(ws, sub);
      if (who) perToken.set(who.id, held + 1);
      ws.on('pong', () => (sub.alive = true));
      ws.on('close', () => forget(sub));
      ws.on('message', (data: RawData, isBinary: boolean) => onMessage(sub, data, isBinary));
      if (since !== undefined) void replay(sub, since);
    });
  });

  /** Removes a subscriber once, freeing its token's slot. */
  function forget(sub: Subscriber): void {
    if (!subscribers.delete(sub.ws) || sub.owner === undefined) return;
    const n = (perToken.get(sub.owner) ?? 1) - 1;
    if (n > 0) perToken.set(sub.owner, n);
    else perToken.delete(sub.owner);
  }

  /** Closes a subscriber that cannot keep up; it gets nothing more, and its buffer is freed once the close completes. */
  function dropSlow(sub: Subscriber): void {
    if (sub.ws.readyState !== WebSocket.OPEN) return;
    dropped++;
    sub.ws.close(STREAM_CLOSE.SLOW.code, STREAM_CLOSE.SLOW.reason);
  }

  function control(sub: Subscriber, message: Record<string, unknown> & { type: string }): void {
    if (sub.ws.readyState === WebSocket.OPEN) sub.ws.send(JSON.stringify(message));
  }

  function errorMessage(sub: Subscriber, err: unknown): void {
    const e = err as { code?: unknown; message?: unknown };
    control(sub, { type: 'error', error: { code: typeof e.code === 'string' ? e.code : 'TAPWATCH_STREAM_ERROR', message: String(e.message ?? err) } });
  }

  /** Sends one alert if it passes the subscriber's filters; closes a subscriber that cannot keep up. */
  function deliver(sub: Subscriber, alert: Alert, data?: string): void {
    if (sub.ws.readyState !== WebSocket.OPEN || !matchesFilters(sub.filters, alert) || sub.recent.has(alert.id)) return;
    if (sub.ws.bufferedAmount > maxBuffered) {
      log.warn('closing a slow alert-stream subscriber', { buffered: sub.ws.bufferedAmount });
      dropSlow(sub);
      return;
    }
    sub.ws.send(data ?? JSON.stringify(alert));
    sent++;
    sub.recent.add(alert.id);
    if (sub.recent.size > RECENT_IDS) sub.recent.delete(sub.recent.values().next().value as string);
  }

  function onMessage(sub: Subscriber, data: RawData, isBinary: boolean): void {
    let msg: { type?: unknown; filters?: unknown; since?: unknown };
    try {
      if (isBinary) throw new Error('binary');
      msg = JSON.parse(data.toString()) as typeof msg;
      if (typeof msg !== 'object' || msg === null) throw new Error('not an object');
    } catch {
      return errorMessage(
        sub,
        new TapwatchError('TAPWATCH_STREAM_BAD_MESSAGE', 'expected a JSON text message {"type":"subscribe","filters":{…}} or {"type":"ping"}'),
      );
    }
    if (msg.type === 'ping') return control(sub, { type: 'pong' });
    if (msg.type !== 'subscribe') {
      return errorMessage(sub, new TapwatchError('TAPWATCH_STREAM_BAD_MESSAGE', `unknown message type ${JSON.stringify(msg.type)}: use subscribe or ping`));
    }
    try {
      if (msg.filters !== undefined && (typeof msg.filters !== 'object' || msg.filters === null || Array.isArray(msg.filters))) {
        throw new TapwatchError('TAPWATCH_STREAM_BAD_FILTER', '"filters" must be an object');
      }
      if (msg.since !== undefined && typeof msg.since !== 'string')
        throw new TapwatchError('TAPWATCH_STREAM_BAD_MESSAGE', '"since" must be an alert id or ISO time');
      sub.filters = parseFilters((msg.filters as Record<string, unknown> | undefined) ?? {});
    } catch (err) {
      return errorMessage(sub, err);
    }
    control(sub, { type: 'subscribed', filters: sub.filters });
    if (typeof msg.since === 'string') void replay(sub, msg.since);
  }

  /** Replays stored alerts after `since`, then drains what arrived live meanwhile; no gap, no duplicate. */
  async function replay(sub: Subscriber, since: string): Promise<void> {
    if (sub.pending) return errorMessage(sub, new TapwatchError('TAPWATCH_STREAM_BAD_MESSAGE', 'a replay is already running'));
    sub.pending = [];
    sub.replayed = new Set();
    let count = 0;
    try {
      if (!options.history) throw new TapwatchError('TAPWATCH_STREAM_NO_HISTORY', 'this server keeps no alert history: resume (since=) is not available');
      let cursor: ReplayCursor = await options.history.locate(since);
      for (;;) {
        const page = await options.history.after(cursor, REPLAY_PAGE);
        for (const alert of page) {
          if (sub.replayed.has(alert.id)) continue;
          sub.replayed.add(alert.id);
          deliver(sub, alert);
          count++;
        }
        const last = page[page.length - 1];
        if (!last || page.length < REPLAY_PAGE || sub.ws.readyState !== WebSocket.OPEN) break;
        cursor = { time: last.time, id: last.id };
      }
    } catch (err) {
      errorMessage(sub, err);
    }
    const pending = sub.pending;
    const replayed = sub.replayed;
    sub.pending = undefined;
    sub.replayed = undefined;
    for (const alert of pending) if (!replayed.has(alert.id)) deliver(sub, alert);
    control(sub, { type: 'replay_end', replayed: count, since });
  }

  const unsubscribe = feed.subscribe((alert: Alert) => {
    const data = JSON.stringify(alert);
    for (const sub of subscribers.values()) {
      if (sub.pending) {
        if (sub.pending.length >= maxPending) {
          dropSlow(sub);
          continue;
        }
        sub.pending.push(alert);
        continue;
      }
      deliver(sub, alert, data);
    }
  });

  const heartbeat = setInterval(() => {
    for (const sub of subscribers.values()) {
      if (!sub.alive) {
        log.info('dropping an alert-stream subscriber that missed a pong');
        dropped++;
        sub.ws.terminate();
        forget(sub);
        continue;
      }
      sub.alive = false;
      sub.ws.ping();
    }
  }, options.heartbeatMs ?? 30_000);
  heartbeat.unref();

  return {
    get clients() {
      return subscribers.size;
    },
    get sent() {
      return sent;
    },
    get dropped() {
      return dropped;
    },
    async close() {
      clearInterval(heartbeat);
      unsubscribe();
      for (const ws of wss.clients) ws.close(STREAM_CLOSE.SHUTDOWN.code, STREAM_CLOSE.SHUTDOWN.reason);
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

function reject(socket: Duplex, status: number, code: string, message: string): void {
  const text = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found' }[status] ?? 'Error';
  const body = JSON.stringify({ error: { code, message } });
  socket.end(`HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

export interface StreamFollower {
  /** Resolves when the connection ends, with the close code and reason. */
  closed: Promise<{ code: number; reason: string }>;
  close(): void;
}

/** The upgrade was refused: HTTP status and the API's error message. */
export class StreamRefused extends TapwatchError {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super('TAPWATCH_STREAM_REFUSED', message, { httpStatus: status });
    this.name = 'StreamRefused';
  }
}

/**
 * The client side of the stream, for `tapwatch alerts --follow`: opens
 * `wsUrl` and hands over each message parsed. Rejects with StreamRefused
 * when the upgrade is refused, or the connection error.
 */
export function followAlertStream(
  wsUrl: string,
  headers: Record<string, string>,
  onMessage: (message: Record<string, unknown>) => void,
): Promise<StreamFollower> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl, { headers });
    const closed = new Promise<{ code: number; reason: string }>((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
    ws.on('message', (data: RawData) => {
      try {
        onMessage(JSON.parse(data.toString()) as Record<string, unknown>);
      } catch {
        // Not JSON: not from tapwatch; skip it.
      }
    });
    ws.once('open', () => resolve({ closed, close: () => ws.close() }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => {
        let message = body || `HTTP ${res.statusCode}`;
        try {
          const e = (JSON.parse(body) as { error?: { message?: string } }).error;
          if (e?.message) message = e.message;
        } catch {
          // Keep the raw body.
        }
        reject(new StreamRefused(res.statusCode ?? 0, message));
      });
    });
    ws.once('error', reject);
  });
}
