import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_PORTS } from '../../src/server.js';
import { ADMIN_PASSWORD, type TestCloud, startCloud, tokenFor } from '../support/cloud.js';

/**
 * Long lists leave as bytes written into reused buffers (src/api/listbody.ts): over real
 * sockets, answers in flight at the same time must each arrive whole and exactly as the
 * serializer would have made them, names in any script included.
 */

let tc: TestCloud;
let token: string;
let base: string;
const NAMES = ['plain', 'pört', '日本語のポート', 'emoji 😀 port', 'quote " and \\ backslash', 'line\u2028separator', 'tab\tand\u0001control'];

beforeAll(async () => {
  tc = await startCloud({ listen: true });
  token = await tokenFor(tc, 'admin', ADMIN_PASSWORD);
  base = `http://127.0.0.1:${tc.config.ports[APP_PORTS.network]}`;
}, 60_000);
afterAll(async () => tc?.stop());

async function call(method: string, path: string, body?: unknown) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { 'x-auth-token': token, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, headers: res.headers, bytes: Buffer.from(await res.arrayBuffer()) };
}

/** The answer is JSON whose bytes are exactly what JSON.stringify makes of it, in UTF-8. */
function json(bytes: Buffer) {
  const value = JSON.parse(bytes.toString('utf8'));
  expect(bytes.equals(Buffer.from(JSON.stringify(value)))).toBe(true);
  return value;
}

describe('long list answers', () => {
  it('arrive whole and exact over sockets, several at once', async () => {
    const net = json((await call('POST', '/v2.0/networks', { network: { name: 'lists' } })).bytes).network.id;
    expect((await call('POST', '/v2.0/subnets', { subnet: { network_id: net, ip_version: 4, cidr: '10.77.0.0/16' } })).status).toBe(201);
    // A bulk create answers a long list too (201).
    const created = await call('POST', '/v2.0/ports', {
      ports: Array.from({ length: 140 }, (_, i) => ({ network_id: net, name: `${NAMES[i % NAMES.length]} ${i}` })),
    });
    expect(created.status).toBe(201);
    expect(created.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const made = json(created.bytes).ports as Array<{ id: string; name: string }>;
    expect(made.map((p) => p.name)).toEqual(Array.from({ length: 140 }, (_, i) => `${NAMES[i % NAMES.length]} ${i}`));

    // Wait for the noop data plane to have set every port ACTIVE, so that lists stop changing.
    const path = `/v2.0/ports?network_id=${net}`;
    for (let i = 0; i < 100; i++) {
      const ports = json((await call('GET', path)).bytes).ports as Array<{ status: string }>;
      if (ports.every((p) => p.status === 'ACTIVE')) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const queries = [path, `${path}&fields=id&fields=name`, `${path}&sort_key=name&sort_dir=desc`, `${path}&limit=100`];
    const alone = [];
    for (const q of queries) alone.push((await call('GET', q)).bytes);
    // Each list again, many at once: every answer is the same bytes as when it was alone.
    const together = await Promise.all(Array.from({ length: 12 }, (_, i) => call('GET', queries[i % queries.length])));
    for (const [i, res] of together.entries()) {
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(Number(res.headers.get('content-length'))).toBe(res.bytes.length);
      expect(res.bytes.equals(alone[i % queries.length])).toBe(true);
    }

    const full = json(alone[0]).ports as Array<{ id: string; name: string }>;
    expect(full).toHaveLength(140);
    // Each port in the list is the port a GET shows.
    for (const p of full.filter((_, i) => i % 20 === 0)) expect(json((await call('GET', `/v2.0/ports/${p.id}`)).bytes).port).toEqual(p);
    expect(json(alone[1]).ports[0]).toEqual({ id: full[0].id, name: full[0].name });
    const page = json(alone[3]);
    expect(page.ports).toHaveLength(100);
    expect(page.ports_links[0].rel).toBe('next');

    // HEAD answers the list's headers and no body.
    const head = await call('HEAD', path);
    expect(head.status).toBe(200);
    expect(head.bytes.length).toBe(0);
    expect(Number(head.headers.get('content-length'))).toBe(alone[0].length);
  });
});

describe('lists read a chunk at a time (NetworkService.listEach)', () => {
  it('answer every object once, in order, across chunk boundaries, with the pages and links of one read', async () => {
    const project = json((await call('GET', '/v2.0/networks?limit=1')).bytes).networks[0].project_id as string;
    expect((await call('PUT', `/v2.0/quotas/${project}`, { quota: { port: -1 } })).status).toBe(200);
    const net = json((await call('POST', '/v2.0/networks', { network: { name: 'chunks' } })).bytes).network.id as string;
    expect((await call('POST', '/v2.0/subnets', { subnet: { network_id: net, ip_version: 4, cidr: '10.78.0.0/16' } })).status).toBe(201);
    // 620 ports: more than two chunks of 250, the last one short.
    const ids: string[] = [];
    for (let b = 0; b < 4; b++) {
      const made = await call('POST', '/v2.0/ports', { ports: Array.from({ length: 155 }, (_, i) => ({ network_id: net, name: `c${(b * 155 + i) % 7}` })) });
      expect(made.status).toBe(201);
      for (const p of json(made.bytes).ports) ids.push(p.id);
    }
    const byId = [...ids].sort();
    const path = `/v2.0/ports?network_id=${net}`;
    const list = async (q: string) => json((await call('GET', `${path}${q}`)).bytes);

    const full = (await list('')).ports as Array<{ id: string; name: string; fixed_ips: unknown[] }>;
    expect(full.map((p) => p.id)).toEqual(byId);
    // Each chunk's objects are loaded whole: the ones on either side of a boundary are what a GET shows.
    for (const i of [0, 249, 250, 499, 500, 619]) expect(json((await call('GET', `/v2.0/ports/${full[i].id}`)).bytes).port).toEqual(full[i]);
    expect((await list('&fields=id')).ports).toEqual(byId.map((id) => ({ id })));
    expect((await list('&sort_key=id&sort_dir=desc')).ports.map((p: { id: string }) => p.id)).toEqual([...byId].reverse());
    // An order by another key is one read; the same objects, ordered by it and then by id.
    const byName = [...full].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id < b.id ? -1 : 1)).map((p) => p.id);
    expect((await list('&sort_key=name&sort_dir=asc')).ports.map((p: { id: string }) => p.id)).toEqual(byName);

    // Pages longer than a chunk, walked with the links the answers give.
    const walked: string[] = [];
    let next: string | undefined = '&limit=260';
    let pages = 0;
    while (next !== undefined) {
      const page = await list(next);
      pages++;
      const got = (page.ports as Array<{ id: string }>).map((p) => p.id);
      walked.push(...got);
      const link = (page.ports_links as Array<{ rel: string; href: string }>).find((l) => l.rel === 'next');
      expect(link !== undefined).toBe(got.length === 260);
      next = link ? `&${new URL(link.href).searchParams.toString().replace(/(^|&)network_id=[^&]*/, '')}`.replace('&&', '&') : undefined;
    }
    expect(pages).toBe(3);
    expect(walked).toEqual(byId);
    // page_reverse from the middle: the 260 before the marker, in order (one read).
    const back = await list(`&limit=260&marker=${byId[500]}&page_reverse=True`);
    expect(back.ports.map((p: { id: string }) => p.id)).toEqual(byId.slice(240, 500));
    // A marker and a limit of exactly one chunk, then of fewer than are left.
    expect((await list(`&limit=250&marker=${byId[9]}`)).ports.map((p: { id: string }) => p.id)).toEqual(byId.slice(10, 260));
    expect((await list(`&limit=1000&marker=${byId[9]}`)).ports.map((p: { id: string }) => p.id)).toEqual(byId.slice(10));
  });
});
