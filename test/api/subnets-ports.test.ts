import { describe, expect, it, vi } from 'vitest';
import { type Client, cloudForFile } from '../support/cloud.js';

const { tc, admin, demo } = await cloudForFile('network');

async function network(c: Client, name: string) {
  const res = await c.post('/v2.0/networks', { network: { name } });
  expect(res.status).toBe(201);
  return res.body.network as { id: string; revision_number: number };
}

async function subnet(c: Client, body: Record<string, unknown>) {
  return c.post('/v2.0/subnets', { subnet: { ip_version: 4, ...body } });
}

describe('subnets', () => {
  it('defaults gateway and pool, normalises the CIDR, and bumps the network revision', async () => {
    const net = await network(demo, 'worker_network');
    const res = await subnet(demo, { network_id: net.id, cidr: '10.0.1.0/24', name: 'worker_subnet' });
    expect(res.status).toBe(201);
    expect(res.body.subnet).toMatchObject({
      name: 'worker_subnet',
      cidr: '10.0.1.0/24',
      gateway_ip: '10.0.1.1',
      allocation_pools: [{ start: '10.0.1.2', end: '10.0.1.254' }],
      enable_dhcp: true,
      ip_version: 4,
      ipv6_address_mode: null,
      ipv6_ra_mode: null,
      dns_nameservers: [],
      host_routes: [],
      service_types: [],
      subnetpool_id: null,
      revision_number: 0,
      tags: [],
    });
    const after = (await demo.get(`/v2.0/networks/${net.id}`)).body.network;
    expect(after.subnets).toEqual([res.body.subnet.id]);
    expect(after.revision_number).toBe(net.revision_number + 1);
    // Host bits are accepted and the subnet takes the network (neutron-lib's validate_subnet
    // refuses only what netaddr writes differently); a bare address is refused earlier, by
    // convert_cidr_to_canonical_format.
    const host = await subnet(demo, { network_id: net.id, cidr: '10.0.5.7/24' });
    expect(host.status).toBe(201);
    expect(host.body.subnet.cidr).toBe('10.0.5.0/24');
    const bare = await subnet(demo, { network_id: net.id, cidr: '10.0.6.7' });
    expect(bare.status).toBe(400);
    expect(bare.body.NeutronError.message).toBe('Invalid input for operation: 10.0.6.7 is not in a CIDR format.');
  });

  it('refuses overlapping and malformed CIDRs with Neutron messages', async () => {
    const net = await network(demo, 'overlap');
    await subnet(demo, { network_id: net.id, cidr: '10.0.1.0/24' });
    const overlap = await subnet(demo, { network_id: net.id, cidr: '10.0.1.128/25' });
    expect(overlap.status).toBe(400);
    expect(overlap.body.NeutronError).toEqual({
      type: 'InvalidInput',
      message: `Invalid input for operation: Requested subnet with cidr: 10.0.1.128/25 for network: ${net.id} overlaps with another subnet.`,
      detail: '',
    });
    const bad = await subnet(demo, { network_id: net.id, cidr: '10.0.300.0/24' });
    expect(bad.body.NeutronError).toEqual({ type: 'InvalidInput', message: 'Invalid input for operation: 10.0.300.0/24 is not in a CIDR format.', detail: '' });
    const version = await subnet(demo, { network_id: net.id, cidr: 'fd00::/64' });
    expect(version.body.NeutronError.message).toBe("Invalid input for operation: cidr 'fd00::/64' does not match the ip_version '4'.");
    const missing = await demo.post('/v2.0/subnets', { subnet: { network_id: net.id, cidr: '10.9.0.0/24' } });
    expect(missing.body.NeutronError.message).toBe("Failed to parse request. Required attribute 'ip_version' not specified");
  });

  it('validates explicit allocation pools and the gateway against them', async () => {
    const net = await network(demo, 'pools');
    const out = await subnet(demo, { network_id: net.id, cidr: '10.1.0.0/24', allocation_pools: [{ start: '10.1.0.10', end: '10.1.1.20' }] });
    expect(out.status).toBe(400);
    expect(out.body.NeutronError.type).toBe('OutOfBoundsAllocationPool');
    const gw = await subnet(demo, {
      network_id: net.id,
      cidr: '10.1.0.0/24',
      gateway_ip: '10.1.0.15',
      allocation_pools: [{ start: '10.1.0.10', end: '10.1.0.20' }],
    });
    expect(gw.status).toBe(409);
    expect(gw.body.NeutronError).toEqual({
      type: 'GatewayConflictWithAllocationPools',
      message: 'Gateway ip 10.1.0.15 conflicts with allocation pool 10.1.0.10-10.1.0.20',
      detail: '',
    });
    const none = await subnet(demo, { network_id: net.id, cidr: '10.1.0.0/24', gateway_ip: null });
    expect(none.status).toBe(201);
    expect(none.body.subnet.gateway_ip).toBeNull();
    expect(none.body.subnet.allocation_pools).toEqual([{ start: '10.1.0.1', end: '10.1.0.254' }]);
  });

  it('creates IPv6 SLAAC subnets with an anycast gateway and hides them from other projects', async () => {
    const net = await network(demo, 'v6');
    const res = await demo.post('/v2.0/subnets', {
      subnet: { network_id: net.id, ip_version: 6, cidr: 'fd00:1::/64', ipv6_address_mode: 'slaac', ipv6_ra_mode: 'slaac' },
    });
    expect(res.status).toBe(201);
    expect(res.body.subnet).toMatchObject({ gateway_ip: 'fd00:1::', allocation_pools: [{ start: 'fd00:1::1', end: 'fd00:1::ffff:ffff:ffff:ffff' }] });
    expect((await admin.get(`/v2.0/subnets/${res.body.subnet.id}`)).status).toBe(200);
    const bad = await demo.post('/v2.0/subnets', { subnet: { network_id: net.id, ip_version: 6, cidr: 'fd00:2::/80', ipv6_address_mode: 'slaac' } });
    expect(bad.body.NeutronError.message).toMatch(/requires the prefix to be \/64/);
  });

  it('does not show subnets of the non-shared public network to members', async () => {
    const pub = (await demo.get('/v2.0/networks?name=public')).body.networks[0];
    expect(pub.subnets).toHaveLength(2);
    expect((await demo.get(`/v2.0/subnets?network_id=${pub.id}`)).body.subnets).toEqual([]);
    expect((await admin.get(`/v2.0/subnets?network_id=${pub.id}`)).body.subnets).toHaveLength(2);
  });
});

describe('ports', () => {
  it('creates the port when the MAC it generated is already on the network (Neutron retries with another)', async () => {
    const net = await network(admin, 'mac-repeat');
    expect((await subnet(admin, { network_id: net.id, cidr: '10.77.0.0/24' })).status).toBe(201);
    const taken = await admin.post('/v2.0/ports', { port: { network_id: net.id, mac_address: 'fa:16:3e:00:00:00' } });
    expect(taken.status).toBe(201);
    // The next MAC generated is that one (each of its three bytes drawn as 0), once.
    const real = Math.random.bind(Math);
    let forced = 3;
    const spy = vi.spyOn(Math, 'random').mockImplementation(() => {
      if (forced > 0 && new Error().stack?.includes('randomMac')) {
        forced--;
        return 0;
      }
      return real();
    });
    try {
      const res = await admin.post('/v2.0/ports', { port: { network_id: net.id } });
      expect(forced).toBe(0);
      expect(res.status).toBe(201);
      expect(res.body.port.mac_address).toMatch(/^fa:16:3e(:[0-9a-f]{2}){3}$/);
      expect(res.body.port.mac_address).not.toBe('fa:16:3e:00:00:00');
    } finally {
      spy.mockRestore();
    }
  });

  it('allocates an address, a Neutron MAC and the default security group', async () => {
    const net = await network(demo, 'pnet');
    const sub = (await subnet(demo, { network_id: net.id, cidr: '10.2.0.0/24' })).body.subnet;
    const res = await demo.post('/v2.0/ports', { port: { network_id: net.id, name: 'p1' } });
    expect(res.status).toBe(201);
    const p = res.body.port;
    expect(p).toMatchObject({
      name: 'p1',
      status: 'DOWN',
      device_id: '',
      device_owner: '',
      admin_state_up: true,
      port_security_enabled: true,
      allowed_address_pairs: [],
      extra_dhcp_opts: [],
      revision_number: 1,
    });
    expect(p.mac_address).toMatch(/^fa:16:3e(:[0-9a-f]{2}){3}$/);
    expect(p.fixed_ips).toHaveLength(1);
    expect(p.fixed_ips[0].subnet_id).toBe(sub.id);
    expect(p.fixed_ips[0].ip_address).toMatch(/^10\.2\.0\.(\d+)$/);
    expect(p).not.toHaveProperty('binding:host_id');
    const sgs = (await demo.get('/v2.0/security-groups?name=default')).body.security_groups;
    expect(sgs).toHaveLength(1);
    expect(p.security_groups).toEqual([sgs[0].id]);
    expect(sgs[0].security_group_rules).toHaveLength(4);
  });

  it("takes a port's address from the network's first IPv4 subnet (created_at, then id), the next when it is full", async () => {
    const net = await network(demo, 'two-subnets');
    const made = [];
    for (const cidr of ['10.31.0.0/30', '10.32.0.0/30']) made.push((await subnet(demo, { network_id: net.id, cidr })).body.subnet);
    const [first, second] = made.sort((a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : a.id < b.id ? -1 : 1));
    const subnetOf = async () => {
      const res = await demo.post('/v2.0/ports', { port: { network_id: net.id } });
      expect(res.status).toBe(201);
      expect(res.body.port.fixed_ips).toHaveLength(1);
      return res.body.port.fixed_ips[0].subnet_id;
    };
    // A /30 holds two addresses, the gateway one of them.
    expect(await subnetOf()).toBe(first.id);
    expect(await subnetOf()).toBe(second.id);
  });

  it('takes explicit addresses, refuses taken ones and reports exhaustion', async () => {
    const net = await network(demo, 'tiny');
    const sub = (await subnet(demo, { network_id: net.id, cidr: '10.9.9.0/30' })).body.subnet;
    const first = await demo.post('/v2.0/ports', { port: { network_id: net.id } });
    expect(first.body.port.fixed_ips).toEqual([{ subnet_id: sub.id, ip_address: '10.9.9.2' }]);
    const second = await demo.post('/v2.0/ports', { port: { network_id: net.id } });
    expect(second.status).toBe(409);
    expect(second.body.NeutronError).toEqual({
      type: 'IpAddressGenerationFailure',
      message: `No more IP addresses available on network ${net.id}.`,
      detail: '',
    });
    const taken = await demo.post('/v2.0/ports', { port: { network_id: net.id, fixed_ips: [{ ip_address: '10.9.9.2' }] } });
    expect(taken.status).toBe(409);
    expect(taken.body.NeutronError).toEqual({
      type: 'IpAddressAlreadyAllocated',
      message: `IP address 10.9.9.2 already allocated in subnet ${sub.id}`,
      detail: '',
    });
    // Freed on delete, handed out again.
    expect((await demo.delete(`/v2.0/ports/${first.body.port.id}`)).status).toBe(204);
    const again = await demo.post('/v2.0/ports', { port: { network_id: net.id } });
    expect(again.body.port.fixed_ips[0].ip_address).toBe('10.9.9.2');
    const outside = await demo.post('/v2.0/ports', { port: { network_id: net.id, fixed_ips: [{ ip_address: '10.200.0.1' }] } });
    expect(outside.status).toBe(400);
    expect(outside.body.NeutronError.type).toBe('InvalidIpForNetwork');
  });

  it('moves fixed IPs on update, releasing the old address', async () => {
    const net = await network(demo, 'move');
    const sub = (await subnet(demo, { network_id: net.id, cidr: '10.3.0.0/24' })).body.subnet;
    const p = (await demo.post('/v2.0/ports', { port: { network_id: net.id, fixed_ips: [{ ip_address: '10.3.0.10' }] } })).body.port;
    const upd = await demo.put(`/v2.0/ports/${p.id}`, { port: { fixed_ips: [{ subnet_id: sub.id, ip_address: '10.3.0.11' }] } });
    expect(upd.status).toBe(200);
    expect(upd.body.port.fixed_ips).toEqual([{ subnet_id: sub.id, ip_address: '10.3.0.11' }]);
    const reuse = await demo.post('/v2.0/ports', { port: { network_id: net.id, fixed_ips: [{ ip_address: '10.3.0.10' }] } });
    expect(reuse.status).toBe(201);
    const keep = await demo.put(`/v2.0/ports/${p.id}`, { port: { fixed_ips: [{ ip_address: '10.3.0.11' }, { subnet_id: sub.id }] } });
    expect(keep.body.port.fixed_ips).toHaveLength(2);
    expect(keep.body.port.fixed_ips[0]).toEqual({ subnet_id: sub.id, ip_address: '10.3.0.11' });
  });

  it('adds SLAAC addresses to every port on the network', async () => {
    const net = await network(demo, 'dual');
    const v4 = (await subnet(demo, { network_id: net.id, cidr: '10.4.0.0/24' })).body.subnet;
    const v6 = (
      await demo.post('/v2.0/subnets', {
        subnet: { network_id: net.id, ip_version: 6, cidr: 'fd00:4::/64', ipv6_address_mode: 'slaac', ipv6_ra_mode: 'slaac' },
      })
    ).body.subnet;
    const p = (await demo.post('/v2.0/ports', { port: { network_id: net.id, fixed_ips: [{ subnet_id: v4.id, ip_address: '10.4.0.50' }] } })).body.port;
    const mac = p.mac_address.split(':');
    const iid = `${(Number.parseInt(mac[0], 16) ^ 2).toString(16)}${mac[1]}:${mac[2]}ff:fe${mac[3]}:${mac[4]}${mac[5]}`.replace(/(^|:)0+(?=[0-9a-f])/g, '$1');
    expect(p.fixed_ips).toEqual([
      { subnet_id: v4.id, ip_address: '10.4.0.50' },
      { subnet_id: v6.id, ip_address: `fd00:4::${iid}` },
    ]);
  });

  it('keeps ports of port-security-disabled networks out of security groups', async () => {
    const net = (await demo.post('/v2.0/networks', { network: { name: 'nosec', port_security_enabled: false } })).body.network;
    await subnet(demo, { network_id: net.id, cidr: '10.5.0.0/24' });
    const p = await demo.post('/v2.0/ports', { port: { network_id: net.id } });
    expect(p.body.port).toMatchObject({ port_security_enabled: false, security_groups: [] });
    const sg = (await demo.get('/v2.0/security-groups?name=default')).body.security_groups[0];
    const refused = await demo.post('/v2.0/ports', { port: { network_id: net.id, security_groups: [sg.id] } });
    expect(refused.status).toBe(400);
    expect(refused.body.NeutronError.type).toBe('PortSecurityAndIPRequiredForSecurityGroups');
  });

  it('filters by fixed_ips and device_id, and creates in bulk atomically', async () => {
    const net = await network(admin, 'bulk');
    const sub = (await subnet(admin, { network_id: net.id, cidr: '10.6.0.0/24' })).body.subnet;
    const bulk = await admin.post('/v2.0/ports', {
      ports: [
        { network_id: net.id, device_id: 'vm-1', fixed_ips: [{ ip_address: '10.6.0.50' }] },
        { network_id: net.id, device_id: 'vm-2' },
      ],
    });
    expect(bulk.status).toBe(201);
    expect(bulk.body.ports).toHaveLength(2);
    const byIp = await admin.get('/v2.0/ports?fixed_ips=ip_address%3D10.6.0.50');
    expect(byIp.body.ports.map((p: { device_id: string }) => p.device_id)).toEqual(['vm-1']);
    const bySubnet = await admin.get(`/v2.0/ports?fixed_ips=subnet_id%3D${sub.id}&device_id=vm-2`);
    expect(bySubnet.body.ports).toHaveLength(1);
    const failing = await admin.post('/v2.0/ports', {
      ports: [
        { network_id: net.id, name: 'atomic-1' },
        { network_id: net.id, name: 'atomic-2', fixed_ips: [{ ip_address: '10.6.0.50' }] },
      ],
    });
    expect(failing.status).toBe(409);
    expect((await admin.get('/v2.0/ports?name=atomic-1')).body.ports).toEqual([]);
  });

  it('hides other projects ports and refuses addresses on networks the caller does not own', async () => {
    const net = await network(admin, 'admin-shared');
    await admin.put(`/v2.0/networks/${net.id}`, { network: { shared: true } });
    await subnet(admin, { network_id: net.id, cidr: '10.7.0.0/24' });
    const adminPort = (await admin.post('/v2.0/ports', { port: { network_id: net.id } })).body.port;
    expect((await demo.get(`/v2.0/ports/${adminPort.id}`)).status).toBe(404);
    expect((await demo.delete(`/v2.0/ports/${adminPort.id}`)).status).toBe(404);
    const own = await demo.post('/v2.0/ports', { port: { network_id: net.id } });
    expect(own.status).toBe(201);
    const fixed = await demo.post('/v2.0/ports', { port: { network_id: net.id, fixed_ips: [{ ip_address: '10.7.0.99' }] } });
    expect(fixed.status).toBe(403);
    expect(fixed.body.NeutronError.type).toBe('PolicyNotAuthorized');
    const inUse = await admin.delete(`/v2.0/networks/${net.id}`);
    expect(inUse.status).toBe(409);
    expect(inUse.body.NeutronError.type).toBe('NetworkInUse');
  });

  it('reports a bound port ACTIVE through the data plane (noop driver)', async () => {
    const net = await network(admin, 'bound');
    await subnet(admin, { network_id: net.id, cidr: '10.8.0.0/24' });
    // Bound to the host whose L2 agent is serve's local one (ML2 binds only where an agent runs).
    const host = tc.cloud.services.compute.hostname;
    const p = (await admin.post('/v2.0/ports', { port: { network_id: net.id, 'binding:host_id': host, device_owner: 'compute:nova' } })).body.port;
    expect(p['binding:vif_type']).toBe('bridge');
    await tc.cloud.services.dataplane.idle();
    const after = (await admin.get(`/v2.0/ports/${p.id}`)).body.port;
    expect(after.status).toBe('ACTIVE');
    expect(after.revision_number).toBe(p.revision_number + 1);
  });
});
