/**
 * The legacy HTTP+SSE transport (2024-11-05): a `GET` opens an event stream
 * whose first event, `endpoint`, names where the client posts its messages.
 * When it is an absolute URL on the upstream's origin it is rewritten to the
 * proxy's origin, so the client posts through the proxy; relative endpoints
 * (what the SDK sends) pass unchanged.
 */
import { log } from '@tapwatch/schema';
import type { SseEvent, SseParser } from './sse.js';

/** How much of a legacy SSE stream is held back while looking for its `endpoint` event. */
const ENDPOINT_HOLD_BYTES = 64 * 1024;

/**
 * The data the client should see in an `endpoint` event that resolves to
 * `endpoint`: the same path on the proxy's origin (`proxyOrigin()`) when the event names an
 * absolute URL on the upstream's origin, else undefined (keep it).
 */
export function rewriteEndpoint(data: string, endpoint: URL, upstream: URL, proxyOrigin: () => string): string | undefined {
  if (!isAbsoluteUrl(data)) return undefined;
  if (endpoint.origin !== upstream.origin) {
    log.warn('legacy SSE endpoint on another origin: its messages bypass the proxy', { origin: endpoint.origin });
    return undefined;
  }
  return `${proxyOrigin()}${endpoint.pathname}${endpoint.search}${endpoint.hash}`;
}

function isAbsoluteUrl(s: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(s.trim());
}

/**
 * Holds back the head of a legacy SSE stream until its `endpoint` event has
 * been seen (or a message, or 64 KB: then there is nothing to rewrite), then
 * lets everything through unchanged. Complete blocks are released as soon as
 * they end, so nothing waits for more than one event.
 */
export class EndpointHold {
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
