/**
 * The write-ahead log of the in-process bus: what makes ingest's 202 mean
 * "on disk". Ingest appends each accepted batch here and answers only after
 * `fdatasync`; the analyzer's stored batches move a commit mark forward;
 * after a crash (`kill -9`, power loss) `open` hands back everything past the
 * mark, which the analyzer stores again (storage deduplicates on the event
 * id, so what was stored just before the crash is not doubled).
 *
 * Layout, in one directory: segments `<n>.wal` (one record value a line, as
 * JSON text never holds a raw newline), a new one per start and past
 * `maxSegmentBytes`; and `committed` (`<segment> <offset>`), replaced by
 * rename. Concurrent appends share one write and one sync (group commit). A
 * failed write (a full disk) is cut off again, so the log never holds half a
 * record before a whole one; a torn last line after a crash was never
 * acknowledged and is skipped.
 */
import { mkdir, open, readdir, readFile, rename, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { TapwatchError } from '@tapwatch/schema';

/** Where a record ends in the log: records up to here are covered by a commit of it. */
export interface WalPosition {
  segment: number;
  offset: number;
}

/** A record found past the commit mark at open, with where it ends. */
export interface RecoveredRecord {
  value: string;
  end: WalPosition;
}

export interface WalOptions {
  /** A segment is closed and a new one started past this size (default 64 MiB). */
  maxSegmentBytes?: number;
  /** `fdatasync` before an append resolves (default true; off only in benchmarks of the bus itself). */
  sync?: boolean;
}

interface PendingAppend {
  data: string;
  resolve: (end: WalPosition) => void;
  reject: (err: unknown) => void;
}

const SEGMENT = /^(\d{12})\.wal$/;
const NEWLINE = 0x0a;

function segmentName(n: number): string {
  return `${String(n).padStart(12, '0')}.wal`;
}

/** fsync of a directory, so the names created in it persist (Linux; a no-op where directories cannot be opened). */
async function syncDirectory(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch {
    // Not supported here (e.g. Windows): the file's own sync is all there is.
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

/** ENOSPC and EDQUOT: the disk (or the user's quota) is full. */
export function isDiskFull(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

export class WriteAheadLog {
  private fh: FileHandle | undefined;
  private segment = 0;
  private size = 0;
  private queue: PendingAppend[] = [];
  private writing: Promise<void> | undefined;
  private committed: WalPosition = { segment: 0, offset: 0 };
  private committing: Promise<void> = Promise.resolve();
  private readonly maxSegmentBytes: number;
  private readonly sync: boolean;

  constructor(
    readonly dir: string,
    options: WalOptions = {},
  ) {
    this.maxSegmentBytes = options.maxSegmentBytes ?? 64 * 1024 * 1024;
    this.sync = options.sync ?? true;
  }

  /** Opens the log: returns the records past the commit mark, in order, and starts a new segment for appends. */
  async open(): Promise<RecoveredRecord[]> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    this.committed = await this.readMark();
    const segments = await this.segments();
    const recovered: RecoveredRecord[] = [];
    for (const n of segments) {
      if (n < this.committed.segment) continue;
      const bytes = await readFile(join(this.dir, segmentName(n)));
      let start = n === this.committed.segment ? Math.min(this.committed.offset, bytes.length) : 0;
      for (;;) {
        const nl = bytes.indexOf(NEWLINE, start);
        if (nl < 0) break; // a torn last line: never acknowledged
        if (nl > start) recovered.push({ value: bytes.toString('utf8', start, nl), end: { segment: n, offset: nl + 1 } });
        start = nl + 1;
      }
    }
    // Leftovers of a crash between a mark and its clean-up.
    for (const n of segments) if (n < this.committed.segment) await rm(join(this.dir, segmentName(n)), { force: true });
    this.segment = (segments.at(-1) ?? 0) + 1;
    await this.startSegment();
    return recovered;
  }

  /** Appends record values (no newlines in them); resolves once they are on disk, with where the last one ends. */
  append(values: readonly string[]): Promise<WalPosition> {
    return new Promise<WalPosition>((resolve, reject) => {
      this.queue.push({ data: values.map((v) => v + '\n').join(''), resolve, reject });
      this.writing ??= this.drain();
    });
  }

  /** Everything up to `end` is stored: moves the mark, and removes segments wholly before it. */
  commit(end: WalPosition): Promise<void> {
    if (end.segment < this.committed.segment || (end.segment === this.committed.segment && end.offset <= this.committed.offset)) return this.committing;
    this.committed = end;
    // One mark write at a time, the latest winning: a lost mark only means more to replay.
    this.committing = this.committing.then(() => this.writeMark(this.committed)).catch(() => undefined);
    return this.committing;
  }

  async close(): Promise<void> {
    await this.writing;
    await this.committing;
    await this.fh?.close();
    this.fh = undefined;
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0);
      const data = Buffer.from(batch.map((p) => p.data).join(''), 'utf8');
      try {
        if (!this.fh) await this.startSegment();
        const fh = this.fh!;
        const at = this.size;
        try {
          let written = 0;
          while (written < data.length) {
            const { bytesWritten } = await fh.write(data, written, data.length - written, at + written);
            written += bytesWritten;
          }
          if (this.sync) await fh.datasync();
        } catch (err) {
          // Cut the half-written batch off, so the next record does not follow garbage.
          await fh.truncate(at).catch(() => undefined);
          throw err;
        }
        this.size = at + data.length;
        let end = at;
        for (const p of batch) {
          end += Buffer.byteLength(p.data);
          p.resolve({ segment: this.segment, offset: end });
        }
        if (this.size >= this.maxSegmentBytes) {
          await this.fh?.close();
          this.fh = undefined;
          this.segment++;
        }
      } catch (err) {
        const failure = isDiskFull(err)
          ? new TapwatchError('TAPWATCH_DISK_FULL', `the data directory is full (${this.dir}): free space; taps keep events in their spools meanwhile`, {
              httpStatus: 503,
              retriable: true,
              cause: err,
            })
          : err;
        for (const p of batch) p.reject(failure);
      }
    }
    this.writing = undefined;
  }

  private async startSegment(): Promise<void> {
    this.fh = await open(join(this.dir, segmentName(this.segment)), 'a+', 0o600);
    this.size = (await this.fh.stat()).size;
    // The new segment's name must survive a power loss too, or its synced records would.
    await syncDirectory(this.dir);
  }

  private async segments(): Promise<number[]> {
    const names = await readdir(this.dir);
    return names
      .map((n) => SEGMENT.exec(n)?.[1])
      .filter((n): n is string => n !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
  }

  private async readMark(): Promise<WalPosition> {
    try {
      const [segment, offset] = (await readFile(join(this.dir, 'committed'), 'utf8')).trim().split(' ').map(Number);
      if (Number.isInteger(segment) && Number.isInteger(offset)) return { segment: segment!, offset: offset! };
    } catch {
      // No mark yet: everything in the log is to be stored.
    }
    return { segment: 0, offset: 0 };
  }

  private async writeMark(mark: WalPosition): Promise<void> {
    // Segments wholly before the mark are stored: removing them first is safe (a crash before the
    // mark is written replays from an older mark over segments that are no longer there, which were
    // stored), and on a full disk it frees the space the mark itself needs.
    for (const n of await this.segments()) {
      if (n < mark.segment) await rm(join(this.dir, segmentName(n)), { force: true });
    }
    const tmp = join(this.dir, 'committed.tmp');
    await writeFile(tmp, `${mark.segment} ${mark.offset}\n`, { mode: 0o600 });
    await rename(tmp, join(this.dir, 'committed'));
  }
}
