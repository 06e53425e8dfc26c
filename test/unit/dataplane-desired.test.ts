import { describe, expect, it } from 'vitest';
import { buildDesired } from '../../src/dataplane/netns/desired.js';
import { natFingerprint, renderNatTable } from '../../src/dataplane/netns/nat.js';
import type { FloatingIpRec, NetworkRec, PortRec, RouterRec, Snapshot, SubnetRec } from '../../src/dataplane/netns/model.js';
import { Names, idFragment } from '../../src/dataplane/netns/names.js';

const names = new Names('ps');
const opts = { publicPhysnet: 'public', protocolNames: new Map([[47, 'gre']]) };

const PUBLIC = 'aaaaaaaa-0000-0000-0000-000000000001';
const TENANT = 'bbbbbbbb-0000-0000-0000-000000000002';
const PUB_V4 = 'cccccccc-0000-0000-0000-000000000001';
const PUB_V6 = 'cccccccc-0000-0000-0000-000000000002';
const TEN_V4 = 'dddddddd-0000-0000-0000-000000000001';
const SG = 'eeeeeeee-0000-0000-0000-000000000001';
const SERVER = '11111111-2222-3333-4444-555555555555';
const ROUTER = '99999999-8888-7777-6666-555555555555';

function net(id: string, extra: Partial<NetworkRec> = {}): NetworkRec {
  return { id, mtu: 1450, adminUp: true, networkType: 'vxlan', physicalNetwork: null, segmentationId: 7, ...extra };
}

function port(id: string, extra: Partial<PortRec> = {}): PortRec {
  return {
    id,
    networkId: TENANT,
    mac: 'fa:16:3e:00:00:01',
    adminUp: true,
    status: 'DOWN',
    deviceId: SERVER,
    deviceOwner: 'compute:nova',
    bindingHost: 'host1',
    portSecurity: true,
    fixedIps: [{ subnetId: TEN_V4, ipAddress: '10.0.2.11' }],
    allowedAddressPairs: [],
    securityGroups: [SG],
    createdAt: '2026-01-01T00:00:00Z',
    extraDhcpOpts: [],
    ...extra,
  };
}

function snapshot(extra: Partial<Snapshot> = {}): Snapshot {
  const subnets: SubnetRec[] = [
    {
      id: PUB_V4,
      networkId: PUBLIC,
      ipVersion: 4,
      cidr: '172.24.4.0/24',
      gatewayIp: '172.24.4.1',
      hostRoutes: [],
      enableDhcp: false,
      dnsNameservers: [],
      ipv6AddressMode: null,
      ipv6RaMode: null,
    },
    {
      id: PUB_V6,
      networkId: PUBLIC,
      ipVersion: 6,
      cidr: '2001:db8::/64',
      gatewayIp: '2001:db8::2',
      hostRoutes: [],
      enableDhcp: false,
      dnsNameservers: [],
      ipv6AddressMode: null,
      ipv6RaMode: null,
    },
    {
      id: TEN_V4,
      networkId: TENANT,
      ipVersion: 4,
      cidr: '10.0.2.0/24',
      gatewayIp: '10.0.2.1',
      hostRoutes: [{ destination: '192.168.5.0/24', nexthop: '10.0.2.254' }],
      enableDhcp: false,
      dnsNameservers: [],
      ipv6AddressMode: null,
      ipv6RaMode: null,
    },
  ];
  return {
    networks: [net(PUBLIC, { mtu: 1500, networkType: 'flat', physicalNetwork: 'public', segmentationId: null }), net(TENANT)],
    subnets,
    ports: [port('0a000001-0000-0000-0000-000000000001')],
    securityGroups: [
      {
        id: SG,
        stateful: true,
        rules: [{ id: 'r1', direction: 'ingress', ethertype: 'IPv4', protocol: 'tcp', portMin: 80, portMax: 80, remoteIpPrefix: null, remoteGroupId: null }],
      },
    ],
    routers: [],
    floatingIps: [],
    instances: null,
    ...extra,
  };
}

describe('names', () => {
  it('fit IFNAMSIZ and are derived from ids', () => {
    const id = '3f2a1b4c-5d6e-7f80-9a0b-1c2d3e4f5a6b';
    for (const n of [
      names.tap(id),
      names.bridge(id),
      names.routerGateway(id),
      names.routerInterface(id),
      names.hostLeg(id),
      names.instanceNs(id),
      names.routerNs(id),
    ]) {
      expect(n.length).toBeLessThanOrEqual(15);
    }
    expect(names.tap(id)).toBe('tap3f2a1b4c-5d');
    expect(names.instanceNs(id)).toBe('psi-3f2a1b4c-5d');
    expect(names.hostLeg(id)).toBe('psx-3f2a1b4c-5d');
  });

  it('hash ids that are not UUIDs, so user strings never reach a name', () => {
    const n = names.instanceNs('x; rm -rf / #');
    expect(n).toMatch(/^psi-h[0-9a-f]{10}$/);
    expect(idFragment('x; rm -rf / #')).toBe(idFragment('x; rm -rf / #'));
  });

  it('claim only their own namespaces and host links', () => {
    expect(names.ownsNamespace('ps-sw')).toBe(true);
    expect(names.ownsNamespace('psi-3f2a1b4c-5d')).toBe(true);
    expect(names.ownsNamespace('psr-3f2a1b4c-5d')).toBe(true);
    for (const other of ['psychology', 'fa-sw', 'pt-sw', 'psi-short', 'qrouter-3f2a1b4c-5d6e', 'ps-sw2']) expect(names.ownsNamespace(other)).toBe(false);
    expect(names.ownsHostLink('psx-3f2a1b4c-5d')).toBe(true);
    expect(names.ownsHostLink('eth0')).toBe(false);
    expect(names.ownsHostLink('psx-brex')).toBe(false);
    expect(() => new Names('PS')).toThrow(/prefix/);
    expect(() => new Names('p')).toThrow(/prefix/);
  });
});

describe('desired state', () => {
  it('puts an instance in its own namespace with its MAC, address, default route and host routes', () => {
    const d = buildDesired(snapshot(), names, opts);
    const ns = d.namespaces.find((n) => n.kind === 'instance')!;
    expect(ns.name).toBe('psi-11111111-22');
    expect(ns.links.map((l) => l.name)).toEqual(['lo', 'eth0']);
    const eth0 = ns.links.find((l) => l.name === 'eth0')!;
    expect(eth0).toMatchObject({ kind: 'veth', mac: 'fa:16:3e:00:00:01', mtu: 1450, peer: { ns: 'ps-sw', name: 'tap0a000001-00' } });
    expect(ns.addrs).toEqual([{ dev: 'eth0', cidr: '10.0.2.11/24', owner: 'port:0a000001-0000-0000-0000-000000000001' }]);
    expect(ns.routes.map((r) => [r.dst, r.via])).toEqual([
      ['default', '10.0.2.1'],
      ['192.168.5.0/24', '10.0.2.254'],
    ]);
    expect(ns.sysctls).toContainEqual(['net.ipv4.ip_unprivileged_port_start', '0']);
    const tap = d.switch.links.find((l) => l.name === 'tap0a000001-00')!;
    expect(tap).toMatchObject({ creates: true, master: 'brqbbbbbbbb-00', mtu: 1450, up: true, peer: { ns: 'psi-11111111-22', name: 'eth0' } });
    expect(d.switch.links.find((l) => l.name === 'brqbbbbbbbb-00')).toMatchObject({ kind: 'bridge', mtu: 1450 });
    expect(d.wired.get('0a000001-0000-0000-0000-000000000001')).toEqual({
      portId: '0a000001-0000-0000-0000-000000000001',
      ns: 'psi-11111111-22',
      ifname: 'eth0',
      up: true,
    });
  });

  it('orders NICs by creation and numbers them eth0, eth1', () => {
    const d = buildDesired(
      snapshot({
        ports: [
          port('0a000002-0000-0000-0000-000000000002', {
            createdAt: '2026-01-01T00:00:05Z',
            mac: 'fa:16:3e:00:00:02',
            fixedIps: [{ subnetId: TEN_V4, ipAddress: '10.0.2.12' }],
          }),
          port('0a000001-0000-0000-0000-000000000001'),
        ],
      }),
      names,
      opts,
    );
    expect(d.wired.get('0a000001-0000-0000-0000-000000000001')!.ifname).toBe('eth0');
    expect(d.wired.get('0a000002-0000-0000-0000-000000000002')!.ifname).toBe('eth1');
  });

  it('follows compute: NIC order, power state and boot generation come from the instance records', () => {
    const d = buildDesired(
      snapshot({
        ports: [
          port('0a000001-0000-0000-0000-000000000001'),
          port('0a000002-0000-0000-0000-000000000002', { mac: 'fa:16:3e:00:00:02', fixedIps: [{ subnetId: TEN_V4, ipAddress: '10.0.2.12' }] }),
        ],
        instances: [
          {
            id: SERVER,
            power: 'stopped',
            bootGeneration: 3,
            nics: ['0a000002-0000-0000-0000-000000000002', '0a000001-0000-0000-0000-000000000001'],
          },
        ],
      }),
      names,
      opts,
    );
    expect(d.wired.get('0a000002-0000-0000-0000-000000000002')!.ifname).toBe('eth0');
    expect(d.instances).toEqual([{ id: SERVER, ns: 'psi-11111111-22', power: 'stopped', bootGeneration: 3 }]);
  });

  it('wires no port of an unknown server when compute says which servers exist', () => {
    const d = buildDesired(snapshot({ instances: [] }), names, opts);
    expect(d.namespaces).toEqual([]);
    expect(d.wired.size).toBe(0);
  });

  it('keeps a bad port out (with its reason) and still builds the rest', () => {
    const good = port('0a000001-0000-0000-0000-000000000001');
    const bad = port('0a000009-0000-0000-0000-000000000009', {
      deviceId: '22222222-0000-0000-0000-000000000000',
      fixedIps: [{ subnetId: 'nope', ipAddress: '10.0.2.99' }],
    });
    const d = buildDesired(snapshot({ ports: [good, bad] }), names, opts);
    expect(d.errors.get(`port:${bad.id}`)).toMatch(/not on a known subnet/);
    expect(d.wired.has(good.id)).toBe(true);
    expect(d.wired.has(bad.id)).toBe(false);
  });

  it('reports colliding names instead of sharing a device', () => {
    const a = port('abcdef01-2300-0000-0000-000000000001');
    const b = port('abcdef01-2300-0000-0000-000000000002', { mac: 'fa:16:3e:00:00:02', fixedIps: [{ subnetId: TEN_V4, ipAddress: '10.0.2.12' }] });
    const d = buildDesired(snapshot({ ports: [a, b] }), names, opts);
    expect(d.wired.has(a.id)).toBe(true);
    expect(d.errors.get(`port:${b.id}`)).toMatch(/already used/);
  });

  it('takes an administratively down port off the wire (tap down, not ACTIVE)', () => {
    const d = buildDesired(snapshot({ ports: [port('0a000001-0000-0000-0000-000000000001', { adminUp: false })] }), names, opts);
    expect(d.switch.links.find((l) => l.name.startsWith('tap'))!.up).toBe(false);
    expect(d.wired.get('0a000001-0000-0000-0000-000000000001')!.up).toBe(false);
  });

  it("gives the host a leg into the public bridge with the public subnets' gateway addresses", () => {
    const d = buildDesired(snapshot(), names, opts);
    expect(d.root.links).toEqual([
      { name: 'psx-aaaaaaaa-00', kind: 'veth', mtu: 1500, up: true, peer: { ns: 'ps-sw', name: 'ex-aaaaaaaa-00' }, creates: true, owner: `hostleg:${PUBLIC}` },
    ]);
    expect(d.root.addrs.map((a) => a.cidr)).toEqual(['172.24.4.1/24', '2001:db8::2/64']);
    expect(d.root.routes).toEqual([]);
    const end = d.switch.links.find((l) => l.name === 'ex-aaaaaaaa-00')!;
    expect(end.master).toBe('brqaaaaaaaa-00');
    expect(end.creates).toBeFalsy();
    // Another physical network is not bridged to the host.
    const other = buildDesired(snapshot(), names, { ...opts, publicPhysnet: 'datacentre' });
    expect(other.root.links).toEqual([]);
  });

  it('builds a router: qr- per interface, qg- with floating IPs, NAT, default route and extra routes', () => {
    const qr = port('0b000001-0000-0000-0000-000000000001', {
      deviceId: ROUTER,
      deviceOwner: 'network:router_interface',
      bindingHost: '',
      portSecurity: true,
      fixedIps: [{ subnetId: TEN_V4, ipAddress: '10.0.2.1' }],
      mac: 'fa:16:3e:00:01:01',
      securityGroups: [],
    });
    const qg = port('0c000001-0000-0000-0000-000000000001', {
      networkId: PUBLIC,
      deviceId: ROUTER,
      deviceOwner: 'network:router_gateway',
      bindingHost: '',
      fixedIps: [
        { subnetId: PUB_V4, ipAddress: '172.24.4.13' },
        { subnetId: PUB_V6, ipAddress: '2001:db8::7' },
      ],
      mac: 'fa:16:3e:00:01:02',
      securityGroups: [],
    });
    const vm = port('0a000001-0000-0000-0000-000000000001');
    const router: RouterRec = {
      id: ROUTER,
      adminUp: true,
      status: 'ACTIVE',
      enableSnat: true,
      gatewayPortId: qg.id,
      routes: [{ destination: '192.168.9.0/24', nexthop: '10.0.2.50' }],
    };
    const fip: FloatingIpRec = { id: 'f1', floatingIp: '172.24.4.101', fixedIp: '10.0.2.11', portId: vm.id, routerId: ROUTER, status: 'DOWN' };
    const unassociated: FloatingIpRec = { id: 'f2', floatingIp: '172.24.4.102', fixedIp: null, portId: null, routerId: null, status: 'DOWN' };
    const d = buildDesired(snapshot({ ports: [vm, qr, qg], routers: [router], floatingIps: [fip, unassociated] }), names, opts);
    const ns = d.namespaces.find((n) => n.kind === 'router')!;
    expect(ns.name).toBe('psr-99999999-88');
    expect(ns.sysctls).toContainEqual(['net.ipv4.ip_forward', '1']);
    expect(ns.links.map((l) => l.name).sort()).toEqual(['lo', 'qg-0c000001-00', 'qr-0b000001-00']);
    expect(ns.addrs.map((a) => `${a.dev} ${a.cidr}`).sort()).toEqual([
      // The metadata proxy's address (Neutron's proxy is reached at 169.254.169.254 through the router).
      'lo 169.254.169.254/32',
      'qg-0c000001-00 172.24.4.101/32',
      'qg-0c000001-00 172.24.4.13/24',
      'qg-0c000001-00 2001:db8::7/64',
      'qr-0b000001-00 10.0.2.1/24',
    ]);
    expect(ns.routes.map((r) => `${r.dst} via ${r.via}`).sort()).toEqual(['192.168.9.0/24 via 10.0.2.50', 'default via 172.24.4.1', 'default via 2001:db8::2']);
    expect(ns.nat).toEqual({
      gatewayIf: 'qg-0c000001-00',
      gatewayIp: '172.24.4.13',
      enableSnat: true,
      fips: [{ floating: '172.24.4.101', fixed: '10.0.2.11', owner: 'floatingip:f1' }],
      forwards: [],
    });
    // Router ports are trusted: no security group chains for them.
    expect([...d.filter.v4.filter.keys()].some((c) => c.includes('0b000001'))).toBe(false);
    expect(d.wired.get(qr.id)!.ns).toBe('psr-99999999-88');
    // The router knows the instances on its subnets before they answer ARP.
    expect(ns.neighbours).toEqual([{ dev: 'qr-0b000001-00', ip: '10.0.2.11', mac: 'fa:16:3e:00:00:01', owner: `port:${vm.id}` }]);
    // The host's neighbour table is not written: the router announces its addresses with
    // gratuitous ARPs as it adds them (plan.ts), which reach the host's leg and any other host.
    expect(d.root.neighbours).toBeUndefined();
  });

  it("builds an HA router with keepalived as ha_router.py does: its ha- device with the HA port's address, the legs' addresses and routes keepalived's", () => {
    const HA_NET = 'abababab-0000-0000-0000-000000000001';
    const HA_SUB = 'abababab-0000-0000-0000-00000000000a';
    const base = snapshot();
    base.networks.push(net(HA_NET, { segmentationId: 9 }));
    base.subnets.push({ ...base.subnets[2], id: HA_SUB, networkId: HA_NET, cidr: '169.254.192.0/18', gatewayIp: null, hostRoutes: [] });
    const qr = port('0b000001-0000-0000-0000-000000000001', {
      deviceId: ROUTER,
      deviceOwner: 'network:ha_router_replicated_interface',
      bindingHost: 'host2',
      fixedIps: [{ subnetId: TEN_V4, ipAddress: '10.0.2.1' }],
      mac: 'fa:16:3e:00:01:01',
      securityGroups: [],
    });
    const qg = port('0c000001-0000-0000-0000-000000000001', {
      networkId: PUBLIC,
      deviceId: ROUTER,
      deviceOwner: 'network:router_gateway',
      bindingHost: 'host2',
      fixedIps: [{ subnetId: PUB_V4, ipAddress: '172.24.4.13' }],
      mac: 'fa:16:3e:00:01:02',
      securityGroups: [],
    });
    const ha = port('0d000001-0000-0000-0000-000000000001', {
      networkId: HA_NET,
      deviceId: ROUTER,
      deviceOwner: 'network:router_ha_interface',
      bindingHost: 'host1',
      fixedIps: [{ subnetId: HA_SUB, ipAddress: '169.254.192.5' }],
      mac: 'fa:16:3e:00:01:03',
      securityGroups: [],
    });
    const vm = port('0a000001-0000-0000-0000-000000000001');
    const router: RouterRec = {
      id: ROUTER,
      adminUp: true,
      status: 'ACTIVE',
      enableSnat: true,
      gatewayPortId: qg.id,
      routes: [{ destination: '192.168.9.0/24', nexthop: '10.0.2.50' }],
      haVrid: 7,
    };
    const fip: FloatingIpRec = { id: 'f1', floatingIp: '172.24.4.101', fixedIp: '10.0.2.11', portId: vm.id, routerId: ROUTER, status: 'DOWN' };
    const snap = { ...base, ports: [vm, qr, qg, ha], routers: [router], floatingIps: [fip] };

    const d = buildDesired(snap, names, { ...opts, vrrp: { advertInt: 1 } });
    const ns = d.namespaces.find((n) => n.kind === 'router')!;
    expect(ns.links.map((l) => l.name).sort()).toEqual(['ha-0d000001-00', 'lo', 'qg-0c000001-00', 'qr-0b000001-00']);
    // The agent configures only the HA port's own address (and the metadata proxy's).
    expect(ns.addrs.map((a) => `${a.dev} ${a.cidr}`).sort()).toEqual(['ha-0d000001-00 169.254.192.5/18', 'lo 169.254.169.254/32']);
    expect(ns.routes).toEqual([]);
    expect(ns.vrrp).toMatchObject({ routerId: ROUTER, haIf: 'ha-0d000001-00', primaryVip: '169.254.0.7/24' });
    expect(ns.vrrp!.instance).toMatchObject({
      state: 'BACKUP',
      interface: 'ha-0d000001-00',
      vrid: 7,
      nopreempt: true,
      advertInt: 1,
      trackInterfaces: ['ha-0d000001-00'],
    });
    expect(ns.vrrp!.instance.vips.map((v) => `${v.dev} ${v.cidr}${v.scope ? ` scope ${v.scope}` : ''}`).sort()).toEqual([
      'qg-0c000001-00 172.24.4.101/32',
      'qg-0c000001-00 172.24.4.13/24',
      'qg-0c000001-00 fe80::f816:3eff:fe00:102/64 scope link',
      'qr-0b000001-00 10.0.2.1/24',
      'qr-0b000001-00 fe80::f816:3eff:fe00:101/64 scope link',
    ]);
    // No kernel link-local address on its devices: only the master holds the legs' (as VIPs).
    expect(ns.sysctls).toContainEqual(['net.ipv6.conf.default.addr_gen_mode', '1']);
    expect(ns.vrrp!.instance.routes).toEqual([
      { destination: '0.0.0.0/0', nexthop: '172.24.4.1', dev: 'qg-0c000001-00', gateway: true },
      { destination: '192.168.9.0/24', nexthop: '10.0.2.50' },
    ]);
    // NAT is there on every agent (only the master's addresses make it match).
    expect(ns.nat?.gatewayIp).toBe('172.24.4.13');

    // Without its HA port on this host the router is not built (ha_router.py skips it).
    const noPort = buildDesired({ ...snap, ports: [vm, qr, qg] }, names, { ...opts, vrrp: { advertInt: 1 } });
    expect(noPort.namespaces.some((n) => n.kind === 'router')).toBe(false);
    expect(noPort.errors.get(`router:${ROUTER}`)).toMatch(/no HA port on this host/);
    // Without keepalived (serve's one machine) an HA router is built as any router.
    const plain = buildDesired(snap, names, opts).namespaces.find((n) => n.kind === 'router')!;
    expect(plain.vrrp).toBeUndefined();
    expect(plain.addrs.map((a) => a.cidr)).toContain('10.0.2.1/24');
  });

  it("routes internal subnets of the external subnet's address scope out of the gateway without SNAT, the others with it", () => {
    const SCOPED = 'dddddddd-0000-0000-0000-0000000000a1';
    const OTHER = 'dddddddd-0000-0000-0000-0000000000a2';
    const base = snapshot();
    const sub = (id: string, cidr: string, scope: string | null): SubnetRec => ({
      ...base.subnets[2],
      id,
      cidr,
      gatewayIp: cidr.replace('0/24', '1'),
      addressScopeId: scope,
    });
    base.subnets[0].addressScopeId = 'scope-a';
    base.subnets.push(sub(SCOPED, '10.94.1.0/24', 'scope-a'), sub(OTHER, '10.95.1.0/24', 'scope-b'));
    const leg = (n: number, subnetId: string, ip: string) =>
      port(`0b00000${n}-0000-0000-0000-000000000001`, {
        deviceId: ROUTER,
        deviceOwner: 'network:router_interface',
        bindingHost: '',
        fixedIps: [{ subnetId, ipAddress: ip }],
        securityGroups: [],
      });
    const qg = port('0c000001-0000-0000-0000-000000000001', {
      networkId: PUBLIC,
      deviceId: ROUTER,
      deviceOwner: 'network:router_gateway',
      bindingHost: '',
      fixedIps: [{ subnetId: PUB_V4, ipAddress: '172.24.4.13' }],
      securityGroups: [],
    });
    const router: RouterRec = { id: ROUTER, adminUp: true, status: 'ACTIVE', enableSnat: true, gatewayPortId: qg.id, routes: [] };
    const build = () =>
      buildDesired(
        { ...base, ports: [leg(1, SCOPED, '10.94.1.1'), leg(2, OTHER, '10.95.1.1'), leg(3, TEN_V4, '10.0.2.1'), qg], routers: [router] },
        names,
        opts,
      );
    const nat = build().namespaces.find((n) => n.kind === 'router')!.nat!;
    expect(nat.sameScope).toEqual(['10.94.1.0/24']);
    const table = renderNatTable(nat);
    // Floating IPs first, then the scope's own addresses untouched, then the default SNAT.
    const post = table.slice(table.indexOf('chain postrouting'), table.indexOf('chain forward'));
    expect(post.indexOf('@fip_snat')).toBeLessThan(post.indexOf('ip saddr { 10.94.1.0/24 } accept'));
    expect(post.indexOf('ip saddr { 10.94.1.0/24 } accept')).toBeLessThan(post.indexOf('snat to 172.24.4.13'));
    // A scope change is a rule change: the table is replaced, not patched.
    base.subnets[0].addressScopeId = null;
    const unscoped = build().namespaces.find((n) => n.kind === 'router')!.nat!;
    expect(unscoped.sameScope).toBeUndefined();
    expect(natFingerprint(unscoped)).not.toBe(natFingerprint(nat));
    expect(renderNatTable(unscoped)).not.toContain('ip saddr {');
  });

  it("forwards a floating IP's ports: held on qg- (so announced), ranges unrolled N-N and 1-N, icmp forwarding nothing", () => {
    const qr = port('0b000001-0000-0000-0000-000000000001', {
      deviceId: ROUTER,
      deviceOwner: 'network:router_interface',
      bindingHost: '',
      fixedIps: [{ subnetId: TEN_V4, ipAddress: '10.0.2.1' }],
      mac: 'fa:16:3e:00:01:01',
      securityGroups: [],
    });
    const qg = port('0c000001-0000-0000-0000-000000000001', {
      networkId: PUBLIC,
      deviceId: ROUTER,
      deviceOwner: 'network:router_gateway',
      bindingHost: '',
      fixedIps: [{ subnetId: PUB_V4, ipAddress: '172.24.4.13' }],
      mac: 'fa:16:3e:00:01:02',
      securityGroups: [],
    });
    const vm = port('0a000001-0000-0000-0000-000000000001');
    const router: RouterRec = { id: ROUTER, adminUp: true, status: 'ACTIVE', enableSnat: true, gatewayPortId: qg.id, routes: [] };
    const fip: FloatingIpRec = { id: 'f3', floatingIp: '172.24.4.103', fixedIp: null, portId: null, routerId: ROUTER, status: 'DOWN' };
    const pf = (id: string, protocol: string, internal: [number, number], external: [number, number]) => ({
      id,
      floatingIpId: 'f3',
      protocol,
      internalIp: '10.0.2.11',
      internal,
      external,
    });
    const d = buildDesired(
      snapshot({
        ports: [vm, qr, qg],
        routers: [router],
        floatingIps: [fip],
        portForwardings: [
          pf('p1', 'tcp', [80, 80], [2280, 2280]),
          pf('p2', 'udp', [5000, 5001], [6000, 6001]),
          pf('p3', 'tcp', [22, 22], [2222, 2223]),
          pf('p4', 'icmp', [1, 1], [1, 1]),
        ],
      }),
      names,
      opts,
    );
    const ns = d.namespaces.find((n) => n.kind === 'router')!;
    expect(ns.addrs.map((a) => `${a.dev} ${a.cidr}`)).toContain('qg-0c000001-00 172.24.4.103/32');
    expect(ns.nat?.fips).toEqual([]);
    expect(ns.nat?.forwards?.map((f) => `${f.floating} ${f.protocol} ${f.port} → ${f.fixed}:${f.fixedPort}`)).toEqual([
      '172.24.4.103 tcp 2280 → 10.0.2.11:80',
      '172.24.4.103 udp 6000 → 10.0.2.11:5000',
      '172.24.4.103 udp 6001 → 10.0.2.11:5001',
      '172.24.4.103 tcp 2222 → 10.0.2.11:22',
      '172.24.4.103 tcp 2223 → 10.0.2.11:22',
    ]);
  });

  it("gives a port its own QoS policy, else its network's (not to router ports), on its tap", () => {
    const vm = port('0a000001-0000-0000-0000-000000000001');
    const own = port('0a000002-0000-0000-0000-000000000002', {
      mac: 'fa:16:3e:00:00:02',
      fixedIps: [{ subnetId: TEN_V4, ipAddress: '10.0.2.12' }],
      deviceId: '22222222-2222-3333-4444-555555555555',
      qosPolicyId: 'own',
    });
    const qr = port('0b000001-0000-0000-0000-000000000001', {
      deviceId: ROUTER,
      deviceOwner: 'network:router_interface',
      bindingHost: '',
      fixedIps: [{ subnetId: TEN_V4, ipAddress: '10.0.2.1' }],
      mac: 'fa:16:3e:00:01:01',
      securityGroups: [],
    });
    const router: RouterRec = { id: ROUTER, adminUp: true, status: 'ACTIVE', enableSnat: true, gatewayPortId: null, routes: [] };
    const d = buildDesired(
      snapshot({
        networks: [net(PUBLIC, { mtu: 1500, networkType: 'flat', physicalNetwork: 'public', segmentationId: null }), net(TENANT, { qosPolicyId: 'netpol' })],
        ports: [vm, own, qr],
        routers: [router],
        qosPolicies: new Map([
          ['netpol', [{ type: 'dscp_marking', mark: 26 }]],
          [
            'own',
            [
              { type: 'bandwidth_limit', direction: 'ingress', max: 1000, burst: 0 },
              { type: 'bandwidth_limit', direction: 'egress', max: 2000, burst: 100 },
              { type: 'packet_rate_limit', direction: 'egress', max: 0, burst: 0 },
            ],
          ],
        ]),
      }),
      names,
      opts,
    );
    expect(d.qos).toEqual([
      { portId: vm.id, owner: `port:${vm.id}`, dev: names.tap(vm.id), dscp: 26 },
      {
        portId: own.id,
        owner: `port:${own.id}`,
        dev: names.tap(own.id),
        // Burst 0 is 80 % of the rate (800 kbit = 100 000 bytes); 100 kbit is 12 500 bytes.
        ingressBw: { rate: 1_000_000, burst: 100_000 },
        egressBw: { rate: 2_000_000, burst: 12_500 },
      },
    ]);
  });

  it('drops a router that is administratively down', () => {
    const router: RouterRec = { id: ROUTER, adminUp: false, status: 'ACTIVE', enableSnat: true, gatewayPortId: null, routes: [] };
    const d = buildDesired(snapshot({ routers: [router] }), names, opts);
    expect(d.namespaces.some((n) => n.kind === 'router')).toBe(false);
  });
});

describe('load balancer namespaces', () => {
  it("give each VIP port (Octavia's, LBaaS v1's) a namespace with the VIP address and a route to the members", () => {
    const v2 = port('0d000001-0000-0000-0000-000000000001', {
      deviceOwner: 'Octavia',
      deviceId: 'lb-1',
      portSecurity: false,
      securityGroups: [],
      fixedIps: [{ subnetId: TEN_V4, ipAddress: '10.0.2.50' }],
    });
    const v1 = port('0d000002-0000-0000-0000-000000000002', {
      deviceOwner: 'neutron:LOADBALANCER',
      deviceId: 'lb-2',
      fixedIps: [{ subnetId: TEN_V4, ipAddress: '10.0.2.51' }],
      mac: 'fa:16:3e:00:00:02',
    });
    const unbound = port('0d000003-0000-0000-0000-000000000003', { deviceOwner: 'Octavia', deviceId: '', mac: 'fa:16:3e:00:00:03' });
    const d = buildDesired(snapshot({ ports: [v2, v1, unbound] }), names, opts);
    const lbs = d.namespaces.filter((n) => n.kind === 'loadbalancer');
    expect(lbs.map((n) => n.name)).toEqual(['psl-0d000001-00', 'psl-0d000002-00']);
    const ns = lbs[0];
    expect(ns.objectId).toBe(v2.id);
    expect(names.ownsNamespace(ns.name)).toBe(true);
    expect(ns.sysctls).toContainEqual(['net.ipv4.ip_unprivileged_port_start', '0']);
    expect(ns.links.map((l) => l.name)).toEqual(['lo', 'eth0']);
    expect(ns.addrs.map((a) => `${a.dev} ${a.cidr}`)).toEqual(['eth0 10.0.2.50/24']);
    expect(ns.routes.map((r) => `${r.dst} via ${r.via}`).sort()).toEqual(['192.168.5.0/24 via 10.0.2.254', 'default via 10.0.2.1']);
    expect(d.wired.get(v2.id)).toEqual({ portId: v2.id, ns: 'psl-0d000001-00', ifname: 'eth0', up: true });
    expect(d.wired.has(unbound.id)).toBe(false);
    // Without port security the VIP port gets no filter chains; with it, the group's rules apply.
    expect([...d.filter.v4.filter.keys()].some((c) => c.includes('0d000001'))).toBe(false);
    expect([...d.filter.v4.filter.keys()].some((c) => c.includes('0d000002'))).toBe(true);
  });
});
