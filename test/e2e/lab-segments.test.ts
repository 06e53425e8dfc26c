/**
 * A network of two segments on the wire (issue 11 item 7, issue 18), on the real kernel: a lab of
 * two hosts whose agents map different physical networks to their `eth1` on the lab's public
 * switch — host1 `public`, host2 `physB`. A network with a VLAN segment on each (`public` 120,
 * `physB` 130) has a server forced to each host: ML2 binds each port to the segment its host
 * reaches, each host builds the network's bridge from that segment (`eth1.120` on host1,
 * `eth1.130` on host2), and each host's frames leave tagged with its own segment's id. A VLAN
 * network on a physical network neither host maps fails its server's port binding
 * (`binding_failed`, Nova's PortBindingFailed).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/dataplane/netns/exec.js';
import { Names } from '../../src/dataplane/netns/names.js';
import { LAB_NS, type LabHost } from '../../src/lab/lab.js';
import { type Client, type TestCloud, serviceClients } from '../support/cloud.js';
import { eventually } from '../support/dataplane.js';
import { type LabServers, type TestLab, labServers, startTestLab } from '../support/lab.js';
import { capture, ping } from '../support/netns.js';
import { E2E_POSTGRES, ROOT, missing, needsE2ePostgres } from '../support/requires.js';

const PG = E2E_POSTGRES;
const skip = missing([ROOT]) ?? needsE2ePostgres();

const esc = (s: string) => s.replaceAll('.', '\\.');

describe.skipIf(skip)(`a network of two segments across a lab's hosts${skip ? ` — skipped: ${skip}` : ''}`, () => {
  let stop: (() => Promise<void>) | undefined;
  let server: TestCloud;
  let admin: Client;
  let nova: Client;
  let hosts: LabHost[] = [];
  let boot: LabServers['boot'];
  let active: LabServers['active'];

  beforeAll(async () => {
    let lab: TestLab;
    ({ lab, stop } = await startTestLab(2, {
      name: 'pocketstack_lab_segments',
      adminUrl: PG!,
      agentEnv: { POCKETSTACK_REPORT_INTERVAL: '2', POCKETSTACK_DATAPLANE_RESYNC_MS: '3000' },
      // host2's agent maps physB (not public) to its eth1: the later option wins.
      agentExtraArgs: (h) => (h.index === 2 ? ['--physical-interface-mappings', 'physB:eth1'] : []),
      config: { vlanRanges: [{ physicalNetwork: 'public' }, { physicalNetwork: 'physB' }, { physicalNetwork: 'physC' }] },
    }));
    ({ server, hosts } = lab);
    admin = (await serviceClients(server, 'network')).admin;
    nova = (await serviceClients(server, 'compute')).admin;
    ({ boot, active } = labServers(server));
  });

  afterAll(async () => {
    await stop?.();
  });

  const portOf = async (id: string) => (await admin.get(`/v2.0/ports?device_id=${id}`)).body.ports[0];
  const boundSegment = async (portId: string) =>
    (await server.cloud.services.network.store.db.selectFrom('ports').select('binding_segment_id').where('id', '=', portId).executeTakeFirstOrThrow())
      .binding_segment_id;
  /** The switch namespace's VLAN device `dev` once it is on the network's bridge. */
  const onBridge = async (h: LabHost, dev: string, networkId: string) => {
    const n = new Names(h.prefix);
    const l = await eventually(
      async () =>
        JSON.parse((await run('ip', ['-n', n.switchNs, '-j', 'link', 'show', dev], { allowFail: true })).stdout || '[]') as Array<{ master?: string }>,
      (x) => x[0]?.master === n.bridge(networkId),
      20_000,
    );
    return l[0]?.master;
  };
  /** The guest's NIC in its namespace (the one link that is not lo). */
  const nicOf = async (ns: string) => {
    const links = JSON.parse((await run('ip', ['-n', ns, '-j', 'link', 'show'])).stdout) as Array<{ ifname: string }>;
    return links.find((l) => l.ifname !== 'lo')!.ifname;
  };

  it('binds each host to the segment it maps and carries each host’s frames tagged with its own segment', async () => {
    const [h1, h2] = hosts;
    const res = await admin.post('/v2.0/networks', {
      network: {
        name: 'lab-two-segments',
        segments: [
          { 'provider:network_type': 'vlan', 'provider:physical_network': 'public', 'provider:segmentation_id': 120 },
          { 'provider:network_type': 'vlan', 'provider:physical_network': 'physB', 'provider:segmentation_id': 130 },
        ],
      },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const net = res.body.network as { id: string };
    const sub = await admin.post('/v2.0/subnets', { subnet: { network_id: net.id, cidr: '10.82.0.0/24', ip_version: 4, enable_dhcp: false } });
    expect(sub.status, JSON.stringify(sub.body)).toBe(201);
    const segs = (await admin.get(`/v2.0/segments?network_id=${net.id}`)).body.segments as Array<{ id: string; physical_network: string }>;
    const segOf = (physnet: string) => segs.find((s) => s.physical_network === physnet)!.id;

    const ids = [await boot('seg-a', net.id, 'host1'), await boot('seg-b', net.id, 'host2')];
    const [a, b] = await Promise.all(ids.map(active));
    const [pa, pb] = await Promise.all(ids.map(portOf));
    expect([pa['binding:vif_type'], pb['binding:vif_type']]).toEqual(['bridge', 'bridge']);
    expect(await boundSegment(pa.id)).toBe(segOf('public'));
    expect(await boundSegment(pb.id)).toBe(segOf('physB'));

    // Each host's bridge of the network holds its own segment's VLAN device of eth1, and only that.
    expect(await onBridge(h1, 'eth1.120', net.id)).toBe(new Names(h1.prefix).bridge(net.id));
    expect(await onBridge(h2, 'eth1.130', net.id)).toBe(new Names(h2.prefix).bridge(net.id));
    expect((await run('ip', ['-n', new Names(h1.prefix).switchNs, '-o', 'link', 'show', 'eth1.130'], { allowFail: true })).stdout).toBe('');
    expect((await run('ip', ['-n', new Names(h2.prefix).switchNs, '-o', 'link', 'show', 'eth1.120'], { allowFail: true })).stdout).toBe('');

    // Each guest asks for an address nobody has (the subnet has no DHCP: addresses set by hand):
    // its ARP request leaves its host on the lab's public switch tagged with its segment's id.
    const nsA = new Names(h1.prefix).instanceNs(a.id);
    const nsB = new Names(h2.prefix).instanceNs(b.id);
    const ipA = pa.fixed_ips[0].ip_address as string;
    const ipB = pb.fixed_ips[0].ip_address as string;
    for (const [ns, ip] of [
      [nsA, ipA],
      [nsB, ipB],
    ]) {
      await run('ip', ['-n', ns, 'addr', 'replace', `${ip}/24`, 'dev', await nicOf(ns)]);
    }
    const cap1 = capture(LAB_NS, `p${h1.index}`);
    const cap2 = capture(LAB_NS, `p${h2.index}`);
    await Promise.all([cap1.ready, cap2.ready]);
    try {
      expect(await ping('10.82.0.250', { ns: nsA, timeoutS: 2 })).toBe(false);
      expect(await ping('10.82.0.251', { ns: nsB, timeoutS: 2 })).toBe(false);
      const seen1 = await eventually(
        async () => cap1.out(),
        (t) => new RegExp(`vlan 120, .*Request who-has 10\\.82\\.0\\.250 tell ${esc(ipA)}`).test(t),
        10_000,
      );
      const seen2 = await eventually(
        async () => cap2.out(),
        (t) => new RegExp(`vlan 130, .*Request who-has 10\\.82\\.0\\.251 tell ${esc(ipB)}`).test(t),
        10_000,
      );
      expect(seen1).toMatch(new RegExp(`${pa.mac_address} > ff:ff:ff:ff:ff:ff, ethertype 802\\.1Q \\(0x8100\\), length \\d+: vlan 120, `));
      expect(seen2).toMatch(new RegExp(`${pb.mac_address} > ff:ff:ff:ff:ff:ff, ethertype 802\\.1Q \\(0x8100\\), length \\d+: vlan 130, `));
      // Neither left its host untagged, nor with the other segment's id.
      expect(seen1).not.toMatch(new RegExp(`vlan 130, .*tell ${esc(ipA)}`));
      expect(seen2).not.toMatch(new RegExp(`vlan 120, .*tell ${esc(ipB)}`));
      expect(seen2).not.toMatch(new RegExp(`${pb.mac_address} > ff:ff:ff:ff:ff:ff, ethertype ARP`));
    } finally {
      cap1.proc.kill();
      cap2.proc.kill();
    }
  });

  it('fails the binding of a server’s port on a host that maps none of its network’s physical networks', async () => {
    const res = await admin.post('/v2.0/networks', {
      network: { name: 'lab-physc', 'provider:network_type': 'vlan', 'provider:physical_network': 'physC', 'provider:segmentation_id': 140 },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const net = res.body.network as { id: string };
    await admin.post('/v2.0/subnets', { subnet: { network_id: net.id, cidr: '10.83.0.0/24', ip_version: 4 } });
    // A port bound to host2 by an admin: binding_failed, and no host wires it.
    const port = (await admin.post('/v2.0/ports', { port: { network_id: net.id, 'binding:host_id': 'host2' } })).body.port;
    expect(port).toMatchObject({ 'binding:vif_type': 'binding_failed', 'binding:vif_details': {}, status: 'DOWN' });
    // A server forced to host1: its build fails with Nova's PortBindingFailed.
    const id = await boot('seg-c', net.id, 'host1');
    const s = await eventually(
      async () => (await nova.get(`/v2.1/servers/${id}`)).body.server,
      (x) => x?.status === 'ERROR' || x?.status === 'ACTIVE',
      60_000,
    );
    expect(s.status).toBe('ERROR');
    expect(s.fault.message).toMatch(/Binding failed for port [0-9a-f-]{36}, please check neutron logs for more information\.$/);
    expect((await admin.get(`/v2.0/ports/${port.id}`)).body.port.status).toBe('DOWN');
  });
});
