import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Alert } from '@tapwatch/schema';
import { filtersFromQuery, matchesFilters, parseFilters } from '@tapwatch/dashboard-api';
import { alertLine, alertQuery } from '../../src/commands/alerts.js';

const alert = (over: Partial<Alert> = {}): Alert => ({
  id: 'a1',
  time: '2026-11-24T07:00:00.123Z',
  severity: 'high',
  detector: 'rule:exfil',
  title: 'data left\nthe building',
  server: 'fs',
  tool: 'read',
  agent: 'bot',
  session: 's',
  evidence: {},
  eventIds: [],
  ...over,
});

test('filters: minimum severity, repeated and comma lists, prefix patterns; unknown keys and values refused', () => {
  const f = filtersFromQuery(new URLSearchParams('severity=medium&server=fs,web&server=db&detector=rule:*&token=x&since=y'));
  assert.deepEqual(f, { severity: 'medium', server: ['fs', 'web', 'db'], tool: [], agent: [], detector: ['rule:*'] });
  assert.equal(matchesFilters(f, alert()), true);
  assert.equal(matchesFilters(f, alert({ severity: 'low' })), false);
  assert.equal(matchesFilters(f, alert({ server: 'mail' })), false);
  assert.equal(matchesFilters(f, alert({ detector: 'result_size_outlier' })), false);
  assert.equal(matchesFilters(parseFilters({}), alert({ severity: 'low' })), true);
  assert.deepEqual(parseFilters({ tool: ['a', 'b,c'], severity: 'CRITICAL' }).tool, ['a', 'b', 'c']);
  assert.throws(() => parseFilters({ severity: 'urgent' }), /unknown severity "urgent"/);
  assert.throws(() => parseFilters({ severity: 'low,high' }), /one value/);
  assert.throws(() => parseFilters({ colour: 'red' }), /unknown filter "colour"/);
});

test('one alert, one line: no colour unless asked; the title stays on one line', () => {
  assert.equal(alertLine(alert(), false), '2026-11-24 07:00:00  HIGH      rule:exfil  fs/read  bot  data left the building');
  assert.ok(alertLine(alert({ severity: 'critical' }), true).includes(`${String.fromCharCode(27)}[1;41;97mCRITICAL`));
});

test('stored-alert queries take filters as parameters, never as SQL text', () => {
  const q = alertQuery({ severity: 'high', lists: { server: ["x'; DROP TABLE alerts; --"], tool: ['re*'], agent: [], detector: [] } }, { id: 'a1' }, 50);
  assert.match(q.sql, /severity IN \('high', 'critical'\)/);
  assert.match(q.sql, /server = \{server_0:String\}/);
  assert.match(q.sql, /startsWith\(tool, \{tool_0:String\}\)/);
  assert.ok(!q.sql.includes('DROP'));
  assert.deepEqual(q.params, { server_0: "x'; DROP TABLE alerts; --", tool_0: 're', since_id: 'a1' });
});

test('names and titles from the monitored world cannot drive the terminal: controls are shown escaped', () => {
  const esc = String.fromCharCode(27);
  const line = alertLine(
    alert({ server: `fs${esc}[2K\r`, tool: 'read\u0000\u202e', agent: `bot${esc}]0;owned\u0007`, title: `all ${esc}[8mhidden\u009b` }),
    false,
  );
  assert.equal(line.includes(esc), false);
  // eslint-disable-next-line no-control-regex -- looking for the controls is the point
  assert.equal(/[\u0000-\u001f\u007f-\u009f\u202e]/.test(line), false);
  assert.match(line, /fs\\x1b\[2K\\x0d\/read\\x00\\u202e {2}bot\\x1b\]0;owned\\x07 {2}all \\x1b\[8mhidden\\x9b$/);
  // Colour codes are tapwatch's own and stay.
  assert.ok(alertLine(alert({ server: `x${esc}` }), true).includes(`${esc}[`));
});
