/**
 * A full disk: `tapwatch up` whose write-ahead log sits on a 1 MiB tmpfs
 * (mounted over `<data>/wal`, so the embedded engine keeps its space). Once
 * the filesystem is full, ingest answers 503 TAPWATCH_DISK_FULL and /healthz
 * fails, while a real tap keeps relaying and spools; when space returns the
 * tap delivers, every call is stored once, and the refusal is alerted.
 * Before the log, ingest answered 202 and /healthz said ok while nothing
 * could be kept.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { toolCallEvent } from '../support/events.js';
import { EVERYTHING, authHeader, connectThroughTap, localToken, rows, startUp, tempDir, waitFor, type RunningTapwatch } from '../support/helpers.js';

const dataDir = tempDir('disk-full');
const walDir = join(dataDir, 'wal');
const filler = join(walDir, 'filler');
let tw: RunningTapwatch;

before(async () => {
  mkdirSync(walDir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', walDir]);
  tw = await startUp({ args: ['--data', dataDir] });
});

after(async () => {
  // Stop first (the log's files are open), unmount, then let stop() remove the data directory.
  if (tw && tw.proc.exitCode === null) {
    const exited = new Promise((r) => tw.proc.once('exit', r));
    tw.proc.kill('SIGTERM');
    await exited;
  }
  execFileSync('umount', [walDir]);
  await tw?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function ingest(body: unknown): Promise<{ status: number; code?: string }> {
  const r = await fetch(`${tw.url}/v1/ingest`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...authHeader(localToken('ingest')) },
    body: JSON.stringify(body),
  });
  const json = (await r.json()) as { error?: { code: string } };
  return { status: r.status, code: json.error?.code };
}

test('disk full: ingest 503 and /healthz failing within seconds; a tap spools; nothing lost once space returns; the refusal is alerted', async () => {
  // Fill the log's filesystem: what is left is smaller than one batch.
  try {
    writeFileSync(filler, Buffer.alloc(2 * 1024 * 1024));
  } catch {
    // ENOSPC: the filesystem is full, which is the point
  }
  const batch = Array.from({ length: 50 }, () => toolCallEvent({ session: 'disk-full-direct', arguments: { pad: 'x'.repeat(2000) } }));
  const refused = await waitFor('ingest to refuse', async () => {
    const r = await ingest(batch);
    return r.status === 503 ? r : undefined;
  });
  assert.equal(refused.code, 'TAPWATCH_DISK_FULL');
  const health = await fetch(`${tw.url}/healthz`);
  assert.equal(health.status, 503);
  assert.equal(((await health.json()) as { status: string }).status, 'failing');
  const detail = (await (await fetch(`${tw.url}/healthz`, { headers: authHeader() })).json()) as { ingest: { refusing?: { reason: string } } };
  assert.match(detail.ingest.refusing?.reason ?? '', /full/);

  // A real tap meanwhile: the calls work, their events wait in its spool.
  const tapped = await connectThroughTap({ sink: tw.url, name: 'disk-full', server: [process.execPath, EVERYTHING, 'stdio'] });
  for (let i = 0; i < 20; i++) await tapped.client.callTool({ name: 'echo', arguments: { message: `while full ${i}` } });

  // Space returns.
  rmSync(filler, { force: true });
  assert.equal((await ingest(batch)).status, 202, 'the refused batch, sent again as a tap would, is taken');
  await waitFor('/healthz ok again', async () => (await fetch(`${tw.url}/healthz`)).status === 200);
  const stored = await waitFor(
    'the tap delivered its spool',
    async () => {
      const r = await rows(tw.url, 'SELECT count() AS n, uniqExact(request_id) AS ids FROM tool_calls WHERE session = {s:String}', localToken(), {
        s: tapped.session,
      });
      return Number(r[0]?.n) >= 20 ? r[0] : undefined;
    },
    30_000,
  );
  assert.equal(Number(stored.n), 20);
  assert.equal(Number(stored.ids), 20);
  const direct = await rows(tw.url, "SELECT count() AS n FROM tool_calls WHERE session = 'disk-full-direct'");
  assert.equal(Number(direct[0]?.n), 50);
  await tapped.close();
  const alert = await waitFor('the refusal alerted', async () => {
    const r = await rows(tw.url, "SELECT severity, title FROM alerts WHERE detector = 'ingest_refused'");
    return r[0];
  });
  assert.equal(alert.severity, 'high');
  const gap = await rows(tw.url, "SELECT reason FROM delivery_gaps WHERE server = 'tapwatch'");
  assert.match(String(gap[0]?.reason), /^ingest refused: the data directory was full from .* events refused with 503/);
});
