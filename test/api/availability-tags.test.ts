import { beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, cloudForFile, tokenFor } from '../support/cloud.js';

const { tc, admin, demo } = await cloudForFile('network');
let adminToken: string;

beforeAll(async () => {
  adminToken = await tokenFor(tc, 'admin', ADMIN_PASSWORD);
});

describe('network-ip-availability', () => {
  it('counts pool sizes and allocations per subnet, exactly beyond 2^53', async () => {
    const net = (await admin.post('/v2.0/networks', { network: { name: 'avail' } })).body.network;
    const v4 = (await admin.post('/v2.0/subnets', { subnet: { network_id: net.id, cidr: '10.0.1.0/24', ip_version: 4, name: 'v4' } })).body.subnet;
    const v6 = (
      await admin.post('/v2.0/subnets', {
        subnet: { network_id: net.id, cidr: 'fd00:1::/64', ip_version: 6, name: 'v6', ipv6_address_mode: 'slaac', ipv6_ra_mode: 'slaac' },
      })
    ).body.subnet;
    await admin.post('/v2.0/ports', { port: { network_id: net.id } });
    await admin.post('/v2.0/ports', { port: { network_id: net.id } });

    // JSON.parse would round the IPv6 totals: read the text.
    const res = await tc.cloud.apps
      .get('network')!
      .inject({ method: 'GET', url: `/v2.0/network-ip-availabilities/${net.id}`, headers: { 'x-auth-token': adminToken } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const text = res.body;
    expect(text).toContain('"total_ips":18446744073709551615');
    expect(text).toContain('"total_ips":18446744073709551868');
    const body = JSON.parse(text.replace(/"total_ips":(\d+)/g, '"total_ips":"$1"'));
    body.network_ip_availability.subnet_ip_availability.sort((a: { ip_version: number }, b: { ip_version: number }) => a.ip_version - b.ip_version);
    expect(body.network_ip_availability).toEqual({
      network_id: net.id,
      network_name: 'avail',
      tenant_id: net.project_id,
      project_id: net.project_id,
      subnet_ip_availability: [
        { subnet_id: v4.id, ip_version: 4, cidr: '10.0.1.0/24', subnet_name: 'v4', used_ips: 2, total_ips: '253' },
        { subnet_id: v6.id, ip_version: 6, cidr: 'fd00:1::/64', subnet_name: 'v6', used_ips: 2, total_ips: '18446744073709551615' },
      ],
      used_ips: 4,
      total_ips: '18446744073709551868',
    });
  });

  it('filters by ip_version and is for admins only', async () => {
    const list = (await admin.get('/v2.0/network-ip-availabilities?ip_version=4')).body;
    for (const n of list.network_ip_availabilities) {
      for (const s of n.subnet_ip_availability) expect(s.ip_version).toBe(4);
    }
    expect((await demo.get('/v2.0/network-ip-availabilities')).body).toEqual({ network_ip_availabilities: [] });
    expect((await demo.get('/v2.0/network-ip-availabilities/whatever')).status).toBe(404);
    expect((await admin.get('/v2.0/network-ip-availabilities/00000000-0000-0000-0000-000000000000')).body.NeutronError.type).toBe('NetworkNotFound');
    expect((await admin.get('/v2.0/network-ip-availabilities?colour=red')).status).toBe(400);
  });
});

describe('tags', () => {
  it('tags networks, subnets, ports, routers, security groups and floating IPs, and filters by tag', async () => {
    const net = (await demo.post('/v2.0/networks', { network: { name: 'tagged' } })).body.network;
    const sub = (await demo.post('/v2.0/subnets', { subnet: { network_id: net.id, cidr: '10.7.0.0/24', ip_version: 4 } })).body.subnet;
    const port = (await demo.post('/v2.0/ports', { port: { network_id: net.id } })).body.port;
    const router = (await demo.post('/v2.0/routers', { router: { name: 'tr' } })).body.router;
    const sg = (await demo.post('/v2.0/security-groups', { security_group: { name: 'tsg' } })).body.security_group;
    const pub = (await demo.get('/v2.0/networks?name=public')).body.networks[0].id;
    const fip = (await demo.post('/v2.0/floatingips', { floatingip: { floating_network_id: pub } })).body.floatingip;
    for (const [coll, id] of [
      ['networks', net.id],
      ['subnets', sub.id],
      ['ports', port.id],
      ['routers', router.id],
      ['security-groups', sg.id],
      ['floatingips', fip.id],
    ]) {
      expect((await demo.put(`/v2.0/${coll}/${id}/tags/blue`)).status, coll).toBe(201);
      expect((await demo.get(`/v2.0/${coll}/${id}/tags`)).body, coll).toEqual({ tags: ['blue'] });
      expect((await demo.get(`/v2.0/${coll}/${id}/tags/blue`)).status, coll).toBe(204);
      const replaced = await demo.put(`/v2.0/${coll}/${id}/tags`, { tags: ['red', 'green'] });
      // In the order given, as Neutron answers a replace (test/fixtures/neutron-ext/tags.json).
      expect(replaced.body, coll).toEqual({ tags: ['red', 'green'] });
      const found = (await demo.get(`/v2.0/${coll}?tags=red,green`)).body[coll.replace(/-/g, '_')];
      expect(
        found.map((x: { id: string }) => x.id),
        coll,
      ).toEqual([id]);
      expect(
        (await demo.get(`/v2.0/${coll}?not-tags=red`)).body[coll.replace(/-/g, '_')].map((x: { id: string }) => x.id),
        coll,
      ).not.toContain(id);
      expect((await demo.delete(`/v2.0/${coll}/${id}/tags/red`)).status, coll).toBe(204);
      const missing = await demo.get(`/v2.0/${coll}/${id}/tags/red`);
      expect(missing.status, coll).toBe(404);
      expect(missing.body.NeutronError, coll).toEqual({ type: 'TagNotFound', message: 'Tag red could not be found.', detail: '' });
      expect((await demo.delete(`/v2.0/${coll}/${id}/tags`)).status, coll).toBe(204);
      expect((await demo.get(`/v2.0/${coll}/${id}`)).body[coll === 'security-groups' ? 'security_group' : coll.slice(0, -1)].tags, coll).toEqual([]);
    }
  });

  it('refuses bad tags and other projects resources', async () => {
    const net = (await admin.post('/v2.0/networks', { network: { name: 'admin-tagged' } })).body.network;
    expect((await demo.put(`/v2.0/networks/${net.id}/tags/x`)).status).toBe(404);
    const own = (await demo.post('/v2.0/networks', { network: { name: 't2' } })).body.network;
    const long = await demo.put(`/v2.0/networks/${own.id}/tags/${'x'.repeat(256)}`);
    expect(long.status).toBe(400);
    const notList = await demo.put(`/v2.0/networks/${own.id}/tags`, { tags: 'red' });
    expect(notList.status).toBe(400);
  });
});

describe('service providers', () => {
  it('lists the router driver this build runs, filterable, for any project', async () => {
    const res = await demo.get('/v2.0/service-providers');
    expect(res.status).toBe(200);
    // Neutron's driver controller registers dvrha, dvr, ha and single_node; DVR is not built here.
    expect(res.body).toEqual({
      service_providers: [
        { service_type: 'L3_ROUTER_NAT', name: 'ha', default: false },
        { service_type: 'L3_ROUTER_NAT', name: 'single_node', default: false },
      ],
    });
    expect((await demo.get('/v2.0/service-providers?service_type=LOADBALANCERV2')).body).toEqual({ service_providers: [] });
    expect((await demo.get('/v2.0/service-providers?fields=name')).body).toEqual({ service_providers: [{ name: 'ha' }, { name: 'single_node' }] });
    expect((await demo.post('/v2.0/service-providers', {})).status).toBe(405);
  });

  it('routes a router of an L3 flavor to its provider, refusing an ha flag the driver cannot serve', async () => {
    const driver = (name: string) => `neutron.services.l3_router.service_providers.${name}`;
    const flavorWith = async (d: string) => {
      const flavor = (await admin.post('/v2.0/flavors', { flavor: { name: `f-${d}`, service_type: 'L3_ROUTER_NAT' } })).body.flavor;
      const sp = await admin.post('/v2.0/service_profiles', { service_profile: { driver: driver(d) } });
      expect(sp.status).toBe(201);
      expect((await admin.post(`/v2.0/flavors/${flavor.id}/service_profiles`, { service_profile: { id: sp.body.service_profile.id } })).status).toBe(201);
      return flavor.id as string;
    };
    const ha = await flavorWith('ha.HaDriver');
    const single = await flavorWith('single_node.SingleNodeDriver');
    const refused = await admin.post('/v2.0/routers', { router: { name: 'r', flavor_id: ha, ha: false } });
    expect(refused.status).toBe(400);
    expect(refused.body.NeutronError).toMatchObject({ type: 'InvalidInput', message: 'Invalid input for operation: Provider ha does not support ha=False.' });
    const refused2 = await admin.post('/v2.0/routers', { router: { name: 'r', flavor_id: single, ha: true } });
    expect(refused2.body.NeutronError.message).toBe('Invalid input for operation: Provider single_node does not support ha=True.');
    const made = await admin.post('/v2.0/routers', { router: { name: 'r', flavor_id: ha, ha: true } });
    expect(made.status).toBe(201);
    expect(made.body.router).toMatchObject({ flavor_id: ha, ha: true });
    expect((await admin.post('/v2.0/service_profiles', { service_profile: { driver: driver('dvr.DvrDriver') } })).status).toBe(404);
  });
});
