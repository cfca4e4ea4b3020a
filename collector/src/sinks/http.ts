/**
 * Sends events to the ingest endpoint of a running tapwatch (`up`, `api` or
 * `ingest`): `POST {base}/v1/ingest` with a JSON array, bearer token when set.
 */
import type { TapEvent } from '@tapwatch/schema';
import { DeliveryError, QueueingSink, type QueueingSinkOptions } from './sink.js';

export interface HttpSinkOptions extends QueueingSinkOptions {
  token?: string | undefined;
  /** Per-request timeout. */
  timeoutMs?: number;
}

export class HttpSink extends QueueingSink {
  private readonly endpoint: string;
  private readonly token: string | undefined;
  private readonly timeoutMs: number;

  constructor(baseUrl: string, options: HttpSinkOptions = {}) {
    const url = new URL(baseUrl);
    // The label is logged: never include credentials a user put in the URL.
    super(`${url.protocol}//${url.host}`, options);
    url.pathname = url.pathname.replace(/\/+$/, '') + '/v1/ingest';
    this.endpoint = url.toString();
    this.token = options.token;
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  protected async deliver(batch: TapEvent[]): Promise<void> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let res: Response;
    try {
      res = await fetch(this.endpoint, {
        method: 'POST',
        headers,
        body: JSON.stringify(batch),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new DeliveryError(`cannot reach ${this.label}: ${(err as Error).message}`, true, { cause: err });
    }
    if (res.ok) {
      await res.arrayBuffer().catch(() => undefined);
      return;
    }
    const text = (await res.text().catch(() => '')).slice(0, 300);
    // 401/403: a wrong token will not fix itself, but the operator may fix it; keep retrying
    // so nothing is lost meanwhile. Other 4xx mean the batch itself is bad.
    const retriable = res.status >= 500 || res.status === 429 || res.status === 401 || res.status === 403 || res.status === 408;
    throw new DeliveryError(`${this.label} answered ${res.status}: ${text}`, retriable);
  }
}
