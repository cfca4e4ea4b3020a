import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import type { Alert } from '@tapwatch/schema';
import { SilenceFilter, redactUrl, signature, slackPayload } from '@tapwatch/analyzer';
import type { AlertPublisher } from '@tapwatch/bus';
import { AlertRepository, SilenceRepository, silenceMatches, type Connection, type Silence } from '@tapwatch/store';

const alert: Alert = {
  id: 'a1',
  time: '2026-01-01T12:00:00.000Z',
  severity: 'high',
  detector: 'tool_definition_changed',
  title: 'Definition of tool echo changed',
  server: 'srv',
  tool: 'echo',
  agent: 'ag',
  session: 's1',
  evidence: { changedFields: ['description'] },
  eventIds: ['e1'],
};
const silence: Silence = {
  id: 's',
  createdAt: '2026-01-01T11:00:00.000Z',
  until: '2026-01-01T13:00:00.000Z',
  detector: '',
  server: 'srv',
  tool: '',
  agent: '',
  reason: 'r',
};

test('a silence matches by its non-empty fields, within its period only', () => {
  assert.equal(silenceMatches(silence, alert, alert.time), true);
  assert.equal(silenceMatches({ ...silence, server: 'other' }, alert, alert.time), false);
  assert.equal(silenceMatches({ ...silence, detector: 'tool_definition_changed', tool: 'echo' }, alert, alert.time), true);
  assert.equal(silenceMatches({ ...silence, tool: 'other' }, alert, alert.time), false);
  assert.equal(silenceMatches(silence, alert, '2026-01-01T13:00:00.000Z'), false, 'until is exclusive');
  assert.equal(silenceMatches(silence, alert, '2026-01-01T10:59:59.999Z'), false, 'not before it was created');
});

test('the filter holds silenced alerts back, flags them, and passes the rest to every target', async () => {
  const inserted: { table: string; rows: Record<string, unknown>[] }[] = [];
  const db = {
    select: async () => [
      {
        id: 's',
        created_at: '2026-01-01 11:00:00.000',
        until: '2999-01-01 00:00:00.000',
        detector: '',
        server: 'srv',
        tool: '',
        agent: '',
        reason: 'r',
        deleted: false,
      },
    ],
    insert: async (table: string, rows: Record<string, unknown>[]) => void inserted.push({ table, rows }),
  } as unknown as Connection;
  const got: Alert[][] = [];
  const target: AlertPublisher = { publish: async (a) => void got.push(a), close: async () => {} };
  const failing: AlertPublisher = { publish: async () => Promise.reject(new Error('down')), close: async () => {} };
  const filter = new SilenceFilter({ silences: new SilenceRepository(db), alerts: new AlertRepository(db) }, [failing, target], 60_000);
  try {
    await filter.publish([alert, { ...alert, id: 'a2', server: 'loud' }]);
  } finally {
    await filter.close();
  }
  assert.deepEqual(
    got.map((batch) => batch.map((a) => a.id)),
    [['a2']],
    'a failing target does not stop the others',
  );
  assert.equal(inserted[0]?.table, 'alert_state');
  assert.deepEqual([inserted[0]?.rows[0]?.['id'], inserted[0]?.rows[0]?.['silenced'], inserted[0]?.rows[0]?.['silence_id']], ['a1', true, 's']);
  assert.deepEqual([filter.stats.published, filter.stats.silenced], [1, 1]);
  assert.equal(filter.stats.byDetector.get('tool_definition_changed')?.get('high'), 2, 'counted whether silenced or not');
});

test('webhook signatures, Slack payloads and redacted URLs', () => {
  const body = JSON.stringify(alert);
  assert.equal(signature('k', body), `sha256=${createHmac('sha256', 'k').update(body).digest('hex')}`);
  const slack = slackPayload(alert);
  assert.equal(slack.text, '[HIGH] tool_definition_changed: Definition of tool echo changed');
  assert.ok(JSON.stringify(slack.blocks).includes('*server* srv'));
  assert.equal(redactUrl('https://hooks.slack.com/services/T0/B0/secret'), 'https://hooks.slack.com/services/…');
  assert.equal(redactUrl('http://127.0.0.1:9/hook'), 'http://127.0.0.1:9/hook');
});
