/**
 * Two simulated hosts (`pocketstack lab`) and the VXLAN overlay between them (issue 18), on the
 * real kernel: the lab's switch and two host namespaces with underlay addresses, an API-only
 * server (`serve --no-local-agent`) and each host's `pocketstack agent` with the exact arguments
 * `lab hosts` prints (its own prefix, `--tunnel-ip`, `--underlay-netns`), all on one PostgreSQL
 * store. One server is forced to each host (Nova's `nova:hostK`); the network's DHCP is held by
 * host1's agent only. The server on host2 gets its address by DHCP across the tunnel, the two
 * ping each other, and what they exchange crosses the lab switch encapsulated. Each host maps
 * physical network `public` to its `eth1` on the lab's public switch, where the lab holds the
 * public subnet's gateway: a router scheduled to host2 has its gateway there, and a server on
 * host1 behind it reaches the lab by SNAT and is reached by its floating IP.
 *
 * The hosts run l2population's ARP responder (`--arp-responder`, as `lab hosts N --arp-responder`
 * gives them): each VXLAN device is made with `proxy` and holds the other host's ports' addresses,
 * so a guest's ARP for a server on the other host is answered on its own host — the lab switch
 * carries the ping across, and no ARP — and the entries go with the port.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/dataplane/netns/exec.js';
import { listNamespaces } from '../../src/dataplane/netns/kernel.js';
import { Names } from '../../src/dataplane/netns/names.js';
import { LAB_BRIDGE, LAB_NS, type LabHost } from '../../src/lab/lab.js';
import { type Client, type TestCloud, serviceClients } from '../support/cloud.js';
import { type LabServers, type TestLab, labServers, startTestLab } from '../support/lab.js';
import { eventually } from '../support/dataplane.js';
import { capture, ping, sh } from '../support/netns.js';
import { E2E_POSTGRES, ROOT, missing, needsE2ePostgres } from '../support/requires.js';

const PG = E2E_POSTGRES;
const skip = missing([ROOT]) ?? needsE2ePostgres();

/** Bytes the lab switch's port of a host has received (what that host sent onto the underlay). */
async function underlayBytes(h: LabHost): Promise<number> {
  const r = await run('ip', ['-n', LAB_NS, '-j', '-s', 'link', 'show', `h${h.index}`]);
  return (JSON.parse(r.stdout) as Array<{ stats64: { rx: { bytes: number } } }>)[0].stats64.rx.bytes;
}

describe.skipIf(skip)(`a lab of two hosts and the VXLAN overlay between them${skip ? ` — skipped: ${skip}` : ''}`, () => {
  let stop: (() => Promise<void>) | undefined;
  let server: TestCloud;
  let admin: Client;
  let nova: Client;
  let hosts: LabHost[] = [];
  let boot: LabServers['boot'];
  let active: LabServers['active'];
  let guestAddress: LabServers['guestAddress'];

  beforeAll(async () => {
    let lab: TestLab;
    ({ lab, stop } = await startTestLab(2, {
      name: 'pocketstack_lab_overlay',
      adminUrl: PG!,
      // Reports every 2 s, passes every 3 s: the suite waits for agents and bindings.
      // l2population's ARP responder on (Neutron's [vxlan] arp_responder; off by default).
      agentEnv: { POCKETSTACK_REPORT_INTERVAL: '2', POCKETSTACK_DATAPLANE_RESYNC_MS: '3000', POCKETSTACK_VXLAN_ARP_RESPONDER: 'true' },
    }));
    ({ server, hosts } = lab);
    admin = (await serviceClients(server, 'network')).admin;
    nova = (await serviceClients(server, 'compute')).admin;
    ({ boot, active, guestAddress } = labServers(server));
  });

  afterAll(async () => {
    await stop?.();
  });

  it("reports each host's tunnel endpoint as the Linux bridge agent does, and each host as a nova-compute", async () => {
    const l2 = await eventually(
      async () =>
        (await admin.get('/v2.0/agents?agent_type=Linux%20bridge%20agent')).body.agents as Array<{
          host: string;
          alive: boolean;
          configurations: Record<string, unknown>;
        }>,
      (l) => l.length === 2 && l.every((a) => a.alive),
    );
    expect(Object.fromEntries(l2.map((a) => [a.host, a.configurations]))).toMatchObject({
      host1: { tunneling_ip: '198.18.0.11', tunnel_types: ['vxlan'], l2_population: true, interface_mappings: { public: 'eth1' }, bridge_mappings: {} },
      host2: { tunneling_ip: '198.18.0.12', tunnel_types: ['vxlan'], l2_population: true, interface_mappings: { public: 'eth1' }, bridge_mappings: {} },
    });
    const computes = (await nova.get('/v2.1/os-services?binary=nova-compute')).body.services.map((s: { host: string }) => s.host);
    expect(computes).toEqual(expect.arrayContaining(['host1', 'host2']));
  });

  it('boots a server on each host of one network: DHCP reaches the host without the DHCP agent, and they ping each other across VXLAN', async () => {
    const net = (await admin.post('/v2.0/networks', { network: { name: 'lab-overlay' } })).body.network;
    expect(net['provider:network_type']).toBe('vxlan');
    expect(net.mtu).toBe(1450);
    const h1Dhcp = (await admin.get('/v2.0/agents?agent_type=DHCP%20agent&host=host1')).body.agents[0].id;
    expect((await admin.post(`/v2.0/agents/${h1Dhcp}/dhcp-networks`, { network_id: net.id })).status).toBe(201);
    await admin.post('/v2.0/subnets', { subnet: { network_id: net.id, cidr: '10.78.0.0/24', ip_version: 4 } });

    const [h1, h2] = hosts;
    const ids = [await boot('lab-a', net.id, 'host1'), await boot('lab-b', net.id, 'host2')];
    const [a, b] = await Promise.all(ids.map(active));
    expect(a['OS-EXT-SRV-ATTR:host']).toBe('host1');
    expect(b['OS-EXT-SRV-ATTR:host']).toBe('host2');
    const portOf = async (id: string) => (await admin.get(`/v2.0/ports?device_id=${id}`)).body.ports[0];
    const [pa, pb] = await Promise.all(ids.map(portOf));
    expect([pa['binding:host_id'], pb['binding:host_id']]).toEqual(['host1', 'host2']);
    const nsA = new Names(h1.prefix).instanceNs(a.id);
    const nsB = new Names(h2.prefix).instanceNs(b.id);
    const ns = [...(await listNamespaces()).keys()];
    expect(ns).toContain(nsA);
    expect(ns).toContain(nsB);
    // The DHCP server runs on host1 only.
    expect(ns).toContain(new Names(h1.prefix).dhcpNs(net.id));
    expect(ns).not.toContain(new Names(h2.prefix).dhcpNs(net.id));

    // Each host's bridge has the network's VNI, with l2pop's entries for the other host's ports.
    const vni = net['provider:segmentation_id'] as number;
    for (const [h, other, remoteMacs] of [
      [h1, h2, [pb.mac_address]],
      [h2, h1, [pa.mac_address]],
    ] as const) {
      const sw = new Names(h.prefix).switchNs;
      const link = JSON.parse(await sh(['ip', '-n', sw, '-d', '-j', 'link', 'show', `vxlan-${vni}`]))[0];
      expect(link.linkinfo.info_data).toMatchObject({ id: vni, local: h.tunnelIp, port: 4789, learning: false });
      expect(link.mtu).toBe(1450);
      expect(link.master).toBe(new Names(h.prefix).bridge(net.id));
      const fdb = await eventually(
        async () =>
          JSON.parse(await sh(['ip', 'netns', 'exec', sw, 'bridge', '-j', 'fdb', 'show', 'dev', `vxlan-${vni}`])) as Array<{ mac: string; dst?: string }>,
        (f) => remoteMacs.every((m) => f.some((e) => e.mac === m && e.dst === other.tunnelIp)),
        15_000,
      );
      const remote = fdb.filter((e) => e.dst).map((e) => [e.mac, e.dst]);
      for (const m of remoteMacs) expect(remote).toContainEqual([m, other.tunnelIp]);
      expect(remote).toContainEqual(['00:00:00:00:00:00', other.tunnelIp]);
      // The ARP responder: the device answers ARP itself (`proxy`).
      expect(link.linkinfo.info_data.proxy).toBe(true);
    }
    // …from a permanent neighbour entry per fixed IP of the other host's ports (the DHCP port's too).
    const neighOf = async (h: LabHost) =>
      (
        JSON.parse(await sh(['ip', '-n', new Names(h.prefix).switchNs, '-j', 'neigh', 'show', 'dev', `vxlan-${vni}`, 'nud', 'permanent'])) as Array<{
          dst: string;
          lladdr: string;
        }>
      ).map((e) => [e.dst, e.lladdr]);
    const dhcpPort = (await admin.get(`/v2.0/ports?network_id=${net.id}&device_owner=network:dhcp`)).body.ports[0];
    const ipA = pa.fixed_ips[0].ip_address as string;
    const ipB = pb.fixed_ips[0].ip_address as string;
    const onH1 = await eventually(
      () => neighOf(h1),
      (l) => l.length > 0,
      15_000,
    );
    expect(onH1).toEqual([[ipB, pb.mac_address]]);
    const onH2 = await eventually(
      () => neighOf(h2),
      (l) => l.length > 1,
      15_000,
    );
    const dhcpIp = dhcpPort.fixed_ips[0].ip_address as string;
    expect(onH2.sort()).toEqual(
      [
        [ipA, pa.mac_address],
        [dhcpIp, dhcpPort.mac_address],
      ].sort(),
    );

    // host2's guest got its address from host1's dnsmasq, over the tunnel.
    expect(await guestAddress(nsA, ipA)).toContain(` ${ipA}/`);
    expect(await guestAddress(nsB, ipB)).toContain(` ${ipB}/`);
    // The guest's wire leaves room for the encapsulation (1500 on the underlay).
    expect(await sh(['ip', '-n', nsB, '-o', 'link', 'show', 'eth0'])).toMatch(/mtu 1450 /);

    // Let the servers' group (the admin's default) admit ICMP.
    const rule = { security_group_id: pb.security_groups[0], direction: 'ingress', ethertype: 'IPv4', protocol: 'icmp' };
    expect((await admin.post('/v2.0/security-group-rules', { security_group_rule: rule })).status).toBe(201);

    const before = await underlayBytes(h2);
    // Each guest forgets the other's MAC, so its ping starts with an ARP request; the lab switch's
    // port of each host is watched (tcpdump decodes the VXLAN inside).
    for (const guest of [nsA, nsB]) await run('ip', ['-n', guest, 'neigh', 'flush', 'dev', 'eth0']);
    const wires = hosts.map((h) => capture(LAB_NS, `h${h.index}`));
    await Promise.all(wires.map((w) => w.ready));
    expect(await ping(ipA, { ns: nsB, timeoutS: 10 })).toBe(true);
    expect(await ping(ipB, { ns: nsA, timeoutS: 10 })).toBe(true);
    // …and what they exchanged crossed the lab switch.
    expect(await underlayBytes(h2)).toBeGreaterThan(before);
    await new Promise((r) => setTimeout(r, 500));
    for (const w of wires) w.proc.kill('SIGINT');
    const wire = wires.map((w) => w.out()).join('\n');
    // The pings crossed the underlay encapsulated; the guests' ARP did not (the proxy answered it).
    expect(wire).toMatch(new RegExp(`vni ${vni}\\b[^]*ICMP echo request`));
    expect(wire).not.toMatch(/Request who-has 10\.78\.0\./);
    // Both guests learned each other's MAC: the answers came from their own hosts.
    expect(await sh(['ip', '-n', nsA, 'neigh', 'show', ipB])).toContain(pb.mac_address);
    expect(await sh(['ip', '-n', nsB, 'neigh', 'show', ipA])).toContain(pa.mac_address);

    // A server gone: the other host drops its entries (l2pop's remove), and the flooding one with
    // its last port on host2 (the DHCP port stays on host1, so host2 keeps flooding to host1).
    expect((await nova.delete(`/v2.1/servers/${b.id}`)).status).toBe(204);
    const sw1 = new Names(h1.prefix).switchNs;
    const left = await eventually(
      async () =>
        (JSON.parse(await sh(['ip', 'netns', 'exec', sw1, 'bridge', '-j', 'fdb', 'show'])) as Array<{ mac: string; ifname?: string; dst?: string }>).filter(
          (e) => e.dst,
        ),
      (f) => f.length === 0,
      30_000,
    );
    expect(left).toEqual([]);
    // …and the ARP responder's entry for its address (remove_fdb_ip_entry): in the same pass, a
    // batch after the forwarding entries' (a read between the two saw it still there).
    expect(
      await eventually(
        () => neighOf(h1),
        (n) => n.length === 0,
        10_000,
      ),
    ).toEqual([]);
    expect(JSON.parse(await sh(['ip', '-n', LAB_NS, '-j', 'link', 'show', LAB_BRIDGE]))[0].operstate).toBe('UP');
  });

  it("puts a router's gateway on host2 onto the lab's public segment: a server on host1 reaches the upstream by SNAT and is reached by its floating IP", async () => {
    const [h1, h2] = hosts;
    const publicNet = (await admin.get('/v2.0/networks?name=public')).body.networks[0];
    const net = (await admin.post('/v2.0/networks', { network: { name: 'lab-routed' } })).body.network;
    const subnet = (await admin.post('/v2.0/subnets', { subnet: { network_id: net.id, cidr: '10.79.0.0/24', ip_version: 4 } })).body.subnet;
    // The router goes to host2's L3 agent (not the first host), before it has a gateway.
    const router = (await admin.post('/v2.0/routers', { router: { name: 'lab-router' } })).body.router;
    const l3 = (await admin.get('/v2.0/agents?agent_type=L3%20agent&host=host2')).body.agents[0].id;
    expect((await admin.post(`/v2.0/agents/${l3}/l3-routers`, { router_id: router.id })).status).toBe(201);
    const gw = await admin.put(`/v2.0/routers/${router.id}`, { router: { external_gateway_info: { network_id: publicNet.id } } });
    expect(gw.status).toBe(200);
    const gatewayIp = gw.body.router.external_gateway_info.external_fixed_ips.find((f: { ip_address: string }) => !f.ip_address.includes(':'))
      .ip_address as string;
    expect((await admin.put(`/v2.0/routers/${router.id}/add_router_interface`, { subnet_id: subnet.id })).status).toBe(200);

    const id = await boot('lab-c', net.id, 'host1');
    const server = await active(id);
    expect(server['OS-EXT-SRV-ATTR:host']).toBe('host1');
    const port = (await admin.get(`/v2.0/ports?device_id=${id}`)).body.ports[0];
    const ip = port.fixed_ips[0].ip_address as string;
    const ns = new Names(h1.prefix).instanceNs(id);
    expect(await guestAddress(ns, ip)).toContain(` ${ip}/`);

    // host2 built the router with its gateway leg; host1 did not. host2's public bridge holds its
    // eth1 (moved out of its host namespace); host1, with nothing on the public network, kept its
    // own; neither made a routed host leg.
    const all = [...(await listNamespaces()).keys()];
    expect(all).toContain(new Names(h2.prefix).routerNs(router.id));
    expect(all).not.toContain(new Names(h1.prefix).routerNs(router.id));
    const sw2 = new Names(h2.prefix).switchNs;
    const eth1 = await eventually(
      async () =>
        JSON.parse((await run('ip', ['-n', sw2, '-j', 'link', 'show', 'eth1'], { allowFail: true })).stdout || '[]') as Array<{
          master?: string;
          operstate?: string;
        }>,
      (l) => l[0]?.master === new Names(h2.prefix).bridge(publicNet.id),
      20_000,
    );
    expect(eth1[0].master).toBe(new Names(h2.prefix).bridge(publicNet.id));
    expect(await sh(['ip', '-n', h1.ns, '-o', 'link', 'show', 'eth1'])).toContain('eth1');
    for (const h of hosts) expect(await sh(['ip', '-o', 'link', 'show'])).not.toContain(new Names(h.prefix).hostLeg(publicNet.id));

    const rule = { security_group_id: port.security_groups[0], direction: 'ingress', ethertype: 'IPv4', protocol: 'icmp' };
    const added = await admin.post('/v2.0/security-group-rules', { security_group_rule: rule });
    expect([201, 409]).toContain(added.status);

    // Out through host2's router: the lab answers the router's gateway address (it has no route to
    // the tenant subnet), so a reply means the source was translated.
    expect(await ping('172.24.4.1', { ns, timeoutS: 15 })).toBe(true);
    const snat = await sh(['ip', 'netns', 'exec', new Names(h2.prefix).routerNs(router.id), 'conntrack', '-L', '-p', 'icmp', '--src', ip]);
    expect(snat).toContain(`dst=${gatewayIp}`);
    expect(await sh(['ip', '-n', LAB_NS, 'route', 'get', ip]).catch(() => 'unreachable')).not.toContain('via');

    // In from the lab by the floating IP.
    const fip = (await admin.post('/v2.0/floatingips', { floatingip: { floating_network_id: publicNet.id, port_id: port.id } })).body.floatingip;
    await eventually(
      async () => (await admin.get(`/v2.0/floatingips/${fip.id}`)).body.floatingip.status,
      (st) => st === 'ACTIVE',
      20_000,
    );
    expect(await ping(fip.floating_ip_address, { ns: LAB_NS, timeoutS: 15 })).toBe(true);
  });
});
