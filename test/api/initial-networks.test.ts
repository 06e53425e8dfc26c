import { describe, expect, it } from 'vitest';
import { cloudForFile } from '../support/cloud.js';

// `--initial-networks`: DevStack's create_neutron_initial_network for the demo project, so tools
// written for a DevStack (openstacksdk's and gophercloud's functional tests, Ansible playbooks)
// find its `private` network and `router1`.
const { admin, demo } = await cloudForFile('network', { config: { initialNetworks: true } });

describe("DevStack's initial networks at bootstrap", () => {
  it("gives the demo project its private network with DevStack's IPv4 and IPv6 subnets", async () => {
    const nets = (await demo.get('/v2.0/networks?name=private')).body.networks;
    expect(nets).toHaveLength(1);
    const me = (await demo.get('/v2.0/security-groups?name=default')).body.security_groups[0].project_id as string;
    expect(nets[0]).toMatchObject({ project_id: me, shared: false, 'router:external': false, admin_state_up: true, status: 'ACTIVE' });
    const subnets = (await demo.get(`/v2.0/subnets?network_id=${nets[0].id}`)).body.subnets as Array<Record<string, unknown>>;
    const byName = new Map(subnets.map((s) => [s.name, s]));
    expect(byName.get('private-subnet')).toMatchObject({ ip_version: 4, cidr: '10.0.0.0/22', gateway_ip: '10.0.0.1', project_id: me });
    const v6 = byName.get('ipv6-private-subnet') as Record<string, unknown>;
    expect(v6).toMatchObject({ ip_version: 6, ipv6_ra_mode: 'slaac', ipv6_address_mode: 'slaac', project_id: me });
    // RFC 4193: fd, a 40-bit global ID, a zero subnet ID; the gateway its ::1.
    expect(v6.cidr).toMatch(/^fd[0-9a-f]{2}:[0-9a-f]{1,4}:[0-9a-f]{1,4}::\/64$/);
    expect(v6.gateway_ip).toBe(String(v6.cidr).replace('/64', '1'));
    // Only the demo project gets one: the admin's has none.
    const adminProject = (await admin.get('/v2.0/networks?name=public')).body.networks[0].project_id as string;
    expect((await admin.get(`/v2.0/networks?name=private&project_id=${adminProject}`)).body.networks).toEqual([]);
  });

  it('routes it to public through router1, both subnets as interfaces', async () => {
    const routers = (await demo.get('/v2.0/routers?name=router1')).body.routers;
    expect(routers).toHaveLength(1);
    const publicId = (await demo.get('/v2.0/networks?name=public')).body.networks[0].id;
    expect(routers[0].external_gateway_info).toMatchObject({ network_id: publicId, enable_snat: true });
    // The gateway's addresses come from public's IPv4 and IPv6 subnets.
    expect(routers[0].external_gateway_info.external_fixed_ips).toHaveLength(2);
    const ports = (await demo.get(`/v2.0/ports?device_id=${routers[0].id}&device_owner=network:router_interface`)).body.ports as Array<{
      fixed_ips: Array<{ ip_address: string }>;
    }>;
    const addresses = ports.flatMap((p) => p.fixed_ips.map((f) => f.ip_address)).sort();
    const v6 = (await demo.get('/v2.0/subnets?name=ipv6-private-subnet')).body.subnets[0];
    expect(addresses).toEqual(['10.0.0.1', v6.gateway_ip].sort());
  });

  it('lets the demo user boot onto private and reach the world through a floating IP', async () => {
    const net = (await demo.get('/v2.0/networks?name=private')).body.networks[0];
    const port = await demo.post('/v2.0/ports', { port: { network_id: net.id } });
    expect(port.status).toBe(201);
    const publicId = (await demo.get('/v2.0/networks?name=public')).body.networks[0].id;
    const fip = await demo.post('/v2.0/floatingips', { floatingip: { floating_network_id: publicId, port_id: port.body.port.id } });
    expect(fip.status).toBe(201);
    expect(fip.body.floatingip.router_id).toBe((await demo.get('/v2.0/routers?name=router1')).body.routers[0].id);
  });
});
