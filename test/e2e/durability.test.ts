/**
 * Accepted means durable. Six real taps, each driving 300 calls of
 * server-everything's `echo` with the real SDK client, into a real
 * `tapwatch up`; a third of the way in `tapwatch up` is killed with SIGKILL
 * and started again on the same port and data within a second. Before the
 * write-ahead log, 202 meant "in memory": 270–345 of the 1,800 calls were
 * stored two minutes later. Now every call must be stored exactly once within
 * 30 s of the restart, in each of three runs.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { EVERYTHING, TAPWATCH_BIN, connectThroughTap, freePort, localToken, rows, tempDir, waitFor } from '../support/helpers.js';

const TAPS = 6;
const CALLS = 300;
const started: ChildProcess[] = [];

after(() => {
  for (const p of started) if (p.exitCode === null) p.kill('SIGKILL');
});

/** `tapwatch up` on a given port and data directory (a restart must reuse both). */
async function upAt(port: number, dataDir: string): Promise<ChildProcess> {
  const proc = spawn(process.execPath, [TAPWATCH_BIN, 'up', '--port', String(port), '--host', '127.0.0.1', '--data', dataDir], {
    env: { ...process.env, TAPWATCH_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  started.push(proc);
  let err = '';
  proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  await waitFor(
    'tapwatch up to answer',
    async () => {
      if (proc.exitCode !== null) throw new Error(`tapwatch up exited: ${err}`);
      return (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.status === 200;
    },
    60_000,
    50,
  );
  return proc;
}

for (const run of [1, 2, 3]) {
  test(`run ${run}: kill -9 of tapwatch up under load from ${TAPS} taps; every call stored exactly once`, async () => {
    const port = await freePort();
    const dataDir = tempDir('durable');
    const url = `http://127.0.0.1:${port}`;
    let up = await upAt(port, dataDir);
    const id = randomUUID().slice(0, 8);
    const taps = await Promise.all(
      Array.from({ length: TAPS }, (_, i) =>
        connectThroughTap({ sink: url, name: 'durable', session: `durable-${id}-${i}`, server: [process.execPath, EVERYTHING, 'stdio'] }),
      ),
    );
    try {
      let done = 0;
      let restarted: Promise<void> | undefined;
      const work = taps.map(async (t) => {
        for (let n = 0; n < CALLS; n++) {
          await t.client.callTool({ name: 'echo', arguments: { message: `m${n}` } });
          if (++done === Math.floor((TAPS * CALLS) / 3)) {
            up.kill('SIGKILL');
            restarted = new Promise<void>((r) => up.once('exit', () => r())).then(async () => {
              up = await upAt(port, dataDir);
            });
          }
        }
      });
      await Promise.all(work);
      assert.ok(restarted, 'tapwatch up was killed mid-run');
      await restarted;
      const since = Date.now();
      const sessions = taps.map((t) => t.session);
      const counts = await waitFor(
        `all ${TAPS * CALLS} calls stored`,
        async () => {
          const r = await rows(
            url,
            'SELECT session, count() AS n, uniqExact(request_id) AS ids FROM tool_calls WHERE session IN {s:Array(String)} GROUP BY session ORDER BY session',
            localToken(),
            { s: sessions },
          );
          return r.length === TAPS && r.every((x) => Number(x.n) >= CALLS) ? r : undefined;
        },
        30_000,
        250,
      );
      const waited = Date.now() - since;
      for (const c of counts) {
        assert.equal(Number(c.n), CALLS, `${c.session}: each call once`);
        assert.equal(Number(c.ids), CALLS, `${c.session}: no call missing`);
      }
      console.log(`run ${run}: ${TAPS * CALLS} calls stored exactly once, ${waited} ms after the restart`);
    } finally {
      await Promise.all(taps.map((t) => t.close().catch(() => undefined)));
      if (up.exitCode === null) {
        const exited = new Promise((r) => up.once('exit', r));
        up.kill('SIGTERM');
        await exited;
      }
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
}
