/**
 * `tapwatch backtest` replays what a real `tapwatch up` stored (real servers
 * behind real taps) through the detectors, and reports what would have fired
 * without storing anything.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EVERYTHING, EVERYTHING_2025, TAPWATCH_BIN, connectThroughTap, rows, startUp, waitFor } from '../support/helpers.js';

test('backtest replays stored history and reports the alerts that fired live, storing none', async () => {
  const tw = await startUp();
  const dataDir = tw.dataDir;
  try {
    const a = await connectThroughTap({ sink: tw.url, name: 'bt', server: [process.execPath, EVERYTHING_2025, 'stdio'] });
    await a.client.listTools();
    for (let i = 0; i < 25; i++) await a.client.callTool({ name: 'echo', arguments: { message: `m${i}` } });
    await a.client.callTool({ name: 'echo', arguments: { message: 'q'.repeat(150_000) } });
    await a.close();
    const b = await connectThroughTap({ sink: tw.url, name: 'bt', server: [process.execPath, EVERYTHING, 'stdio'] });
    await b.client.listTools();
    await b.close();
    const live = await waitFor('live alerts', async () => {
      const r = await rows(tw.url, `SELECT detector, count() AS n FROM alerts GROUP BY detector ORDER BY detector`);
      return r.some((x) => x.detector === 'tool_definition_changed') && r.some((x) => x.detector === 'result_size_outlier') ? r : undefined;
    });
    tw.proc.kill('SIGTERM');
    assert.equal(await new Promise((r) => tw.proc.once('exit', r)), 0);

    const run = spawnSync(process.execPath, [TAPWATCH_BIN, 'backtest', '--data', dataDir, '--json'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(run.status, 0, run.stderr);
    const report = JSON.parse(run.stdout);
    assert.ok(report.events >= 30, `replayed ${report.events} events`);
    for (const l of live) {
      const counted = Object.values(report.byDetector[l.detector] ?? {}).reduce((s: number, n) => s + (n as number), 0);
      assert.equal(counted, l.n, `backtest finds the ${l.n} ${l.detector} alert(s) that fired live`);
    }
    assert.match(run.stderr, /backtest \[#+\] 100%/, 'progress is shown');

    const human = spawnSync(process.execPath, [TAPWATCH_BIN, 'backtest', '--data', dataDir], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(human.status, 0);
    assert.match(human.stdout, /alerts would have fired/);
    assert.match(human.stdout, /tool_definition_changed/);

    // A rules file tried in the backtest: fires on the stored history, names bad rules clearly.
    const rulesFile = join(dataDir, 'try.yaml');
    writeFileSync(
      rulesFile,
      'version: 1\nrules:\n  - id: big-echo\n    description: An echo answered with a large result.\n    severity: medium\n    when:\n      tool: echo\n      response_bytes: { gt: 100000 }\n',
    );
    const tried = spawnSync(process.execPath, [TAPWATCH_BIN, 'backtest', '--data', dataDir, '--json', '--rules', rulesFile], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(tried.status, 0, tried.stderr);
    assert.deepEqual(JSON.parse(tried.stdout).byDetector['rule:big-echo'], { medium: 1 });
    const badFile = join(dataDir, 'bad.yaml');
    writeFileSync(badFile, 'version: 1\nrules:\n  - id: broken\n    severity: urgent\n    when: { tool: echo }\n');
    const bad1 = spawnSync(process.execPath, [TAPWATCH_BIN, 'backtest', '--data', dataDir, '--rules', badFile], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(bad1.status, 2);
    assert.match(bad1.stderr, /bad\.yaml.*broken.*severity/s);

    const future = spawnSync(process.execPath, [TAPWATCH_BIN, 'backtest', '--data', dataDir, '--json', '--from', '2999-01-01T00:00:00Z'], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(JSON.parse(future.stdout).events, 0);
    const bad = spawnSync(process.execPath, [TAPWATCH_BIN, 'backtest', '--data', dataDir, '--from', 'yesterday-ish'], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /not a date/);

    // Nothing was stored by the backtests: the alerts table still holds only the live alerts.
    const again = await startUp({ args: ['--data', dataDir] });
    try {
      const after = await rows(again.url, `SELECT detector, count() AS n FROM alerts GROUP BY detector ORDER BY detector`);
      assert.deepEqual(after, live);
    } finally {
      await again.stop();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
