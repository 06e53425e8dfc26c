import { freeAddress } from '../support/addresses.js';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { cloudForFile } from '../support/cloud.js';
import { loadFixture } from '../support/neutron-golden.js';

const golden = (name: string) => JSON.parse(readFileSync(new URL(`../fixtures/neutron-golden/${name}.json`, import.meta.url), 'utf8'));
/** A floating IP's keys as real Neutron renders them with this build's extensions loaded (the capture with the issue-11 plugins). */
const FIP_KEYS = Object.keys(
  (loadFixture('floatingips').steps.find((s) => s.name === 'create')!.response as { floatingip: Record<string, unknown> }).floatingip,
);

const { admin, demo } = await cloudForFile('network');
let publicId: string;
let net: { id: string };
let subnet: { id: string };
let routerId: string;

beforeAll(async () => {
  publicId = (await admin.get('/v2.0/networks?name=public')).body.networks[0].id;
  net = (await demo.post('/v2.0/networks', { network: { name: 'fipnet' } })).body.network;
  // Addresses are handed out at random from the pool; the ones tests ask for by name (.50, .51,
  // .99) stay outside it so a random pick can never take them first.
  subnet = (
    await demo.post('/v2.0/subnets', {
      subnet: { network_id: net.id, cidr: '10.0.0.0/24', ip_version: 4, allocation_pools: [{ start: '10.0.0.2', end: '10.0.0.40' }] },
    })
  ).body.subnet;
  routerId = (await demo.post('/v2.0/routers', { router: { name: 'fiprouter', external_gateway_info: { network_id: publicId } } })).body.router.id;
  await demo.put(`/v2.0/routers/${routerId}/add_router_interface`, { subnet_id: subnet.id });
});

const port = async (body: Record<string, unknown> = {}) => (await demo.post('/v2.0/ports', { port: { network_id: net.id, ...body } })).body.port;

/** Wait for the noop data plane to write a status back. */
async function statusOf(id: string, want: string): Promise<string> {
  for (let i = 0; i < 50; i++) {
    const s = (await demo.get(`/v2.0/floatingips/${id}`)).body.floatingip.status;
    if (s === want) return s;
    await new Promise((r) => setTimeout(r, 20));
  }
  return (await demo.get(`/v2.0/floatingips/${id}`)).body.floatingip.status;
}

describe('floating IPs', () => {
  it('shows a floating IP as its list does: the port it is on, its QoS policy, its forwardings', async () => {
    // A show reads these with the floating IP in one statement, a list in one statement per kind
    // for all its rows: the two must render the same object.
    const policy = (await admin.post('/v2.0/qos/policies', { policy: { name: 'fip-show-qos', shared: true } })).body.policy;
    const p = await port({ name: 'fip-show-port' });
    const onPort = await demo.post('/v2.0/floatingips', { floatingip: { floating_network_id: publicId, port_id: p.id, qos_policy_id: policy.id } });
    expect(onPort.status).toBe(201);
    const forwarding = (await demo.post('/v2.0/floatingips', { floatingip: { floating_network_id: publicId } })).body.floatingip;
    const target = await port({ name: 'fip-show-target' });
    const ip = target.fixed_ips[0].ip_address;
    for (const body of [
      { protocol: 'tcp', internal_port_id: target.id, internal_ip_address: ip, internal_port: 80, external_port: 8080 },
      { protocol: 'udp', internal_port_id: target.id, internal_ip_address: ip, internal_port_range: '1000:1010', external_port_range: '2000:2010' },
    ]) {
      expect((await demo.post(`/v2.0/floatingips/${forwarding.id}/port_forwardings`, { port_forwarding: body })).status).toBe(201);
    }
    for (const id of [onPort.body.floatingip.id, forwarding.id]) {
      const shown = (await demo.get(`/v2.0/floatingips/${id}`)).body.floatingip;
      const [listed] = (await demo.get(`/v2.0/floatingips?id=${id}`)).body.floatingips;
      expect(shown).toEqual(listed);
    }
    const shown = (await demo.get(`/v2.0/floatingips/${onPort.body.floatingip.id}`)).body.floatingip;
    expect(shown).toMatchObject({
      qos_policy_id: policy.id,
      port_forwardings: [],
      port_details: { name: 'fip-show-port', network_id: net.id, mac_address: p.mac_address, admin_state_up: true, device_id: '', device_owner: '' },
    });
    const forwards = (await demo.get(`/v2.0/floatingips/${forwarding.id}`)).body.floatingip;
    expect(forwards).toMatchObject({ port_details: null, qos_policy_id: null });
    expect(forwards.port_forwardings).toHaveLength(2);
    expect(forwards.port_forwardings).toContainEqual(expect.objectContaining({ protocol: 'tcp', internal_port: 80, external_port: 8080 }));
    expect(forwards.port_forwardings.find((f: { protocol: string }) => f.protocol === 'udp')).not.toHaveProperty('internal_port');
  });

  it('allocates a free address from the external network, DOWN until associated, shaped as Neutron', async () => {
    const res = await demo.post('/v2.0/floatingips', { floatingip: { floating_network_id: publicId } });
    expect(res.status).toBe(201);
    const fip = res.body.floatingip;
    expect(Object.keys(fip)).toEqual(FIP_KEYS);
    expect(fip).toMatchObject({ qos_policy_id: null, port_forwardings: [] });
    expect(fip).toMatchObject({
      floating_network_id: publicId,
      router_id: null,
      port_id: null,
      fixed_ip_address: null,
      status: 'DOWN',
      port_details: null,
      revision_number: 0,
    });
    expect(fip.floating_ip_address).toMatch(/^172\.24\.4\.\d+$/);
    // The address is held by a project-less port on the external network, protected from deletion.
    const holder = (await admin.get(`/v2.0/ports?device_id=${fip.id}`)).body.ports;
    expect(holder).toHaveLength(1);
    expect(holder[0]).toMatchObject({ device_owner: 'network:floatingip', project_id: '', status: 'N/A' });
    expect((await admin.delete(`/v2.0/ports/${holder[0].id}`)).status).toBe(409);
    expect(await statusOf(fip.id, 'DOWN')).toBe('DOWN');
    expect((await demo.delete(`/v2.0/floatingips/${fip.id}`)).status).toBe(204);
    expect((await admin.get(`/v2.0/ports/${holder[0].id}`)).status).toBe(404);
  });

  it('associates with a port through the router that connects its subnet, with port_details', async () => {
    const p = await port({ name: 'web' });
    const res = await demo.post('/v2.0/floatingips', { floatingip: { floating_network_id: publicId, port_id: p.id } });
    expect(res.status).toBe(201);
    const fip = res.body.floatingip;
    expect(fip).toMatchObject({ router_id: routerId, port_id: p.id, fixed_ip_address: p.fixed_ips[0].ip_address, status: 'DOWN' });
    expect(fip.port_details).toEqual({
      name: 'web',
      network_id: net.id,
      mac_address: p.mac_address,
      admin_state_up: true,
      status: 'DOWN',
      device_id: '',
      device_owner: '',
    });
    expect(await statusOf(fip.id, 'ACTIVE')).toBe('ACTIVE');

    // One fixed IP, one floating IP.
    const second = await demo.post('/v2.0/floatingips', { floatingip: { floating_network_id: publicId, port_id: p.id } });
    expect(second.status).toBe(409);
    expect(second.body.NeutronError.type).toBe('FloatingIPPortAlreadyAssociated');
    expect(second.body.NeutronError.message).toMatch(/as that fixed IP already has a floating IP on external network/);

    // Disassociate, and the data plane takes it DOWN.
    const off = await demo.put(`/v2.0/floatingips/${fip.id}`, { floatingip: { port_id: null } });
    expect(off.status).toBe(200);
    expect(off.body.floatingip).toMatchObject({ port_id: null, fixed_ip_address: null, router_id: null, port_details: null });
    expect(await statusOf(fip.id, 'DOWN')).toBe('DOWN');
  });

  it('takes a requested fixed IP of a multi-address port and refuses ambiguity', async () => {
    const p = await port({ fixed_ips: [{ ip_address: '10.0.0.50' }, { ip_address: '10.0.0.51' }] });
    const ambiguous = await demo.post('/v2.0/floatingips', { floatingip: { floating_network_id: publicId, port_id: p.id } });
    expect(ambiguous.status).toBe(400);
    expect(ambiguous.body.NeutronError.message).toBe(
      `Bad floatingip request: Port ${p.id} has multiple fixed IPv4 addresses.  Must provide a specific IPv4 address when assigning a floating IP.`,
    );
    const fip = (await demo.post('/v2.0/floatingips', { floatingip: { floating_network_id: publicId, port_id: p.id, fixed_ip_address: '10.0.0.51' } })).body
      .floatingip;
    expect(fip.fixed_ip_address).toBe('10.0.0.51');
    const moved = await demo.put(`/v2.0/floatingips/${fip.id}`, { floatingip: { port_id: p.id, fixed_ip_address: '10.0.0.50' } });
    expect(moved.body.floatingip.fixed_ip_address).toBe('10.0.0.50');
    const notOnPort = await demo.put(`/v2.0/floatingips/${fip.id}`, { floatingip: { port_id: p.id, fixed_ip_address: '10.0.0.99' } });
    expect(notOnPort.body.NeutronError.message).toBe(`Bad floatingip request: Port ${p.id} does not have fixed ip 10.0.0.99.`);
    const noPort = await demo.put(`/v2.0/floatingips/${fip.id}`, { floatingip: { port_id: null, fixed_ip_address: '10.0.0.50' } });
    expect(noPort.body.NeutronError.message).toBe('Bad floatingip request: fixed_ip_address cannot be specified without a port_id.');
  });

  it("associates with a router's own interface port, and refuses only a DHCP port (Neutron's is_fip_serviced)", async () => {
    // Gophercloud's TestLayer3FloatingIPsExternalCreateDelete: a port made by the user, attached to
    // a router by port_id, then given a floating IP; real Neutron accepts it.
    const n = (await demo.post('/v2.0/networks', { network: { name: 'fip-rif' } })).body.network;
    expect((await demo.post('/v2.0/subnets', { subnet: { network_id: n.id, cidr: '10.7.0.0/24', ip_version: 4 } })).status).toBe(201);
    const r = (await demo.post('/v2.0/routers', { router: { name: 'fip-rif', external_gateway_info: { network_id: publicId } } })).body.router;
    const p = (await demo.post('/v2.0/ports', { port: { network_id: n.id } })).body.port;
    expect((await demo.put(`/v2.0/routers/${r.id}/add_router_interface`, { port_id: p.id })).status).toBe(200);
    const res = await demo.post('/v2.0/floatingips', { floatingip: { floating_network_id: publicId, port_id: p.id } });
    expect(res.status).toBe(201);
    expect(res.body.floatingip).toMatchObject({ port_id: p.id, router_id: r.id, fixed_ip_address: p.fixed_ips[0].ip_address });
    const fipId = res.body.floatingip.id;
    const cleared = await demo.put(`/v2.0/floatingips/${fipId}`, { floatingip: { port_id: null } });
    expect(cleared.body.floatingip).toMatchObject({ port_id: null, router_id: null, fixed_ip_address: null });

    const dhcp = (await admin.post('/v2.0/ports', { port: { network_id: n.id, device_owner: 'network:dhcp', device_id: 'dhcp-x' } })).body.port;
    const refused = await admin.put(`/v2.0/floatingips/${fipId}`, { floatingip: { port_id: dhcp.id } });
    expect(refused.status).toBe(400);
    expect(refused.body.NeutronError).toEqual({
      type: 'BadRequest',
      message: `Bad floatingip request: Port ${dhcp.id} is unable to be assigned a floating IP.`,
      detail: '',
    });
    expect((await demo.delete(`/v2.0/floatingips/${fipId}`)).status).toBe(204);
    expect((await admin.delete(`/v2.0/ports/${dhcp.id}`)).status).toBe(204);
    expect((await demo.put(`/v2.0/routers/${r.id}/remove_router_interface`, { port_id: p.id })).status).toBe(200);
  });

  it('answers 404 when no router connects the port subnet to the external network', async () => {
    const lone = (await demo.post('/v2.0/networks', { network: { name: 'lone' } })).body.network;
    const loneSub = (await demo.post('/v2.0/subnets', { subnet: { network_id: lone.id, cidr: '10.9.0.0/24', ip_version: 4 } })).body.subnet;
    const p = (await demo.post('/v2.0/ports', { port: { network_id: lone.id } })).body.port;
    const before = (await demo.get('/v2.0/floatingips')).body.floatingips.length;
    const res = await demo.post('/v2.0/floatingips', { floatingip: { floating_network_id: publicId, port_id: p.id } });
    expect(res.status).toBe(404);
    expect(res.body.NeutronError).toEqual({
      type: 'ExternalGatewayForFloatingIPNotFound',
      message: `External network ${publicId} is not reachable from subnet ${loneSub.id}.  Therefore, cannot associate Port ${p.id} with a Floating IP.`,
      detail: '',
    });
    // Nothing half-made: no floating IP and no holder port survive the refusal.
    expect((await demo.get('/v2.0/floatingips')).body.floatingips.length).toBe(before);
    expect((await admin.get('/v2.0/ports?device_owner=network:floatingip')).body.ports.length).toBe(
      (await admin.get('/v2.0/floatingips')).body.floatingips.length,
    );
  });

  it('refuses a network that is not external, exactly as Neutron words it', async () => {
    const res = await demo.post('/v2.0/floatingips', { floatingip: { floating_network_id: net.id } });
    expect(res.status).toBe(400);
    expect(res.body).toEqual(JSON.parse(JSON.stringify(golden('error-fip-not-external')).replaceAll('fa00b7bd-b956-41f6-88f3-94ed26f6f5b4', net.id)));
  });

  it('lets only admins choose the address, and the address is then taken', async () => {
    const addr = await freeAddress(admin, publicId, '172.24.4');
    const denied = await demo.post('/v2.0/floatingips', { floatingip: { floating_network_id: publicId, floating_ip_address: addr } });
    expect(denied.status).toBe(403);
    const ok = await admin.post('/v2.0/floatingips', { floatingip: { floating_network_id: publicId, floating_ip_address: addr } });
    expect(ok.status).toBe(201);
    expect(ok.body.floatingip.floating_ip_address).toBe(addr);
    const again = await admin.post('/v2.0/floatingips', { floatingip: { floating_network_id: publicId, floating_ip_address: addr } });
    expect(again.status).toBe(409);
    expect(again.body.NeutronError.type).toBe('IpAddressAlreadyAllocated');
    const asPort = await admin.post('/v2.0/ports', { port: { network_id: publicId, fixed_ips: [{ ip_address: addr }] } });
    expect(asPort.status).toBe(409);
  });

  it('is disassociated when its port is deleted', async () => {
    const p = await port();
    const fip = (await demo.post('/v2.0/floatingips', { floatingip: { floating_network_id: publicId, port_id: p.id } })).body.floatingip;
    expect((await demo.delete(`/v2.0/ports/${p.id}`)).status).toBe(204);
    const shown = (await demo.get(`/v2.0/floatingips/${fip.id}`)).body.floatingip;
    expect(shown).toMatchObject({ port_id: null, fixed_ip_address: null, router_id: null });
    expect(shown.revision_number).toBeGreaterThan(fip.revision_number);
  });

  it('keeps the router interface and gateway while floating IPs use them', async () => {
    const p = await port();
    await demo.post('/v2.0/floatingips', { floatingip: { floating_network_id: publicId, port_id: p.id } });
    const rm = await demo.put(`/v2.0/routers/${routerId}/remove_router_interface`, { subnet_id: subnet.id });
    expect(rm.status).toBe(409);
    expect(rm.body.NeutronError).toEqual({
      type: 'RouterInterfaceInUseByFloatingIP',
      message: `Router interface for subnet ${subnet.id} on router ${routerId} cannot be deleted, as it is required by one or more floating IPs.`,
      detail: '',
    });
    const gw = await demo.put(`/v2.0/routers/${routerId}`, { router: { external_gateway_info: {} } });
    expect(gw.status).toBe(409);
    expect(gw.body.NeutronError.type).toBe('RouterExternalGatewayInUseByFloatingIp');
  });

  it('runs out of addresses with Neutron 409 and never hands one address out twice under concurrency', async () => {
    const ext = (await admin.post('/v2.0/networks', { network: { name: 'tiny-ext', 'router:external': true } })).body.network;
    await admin.post('/v2.0/subnets', { subnet: { network_id: ext.id, cidr: '198.51.100.0/28', ip_version: 4, enable_dhcp: false } });
    // 13 usable addresses (.2 … .14); 20 concurrent requests.
    const results = await Promise.all(Array.from({ length: 20 }, () => demo.post('/v2.0/floatingips', { floatingip: { floating_network_id: ext.id } })));
    const made = results.filter((r) => r.status === 201).map((r) => r.body.floatingip.floating_ip_address);
    expect(made).toHaveLength(13);
    expect(new Set(made).size).toBe(13);
    const refused = results.filter((r) => r.status !== 201);
    expect(refused.map((r) => r.status)).toEqual(Array(7).fill(409));
    expect(refused[0].body.NeutronError).toEqual({
      type: 'IpAddressGenerationFailure',
      message: `No more IP addresses available on network ${ext.id}.`,
      detail: '',
    });
  });

  it('deleting an external network takes its unassociated floating IPs along', async () => {
    const ext = (await admin.post('/v2.0/networks', { network: { name: 'gone-ext', 'router:external': true } })).body.network;
    await admin.post('/v2.0/subnets', { subnet: { network_id: ext.id, cidr: '198.51.100.128/28', ip_version: 4, enable_dhcp: false } });
    const fip = (await admin.post('/v2.0/floatingips', { floatingip: { floating_network_id: ext.id } })).body.floatingip;
    expect((await admin.delete(`/v2.0/networks/${ext.id}`)).status).toBe(204);
    expect((await admin.get(`/v2.0/floatingips/${fip.id}`)).status).toBe(404);
  });

  it('hides other projects floating IPs; admins see all and create for other projects', async () => {
    const mine = (await demo.post('/v2.0/floatingips', { floatingip: { floating_network_id: publicId } })).body.floatingip;
    const theirs = (await admin.post('/v2.0/floatingips', { floatingip: { floating_network_id: publicId } })).body.floatingip;
    const listed = (await demo.get('/v2.0/floatingips')).body.floatingips.map((f: { id: string }) => f.id);
    expect(listed).toContain(mine.id);
    expect(listed).not.toContain(theirs.id);
    expect((await demo.get(`/v2.0/floatingips/${theirs.id}`)).body.NeutronError).toEqual({
      type: 'FloatingIPNotFound',
      message: `Floating IP ${theirs.id} could not be found`,
      detail: '',
    });
    const forDemo = await admin.post('/v2.0/floatingips', { floatingip: { floating_network_id: publicId, project_id: mine.project_id } });
    expect(forDemo.body.floatingip.project_id).toBe(mine.project_id);
    const filtered = (await demo.get(`/v2.0/floatingips?floating_ip_address=${mine.floating_ip_address}`)).body.floatingips;
    expect(filtered.map((f: { id: string }) => f.id)).toEqual([mine.id]);
    const pools = (await demo.get('/v2.0/floatingip_pools')).body.floatingip_pools;
    expect(pools.map((p: { cidr: string }) => p.cidr)).toContain('172.24.4.0/24');
    expect(pools.every((p: { cidr: string }) => !p.cidr.includes(':'))).toBe(true);
  });
});
