import { describe, expect, it } from 'vitest';
import { cloudForFile } from '../support/cloud.js';

/**
 * IPv6 local IPs through the API, as Neutron's server takes them (neutron/db/local_ip_db.py): the
 * only IP version rule is create_local_ip's "Network %s does not contain any IPv4 subnet" when
 * the local IP is made from a network; the address (local_ip_address, a local port's fixed IP)
 * and an association's fixed_ip may be IPv6 (`type:ip_address_or_none`). The OVS agent's
 * extension builds nothing for them (its flows match IPv4 fields and ARP), and neither does the
 * netns data plane (test/unit/dataplane-localip.test.ts).
 */
const { demo } = await cloudForFile('network');

async function dualStack(name: string): Promise<{ net: string; v6: string }> {
  const net = (await demo.post('/v2.0/networks', { network: { name } })).body.network.id as string;
  expect((await demo.post('/v2.0/subnets', { subnet: { network_id: net, cidr: '10.61.0.0/24', ip_version: 4 } })).status).toBe(201);
  const v6 = await demo.post('/v2.0/subnets', { subnet: { network_id: net, cidr: 'fd00:61::/64', ip_version: 6 } });
  expect(v6.status).toBe(201);
  return { net, v6: v6.body.subnet.id };
}

describe('IPv6 local IPs', () => {
  it('are made from an IPv6 address of a network that has an IPv4 subnet, and from a port with one IPv6 fixed IP', async () => {
    const { net, v6 } = await dualStack('lip6-net');
    const fromNet = await demo.post('/v2.0/local_ips', { local_ip: { network_id: net, local_ip_address: 'fd00:61::20' } });
    expect(fromNet.status, JSON.stringify(fromNet.body)).toBe(201);
    expect(fromNet.body.local_ip).toMatchObject({ network_id: net, local_ip_address: 'fd00:61::20' });

    const port = (await demo.post('/v2.0/ports', { port: { network_id: net, fixed_ips: [{ subnet_id: v6 }] } })).body.port;
    const fromPort = await demo.post('/v2.0/local_ips', { local_ip: { local_port_id: port.id } });
    expect(fromPort.status, JSON.stringify(fromPort.body)).toBe(201);
    expect(fromPort.body.local_ip.local_ip_address).toBe(port.fixed_ips[0].ip_address);
    expect(port.fixed_ips[0].ip_address).toContain(':');
  });

  it('are associated with a port by its IPv6 fixed IP', async () => {
    const { net } = await dualStack('lip6-assoc');
    const lip = (await demo.post('/v2.0/local_ips', { local_ip: { network_id: net, local_ip_address: 'fd00:61::30' } })).body.local_ip;
    const vm = (await demo.post('/v2.0/ports', { port: { network_id: net } })).body.port;
    const v6 = (vm.fixed_ips as Array<{ ip_address: string }>).find((f) => f.ip_address.includes(':'))!.ip_address;
    const assoc = await demo.post(`/v2.0/local_ips/${lip.id}/port_associations`, { port_association: { fixed_port_id: vm.id, fixed_ip: v6 } });
    expect(assoc.status, JSON.stringify(assoc.body)).toBe(201);
    expect(assoc.body.port_association).toMatchObject({ fixed_port_id: vm.id, fixed_ip: v6, local_ip_address: 'fd00:61::30' });
  });

  it('are refused from a network without an IPv4 subnet, as Neutron refuses them', async () => {
    const net = (await demo.post('/v2.0/networks', { network: { name: 'lip6-only' } })).body.network.id as string;
    expect((await demo.post('/v2.0/subnets', { subnet: { network_id: net, cidr: 'fd00:62::/64', ip_version: 6 } })).status).toBe(201);
    const res = await demo.post('/v2.0/local_ips', { local_ip: { network_id: net } });
    expect(res.status).toBe(400);
    expect(res.body.NeutronError).toEqual({
      type: 'BadRequest',
      message: `Bad local_ip request: Network ${net} does not contain any IPv4 subnet.`,
      detail: '',
    });
  });
});
