/**
 * Frames the observed copy of a stdio stream into messages.
 *
 * MCP's stdio transport delimits messages with a newline. We split on byte
 * 0x0A only — never with a text line reader, which would also split on
 * U+2028/U+2029, legal inside JSON strings — and strip one trailing `\r` so
 * CRLF peers work. This only ever sees a copy: the relayed bytes are forwarded
 * before framing and are never re-serialized.
 */

const NEWLINE = 0x0a;
const CR = 0x0d;

export interface LineSplitterOptions {
  /**
   * Longest message kept for observation. A longer one is skipped (counted in
   * `oversized`) so a runaway server cannot grow the tap's memory; the relay
   * is unaffected.
   */
  maxLineBytes?: number;
}

export class LineSplitter {
  private parts: Buffer[] = [];
  private pendingBytes = 0;
  private skipping = false;
  private readonly maxLineBytes: number;
  /** Messages dropped from observation because they exceeded `maxLineBytes`. */
  oversized = 0;

  constructor(options: LineSplitterOptions = {}) {
    this.maxLineBytes = options.maxLineBytes ?? 256 * 1024 * 1024;
  }

  /** Feeds a chunk; returns the complete lines it closed, without their terminator. */
  push(chunk: Buffer): Buffer[] {
    const lines: Buffer[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(NEWLINE, start);
      if (nl === -1) break;
      const piece = chunk.subarray(start, nl);
      if (this.skipping) {
        this.skipping = false;
      } else if (this.pendingBytes + piece.length > this.maxLineBytes) {
        this.oversized++;
      } else {
        lines.push(stripCr(this.take(piece)));
      }
      this.parts = [];
      this.pendingBytes = 0;
      start = nl + 1;
    }
    if (start < chunk.length && !this.skipping) {
      const rest = chunk.subarray(start);
      if (this.pendingBytes + rest.length > this.maxLineBytes) {
        this.oversized++;
        this.skipping = true;
        this.parts = [];
        this.pendingBytes = 0;
      } else {
        // Copy: the caller may reuse the chunk's memory after we return.
        this.parts.push(Buffer.from(rest));
        this.pendingBytes += rest.length;
      }
    }
    return lines;
  }

  /**
   * Forgets a partial message after bytes were left out of observation (the
   * relay still carried them): observation picks up at the next newline.
   */
  resync(): void {
    this.skipping = true;
    this.parts = [];
    this.pendingBytes = 0;
  }

  /** Returns what is left without a terminator at end of stream (a last unterminated message). */
  end(): Buffer | undefined {
    if (this.skipping || this.pendingBytes === 0) return undefined;
    const last = stripCr(Buffer.concat(this.parts));
    this.parts = [];
    this.pendingBytes = 0;
    return last;
  }

  private take(piece: Buffer): Buffer {
    if (this.parts.length === 0) return piece;
    this.parts.push(piece);
    return Buffer.concat(this.parts);
  }
}

function stripCr(line: Buffer): Buffer {
  return line.length > 0 && line[line.length - 1] === CR ? line.subarray(0, line.length - 1) : line;
}
