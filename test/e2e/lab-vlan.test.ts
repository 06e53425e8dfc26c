/**
 * VLAN provider networks on a mapped interface (issue 18), on the real kernel: a lab of two hosts
 * whose agents map physical network `public` to their `eth1` on the lab's public switch. A VLAN
 * network (`provider:segmentation_id` 100) with a server forced to each host is, on each host,
 * the network's bridge with `eth1.100` on it (Neutron's Linux bridge agent's ensure_vlan_bridge;
 * a VLAN device with 802.1Q, else the tc-BPF pair): host2's server gets its address from host1's
 * dnsmasq, the two ping each other, and the lab switch's port of host2 sees their frames tagged
 * 802.1Q 100. A second VLAN network (101), of the same addresses, crosses the hosts too (its
 * server on host2 gets its address from host1) yet reaches nothing of the first.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/dataplane/netns/exec.js';
import { Names } from '../../src/dataplane/netns/names.js';
import { LAB_NS, type LabHost } from '../../src/lab/lab.js';
import { type Client, type TestCloud, serviceClients } from '../support/cloud.js';
import { eventually } from '../support/dataplane.js';
import { type LabServers, type TestLab, labServers, startTestLab } from '../support/lab.js';
import { capture, ping, sh } from '../support/netns.js';
import { E2E_POSTGRES, ROOT, missing, needsE2ePostgres } from '../support/requires.js';

const PG = E2E_POSTGRES;
const skip = missing([ROOT]) ?? needsE2ePostgres();

/** tcpdump on the lab's public switch port of host K (`pK` in `pslab`). */
const capturePort = (h: LabHost) => capture(LAB_NS, `p${h.index}`);

const esc = (ip: string) => ip.replaceAll('.', '\\.');

describe.skipIf(skip)(`VLAN provider networks across a lab's hosts${skip ? ` — skipped: ${skip}` : ''}`, () => {
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
      name: 'pocketstack_lab_vlan',
      adminUrl: PG!,
      agentEnv: { POCKETSTACK_REPORT_INTERVAL: '2', POCKETSTACK_DATAPLANE_RESYNC_MS: '3000' },
      // ML2's network_vlan_ranges: VLANs on the lab's `public` physical network.
      config: { vlanRanges: [{ physicalNetwork: 'public' }] },
    }));
    ({ server, hosts } = lab);
    admin = (await serviceClients(server, 'network')).admin;
    nova = (await serviceClients(server, 'compute')).admin;
    ({ boot, active, guestAddress } = labServers(server));
  });

  afterAll(async () => {
    await stop?.();
  });

  /** A VLAN network on `public` with a subnet, its DHCP held by host1's agent only. */
  const vlanNetwork = async (name: string, vid: number, pool: { start: string; end: string }) => {
    const res = await admin.post('/v2.0/networks', {
      network: { name, 'provider:network_type': 'vlan', 'provider:physical_network': 'public', 'provider:segmentation_id': vid },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const net = res.body.network;
    const h1Dhcp = (await admin.get('/v2.0/agents?agent_type=DHCP%20agent&host=host1')).body.agents[0].id;
    expect((await admin.post(`/v2.0/agents/${h1Dhcp}/dhcp-networks`, { network_id: net.id })).status).toBe(201);
    const sub = await admin.post('/v2.0/subnets', { subnet: { network_id: net.id, cidr: '10.81.0.0/24', ip_version: 4, allocation_pools: [pool] } });
    expect(sub.status, JSON.stringify(sub.body)).toBe(201);
    return net as { id: string; mtu: number };
  };
  const portOf = async (id: string) => (await admin.get(`/v2.0/ports?device_id=${id}`)).body.ports[0];

  it("carries a VLAN network between the hosts tagged with its id on the lab's wire; another VLAN network stays apart", async () => {
    const [h1, h2] = hosts;
    const netA = await vlanNetwork('lab-vlan-100', 100, { start: '10.81.0.10', end: '10.81.0.99' });
    expect(netA.mtu).toBe(1500);
    const ids = [await boot('vlan-a', netA.id, 'host1'), await boot('vlan-b', netA.id, 'host2')];
    const [a, b] = await Promise.all(ids.map(active));
    expect([a['OS-EXT-SRV-ATTR:host'], b['OS-EXT-SRV-ATTR:host']]).toEqual(['host1', 'host2']);
    const [pa, pb] = await Promise.all(ids.map(portOf));
    const nsA = new Names(h1.prefix).instanceNs(a.id);
    const nsB = new Names(h2.prefix).instanceNs(b.id);

    // Each host's bridge of the network holds eth1.100, whose parent eth1 moved into the switch.
    for (const h of hosts) {
      const n = new Names(h.prefix);
      type IpLink = { master?: string; flags: string[]; linkinfo?: { info_kind?: string; info_data?: Record<string, unknown> } };
      const dev = await eventually(
        async () => JSON.parse((await run('ip', ['-n', n.switchNs, '-d', '-j', 'link', 'show', 'eth1.100'], { allowFail: true })).stdout || '[]') as IpLink[],
        (l) => l[0]?.master === n.bridge(netA.id),
        20_000,
      );
      expect(dev[0].flags).toContain('UP');
      // A real VLAN device where the kernel has 802.1Q, else the tc-BPF pair's named end.
      const kind = dev[0].linkinfo?.info_kind;
      if (kind === 'vlan') expect(dev[0].linkinfo?.info_data).toMatchObject({ protocol: '802.1Q', id: 100 });
      else expect(kind).toBe('veth');
      expect(await sh(['ip', '-n', n.switchNs, '-o', 'link', 'show', 'eth1'])).toContain('eth1');
      expect((await run('ip', ['-n', h.ns, '-o', 'link', 'show', 'eth1'], { allowFail: true })).stdout).toBe('');
    }

    // host2's guest got its address from host1's dnsmasq, over VLAN 100 on the public switch.
    const ipA = pa.fixed_ips[0].ip_address as string;
    const ipB = pb.fixed_ips[0].ip_address as string;
    expect(await guestAddress(nsA, ipA)).toContain(` ${ipA}/`);
    expect(await guestAddress(nsB, ipB)).toContain(` ${ipB}/`);

    const rule = { security_group_id: pb.security_groups[0], direction: 'ingress', ethertype: 'IPv4', protocol: 'icmp' };
    expect((await admin.post('/v2.0/security-group-rules', { security_group_rule: rule })).status).toBe(201);

    const cap = capturePort(h2);
    await cap.ready;
    try {
      expect(await ping(ipA, { ns: nsB, timeoutS: 10 })).toBe(true);
      expect(await ping(ipB, { ns: nsA, timeoutS: 10 })).toBe(true);
      const seen = await eventually(
        async () => cap.out(),
        (t) => new RegExp(`vlan 100, .*${esc(ipA)} > ${esc(ipB)}: ICMP echo reply`).test(t),
        10_000,
      );
      // On the wire between host2 and the public switch: 802.1Q, VLAN 100, both ways.
      expect(seen).toMatch(
        new RegExp(`ethertype 802\\.1Q \\(0x8100\\), length \\d+: vlan 100, p 0, ethertype IPv4 \\(0x0800\\), ${esc(ipB)} > ${esc(ipA)}: ICMP echo request`),
      );
      expect(seen).toMatch(new RegExp(`vlan 100, p 0, ethertype IPv4 \\(0x0800\\), ${esc(ipA)} > ${esc(ipB)}: ICMP echo reply`));
      // Nothing of the network's crossed untagged.
      expect(seen).not.toMatch(new RegExp(`ethertype IPv4 \\(0x0800\\), length \\d+: ${esc(ipB)} > ${esc(ipA)}`));
    } finally {
      cap.proc.kill();
    }

    // A second VLAN network, of the same addresses: its server on host2 gets its address from
    // host1 over VLAN 101, and reaches neither of the first network's servers.
    const netB = await vlanNetwork('lab-vlan-101', 101, { start: '10.81.0.100', end: '10.81.0.199' });
    const c = await active(await boot('vlan-c', netB.id, 'host2'));
    const pc = await portOf(c.id);
    const ipC = pc.fixed_ips[0].ip_address as string;
    const nsC = new Names(h2.prefix).instanceNs(c.id);
    expect(await guestAddress(nsC, ipC)).toContain(` ${ipC}/`);
    const cap2 = capturePort(h2);
    await cap2.ready;
    try {
      expect(await ping(ipA, { ns: nsC, timeoutS: 3 })).toBe(false);
      expect(await ping(ipB, { ns: nsC, timeoutS: 3 })).toBe(false);
      // Its ARP for the first network's server left host2 tagged 101, and nobody answered it.
      const seen = await eventually(
        async () => cap2.out(),
        (t) => new RegExp(`vlan 101, .*Request who-has ${esc(ipA)} tell ${esc(ipC)}`).test(t),
        10_000,
      );
      expect(seen).not.toMatch(new RegExp(`Reply ${esc(ipA)} is-at`));
    } finally {
      cap2.proc.kill();
    }
  });

  it("shares the interface with the flat public network: a router's gateway on host2 enslaves eth1 to the public bridge, and VLAN 100 still crosses", async () => {
    const [h1, h2] = hosts;
    const publicNet = (await admin.get('/v2.0/networks?name=public')).body.networks[0];
    const router = (await admin.post('/v2.0/routers', { router: { name: 'lab-vlan-router' } })).body.router;
    const l3 = (await admin.get('/v2.0/agents?agent_type=L3%20agent&host=host2')).body.agents[0].id;
    expect((await admin.post(`/v2.0/agents/${l3}/l3-routers`, { router_id: router.id })).status).toBe(201);
    const gw = await admin.put(`/v2.0/routers/${router.id}`, { router: { external_gateway_info: { network_id: publicNet.id } } });
    expect(gw.status).toBe(200);
    const gatewayIp = gw.body.router.external_gateway_info.external_fixed_ips.find((f: { ip_address: string }) => !f.ip_address.includes(':'))
      .ip_address as string;
    const n2 = new Names(h2.prefix);
    await eventually(
      async () =>
        JSON.parse((await run('ip', ['-n', n2.switchNs, '-j', 'link', 'show', 'eth1'], { allowFail: true })).stdout || '[]') as Array<{ master?: string }>,
      (l) => l[0]?.master === n2.bridge(publicNet.id),
      20_000,
    );
    // The upstream reaches the router's gateway untagged on the public network…
    expect(await ping(gatewayIp, { ns: LAB_NS, timeoutS: 15 })).toBe(true);
    // …and the VLAN network's servers still reach each other through the same eth1.
    const netA = (await admin.get('/v2.0/networks?name=lab-vlan-100')).body.networks[0];
    const servers = (await nova.get('/v2.1/servers/detail')).body.servers as Array<{ id: string; name: string }>;
    const byName = (name: string) => servers.find((x) => x.name === name)!.id;
    const [pa, pb] = await Promise.all([byName('vlan-a'), byName('vlan-b')].map(portOf));
    expect([pa.network_id, pb.network_id]).toEqual([netA.id, netA.id]);
    const nsA = new Names(h1.prefix).instanceNs(byName('vlan-a'));
    expect(await ping(pb.fixed_ips[0].ip_address, { ns: nsA, timeoutS: 10 })).toBe(true);
    expect(await sh(['ip', '-n', n2.switchNs, '-o', 'link', 'show', 'eth1.100'])).toContain(`master ${n2.bridge(netA.id)}`);
  });
});
