import { describe, expect, it } from 'vitest';
import { Client, cloudForFile, serviceClients } from '../support/cloud.js';
import { makeSubnet, waitFor } from '../support/lb.js';

/**
 * Issue #14's defect classes, one test each, with the issue's own reproductions: each class is
 * fixed where it can be fixed once (the HTTP layer, the body parsers, the validators, the list
 * engines, the store), and each answer is the service's own status and error envelope.
 */

const { tc, admin: netAdmin, demo: netDemo } = await cloudForFile('network', { config: { lbEngine: 'builtin' } });
const nova = await serviceClients(tc, 'compute');
const lb = await serviceClients(tc, 'load-balancer');
const img = await serviceClients(tc, 'image');
const ks = await serviceClients(tc, 'identity');
const demoProject = (await netDemo.get('/v2.0/security-groups')).body.security_groups[0]?.project_id as string | undefined;

const neutronError = (r: { status: number; body: any }, status: number, type?: string) => {
  expect(r.status, JSON.stringify(r.body)).toBe(status);
  expect(Object.keys(r.body)).toEqual(['NeutronError']);
  if (type) expect(r.body.NeutronError.type).toBe(type);
};
const novaFault = (r: { status: number; body: any }, status: number, message?: string | RegExp) => {
  expect(r.status, JSON.stringify(r.body)).toBe(status);
  const [name] = Object.keys(r.body);
  expect(r.body[name].code).toBe(status);
  if (typeof message === 'string') expect(r.body[name].message).toBe(message);
  else if (message) expect(r.body[name].message).toMatch(message);
};
const octaviaFault = (r: { status: number; body: any }, status: number, text?: string | RegExp) => {
  expect(r.status, JSON.stringify(r.body)).toBe(status);
  expect(Object.keys(r.body)).toEqual(['faultcode', 'faultstring', 'debuginfo']);
  if (typeof text === 'string') expect(r.body.faultstring).toBe(text);
  else if (text) expect(r.body.faultstring).toMatch(text);
};

describe('issue #14 classes', () => {
  it('object-prototype names as keys or parameters are unknown names, never known ones', async () => {
    for (const p of ['valueOf', 'toString', 'constructor', '__proto__']) {
      neutronError(await netDemo.get(`/v2.0/ports?${p}=1`), 400, 'HTTPBadRequest');
    }
    for (const q of ['sort_key=constructor', 'sort_key=__proto__', 'sort_key=hasOwnProperty', 'sort=constructor:asc']) {
      octaviaFault(await lb.demo.get(`/v2/lbaas/loadbalancers?${q}`), 400);
    }
    octaviaFault(await lb.demo.get('/v2/lbaas/listeners?__proto__=x'), 400);
    // Nova: sort keys are an enum (schemas/flavors.py), so an unknown one is a 400 too.
    for (const k of ['valueOf', 'nonexistent']) {
      novaFault(await nova.demo.get(`/v2.1/flavors/detail?sort_key=${k}`), 400, /^Invalid input for query parameters sort_key\. Value: /);
    }
    expect((await nova.demo.get('/v2.1/flavors/detail?sort_key=name&sort_dir=desc')).status).toBe(200);
    for (const key of ['constructor', 'toString']) {
      novaFault(
        await nova.admin.put(`/v2.1/os-quota-sets/${demoProject}`, `{"quota_set":{"${key}":1}}`),
        400,
        `Invalid input for field/attribute quota_set. Value: {'${key}': 1}. Additional properties are not allowed ('${key}' was unexpected)`,
      );
    }
    // Keystone: a `__proto__` key is one more (ignored) attribute, not the object's prototype.
    const r = await ks.admin.post('/v3/projects', '{"project":{"name":"proto-p","__proto__":{"enabled":false}}}');
    expect(r.status).toBe(201);
    expect(r.body.project.enabled).toBe(true);
  });

  it('wrong JSON types never reach the store: the service answers 400 in its own format', async () => {
    const sg = (await netDemo.post('/v2.0/security-groups', { security_group: { name: 'types' } })).body.security_group.id;
    for (const v of [false, [{}], { a: 1 }]) {
      neutronError(
        await netDemo.post('/v2.0/security-group-rules', { security_group_rule: { security_group_id: sg, direction: 'ingress', remote_group_id: v } }),
        400,
      );
    }
    const n = (await netDemo.post('/v2.0/networks', { network: { name: 'types' } })).body.network.id;
    neutronError(await netAdmin.post('/v2.0/ports', { port: { network_id: n, 'binding:host_id': [] } }), 400);
    for (const body of ['"x"', '1', '[]', 'null', '{}']) {
      novaFault(await nova.admin.post('/v2.1/flavors/1/action', body), 400, 'Malformed request body');
    }
    const subnet = await makeSubnet(netDemo, '10.61.0.0/24', 'types-lb');
    const lbId = (await lb.demo.post('/v2/lbaas/loadbalancers', { loadbalancer: { vip_subnet_id: subnet.subnetId } })).body.loadbalancer.id;
    await waitFor(
      () => lb.demo.get(`/v2/lbaas/loadbalancers/${lbId}`),
      (x) => x.body.loadbalancer.provisioning_status === 'ACTIVE',
    );
    const pool = (await lb.demo.post('/v2/lbaas/pools', { pool: { loadbalancer_id: lbId, protocol: 'HTTP', lb_algorithm: 'ROUND_ROBIN' } })).body.pool.id;
    await waitFor(
      () => lb.demo.get(`/v2/lbaas/loadbalancers/${lbId}`),
      (x) => x.body.loadbalancer.provisioning_status === 'ACTIVE',
    );
    octaviaFault(await lb.demo.put(`/v2/lbaas/pools/${pool}/members`, { members: [null] }), 400, /Value should be a list without None items/);
    octaviaFault(await lb.demo.put(`/v2/lbaas/pools/${pool}`, { pool: { tags: ['a', null] } }), 400, /Value should be a list without None items/);
  });

  it('numbers and sizes: limits beyond 2^63, a parameter repeated a thousand times, a thousand tags', async () => {
    const r = await netDemo.get('/v2.0/networks?limit=9223372036854775807');
    expect(r.status).toBe(200);
    // Neutron's page links: a page shorter than the limit is the last, so only `previous`.
    expect(r.body.networks_links.map((l: { rel: string }) => l.rel)).toEqual(['previous']);
    expect((await netDemo.get('/v2.0/networks?limit=99999999999999999999999')).status).toBe(200);
    expect((await img.demo.get(`/v2/images?${Array(999).fill('x=1').join('&')}`)).status).toBe(200);
    expect((await img.demo.get(`/v2/images?${Array.from({ length: 999 }, (_, i) => `x=${i}`).join('&')}`)).status).toBe(200);
    const tags = Array.from({ length: 2000 }, (_, i) => `t${i}`).join(',');
    expect((await netDemo.get(`/v2.0/networks?tags=${tags}`)).status).toBe(200);
    expect((await netDemo.get(`/v2.0/networks?not-tags=${tags}`)).status).toBe(200);
    expect((await lb.demo.get(`/v2/lbaas/loadbalancers?tags=${tags}`)).status).toBe(200);
    expect((await netDemo.get(`/v2.0/networks?${Array(1000).fill('sort_key=name&sort_dir=asc').join('&')}`)).status).toBe(200);
  });

  it('JSON nested thousands deep is a 400 in the service’s format, on all five services', async () => {
    // (100,000 levels is 200 KB: over Nova's body limit, its 413; 20,000 stays under it.)
    for (const depth of [1001, 2600, 3000, 20_000]) {
      const deep = `${'['.repeat(depth)}${']'.repeat(depth)}`;
      neutronError(await netDemo.post('/v2.0/networks', `{"network": {"name": ${deep}}}`), 400, 'HTTPBadRequest');
      novaFault(await nova.demo.post('/v2.1/servers', `{"server": {"name": ${deep}}}`), 400, 'Malformed request body');
      const g = await img.demo.post('/v2/images', `{"name": ${deep}}`, { accept: 'application/json' });
      expect(g.status).toBe(400);
      expect(g.body.message).toMatch(/^Malformed JSON in request body\./);
      octaviaFault(await lb.demo.post('/v2/lbaas/loadbalancers', `{"loadbalancer": {"name": ${deep}}}`), 400, 'Request is not in valid JSON format');
      const k = await ks.admin.post('/v3/projects', `{"project": {"name": ${deep}}}`);
      expect(k.status).toBe(400);
      expect(k.body.error.code).toBe(400);
    }
    // Up to Python's recursion limit the value is judged, and its repr is in the message.
    const d = 900;
    const r = await netDemo.post('/v2.0/networks', `{"network": {"name": ${'['.repeat(d)}${']'.repeat(d)}}}`);
    neutronError(r, 400, 'HTTPBadRequest');
    expect(r.body.NeutronError.message).toMatch(/^Invalid input for name\. Reason: '\[\[\[/);
  });

  it('what the router refuses is answered in the service’s format (in process; fuzz-socket.test.ts checks the wire)', async () => {
    // Neutron: webob's 400 after keystonemiddleware (so a 401 without a token).
    neutronError(await netDemo.get('/v2.0/networks/%ff'), 400, 'HTTPBadRequest');
    expect((await new Client(tc.cloud.apps.get('network')!).get('/v2.0/networks/%ff')).status).toBe(401);
    // Keystone decodes the bad byte as U+FFFD and routes on (as Flask does).
    const k = await ks.admin.get('/v3/projects/%ff');
    expect(k.status).toBe(404);
    expect(k.body.error.message).toBe('Could not find project: \ufffd.');
    // An id of any length is the service's own 404 (the Python SDK then searches by name).
    const long = 'a'.repeat(600);
    neutronError(await netDemo.get(`/v2.0/networks/${long}`), 404, 'NetworkNotFound');
    novaFault(await nova.demo.get(`/v2.1/servers/${long}`), 404);
    octaviaFault(await lb.demo.get(`/v2/lbaas/loadbalancers/${long}`), 404);
    // A Host or X-Forwarded-Proto no URL can hold: links are still built.
    expect((await netDemo.get('/v2.0/networks?limit=1', { host: 'a b' })).status).toBe(200);
    expect((await lb.demo.get('/v2/lbaas/loadbalancers', { 'x-forwarded-proto': 'a b' })).status).toBe(200);
  });

  it('an L7 policy redirects only to a pool of its own load balancer and project (Octavia: 404 Pool … not found.)', async () => {
    const mk = async (c: Client, net: Client, cidr: string) => {
      const s = await makeSubnet(net, cidr, `l7-${cidr}`);
      const id = (await c.post('/v2/lbaas/loadbalancers', { loadbalancer: { vip_subnet_id: s.subnetId } })).body.loadbalancer.id;
      const settle = () =>
        waitFor(
          () => c.get(`/v2/lbaas/loadbalancers/${id}`),
          (x) => x.body.loadbalancer.provisioning_status === 'ACTIVE',
        );
      await settle();
      const listener = (await c.post('/v2/lbaas/listeners', { listener: { loadbalancer_id: id, protocol: 'HTTP', protocol_port: 80 } })).body.listener.id;
      await settle();
      const pool = (await c.post('/v2/lbaas/pools', { pool: { loadbalancer_id: id, protocol: 'HTTP', lb_algorithm: 'ROUND_ROBIN' } })).body.pool.id;
      await settle();
      return { id, listener, pool, settle };
    };
    const mine = await mk(lb.demo, netDemo, '10.62.0.0/24');
    const other = await mk(lb.demo, netDemo, '10.63.0.0/24');
    const foreign = await mk(lb.admin, netAdmin, '10.64.0.0/24');
    for (const pool of [other.pool, foreign.pool]) {
      octaviaFault(
        await lb.demo.post('/v2/lbaas/l7policies', { l7policy: { listener_id: mine.listener, action: 'REDIRECT_TO_POOL', redirect_pool_id: pool } }),
        404,
        `Pool ${pool} not found.`,
      );
    }
    const ok = await lb.demo.post('/v2/lbaas/l7policies', {
      l7policy: { listener_id: mine.listener, action: 'REDIRECT_TO_POOL', redirect_pool_id: mine.pool },
    });
    expect(ok.status).toBe(201);
    await mine.settle();
    octaviaFault(
      await lb.demo.put(`/v2/lbaas/l7policies/${ok.body.l7policy.id}`, { l7policy: { redirect_pool_id: foreign.pool } }),
      404,
      `Pool ${foreign.pool} not found.`,
    );
  });
});
