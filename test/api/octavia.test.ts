import { freeAddress } from '../support/addresses.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestCloud, startCloud } from '../support/cloud.js';
import { lbClients, makeSubnet, waitFor } from '../support/lb.js';

/**
 * The Octavia v2 API against the real Octavia's captured answers (reference/octavia/golden):
 * shapes, defaults, status transitions, and every refusal in Octavia's fault format.
 */
let tc: TestCloud;
let c: Awaited<ReturnType<typeof lbClients>>;
let subnet: { networkId: string; subnetId: string };
const NIL = '00000000-0000-4000-8000-000000000000';

beforeAll(async () => {
  tc = await startCloud({ config: { lbEngine: 'builtin' } });
  c = await lbClients(tc);
  subnet = await makeSubnet(c.net.demo);
});
afterAll(async () => tc?.stop());

const fault = (r: { status: number; body: any }, status: number, text: string | RegExp) => {
  expect(r.status).toBe(status);
  expect(Object.keys(r.body)).toEqual(['faultcode', 'faultstring', 'debuginfo']);
  expect(r.body.faultcode).toBe('Client');
  if (typeof text === 'string') expect(r.body.faultstring).toBe(text);
  else expect(r.body.faultstring).toMatch(text);
  expect(r.body.debuginfo).toBeNull();
};

const path = (p: string) => `/v2.0/lbaas/${p}`;
const get = (p: string) => c.demo.get(path(p));
const post = (p: string, b: unknown) => c.demo.post(path(p), b);
const put = (p: string, b: unknown) => c.demo.put(path(p), b);
const del = (p: string) => c.demo.delete(path(p));
const settle = (lbId: string) =>
  waitFor(
    () => get(`loadbalancers/${lbId}`),
    (r) => r.body.loadbalancer?.provisioning_status === 'ACTIVE',
  );

async function newLb(name = 'lb'): Promise<string> {
  const r = await post('loadbalancers', { loadbalancer: { name, vip_subnet_id: subnet.subnetId } });
  expect(r.status).toBe(201);
  await settle(r.body.loadbalancer.id);
  return r.body.loadbalancer.id;
}

/** Stop the engine so objects stay PENDING_* (what Octavia shows for about a minute). */
async function withEngineStopped<T>(fn: () => Promise<T>): Promise<T> {
  const engine = tc.cloud.services.lbEngine;
  await engine.stop();
  try {
    return await fn();
  } finally {
    await engine.start();
  }
}

describe('discovery', () => {
  it('lists API versions without a token, v2.26 current', async () => {
    const r = await c.anon.get('/');
    expect(r.status).toBe(200);
    expect(r.body.versions).toHaveLength(27);
    expect(r.body.versions.at(-1)).toMatchObject({ id: 'v2.26', status: 'CURRENT', updated: '2022-08-29T00:00:00Z' });
    expect((await c.anon.get('/v2')).body).toBe('v2');
  });

  it('answers 401 with WWW-Authenticate without a token', async () => {
    const r = await c.anon.get(path('loadbalancers'));
    expect(r.status).toBe(401);
    expect(r.headers['www-authenticate']).toMatch(/^Keystone uri=/);
  });

  it('answers unknown paths and methods the way pecan does', async () => {
    const nf = await get('nothing');
    expect(nf.status).toBe(404);
    expect(nf.body).toEqual({ code: 404, title: 'Not Found', description: '' });
    const lb = await newLb('methods');
    const na = await c.demo.request('PATCH', path(`loadbalancers/${lb}`), { loadbalancer: {} });
    expect(na.status).toBe(405);
    expect(na.body).toEqual({ code: 405, title: 'Method Not Allowed', description: '' });
  });

  it('lists providers, capabilities (admin), flavors and zones', async () => {
    const p = await get('providers');
    expect(p.body.providers.map((x: any) => x.name)).toEqual(['pocketstack', 'amphora', 'octavia']);
    expect((await get('providers?fields=name')).body.providers[0]).toEqual({ name: 'pocketstack' });
    fault(await get('providers/amphora/flavor_capabilities'), 403, 'Policy does not allow this request to be performed.');
    const caps = await c.admin.get(path('providers/amphora/flavor_capabilities'));
    expect(caps.body.flavor_capabilities.map((x: any) => x.name)).toEqual(['loadbalancer_topology', 'compute_flavor', 'amp_image_tag']);
    expect((await get('flavors')).body).toEqual({ flavors: [], flavors_links: [] });
    expect((await get('availabilityzones')).body).toEqual({ availability_zones: [], availability_zones_links: [] });
  });

  it('lists flavor profiles by id alone: they have no created_at to sort by (octavia-tempest test_flavor_profile_list)', async () => {
    const make = async (name: string) => {
      const r = await c.admin.post(path('flavorprofiles'), {
        flavorprofile: { name, provider_name: 'amphora', flavor_data: '{"loadbalancer_topology": "SINGLE"}' },
      });
      expect(r.status).toBe(201);
      return r.body.flavorprofile.id as string;
    };
    // One made a second before others, whose ids sort before its own: created_at order and id
    // order then differ.
    const first = await make('fp-order-first');
    await new Promise((r) => setTimeout(r, 1100));
    const later: string[] = [];
    while (!later.some((id) => id < first)) later.push(await make(`fp-order-${later.length}`));
    const listed = (await c.admin.get(path('flavorprofiles'))).body.flavorprofiles
      .filter((f: { name: string }) => f.name.startsWith('fp-order-'))
      .map((f: { id: string }) => f.id);
    expect(listed).toEqual([first, ...later].sort());
    fault(await c.admin.get(path('flavorprofiles?sort=created_at')), 400, /created_at/);
  });
});

describe('load balancers', () => {
  it('creates with Octavia’s shape and defaults, shows, lists, filters, pages', async () => {
    const r = await post('loadbalancers', { loadbalancer: { name: 'lb1', description: 'golden', vip_subnet_id: subnet.subnetId, tags: ['t1'] } });
    expect(r.status).toBe(201);
    const lb = r.body.loadbalancer;
    expect(Object.keys(lb)).toEqual([
      'listeners',
      'pools',
      'id',
      'name',
      'description',
      'provisioning_status',
      'operating_status',
      'admin_state_up',
      'project_id',
      'created_at',
      'updated_at',
      'vip_address',
      'vip_port_id',
      'vip_subnet_id',
      'vip_network_id',
      'additional_vips',
      'provider',
      'flavor_id',
      'vip_qos_policy_id',
      'tags',
      'availability_zone',
      'tenant_id',
    ]);
    expect(lb).toMatchObject({
      provisioning_status: 'PENDING_CREATE',
      operating_status: 'OFFLINE',
      provider: 'amphora',
      tags: ['t1'],
      updated_at: null,
      vip_network_id: subnet.networkId,
    });
    expect(lb.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/);
    await settle(lb.id);
    const shown = (await get(`loadbalancers/${lb.id}`)).body.loadbalancer;
    expect(shown.updated_at).not.toBeNull();
    expect((await get('loadbalancers?name=lb1')).body.loadbalancers.map((x: any) => x.id)).toEqual([lb.id]);
    expect((await get('loadbalancers?tags=t1')).body.loadbalancers.map((x: any) => x.id)).toEqual([lb.id]);
    expect((await get(`loadbalancers/${lb.id}?fields=id&fields=name`)).body.loadbalancer).toEqual({ id: lb.id, name: 'lb1' });
    fault(await get('loadbalancers?bogus=1'), 400, 'One or more arguments are either duplicate or invalid');
    await newLb('lb0');
    const page = await get('loadbalancers?limit=1&sort_key=name&sort_dir=asc');
    expect(page.body.loadbalancers).toHaveLength(1);
    const next = page.body.loadbalancers_links.find((l: any) => l.rel === 'next');
    expect(next.href).toMatch(/\/v2\.0\/lbaas\/loadbalancers\?limit=1&sort_key=name&marker=/);
    const page2 = await c.demo.get(new URL(next.href).pathname + new URL(next.href).search);
    expect(page2.body.loadbalancers[0].name > page.body.loadbalancers[0].name).toBe(true);
    expect(page2.body.loadbalancers_links.map((l: any) => l.rel)).toContain('previous');
  });

  it('refuses bad requests in Octavia’s words', async () => {
    fault(await c.demo.post(path('loadbalancers'), '{"loadbalancer": {"name": '), 400, 'Request is not in valid JSON format');
    fault(
      await post('loadbalancers', { name: 'x', vip_subnet_id: subnet.subnetId }),
      400,
      /^Unknown attributes for argument load_balancer: (name, vip_subnet_id|vip_subnet_id, name)$/,
    );
    fault(
      await post('loadbalancers', { loadbalancer: { vip_subnet_id: subnet.subnetId, bogus: 1 } }),
      400,
      'Unknown attribute for argument load_balancer.loadbalancer: bogus',
    );
    fault(
      await post('loadbalancers', { loadbalancer: { name: 'novip' } }),
      400,
      'Validation failure: VIP must contain one of: vip_port_id, vip_network_id, vip_subnet_id.',
    );
    fault(
      await post('loadbalancers', { loadbalancer: { vip_subnet_id: 'nope' } }),
      400,
      "Invalid input for field/attribute vip_subnet_id. Value: 'nope'. Value should be UUID format",
    );
    fault(await post('loadbalancers', { loadbalancer: { vip_subnet_id: subnet.subnetId, provider: 'nope' } }), 400, "Provider 'nope' is not enabled.");
    fault(await post('loadbalancers', { loadbalancer: { vip_subnet_id: NIL } }), 400, `Subnet ${NIL} not found.`);
    fault(await get(`loadbalancers/${NIL}`), 404, `Load Balancer ${NIL} not found.`);
    fault(await get('loadbalancers/not-a-uuid'), 404, 'Load Balancer not-a-uuid not found.');
  });

  it('refuses a VIP address outside its subnet or already in use, leaving nothing behind', async () => {
    const outside = await post('loadbalancers', { loadbalancer: { vip_subnet_id: subnet.subnetId, vip_address: '192.0.2.9' } });
    expect(outside.status).toBe(400);
    expect(outside.body.faultstring).toBe('IP address 192.0.2.9 is not a valid IP for the specified subnet.');
    const vip = await freeAddress(c.net.admin, subnet.networkId, '10.20.0');
    const first = await post('loadbalancers', { loadbalancer: { vip_subnet_id: subnet.subnetId, vip_address: vip } });
    expect(first.status).toBe(201);
    const before = (await get('loadbalancers')).body.loadbalancers.length;
    const taken = await post('loadbalancers', { loadbalancer: { vip_subnet_id: subnet.subnetId, vip_address: vip } });
    expect(taken.status).toBe(409);
    expect(taken.body.faultstring).toMatch(new RegExp(`IP address ${vip.replace(/\./g, '\\.')} already allocated in subnet`));
    expect((await get('loadbalancers')).body.loadbalancers.length).toBe(before);
  });

  it('refuses writes while pending (409) and deletes with cascade', async () => {
    const lb = await newLb('pending');
    await withEngineStopped(async () => {
      expect((await put(`loadbalancers/${lb}`, { loadbalancer: { name: 'x' } })).status).toBe(200);
      fault(await put(`loadbalancers/${lb}`, { loadbalancer: { description: 'again' } }), 409, `Invalid state PENDING_UPDATE of loadbalancer resource ${lb}`);
      fault(
        await post('listeners', { listener: { loadbalancer_id: lb, protocol: 'TCP', protocol_port: 81 } }),
        409,
        `Load Balancer ${lb} is immutable and cannot be updated.`,
      );
      fault(await del(`loadbalancers/${lb}`), 409, `Invalid state PENDING_UPDATE of loadbalancer resource ${lb}`);
    });
    await settle(lb);
    const l = await post('listeners', { listener: { loadbalancer_id: lb, protocol: 'HTTP', protocol_port: 8081 } });
    expect(l.status).toBe(201);
    await settle(lb);
    fault(await del(`loadbalancers/${lb}`), 400, `Validation failure: Cannot delete Load Balancer ${lb} - it has children`);
    const vip = (await get(`loadbalancers/${lb}`)).body.loadbalancer.vip_port_id;
    expect((await del(`loadbalancers/${lb}?cascade=True`)).status).toBe(204);
    await waitFor(
      () => get(`loadbalancers/${lb}`),
      (r) => r.status === 404,
    );
    fault(await get(`listeners/${l.body.listener.id}`), 404, `Listener ${l.body.listener.id} not found.`);
    expect((await c.net.demo.get(`/v2.0/ports/${vip}`)).status).toBe(404);
  });

  it('keeps projects apart: a foreign load balancer is refused, lists are scoped', async () => {
    const lb = await newLb('mine');
    // Admins act on every project's load balancers.
    expect((await c.admin.put(path(`loadbalancers/${lb}`), { loadbalancer: { name: 'renamed by admin' } })).status).toBe(200);
    await settle(lb);
    const adminNet = await makeSubnet(c.net.admin, '10.40.0.0/24', 'adminnet');
    const theirs = await c.admin.post(path('loadbalancers'), { loadbalancer: { name: 'theirs', vip_subnet_id: adminNet.subnetId } });
    expect(theirs.status).toBe(201);
    fault(await get(`loadbalancers/${theirs.body.loadbalancer.id}`), 403, 'Policy does not allow this request to be performed.');
    expect((await get('loadbalancers')).body.loadbalancers.map((x: any) => x.name)).not.toContain('theirs');
    fault(await post('loadbalancers', { loadbalancer: { vip_subnet_id: adminNet.subnetId } }), 400, `Subnet ${adminNet.subnetId} not found.`);
  });

  it('fails over (admins only) and shows the status tree and statistics', async () => {
    const lb = await newLb('tree');
    fault(await put(`loadbalancers/${lb}/failover`, {}), 403, 'Policy does not allow this request to be performed.');
    expect((await c.admin.put(path(`loadbalancers/${lb}/failover`), {})).status).toBe(202);
    await settle(lb);
    const tree = await get(`loadbalancers/${lb}/status`);
    expect(tree.body).toEqual({
      statuses: { loadbalancer: { id: lb, name: 'tree', operating_status: 'ONLINE', provisioning_status: 'ACTIVE', listeners: [] } },
    });
    expect((await get(`loadbalancers/${lb}/stats`)).body).toEqual({
      stats: { bytes_in: 0, bytes_out: 0, active_connections: 0, total_connections: 0, request_errors: 0 },
    });
  });
});

describe('listeners, pools, members, monitors, L7', () => {
  let lb: string;
  let listener: string;
  let pool: string;

  beforeAll(async () => {
    lb = await newLb('tree-lb');
  });

  it('creates a listener with Octavia’s defaults and refuses bad ports and duplicates', async () => {
    const r = await post('listeners', { listener: { name: 'l-http', loadbalancer_id: lb, protocol: 'HTTP', protocol_port: 80 } });
    expect(r.status).toBe(201);
    listener = r.body.listener.id;
    expect(r.body.listener).toMatchObject({
      connection_limit: -1,
      insert_headers: {},
      timeout_client_data: 50000,
      timeout_member_connect: 5000,
      timeout_member_data: 50000,
      timeout_tcp_inspect: 0,
      client_authentication: 'NONE',
      allowed_cidrs: null,
      sni_container_refs: [],
      loadbalancers: [{ id: lb }],
    });
    await settle(lb);
    fault(
      await post('listeners', { listener: { loadbalancer_id: lb, protocol: 'HTTP', protocol_port: 80 } }),
      409,
      'Another Listener on this Load Balancer is already using protocol HTTP and protocol_port 80',
    );
    fault(
      await post('listeners', { listener: { loadbalancer_id: lb, protocol: 'HTTP', protocol_port: 70000 } }),
      400,
      "Invalid input for field/attribute protocol_port. Value: '70000'. Value should be lower or equal to 65535",
    );
    fault(
      await post('listeners', { listener: { loadbalancer_id: lb, protocol: 'HTTP', protocol_port: 0 } }),
      400,
      "Invalid input for field/attribute protocol_port. Value: '0'. Value should be greater or equal to 1",
    );
    fault(
      await post('listeners', { listener: { loadbalancer_id: lb, protocol: 'FOO', protocol_port: 81 } }),
      400,
      /^Invalid input for field\/attribute protocol\. Value: 'FOO'\. Value should be one of: /,
    );
    fault(
      await post('listeners', { listener: { protocol: 'HTTP', protocol_port: 81 } }),
      400,
      "Invalid input for field/attribute loadbalancer_id. Value: 'None'. Mandatory field missing.",
    );
    fault(await post('listeners', { listener: { loadbalancer_id: NIL, protocol: 'HTTP', protocol_port: 81 } }), 404, `Load Balancer ${NIL} not found.`);
    fault(
      await post('listeners', { listener: { loadbalancer_id: lb, protocol: 'TCP', protocol_port: 82, insert_headers: { 'X-Forwarded-For': 'true' } } }),
      400,
      'insert-headers is not a valid option for a TCP protocol listener.',
    );
    // UDP shares the port with TCP-based listeners.
    const udp = await post('listeners', { listener: { loadbalancer_id: lb, protocol: 'UDP', protocol_port: 80 } });
    expect(udp.status).toBe(201);
    await settle(lb);
  });

  it('creates a pool as the listener’s default and refuses conflicts', async () => {
    const r = await post('pools', {
      pool: {
        name: 'pool1',
        listener_id: listener,
        protocol: 'HTTP',
        lb_algorithm: 'ROUND_ROBIN',
        session_persistence: { type: 'APP_COOKIE', cookie_name: 'sess' },
      },
    });
    expect(r.status).toBe(201);
    pool = r.body.pool.id;
    expect(r.body.pool.session_persistence).toEqual({ type: 'APP_COOKIE', cookie_name: 'sess', persistence_timeout: null, persistence_granularity: null });
    expect('healthmonitor_id' in r.body.pool).toBe(false);
    await settle(lb);
    expect((await get(`listeners/${listener}`)).body.listener.default_pool_id).toBe(pool);
    fault(
      await post('pools', { pool: { listener_id: listener, protocol: 'HTTP', lb_algorithm: 'ROUND_ROBIN' } }),
      409,
      'This listener already has a default pool',
    );
    fault(
      await post('pools', { pool: { loadbalancer_id: lb, protocol: 'HTTP', lb_algorithm: 'RANDOM' } }),
      400,
      /^Invalid input for field\/attribute lb_algorithm\. Value: 'RANDOM'\./,
    );
    fault(
      await post('pools', {
        pool: { loadbalancer_id: lb, protocol: 'HTTP', lb_algorithm: 'ROUND_ROBIN', session_persistence: { type: 'HTTP_COOKIE', cookie_name: 'x' } },
      }),
      400,
      'Validation failure: Field "cookie_name" can only be specified with session persistence of type "APP_COOKIE".',
    );
  });

  it('adds members, refuses duplicates, bad addresses and foreign subnets, batch-updates', async () => {
    const m = await post(`pools/${pool}/members`, { member: { name: 'm1', address: '192.0.2.10', protocol_port: 8080, weight: 5 } });
    expect(m.status).toBe(201);
    expect(m.body.member).toMatchObject({ operating_status: 'NO_MONITOR', provisioning_status: 'PENDING_CREATE', weight: 5, backup: false, subnet_id: null });
    await settle(lb);
    fault(
      await post(`pools/${pool}/members`, { member: { address: '192.0.2.10', protocol_port: 8080 } }),
      409,
      'Another member on this pool is already using ip 192.0.2.10 on protocol_port 8080',
    );
    fault(
      await post(`pools/${pool}/members`, { member: { address: 'not-an-ip', protocol_port: 8080 } }),
      400,
      "Invalid input for field/attribute address. Value: 'not-an-ip'. Value should be IPv4 or IPv6 format",
    );
    fault(
      await post(`pools/${pool}/members`, { member: { address: '10.20.0.5', protocol_port: 65536 } }),
      400,
      "Invalid input for field/attribute protocol_port. Value: '65536'. Value should be lower or equal to 65535",
    );
    fault(await post(`pools/${pool}/members`, { member: { address: '10.20.0.5', protocol_port: 80, subnet_id: NIL } }), 400, `Subnet ${NIL} not found.`);
    fault(
      await post(`pools/${pool}/members`, { member: { address: '192.0.2.5', protocol_port: 80, subnet_id: subnet.subnetId } }),
      400,
      `Validation failure: Member address 192.0.2.5 is not in the CIDR 10.20.0.0/24 of subnet ${subnet.subnetId}.`,
    );
    const batch = await c.demo.put(path(`pools/${pool}/members`), {
      members: [
        { name: 'm1', address: '192.0.2.10', protocol_port: 8080, weight: 10 },
        { name: 'm3', address: '192.0.2.12', protocol_port: 8080 },
      ],
    });
    expect(batch.status).toBe(202);
    expect(batch.body).toBeUndefined();
    await settle(lb);
    const list = (await get(`pools/${pool}/members`)).body.members;
    // Listed by creation time, then id: members made in the same second come in either order.
    expect(list.map((x: any) => [x.address, x.weight]).sort()).toEqual([
      ['192.0.2.10', 10],
      ['192.0.2.12', 1],
    ]);
  });

  it('adds a health monitor (timeout above delay is accepted, as in Octavia) and refuses a second one', async () => {
    const hm = await post('healthmonitors', { healthmonitor: { name: 'hm1', pool_id: pool, type: 'HTTP', delay: 3, timeout: 5, max_retries: 3 } });
    expect(hm.status).toBe(201);
    expect(hm.body.healthmonitor).toMatchObject({ http_method: 'GET', url_path: '/', expected_codes: '200', max_retries_down: 3, pools: [{ id: pool }] });
    await settle(lb);
    expect((await get(`healthmonitors/${hm.body.healthmonitor.id}`)).body.healthmonitor.operating_status).toBe('ONLINE');
    fault(
      await post('healthmonitors', { healthmonitor: { pool_id: pool, type: 'TCP', delay: 3, timeout: 3, max_retries: 3 } }),
      409,
      'This pool already has a health monitor',
    );
    fault(
      await post('healthmonitors', { healthmonitor: { pool_id: pool, type: 'HTTP', delay: -1, timeout: 3, max_retries: 3 } }),
      400,
      "Invalid input for field/attribute delay. Value: '-1'. Value should be greater or equal to 0",
    );
    fault(
      await post('healthmonitors', { healthmonitor: { pool_id: pool, type: 'TCP', delay: 3, timeout: 3, max_retries: 11 } }),
      400,
      "Invalid input for field/attribute max_retries. Value: '11'. Value should be lower or equal to 10",
    );
    expect((await get(`pools/${pool}`)).body.pool.healthmonitor_id).toBe(hm.body.healthmonitor.id);
  });

  it('creates L7 policies and rules in position order and refuses bad ones', async () => {
    const p1 = await post('l7policies', { l7policy: { name: 'p1', listener_id: listener, action: 'REDIRECT_TO_POOL', redirect_pool_id: pool, position: 1 } });
    expect(p1.status).toBe(201);
    await settle(lb);
    const p2 = await post('l7policies', { l7policy: { listener_id: listener, action: 'REJECT' } });
    expect(p2.body.l7policy.position).toBe(2);
    await settle(lb);
    const p0 = await post('l7policies', { l7policy: { listener_id: listener, action: 'REDIRECT_TO_URL', redirect_url: 'http://example.com/', position: 1 } });
    expect(p0.body.l7policy).toMatchObject({ position: 1, redirect_http_code: 302 });
    await settle(lb);
    expect((await get(`l7policies/${p1.body.l7policy.id}`)).body.l7policy.position).toBe(2);
    fault(
      await post('l7policies', { l7policy: { listener_id: listener, action: 'REDIRECT_TO_POOL' } }),
      400,
      'Invalid L7 Policy arguments: redirect_pool_id or redirect_pool must not be None',
    );
    const rule = await post(`l7policies/${p1.body.l7policy.id}/rules`, { rule: { type: 'PATH', compare_type: 'STARTS_WITH', value: '/api' } });
    expect(rule.status).toBe(201);
    await settle(lb);
    fault(
      await post(`l7policies/${p1.body.l7policy.id}/rules`, { rule: { type: 'HEADER', compare_type: 'EQUAL_TO', value: 'x' } }),
      400,
      'Error parsing L7Rule: Invalid L7 Rule: L7 rule type requires a key',
    );
    fault(
      await post(`l7policies/${p1.body.l7policy.id}/rules`, { rule: { type: 'PATH', compare_type: 'REGEX', value: '/api(' } }),
      400,
      /^Error parsing L7Rule: Unable to parse regular expression: /,
    );
    // A pool a policy redirects to cannot be deleted.
    fault(await del(`pools/${pool}`), 409, `Pool ${pool} is in use by L7 policy ${p1.body.l7policy.id}`);
    const tree = (await get(`loadbalancers/${lb}/status`)).body.statuses.loadbalancer;
    const l = tree.listeners.find((x: any) => x.id === listener);
    expect(l.pools[0]).toMatchObject({ id: pool, health_monitor: { type: 'HTTP' } });
    expect(l.pools[0].members).toHaveLength(2);
  });
});

describe('quotas', () => {
  it('shows defaults, lets admins set and reset them, and enforces them', async () => {
    expect((await get('quotas/defaults')).body.quota).toEqual({
      load_balancer: -1,
      listener: -1,
      member: -1,
      pool: -1,
      health_monitor: -1,
      l7policy: -1,
      l7rule: -1,
    });
    const project = (await c.demo.get(path('loadbalancers'))).body.loadbalancers[0].project_id;
    fault(await put(`quotas/${project}`, { quota: { loadbalancer: 1 } }), 403, 'Policy does not allow this request to be performed.');
    const set = await c.admin.put(path(`quotas/${project}`), { quota: { loadbalancer: 1, listener: -1 } });
    expect(set.status).toBe(202);
    expect(set.body.quota.load_balancer).toBe(1);
    const listed = (await c.admin.get(path('quotas'))).body.quotas.find((q: any) => q.project_id === project);
    expect(listed).toMatchObject({ loadbalancer: 1, load_balancer: 1, listener: -1, member: null });
    fault(await post('loadbalancers', { loadbalancer: { vip_subnet_id: subnet.subnetId } }), 403, 'Quota has been met for resources: Load Balancer');
    expect((await c.admin.delete(path(`quotas/${project}`))).status).toBe(202);
    expect((await get(`quotas/${project}`)).body.quota.load_balancer).toBe(-1);
  });
});
