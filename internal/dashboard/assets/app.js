// berth dashboard: a client of the control plane's HTTP API (the same one
// the CLI uses). No framework, no build step; every value from the API is
// put in the page as text, never as HTML.
'use strict';

const ui = {
  status: null,
  selected: sessionStorage.getItem('berth-selected') || '',
  signals: [],
  lastEvent: '',
  logsFor: '',
  timelineFor: '',
  statusBusy: false,
};

const STATUS_EVERY = 1000;
const SIGNALS_EVERY = 5000;
const MAX_EVENTS = 200;
const LOG_LINES = 100;
const LOGS_EVERY = 3000;

// ---- API --------------------------------------------------------------

function token() { return sessionStorage.getItem('berth-token') || ''; }

async function api(path, opts = {}) {
  const headers = Object.assign({ Accept: 'application/json' }, opts.headers || {});
  const t = token();
  if (t) headers.Authorization = 'Bearer ' + t;
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(path, Object.assign({}, opts, { headers }));
  if (r.status === 401) {
    askToken();
    throw apiError('the API needs its token', 401);
  }
  return r;
}

function apiError(msg, status) { const e = new Error(msg); e.status = status; return e; }

async function getJSON(path) {
  const r = await api(path);
  if (!r.ok) {
    const body = await r.json().catch(() => ({ error: r.statusText }));
    throw apiError(body.error + (body.hint ? ' — ' + body.hint : ''), r.status);
  }
  return r.json();
}

async function post(path, body) {
  const r = await api(path, { method: 'POST', body: JSON.stringify(body || {}) });
  if (!r.ok) {
    const b = await r.json().catch(() => ({ error: r.statusText }));
    throw apiError(b.error + (b.hint ? ' — ' + b.hint : ''), r.status);
  }
  return r.json();
}

// readLines calls onLine for every line of a streamed response body.
async function readLines(resp, onLine) {
  const reader = resp.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      onLine(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  }
  if (buf) onLine(buf);
}

// ---- DOM helpers ------------------------------------------------------

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k.startsWith('data-')) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function replace(node, ...children) { node.replaceChildren(...children.flat().filter(Boolean)); }

function badge(state) { return el('span', { class: 'badge ' + state, text: state }); }

function toast(msg, error) {
  const t = document.getElementById('toast');
  t.textContent = msg;
  t.className = error ? 'error' : '';
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, error ? 8000 : 3000);
}

function fmtDur(ms) {
  if (ms < 1000) return Math.round(ms) + ' ms';
  const s = ms / 1000;
  if (s < 60) return s.toFixed(s < 10 ? 1 : 0) + ' s';
  return Math.floor(s / 60) + ' m ' + Math.round(s % 60) + ' s';
}

function fmtNum(n, digits) { return Number.isFinite(n) ? n.toFixed(digits) : '–'; }

// ---- confirmation -----------------------------------------------------

function confirmAction(text) {
  const d = document.getElementById('confirm');
  document.getElementById('confirm-text').textContent = text;
  return new Promise((resolve) => {
    d.addEventListener('close', () => resolve(d.returnValue === 'ok'), { once: true });
    d.returnValue = '';
    d.showModal();
  });
}

async function act(text, path, body, done) {
  if (!(await confirmAction(text))) return;
  try {
    await post(path, body);
    toast(done);
    refreshStatus();
  } catch (e) {
    toast(e.message, true);
  }
}

// ---- services ---------------------------------------------------------

function renderStatus(st) {
  document.getElementById('project').textContent = st.project;
  document.getElementById('engine').textContent = st.engine ? 'engine ' + st.engine : '';
  const r = document.getElementById('router');
  r.textContent = st.router ? 'router ' + st.router : '';
  r.href = st.router || '#';
  if (st.services.length && !st.services.some((s) => s.name === ui.selected)) select(st.services[0].name);

  const rows = st.services.map((s) => {
    const dep = s.deployment;
    const tr = el('tr', { 'data-service': s.name, class: s.name === ui.selected ? 'selected' : '', onclick: () => select(s.name) },
      el('td', { class: 'name', text: s.name }),
      el('td', { class: 'release', text: s.release ? String(s.release) : '–' }),
      el('td', { class: 'commit mono', text: s.commit || '' }),
      el('td', { class: 'state' }, badge(s.state), dep ? ' ' + dep.strategy + (dep.phase ? ' · ' + dep.phase : '') : ''),
      el('td', { class: 'tasks', text: s.healthy + '/' + s.desired + ' healthy' + (s.tasks.length !== s.desired ? ' (' + s.tasks.length + ' running)' : '') }),
      el('td', { class: 'restarts', title: s.last_exit ? 'last exit: ' + s.last_exit.reason : '', text: String(s.restarts) }),
      el('td', { class: 'route mono', text: s.route || '' }),
      el('td', {}, s.release > 1 && !dep ? el('button', { class: 'rollback', text: 'Roll back', onclick: (ev) => {
        ev.stopPropagation();
        act('Roll ' + s.name + ' back from release ' + s.release + ' to the release before it?', '/v1/rollback', { service: s.name },
          'rollback of ' + s.name + ' started');
      } }) : null));
    return tr;
  });
  replace(document.querySelector('#services tbody'), rows);
  renderRollouts(st);
}

function select(name) {
  if (ui.selected === name) return;
  ui.selected = name;
  sessionStorage.setItem('berth-selected', name);
  document.getElementById('selected').textContent = name;
  for (const tr of document.querySelectorAll('#services tbody tr')) tr.classList.toggle('selected', tr.dataset.service === name);
  showLogs(name);
  ui.timelineFor = '';
  refreshTimeline();
}

// ---- rollouts ---------------------------------------------------------

function renderRollouts(st) {
  const box = document.getElementById('rollouts');
  const active = st.services.filter((s) => s.deployment);
  if (!active.length) {
    replace(box, el('p', { class: 'muted none', text: 'No deployment is running.' }));
    return;
  }
  replace(box, active.map((s) => rolloutCard(s)));
}

function rolloutCard(s) {
  const d = s.deployment;
  const progressive = d.strategy === 'canary' || d.strategy === 'bluegreen';
  const head = el('div', { class: 'head' },
    el('strong', { text: s.name }),
    el('span', { text: 'release ' + d.from_release + ' → ' + d.to_release }),
    el('span', { class: 'muted', text: d.strategy + (d.phase ? ', ' + d.phase : '') + (d.strategy === 'canary' ? ', step ' + (d.step + 1) : '') }),
    el('span', { class: 'muted', text: 'running for ' + fmtDur(Date.now() - Date.parse(d.started_at)) }),
    progressive ? el('span', { class: 'actions' },
      el('button', { class: 'promote primary', text: 'Promote', onclick: () => act(
        'Promote ' + s.name + ' release ' + d.to_release + '? It moves past the current pause or gate' + (d.next_step ? ' to ' + d.next_step : '') + '.',
        '/v1/services/' + encodeURIComponent(s.name) + '/promote', {}, s.name + ' promoted') }),
      el('button', { class: 'abort danger', text: 'Abort', onclick: () => act(
        'Abort the deployment of ' + s.name + ' release ' + d.to_release + '? All traffic goes back to release ' + d.from_release + '.',
        '/v1/services/' + encodeURIComponent(s.name) + '/abort', {}, s.name + ' aborted') })) : null);

  const shares = s.releases && s.releases.length ? s.releases : [];
  const split = el('div', { class: 'split', 'data-weight': String(progressive ? d.weight : 100) },
    shares.filter((r) => r.weight > 0).map((r) => {
      const part = el('div', { class: r.release === d.to_release ? 'new' : 'old', 'data-release': String(r.release),
        text: 'release ' + r.release + ' ' + r.weight + '%' });
      part.style.width = r.weight + '%';
      return part;
    }));
  const splitText = el('div', { class: 'split-text muted' },
    shares.map((r) => 'release ' + r.release + ': ' + r.weight + '% of traffic, ' + r.healthy + '/' + r.tasks + ' tasks healthy').join(' · '));

  let next = null;
  if (d.pause_until) {
    const left = Math.max(0, (Date.parse(d.pause_until) - Date.now()) / 1000);
    next = el('div', { class: 'next', text: 'pause, next step ' + (d.next_step || 'done') + ' in ' + Math.ceil(left) + ' s' });
  } else if (d.next_step) {
    next = el('div', { class: 'next', text: 'next step: ' + d.next_step + (d.next_step === 'pause' ? ' (waits for Promote)' : '') });
  }
  return el('div', { class: 'rollout', 'data-service': s.name }, head, split, splitText, next, verdicts(s, d));
}

// verdicts shows the new release's live signals against the analysis
// thresholds, and what each earlier step saw.
function verdicts(s, d) {
  if (!d.analysis) return null;
  const a = d.analysis;
  const rows = [];
  const live = windowSignals(s.name, d.to_release, a.window_seconds);
  if (live) {
    const rate = live.requests ? (100 * live.errors / live.requests) : 0;
    const enough = live.requests >= a.min_requests;
    rows.push(el('tr', { class: 'live' },
      el('td', { text: 'now (' + a.window_seconds + ' s)' }),
      el('td', { text: String(live.requests) + (enough ? '' : ' (< ' + a.min_requests + ', no verdict)') }),
      el('td', { class: enough && rate > a.max_5xx_rate ? 'over' : '', text: fmtNum(rate, 2) + '% ≤ ' + a.max_5xx_rate + '%' }),
      el('td', { class: enough && a.max_p99_ms && live.p99 > a.max_p99_ms ? 'over' : '', text: fmtNum(live.p99, 1) + ' ms' + (a.max_p99_ms ? ' ≤ ' + a.max_p99_ms + ' ms' : '') }),
      el('td', {}, badge(!enough ? 'waiting' : (rate > a.max_5xx_rate || (a.max_p99_ms && live.p99 > a.max_p99_ms)) ? 'failed' : 'passed'))));
  }
  let progress = {};
  try { progress = typeof d.progress === 'string' ? JSON.parse(d.progress) : (d.progress || {}); } catch (e) { progress = {}; }
  for (const rec of (progress.signals || [])) {
    const sig = rec.signals || {};
    const rate = sig.requests ? 100 * sig.errors_5xx / sig.requests : 0;
    rows.push(el('tr', {},
      el('td', { text: rec.phase + ' ' + rec.weight + '%' }),
      el('td', { text: String(sig.requests || 0) }),
      el('td', { text: fmtNum(rate, 2) + '%' }),
      el('td', { text: fmtNum((sig.p99 || 0) / 1e6, 1) + ' ms' }),
      el('td', {}, badge(rec.verdict.startsWith('failed') ? 'failed' : 'passed'), ' ' + rec.verdict)));
  }
  return el('table', { class: 'verdicts' },
    el('thead', {}, el('tr', {}, ['step', 'requests', '5xx', 'p99', 'verdict'].map((h) => el('th', { text: h })))),
    el('tbody', {}, rows));
}

// windowSignals sums the newest samples of a release over seconds.
function windowSignals(service, release, seconds) {
  const r = ui.signals.find((x) => x.service === service && x.release === release);
  if (!r || !r.samples.length) return null;
  const from = Date.now() - seconds * 1000 - 1;
  const inWin = r.samples.filter((x) => Date.parse(x.t) >= from);
  const use = inWin.length ? inWin : r.samples.slice(-1);
  return {
    requests: use.reduce((n, x) => n + x.requests, 0),
    errors: use.reduce((n, x) => n + x.errors_5xx, 0),
    p99: Math.max(...use.map((x) => x.p99_ms)),
  };
}

// ---- signals ----------------------------------------------------------

function sparkline(values, cls, label, value) {
  const w = 200, h = 26;
  const max = Math.max(...values, 1e-9);
  const pts = values.map((v, i) => {
    const x = values.length > 1 ? (i * w) / (values.length - 1) : w;
    return x.toFixed(1) + ',' + (h - 2 - (v / max) * (h - 4)).toFixed(1);
  }).join(' ');
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', '0 0 ' + w + ' ' + h);
  svg.setAttribute('preserveAspectRatio', 'none');
  const pl = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
  pl.setAttribute('points', pts);
  svg.append(pl);
  return el('div', { class: 'spark ' + cls }, el('span', { text: label }), svg, el('span', { class: 'val', text: value }));
}

function renderSignals() {
  const box = document.getElementById('signals');
  if (!ui.signals.length) {
    replace(box, el('p', { class: 'muted none', text: 'No traffic measured yet.' }));
    return;
  }
  replace(box, el('div', { class: 'signals-grid' }, ui.signals.map((r) => {
    const ss = r.samples;
    const last = ss[ss.length - 1];
    const err = ss.map((x) => (x.requests ? 100 * x.errors_5xx / x.requests : 0));
    return el('div', { class: 'release-signals', 'data-service': r.service, 'data-release': String(r.release) },
      el('strong', { text: r.service + ' release ' + r.release }),
      sparkline(ss.map((x) => x.rps), 'rps', 'req/s', fmtNum(last.rps, 1)),
      sparkline(err, 'err', '5xx', fmtNum(err[err.length - 1], 2) + '%'),
      sparkline(ss.map((x) => x.p50_ms), 'p50', 'p50', fmtNum(last.p50_ms, 1) + ' ms'),
      sparkline(ss.map((x) => x.p99_ms), 'p99', 'p99', fmtNum(last.p99_ms, 1) + ' ms'));
  })));
}

async function refreshSignals() {
  try {
    const s = await getJSON('/v1/signals?window=15m');
    ui.signals = s.releases || [];
    renderSignals();
  } catch (e) { /* shown by the status poll */ }
}

// ---- timeline ---------------------------------------------------------

async function refreshTimeline() {
  const box = document.getElementById('timeline');
  const name = ui.selected;
  if (!name) return;
  let dep;
  try {
    const h = await getJSON('/v1/services/' + encodeURIComponent(name) + '/history');
    dep = (h.deployments || [])[0];
  } catch (e) { replace(box); return; }
  if (!dep) { replace(box); return; }
  // A finished deployment's timeline does not change; a running one's does.
  const key = dep.id + ':' + dep.state;
  if (ui.timelineFor === key && dep.state !== 'running') return;
  let tl;
  try {
    tl = await getJSON('/v1/deployments/' + encodeURIComponent(dep.id) + '/timeline');
  } catch (e) {
    replace(box); // no timeline for this deployment (or this control plane)
    return;
  }
  ui.timelineFor = key;
  const phases = tl.phases || [];
  const t0 = Math.min(...phases.map((p) => Date.parse(p.start)));
  const wall = tl.wall_ms || Math.max(1, ...phases.map((p) => Date.parse(p.end) - t0));
  const slowest = tl.slowest && (tl.slowest.name || tl.slowest);
  replace(box,
    el('h3', {}, 'Deployment timeline ', el('span', { class: 'muted', text: 'release ' + dep.from_release + ' → ' + dep.to_release + ', ' + fmtDur(wall) })),
    tl.slowest ? el('p', { class: 'slowest-note', text: 'slowest: ' + (typeof tl.slowest === 'string' ? tl.slowest
      : tl.slowest.name + ' ' + fmtDur(tl.slowest.duration_ms || 0) + (tl.slowest.governed_by ? ': ' + tl.slowest.governed_by : '') + (tl.slowest.detail ? '; ' + tl.slowest.detail : '')) }) : null,
    el('div', { class: 'phases' }, phases.map((p) => {
      const bar = el('span');
      bar.style.left = (100 * (Date.parse(p.start) - t0) / wall) + '%';
      bar.style.width = (100 * (p.duration_ms || 0) / wall) + '%';
      return [
        el('span', { text: p.name + (p.service && p.service !== name ? ' (' + p.service + ')' : ''), title: p.governed_by || '' }),
        el('div', { class: 'bar' + (p.name === slowest ? ' slowest' : '') }, bar),
        el('span', { class: 'mono', text: fmtDur(p.duration_ms || 0) }),
      ];
    })));
}

// ---- events -----------------------------------------------------------

function addEvent(ev) {
  const list = document.getElementById('events');
  const kind = ev.kind || '';
  const li = el('li', { class: kind.replace(/^.*\./, '') },
    el('span', { class: 'time', text: new Date(ev.time).toLocaleTimeString() }),
    el('span', { class: 'kind', text: kind }),
    el('span', { class: 'msg', text: ev.message }));
  list.prepend(li);
  while (list.children.length > MAX_EVENTS) list.lastChild.remove();
}

async function followEvents() {
  for (;;) {
    try {
      // The newest MAX_EVENTS first, then everything from where it stopped.
      const q = ui.lastEvent ? '&after=' + encodeURIComponent(ui.lastEvent) : '&tail=' + MAX_EVENTS;
      const r = await api('/v1/events?follow=1' + q, { headers: { Accept: 'application/x-ndjson' } });
      if (!r.ok) throw apiError('events: ' + r.status, r.status);
      setConn(true);
      let kick = false;
      await readLines(r, (line) => {
        if (!line.trim()) return;
        const ev = JSON.parse(line);
        ui.lastEvent = ev.id;
        addEvent(ev);
        if (!kick) { kick = true; setTimeout(() => { kick = false; refreshStatus(); }, 150); }
        if (ev.kind && ev.kind.startsWith('deploy.') && ev.service === ui.selected && !ev.kind.endsWith('progress')) {
          ui.timelineFor = '';
          refreshTimeline();
        }
      });
    } catch (e) {
      setConn(false);
    }
    await new Promise((res) => setTimeout(res, 2000));
  }
}

// ---- logs -------------------------------------------------------------

// The selected service's last lines, read again every LOGS_EVERY: a
// followed stream would make the control plane copy every line a busy
// service writes (thousands a second) to a page nobody can read that fast.
async function refreshLogs() {
  const name = ui.selected;
  if (!name) return;
  const pre = document.getElementById('logs');
  try {
    const r = await api('/v1/services/' + encodeURIComponent(name) + '/logs?tail=' + LOG_LINES, { headers: { Accept: 'text/plain' } });
    if (name !== ui.selected) return;
    if (!r.ok) { pre.textContent = '(no logs: ' + r.status + ')'; return; }
    const text = (await r.text()).replace(/\n$/, '');
    if (name !== ui.selected) return;
    const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.textContent = text;
    if (atEnd) pre.scrollTop = pre.scrollHeight;
  } catch (e) { /* shown by the status poll */ }
}

function showLogs(name) {
  document.getElementById('logs').textContent = '';
  ui.logsFor = name;
  refreshLogs();
}

// ---- status loop and token ---------------------------------------------

function setConn(ok) {
  const c = document.getElementById('conn');
  c.className = 'conn ' + (ok ? 'live' : 'down');
  c.textContent = ok ? 'live' : 'disconnected';
}

async function refreshStatus() {
  if (ui.statusBusy) return;
  ui.statusBusy = true;
  try {
    ui.status = await getJSON('/v1/status');
    renderStatus(ui.status);
    setConn(true);
  } catch (e) {
    setConn(false);
  } finally {
    ui.statusBusy = false;
  }
}

function askToken() {
  const f = document.getElementById('token-form');
  if (!f.hidden) return;
  f.hidden = false;
  document.getElementById('token').focus();
}

function start() {
  document.getElementById('token-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    sessionStorage.setItem('berth-token', document.getElementById('token').value.trim());
    document.getElementById('token-form').hidden = true;
    refreshStatus();
    refreshSignals();
    if (ui.selected) showLogs(ui.selected);
  });
  if (ui.selected) {
    document.getElementById('selected').textContent = ui.selected;
    showLogs(ui.selected);
    refreshTimeline();
  }
  refreshStatus();
  refreshSignals();
  followEvents();
  setInterval(refreshStatus, STATUS_EVERY);
  setInterval(refreshSignals, SIGNALS_EVERY);
  setInterval(refreshLogs, LOGS_EVERY);
  setInterval(() => { if (ui.status && ui.status.services.some((s) => s.deployment)) refreshTimeline(); }, 5000);
}

start();
