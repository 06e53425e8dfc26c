import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routeTable } from '../../src/api/http.js';
import type { Fields } from '../../src/core/loadbalancer/wsme.js';
import * as octaviaSpecs from '../../src/core/loadbalancer/schemas.js';
import { Client, type TestCloud, startCloud } from '../support/cloud.js';
import { type Fixtures, makeFixtures } from '../support/fuzz/fixtures.js';
import { checkAnswer } from '../support/fuzz/oracle.js';
import { waitFor } from '../support/lb.js';

/**
 * Project isolation, generated from the route tables and the resource declarations: for every
 * route that names an object (every verb), a member of another project gets what the real
 * service answers (Neutron, Nova, Glance 404; Octavia 403 or 404); no list or filter shows
 * another project's object; and no create accepts one as a reference (every `…_id` attribute of
 * every Neutron resource and Octavia body, and Nova's server references).
 */

let tc: TestCloud;
let fx: Fixtures;
let alt: Record<string, Client>;
/** What `alt` owns, to fill a body's other references with. */
const mine = new Map<string, string>();

const SERVICES = ['network', 'compute', 'image', 'load-balancer'] as const;
/** What a member of another project gets for an object it does not own, by service. */
const FOREIGN: Record<(typeof SERVICES)[number], number[]> = { network: [404], compute: [404], image: [404], 'load-balancer': [403, 404] };

beforeAll(async () => {
  tc = await startCloud({ config: { lbEngine: 'builtin' } });
  fx = await makeFixtures(tc);
  alt = Object.fromEntries(['network', 'compute', 'image', 'load-balancer'].map((s) => [s, new Client(tc.cloud.apps.get(s)!, fx.tokens.alt)]));
  const net = (await alt.network.post('/v2.0/networks', { network: { name: 'alt' } })).body.network.id;
  const sub = (await alt.network.post('/v2.0/subnets', { subnet: { network_id: net, cidr: '10.88.0.0/24', ip_version: 4 } })).body.subnet.id;
  const sg = (await alt.network.post('/v2.0/security-groups', { security_group: { name: 'alt' } })).body.security_group.id;
  const lb = (await alt['load-balancer'].post('/v2/lbaas/loadbalancers', { loadbalancer: { vip_subnet_id: sub } })).body.loadbalancer.id;
  const settle = () =>
    waitFor(
      () => alt['load-balancer'].get(`/v2/lbaas/loadbalancers/${lb}`),
      (r) => r.body.loadbalancer.provisioning_status === 'ACTIVE',
    );
  await settle();
  const listener = (await alt['load-balancer'].post('/v2/lbaas/listeners', { listener: { loadbalancer_id: lb, protocol: 'HTTP', protocol_port: 80 } })).body
    .listener.id;
  await settle();
  const pool = (await alt['load-balancer'].post('/v2/lbaas/pools', { pool: { listener_id: listener, protocol: 'HTTP', lb_algorithm: 'ROUND_ROBIN' } })).body
    .pool.id;
  await settle();
  for (const [k, v] of Object.entries({ network: net, subnet: sub, security_group: sg, loadbalancer: lb, listener, pool })) mine.set(k, v);
}, 120_000);
afterAll(async () => tc?.stop());

/** Demo-owned ids for a parameter (by the path segment before it), or undefined when it names no object of demo's. */
function demoIds(before: string, name: string): string[] {
  return (fx.ids.get(before) ?? fx.ids.get(name) ?? []).filter((id) => fx.demoOwned.has(id));
}

/** Concrete paths of a route with every object parameter one of demo's objects (free parameters their first value). */
function demoPaths(service: string, pattern: string): string[] {
  if (pattern.includes('*')) return [];
  let patterns = [pattern];
  if (pattern.includes(':collection')) {
    patterns = tc.cloud.services.network.collections.filter((c) => !c.includes('/')).map((c) => pattern.replace(':collection', c));
    if (pattern.includes('/metering/')) patterns = ['metering-labels', 'metering-label-rules'].map((c) => pattern.replace(':collection', c));
    if (pattern.includes('/lb/')) return [];
  }
  const out: string[] = [];
  for (const p of patterns) {
    const segs = p.split('/');
    let objects = 0;
    let ok = true;
    const filled = segs.map((s, i) => {
      if (!s.startsWith(':')) return s;
      const ids = demoIds(segs[i - 1] ?? '', s.slice(1));
      if (ids.length) {
        objects++;
        return ids[0];
      }
      const free = fx.ids.get(segs[i - 1] ?? '') ?? fx.ids.get(s.slice(1)) ?? [];
      if (!free.length || free.some((x) => x.length >= 32)) ok = false;
      return free[0] ?? 'x';
    });
    if (ok && objects > 0) out.push(filled.join('/'));
  }
  void service;
  return out;
}

/** A body a member would send to this route of its own object (so only ownership can refuse it). */
function bodyFor(service: string, method: string, path: string): { body?: unknown; headers?: Record<string, string> } {
  const segs = path.split('/');
  if (service === 'image') {
    if (method === 'PATCH')
      return {
        body: JSON.stringify([{ op: 'replace', path: '/name', value: 'stolen' }]),
        headers: { 'content-type': 'application/openstack-images-v2.1-json-patch' },
      };
    if (path.endsWith('/file')) return { body: Buffer.from('x') };
    if (path.endsWith('/members')) return { body: { member: fx.projects.alt } };
    if (/\/members\/[^/]+$/.test(path)) return { body: { status: 'accepted' } };
    return {};
  }
  if (service === 'compute') {
    if (path.endsWith('/action')) return { body: { 'os-stop': null } };
    if (path.endsWith('/metadata')) return { body: { metadata: { a: 'b' } } };
    if (segs.at(-2) === 'metadata') return { body: { meta: { [segs.at(-1)!]: 'v' } } };
    if (path.endsWith('/tags')) return { body: { tags: ['x'] } };
    if (path.endsWith('/os-interface')) return { body: { interfaceAttachment: { net_id: mine.get('network') } } };
    if (segs.at(-2) === 'servers') return { body: { server: { name: 'stolen' } } };
    return {};
  }
  if (service === 'network') {
    if (path.endsWith('/tags')) return { body: { tags: ['x'] } };
    if (/_router_interface$/.test(path)) return { body: { subnet_id: mine.get('subnet') } };
    if (/_extraroutes$/.test(path)) return { body: { router: { routes: [] } } };
    const coll = segs[2] === 'metering' ? `metering/${segs[3]}` : segs[2];
    const def = tc.cloud.services.network.resource(coll)?.def;
    if (!def) return {};
    const attr = ['name', 'description'].find((a) => def.attrs[a]?.put);
    return { body: { [def.name]: attr ? { [attr]: 'stolen' } : {} } };
  }
  // Octavia: the root is the singular of the collection the id follows.
  const coll = segs.at(-1)!.includes('-') ? segs.at(-2)! : segs.at(-1)!;
  if (method === 'POST' && coll === 'members') return { body: { member: { address: '10.88.0.7', protocol_port: 80 } } };
  if (method === 'POST' && coll === 'rules') return { body: { rule: { type: 'PATH', compare_type: 'STARTS_WITH', value: '/x' } } };
  if (method === 'PUT' && coll === 'members') return { body: { members: [] } };
  const root = {
    loadbalancers: 'loadbalancer',
    listeners: 'listener',
    pools: 'pool',
    members: 'member',
    healthmonitors: 'healthmonitor',
    l7policies: 'l7policy',
    rules: 'rule',
  }[segs.at(-2)!];
  if (root === 'rule') return { body: { rule: { value: '/stolen' } } };
  return root ? { body: { [root]: { name: 'stolen' } } } : {};
}

describe.each(SERVICES)('%s', (service) => {
  it('answers another project’s member on every route that names an object, every verb', async () => {
    const app = tc.cloud.apps.get(service)!;
    const routes = [...routeTable(app).registered].filter((r) => /^(GET|HEAD|PUT|PATCH|POST|DELETE) /.test(r)).sort();
    let checked = 0;
    const owner = new Client(app, fx.tokens.demo);
    // Deletes last: the objects must be there for the other verbs.
    for (const route of [...routes.filter((r) => !r.startsWith('DELETE ')), ...routes.filter((r) => r.startsWith('DELETE '))]) {
      const [method, pattern] = route.split(' ');
      for (const path of demoPaths(service, pattern)) {
        const { body, headers } = method === 'GET' || method === 'HEAD' || method === 'DELETE' ? {} : bodyFor(service, method, path);
        // Only the verbs the route serves (its owner is not told 405 or 501); never delete as the owner.
        if (method !== 'DELETE') {
          const mineToo = await owner.request(method === 'GET' || method === 'HEAD' ? method : 'GET', path);
          if (mineToo.status === 405 || mineToo.status === 501) continue;
        }
        const r = await alt[service].request(method, path, body, headers);
        // 410: an API the service removed (Nova's os-consoles, …) is gone for everyone, owner or not.
        if (r.status === 405 || r.status === 501 || r.status === 410) continue;
        checked++;
        expect(FOREIGN[service], `${method} ${path}: ${r.status} ${String(JSON.stringify(r.body)).slice(0, 200)}`).toContain(r.status);
        if (method !== 'HEAD') {
          expect(
            checkAnswer(service, method, undefined, {
              status: r.status,
              headers: r.headers,
              body: typeof r.body === 'string' ? r.body : String(JSON.stringify(r.body)),
            }),
            `${method} ${path}`,
          ).toBeUndefined();
        }
      }
    }
    console.log(`isolation ${service}: ${checked} requests as another project's member`);
    expect(checked).toBeGreaterThan(10);
    // …and is still there (no foreign write went through).
    const own = new Client(app, fx.tokens.demo);
    for (const path of demoPaths(
      service,
      service === 'network' ? '/v2.0/:collection/:id' : routes.find((r) => r.startsWith('GET ') && /\/:id$/.test(r))!.slice(4),
    )) {
      const r = await own.get(path);
      if (r.status === 200) expect(JSON.stringify(r.body)).not.toContain('stolen');
    }
  });

  it('shows no object of another project in any list or filter', async () => {
    const app = tc.cloud.apps.get(service)!;
    const lists = [...routeTable(app).registered].filter((r) => r.startsWith('GET ') && !r.includes('*'));
    const paths = lists.flatMap((r) => {
      const p = r.slice(4);
      if (p.endsWith('/:collection')) return demoPaths(service, `${p}/:id`).map((x) => x.slice(0, x.lastIndexOf('/')));
      return p.includes(':') ? [] : [p];
    });
    const demo = [...fx.demoOwned];
    for (const path of [...new Set(paths)]) {
      for (const q of ['', `?id=${demo[0]}`, '?name=fz', `?tenant_id=${fx.projects.demo}`, `?project_id=${fx.projects.demo}`, `?owner=${fx.projects.demo}`]) {
        const r = await alt[service].get(`${path}${q}`);
        // The filter itself may come back in a link; what must not come back is an object.
        const text = JSON.stringify(r.body).replaceAll(q.slice(q.indexOf('=') + 1), '');
        for (const id of demo) expect(text.includes(id), `${path}${q} shows ${id}`).toBe(false);
      }
    }
  });
});

/** Fields of a declaration that name another object (`…_id`), with where demo has one. */
const refs = (names: string[]) => names.filter((n) => /_ids?$/.test(n) && n !== 'project_id' && n !== 'tenant_id');
const demoOf = (field: string): string | undefined => {
  const base = field.replace(/_ids?$/, '').replace(/^(vip|remote|default|redirect)_/, '');
  const kinds: Record<string, string> = {
    network: 'networks',
    subnet: 'subnets',
    port: 'ports',
    router: 'routers',
    security_group: 'security-groups',
    subnetpool: 'subnetpools',
    loadbalancer: 'loadbalancers',
    listener: 'listeners',
    pool: 'pools',
    healthmonitor: 'healthmonitors',
  };
  const ids = (fx.ids.get(kinds[base] ?? '') ?? []).filter((id) => fx.demoOwned.has(id));
  return ids[0];
};
/** A member's own values for the attributes a create requires. */
const own = (): Record<string, unknown> => ({
  network_id: mine.get('network'),
  subnet_id: mine.get('subnet'),
  security_group_id: mine.get('security_group'),
  loadbalancer_id: mine.get('loadbalancer'),
  listener_id: mine.get('listener'),
  pool_id: mine.get('pool'),
  vip_subnet_id: mine.get('subnet'),
  cidr: '10.88.1.0/24',
  ip_version: 4,
  direction: 'ingress',
  remote_ip_prefix: '10.0.0.0/8',
  prefixes: ['10.99.0.0/16'],
  name: 'alt',
  protocol: 'HTTP',
  protocol_port: 81,
  lb_algorithm: 'ROUND_ROBIN',
  type: 'HTTP',
  delay: 3,
  timeout: 3,
  max_retries: 3,
  action: 'REJECT',
  address: '10.88.0.9',
  compare_type: 'STARTS_WITH',
  value: '/x',
});

describe('references to another project’s objects are refused', () => {
  it('Neutron: every …_id attribute a create takes', async () => {
    let checked = 0;
    for (const coll of tc.cloud.services.network.collections) {
      const def = tc.cloud.services.network.resource(coll)!.def;
      const required = Object.entries(def.attrs).filter(([, a]) => a.post && a.default === undefined);
      for (const field of refs(
        Object.entries(def.attrs)
          .filter(([, a]) => a.post)
          .map(([n]) => n),
      )) {
        const foreign = demoOf(field);
        if (!foreign) continue;
        const values = own();
        const item: Record<string, unknown> = Object.fromEntries(required.map(([n]) => [n, values[n]]));
        item[field] = field.endsWith('_ids') ? [foreign] : foreign;
        if (field === 'remote_group_id') item.security_group_id = mine.get('security_group');
        const r = await alt.network.post(`/v2.0/${coll}`, { [def.name]: item });
        checked++;
        expect(r.status, `${coll} ${field}: ${JSON.stringify(r.body).slice(0, 200)}`).toBeGreaterThanOrEqual(400);
        expect(r.status, `${coll} ${field}`).toBeLessThan(500);
      }
    }
    expect(checked).toBeGreaterThanOrEqual(5);
  });

  it('Octavia: every …_id field of every create body', async () => {
    let checked = 0;
    const paths: Record<string, string> = {
      loadBalancerPost: 'loadbalancers',
      listenerPost: 'listeners',
      poolPost: 'pools',
      monitorPost: 'healthmonitors',
      l7policyPost: 'l7policies',
      memberPost: `pools/${mine.get('pool')}/members`,
    };
    const roots: Record<string, string> = {
      loadBalancerPost: 'loadbalancer',
      listenerPost: 'listener',
      poolPost: 'pool',
      monitorPost: 'healthmonitor',
      l7policyPost: 'l7policy',
      memberPost: 'member',
    };
    for (const [name, spec] of Object.entries(octaviaSpecs)) {
      if (!paths[name]) continue;
      const fields = spec as Fields;
      const required = Object.entries(fields)
        .filter(([, f]) => f.mandatory)
        .map(([n]) => n);
      for (const field of refs(Object.keys(fields))) {
        const foreign = demoOf(field);
        if (!foreign) continue;
        const values = own();
        const body: Record<string, unknown> = Object.fromEntries(required.map((n) => [n, values[n]]));
        if (name === 'poolPost' && field !== 'loadbalancer_id') body.listener_id ??= undefined;
        body[field] = foreign;
        if (field === 'redirect_pool_id') Object.assign(body, { action: 'REDIRECT_TO_POOL', listener_id: mine.get('listener') });
        if (name === 'poolPost' && field === 'listener_id') delete body.loadbalancer_id;
        if (name === 'poolPost' && field === 'loadbalancer_id') delete body.listener_id;
        const r = await alt['load-balancer'].post(`/v2/lbaas/${paths[name]}`, { [roots[name]]: body });
        checked++;
        // A foreign VIP subnet, network or port is Octavia's InvalidSubresource (400 "Port … not found.").
        expect([400, 403, 404], `${name} ${field}: ${JSON.stringify(r.body).slice(0, 200)}`).toContain(r.status);
        if (r.status === 400) expect(r.body.faultstring, `${name} ${field}`).toMatch(/not found\.$/);
      }
    }
    expect(checked).toBeGreaterThanOrEqual(5);
  });

  it('Nova: a server on another project’s network or port, with its image', async () => {
    const img = fx.ids.get('images')!.find((id) => fx.demoOwned.has(id))!;
    const net = demoOf('network_id')!;
    const port = demoOf('port_id')!;
    const V = { 'openstack-api-version': 'compute 2.46' };
    const cirros = fx.ids.get('images')!.find((id) => !fx.demoOwned.has(id))!;
    for (const server of [
      { networks: [{ uuid: net }], imageRef: cirros },
      { networks: [{ port }], imageRef: cirros },
      { networks: 'none', imageRef: img },
    ]) {
      const r = await alt.compute.post('/v2.1/servers', { server: { name: 'x', flavorRef: '1', ...server } }, V);
      expect(r.status, JSON.stringify(r.body).slice(0, 200)).toBeGreaterThanOrEqual(400);
      expect(r.status).toBeLessThan(500);
    }
  });
});
