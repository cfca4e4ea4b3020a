/**
 * The alert stream: WebSocket `/v1/alerts/stream`. Each new alert is pushed
 * as one JSON text message. The only file that imports ws.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket } from 'ws';
import { log, type Alert } from '@tapwatch/schema';
import type { AlertFeed } from '@tapwatch/analyzer';
import { isAuthorized } from './auth.js';

export const ALERT_STREAM_PATH = '/v1/alerts/stream';

export interface AlertStreamOptions {
  token?: string | undefined;
  /** A subscriber whose unsent data passes this is too slow and is closed, so it cannot hold memory or slow others. */
  maxBufferedBytes?: number;
  /** Ping interval; a client that misses a pong by the next ping is dropped. */
  heartbeatMs?: number;
}

export interface AlertStream {
  readonly clients: number;
  readonly sent: number;
  close(): Promise<void>;
}

export function attachAlertStream(server: Server, feed: AlertFeed, options: AlertStreamOptions = {}): AlertStream {
  const maxBuffered = options.maxBufferedBytes ?? 8 * 1024 * 1024;
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  const alive = new WeakMap<WebSocket, boolean>();
  let sent = 0;

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path !== ALERT_STREAM_PATH) return reject(socket, 404, 'Not Found');
    if (!isAuthorized(options.token, req, true)) return reject(socket, 401, 'Unauthorized');
    wss.handleUpgrade(req, socket, head, (ws) => {
      alive.set(ws, true);
      ws.on('pong', () => alive.set(ws, true));
      ws.on('error', () => ws.terminate());
      wss.emit('connection', ws, req);
    });
  });

  const unsubscribe = feed.subscribe((alert: Alert) => {
    const data = JSON.stringify(alert);
    for (const ws of wss.clients) {
      if (ws.readyState !== WebSocket.OPEN) continue;
      if (ws.bufferedAmount > maxBuffered) {
        log.warn('closing a slow alert-stream subscriber', { buffered: ws.bufferedAmount });
        ws.close(1013, 'subscriber too slow: reconnect to resume');
        continue;
      }
      ws.send(data);
      sent++;
    }
  });

  const heartbeat = setInterval(() => {
    for (const ws of wss.clients) {
      if (alive.get(ws) === false) {
        ws.terminate();
        continue;
      }
      alive.set(ws, false);
      ws.ping();
    }
  }, options.heartbeatMs ?? 30_000);
  heartbeat.unref();

  return {
    get clients() {
      return wss.clients.size;
    },
    get sent() {
      return sent;
    },
    async close() {
      clearInterval(heartbeat);
      unsubscribe();
      for (const ws of wss.clients) ws.close(1001, 'tapwatch is shutting down');
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

function reject(socket: Duplex, status: number, text: string): void {
  const body = JSON.stringify({ error: { code: status === 401 ? 'TAPWATCH_UNAUTHORIZED' : 'TAPWATCH_NOT_FOUND', message: text } });
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
