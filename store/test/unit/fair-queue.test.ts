import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FairQueue } from '../../src/fair-queue.js';

/** A task that runs until `release()`; `started` tells whether it began. */
function gate(log: string[], name: string) {
  let release!: () => void;
  const done = new Promise<void>((r) => (release = r));
  return {
    task: async () => {
      log.push(`start ${name}`);
      await done;
      return name;
    },
    release: () => release(),
  };
}

const tick = () => new Promise((r) => setImmediate(r));

function queue(concurrency = 1) {
  return new FairQueue({ concurrency, perClientRunning: 1, perClientQueued: 3, onFull: (c) => Object.assign(new Error(`full: ${c}`), { code: 'BUSY' }) });
}

test("another client's query runs after the one running, not after the first client's queue", async () => {
  const log: string[] = [];
  const q = queue();
  const a = [gate(log, 'a1'), gate(log, 'a2'), gate(log, 'a3')];
  const b = gate(log, 'b1');
  const answers = a.map((g) => q.run('A', g.task));
  await tick();
  const bAnswer = q.run('B', b.task);
  a[0]!.release();
  assert.equal(await answers[0], 'a1');
  await tick();
  assert.deepEqual(log, ['start a1', 'start b1'], 'B goes before A has its second turn');
  b.release();
  assert.equal(await bAnswer, 'b1');
  await tick();
  a[1]!.release();
  a[2]!.release();
  assert.deepEqual(await Promise.all(answers), ['a1', 'a2', 'a3']);
  assert.deepEqual(log, ['start a1', 'start b1', 'start a2', 'start a3']);
  assert.equal(q.active, 0);
});

test('turns alternate between clients that both keep queues', async () => {
  const log: string[] = [];
  const q = queue();
  const gates = ['a1', 'a2', 'a3', 'b1', 'b2', 'b3'].map((n) => gate(log, n));
  const runs = gates.map((g, i) => q.run(i < 3 ? 'A' : 'B', g.task));
  for (const g of gates) {
    await tick();
    g.release();
    await tick();
  }
  await Promise.all(runs);
  assert.deepEqual(log, ['start a1', 'start b1', 'start a2', 'start b2', 'start a3', 'start b3']);
});

test('past one running and the queue, a client is refused at once; others are not, and a failed task frees its slot', async () => {
  const log: string[] = [];
  const q = queue();
  const gates = [1, 2, 3, 4].map((n) => gate(log, `a${n}`));
  const runs = gates.map((g) => q.run('A', g.task));
  await assert.rejects(
    q.run('A', async () => 'x'),
    /full: A/,
  );
  const b = gate(log, 'b1');
  const bRun = q.run('B', b.task);
  const failing = q.run('C', async () => Promise.reject(new Error('boom')));
  gates[0]!.release();
  await runs[0];
  await tick();
  b.release();
  await bRun;
  await assert.rejects(failing, /boom/);
  for (const g of gates) g.release();
  await Promise.all(runs);
  assert.equal(q.active, 0);
});

test('with room for several, one client still runs one at a time while others run beside it', async () => {
  const log: string[] = [];
  const q = queue(4);
  const a = [gate(log, 'a1'), gate(log, 'a2')];
  const b = gate(log, 'b1');
  const runs = [...a.map((g) => q.run('A', g.task)), q.run('B', b.task)];
  await tick();
  assert.deepEqual(log, ['start a1', 'start b1']);
  assert.equal(q.active, 2);
  for (const g of [...a, b]) g.release();
  await Promise.all(runs);
  assert.deepEqual(log, ['start a1', 'start b1', 'start a2']);
});
