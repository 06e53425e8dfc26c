/**
 * One host's part of the cloud (hostpart.ts): what `pocketstack agent --host` wires and reports
 * on — ports bound to it, DHCP for networks its DHCP agent holds, routers its L3 agent holds,
 * servers scheduled to it — and what it leaves to the others but still counts (their addresses).
 */
import { describe, expect, it } from 'vitest';
import { buildDesired } from '../../src/dataplane/netns/desired.js';
import { hostPart } from '../../src/dataplane/netns/hostpart.js';
import { desiredOverlay } from '../../src/dataplane/netns/overlay.js';
import type { NetworkRec, PortRec, Snapshot, SubnetRec } from '../../src/dataplane/netns/model.js';
import { Names } from '../../src/dataplane/netns/names.js';
import { statuses } from '../../src/dataplane/netns/status.js';

const names = new Names('ps');
const opts = { publicPhysnet: 'public', protocolNames: new Map<number, string>() };

const PUBLIC = 'aaaaaaaa-0000-0000-0000-000000000001';
const TENANT = 'bbbbbbbb-0000-0000-0000-000000000002';
const PUB_V4 = 'cccccccc-0000-0000-0000-000000000001';
const TEN_V4 = 'dddddddd-0000-0000-0000-000000000001';
const SG = 'eeeeeeee-0000-0000-0000-000000000001';
const VM1 = '11111111-0000-0000-0000-000000000001';
const VM2 = '11111111-0000-0000-0000-000000000002';
const ROUTER = '99999999-0000-0000-0000-000000000001';

const net = (id: string, extra: Partial<NetworkRec> = {}): NetworkRec => ({
  id,
  mtu: 1450,
  adminUp: true,
  networkType: 'vxlan',
  physicalNetwork: null,
  segmentationId: 7,
  ...extra,
});
const subnet = (id: string, networkId: string, cidr: string, gatewayIp: string, enableDhcp = false): SubnetRec => ({
  id,
  networkId,
  ipVersion: 4,
  cidr,
  gatewayIp,
  hostRoutes: [],
  enableDhcp,
  dnsNameservers: [],
  ipv6AddressMode: null,
  ipv6RaMode: null,
});
let macs = 0;
const port = (id: string, extra: Partial<PortRec> = {}): PortRec => ({
  id,
  networkId: TENANT,
  mac: `fa:16:3e:00:00:${(++macs).toString(16).padStart(2, '0')}`,
  adminUp: true,
  status: 'DOWN',
  deviceId: VM1,
  deviceOwner: 'compute:nova',
  bindingHost: 'h1',
  portSecurity: true,
  fixedIps: [],
  allowedAddressPairs: [],
  securityGroups: [SG],
  createdAt: '2026-01-01T00:00:00Z',
  extraDhcpOpts: [],
  ...extra,
});
const ip = (a: string, s = TEN_V4) => [{ subnetId: s, ipAddress: a }];

const P1 = 'p0000000-0000-0000-0000-000000000001';
const P2 = 'p0000000-0000-0000-0000-000000000002';
const DHCP1 = 'd0000000-0000-0000-0000-000000000001';
const DHCP2 = 'd0000000-0000-0000-0000-000000000002';
const QR = 'r0000000-0000-0000-0000-000000000001';
const QG = 'r0000000-0000-0000-0000-000000000002';

/** VM1 on h1, VM2 on h2; the tenant network's DHCP on h2 (h1's old port reserved); the router on h2. */
function cloud(extra: Partial<Snapshot> = {}): Snapshot {
  return {
    networks: [net(TENANT), net(PUBLIC, { networkType: 'flat', physicalNetwork: 'public', segmentationId: null })],
    subnets: [subnet(TEN_V4, TENANT, '10.0.0.0/24', '10.0.0.1', true), subnet(PUB_V4, PUBLIC, '172.24.4.0/24', '172.24.4.1')],
    ports: [
      port(P1, { fixedIps: ip('10.0.0.11') }),
      port(P2, { deviceId: VM2, bindingHost: 'h2', fixedIps: ip('10.0.0.12') }),
      port(DHCP1, { deviceId: 'reserved_dhcp_port', deviceOwner: 'network:dhcp', bindingHost: 'h1', fixedIps: ip('10.0.0.2'), securityGroups: [] }),
      port(DHCP2, { deviceId: 'dhcpx-net', deviceOwner: 'network:dhcp', bindingHost: 'h2', fixedIps: ip('10.0.0.3'), securityGroups: [] }),
      port(QR, { deviceId: ROUTER, deviceOwner: 'network:router_interface', bindingHost: '', fixedIps: ip('10.0.0.1'), securityGroups: [] }),
      port(QG, {
        networkId: PUBLIC,
        deviceId: ROUTER,
        deviceOwner: 'network:router_gateway',
        bindingHost: '',
        fixedIps: ip('172.24.4.10', PUB_V4),
        securityGroups: [],
      }),
    ],
    securityGroups: [
      {
        id: SG,
        stateful: true,
        rules: [{ id: 'r1', direction: 'ingress', ethertype: 'IPv4', protocol: null, portMin: null, portMax: null, remoteIpPrefix: null, remoteGroupId: SG }],
      },
    ],
    routers: [{ id: ROUTER, adminUp: true, status: 'ACTIVE', enableSnat: true, gatewayPortId: QG, routes: [] }],
    floatingIps: [
      { id: 'f1', floatingIp: '172.24.4.20', fixedIp: '10.0.0.11', portId: P1, routerId: ROUTER, status: 'DOWN' },
      { id: 'f2', floatingIp: '172.24.4.21', fixedIp: null, portId: null, routerId: null, status: 'ACTIVE' },
    ],
    instances: [
      { id: VM1, host: 'h1', power: 'running', bootGeneration: 1 },
      { id: VM2, host: 'h2', power: 'running', bootGeneration: 1 },
    ],
    placement: { dhcp: new Map([[TENANT, ['h2']]]), l3: new Map([[ROUTER, ['h2']]]) },
    ...extra,
  };
}

describe("one host's part of the cloud", () => {
  it('h1 runs its own server and wires only its port; another host holds the DHCP and the router', () => {
    const part = hostPart(cloud(), 'h1');
    expect(part.instances?.map((i) => i.id)).toEqual([VM1]);
    expect(part.ports.map((p) => p.id)).toEqual([P1]);
    expect(part.routers).toEqual([]);
    // f1's NAT is its router's (on h2); the unassociated one is DOWN wherever asked.
    expect(part.floatingIps.map((f) => f.id)).toEqual(['f2']);
    // No bridge for the public network here: nothing of h1's is on it (no host leg either).
    expect(part.networks.map((n) => n.id)).toEqual([TENANT]);
    expect(part.remotePorts?.map((p) => p.id).sort()).toEqual([DHCP1, DHCP2, P2, QG, QR].sort());

    const d = buildDesired(part, names, opts);
    expect(d.instances.map((i) => i.id)).toEqual([VM1]);
    expect([...d.wired.keys()]).toEqual([P1]);
    expect(d.dhcp).toEqual([]);
    expect(d.namespaces.map((n) => n.kind)).toEqual(['instance']);
    expect(d.root.links).toEqual([]);
    // VM2 (on h2) is still a member of the remote group VM1's port admits.
    const rules = [...d.filter.v4.filter.values()].flat().join('\n');
    expect(rules).toContain('10.0.0.12');
  });

  it('h2 runs its server, the DHCP server of the network its agent holds, and the router with its floating IPs', () => {
    const part = hostPart(cloud(), 'h2');
    expect(part.instances?.map((i) => i.id)).toEqual([VM2]);
    expect(part.ports.map((p) => p.id).sort()).toEqual([DHCP2, P2, QG, QR].sort());
    expect(part.floatingIps.map((f) => f.id)).toEqual(['f1', 'f2']);
    const d = buildDesired(part, names, opts);
    expect(d.namespaces.map((n) => n.kind).sort()).toEqual(['dhcp', 'instance', 'router']);
    // dnsmasq knows h1's server too, and the router NATs to it and knows it as a neighbour.
    expect(d.dhcp[0].network.ports.map((p) => p.id)).toContain(P1);
    const router = d.namespaces.find((n) => n.kind === 'router')!;
    expect(router.nat?.fips.map((f) => f.fixed)).toEqual(['10.0.0.11']);
    expect(router.neighbours?.map((x) => x.ip)).toContain('10.0.0.11');
    // The public network's host leg is where the router's gateway is.
    expect(d.root.links.map((l) => l.name)).toEqual([names.hostLeg(PUBLIC)]);
  });

  it("a machine being handed over (a live migration on one kernel) is neither host's, and its namespace name is kept free on both", () => {
    const handover = {
      instanceId: VM1,
      migration: 'm-1',
      source: 'h1',
      dest: 'h2',
      to: { prefix: 'l2', dataDir: '/srv/h2' },
      bootGeneration: 2,
      vcpus: 1,
      ramMb: 512,
    };
    for (const host of ['h1', 'h2']) {
      const part = hostPart(cloud({ handovers: [handover] }), host);
      expect(part.instances?.map((i) => i.id)).not.toContain(VM1);
      expect(part.ports.map((p) => p.id)).not.toContain(P1);
      expect(part.handovers).toEqual([handover]);
      const d = buildDesired(part, names, opts);
      expect(d.instances.map((i) => i.id)).not.toContain(VM1);
      // h2 keeps only its own server's namespace (VM2's), h1 none.
      expect(d.namespaces.filter((n) => n.kind === 'instance').length).toBe(host === 'h1' ? 0 : 1);
      expect([...(d.reserved ?? [])]).toEqual([names.instanceNs(VM1)]);
    }
    // A third host has no part in it.
    const third = hostPart(cloud({ handovers: [handover] }), 'h3');
    expect(third.handovers).toEqual([]);
    expect(buildDesired(third, names, opts).reserved).toBeUndefined();
  });

  it('never reports status on what another host holds', () => {
    for (const [host, mine] of [
      ['h1', [P1]],
      ['h2', [DHCP2, P2, QG, QR]],
    ] as const) {
      const part = hostPart(cloud(), host);
      const s = statuses(part, buildDesired(part, names, opts), new Map(), names);
      expect(s.ports.map((p) => p.id).sort()).toEqual([...mine].sort());
      expect(s.routers.map((r) => r.id)).toEqual(host === 'h2' ? [ROUTER] : []);
    }
  });

  it('a DHCP port left reserved on this host is served when the network is scheduled here again; a third host has nothing', () => {
    const moved = hostPart(cloud({ placement: { dhcp: new Map([[TENANT, ['h1']]]), l3: new Map() } }), 'h1');
    // DHCP1 is reserved (device_id reserved_dhcp_port) but still bound to h1 and the network is h1's: served.
    expect(moved.ports.map((p) => p.id).sort()).toEqual([DHCP1, P1].sort());
    expect(moved.routers).toEqual([]);
    const none = hostPart(cloud(), 'h3');
    expect([none.ports, none.routers, none.instances, none.networks]).toEqual([[], [], [], []]);
    expect(buildDesired(none, names, opts).namespaces).toEqual([]);
  });

  it("a trunk's subports go with its parent's host, even while still bound elsewhere", () => {
    const SUB = 's0000000-0000-0000-0000-000000000001';
    const snap = cloud({
      ports: [...cloud().ports, port(SUB, { deviceId: '', deviceOwner: 'trunk:subport', bindingHost: 'h2', fixedIps: ip('10.0.0.40') })],
      trunks: [{ id: 't1', portId: P1, adminUp: true, status: 'DOWN', subports: [{ portId: SUB, segmentationId: 100 }] }],
    });
    expect(hostPart(snap, 'h1').ports.map((p) => p.id)).toEqual([P1, SUB]);
    expect(hostPart(snap, 'h1').trunks?.map((t) => t.id)).toEqual(['t1']);
    expect(hostPart(snap, 'h2').ports.map((p) => p.id)).not.toContain(SUB);
    expect(hostPart(snap, 'h2').trunks).toEqual([]);
  });

  it("serve's one machine keeps the public network's bridge and host leg with no port of its own on it", () => {
    const part = hostPart(cloud(), 'h1', 'public');
    expect(part.networks.map((n) => n.id)).toEqual([TENANT, PUBLIC]);
    expect(part.ports.map((p) => p.id)).toEqual([P1]);
    expect(buildDesired(part, names, opts).root.links.map((l) => l.name)).toEqual([names.hostLeg(PUBLIC)]);
  });

  it('a mapped physical network is its bridge with the interface enslaved, where the router is, and no host leg anywhere', () => {
    const mapped = { ...opts, interfaceMappings: { mappings: new Map([['public', 'eth1']]), home: 'pslab-h2' } };
    const d2 = buildDesired(hostPart(cloud(), 'h2'), names, mapped);
    expect(d2.root.links).toEqual([]);
    expect(d2.root.neighbours ?? []).toEqual([]);
    expect(d2.physnets).toEqual({
      home: 'pslab-h2',
      mapped: ['eth1'],
      ports: [{ dev: 'eth1', bridge: names.bridge(PUBLIC), owner: `hostleg:${PUBLIC}` }],
      vlanParents: [],
    });
    expect(d2.switch.links.map((l) => l.name)).toContain(names.bridge(PUBLIC));
    // h1 has nothing on the public network: its interface stays home (mapped, never deleted).
    const d1 = buildDesired(hostPart(cloud(), 'h1'), names, { ...mapped, interfaceMappings: { ...mapped.interfaceMappings, home: 'pslab-h1' } });
    expect(d1.physnets).toEqual({ home: 'pslab-h1', mapped: ['eth1'], ports: [], vlanParents: [] });
    // A flat network on another (unmapped) physical network is as before: its own bridge, no leg.
    const other = buildDesired(hostPart(cloud(), 'h2'), names, { ...mapped, interfaceMappings: { mappings: new Map([['physnet1', 'eth2']]), home: '' } });
    expect(other.physnets?.ports).toEqual([]);
    expect(other.root.links.map((l) => l.name)).toEqual([names.hostLeg(PUBLIC)]);
  });

  it('without compute (ports grouped by device) a device is wired where its ports are bound', () => {
    const part = hostPart(cloud({ instances: null }), 'h2');
    expect(part.instances).toBeNull();
    expect(buildDesired(part, names, opts).instances.map((i) => i.id)).toEqual([VM2]);
  });
});

describe('a network of two segments on the wire (ML2 binds each host to the segment it reaches)', () => {
  const SEG_A = 'a0000000-0000-0000-0000-00000000000a';
  const SEG_B = 'b0000000-0000-0000-0000-00000000000b';
  const SEG_X = 'c0000000-0000-0000-0000-00000000000c';
  const segments = [
    { id: SEG_A, networkType: 'vlan', physicalNetwork: 'physnetA', segmentationId: 100 },
    { id: SEG_B, networkType: 'vlan', physicalNetwork: 'physnetB', segmentationId: 200 },
  ];
  // The network's own columns name its first segment, as the store keeps them.
  const multi = net(TENANT, { networkType: 'vlan', physicalNetwork: 'physnetA', segmentationId: 100, mtu: 1500, segments });
  const FAILED = 'p0000000-0000-0000-0000-0000000000ff';
  const snap = (): Snapshot =>
    cloud({
      networks: [multi],
      ports: [
        port(P1, { fixedIps: ip('10.0.0.11'), bindingSegment: SEG_A }),
        port(P2, { deviceId: VM2, bindingHost: 'h2', fixedIps: ip('10.0.0.12'), bindingSegment: SEG_B }),
        port(FAILED, { deviceId: VM1, bindingHost: 'h1', fixedIps: ip('10.0.0.13'), bindingFailed: true, bindingSegment: null }),
      ],
      routers: [],
      floatingIps: [],
      placement: { dhcp: new Map(), l3: new Map() },
    });
  const mapped = (physnet: string, dev: string, home: string) => ({ ...opts, interfaceMappings: { mappings: new Map([[physnet, dev]]), home } });
  const vlanLinks = (d: ReturnType<typeof buildDesired>) => d.switch.links.filter((l) => l.kind === 'vlan').map((l) => [l.name, l.master, l.vlan]);

  it("each host builds the network's bridge from the segment its ports are bound to: A's interface and tag on h1, B's on h2", () => {
    const h1 = buildDesired(hostPart(snap(), 'h1'), names, mapped('physnetA', 'eth1', 'pslab-h1'));
    expect(vlanLinks(h1)).toEqual([['eth1.100', names.bridge(TENANT), { parent: 'eth1', id: 100 }]]);
    expect(h1.physnets?.vlanParents.map((p) => p.dev)).toEqual(['eth1']);
    const h2 = buildDesired(hostPart(snap(), 'h2'), names, mapped('physnetB', 'eth2', 'pslab-h2'));
    expect(vlanLinks(h2)).toEqual([['eth2.200', names.bridge(TENANT), { parent: 'eth2', id: 200 }]]);
  });

  it('a port whose binding failed is wired nowhere and reported on by no host', () => {
    for (const host of ['h1', 'h2']) {
      const part = hostPart(snap(), host);
      expect(part.ports.map((p) => p.id)).not.toContain(FAILED);
      const d = buildDesired(part, names, mapped('physnetA', 'eth1', 'x'));
      expect(d.wired.has(FAILED)).toBe(false);
      expect(statuses(part, d, new Map(), names).ports.map((p) => p.id)).not.toContain(FAILED);
    }
  });

  it('with no port of its own bound to a segment, a host takes the first segment it reaches', () => {
    const legacy = cloud({
      networks: [multi],
      ports: [port(P1, { bindingHost: 'h2', deviceId: VM2, fixedIps: ip('10.0.0.11') })],
      routers: [],
      floatingIps: [],
    });
    const part = hostPart(legacy, 'h2', undefined, (seg) => seg.physicalNetwork === 'physnetB');
    expect(part.networks[0]).toMatchObject({ networkType: 'vlan', physicalNetwork: 'physnetB', segmentationId: 200, segmentId: SEG_B });
    // Without a reachable one, the network's first (its columns).
    expect(hostPart(legacy, 'h2').networks[0]).toMatchObject({ physicalNetwork: 'physnetA', segmentationId: 100 });
  });

  it("l2population's entries on a vxlan segment leave out the ports bound to the network's VLAN segment elsewhere", () => {
    const mixed = net(TENANT, { segments: [{ id: SEG_X, networkType: 'vxlan', physicalNetwork: null, segmentationId: 7 }, segments[0]] });
    const P3 = 'p0000000-0000-0000-0000-000000000003';
    const s = cloud({
      networks: [mixed],
      ports: [
        port(P1, { fixedIps: ip('10.0.0.11'), bindingSegment: SEG_X }),
        port(P2, { deviceId: VM2, bindingHost: 'h2', fixedIps: ip('10.0.0.12'), bindingSegment: SEG_X }),
        port(P3, { deviceId: VM2, bindingHost: 'h3', fixedIps: ip('10.0.0.14'), bindingSegment: SEG_A }),
      ],
      routers: [],
      floatingIps: [],
      placement: {
        dhcp: new Map(),
        l3: new Map(),
        tunnels: new Map([
          ['h1', '198.18.0.11'],
          ['h2', '198.18.0.12'],
          ['h3', '198.18.0.13'],
        ]),
      },
    });
    const part = hostPart(s, 'h1');
    const d = buildDesired(part, names, opts);
    const overlay = desiredOverlay(part, d.switch, names, 'h1', { ip: '198.18.0.11', underlayNs: 'pslab-h1' });
    expect(overlay.devices.map((x) => x.vni)).toEqual([7]);
    expect(overlay.fdb.map((f) => f.dst).sort()).toEqual(['198.18.0.12', '198.18.0.12']);
  });
});
