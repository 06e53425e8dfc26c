/**
 * The dashboard page: log in with Keystone credentials, draw the project's topology with
 * cytoscape.js (its breadthfirst layout, rooted at the external networks, gives the layers:
 * external network → routers → networks → ports → instances, floating IPs and load balancers →
 * listeners → pools → members), redraw on every change the server streams, show any object's
 * details and ids, and ask `explain` about two of them. The token lives in sessionStorage only.
 */
import cytoscape from 'cytoscape';

interface Session {
  token: string;
  expiresAt: string;
  user: { id: string; name: string };
  project: { id: string; name: string };
  projects: Array<{ id: string; name: string }>;
  isAdmin: boolean;
}

interface TopoNode {
  id: string;
  kind: string;
  label: string;
  status: string;
  layer: number;
  project: string | null;
  detail: Record<string, unknown>;
  external?: boolean;
}

interface Topology {
  nodes: TopoNode[];
  edges: Array<{ id: string; source: string; target: string; kind: string; label?: string }>;
  summary: { ports: number; portsDrawn: number; servers: number; serversDrawn: number; hidden: number };
}

interface Hop {
  step: string;
  verdict: 'pass' | 'drop' | 'info';
  detail: string;
  fix?: string;
}

interface Explanation {
  verdict: 'allowed' | 'denied';
  reason: string;
  fix?: string;
  hops: Hop[];
  packet: { src: string | null; dst: string | null };
  probe?: { outcome: string; agrees: boolean | null; detail: string };
}

const KEY = 'pocketstack.session';
const el = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

let session: Session | null = null;
let view = 'all';
let cy: cytoscape.Core | null = null;
let selected: TopoNode | null = null;
let from: TopoNode | null = null;
let to: TopoNode | null = null;
let stream: AbortController | null = null;
let expiryTimer: number | undefined;
let refreshTimer: number | undefined;
let refreshing = false;
let again = false;
/** Bumped on every redraw: tests wait for it. */
let version = 0;

class Expired extends Error {}

function setState(state: 'login' | 'graph') {
  document.body.dataset.state = state;
  el('login').hidden = state !== 'login';
  for (const id of ['graph', 'side', 'logout', 'fit', 'project', 'live']) el(id).hidden = state !== 'graph';
}

function save(s: Session | null) {
  session = s;
  if (s) sessionStorage.setItem(KEY, JSON.stringify(s));
  else sessionStorage.removeItem(KEY);
}

async function api<T>(method: string, url: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (session) headers['x-auth-token'] = session.token;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const json = await res.json().catch(() => ({}));
  if (res.status === 401 && session) {
    expire('Your session has expired: log in again.');
    throw new Expired();
  }
  if (!res.ok) throw new Error(json?.error?.message ?? `${res.status} ${res.statusText}`);
  return json as T;
}

/** Back to the login form, saying why. */
function expire(message: string) {
  stream?.abort();
  stream = null;
  window.clearTimeout(expiryTimer);
  save(null);
  cy?.destroy();
  cy = null;
  setState('login');
  el('login-error').textContent = message;
}

// ---------------------------------------------------------------- login and projects

async function onLogin(ev: SubmitEvent) {
  ev.preventDefault();
  const form = new FormData(ev.target as HTMLFormElement);
  el('login-error').textContent = '';
  try {
    const s = await api<Session>('POST', '/api/login', {
      username: form.get('username'),
      password: form.get('password'),
      domain: form.get('domain') || 'Default',
      ...(form.get('project') ? { project: form.get('project') } : {}),
    });
    save(s);
    await start();
  } catch (e) {
    el('login-error').textContent = (e as Error).message;
  }
}

function fillProjects() {
  const sel = el<HTMLSelectElement>('project');
  sel.replaceChildren();
  const s = session!;
  if (s.isAdmin) sel.append(new Option('All projects', 'all'));
  for (const p of s.projects) sel.append(new Option(p.name, p.id));
  sel.value = s.isAdmin ? view : s.project.id;
  el('who').textContent = `${s.user.name}${s.isAdmin ? ' (admin)' : ''} in ${s.project.name}`;
}

async function onProject() {
  const value = el<HTMLSelectElement>('project').value;
  if (session!.isAdmin) {
    // An admin's token already sees every project: narrow the view, keep the token.
    view = value;
  } else {
    save({ ...(await api<Session>('POST', '/api/scope', { project: value })) });
    connect();
  }
  fillProjects();
  cy?.elements().remove();
  await refresh();
}

async function start() {
  setState('graph');
  fillProjects();
  window.clearTimeout(expiryTimer);
  const left = Date.parse(session!.expiresAt) - Date.now();
  if (Number.isFinite(left)) expiryTimer = window.setTimeout(() => expire('Your token expired: log in again.'), Math.max(0, Math.min(left, 2 ** 31 - 1)));
  initGraph();
  connect();
  await refresh();
}

// ---------------------------------------------------------------- live updates

/** Server-sent events read with fetch (the token goes in a header, never in a URL). */
function connect() {
  stream?.abort();
  const ctl = new AbortController();
  stream = ctl;
  const token = session!.token;
  void (async () => {
    try {
      const res = await fetch('/api/events', { headers: { 'x-auth-token': token, accept: 'text/event-stream' }, signal: ctl.signal });
      if (res.status === 401) return expire('Your session has expired: log in again.');
      if (!res.body) throw new Error('no stream');
      el('live').hidden = false;
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          if (event === 'expired') return expire('Your token expired: log in again.');
          if (event === 'change') scheduleRefresh();
        }
      }
    } catch {
      if (ctl.signal.aborted) return;
    }
    if (ctl.signal.aborted || !session) return;
    el('live').hidden = true;
    window.setTimeout(() => {
      if (stream === ctl) connect();
    }, 1000);
  })();
}

function scheduleRefresh() {
  window.clearTimeout(refreshTimer);
  refreshTimer = window.setTimeout(() => void refresh(), 60);
}

// ---------------------------------------------------------------- the graph

const COLOURS: Record<string, string> = {
  ACTIVE: '#2e9d58',
  ONLINE: '#2e9d58',
  UP: '#2e9d58',
  DOWN: '#8a96a3',
  OFFLINE: '#8a96a3',
  SHUTOFF: '#8a96a3',
  NO_MONITOR: '#3f7ccf',
  DRAINING: '#3f7ccf',
  BUILD: '#d99a1e',
  DEGRADED: '#e07b22',
  ERROR: '#d1453b',
};
const colour = (status: string) => COLOURS[status] ?? (status.startsWith('PENDING') ? '#d99a1e' : '#8a96a3');

const SHAPES: Record<string, string> = {
  network: 'round-rectangle',
  router: 'diamond',
  port: 'ellipse',
  server: 'round-rectangle',
  floatingip: 'tag',
  loadbalancer: 'hexagon',
  listener: 'round-tag',
  pool: 'barrel',
  member: 'ellipse',
  summary: 'rectangle',
};

function initGraph() {
  cy?.destroy();
  cy = cytoscape({
    container: el('graph'),
    minZoom: 0.05,
    maxZoom: 3,
    style: [
      {
        selector: 'node',
        style: {
          shape: (n: cytoscape.NodeSingular) => SHAPES[n.data('kind')] ?? 'ellipse',
          label: 'data(label)',
          'text-wrap': 'wrap',
          'text-valign': 'center',
          'text-halign': 'center',
          'font-size': 11,
          color: '#1d2733',
          'background-color': '#ffffff',
          'border-width': 3,
          'border-color': (n: cytoscape.NodeSingular) => colour(n.data('status')),
          width: 'label',
          height: 'label',
          padding: '10px',
        } as cytoscape.Css.Node,
      },
      { selector: 'node[kind = "network"]', style: { 'background-color': '#e8f0fb', 'font-weight': 'bold' } as cytoscape.Css.Node },
      { selector: 'node[?external]', style: { 'background-color': '#dfeadf' } },
      { selector: 'node[kind = "router"]', style: { 'background-color': '#fdf3dc', padding: '18px' } as cytoscape.Css.Node },
      { selector: 'node[kind = "port"]', style: { 'font-size': 10, padding: '6px' } as cytoscape.Css.Node },
      { selector: 'node[kind = "server"]', style: { 'background-color': '#eef1f4', 'font-weight': 'bold' } as cytoscape.Css.Node },
      { selector: 'node[kind = "floatingip"]', style: { 'background-color': '#f3e9fb' } },
      { selector: 'node[kind = "loadbalancer"]', style: { 'background-color': '#e6f6f5', 'font-weight': 'bold', padding: '14px' } as cytoscape.Css.Node },
      { selector: 'node[kind = "summary"]', style: { 'border-style': 'dashed', 'border-color': '#8a96a3', color: '#6b7785' } },
      { selector: 'node:selected', style: { 'overlay-color': '#3f7ccf', 'overlay-opacity': 0.18, 'overlay-padding': 6 } as cytoscape.Css.Node },
      {
        selector: 'edge',
        style: {
          width: 1.5,
          'line-color': '#b4bec9',
          'curve-style': 'bezier',
          label: 'data(label)',
          'font-size': 9,
          color: '#6b7785',
          'text-background-color': '#ffffff',
          'text-background-opacity': 0.85,
          'text-background-padding': '1px',
        } as cytoscape.Css.Edge,
      },
      { selector: 'edge[kind = "nat"]', style: { 'line-style': 'dashed', 'line-color': '#a679cf' } },
      {
        selector: 'edge[kind = "backend"]',
        style: { 'line-style': 'dotted', 'line-color': '#4aa8a0', 'target-arrow-shape': 'triangle', 'target-arrow-color': '#4aa8a0' },
      },
      { selector: 'edge[kind = "gateway"]', style: { width: 3, 'line-color': '#7fb07f' } },
    ],
  });
  cy.on('tap', 'node', (ev) => select(ev.target.data('raw') as TopoNode));
  cy.on('tap', (ev) => {
    if (ev.target === cy) select(null);
  });
}

function layout() {
  if (!cy) return;
  const roots = cy.nodes('[?external]').map((n) => n.id());
  cy.layout({
    name: 'breadthfirst',
    directed: true,
    roots: roots.length ? roots : undefined,
    spacingFactor: 1.05,
    padding: 20,
    animate: false,
  } as cytoscape.BreadthFirstLayoutOptions).run();
}

async function refresh() {
  if (!session) return;
  if (refreshing) {
    again = true;
    return;
  }
  refreshing = true;
  try {
    const topo = await api<Topology>('GET', `/api/topology?project=${encodeURIComponent(session.isAdmin ? view : session.project.id)}`);
    draw(topo);
  } catch (e) {
    if (!(e instanceof Expired)) el('counts').textContent = `error: ${(e as Error).message}`;
  } finally {
    refreshing = false;
    if (again) {
      again = false;
      void refresh();
    }
  }
}

function draw(t: Topology) {
  if (!cy) return;
  const ids = new Set([...t.nodes.map((n) => n.id), ...t.edges.map((e) => e.id)]);
  const before = new Set(cy.elements().map((e) => e.id()));
  const same = ids.size === before.size && [...ids].every((id) => before.has(id));
  cy.batch(() => {
    if (!same) {
      cy!.elements().remove();
      cy!.add([
        ...t.nodes.map((n) => ({
          group: 'nodes' as const,
          data: { id: n.id, kind: n.kind, label: n.label, status: n.status, external: !!n.external, raw: n },
        })),
        ...t.edges.map((e) => ({ group: 'edges' as const, data: { id: e.id, source: e.source, target: e.target, kind: e.kind, label: e.label ?? '' } })),
      ]);
    } else {
      for (const n of t.nodes) cy!.getElementById(n.id).data({ label: n.label, status: n.status, raw: n });
    }
  });
  if (!same) {
    layout();
    cy.fit(undefined, 30);
  }
  const s = t.summary;
  el('counts').textContent =
    `${s.portsDrawn} of ${s.ports} ports · ${s.serversDrawn} of ${s.servers} instances${s.hidden ? ` · ${s.hidden.toLocaleString('en-US')} ports summarised` : ''}`;
  if (selected) {
    const n = t.nodes.find((x) => x.id === selected!.id);
    if (n) select(n);
  }
  version++;
  document.body.dataset.version = String(version);
}

// ---------------------------------------------------------------- details and explain

function cell(v: unknown): string {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'object') return JSON.stringify(v, null, 1);
  return String(v);
}

function select(n: TopoNode | null) {
  selected = n;
  const box = el('details');
  if (!n) {
    box.innerHTML = '<p class="hint">Click anything for its details and IDs.</p>';
    return;
  }
  const table = document.createElement('table');
  table.className = 'kv';
  const rows: Array<[string, unknown]> = [['kind', n.kind], ['status', n.status], ...Object.entries(n.detail).filter(([k]) => k !== 'subnets_detail')];
  const subnets = n.detail.subnets_detail;
  if (Array.isArray(subnets))
    for (const sn of subnets as Array<Record<string, unknown>>)
      rows.push([`subnet ${sn.name || sn.cidr}`, { id: sn.id, cidr: sn.cidr, gateway_ip: sn.gateway_ip }]);
  for (const [k, v] of rows) {
    const tr = table.insertRow();
    tr.insertCell().textContent = k;
    tr.insertCell().textContent = cell(v);
  }
  const h = document.createElement('h2');
  h.textContent = n.label.split('\n')[0];
  box.replaceChildren(h, table);
}

function endpointId(n: TopoNode): string | null {
  if (['server', 'port', 'floatingip', 'loadbalancer'].includes(n.kind)) return n.id;
  return null;
}

function setEnd(which: 'from' | 'to') {
  if (!selected || !endpointId(selected)) {
    el(which).textContent = which === 'from' ? 'the internet (select an instance or port)' : 'select an instance, port, floating IP or load balancer';
    if (which === 'from') from = null;
    return;
  }
  if (which === 'from') from = selected;
  else to = selected;
  el(which).textContent = `${selected.kind} ${selected.label.split('\n')[0]}`;
}

async function runExplain() {
  const out = el('explain-out');
  if (!to) {
    out.textContent = 'Pick a destination first.';
    return;
  }
  const protocol = el<HTMLSelectElement>('protocol').value;
  const q = new URLSearchParams({ from: from ? from.id : 'internet', to: to.id, protocol });
  if (protocol !== 'icmp') q.set('port', el<HTMLInputElement>('port').value);
  out.textContent = 'asking…';
  try {
    const e = await api<Explanation>('GET', `/explain?${q}`);
    const frag = document.createDocumentFragment();
    const v = document.createElement('div');
    v.className = `verdict ${e.verdict}`;
    v.textContent = `${e.verdict.toUpperCase()}: ${e.reason}`;
    frag.append(v);
    if (e.fix) {
      const f = document.createElement('div');
      f.className = 'fix';
      f.textContent = `Fix: ${e.fix}`;
      frag.append(f);
    }
    const ol = document.createElement('ol');
    ol.className = 'hops';
    for (const h of e.hops) {
      const li = document.createElement('li');
      li.className = h.verdict;
      const what = document.createElement('span');
      what.className = 'what';
      what.textContent = `${h.step}: `;
      li.append(what, document.createTextNode(h.detail));
      ol.append(li);
    }
    frag.append(ol);
    if (e.probe) {
      const p = document.createElement('p');
      p.className = e.probe.agrees === false ? 'error' : 'hint';
      p.textContent = `Probe: ${e.probe.detail}${e.probe.agrees === true ? ' — the kernel agrees.' : ''}`;
      frag.append(p);
    }
    out.replaceChildren(frag);
  } catch (err) {
    if (!(err instanceof Expired)) out.textContent = (err as Error).message;
  }
}

// ---------------------------------------------------------------- start

declare global {
  interface Window {
    pocketstack: { nodes(): Array<{ id: string; kind: string; label: string; status: string }>; select(id: string): void };
  }
}
window.pocketstack = {
  nodes: () => (cy ? cy.nodes().map((n) => ({ id: n.id(), kind: n.data('kind'), label: n.data('label'), status: n.data('status') })) : []),
  select: (id: string) => {
    const n = cy?.getElementById(id);
    if (n?.nonempty()) {
      cy!.nodes().unselect();
      n.select();
      select(n.data('raw') as TopoNode);
    }
  },
};

el('login-form').addEventListener('submit', (ev) => void onLogin(ev as SubmitEvent));
el('logout').addEventListener('click', () => expire('Logged out.'));
el('fit').addEventListener('click', () => cy?.fit(undefined, 30));
el('project').addEventListener('change', () => void onProject().catch((e) => (el('counts').textContent = (e as Error).message)));
el('set-from').addEventListener('click', () => setEnd('from'));
el('set-to').addEventListener('click', () => setEnd('to'));
el('run-explain').addEventListener('click', () => void runExplain());

const stored = sessionStorage.getItem(KEY);
if (stored) {
  session = JSON.parse(stored) as Session;
  api('GET', '/api/session')
    .then(() => start())
    .catch(() => undefined);
} else {
  setState('login');
}
