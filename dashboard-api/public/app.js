/* global document, location, history, Node, prompt */
// tapwatch dashboard: plain JS, no build step, nothing loaded from elsewhere.
// Every value shown comes from MCP traffic, which is untrusted: text is always
// set through textContent / attributes, never parsed as HTML.

const TOKEN_KEY = 'tapwatch.token';
const SEVERITIES = ['low', 'medium', 'high', 'critical'];
const state = { token: sessionStorage.getItem(TOKEN_KEY) || '', alerts: new Map(), ws: null, wsRetry: 1000, view: 'alerts', tool: null };

// `tapwatch up` prints the URL as …/#token=tw_…: take the token, then drop it from the address bar
// and the history (a fragment never reaches a server, a log or a Referer).
if (location.hash.startsWith('#token=')) {
  const given = decodeURIComponent(location.hash.slice('#token='.length));
  if (/^[\w.~-]{1,200}$/.test(given)) {
    state.token = given;
    sessionStorage.setItem(TOKEN_KEY, given);
  }
  history.replaceState(null, '', '#alerts');
}

// ---------- small helpers ----------

/** Creates an element: h('div', {class: 'x', onclick}, 'text', child…). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== undefined && c !== null && c !== false) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

const $ = (sel) => document.querySelector(sel);
const fmtTime = (iso) => new Date(iso).toLocaleString(undefined, { hour12: false });
const fmtShort = (iso) => new Date(iso).toLocaleString(undefined, { hour12: false, month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' });
const fmtClock = (iso) => {
  const d = new Date(iso);
  return d.toLocaleTimeString(undefined, { hour12: false }) + '.' + String(d.getMilliseconds()).padStart(3, '0');
};
function fmtBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

class HttpError extends Error {
  constructor(status, body) {
    super(body?.error?.message || `HTTP ${status}`);
    this.status = status;
    this.code = body?.error?.code;
  }
}

/** Calls the API with the token; a 401 opens the token dialog. */
async function api(path, options = {}) {
  const headers = {
    ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
    ...(state.token ? { authorization: `Bearer ${state.token}` } : {}),
  };
  const res = await fetch(path, { ...options, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  const text = await res.text();
  const body = text ? JSON.parse(text) : undefined;
  if (res.status === 401) {
    askToken(state.token ? 'that token was refused' : '');
    throw new HttpError(401, body);
  }
  if (!res.ok) throw new HttpError(res.status, body);
  return body;
}

// ---------- auth ----------

let tokenWaiters = [];
function askToken(message) {
  $('#login-error').textContent = message || '';
  if (!$('#login').open) $('#login').showModal();
  return new Promise((resolve) => tokenWaiters.push(resolve));
}

$('#login-form').addEventListener('submit', () => {
  state.token = $('#token').value.trim();
  sessionStorage.setItem(TOKEN_KEY, state.token);
  $('#logout').hidden = false;
  const waiters = tokenWaiters;
  tokenWaiters = [];
  for (const w of waiters) w();
  start();
});
$('#logout').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = '';
  location.reload();
});

// ---------- views ----------

function show(view) {
  state.view = view;
  for (const b of document.querySelectorAll('#tabs button')) b.classList.toggle('active', b.dataset.view === view);
  for (const v of document.querySelectorAll('.view')) v.classList.toggle('active', v.id === `view-${view}`);
  if (view === 'traffic') loadTraffic().catch(report);
  if (view === 'tools') loadTools().catch(report);
  if (location.hash.slice(1).split('/')[0] !== view) history.replaceState(null, '', `#${view}`);
}
for (const b of document.querySelectorAll('#tabs button')) b.addEventListener('click', () => show(b.dataset.view));

function report(err) {
  if (err instanceof HttpError && err.status === 401) return;
  console.error(err);
}

// ---------- alerts ----------

function alertVisible(a) {
  const min = $('#alert-severity').value;
  if (min && SEVERITIES.indexOf(a.severity) < SEVERITIES.indexOf(min)) return false;
  const status = $('#alert-status').value;
  if (status && (a.status || 'open') !== status) return false;
  if (a.silenced && !$('#alert-show-silenced').checked) return false;
  return true;
}

function alertItem(a, fresh) {
  const sev = `sev-${a.severity}`;
  const where = [a.server && `server ${a.server}`, a.tool && `tool ${a.tool}`, a.agent && `agent ${a.agent}`].filter(Boolean).join(' · ');
  const body = h(
    'div',
    { class: 'body' },
    h(
      'div',
      { class: 'actions' },
      a.session ? h('button', { class: 'open-session', onclick: (e) => (e.preventDefault(), openSession(a.session, a)) }, 'session timeline →') : null,
      h('button', { class: 'ack', onclick: (e) => (e.preventDefault(), setStatus(a, 'ack')) }, 'acknowledge'),
      h('button', { class: 'resolve', onclick: (e) => (e.preventDefault(), setStatus(a, 'resolve')) }, 'resolve'),
      h('button', { class: 'silence', onclick: (e) => (e.preventDefault(), silence(a)) }, `silence ${a.detector} on ${a.server || 'all servers'} for 1 h`),
    ),
    h('div', { class: 'muted' }, `alert ${a.id} · ${fmtTime(a.time)} · session ${a.session || '—'} · events ${(a.eventIds || []).length}`),
    h('pre', { class: 'evidence' }, JSON.stringify(a.evidence, null, 2)),
  );
  const li = h(
    'li',
    {
      class: `alert ${sev} st-${a.status || 'open'}${a.silenced ? ' silenced' : ''}${fresh ? ' new' : ''}`,
      dataset: { id: a.id, detector: a.detector, session: a.session },
    },
    h(
      'details',
      {},
      h(
        'summary',
        {},
        h('span', { class: `badge ${sev}` }, a.severity),
        h('span', { class: 'muted' }, fmtClock(a.time)),
        h('span', {}, h('span', { class: 'title' }, a.title), h('br'), h('span', { class: 'where' }, `${a.detector} · ${where}`)),
        h(
          'span',
          {},
          a.status && a.status !== 'open' ? h('span', { class: 'tag' }, a.status) : null,
          a.silenced ? h('span', { class: 'tag' }, 'silenced') : null,
        ),
      ),
      body,
    ),
  );
  return li;
}

function renderAlerts(freshId) {
  const list = $('#alert-list');
  const open = new Set([...list.querySelectorAll('details[open]')].map((d) => d.closest('li').dataset.id));
  const items = [...state.alerts.values()].sort((x, y) => (x.time < y.time ? 1 : x.time > y.time ? -1 : 0)).filter(alertVisible);
  list.replaceChildren(
    ...items.slice(0, 500).map((a) => {
      const li = alertItem(a, a.id === freshId);
      if (open.has(a.id)) li.querySelector('details').open = true;
      return li;
    }),
  );
  $('#alert-count').textContent = `${items.length} shown · ${state.alerts.size} loaded`;
}

async function loadAlerts() {
  const page = await api('/v1/alerts?limit=200');
  for (const a of page.items) state.alerts.set(a.id, a);
  renderAlerts();
}

async function setStatus(a, action) {
  const updated = await api(`/v1/alerts/${encodeURIComponent(a.id)}/${action}`, { method: 'POST', body: {} });
  state.alerts.set(updated.id, updated);
  renderAlerts();
}

async function silence(a) {
  const reason = prompt(`Silence ${a.detector} on ${a.server || 'every server'} for one hour. Reason:`, 'investigating');
  if (!reason) return;
  await api('/v1/silences', { method: 'POST', body: { detector: a.detector, ...(a.server ? { server: a.server } : {}), durationMinutes: 60, reason } });
  $('#silences').open = true;
  await loadSilences();
}

async function loadSilences() {
  const { items } = await api('/v1/silences');
  const active = items.filter((x) => x.active);
  $('#silence-count').textContent = `${active.length} active`;
  $('#silences tbody').replaceChildren(
    ...active.map((x) =>
      h(
        'tr',
        { dataset: { id: x.id } },
        h('td', {}, x.detector || 'any'),
        h('td', {}, x.server || 'any'),
        h('td', {}, x.tool || 'any'),
        h('td', {}, x.agent || 'any'),
        h('td', {}, fmtTime(x.until)),
        h('td', {}, x.reason),
        h('td', {}, h('button', { class: 'end-silence', onclick: () => endSilence(x.id).catch(report) }, 'end now')),
      ),
    ),
  );
}

async function endSilence(id) {
  await api(`/v1/silences/${encodeURIComponent(id)}`, { method: 'DELETE' });
  await loadSilences();
}

for (const id of ['#alert-severity', '#alert-status', '#alert-show-silenced']) $(id).addEventListener('change', () => renderAlerts());
$('#alert-refresh').addEventListener('click', () => Promise.all([loadAlerts(), loadSilences()]).catch(report));

function connectStream() {
  if (state.ws) return;
  const url = new URL('/v1/alerts/stream', location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  if (state.token) url.searchParams.set('token', state.token);
  const ws = new WebSocket(url);
  state.ws = ws;
  const live = $('#live');
  ws.addEventListener('open', () => {
    state.wsRetry = 1000;
    live.textContent = 'stream: live';
    live.className = 'live on';
  });
  ws.addEventListener('message', (m) => {
    let msg;
    try {
      msg = JSON.parse(m.data);
    } catch {
      return;
    }
    if (msg.type) return; // control messages (subscribed, pong, replay_end, error)
    if (!msg.id || !msg.detector) return;
    const known = state.alerts.get(msg.id);
    state.alerts.set(msg.id, { status: 'open', silenced: false, ...known, ...msg });
    renderAlerts(msg.id);
  });
  ws.addEventListener('close', () => {
    state.ws = null;
    live.textContent = 'stream: reconnecting';
    live.className = 'live off';
    setTimeout(connectStream, state.wsRetry);
    state.wsRetry = Math.min(state.wsRetry * 2, 30_000);
  });
}

// ---------- traffic charts ----------

/** One server's hourly chart: call bars, error bars, p95 latency line, alert marks. */
function serverChart(server, hours, rows) {
  const W = 420;
  const H = 150;
  const pad = { l: 34, r: 34, t: 8, b: 20 };
  const byHour = new Map(rows.map((r) => [r.hour, r]));
  const maxCalls = Math.max(1, ...rows.map((r) => r.calls));
  const maxLat = Math.max(1, ...rows.map((r) => r.p95Ms));
  const bw = (W - pad.l - pad.r) / hours.length;
  const y = (v) => pad.t + (H - pad.t - pad.b) * (1 - v / maxCalls);
  const yl = (v) => pad.t + (H - pad.t - pad.b) * (1 - v / maxLat);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, width: '100%', role: 'img', 'aria-label': `calls per hour of ${server}`, class: 'server-chart' });
  svg.append(s('line', { class: 'axis', x1: pad.l, x2: W - pad.r, y1: H - pad.b, y2: H - pad.b }));
  svg.append(s('text', { x: 2, y: pad.t + 8 }, String(maxCalls)), s('text', { x: 2, y: H - pad.b }, '0'));
  svg.append(s('text', { x: W - pad.r + 3, y: pad.t + 8 }, `${Math.round(maxLat)}ms`));
  const points = [];
  hours.forEach((hour, i) => {
    const r = byHour.get(hour);
    const x = pad.l + i * bw;
    if (i % Math.max(1, Math.ceil(hours.length / 6)) === 0)
      svg.append(s('text', { x, y: H - 6 }, new Date(hour).getHours().toString().padStart(2, '0') + ':00'));
    if (!r) return;
    const bar = s('rect', { class: 'bar', x: x + 1, y: y(r.calls), width: Math.max(1, bw - 2), height: H - pad.b - y(r.calls) });
    bar.append(s('title', {}, `${fmtTime(hour)}: ${r.calls} calls, ${r.errors} errors, p95 ${r.p95Ms} ms, ${r.alerts} alerts`));
    svg.append(bar);
    if (r.errors > 0) svg.append(s('rect', { class: 'err', x: x + 1, y: y(r.errors), width: Math.max(1, bw - 2), height: H - pad.b - y(r.errors) }));
    if (r.alerts > 0) svg.append(s('circle', { class: 'alertmark', cx: x + bw / 2, cy: pad.t + 4, r: 3.5 }));
    if (r.calls > 0) points.push(`${x + bw / 2},${yl(r.p95Ms)}`);
  });
  if (points.length > 1) svg.append(s('polyline', { class: 'lat', points: points.join(' ') }));
  else if (points.length === 1) {
    const [cx, cy] = points[0].split(',');
    svg.append(s('circle', { cx, cy, r: 2.5, fill: 'var(--medium)' }));
  }
  return svg;
}

function toolChart(tools) {
  const top = tools.slice(0, 25);
  const rowH = 22;
  const W = 900;
  const labelW = 260;
  const maxCalls = Math.max(1, ...top.map((t) => t.calls));
  const maxLat = Math.max(1, ...top.map((t) => t.p95Ms));
  // Two bar columns, each leaving room for its value label.
  const col = (W - labelW - 180) / 2;
  const svg = s('svg', {
    viewBox: `0 0 ${W} ${top.length * rowH + 24}`,
    width: '100%',
    role: 'img',
    'aria-label': 'calls and p95 latency per tool',
    class: 'tool-chart',
  });
  svg.append(s('text', { x: labelW, y: 12 }, 'calls (errors in red)'), s('text', { x: labelW + col + 90, y: 12 }, 'p95 latency'));
  top.forEach((t, i) => {
    const y0 = 20 + i * rowH;
    svg.append(s('text', { x: 0, y: y0 + 13 }, `${t.server} / ${t.tool}`.slice(0, 42)));
    const wCalls = (col * t.calls) / maxCalls;
    const bar = s('rect', { class: 'bar', x: labelW, y: y0 + 3, width: Math.max(1, wCalls), height: rowH - 8 });
    bar.append(s('title', {}, `${t.calls} calls, ${t.errors} errors, ${fmtBytes(t.responseBytes)} returned`));
    svg.append(bar);
    if (t.errors > 0) svg.append(s('rect', { class: 'err', x: labelW, y: y0 + 3, width: Math.max(1, (col * t.errors) / maxCalls), height: rowH - 8 }));
    svg.append(s('text', { x: labelW + wCalls + 4, y: y0 + 13 }, `${t.calls}${t.errors ? ` (${t.errors} err)` : ''}`));
    const wLat = (col * t.p95Ms) / maxLat;
    svg.append(s('rect', { x: labelW + col + 90, y: y0 + 3, width: Math.max(1, wLat), height: rowH - 8, fill: 'var(--medium)' }));
    svg.append(s('text', { x: labelW + col + 94 + wLat, y: y0 + 13 }, `${t.p95Ms} ms`));
  });
  return svg;
}

async function loadTraffic() {
  const hoursBack = Number($('#traffic-window').value);
  const to = new Date(Math.ceil(Date.now() / 3600_000) * 3600_000);
  const from = new Date(to.getTime() - hoursBack * 3600_000);
  const stats = await api(`/v1/stats?from=${from.toISOString()}&to=${to.toISOString()}`);
  const hours = [];
  for (let t = from.getTime(); t < to.getTime(); t += 3600_000) hours.push(new Date(t).toISOString());
  const charts = stats.servers.map((sv) =>
    h(
      'div',
      { class: 'chart', dataset: { server: sv.server } },
      h('h3', {}, sv.server || '(unnamed)'),
      h(
        'div',
        { class: 'figures' },
        `${sv.calls} calls · ${sv.errors} errors (${sv.calls ? ((100 * sv.errors) / sv.calls).toFixed(1) : 0}%) · avg ${sv.avgMs} ms · p95 ≤ ${sv.p95Ms} ms · ${fmtBytes(sv.responseBytes)} · ${sv.alerts} alerts`,
      ),
      serverChart(
        sv.server,
        hours,
        stats.hourly.filter((r) => r.server === sv.server),
      ),
      h(
        'div',
        { class: 'legend' },
        h('span', {}, h('i', { style: 'background:var(--accent)' }), 'calls'),
        h('span', {}, h('i', { style: 'background:var(--critical)' }), 'errors'),
        h('span', {}, h('i', { style: 'background:var(--medium)' }), 'p95 latency'),
        h('span', {}, h('i', { style: 'background:var(--high);border-radius:50%' }), 'alerts'),
      ),
    ),
  );
  $('#server-charts').replaceChildren(...(charts.length ? charts : [h('p', { class: 'muted' }, 'No calls in this window.')]));
  $('#tool-chart').replaceChildren(stats.tools.length ? toolChart(stats.tools) : h('p', { class: 'muted' }, 'No calls in this window.'));
}
$('#traffic-refresh').addEventListener('click', () => loadTraffic().catch(report));
$('#traffic-window').addEventListener('change', () => loadTraffic().catch(report));

// ---------- session timeline ----------

async function openSession(id, alert) {
  $('#session-id').value = id;
  show('session');
  history.replaceState(null, '', `#session/${encodeURIComponent(id)}${alert ? `/${encodeURIComponent(alert.id)}` : ''}`);
  await loadSession(id, alert?.id);
}

async function loadSession(id, alertId) {
  const head = $('#session-head');
  let t;
  try {
    t = await api(`/v1/sessions/${encodeURIComponent(id)}`);
  } catch (err) {
    head.replaceChildren(h('p', { class: 'error' }, err.message));
    $('#session-timeline').replaceChildren();
    $('#session-strip').replaceChildren();
    return;
  }
  // The calls that led to the alert: its events, and what came before them in the session.
  const focus = t.timeline.find((e) => e.kind === 'alert' && (!alertId || e.id === alertId));
  const causes = new Set(focus?.detail?.eventIds ?? []);
  head.replaceChildren(
    h('h2', {}, `session ${t.session}`),
    h(
      'p',
      {},
      `server ${t.server} · agent ${t.agent || '—'} · ${fmtTime(t.start)} → ${fmtTime(t.end)} · ${t.counts.calls} calls · ${t.counts.serverRequests} server requests · ${t.counts.alerts} alerts`,
    ),
  );
  // A strip: every entry placed on the session's time axis.
  const W = 900;
  const H = 36;
  const t0 = Date.parse(t.start);
  const span = Math.max(1, Date.parse(t.end) - t0);
  const strip = s('svg', { viewBox: `0 0 ${W} ${H}`, width: '100%', class: 'session-strip' });
  strip.append(s('line', { class: 'axis', x1: 0, x2: W, y1: H / 2, y2: H / 2 }));
  for (const e of t.timeline) {
    const x = 6 + ((W - 12) * (Date.parse(e.time) - t0)) / span;
    const color =
      e.kind === 'alert'
        ? 'var(--critical)'
        : e.kind === 'tool_call'
          ? causes.has(e.id)
            ? 'var(--high)'
            : 'var(--accent)'
          : e.kind === 'server_request'
            ? '#a678ff'
            : 'var(--muted)';
    const mark = s('circle', { cx: x, cy: H / 2, r: e.kind === 'alert' || causes.has(e.id) ? 5 : 3, fill: color });
    mark.append(s('title', {}, `${fmtClock(e.time)} ${e.summary}`));
    strip.append(mark);
  }
  $('#session-strip').replaceChildren(strip);
  $('#session-timeline').replaceChildren(
    ...t.timeline.map((e) =>
      h(
        'li',
        { class: `k-${e.kind}${causes.has(e.id) ? ' cause' : ''}${e.detail?.isError ? ' is-error' : ''}`, dataset: { id: e.id, kind: e.kind } },
        h('span', { class: 't' }, fmtClock(e.time)),
        h('span', { class: 'kind' }, e.kind.replace('_', ' ')),
        h('span', { class: 'summary' }, e.summary),
      ),
    ),
  );
  const target = $('#session-timeline .cause') || $('#session-timeline .k-alert');
  target?.scrollIntoView({ block: 'center' });
}

$('#session-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const id = $('#session-id').value.trim();
  if (id) openSession(id).catch(report);
});

// ---------- tools and definition diffs ----------

async function loadTools() {
  const { items } = await api('/v1/tools');
  const body = $('#tool-table tbody');
  body.replaceChildren(
    ...items
      .sort((a, b) => b.changes - a.changes || a.server.localeCompare(b.server) || a.tool.localeCompare(b.tool))
      .map((t) =>
        h(
          'tr',
          {
            dataset: { server: t.server, tool: t.tool },
            class: state.tool === `${t.server}/${t.tool}` ? 'selected' : null,
            onclick: () => loadHistory(t.server, t.tool).catch(report),
          },
          h('td', {}, t.server),
          h('td', {}, t.tool),
          h('td', { class: 'num' }, t.versions),
          h('td', { class: 'num' }, t.changes ? h('span', { class: 'badge sev-high' }, t.changes) : '0'),
          h('td', { title: fmtTime(t.lastSeen) }, fmtShort(t.lastSeen)),
        ),
      ),
  );
}

async function loadHistory(server, tool) {
  state.tool = `${server}/${tool}`;
  for (const tr of document.querySelectorAll('#tool-table tbody tr')) tr.classList.toggle('selected', tr.dataset.server === server && tr.dataset.tool === tool);
  const hist = await api(`/v1/tools/${encodeURIComponent(server)}/${encodeURIComponent(tool)}/history`);
  const versions = hist.versions
    .map((v, i) =>
      h(
        'div',
        { class: 'version', dataset: { hash: v.hash } },
        h('h3', {}, `version ${i + 1} · ${v.hash.slice(0, 12)} · first seen ${fmtTime(v.firstSeen)} · last seen ${fmtTime(v.lastSeen)}`),
        h(
          'div',
          { class: 'diff' },
          ...(v.diff ?? v.definition.split('\n').map((text) => ({ op: 'same', text }))).map((d) => h('div', { class: d.op }, d.text)),
        ),
      ),
    )
    .reverse();
  $('#tool-history').replaceChildren(
    h('h2', {}, `${server} / ${tool}: ${hist.versions.length} versions, newest first (changes against the previous version)`),
    ...versions,
  );
}

// ---------- SQL console ----------

async function runSql() {
  $('#sql-error').textContent = '';
  $('#sql-meta').textContent = 'running…';
  const started = performance.now();
  try {
    const r = await api('/v1/sql', { method: 'POST', body: { sql: $('#sql-text').value } });
    const cols = r.columns.map((c) => c.name);
    $('#sql-result').replaceChildren(
      h('thead', {}, h('tr', {}, ...r.columns.map((c) => h('th', { title: c.type }, c.name)))),
      h(
        'tbody',
        {},
        ...r.rows.map((row) =>
          h(
            'tr',
            {},
            ...cols.map((c) => {
              const v = row[c];
              return h('td', { class: typeof v === 'number' ? 'num' : null }, v === null ? 'NULL' : typeof v === 'object' ? JSON.stringify(v) : String(v));
            }),
          ),
        ),
      ),
    );
    $('#sql-meta').textContent = `${r.rows.length} rows · ${Math.round(performance.now() - started)} ms`;
  } catch (err) {
    $('#sql-meta').textContent = '';
    $('#sql-error').textContent = err.code ? `${err.code}: ${err.message}` : err.message;
  }
}
$('#sql-form').addEventListener('submit', (e) => {
  e.preventDefault();
  runSql();
});
$('#sql-text').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
    e.preventDefault();
    runSql();
  }
});

// ---------- start ----------

let started = false;
async function start() {
  if (started) return;
  try {
    await loadAlerts();
  } catch (err) {
    if (err instanceof HttpError && err.status === 401) return; // the dialog is open; start() runs again after it
    throw err;
  }
  started = true;
  $('#logout').hidden = !state.token;
  loadSilences().catch(report);
  connectStream();
  const [view, a, b] = location.hash.slice(1).split('/');
  if (view === 'session' && a) openSession(decodeURIComponent(a), b ? { id: decodeURIComponent(b) } : undefined).catch(report);
  else if (['alerts', 'traffic', 'tools', 'sql'].includes(view)) show(view);
}

start().catch(report);
