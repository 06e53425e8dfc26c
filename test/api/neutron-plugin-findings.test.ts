import { describe, expect, it } from 'vitest';
import { cloudForFile } from '../support/cloud.js';

/**
 * What running the Neutron Tempest plugin's API tests (scripts/tempest-neutron-plugin.sh) found
 * PocketStack doing differently from Neutron, each checked against the real Neutron Zed
 * (../shared/tools/neutron-reference/) or its source: what a user sees now.
 */
const { admin, demo } = await cloudForFile('network');

const projectOf = async (c: typeof demo) =>
  (await c.post('/v2.0/security-groups', { security_group: { name: 'probe' } })).body.security_group.project_id as string;
const demoProject = await projectOf(demo);
const publicId = async () => (await admin.get('/v2.0/networks?name=public')).body.networks[0].id as string;

async function network(name: string, cidr: string, client = demo, extra: Record<string, unknown> = {}) {
  const net = (await client.post('/v2.0/networks', { network: { name, ...extra } })).body.network;
  const subnet = (await client.post('/v2.0/subnets', { subnet: { network_id: net.id, cidr, ip_version: 4 } })).body.subnet;
  return { net, subnet };
}

describe('collections and tags', () => {
  it('serves a collection under both spellings of its name, as Neutron finds its controller', async () => {
    const underscore = await admin.get('/v2.0/network_segment_ranges');
    const hyphen = await admin.get('/v2.0/network-segment-ranges');
    expect(underscore.status).toBe(200);
    expect(hyphen.body).toEqual(underscore.body);
    expect((await demo.get('/v2.0/floatingip-pools')).body).toEqual((await demo.get('/v2.0/floatingip_pools')).body);
  });

  it("keeps a QoS policy's tags at /v2.0/policies/{id}/tags, and lets whoever sees an object tag it", async () => {
    const policy = (await admin.post('/v2.0/qos/policies', { policy: { name: 'tagged', shared: true } })).body.policy;
    expect((await demo.put(`/v2.0/policies/${policy.id}/tags`, { tags: ['a', 'b'] })).body).toEqual({ tags: ['a', 'b'] });
    expect((await demo.get(`/v2.0/qos/policies/${policy.id}`)).body.policy.tags).toEqual(['a', 'b']);
    const shared = (await admin.post('/v2.0/networks', { network: { name: 'shared-tagged', shared: true } })).body.network;
    expect((await demo.put(`/v2.0/networks/${shared.id}/tags/x`)).status).toBe(201);
    expect((await admin.get(`/v2.0/networks/${shared.id}`)).body.network.tags).toEqual(['x']);
  });
});

describe('visibility of shared and foreign objects', () => {
  it('hides a shared address group from an update by the project it is shared with, and refuses its delete', async () => {
    const ag = (await admin.post('/v2.0/address-groups', { address_group: { name: 'ag', addresses: ['10.0.0.0/24'] } })).body.address_group;
    await admin.post('/v2.0/rbac-policies', {
      rbac_policy: { object_type: 'address_group', object_id: ag.id, action: 'access_as_shared', target_tenant: demoProject },
    });
    expect((await demo.get(`/v2.0/address-groups/${ag.id}`)).status).toBe(200);
    const update = await demo.put(`/v2.0/address-groups/${ag.id}`, { address_group: { name: 'new' } });
    expect(update.status).toBe(404);
    expect(update.body.NeutronError).toEqual({ type: 'HTTPNotFound', message: 'The resource could not be found.', detail: '' });
    const add = await demo.put(`/v2.0/address-groups/${ag.id}/add_addresses`, { addresses: ['10.1.0.0/24'] });
    expect(add.status).toBe(403);
    expect(add.body.NeutronError.message).toBe('rule:add_addresses is disallowed by policy');
    expect((await demo.delete(`/v2.0/address-groups/${ag.id}`)).body.NeutronError.message).toBe('rule:delete_address_group is disallowed by policy');
  });

  it("answers a QoS rule change on a policy the caller cannot see with the policy's not-found", async () => {
    const policy = (await admin.post('/v2.0/qos/policies', { policy: { name: 'private' } })).body.policy;
    const rule = (await admin.post(`/v2.0/qos/policies/${policy.id}/bandwidth_limit_rules`, { bandwidth_limit_rule: { max_kbps: 1 } })).body
      .bandwidth_limit_rule;
    const res = await demo.put(`/v2.0/qos/policies/${policy.id}/bandwidth_limit_rules/${rule.id}`, { bandwidth_limit_rule: { max_kbps: 2 } });
    expect(res.status).toBe(404);
    expect(res.body.NeutronError.type).toBe('QosPolicyNotFound');
    expect((await demo.delete(`/v2.0/qos/policies/${policy.id}/bandwidth_limit_rules/${rule.id}`)).status).toBe(404);
  });

  it("shows a network's owner every port on it, lets it delete them, and refuses a floating IP on another project's port", async () => {
    const { net } = await network('owned', '10.61.0.0/24');
    const router = (await demo.post('/v2.0/routers', { router: { name: 'r61', external_gateway_info: { network_id: await publicId() } } })).body.router;
    const sub = (await demo.get(`/v2.0/subnets?network_id=${net.id}`)).body.subnets[0];
    await demo.put(`/v2.0/routers/${router.id}/add_router_interface`, { subnet_id: sub.id });
    const other = (await admin.post('/v2.0/ports', { port: { network_id: net.id, project_id: 'someone-else' } })).body.port;
    expect((await demo.get(`/v2.0/ports/${other.id}`)).body.port.project_id).toBe('someone-else');
    expect((await demo.get(`/v2.0/ports?network_id=${net.id}`)).body.ports.map((p: { id: string }) => p.id)).toContain(other.id);
    const fip = (await demo.post('/v2.0/floatingips', { floatingip: { floating_network_id: await publicId() } })).body.floatingip;
    const refused = await demo.put(`/v2.0/floatingips/${fip.id}`, { floatingip: { port_id: other.id } });
    expect(refused.status).toBe(400);
    expect(refused.body.NeutronError.message).toContain('since that port is owned by a different tenant');
    expect((await demo.delete(`/v2.0/ports/${other.id}`)).status).toBe(204);
    // Another project's network: its ports stay out of sight.
    const theirs = (await admin.post('/v2.0/networks', { network: { name: 'theirs', project_id: 'someone-else' } })).body.network;
    const hidden = (await admin.post('/v2.0/ports', { port: { network_id: theirs.id, project_id: 'someone-else' } })).body.port;
    expect((await demo.get(`/v2.0/ports/${hidden.id}`)).status).toBe(404);
  });

  it('keeps a subnet pool in a shared scope another project owns from its owner’s updates', async () => {
    const scope = (await admin.post('/v2.0/address-scopes', { address_scope: { name: 'shared-scope', shared: true, ip_version: 4 } })).body.address_scope;
    const pool = (await demo.post('/v2.0/subnetpools', { subnetpool: { name: 'p', prefixes: ['20.0.0.0/18'] } })).body.subnetpool;
    expect((await admin.put(`/v2.0/subnetpools/${pool.id}`, { subnetpool: { address_scope_id: scope.id } })).status).toBe(200);
    const res = await demo.put(`/v2.0/subnetpools/${pool.id}`, { subnetpool: { prefixes: ['20.0.0.0/18', '40.0.0.0/18'] } });
    expect(res.status).toBe(400);
    expect(res.body.NeutronError).toEqual({
      type: 'IllegalSubnetPoolUpdate',
      message: `Illegal subnetpool update : subnetpool ${pool.id} cannot be updated when associated with shared address scope ${scope.id}.`,
      detail: '',
    });
    expect((await admin.put(`/v2.0/subnetpools/${pool.id}`, { subnetpool: { prefixes: ['20.0.0.0/18', '40.0.0.0/18'] } })).status).toBe(200);
  });
});

describe('floating IPs, ports, logs, segment ranges', () => {
  it('keeps the association when a floating IP is updated without port_id, and clears it on a blank update', async () => {
    const { net, subnet } = await network('fipkeep', '10.62.0.0/24');
    const router = (await demo.post('/v2.0/routers', { router: { name: 'r62', external_gateway_info: { network_id: await publicId() } } })).body.router;
    await demo.put(`/v2.0/routers/${router.id}/add_router_interface`, { subnet_id: subnet.id });
    const port = (await demo.post('/v2.0/ports', { port: { network_id: net.id } })).body.port;
    const fip = (await demo.post('/v2.0/floatingips', { floatingip: { floating_network_id: await publicId(), port_id: port.id } })).body.floatingip;
    const described = (await demo.put(`/v2.0/floatingips/${fip.id}`, { floatingip: { description: 'd2' } })).body.floatingip;
    expect(described).toMatchObject({ description: 'd2', port_id: port.id, fixed_ip_address: fip.fixed_ip_address, router_id: router.id });
    expect(described.port_details.network_id).toBe(net.id);
    const blank = (await demo.put(`/v2.0/floatingips/${fip.id}`, { floatingip: {} })).body.floatingip;
    expect(blank).toMatchObject({ description: 'd2', port_id: null, fixed_ip_address: null, router_id: null, port_details: null });
  });

  it("refuses turning port security off under the port's groups, and port security choices on another project's network", async () => {
    const { net } = await network('psec', '10.63.0.0/24');
    const port = (await demo.post('/v2.0/ports', { port: { network_id: net.id } })).body.port;
    const res = await demo.put(`/v2.0/ports/${port.id}`, { port: { port_security_enabled: false } });
    expect(res.status).toBe(409);
    expect(res.body.NeutronError).toEqual({
      type: 'PortSecurityPortHasSecurityGroup',
      message: 'Port has security group associated. Cannot disable port security or IP address until security group is removed.',
      detail: '',
    });
    expect((await demo.put(`/v2.0/ports/${port.id}`, { port: { port_security_enabled: false, security_groups: [] } })).body.port.port_security_enabled).toBe(
      false,
    );
    const shared = await network('psec-shared', '10.64.0.0/24', admin, { shared: true });
    const forbidden = await demo.post('/v2.0/ports', { port: { network_id: shared.net.id, port_security_enabled: false } });
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.NeutronError.message).toBe('(rule:create_port and rule:create_port:port_security_enabled) is disallowed by policy');
  });

  it('deletes the logs of a security group with it', async () => {
    const sg = (await demo.post('/v2.0/security-groups', { security_group: { name: 'logged' } })).body.security_group;
    const log = (await admin.post('/v2.0/log/logs', { log: { name: 'l', resource_type: 'security_group', resource_id: sg.id, enabled: true } })).body.log;
    expect((await admin.get(`/v2.0/log/logs/${log.id}`)).status).toBe(200);
    expect((await demo.delete(`/v2.0/security-groups/${sg.id}`)).status).toBe(204);
    expect((await admin.get(`/v2.0/log/logs/${log.id}`)).status).toBe(404);
  });

  it('refuses a segment range update whose minimum reaches its lowest allocated segment, as Neutron does', async () => {
    const range = (
      await admin.post('/v2.0/network-segment-ranges', {
        network_segment_range: { name: 'r', shared: false, project_id: demoProject, network_type: 'vxlan', minimum: 1100, maximum: 1105 },
      })
    ).body.network_segment_range;
    const net = (await admin.post('/v2.0/networks', { network: { name: 'ranged', project_id: demoProject } })).body.network;
    const seg = net['provider:segmentation_id'] as number;
    expect(seg).toBeGreaterThanOrEqual(1100);
    const res = await admin.put(`/v2.0/network-segment-ranges/${range.id}`, { network_segment_range: { minimum: seg, maximum: 1155 } });
    expect(res.status).toBe(409);
    expect(res.body.NeutronError.type).toBe('NetworkSegmentRangeReferencedByProject');
    await admin.delete(`/v2.0/networks/${net.id}`);
    expect((await admin.put(`/v2.0/network-segment-ranges/${range.id}`, { network_segment_range: { minimum: 1050, maximum: 1155 } })).status).toBe(200);
  });
});

describe('QoS policies as an RBAC object type', () => {
  it('shares a policy with one project or everyone, and keeps the sharing a bound network needs', async () => {
    const policy = (await admin.post('/v2.0/qos/policies', { policy: { name: 'rbac-qos' } })).body.policy;
    expect((await demo.get(`/v2.0/qos/policies/${policy.id}`)).status).toBe(404);
    const rbac = (
      await admin.post('/v2.0/rbac-policies', {
        rbac_policy: { object_type: 'qos_policy', object_id: policy.id, action: 'access_as_shared', target_tenant: demoProject },
      })
    ).body.rbac_policy;
    expect(rbac).toMatchObject({ object_type: 'qos_policy', target_tenant: demoProject });
    expect((await demo.get(`/v2.0/qos/policies/${policy.id}`)).body.policy.shared).toBe(true);
    expect((await admin.get(`/v2.0/qos/policies/${policy.id}`)).body.policy.shared).toBe(false);
    const net = (await demo.post('/v2.0/networks', { network: { name: 'bound', qos_policy_id: policy.id } })).body.network;
    expect(net.qos_policy_id).toBe(policy.id);
    const inUse = await admin.delete(`/v2.0/rbac-policies/${rbac.id}`);
    expect(inUse.status).toBe(409);
    expect(inUse.body.NeutronError.type).toBe('RbacPolicyInUse');
    // shared=true is the wildcard policy; with it the project's own may go, then the wildcard may not.
    expect((await admin.put(`/v2.0/qos/policies/${policy.id}`, { policy: { shared: true } })).body.policy.shared).toBe(true);
    const wildcard = (await admin.get(`/v2.0/rbac-policies?object_id=${policy.id}&target_tenant=*`)).body.rbac_policies;
    expect(wildcard).toHaveLength(1);
    expect((await admin.delete(`/v2.0/rbac-policies/${rbac.id}`)).status).toBe(204);
    expect((await admin.put(`/v2.0/qos/policies/${policy.id}`, { policy: { shared: false } })).status).toBe(409);
    await demo.delete(`/v2.0/networks/${net.id}`);
    expect((await admin.put(`/v2.0/qos/policies/${policy.id}`, { policy: { shared: false } })).body.policy.shared).toBe(false);
    expect((await demo.get(`/v2.0/qos/policies/${policy.id}`)).status).toBe(404);
  });
});
