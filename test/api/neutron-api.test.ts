import { describe, expect, it } from 'vitest';
import { cloudForFile } from '../support/cloud.js';

const { tc, admin, demo, anon } = await cloudForFile('network');

describe('Neutron API surface', () => {
  it('serves version discovery and the v2.0 resource list without a token', async () => {
    const root = await anon.get('/');
    expect(root.body.versions[0]).toMatchObject({ id: 'v2.0', status: 'CURRENT' });
    expect(root.body.versions[0].links[0].href).toMatch(/^http:\/\/.+\/v2\.0\/$/);
    const v2 = await anon.get('/v2.0/');
    // Subnet pools are served, so the root lists them as real Neutron's does (golden v2-root).
    expect(v2.body.resources.map((r: { collection: string }) => r.collection)).toEqual(['networks', 'subnets', 'subnetpools', 'ports']);
  });

  it('lists exactly the extensions it implements, each with its metadata', async () => {
    const list = await demo.get('/v2.0/extensions');
    const aliases = list.body.extensions.map((e: { alias: string }) => e.alias);
    expect(aliases).toContain('security-group');
    expect(aliases).toContain('revision-if-match');
    expect(aliases).toContain('qos');
    expect(aliases).not.toContain('bgpvpn');
    for (const e of list.body.extensions) expect(Object.keys(e).sort()).toEqual(['alias', 'description', 'links', 'name', 'updated']);
    expect((await demo.get('/v2.0/extensions/security-group')).body.extension.name).toBe('security-group');
    const absent = await demo.get('/v2.0/extensions/bgpvpn');
    expect(absent.status).toBe(404);
    expect(absent.body.NeutronError.type).toBe('HTTPNotFound');
  });

  it('treats a repeated filter as OR and returns only the requested fields', async () => {
    for (const n of ['f-a', 'f-b', 'f-c']) await demo.post('/v2.0/networks', { network: { name: n } });
    const res = await demo.get('/v2.0/networks?name=f-a&name=f-c&fields=name&fields=id');
    expect(res.body.networks.map((n: { name: string }) => n.name).sort()).toEqual(['f-a', 'f-c']);
    for (const n of res.body.networks) expect(Object.keys(n).sort()).toEqual(['id', 'name']);
    const ext = await demo.get('/v2.0/networks?router:external=True');
    expect(ext.body.networks.map((n: { name: string }) => n.name)).toEqual(['public']);
    const bad = await demo.get('/v2.0/networks?admin_state_up=perhaps');
    expect(bad.status).toBe(400);
    expect(bad.body.NeutronError.message).toBe("Invalid input for operation: 'perhaps' cannot be converted to boolean.");
    const sortBad = await demo.get('/v2.0/networks?sort_key=subnets&sort_dir=asc');
    expect(sortBad.body.NeutronError.message).toBe("['subnets'] is invalid attribute for sort_keys");
    const limitBad = await demo.get('/v2.0/networks?limit=-1');
    expect(limitBad.status).toBe(400);
  });

  it('knows only its own attribute names: a name every JavaScript object has is still unknown', async () => {
    const filter = await demo.get('/v2.0/ports?constructor=1');
    expect(filter.status).toBe(400);
    expect(filter.body.NeutronError.message).toBe("['constructor'] is invalid attribute for filtering");
    const sort = await demo.get('/v2.0/networks?sort_key=toString&sort_dir=asc');
    expect(sort.body.NeutronError.message).toBe("['toString'] is invalid attribute for sort_keys");
    const create = await demo.post('/v2.0/networks', { network: { name: 'proto', constructor: 1 } });
    expect(create.status).toBe(400);
    expect(create.body.NeutronError.message).toBe("Unrecognized attribute(s) 'constructor'");
    const fixedIps = await demo.get('/v2.0/ports?fixed_ips=constructor%3D1');
    expect(fixedIps.status).toBe(400);
    const quota = await admin.put('/v2.0/quotas/some-project', { quota: { toString: 5 } });
    expect(quota.body.NeutronError.message).toBe("Unrecognized attribute(s) 'toString'");
  });

  it('filters on tags, tags-any, not-tags and not-tags-any', async () => {
    const mk = async (name: string, tags: string[]) => {
      const n = (await demo.post('/v2.0/networks', { network: { name } })).body.network;
      expect((await demo.put(`/v2.0/networks/${n.id}/tags`, { tags })).status).toBe(200);
      return n.id as string;
    };
    await mk('t-red', ['red']);
    await mk('t-redblue', ['red', 'blue']);
    await mk('t-none', []);
    const names = async (q: string) =>
      (await demo.get(`/v2.0/networks?${q}&name=t-red&name=t-redblue&name=t-none`)).body.networks.map((n: { name: string }) => n.name).sort();
    expect(await names('tags=red,blue')).toEqual(['t-redblue']);
    expect(await names('tags-any=blue,red')).toEqual(['t-red', 't-redblue']);
    expect(await names('not-tags=red,blue')).toEqual(['t-none', 't-red']);
    expect(await names('not-tags-any=blue')).toEqual(['t-none', 't-red']);
  });

  it('manages tags one by one with Neutron statuses', async () => {
    const n = (await demo.post('/v2.0/networks', { network: { name: 'tagged' } })).body.network;
    expect((await demo.put(`/v2.0/networks/${n.id}/tags/blue`)).status).toBe(201);
    expect((await demo.get(`/v2.0/networks/${n.id}/tags/blue`)).status).toBe(204);
    expect((await demo.get(`/v2.0/networks/${n.id}/tags/green`)).status).toBe(404);
    expect((await demo.get(`/v2.0/networks/${n.id}/tags`)).body).toEqual({ tags: ['blue'] });
    const shown = (await demo.get(`/v2.0/networks/${n.id}`)).body.network;
    expect(shown.tags).toEqual(['blue']);
    expect(shown.revision_number).toBeGreaterThan(n.revision_number);
    expect((await demo.delete(`/v2.0/networks/${n.id}/tags/blue`)).status).toBe(204);
    expect((await demo.delete(`/v2.0/networks/${n.id}/tags/blue`)).status).toBe(404);
    const tooLong = await demo.put(`/v2.0/networks/${n.id}/tags`, { tags: ['x'.repeat(256)] });
    expect(tooLong.status).toBe(400);
  });

  it('creates networks in bulk, all or nothing', async () => {
    const ok = await demo.post('/v2.0/networks', { networks: [{ name: 'bulk1' }, { name: 'bulk2' }] });
    expect(ok.status).toBe(201);
    expect(ok.body.networks.map((n: { name: string }) => n.name)).toEqual(['bulk1', 'bulk2']);
    const bad = await demo.post('/v2.0/networks', { networks: [{ name: 'bulk3' }, { name: 'bulk4', colour: 'red' }] });
    expect(bad.status).toBe(400);
    expect((await demo.get('/v2.0/networks?name=bulk3')).body.networks).toEqual([]);
  });

  it('lets admins act for other projects and refuses members doing so', async () => {
    const demoProject = (await demo.get('/v2.0/networks?name=bulk1')).body.networks[0].project_id;
    const forDemo = await admin.post('/v2.0/networks', { network: { name: 'given', project_id: demoProject } });
    expect(forDemo.status).toBe(201);
    expect(forDemo.body.network.tenant_id).toBe(demoProject);
    expect((await demo.get(`/v2.0/networks/${forDemo.body.network.id}`)).status).toBe(200);
    const adminProject = (await admin.get('/v2.0/networks?name=public')).body.networks[0].project_id;
    const refused = await demo.post('/v2.0/networks', { network: { name: 'x', tenant_id: adminProject } });
    expect(refused.status).toBe(400);
    expect(refused.body.NeutronError.message).toBe(
      "Specifying 'project_id' or 'tenant_id' other than the authenticated project in request requires admin privileges",
    );
    const mismatch = await admin.post('/v2.0/networks', { network: { name: 'x', tenant_id: 'a', project_id: 'b' } });
    expect(mismatch.body.NeutronError.message).toBe("'project_id' and 'tenant_id' do not match");
  });

  it('refuses read-only attributes, bodies without the resource key, and bodies over 1 MiB', async () => {
    const n = (await demo.post('/v2.0/networks', { network: { name: 'ro' } })).body.network;
    const status = await demo.put(`/v2.0/networks/${n.id}`, { network: { status: 'DOWN' } });
    expect(status.body.NeutronError.message).toBe('Cannot update read-only attribute status');
    const post = await demo.post('/v2.0/networks', { network: { status: 'DOWN' } });
    expect(post.body.NeutronError.message).toBe("Attribute 'status' not allowed in POST");
    const nokey = await demo.post('/v2.0/networks', { net: {} });
    expect(nokey.body.NeutronError.message).toBe("Unable to find 'network' in request body");
    const huge = await demo.post('/v2.0/networks', { network: { name: 'x', description: 'y'.repeat(1024 * 1024 + 10) } });
    expect(huge.status).toBe(413);
    expect(huge.body.NeutronError.type).toBe('RequestEntityTooLarge');
    const delBody = await demo.request('DELETE', `/v2.0/networks/${n.id}`, { network: {} });
    expect(delBody.status).toBe(400);
    expect(delBody.body.NeutronError.message).toBe('Request body is not supported in DELETE.');
  });

  it('answers 404 with the resource type for unknown or malformed ids', async () => {
    const res = await demo.get('/v2.0/ports/not-a-uuid');
    expect(res.body).toEqual({ NeutronError: { type: 'PortNotFound', message: 'Port not-a-uuid could not be found.', detail: '' } });
    expect((await demo.get('/v2.0/subnets/nope')).body.NeutronError.type).toBe('SubnetNotFound');
  });

  it('answers an unexpected failure with a 500 and a request id, never a stack trace', async () => {
    const svc = tc.cloud.services.network;
    const original = svc.show.bind(svc);
    svc.show = async () => {
      throw new Error('simulated database failure at /secret/path');
    };
    try {
      const res = await demo.get('/v2.0/networks/00000000-0000-0000-0000-000000000000');
      expect(res.status).toBe(500);
      expect(JSON.stringify(res.body)).not.toContain('secret');
      expect(res.body.NeutronError.message).toMatch(/internal server error/);
      expect(res.headers['x-openstack-request-id']).toMatch(/^req-[0-9a-f-]{36}$/);
    } finally {
      svc.show = original;
    }
  });

  it('deletes a network with its subnets and gives its segment back', async () => {
    const n = (await admin.post('/v2.0/networks', { network: { name: 'gone', 'provider:network_type': 'vxlan', 'provider:segmentation_id': 4242 } })).body
      .network;
    expect(n['provider:segmentation_id']).toBe(4242);
    const clash = await admin.post('/v2.0/networks', { network: { name: 'clash', 'provider:network_type': 'vxlan', 'provider:segmentation_id': 4242 } });
    expect(clash.status).toBe(409);
    expect(clash.body.NeutronError).toEqual({ type: 'TunnelIdInUse', message: 'Unable to create the network. The tunnel ID 4242 is in use.', detail: '' });
    const s = (await admin.post('/v2.0/subnets', { subnet: { network_id: n.id, ip_version: 4, cidr: '10.70.0.0/24' } })).body.subnet;
    expect((await admin.delete(`/v2.0/networks/${n.id}`)).status).toBe(204);
    expect((await admin.get(`/v2.0/subnets/${s.id}`)).status).toBe(404);
    const again = await admin.post('/v2.0/networks', { network: { name: 'again', 'provider:network_type': 'vxlan', 'provider:segmentation_id': 4242 } });
    expect(again.status).toBe(201);
  });

  it('validates provider networks as ML2 does', async () => {
    const flat = await admin.post('/v2.0/networks', { network: { name: 'f', 'provider:network_type': 'flat' } });
    expect(flat.body.NeutronError.message).toBe('Invalid input for operation: physical_network required for flat provider network.');
    const inUse = await admin.post('/v2.0/networks', { network: { name: 'f', 'provider:network_type': 'flat', 'provider:physical_network': 'public' } });
    expect(inUse.status).toBe(409);
    expect(inUse.body.NeutronError.type).toBe('FlatNetworkInUse');
    const vlan = await admin.post('/v2.0/networks', {
      network: { name: 'v', 'provider:network_type': 'vlan', 'provider:physical_network': 'physnet1', 'provider:segmentation_id': 150 },
    });
    expect(vlan.status).toBe(201);
    expect(vlan.body.network.mtu).toBe(1500);
    const geneve = await admin.post('/v2.0/networks', { network: { name: 'g', 'provider:network_type': 'geneve' } });
    expect(geneve.body.NeutronError.message).toBe("Invalid input for operation: network_type value 'geneve' not supported.");
  });
});
