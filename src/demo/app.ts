/**
 * The Fractal application, shipped with PocketStack in place of the tutorial's faafo (which
 * installs from the internet). One small Node program, three roles chosen by FRACTAL_ROLE, talking
 * as the tutorial's tiers do:
 *
 *   api     stores fractal jobs (`/v1/fractal`), hands them to workers (`POST /v1/queue`) and keeps
 *           the images they send back (`PUT /v1/fractal/<id>/image`); seeds a few jobs at start.
 *   worker  asks the API for work, computes the Mandelbrot image, encodes it as PNG (zlib), sends it.
 *   web     the UI: a gallery of the API's fractals with their images, and a form for a new one.
 *
 * It uses only Node's standard library, so an instance needs nothing but a `node` binary: the
 * host's today (user_data runs on the host's file system), the one in the image the demo builds
 * once instances have their own root file system. The user_data feeds this text to `node` on
 * stdin, so no file is written either way.
 */
export const FRACTAL_APP = String.raw`
import http from 'node:http';
import { deflateSync } from 'node:zlib';
import { randomUUID } from 'node:crypto';

const role = process.env.FRACTAL_ROLE;
const name = process.env.FRACTAL_NAME || role;
const api = process.env.FRACTAL_API || 'http://127.0.0.1';
const port = Number(process.env.FRACTAL_PORT || 80);
const log = (...a) => console.log(new Date().toISOString().slice(11, 19), name, ...a);

function send(res, status, type, body) {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'x-served-by': name });
  res.end(body);
}
const json = (res, status, v) => send(res, status, 'application/json', JSON.stringify(v));
const readBody = (req) => new Promise((ok, fail) => { const c = []; req.on('data', (d) => c.push(d)); req.on('end', () => ok(Buffer.concat(c))); req.on('error', fail); });

async function call(method, path, body, type = 'application/json') {
  const res = await fetch(api + path, { method, headers: body ? { 'content-type': type } : {}, body, signal: AbortSignal.timeout(5000) });
  return res;
}

// ------------------------------------------------------------------ PNG and Mandelbrot

const CRC = new Int32Array(256).map((_, n) => { let c = n; for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1; return c; });
function crc32(buf) { let c = -1; for (const b of buf) c = CRC[(c ^ b) & 255] ^ (c >>> 8); return (c ^ -1) >>> 0; }
function chunk(type, data) {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}
function png(width, height, rgb) {
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) { raw[y * (width * 3 + 1)] = 0; rgb.copy(raw, y * (width * 3 + 1) + 1, y * width * 3, (y + 1) * width * 3); }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0); ihdr.writeUInt32BE(height, 4); ihdr[8] = 8; ihdr[9] = 2;
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}
function mandelbrot(j) {
  const { width, height, iterations, xa, xb, ya, yb } = j;
  const rgb = Buffer.alloc(width * height * 3);
  for (let py = 0; py < height; py++) {
    for (let px = 0; px < width; px++) {
      const cx = xa + (xb - xa) * px / width, cy = ya + (yb - ya) * py / height;
      let x = 0, y = 0, i = 0;
      while (x * x + y * y <= 4 && i < iterations) { const t = x * x - y * y + cx; y = 2 * x * y + cy; x = t; i++; }
      const o = (py * width + px) * 3;
      if (i < iterations) {
        const s = i + 1 - Math.log2(Math.log2(Math.max(x * x + y * y, 1.0001)) / 2 + 1e-9);
        const t = Math.max(0, s) / iterations;
        rgb[o] = 255 * Math.min(1, 9 * (1 - t) * t ** 3 * 4);
        rgb[o + 1] = 255 * Math.min(1, 15 * (1 - t) ** 2 * t ** 2 * 3);
        rgb[o + 2] = 255 * Math.min(1, 8.5 * (1 - t) ** 3 * t * 2.5 + 0.15);
      }
    }
  }
  return png(width, height, rgb);
}

// ------------------------------------------------------------------ the API tier

function apiTier() {
  const jobs = new Map();
  const images = new Map();
  const create = (spec) => {
    const num = (v, d, lo, hi) => { const n = Number(v); return Number.isFinite(n) ? Math.min(hi, Math.max(lo, n)) : d; };
    const j = {
      uuid: randomUUID(), status: 'queued', created_at: new Date().toISOString(),
      width: Math.round(num(spec.width, 320, 16, 1024)), height: Math.round(num(spec.height, 240, 16, 1024)), iterations: Math.round(num(spec.iterations, 120, 10, 2000)),
      xa: num(spec.xa, -2.2, -4, 4), xb: num(spec.xb, 1, -4, 4), ya: num(spec.ya, -1.2, -4, 4), yb: num(spec.yb, 1.2, -4, 4),
      generated_by: null, duration_ms: null, claimed_at: 0,
    };
    jobs.set(j.uuid, j);
    return j;
  };
  const seeds = [
    {}, { xa: -0.8, xb: -0.7, ya: 0.05, yb: 0.125, iterations: 300 }, { xa: -1.8, xb: -1.7, ya: -0.04, yb: 0.035, iterations: 250 },
    { xa: -0.2, xb: 0.1, ya: -1.1, yb: -0.875, iterations: 300 }, { xa: 0.25, xb: 0.45, ya: -0.05, yb: 0.1, iterations: 300 }, { xa: -1.3, xb: -1.1, ya: 0.2, yb: 0.35, iterations: 200 },
  ];
  for (const s of seeds) create(s);
  http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url, 'http://x');
      const parts = url.pathname.split('/').filter(Boolean);
      if (req.method === 'GET' && url.pathname === '/') return json(res, 200, { service: 'fractal api', name, fractals: jobs.size });
      if (parts[0] !== 'v1') return json(res, 404, { error: 'not found' });
      if (parts[1] === 'fractal' && parts.length === 2 && req.method === 'GET') return json(res, 200, { objects: [...jobs.values()] });
      if (parts[1] === 'fractal' && parts.length === 2 && req.method === 'POST') {
        const body = await readBody(req);
        let spec = {};
        try { spec = JSON.parse(body.toString() || '{}'); } catch {}
        const j = create(spec);
        log('new fractal', j.uuid);
        return json(res, 201, j);
      }
      const j = parts[1] === 'fractal' ? jobs.get(parts[2]) : undefined;
      if (parts[1] === 'fractal' && !j) return json(res, 404, { error: 'no such fractal' });
      if (j && parts.length === 3 && req.method === 'GET') return json(res, 200, j);
      if (j && parts[3] === 'image' && req.method === 'GET') {
        const img = images.get(j.uuid);
        return img ? send(res, 200, 'image/png', img) : json(res, 404, { error: 'not computed yet' });
      }
      if (j && parts[3] === 'image' && req.method === 'PUT') {
        images.set(j.uuid, await readBody(req));
        Object.assign(j, { status: 'done', generated_by: req.headers['x-worker'] || null, duration_ms: Number(req.headers['x-duration-ms']) || null });
        log('fractal', j.uuid, 'done by', j.generated_by);
        return json(res, 200, j);
      }
      if (parts[1] === 'queue' && req.method === 'POST') {
        // The tutorial's message queue, as a claim: a job not finished in 30 s is handed out again.
        const now = Date.now();
        const next = [...jobs.values()].find((x) => x.status === 'queued' || (x.status === 'processing' && now - x.claimed_at > 30000));
        if (!next) { res.writeHead(204); return res.end(); }
        Object.assign(next, { status: 'processing', claimed_at: now });
        return json(res, 200, next);
      }
      return json(res, 405, { error: 'method not allowed' });
    } catch (e) { json(res, 500, { error: String(e) }); }
  }).listen(port, () => log('API listening on', port));
}

// ------------------------------------------------------------------ workers

async function workerTier() {
  log('worker asking', api, 'for fractals');
  for (;;) {
    try {
      const res = await call('POST', '/v1/queue');
      if (res.status === 200) {
        const j = await res.json();
        const started = Date.now();
        const img = mandelbrot(j);
        const ms = Date.now() - started;
        const put = await fetch(api + '/v1/fractal/' + j.uuid + '/image', { method: 'PUT', headers: { 'content-type': 'image/png', 'x-worker': name, 'x-duration-ms': String(ms) }, body: img, signal: AbortSignal.timeout(5000) });
        log('computed', j.uuid, j.width + 'x' + j.height, 'in', ms, 'ms:', put.status);
        continue;
      }
    } catch (e) { log('API not reachable yet:', e.cause?.code || e.message); }
    await new Promise((r) => setTimeout(r, 700));
  }
}

// ------------------------------------------------------------------ the web tier

const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

function webTier() {
  http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url, 'http://x');
      const m = /^\/fractal\/([0-9a-f-]{36})\.png$/.exec(url.pathname);
      if (req.method === 'GET' && m) {
        const r = await call('GET', '/v1/fractal/' + m[1] + '/image');
        const body = Buffer.from(await r.arrayBuffer());
        return send(res, r.status, r.headers.get('content-type') || 'application/octet-stream', body);
      }
      if (req.method === 'POST' && url.pathname === '/create') {
        const form = new URLSearchParams((await readBody(req)).toString());
        await call('POST', '/v1/fractal', JSON.stringify(Object.fromEntries(form)));
        res.writeHead(303, { location: '/' });
        return res.end();
      }
      if (req.method === 'GET' && url.pathname === '/api') {
        const r = await call('GET', '/v1/fractal');
        return send(res, r.status, 'application/json', await r.text());
      }
      if (req.method !== 'GET' || url.pathname !== '/') return send(res, 404, 'text/plain', 'not found\n');
      const list = (await (await call('GET', '/v1/fractal')).json()).objects;
      const cards = list.map((j) => '<figure>' + (j.status === 'done' ? '<img src="/fractal/' + j.uuid + '.png" width="' + j.width + '" height="' + j.height + '" alt="fractal ' + j.uuid + '">' : '<div class="wait">' + esc(j.status) + '…</div>') +
        '<figcaption>' + esc(j.uuid.slice(0, 8)) + ' · ' + j.width + '×' + j.height + ' · ' + j.iterations + ' it.' + (j.generated_by ? ' · by ' + esc(j.generated_by) + ' in ' + j.duration_ms + ' ms' : '') + '</figcaption></figure>').join('');
      send(res, 200, 'text/html; charset=utf-8', '<!doctype html><meta charset="utf-8"><title>Fractals</title>' +
        '<style>body{font:14px system-ui,sans-serif;margin:20px;background:#111;color:#eee}figure{display:inline-block;margin:8px;vertical-align:top}img,.wait{display:block;width:320px;height:240px;object-fit:cover;background:#222}.wait{line-height:240px;text-align:center;color:#888}figcaption{font-size:12px;color:#aaa}</style>' +
        '<h1>Fractals</h1><p>Served by ' + esc(name) + ' · ' + list.filter((j) => j.status === 'done').length + ' of ' + list.length + ' computed by the workers</p>' +
        '<form method="post" action="/create">x <input name="xa" value="-2.2" size="5">…<input name="xb" value="1" size="5"> y <input name="ya" value="-1.2" size="5">…<input name="yb" value="1.2" size="5"> iterations <input name="iterations" value="200" size="5"> <button>New fractal</button></form>' + cards);
    } catch (e) { send(res, 502, 'text/plain', 'the API tier does not answer: ' + String(e.cause?.code || e.message) + '\n'); }
  }).listen(port, () => log('web UI listening on', port, 'with the API at', api));
}

if (role === 'api') apiTier();
else if (role === 'worker') workerTier();
else if (role === 'web') webTier();
else { console.error('FRACTAL_ROLE must be api, worker or web'); process.exit(2); }
`;

/** The user_data of one tier: the program on stdin of whichever `node` the instance has. */
export function tierUserData(role: 'api' | 'worker' | 'web', name: string, apiUrl: string): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return [
    '#!/bin/sh',
    `# The Fractal app's ${role} tier (PocketStack's stand-in for the tutorial's faafo ${role}).`,
    `export FRACTAL_ROLE=${role} FRACTAL_NAME=${q(name)} FRACTAL_API=${q(apiUrl)} FRACTAL_PORT=80`,
    'node=',
    'for n in /usr/local/bin/node /usr/bin/node /opt/fractal/node; do [ -x "$n" ] && node=$n && break; done',
    '[ -n "$node" ] || { echo "fractal: no node binary in this instance"; exit 1; }',
    `echo "fractal ${role} ${name} starting as $(id -un) with $node"`,
    'exec "$node" --input-type=module - <<\'FRACTAL_APP\'',
    FRACTAL_APP.trim(),
    'FRACTAL_APP',
    '',
  ].join('\n');
}
