import { describe, expect, it } from 'vitest';
import type { Change } from '../../src/core/work.js';
import { cloudForFile } from '../support/cloud.js';

/**
 * What the golden scenarios (neutron-golden-qos.test.ts) do not show of QoS, trunks and port
 * forwarding: an admin's view of a port's resource request, the rule type details a member may
 * not read, forwardings going with their port, refusals that guard the data plane's inputs, and
 * the changes the data plane hears.
 */
const { tc, admin, demo } = await cloudForFile('network');

const publicId = async () => (await admin.get('/v2.0/networks?name=public')).body.networks[0].id as string;

async function network(name: string, cidr: string) {
  const net = (await demo.post('/v2.0/networks', { network: { name } })).body.network;
  const subnet = (await demo.post('/v2.0/subnets', { subnet: { network_id: net.id, cidr, ip_version: 4 } })).body.subnet;
  return { net, subnet };
}

describe('QoS', () => {
  it('shows an admin the resource request of a port whose policy has a minimum packet rate rule, and a member nothing', async () => {
    const policy = (await admin.post('/v2.0/qos/policies', { policy: { name: 'rr', shared: true } })).body.policy;
    const rule = (await admin.post(`/v2.0/qos/policies/${policy.id}/minimum_packet_rate_rules`, { minimum_packet_rate_rule: { min_kpps: 1000 } })).body
      .minimum_packet_rate_rule;
    expect(rule).toEqual({ min_kpps: 1000, direction: 'egress', id: rule.id });
    const { net } = await network('qos-rr', '10.71.0.0/24');
    const port = (await demo.post('/v2.0/ports', { port: { network_id: net.id, qos_policy_id: policy.id } })).body.port;
    expect(port).not.toHaveProperty('resource_request');
    const seen = (await admin.get(`/v2.0/ports/${port.id}`)).body.port.resource_request;
    expect(seen.request_groups).toHaveLength(1);
    // pl_utils.resource_request_group_uuid: uuid5(port id, the rules' ids joined with ':').
    expect(seen.request_groups[0]).toEqual({
      id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
      required: ['CUSTOM_VNIC_TYPE_NORMAL'],
      resources: { NET_PACKET_RATE_EGR_KILOPACKET_PER_SEC: 1000 },
    });
    expect(seen.same_subtree).toEqual([seen.request_groups[0].id]);
    // A plain port has none.
    expect((await admin.get(`/v2.0/ports/${(await demo.post('/v2.0/ports', { port: { network_id: net.id } })).body.port.id}`)).body.port.resource_request).toBe(
      null,
    );
  });

  it("answers a port create with the QoS a GET of the port shows: its own policy, its network's, the resource request", async () => {
    const policy = (await admin.post('/v2.0/qos/policies', { policy: { name: 'rr-net', shared: true } })).body.policy;
    await admin.post(`/v2.0/qos/policies/${policy.id}/minimum_packet_rate_rules`, { minimum_packet_rate_rule: { min_kpps: 500, direction: 'any' } });
    await admin.post(`/v2.0/qos/policies/${policy.id}/bandwidth_limit_rules`, { bandwidth_limit_rule: { max_kbps: 2000 } });
    const own = (await admin.post('/v2.0/qos/policies', { policy: { name: 'rr-own', shared: true } })).body.policy;
    const { net } = await network('qos-answer', '10.71.3.0/24');
    expect((await admin.put(`/v2.0/networks/${net.id}`, { network: { qos_policy_id: policy.id } })).status).toBe(200);
    const qosOf = (p: Record<string, unknown>) => ({
      qos_policy_id: p.qos_policy_id,
      qos_network_policy_id: p.qos_network_policy_id,
      resource_request: p.resource_request,
    });
    // Inherited from the network (with a resource request), and the port's own policy over it (none).
    for (const body of [{ network_id: net.id }, { network_id: net.id, qos_policy_id: own.id }]) {
      const created = (await admin.post('/v2.0/ports', { port: body })).body.port;
      const shown = (await admin.get(`/v2.0/ports/${created.id}`)).body.port;
      expect(qosOf(created)).toEqual(qosOf(shown));
      expect(created.qos_network_policy_id).toBe(policy.id);
      expect(created.qos_policy_id).toBe(body.qos_policy_id ?? null);
      if (body.qos_policy_id) expect(created.resource_request).toBeNull();
      else expect(created.resource_request.request_groups[0].resources).toEqual({ NET_PACKET_RATE_KILOPACKET_PER_SEC: 500 });
    }
  });

  it('gives rule type details to admins only, and refuses a policy on a port OVS does not plug', async () => {
    const refused = await demo.get('/v2.0/qos/rule-types/dscp_marking');
    expect(refused.status).toBe(403);
    expect(refused.body.NeutronError).toEqual({ type: 'NotAuthorized', message: 'Not authorized.', detail: '' });
    expect((await admin.get('/v2.0/qos/rule-types/dscp_marking')).body.rule_type.drivers[0].name).toBe('openvswitch');
    const policy = (await admin.post('/v2.0/qos/policies', { policy: { name: 'bw', shared: true } })).body.policy;
    await admin.post(`/v2.0/qos/policies/${policy.id}/bandwidth_limit_rules`, { bandwidth_limit_rule: { max_kbps: 1000 } });
    const { net } = await network('qos-vnic', '10.71.1.0/24');
    const res = await admin.post('/v2.0/ports', { port: { network_id: net.id, qos_policy_id: policy.id, 'binding:vnic_type': 'macvtap' } });
    expect(res.status).toBe(409);
    expect(res.body.NeutronError.type).toBe('QosRuleNotSupported');
  });

  it("refuses a minimum rule change under a compute port's policy (placement holds it: 501)", async () => {
    const policy = (await admin.post('/v2.0/qos/policies', { policy: { name: 'placed', shared: true } })).body.policy;
    const { net } = await network('qos-placed', '10.71.2.0/24');
    await admin.post('/v2.0/ports', { port: { network_id: net.id, qos_policy_id: policy.id, device_owner: 'compute:nova', device_id: 'vm-1' } });
    const res = await admin.post(`/v2.0/qos/policies/${policy.id}/minimum_packet_rate_rules`, { minimum_packet_rate_rule: { min_kpps: 10 } });
    expect(res.status).toBe(501);
    expect(res.body.NeutronError).toEqual({
      type: 'NotImplementedError',
      message: 'Cannot update QoS policies/rules backed by resources tracked in Placement',
      detail: '',
    });
    expect((await admin.get(`/v2.0/qos/policies/${policy.id}`)).body.policy.rules).toEqual([]);
  });

  it('tells the data plane when a rule changes: a change of the policy', async () => {
    const heard: Change[] = [];
    const stop = tc.cloud.services.network.uow.changes.subscribe({}, (c) => heard.push(c));
    const policy = (await admin.post('/v2.0/qos/policies', { policy: { name: 'told' } })).body.policy;
    const rule = (await admin.post(`/v2.0/qos/policies/${policy.id}/dscp_marking_rules`, { dscp_marking_rule: { dscp_mark: 26 } })).body.dscp_marking_rule;
    await admin.put(`/v2.0/qos/alias_dscp_marking_rules/${rule.id}`, { alias_dscp_marking_rule: { dscp_mark: 34 } });
    stop();
    expect(heard.filter((c) => c.kind === 'policy' && c.id === policy.id).map((c) => c.op)).toEqual(['create', 'update', 'update']);
  });
});

describe('trunks', () => {
  it("refuses a subport whose network's MTU the parent's cannot carry", async () => {
    const parentNet = (await demo.post('/v2.0/networks', { network: { name: 'trunk-small', mtu: 1400 } })).body.network;
    await demo.post('/v2.0/subnets', { subnet: { network_id: parentNet.id, cidr: '10.72.0.0/24', ip_version: 4 } });
    const { net } = await network('trunk-big', '10.72.1.0/24');
    const parent = (await demo.post('/v2.0/ports', { port: { network_id: parentNet.id } })).body.port;
    const child = (await demo.post('/v2.0/ports', { port: { network_id: net.id } })).body.port;
    const res = await demo.post('/v2.0/trunks', {
      trunk: { port_id: parent.id, sub_ports: [{ port_id: child.id, segmentation_type: 'vlan', segmentation_id: 10 }] },
    });
    expect(res.status).toBe(409);
    expect(res.body.NeutronError.message).toBe(`MTU 1450 of subport ${child.id} cannot be greater than MTU 1400 of trunk ${parent.id}.`);
  });
});

describe('GET of one port', () => {
  it('answers what the list answers for it: fixed IPs in their order, groups, tags, both QoS policies, its trunk', async () => {
    const policy = (await admin.post('/v2.0/qos/policies', { policy: { name: 'own', shared: true } })).body.policy;
    const netPolicy = (await admin.post('/v2.0/qos/policies', { policy: { name: 'of-net', shared: true } })).body.policy;
    const net = (await demo.post('/v2.0/networks', { network: { name: 'shown', qos_policy_id: netPolicy.id } })).body.network;
    const a = (await demo.post('/v2.0/subnets', { subnet: { network_id: net.id, cidr: '10.74.0.0/24', ip_version: 4 } })).body.subnet;
    const b = (await demo.post('/v2.0/subnets', { subnet: { network_id: net.id, cidr: '10.74.1.0/24', ip_version: 4 } })).body.subnet;
    const group = (await demo.post('/v2.0/security-groups', { security_group: { name: 'shown' } })).body.security_group;
    const fixed = [
      { subnet_id: b.id, ip_address: '10.74.1.9' },
      { subnet_id: a.id, ip_address: '10.74.0.9' },
    ];
    const made = await demo.post('/v2.0/ports', { port: { network_id: net.id, fixed_ips: fixed, qos_policy_id: policy.id } });
    expect(made.status).toBe(201);
    const port = made.body.port;
    const groups = [...port.security_groups, group.id];
    expect((await demo.put(`/v2.0/ports/${port.id}`, { port: { security_groups: groups } })).status).toBe(200);
    // Tags in the order of SQLite's BINARY collation (UTF-8 bytes): upper case first, and a
    // character beyond U+FFFF after U+E000, where JavaScript's own string order puts it before.
    const tags = ['zeta', 'alpha', 'Zulu', 'é', '😀', '\uE000'];
    const tagOrder = ['Zulu', 'alpha', 'zeta', 'é', '\uE000', '😀'];
    expect((await demo.put(`/v2.0/ports/${port.id}/tags`, { tags })).status).toBe(200);
    // Two subports whose order (as given) is neither their ids' nor their segmentation ids'.
    const [sub, other] = (await Promise.all([0, 1].map(async () => (await demo.post('/v2.0/ports', { port: { network_id: net.id } })).body.port))).sort(
      (x, y) => (x.id < y.id ? 1 : -1),
    );
    const trunk = await demo.post('/v2.0/trunks', {
      trunk: {
        port_id: port.id,
        sub_ports: [
          { port_id: sub.id, segmentation_type: 'vlan', segmentation_id: 7 },
          { port_id: other.id, segmentation_type: 'vlan', segmentation_id: 3 },
        ],
      },
    });
    expect(trunk.status).toBe(201);

    for (const c of [demo, admin]) {
      const shown = (await c.get(`/v2.0/ports/${port.id}`)).body.port;
      const listed = (await c.get(`/v2.0/ports?id=${port.id}`)).body.ports;
      expect(listed).toEqual([shown]);
      expect(shown.fixed_ips).toEqual(fixed);
      expect([...shown.security_groups].sort()).toEqual([...groups].sort());
      expect(shown.tags).toEqual(tagOrder);
      expect(shown.qos_policy_id).toBe(policy.id);
      expect(shown.qos_network_policy_id).toBe(netPolicy.id);
      expect(shown.trunk_details).toEqual({
        trunk_id: trunk.body.trunk.id,
        sub_ports: [
          { segmentation_id: 7, segmentation_type: 'vlan', port_id: sub.id, mac_address: sub.mac_address },
          { segmentation_id: 3, segmentation_type: 'vlan', port_id: other.id, mac_address: other.mac_address },
        ],
      });
    }
    // A port that is no trunk's parent shows no trunk_details; `fields` picks from the same answer.
    expect((await demo.get(`/v2.0/ports/${sub.id}`)).body.port).not.toHaveProperty('trunk_details');
    expect((await demo.get(`/v2.0/ports/${port.id}?fields=tags&fields=id`)).body.port).toEqual({ id: port.id, tags: tagOrder });
  });
});

describe('port forwarding', () => {
  it('keeps a forwarding floating IP from being deleted, and lets it go of its router when the internal port goes', async () => {
    const { net, subnet } = await network('pf-net', '10.73.0.0/24');
    const router = (await demo.post('/v2.0/routers', { router: { name: 'pf-r', external_gateway_info: { network_id: await publicId() } } })).body.router;
    await demo.put(`/v2.0/routers/${router.id}/add_router_interface`, { subnet_id: subnet.id });
    const port = (await demo.post('/v2.0/ports', { port: { network_id: net.id } })).body.port;
    const fip = (await demo.post('/v2.0/floatingips', { floatingip: { floating_network_id: await publicId() } })).body.floatingip;
    const pf = await demo.post(`/v2.0/floatingips/${fip.id}/port_forwardings`, {
      port_forwarding: {
        protocol: 'tcp',
        internal_port_id: port.id,
        internal_ip_address: port.fixed_ips[0].ip_address,
        internal_port: 80,
        external_port: 8080,
      },
    });
    expect(pf.status).toBe(201);
    expect((await demo.get(`/v2.0/floatingips/${fip.id}`)).body.floatingip.router_id).toBe(router.id);
    const del = await demo.delete(`/v2.0/floatingips/${fip.id}`);
    expect(del.status).toBe(409);
    expect(del.body.NeutronError).toEqual({
      type: 'FipInUseByPortForwarding',
      message: `Floating IP ${fip.id} in use by Port Forwarding resources.`,
      detail: '',
    });
    // A port with a floating IP of its own takes no forwarding.
    const other = (await demo.post('/v2.0/ports', { port: { network_id: net.id } })).body.port;
    await demo.post('/v2.0/floatingips', { floatingip: { floating_network_id: await publicId(), port_id: other.id } });
    const taken = await demo.post(`/v2.0/floatingips/${fip.id}/port_forwardings`, {
      port_forwarding: {
        protocol: 'tcp',
        internal_port_id: other.id,
        internal_ip_address: other.fixed_ips[0].ip_address,
        internal_port: 80,
        external_port: 8081,
      },
    });
    expect(taken.status).toBe(409);
    expect(taken.body.NeutronError.type).toBe('PortHasBindingFloatingIP');
    expect((await demo.delete(`/v2.0/ports/${port.id}`)).status).toBe(204);
    const after = (await demo.get(`/v2.0/floatingips/${fip.id}`)).body.floatingip;
    expect(after.port_forwardings).toEqual([]);
    expect(after.router_id).toBe(null);
    expect((await demo.delete(`/v2.0/floatingips/${fip.id}`)).status).toBe(204);
  });
});
