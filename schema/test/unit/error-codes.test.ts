import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ConfigError, ERROR_CODES, TapwatchError, isErrorCode, retry } from '@tapwatch/schema';

test("the README's error table lists exactly the codes, statuses, retriability and remedies of ERROR_CODES", () => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const section = (readme.split('## Error codes')[1] ?? '').split('\n## ')[0] ?? '';
  const rows = [...section.matchAll(/^\| `(TAPWATCH_[A-Z0-9_]+)` \| (\d+) \| (yes|no) \| (.*) \|$/gm)].map((m) => ({
    code: m[1],
    httpStatus: Number(m[2]),
    retriable: m[3] === 'yes',
    remedy: (m[4] ?? '').replace(/\\\|/g, '|'),
  }));
  assert.deepEqual(
    rows,
    Object.entries(ERROR_CODES).map(([code, s]) => ({ code, ...s })),
  );
});

test('every code has a remedy that says what to do, and a status of an error', () => {
  for (const [code, s] of Object.entries(ERROR_CODES)) {
    assert.match(code, /^TAPWATCH_[A-Z0-9_]+$/);
    assert.ok(s.httpStatus >= 400 && s.httpStatus < 600, code);
    assert.ok(s.remedy.length >= 15 && /[.!?]$/.test(s.remedy), `${code}: remedy`);
  }
  assert.equal(isErrorCode('TAPWATCH_SQL_LIMIT'), true);
  assert.equal(isErrorCode('TAPWATCH_MADE_UP'), false);
});

test('an error takes its status and retriability from the table unless the raise site says otherwise', () => {
  const e = new TapwatchError('TAPWATCH_STORE_UNAVAILABLE', 'down');
  assert.deepEqual([e.httpStatus, e.retriable, e.remedy], [503, true, ERROR_CODES.TAPWATCH_STORE_UNAVAILABLE.remedy]);
  const refused = new TapwatchError('TAPWATCH_DELIVERY_FAILED', 'rejected', { retriable: false, httpStatus: 502 });
  assert.deepEqual([refused.httpStatus, refused.retriable], [502, false]);
  const config = new ConfigError('bad setting: TAPWATCH_PORT');
  assert.ok(config instanceof TapwatchError);
  assert.equal(config.code, 'TAPWATCH_BAD_CONFIG');
});

test('retry: retries until success, stops on bail and after the attempts, backs off exponentially', async () => {
  const waits: number[] = [];
  const sleep = async (ms: number) => void waits.push(ms);
  let calls = 0;
  assert.equal(await retry(async () => (++calls < 4 ? Promise.reject(new Error('x')) : 'ok'), { sleep, initialDelayMs: 100, maxDelayMs: 300 }), 'ok');
  assert.deepEqual([calls, waits], [4, [100, 200, 300]]);
  calls = 0;
  await assert.rejects(
    retry(async () => (calls++, Promise.reject(new Error('final'))), { sleep, bail: (e) => (e as Error).message === 'final' }),
    /final/,
  );
  assert.equal(calls, 1, 'bail ends at the first error');
  calls = 0;
  await assert.rejects(
    retry(async () => (calls++, Promise.reject(new Error('always'))), { sleep, attempts: 3 }),
    /always/,
  );
  assert.equal(calls, 3);
});
