/**
 * An incremental parser for `text/event-stream` bodies, as the HTML
 * Standard's "event stream interpretation" describes it.
 *
 * Pure and byte-based: chunks may split anywhere — inside a multi-byte UTF-8
 * character, between the CR and LF of a CRLF — and the events come out the
 * same. Lines end with CRLF, LF or CR; `data:` lines of one event are joined
 * with LF; comments (`:` lines) are counted, never events; an event whose
 * block has no `data:` line is not dispatched (its `id`/`retry` still apply).
 * A priming event (`id: …` with an empty `data:`) is dispatched with data "".
 *
 * Every event carries the byte offsets of its block in the stream, so a
 * caller that forwards the raw bytes can still rewrite one event in place.
 * The parser only ever sees a copy of the stream; it never re-serializes.
 */

const LF = 0x0a;
const CR = 0x0d;
const COLON = 0x3a;
const SPACE = 0x20;

export interface SseEvent {
  /** The event type; `message` when the block had no `event:` line. */
  type: string;
  /** The `data:` lines joined with LF (no trailing LF). */
  data: string;
  /** The `id:` of this block, when it had one. */
  id?: string;
  /** The last event id after this block (ids persist across events). */
  lastEventId: string;
  /** The `retry:` of this block, when it had a valid one. */
  retry?: number;
  /** Byte offset in the stream where this event's block starts. */
  start: number;
  /**
   * Byte offset just after the blank line that ended the block (when that
   * line ended with a CRLF split between chunks, just after its CR).
   */
  end: number;
}

export interface SseParserOptions {
  /**
   * Largest event (bytes of its block) kept. A larger one is not dispatched:
   * it is counted in `oversized` and skipped up to its blank line, so a
   * runaway stream cannot grow the observer's memory.
   */
  maxEventBytes?: number;
}

export class SseParser {
  /** Events skipped because their block exceeded `maxEventBytes`. */
  oversized = 0;
  /** Comment lines seen (heartbeats such as `: keep-alive`). */
  comments = 0;
  /** Byte offset just after the last blank line (block boundary) seen. */
  boundary = 0;

  private readonly maxEventBytes: number;
  /** Bytes of the current, unterminated line. */
  private lineParts: Buffer[] = [];
  private lineLength = 0;
  /** The previous chunk ended with CR: a LF at the start of the next one belongs to it. */
  private pendingCr = false;
  /** Stream offset of the next byte pushed. */
  private offset = 0;
  private bomChecked = false;
  private bomBytes: number[] = [];

  // The block being read.
  private blockStart = 0;
  private blockBytes = 0;
  private skipping = false;
  private data: string[] = [];
  private hasData = false;
  private eventType = '';
  private blockId: string | undefined;
  private blockRetry: number | undefined;
  private lastEventId = '';

  constructor(options: SseParserOptions = {}) {
    this.maxEventBytes = options.maxEventBytes ?? 32 * 1024 * 1024;
  }

  /** Feeds a chunk; returns the events it completed, in order. */
  push(chunk: Uint8Array): SseEvent[] {
    const events: SseEvent[] = [];
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const base = this.offset;
    this.offset += buf.length;
    let i = 0;
    if (!this.bomChecked) i = this.skipBom(buf);
    if (this.pendingCr && i < buf.length) {
      this.pendingCr = false;
      if (buf[i] === LF) {
        i++;
        // The CR ended a block in the previous chunk: its LF is not the start of the next block.
        // (That block's `end` stayed at the CR: an event is never held back for one byte.)
        if (this.blockStart === base && this.blockBytes === 0) {
          this.blockStart = base + 1;
          this.boundary = base + 1;
        }
      }
    }
    while (i < buf.length) {
      const lf = buf.indexOf(LF, i);
      const cr = buf.indexOf(CR, i);
      let eol: number;
      if (lf === -1 && cr === -1) {
        this.appendLine(buf.subarray(i));
        break;
      }
      if (cr === -1 || (lf !== -1 && lf < cr)) eol = lf;
      else eol = cr;
      this.appendLine(buf.subarray(i, eol));
      let next = eol + 1;
      if (buf[eol] === CR) {
        if (next < buf.length) {
          if (buf[next] === LF) next++;
        } else {
          this.pendingCr = true;
        }
      }
      this.endLine(base + next, events);
      i = next;
    }
    return events;
  }

  /**
   * Ends the stream. A last block without its blank line is discarded, as the
   * standard says; returns nothing, and exists so callers can say so.
   */
  end(): SseEvent[] {
    this.lineParts = [];
    this.lineLength = 0;
    this.resetBlock(this.offset);
    return [];
  }

  private skipBom(buf: Buffer): number {
    // A UTF-8 BOM (EF BB BF) at the very start of the stream is not part of the first line.
    const bom = [0xef, 0xbb, 0xbf];
    let i = 0;
    while (this.bomBytes.length < 3 && i < buf.length) {
      if (buf[i] !== bom[this.bomBytes.length]) {
        // Not a BOM: what we held back is ordinary line content.
        this.bomChecked = true;
        if (this.bomBytes.length > 0) this.appendLine(Buffer.from(this.bomBytes));
        this.bomBytes = [];
        return i;
      }
      this.bomBytes.push(buf[i]!);
      i++;
    }
    if (this.bomBytes.length === 3) {
      this.bomChecked = true;
      this.bomBytes = [];
      this.blockStart = this.offset - buf.length + i;
      this.boundary = this.blockStart;
    }
    return i;
  }

  private appendLine(piece: Buffer): void {
    if (piece.length === 0) return;
    this.lineLength += piece.length;
    this.blockBytes += piece.length;
    if (this.skipping) return;
    if (this.blockBytes > this.maxEventBytes) {
      this.skipping = true;
      this.oversized++;
      this.lineParts = [];
      this.data = [];
      return;
    }
    // Copy: the caller may reuse the chunk's memory after push returns.
    this.lineParts.push(Buffer.from(piece));
  }

  private endLine(nextOffset: number, events: SseEvent[]): void {
    const length = this.lineLength;
    this.lineLength = 0;
    if (length === 0) {
      // A blank line ends the block: dispatch it, unless it was too large to keep.
      if (this.skipping) this.resetBlock(nextOffset);
      else this.dispatch(nextOffset, events);
      return;
    }
    if (this.skipping) return;
    const line = this.lineParts.length === 1 ? this.lineParts[0]! : Buffer.concat(this.lineParts, length);
    this.lineParts = [];
    this.field(line);
  }

  private field(line: Buffer): void {
    if (line[0] === COLON) {
      this.comments++;
      return;
    }
    const colon = line.indexOf(COLON);
    let name: string;
    let value: Buffer;
    if (colon === -1) {
      name = line.toString('utf8');
      value = Buffer.alloc(0);
    } else {
      name = line.subarray(0, colon).toString('utf8');
      value = line.subarray(line[colon + 1] === SPACE ? colon + 2 : colon + 1);
    }
    switch (name) {
      case 'event':
        this.eventType = value.toString('utf8');
        return;
      case 'data':
        this.data.push(value.toString('utf8'));
        this.hasData = true;
        return;
      case 'id': {
        const id = value.toString('utf8');
        if (!id.includes('\0')) {
          this.blockId = id;
          this.lastEventId = id;
        }
        return;
      }
      case 'retry': {
        const text = value.toString('latin1');
        if (/^\d+$/.test(text)) this.blockRetry = Number(text);
        return;
      }
      default:
        return;
    }
  }

  private dispatch(end: number, events: SseEvent[]): void {
    if (this.hasData) {
      const event: SseEvent = {
        type: this.eventType === '' ? 'message' : this.eventType,
        data: this.data.join('\n'),
        lastEventId: this.lastEventId,
        start: this.blockStart,
        end,
      };
      if (this.blockId !== undefined) event.id = this.blockId;
      if (this.blockRetry !== undefined) event.retry = this.blockRetry;
      events.push(event);
    }
    this.resetBlock(end);
  }

  private resetBlock(next: number): void {
    this.blockStart = next;
    this.boundary = next;
    this.blockBytes = 0;
    this.skipping = false;
    this.data = [];
    this.hasData = false;
    this.eventType = '';
    this.blockId = undefined;
    this.blockRetry = undefined;
  }
}
