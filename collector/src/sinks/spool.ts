/**
 * The tap's disk spool: where events wait while the sink cannot take them, so a
 * sink outage loses nothing and a tap's memory stays bounded.
 *
 * Layout: `<root>/<sink key>/<pid>.<nonce>/<seq>.ndjson` — one directory per
 * tap process (per sink instance) named by its pid, holding append-only
 * segments of newline-delimited JSON events and a `lock` file with the pid.
 * Segments are sealed before they are read, so a read never races an append.
 * Past `maxBytes` the oldest segments are deleted and their events counted as
 * dropped (reported later as one `delivery_gap` event).
 *
 * A directory whose pid is no longer alive is an orphan: a later tap of the
 * same sink claims it by renaming it to its own pid (rename is atomic, so two
 * claimers cannot both win) and delivers it before its own spool. Only spools of
 * the same sink key are claimed: events never go to a sink they were not meant for.
 *
 * Every method is async and serialized on one chain; nothing here runs on the
 * relay path.
 */
import { createHash, randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { log, type TapEvent } from '@tapwatch/schema';

/** Who and when of a dropped event: enough to write a `delivery_gap` event. */
export interface DropInfo {
  identity?: Pick<TapEvent, 'session' | 'agent' | 'server' | 'transport'> | undefined;
  from?: string | undefined;
  to?: string | undefined;
}

export interface SpoolOptions {
  /** Root directory (TAPWATCH_SPOOL_DIR). */
  dir: string;
  /** Identity of the sink (see `spoolKey`); only spools with the same key are recovered. */
  key: string;
  /** Most bytes kept on disk by this instance (own and claimed segments). */
  maxBytes: number;
  /** Size at which a segment is sealed and a new one started (default: maxBytes/8, 256 KB…4 MB). */
  segmentBytes?: number;
  /** Name of this instance's directory; default `<pid>.<random>` (the pid before the dot is what liveness is checked on). */
  instance?: string;
  /** Called for events the spool had to drop (bound reached, disk trouble, unreadable line). */
  onDrop: (count: number, info: DropInfo, reason: string) => void;
}

interface Segment {
  path: string;
  /** The instance directory holding it (own, or a claimed orphan's). */
  dir: string;
  bytes: number;
  events: number;
  first: DropInfo['identity'];
  from: string | undefined;
  to: string | undefined;
}

/** `$XDG_STATE_HOME/tapwatch/spool`, else `~/.local/state/tapwatch/spool`. */
export function defaultSpoolDir(env: Record<string, string | undefined> = process.env): string {
  const state = env.XDG_STATE_HOME && env.XDG_STATE_HOME.trim() !== '' ? env.XDG_STATE_HOME : join(homedir(), '.local', 'state');
  return join(state, 'tapwatch', 'spool');
}

/** A short, file-name-safe key naming a sink destination (e.g. its endpoint or brokers + topic). */
export function spoolKey(destination: string): string {
  return createHash('sha256').update(destination).digest('hex').slice(0, 16);
}

export class Spool {
  private readonly keyDir: string;
  private readonly ownDir: string;
  private readonly segmentBytes: number;
  private segments: Segment[] = [];
  /** The open (unsealed) segment appends go to; undefined until the next append. */
  private tail: Segment | undefined;
  private head: { segment: Segment; events: TapEvent[]; cursor: number } | undefined;
  private nextSeq = 1;
  private ownDirReady = false;
  private broken = false;
  private chain: Promise<unknown> = Promise.resolve();
  private bytes = 0;

  constructor(private readonly options: SpoolOptions) {
    this.keyDir = join(options.dir, options.key);
    this.ownDir = join(this.keyDir, options.instance ?? `${process.pid}.${randomUUID().slice(0, 8)}`);
    this.segmentBytes = options.segmentBytes ?? Math.min(4 * 1024 * 1024, Math.max(256 * 1024, Math.floor(options.maxBytes / 8)));
  }

  /** Events waiting on disk (own and claimed). */
  get pending(): number {
    let n = 0;
    for (const s of this.segments) n += s.events;
    return n - (this.head?.cursor ?? 0);
  }

  /** Bytes on disk. */
  get size(): number {
    return this.bytes;
  }

  /** False after a disk error: callers keep events in memory instead. */
  get writable(): boolean {
    return !this.broken;
  }

  /** Appends events after everything spooled; drops the oldest segments past the bound. */
  append(events: TapEvent[]): Promise<void> {
    return this.serial(() => this.doAppend(events));
  }

  /** Up to `max` of the oldest spooled events (not removed until `ack`). */
  peek(max: number): Promise<TapEvent[]> {
    return this.serial(() => this.doPeek(max));
  }

  /** Removes the first `n` events returned by `peek`. */
  ack(n: number): Promise<void> {
    return this.serial(() => this.doAck(n));
  }

  /** Claims the spools of dead processes of the same sink; resolves with the events claimed. */
  recover(): Promise<number> {
    return this.serial(() => this.doRecover());
  }

  /**
   * Leaves what is undelivered for the next process: a partly delivered head
   * segment is rewritten to its remainder; empty directories are removed.
   */
  close(): Promise<void> {
    return this.serial(() => this.doClose());
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async doAppend(events: TapEvent[]): Promise<void> {
    if (events.length === 0) return;
    if (this.broken) {
      this.options.onDrop(events.length, infoOf(events), 'spool unavailable');
      return;
    }
    let lines = events.map((e) => JSON.stringify(e) + '\n');
    let data = lines.join('');
    let bytes = Buffer.byteLength(data);
    if (bytes > this.options.maxBytes) {
      // One hand-off larger than the whole bound: keep its newest events only.
      let keep = lines.length;
      let kept = 0;
      while (keep > 0 && kept + Buffer.byteLength(lines[keep - 1]!) <= this.options.maxBytes) kept += Buffer.byteLength(lines[--keep]!);
      this.options.onDrop(keep, infoOf(events.slice(0, keep)), 'spool full (TAPWATCH_SPOOL_MAX_BYTES)');
      events = events.slice(keep);
      lines = lines.slice(keep);
      data = lines.join('');
      bytes = kept;
      if (events.length === 0) return;
    }
    while (this.bytes + bytes > this.options.maxBytes && this.segments.length > 0) await this.dropOldest();
    try {
      if (!this.ownDirReady) {
        // Events may carry arguments and result previews: owner-only, like the tap's own memory.
        await fs.mkdir(this.ownDir, { recursive: true, mode: 0o700 });
        await fs.writeFile(join(this.ownDir, 'lock'), `${process.pid}\n`, { mode: 0o600 });
        this.ownDirReady = true;
      }
      if (!this.tail || this.tail.bytes + bytes > this.segmentBytes) {
        this.tail = {
          path: join(this.ownDir, `${String(this.nextSeq++).padStart(10, '0')}.ndjson`),
          dir: this.ownDir,
          bytes: 0,
          events: 0,
          first: identityOf(events[0]),
          from: undefined,
          to: undefined,
        };
        this.segments.push(this.tail);
      }
      await fs.appendFile(this.tail.path, data, { mode: 0o600 });
    } catch (err) {
      this.markBroken(err);
      this.options.onDrop(events.length, infoOf(events), `spool unavailable (${codeOf(err)})`);
      // Forget an empty segment that never made it to disk.
      const t = this.tail;
      if (t && t.events === 0) {
        this.segments = this.segments.filter((s) => s !== t);
        this.tail = undefined;
      }
      return;
    }
    const info = infoOf(events);
    const t = this.tail;
    t.bytes += bytes;
    t.events += events.length;
    t.from = earliest(t.from, info.from);
    t.to = latest(t.to, info.to);
    this.bytes += bytes;
  }

  private async doPeek(max: number): Promise<TapEvent[]> {
    for (;;) {
      if (this.head && this.head.cursor < this.head.events.length) return this.head.events.slice(this.head.cursor, this.head.cursor + max);
      if (this.head) await this.finishHead();
      const segment = this.segments[0];
      if (!segment) return [];
      // Seal it: later appends go to a new segment, so this one no longer changes.
      if (segment === this.tail) this.tail = undefined;
      let text: string;
      try {
        text = await fs.readFile(segment.path, 'utf8');
      } catch (err) {
        log.warn('tap spool segment unreadable; its events are lost', { path: segment.path, error: codeOf(err) });
        await this.removeSegment(segment);
        this.options.onDrop(segment.events, segment, `spool unreadable (${codeOf(err)})`);
        continue;
      }
      const events: TapEvent[] = [];
      let bad = 0;
      for (const line of text.split('\n')) {
        if (line === '') continue;
        try {
          events.push(JSON.parse(line) as TapEvent);
        } catch {
          // A torn last line of a process that died mid-write.
          bad++;
        }
      }
      if (bad > 0) this.options.onDrop(bad, segment, 'spool line unreadable');
      segment.events = events.length;
      this.head = { segment, events, cursor: 0 };
    }
  }

  private async doAck(n: number): Promise<void> {
    if (!this.head) return;
    this.head.cursor += n;
    if (this.head.cursor >= this.head.events.length) await this.finishHead();
  }

  private async finishHead(): Promise<void> {
    const head = this.head;
    if (!head) return;
    this.head = undefined;
    await this.removeSegment(head.segment);
  }

  private async dropOldest(): Promise<void> {
    const oldest = this.segments[0];
    if (!oldest) return;
    const alreadyGone = this.head?.segment === oldest ? this.head.cursor : 0;
    if (this.head?.segment === oldest) this.head = undefined;
    if (oldest === this.tail) this.tail = undefined;
    await this.removeSegment(oldest);
    const dropped = oldest.events - alreadyGone;
    if (dropped > 0) this.options.onDrop(dropped, oldest, 'spool full (TAPWATCH_SPOOL_MAX_BYTES)');
  }

  private async removeSegment(segment: Segment): Promise<void> {
    this.segments = this.segments.filter((s) => s !== segment);
    this.bytes -= segment.bytes;
    await fs.rm(segment.path, { force: true }).catch(() => undefined);
    if (segment.dir !== this.ownDir && !this.segments.some((s) => s.dir === segment.dir)) {
      await fs.rm(segment.dir, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  private async doRecover(): Promise<number> {
    let names: string[];
    try {
      names = await fs.readdir(this.keyDir);
    } catch {
      return 0;
    }
    let claimed = 0;
    const ownName = this.ownDir.slice(this.keyDir.length + 1);
    for (const name of names.sort()) {
      if (name === ownName) continue;
      const pid = Number(name.split('.')[0]);
      if (!Number.isSafeInteger(pid) || pid <= 0 || isAlive(pid)) continue;
      const target = join(this.keyDir, `${process.pid}.${randomUUID().slice(0, 8)}`);
      try {
        await fs.rename(join(this.keyDir, name), target);
      } catch {
        continue; // another process claimed it first
      }
      await fs.writeFile(join(target, 'lock'), `${process.pid}\n`).catch(() => undefined);
      const files = (await fs.readdir(target).catch(() => [] as string[])).filter((f) => f.endsWith('.ndjson')).sort();
      const found: Segment[] = [];
      for (const f of files) {
        const path = join(target, f);
        const text = await fs.readFile(path, 'utf8').catch(() => undefined);
        if (text === undefined) continue;
        const lines = text.split('\n').filter((l) => l !== '');
        if (lines.length === 0) {
          await fs.rm(path, { force: true }).catch(() => undefined);
          continue;
        }
        const firstEvent = parseOr(lines[0]);
        const lastEvent = parseOr(lines[lines.length - 1]);
        found.push({
          path,
          dir: target,
          bytes: Buffer.byteLength(text),
          events: lines.length,
          first: identityOf(firstEvent),
          from: firstEvent?.time,
          to: lastEvent?.time,
        });
      }
      if (found.length === 0) {
        await fs.rm(target, { recursive: true, force: true }).catch(() => undefined);
        continue;
      }
      // Older than anything of ours: deliver first, drop first when over the bound.
      const at = this.head ? 1 : 0;
      this.segments.splice(at, 0, ...found);
      for (const s of found) {
        this.bytes += s.bytes;
        claimed += s.events;
      }
      log.info('tap spool: recovered events a previous tap left', { events: found.reduce((n, s) => n + s.events, 0), from: name });
    }
    while (this.bytes > this.options.maxBytes && this.segments.length > 1) await this.dropOldest();
    return claimed;
  }

  private async doClose(): Promise<void> {
    const head = this.head;
    if (head && head.cursor > 0 && head.cursor < head.events.length) {
      const rest = head.events
        .slice(head.cursor)
        .map((e) => JSON.stringify(e) + '\n')
        .join('');
      const tmp = `${head.segment.path}.tmp`;
      try {
        await fs.writeFile(tmp, rest, { mode: 0o600 });
        await fs.rename(tmp, head.segment.path);
        const bytes = Buffer.byteLength(rest);
        this.bytes += bytes - head.segment.bytes;
        head.segment.bytes = bytes;
        head.segment.events = head.events.length - head.cursor;
      } catch (err) {
        // The delivered part stays: the next process sends it again and storage deduplicates by id.
        log.debug('tap spool: could not trim a partly delivered segment', { error: codeOf(err) });
      }
    }
    this.head = undefined;
    if (this.ownDirReady && !this.segments.some((s) => s.dir === this.ownDir)) {
      await fs.rm(this.ownDir, { recursive: true, force: true }).catch(() => undefined);
      this.ownDirReady = false;
    }
  }

  private markBroken(err: unknown): void {
    if (this.broken) return;
    this.broken = true;
    log.warn('tap spool cannot write; events the sink cannot take now are dropped and counted', {
      dir: this.ownDir,
      error: codeOf(err),
      hint: 'free space or fix permissions under TAPWATCH_SPOOL_DIR, or point TAPWATCH_SPOOL_DIR elsewhere',
    });
  }
}

/** True unless `process.kill(pid, 0)` says the process does not exist. */
function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, owned by someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parseOr(line: string | undefined): TapEvent | undefined {
  if (line === undefined) return undefined;
  try {
    return JSON.parse(line) as TapEvent;
  } catch {
    return undefined;
  }
}

function identityOf(e: TapEvent | undefined): DropInfo['identity'] {
  return e ? { session: e.session, agent: e.agent, server: e.server, transport: e.transport } : undefined;
}

/** Identity of the first event and the time range of `events`. */
export function infoOf(events: readonly TapEvent[]): DropInfo {
  let from: string | undefined;
  let to: string | undefined;
  for (const e of events) {
    from = earliest(from, e.time);
    to = latest(to, e.time);
  }
  return { identity: identityOf(events[0]), from, to };
}

export function earliest(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Date.parse(b) < Date.parse(a) ? b : a;
}

export function latest(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Date.parse(b) > Date.parse(a) ? b : a;
}

function codeOf(err: unknown): string {
  return (err as NodeJS.ErrnoException | undefined)?.code ?? (err instanceof Error ? err.message : String(err));
}
