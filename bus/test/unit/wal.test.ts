import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { TapEvent } from '@tapwatch/schema';
import { MemoryEventBus, WriteAheadLog, type EventRecord } from '../../src/index.js';

/** Polls `cond` every 5 ms, failing after 5 s. */
async function until(cond: () => boolean): Promise<void> {
  for (const deadline = Date.now() + 5_000; !cond();) {
    if (Date.now() > deadline) throw new Error('condition not met within 5 s');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const dirOf = () => mkdtempSync(join(tmpdir(), 'tapwatch-wal-'));

test('what was appended and not committed comes back at open, in order; committed segments are removed', async () => {
  const dir = dirOf();
  try {
    const wal = new WriteAheadLog(dir, { maxSegmentBytes: 64 });
    assert.deepEqual(await wal.open(), []);
    const ends = [];
    for (let i = 0; i < 10; i++) ends.push(await wal.append([`{"n":${2 * i}}`, `{"n":${2 * i + 1}}`]));
    await wal.commit(ends[5]!);
    await wal.close();
    // A crash before the mark moves further: the next start gets records 12..19.
    const again = new WriteAheadLog(dir, { maxSegmentBytes: 64 });
    const recovered = await again.open();
    assert.deepEqual(
      recovered.map((r) => JSON.parse(r.value).n),
      [12, 13, 14, 15, 16, 17, 18, 19],
    );
    await again.commit(recovered.at(-1)!.end);
    await again.close();
    assert.deepEqual(await new WriteAheadLog(dir).open(), []);
    // No segment wholly before the mark is kept.
    const mark = Number(readFileSync(join(dir, 'committed'), 'utf8').split(' ')[0]);
    const kept = readdirSync(dir).filter((n) => n.endsWith('.wal'));
    assert.ok(kept.length > 0 && kept.every((n) => Number(n.slice(0, 12)) >= mark), `mark ${mark}: ${kept.join(' ')}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a torn last line (a write cut by a crash, never acknowledged) is skipped', async () => {
  const dir = dirOf();
  try {
    const wal = new WriteAheadLog(dir);
    await wal.open();
    await wal.append(['{"n":1}']);
    await wal.close();
    const segment = readdirSync(dir).find((n) => n.endsWith('.wal'))!;
    appendFileSync(join(dir, segment), '{"n":2,"half');
    const recovered = await new WriteAheadLog(dir).open();
    assert.deepEqual(
      recovered.map((r) => r.value),
      ['{"n":1}'],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function event(n: number): TapEvent {
  return {
    v: 1,
    id: randomUUID(),
    type: 'session_start',
    time: new Date(1_700_000_000_000 + n).toISOString(),
    session: `s${n}`,
    agent: 'a',
    server: 'srv',
    transport: 'stdio',
  } as TapEvent;
}

test('the bus with a log: accepted events survive a crash until the analyzer has handled them, then only what came after', async () => {
  const dir = dirOf();
  try {
    const first = new MemoryEventBus({ maxBatch: 4, wal: new WriteAheadLog(dir) });
    assert.equal(await first.recover(), 0);
    const handled: EventRecord[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    for (let i = 0; i < 12; i++) await first.publish([event(i)]);
    await first.start(async (records) => {
      handled.push(...records);
      if (handled.length > 8) await gate; // the third batch never finishes: the process "dies" here
    });
    // The third batch is taken only after the second one's commit: once it is in hand, the mark is written.
    await until(() => handled.length === 12);
    // Abandoned without stop or close, as by kill -9. Batches 1 and 2 (8 events) were handled.
    const second = new MemoryEventBus({ maxBatch: 100, wal: new WriteAheadLog(dir) });
    assert.equal(await second.recover(), 4, 'the unhandled events are queued again');
    const again: EventRecord[] = [];
    await second.start(async (records) => {
      again.push(...records);
    });
    await until(() => again.length >= 4);
    assert.deepEqual(
      again.map((r) => JSON.parse(r.value).session),
      ['s8', 's9', 's10', 's11'],
    );
    await second.close();
    release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('appends in flight count against the queue bound: concurrent publishes cannot overshoot it', async () => {
  const dir = dirOf();
  try {
    const bus = new MemoryEventBus({ maxBatch: 100, maxQueued: 20, wal: new WriteAheadLog(dir) });
    await bus.recover();
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => bus.publish([event(3 * i), event(3 * i + 1), event(3 * i + 2)])));
    const accepted = results.filter((r) => r.status === 'fulfilled').length;
    assert.equal(accepted, 6, '6 × 3 events fit under 20');
    assert.equal(bus.depth, 18);
    await bus.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
