import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeliveryError, QueueingSink, type QueueingSinkOptions } from '@tapwatch/collector';
import type { DeliveryGapEvent, TapEvent } from '@tapwatch/schema';
import { toolCallEvent } from '../../../test/support/events.js';
import { waitFor } from '../../../test/support/helpers.js';

/** A sink whose delivery is a switch: `up` false fails every attempt as retriable. */
class SwitchSink extends QueueingSink {
  delivered: TapEvent[] = [];
  batches = 0;
  up = false;
  /** Successful deliveries allowed before going down again (Infinity: no limit). */
  budget = Infinity;
  /** Every delivery hangs (a sink that accepts the connection and never answers). */
  hang = false;
  constructor(opts: QueueingSinkOptions) {
    super('switch', { backoffMs: 5, maxBackoffMs: 20, lingerMs: 0, ...opts });
  }
  protected async deliver(batch: TapEvent[]): Promise<void> {
    if (this.hang) return new Promise<void>(() => undefined);
    if (!this.up || this.budget <= 0) throw new DeliveryError('down', true);
    this.budget--;
    this.batches++;
    this.delivered.push(...batch);
  }
}

const KEY = 'k';
function spoolRoot(): string {
  return mkdtempSync(join(tmpdir(), 'tapwatch-spool-'));
}

/** The pid of a process that has exited (so its spool is an orphan). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

function spoolFiles(root: string): string[] {
  const keyDir = join(root, KEY);
  if (!existsSync(keyDir)) return [];
  return readdirSync(keyDir).flatMap((d) =>
    readdirSync(join(keyDir, d))
      .filter((f) => f.endsWith('.ndjson'))
      .map((f) => join(keyDir, d, f)),
  );
}

function spooledLines(root: string): TapEvent[] {
  return spoolFiles(root).flatMap((f) =>
    readFileSync(f, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as TapEvent),
  );
}

const calls = (n: number, over: Partial<Parameters<typeof toolCallEvent>[0]> = {}): TapEvent[] =>
  Array.from({ length: n }, (_, i) => toolCallEvent({ requestId: String(i), ...over }));

test('while the sink is down events go to the spool; when it is back they are delivered oldest first, then newer ones, each once', async () => {
  const root = spoolRoot();
  try {
    const sink = new SwitchSink({ maxBatch: 7, spool: { dir: root, key: KEY, maxBytes: 1 << 20 } });
    const first = calls(40);
    for (const e of first) sink.send(e);
    await waitFor('events spooled', () => sink.stats.spooled === 40, 10_000, 5);
    assert.equal(sink.stats.queued, 0, 'nothing piles up in memory while the spool takes it');
    assert.equal(spooledLines(root).length, 40, 'the spool is real files of NDJSON events');
    for (const f of spoolFiles(root)) assert.equal(statSync(f).mode & 0o777, 0o600, 'owner-only: events may carry arguments');
    const second = calls(25);
    for (const e of second) sink.send(e);
    sink.up = true;
    const third = calls(10);
    for (const e of third) sink.send(e);
    const stats = await sink.close(10_000);
    assert.deepEqual(
      sink.delivered.map((e) => e.id),
      [...first, ...second, ...third].map((e) => e.id),
    );
    assert.equal(stats.sent, 75);
    assert.equal(stats.dropped, 0);
    assert.equal(stats.spooled, 0);
    assert.equal(sink.delivered.filter((e) => e.type === 'delivery_gap').length, 0, 'no gap when nothing was lost');
    assert.deepEqual(spoolFiles(root), [], 'delivered segments are deleted');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('past TAPWATCH_SPOOL_MAX_BYTES the oldest events are dropped, counted and reported first as one delivery_gap event', async () => {
  const root = spoolRoot();
  try {
    const sink = new SwitchSink({ maxBatch: 10, spool: { dir: root, key: KEY, maxBytes: 8 * 1024, segmentBytes: 1024 } });
    const sent = calls(100, { tool: 'x'.repeat(100) });
    for (const e of sent) {
      sink.send(e);
      // Let the loop spill in small steps, as a live tap does between calls.
      await new Promise((r) => setImmediate(r));
    }
    await waitFor('all events handled', () => sink.stats.spooled + sink.stats.dropped === 100 && sink.stats.queued === 0, 10_000, 5);
    const dropped = sink.stats.dropped;
    assert.ok(dropped > 0 && dropped < 100, `some but not all events dropped (${dropped})`);
    const onDisk = spoolFiles(root).reduce((n, f) => n + readFileSync(f).length, 0);
    assert.ok(onDisk <= 8 * 1024, `the spool stays within its bound (${onDisk} bytes)`);
    sink.up = true;
    await sink.close(10_000);
    const [gap, ...rest] = sink.delivered;
    assert.equal(gap?.type, 'delivery_gap');
    const g = gap as DeliveryGapEvent;
    assert.equal(g.dropped, dropped);
    assert.match(g.reason, /TAPWATCH_SPOOL_MAX_BYTES/);
    assert.equal(g.from, sent[0]!.time);
    assert.equal(g.to, sent[dropped - 1]!.time);
    assert.equal(g.session, sent[0]!.session);
    assert.deepEqual(
      rest.map((e) => e.id),
      sent.slice(dropped).map((e) => e.id),
      'the newest events survive, in order',
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a new tap claims the spool a dead tap left and delivers it in the background, without any send', async () => {
  const root = spoolRoot();
  try {
    const dead = new SwitchSink({ spool: { dir: root, key: KEY, maxBytes: 1 << 20, instance: `${deadPid()}.old` } });
    const left = calls(30);
    for (const e of left) dead.send(e);
    await waitFor('the first tap spooled its events', () => dead.stats.spooled === 30, 10_000, 5);
    // It exits with the sink still down (on disk the same as a crash: its directory stays, its pid is dead).
    await dead.close(0);
    // A spool of another sink must not be taken.
    const other = new SwitchSink({ spool: { dir: root, key: 'other-sink', maxBytes: 1 << 20 } });
    other.up = true;

    const next = new SwitchSink({ spool: { dir: root, key: KEY, maxBytes: 1 << 20 } });
    next.up = true;
    await waitFor('the orphan delivered', () => next.delivered.length === 30, 10_000, 5);
    assert.deepEqual(
      next.delivered.map((e) => e.id),
      left.map((e) => e.id),
    );
    await next.close(5_000);
    await other.close(5_000);
    assert.equal(other.delivered.length, 0, 'a spool is only recovered by a tap of the same sink');
    assert.deepEqual(spoolFiles(root), []);
    assert.deepEqual(readdirSync(join(root, KEY)), [], 'the claimed directory is removed once delivered');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a spool that cannot be written (ENOSPC through a /dev/full symlink): sends still return, the loss is counted and reported, one warning names the setting', async () => {
  const root = spoolRoot();
  const instance = `${process.pid}.full`;
  mkdirSync(join(root, KEY, instance), { recursive: true });
  symlinkSync('/dev/full', join(root, KEY, instance, '0000000001.ndjson'));
  const lines: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
    lines.push(String(chunk));
    return write(chunk, ...rest);
  }) as typeof process.stderr.write;
  try {
    const sink = new SwitchSink({ maxBatch: 5, spool: { dir: root, key: KEY, maxBytes: 1 << 20, instance } });
    const lost = calls(20);
    for (const e of lost) sink.send(e);
    await waitFor('the spill failed and was counted', () => sink.stats.dropped > 0, 10_000, 5);
    const warnings = lines.filter((l) => l.includes('tap spool cannot write'));
    assert.equal(warnings.length, 1, 'one warning');
    assert.match(warnings[0]!, /TAPWATCH_SPOOL_DIR/);
    assert.match(warnings[0]!, /ENOSPC/);
    sink.up = true;
    const later = calls(3);
    for (const e of later) sink.send(e);
    const stats = await sink.close(10_000);
    const gap = sink.delivered.find((e) => e.type === 'delivery_gap') as DeliveryGapEvent | undefined;
    assert.ok(gap, 'a delivery_gap event reports the loss');
    assert.equal(sink.delivered[0], gap, 'ahead of the rest');
    assert.equal(gap.dropped, stats.dropped);
    assert.match(gap.reason, /ENOSPC/);
    const delivered = new Set(sink.delivered.map((e) => e.id));
    for (const e of later) assert.ok(delivered.has(e.id), 'later events still go');
    assert.equal(stats.dropped + sink.delivered.filter((e) => e.type !== 'delivery_gap').length, 23, 'every event is delivered or counted');
    assert.equal(lines.filter((l) => l.includes('tap spool cannot write')).length, 1, 'still one warning');
  } finally {
    process.stderr.write = write;
    rmSync(root, { recursive: true, force: true });
  }
});

test('close keeps what it could not deliver in the spool (nothing dropped); a partly delivered segment keeps only the rest; the next tap sends each event once', async () => {
  const root = spoolRoot();
  try {
    const first = new SwitchSink({ maxBatch: 4, spool: { dir: root, key: KEY, maxBytes: 1 << 20, instance: `${deadPid()}.closed` } });
    const sent = calls(30);
    for (const e of sent) first.send(e);
    await waitFor('spooled', () => first.stats.spooled === 30, 10_000, 5);
    // Back for three batches only, then down again until exit.
    first.budget = 3;
    first.up = true;
    await waitFor('three batches delivered', () => first.batches === 3, 10_000, 5);
    const stats = await first.close(200);
    assert.equal(stats.dropped, 0);
    assert.equal(stats.sent, 12);
    assert.equal(stats.spooled, 18);
    assert.deepEqual(
      spooledLines(root).map((e) => e.id),
      sent.slice(12).map((e) => e.id),
      'the spool holds exactly the undelivered events',
    );

    const next = new SwitchSink({ spool: { dir: root, key: KEY, maxBytes: 1 << 20 } });
    next.up = true;
    await waitFor('the rest delivered by the next tap', () => next.delivered.length === 18, 10_000, 5);
    await next.close(5_000);
    assert.deepEqual(
      [...first.delivered, ...next.delivered].map((e) => e.id),
      sent.map((e) => e.id),
      'every event once, in order',
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('close while a delivery hangs moves the events still in memory to the spool', async () => {
  const root = spoolRoot();
  try {
    const sink = new SwitchSink({ maxBatch: 1000, spool: { dir: root, key: KEY, maxBytes: 1 << 20 } });
    sink.hang = true;
    const sent = calls(5);
    for (const e of sent) sink.send(e);
    await new Promise((r) => setImmediate(r));
    assert.equal(sink.stats.queued, 5, 'in memory, in flight');
    const stats = await sink.close(100);
    assert.equal(stats.dropped, 0);
    assert.equal(stats.spooled, 5);
    assert.deepEqual(
      spooledLines(root).map((e) => e.id),
      sent.map((e) => e.id),
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
