import { describe, expect, it } from 'vitest';
import { cloudForFile } from '../support/cloud.js';

const { admin, demo, anon } = await cloudForFile('network');

describe('networks', () => {
  it('creates a tenant network as Neutron does: vxlan, mtu 1450, revision 1, both project keys', async () => {
    const res = await admin.post('/v2.0/networks', { network: { name: 'net1' } });
    expect(res.status).toBe(201);
    const n = res.body.network;
    expect(n).toMatchObject({
      name: 'net1',
      admin_state_up: true,
      mtu: 1450,
      status: 'ACTIVE',
      subnets: [],
      shared: false,
      port_security_enabled: true,
      'router:external': false,
      'provider:network_type': 'vxlan',
      'provider:physical_network': null,
      availability_zone_hints: [],
      availability_zones: [],
      ipv4_address_scope: null,
      ipv6_address_scope: null,
      description: '',
      tags: [],
      revision_number: 1,
    });
    expect(n.project_id).toBe(n.tenant_id);
    expect(n['provider:segmentation_id']).toBeGreaterThanOrEqual(1);
    expect(n['provider:segmentation_id']).toBeLessThanOrEqual(1000);
    expect(n.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  it('shows a network as its list does: subnets in order, address scopes, segments, zones, QoS policy, sharing', async () => {
    // A show reads these with the network in one statement, a list in one statement per kind for
    // all its rows: the two must render the same object.
    const scope = (await admin.post('/v2.0/address-scopes', { address_scope: { name: 'show-scope', ip_version: 4 } })).body.address_scope;
    const pool = (
      await admin.post('/v2.0/subnetpools', {
        subnetpool: { name: 'show-pool', prefixes: ['10.212.0.0/16'], default_prefixlen: 24, address_scope_id: scope.id },
      })
    ).body.subnetpool;
    const policy = (await admin.post('/v2.0/qos/policies', { policy: { name: 'show-qos' } })).body.policy;
    const net = (
      await admin.post('/v2.0/networks', {
        network: {
          name: 'show-like-list',
          qos_policy_id: policy.id,
          segments: [
            { 'provider:network_type': 'vlan', 'provider:physical_network': 'physnet1', 'provider:segmentation_id': 152 },
            { 'provider:network_type': 'vxlan' },
          ],
        },
      })
    ).body.network;
    const segs = (await admin.get(`/v2.0/segments?network_id=${net.id}`)).body.segments as Array<{ id: string; network_type: string }>;
    const vlan = segs.find((s) => s.network_type === 'vlan')!;
    const vxlan = segs.find((s) => s.network_type === 'vxlan')!;
    // Subnets on segments: the network is not L2-adjacent (ML2 looks at the first only).
    const first = await admin.post('/v2.0/subnets', { subnet: { network_id: net.id, ip_version: 4, subnetpool_id: pool.id, segment_id: vlan.id } });
    expect(first.status).toBe(201);
    const second = await admin.post('/v2.0/subnets', { subnet: { network_id: net.id, ip_version: 6, cidr: 'fd00:212::/64', segment_id: vxlan.id } });
    expect(second.status).toBe(201);
    await admin.put(`/v2.0/networks/${net.id}/tags/blue`, undefined);
    const demoProject = (await demo.post('/v2.0/networks', { network: { name: 'demo-probe' } })).body.network.project_id;
    const grant = await admin.post('/v2.0/rbac-policies', {
      rbac_policy: { object_type: 'network', object_id: net.id, action: 'access_as_shared', target_tenant: demoProject },
    });
    expect(grant.status).toBe(201);

    for (const who of [admin, demo]) {
      const shown = (await who.get(`/v2.0/networks/${net.id}`)).body.network;
      const [listed] = (await who.get(`/v2.0/networks?id=${net.id}`)).body.networks;
      expect(shown).toEqual(listed);
    }
    const asAdmin = (await admin.get(`/v2.0/networks/${net.id}`)).body.network;
    expect(asAdmin).toMatchObject({
      ipv4_address_scope: scope.id,
      ipv6_address_scope: null,
      l2_adjacency: false,
      qos_policy_id: policy.id,
      tags: ['blue'],
      segments: [
        { 'provider:network_type': 'vlan', 'provider:physical_network': 'physnet1', 'provider:segmentation_id': 152 },
        { 'provider:network_type': 'vxlan', 'provider:physical_network': null, 'provider:segmentation_id': expect.any(Number) },
      ],
    });
    // In creation order, then by id within one second (both the same second here).
    expect([...asAdmin.subnets].sort()).toEqual([first.body.subnet.id, second.body.subnet.id].sort());
    expect(asAdmin).not.toHaveProperty('provider:network_type');
    const asDemo = (await demo.get(`/v2.0/networks/${net.id}`)).body.network;
    expect(asDemo.shared).toBe(true);
    expect(asDemo).not.toHaveProperty('segments');
  });

  it('hides provider attributes from members and refuses them admin-only attributes', async () => {
    const res = await demo.post('/v2.0/networks', { network: { name: 'demo-net' } });
    expect(res.status).toBe(201);
    expect(res.body.network).not.toHaveProperty('provider:network_type');
    const ext = await demo.post('/v2.0/networks', { network: { name: 'x', 'router:external': true } });
    expect(ext.status).toBe(403);
    expect(ext.body).toEqual({
      NeutronError: {
        type: 'PolicyNotAuthorized',
        message: '(rule:create_network and rule:create_network:router:external) is disallowed by policy',
        detail: '',
      },
    });
  });

  it('lets a member see the external public network but not another project network', async () => {
    const own = await admin.post('/v2.0/networks', { network: { name: 'admin-private' } });
    const list = await demo.get('/v2.0/networks');
    const names = list.body.networks.map((n: { name: string }) => n.name);
    expect(names).toContain('public');
    expect(names).not.toContain('admin-private');
    const show = await demo.get(`/v2.0/networks/${own.body.network.id}`);
    expect(show.status).toBe(404);
    expect(show.body.NeutronError.type).toBe('NetworkNotFound');
  });

  it('answers bad input with Neutron error bodies', async () => {
    expect((await admin.post('/v2.0/networks', { network: { name: 'x', colour: 'red' } })).body).toEqual({
      NeutronError: { type: 'HTTPBadRequest', message: "Unrecognized attribute(s) 'colour'", detail: '' },
    });
    const malformed = await admin.request('POST', '/v2.0/networks', '{"network":');
    expect(malformed.status).toBe(400);
    expect(malformed.body.NeutronError).toEqual({ type: 'HTTPBadRequest', message: 'Body contains invalid data', detail: '' });
    const wrong = await admin.post('/v2.0/networks', { network: { admin_state_up: 'maybe' } });
    expect(wrong.status).toBe(400);
    expect(wrong.body.NeutronError).toEqual({
      type: 'InvalidInput',
      message: "Invalid input for operation: 'maybe' cannot be converted to boolean.",
      detail: '',
    });
    const filter = await admin.get('/v2.0/ports?colour=red');
    expect(filter.status).toBe(400);
    expect(filter.body.NeutronError.message).toBe("['colour'] is invalid attribute for filtering");
    const missing = await admin.get('/v2.0/networks/00000000-0000-0000-0000-000000000000');
    expect(missing.status).toBe(404);
    expect(missing.body.NeutronError).toEqual({
      type: 'NetworkNotFound',
      message: 'Network 00000000-0000-0000-0000-000000000000 could not be found.',
      detail: '',
    });
    const unknown = await admin.get('/v2.0/widgets');
    expect(unknown.status).toBe(404);
    expect(unknown.body.NeutronError.type).toBe('HTTPNotFound');
    const patch = await admin.request('PATCH', `/v2.0/networks/${missing.body ? '00000000-0000-0000-0000-000000000000' : ''}`, { network: {} });
    expect(patch.status).toBe(405);
    expect(patch.body.NeutronError.type).toBe('HTTPMethodNotAllowed');
  });

  it('requires a token, with WWW-Authenticate on the 401', async () => {
    const res = await anon.get('/v2.0/networks');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^Keystone uri="http/);
    const bad = await anon.withToken('not-a-token').get('/v2.0/networks');
    expect(bad.status).toBe(401);
    expect((await anon.get('/')).status).toBe(200);
  });

  it('paginates with limit, marker and links, and sorts', async () => {
    for (const name of ['p-a', 'p-b', 'p-c']) await admin.post('/v2.0/networks', { network: { name } });
    const page1 = await admin.get('/v2.0/networks?limit=2&sort_key=name&sort_dir=asc&name=p-a&name=p-b&name=p-c');
    expect(page1.body.networks.map((n: { name: string }) => n.name)).toEqual(['p-a', 'p-b']);
    const next = page1.body.networks_links.find((l: { rel: string }) => l.rel === 'next').href as string;
    const page2 = await admin.get(next.replace(/^http:\/\/[^/]+/, ''));
    expect(page2.body.networks.map((n: { name: string }) => n.name)).toEqual(['p-c']);
    expect(page2.body.networks_links.map((l: { rel: string }) => l.rel)).toEqual(['previous']);
  });

  it('honours If-Match on revision numbers', async () => {
    const n = (await admin.post('/v2.0/networks', { network: { name: 'rev' } })).body.network;
    const stale = await admin.put(`/v2.0/networks/${n.id}`, { network: { name: 'rev2' } }, { 'if-match': 'revision_number=0' });
    expect(stale.status).toBe(412);
    expect(stale.body.NeutronError.type).toBe('RevisionNumberConstraintFailed');
    const ok = await admin.put(`/v2.0/networks/${n.id}`, { network: { name: 'rev2' } }, { 'if-match': `revision_number=${n.revision_number}` });
    expect(ok.status).toBe(200);
    expect(ok.body.network.revision_number).toBe(n.revision_number + 1);
  });
});
