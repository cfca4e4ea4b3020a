/**
 * Sends events to the ingest endpoint of a running tapwatch (`up`, `api` or
 * `ingest`): `POST {base}/v1/ingest` with a JSON array, bearer token when set.
 *
 * Uses node:http(s) with one kept-alive connection rather than `fetch`: a tap
 * posts a batch every few milliseconds under load, and undici's per-request
 * machinery grew a tap's resident memory by ~40 MB at 1,000 events/s
 * (benchmarks/README.md, "Stdio tap overhead").
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { TapEvent } from '@tapwatch/schema';
import { DeliveryError, QueueingSink, type QueueingSinkOptions } from './sink.js';

export interface HttpSinkOptions extends QueueingSinkOptions {
  /** The bearer token, or where to get it for each attempt (the local ingest token may appear later). */
  token?: string | (() => string | undefined) | undefined;
  /** Per-request timeout. */
  timeoutMs?: number;
}

/** Bytes of an error response kept for the message. */
const ERROR_TEXT_BYTES = 300;

export class HttpSink extends QueueingSink {
  private readonly endpoint: URL;
  private readonly token: string | (() => string | undefined) | undefined;
  private readonly timeoutMs: number;
  private readonly agent: HttpAgent;
  private readonly request: typeof httpRequest;

  constructor(baseUrl: string, options: HttpSinkOptions = {}) {
    const url = new URL(baseUrl);
    // The label is logged: never include credentials a user put in the URL.
    super(`${url.protocol}//${url.host}`, options);
    url.pathname = url.pathname.replace(/\/+$/, '') + '/v1/ingest';
    this.endpoint = url;
    this.token = options.token;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    const https = url.protocol === 'https:';
    // One connection: batches go one at a time anyway, in order.
    this.agent = https ? new HttpsAgent({ keepAlive: true, maxSockets: 1 }) : new HttpAgent({ keepAlive: true, maxSockets: 1 });
    this.request = https ? (httpsRequest as unknown as typeof httpRequest) : httpRequest;
  }

  protected deliver(batch: TapEvent[]): Promise<void> {
    const body = Buffer.from(JSON.stringify(batch));
    const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': body.length };
    const token = typeof this.token === 'function' ? this.token() : this.token;
    if (token) headers.authorization = `Bearer ${token}`;
    return new Promise<void>((resolve, reject) => {
      const req = this.request(this.endpoint, { method: 'POST', headers, agent: this.agent, timeout: this.timeoutMs }, (res: IncomingMessage) => {
        const status = res.statusCode ?? 0;
        const parts: Buffer[] = [];
        let kept = 0;
        res.on('data', (d: Buffer) => {
          if (kept < ERROR_TEXT_BYTES) {
            parts.push(d);
            kept += d.length;
          }
        });
        res.on('error', (err) => reject(new DeliveryError(`${this.label} broke off its answer: ${err.message}`, true, { cause: err })));
        res.on('end', () => {
          if (status >= 200 && status < 300) return resolve();
          const text = Buffer.concat(parts).toString('utf8').slice(0, ERROR_TEXT_BYTES);
          // 401/403: a wrong token will not fix itself, but the operator may fix it; keep retrying
          // so nothing is lost meanwhile. Other 4xx mean the batch itself is bad.
          const retriable = status >= 500 || status === 429 || status === 401 || status === 403 || status === 408;
          reject(new DeliveryError(`${this.label} answered ${status}: ${text}`, retriable));
        });
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on('error', (err) => reject(new DeliveryError(`cannot reach ${this.label}: ${err.message}`, true, { cause: err })));
      req.end(body);
    });
  }

  protected override async disconnect(): Promise<void> {
    this.agent.destroy();
  }
}
