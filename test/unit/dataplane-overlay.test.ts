/**
 * The VXLAN overlay between hosts (overlay.ts): each tenant vxlan network with something of this
 * host on it gets `vxlan-<VNI>` on its bridge, and l2population's forwarding entries — every port
 * of the network bound to another host, MAC → that host's tunnel endpoint, and one flooding
 * entry per other host with ports there — planned against what the switch holds.
 */
import { describe, expect, it } from 'vitest';
import { buildDesired } from '../../src/dataplane/netns/desired.js';
import { hostPart } from '../../src/dataplane/netns/hostpart.js';
import type { NetworkRec, OverlaySpec, PortRec, Snapshot } from '../../src/dataplane/netns/model.js';
import { Names } from '../../src/dataplane/netns/names.js';
import { FLOOD_MAC, type OverlayState, parseOverlayState, planOverlay, predictOverlay } from '../../src/dataplane/netns/overlay.js';

const names = new Names('ps');
const TENANT = 'bbbbbbbb-0000-0000-0000-000000000002';
const OTHER = 'bbbbbbbb-0000-0000-0000-000000000003';
const PUBLIC = 'aaaaaaaa-0000-0000-0000-000000000001';
const VM1 = '11111111-0000-0000-0000-000000000001';
const VM2 = '11111111-0000-0000-0000-000000000002';
const VM3 = '11111111-0000-0000-0000-000000000003';
const TUNNELS = new Map([
  ['h1', '198.18.0.11'],
  ['h2', '198.18.0.12'],
  ['h3', '198.18.0.13'],
]);
const tunnelOf = (host: string, arpResponder = false) => ({ ip: TUNNELS.get(host)!, underlayNs: `pslab-${host}`, ...(arpResponder ? { arpResponder } : {}) });

const net = (id: string, extra: Partial<NetworkRec> = {}): NetworkRec => ({
  id,
  mtu: 1450,
  adminUp: true,
  networkType: 'vxlan',
  physicalNetwork: null,
  segmentationId: 7,
  ...extra,
});
const port = (id: string, mac: string, extra: Partial<PortRec> = {}): PortRec => ({
  id,
  networkId: TENANT,
  mac,
  adminUp: true,
  status: 'ACTIVE',
  deviceId: VM1,
  deviceOwner: 'compute:nova',
  bindingHost: 'h1',
  portSecurity: false,
  fixedIps: [],
  allowedAddressPairs: [],
  securityGroups: [],
  createdAt: '2026-01-01T00:00:00Z',
  extraDhcpOpts: [],
  ...extra,
});

const P1 = 'p0000000-0000-0000-0000-000000000001';
const P2 = 'p0000000-0000-0000-0000-000000000002';
const P3 = 'p0000000-0000-0000-0000-000000000003';
const DHCP = 'd0000000-0000-0000-0000-000000000001';
const RESERVED = 'd0000000-0000-0000-0000-000000000002';

/** VM1 on h1, VM2 on h2, the tenant network's DHCP on h2 (a reserved DHCP port still bound to h1). */
function cloud(ports?: PortRec[]): Snapshot {
  return {
    networks: [
      net(TENANT),
      net(OTHER, { segmentationId: 9 }),
      net(PUBLIC, { mtu: 1500, networkType: 'flat', physicalNetwork: 'public', segmentationId: null }),
    ],
    subnets: [],
    ports: ports ?? [
      port(P1, 'FA:16:3E:00:00:01'),
      port(P2, 'fa:16:3e:00:00:02', { deviceId: VM2, bindingHost: 'h2' }),
      port(DHCP, 'fa:16:3e:00:00:0d', { deviceId: 'dhcpx', deviceOwner: 'network:dhcp', bindingHost: 'h2' }),
      port(RESERVED, 'fa:16:3e:00:00:0e', { deviceId: 'reserved_dhcp_port', deviceOwner: 'network:dhcp', bindingHost: 'h1' }),
      // Only h2 has something on OTHER, and on the public flat network.
      port(P3, 'fa:16:3e:00:00:03', { networkId: OTHER, deviceId: VM2, bindingHost: 'h2' }),
    ],
    securityGroups: [],
    routers: [],
    floatingIps: [],
    instances: [
      { id: VM1, host: 'h1', power: 'running', bootGeneration: 1 },
      { id: VM2, host: 'h2', power: 'running', bootGeneration: 1 },
      { id: VM3, host: 'h3', power: 'running', bootGeneration: 1 },
    ],
    placement: { dhcp: new Map([[TENANT, ['h2']]]), l3: new Map(), tunnels: TUNNELS },
  };
}

function overlayOf(s: Snapshot, host: string, arpResponder = false): OverlaySpec {
  const d = buildDesired(hostPart(s, host), names, {
    publicPhysnet: 'public',
    protocolNames: new Map(),
    overlay: { host, tunnel: tunnelOf(host, arpResponder) },
  });
  return d.overlay!;
}

const empty = (): OverlayState => ({ devices: new Map(), fdb: [], neigh: [] });
const cmds = (lines: Array<{ cmd: string }>) => lines.map((l) => l.cmd);

describe('the VXLAN overlay between hosts', () => {
  it("gives a host a device per vxlan network it has ports on, with the network's VNI and MTU, on its bridge", () => {
    const o = overlayOf(cloud(), 'h1');
    expect(o.local).toBe('198.18.0.11');
    expect(o.underlayNs).toBe('pslab-h1');
    // OTHER has nothing of h1 on it: no bridge here, so no device either; the flat network never.
    expect(o.devices).toEqual([{ dev: 'vxlan-7', vni: 7, bridge: names.bridge(TENANT), mtu: 1450, proxy: false, owner: `network:${TENANT}` }]);
    expect(overlayOf(cloud(), 'h2').devices.map((d) => d.dev)).toEqual(['vxlan-7', 'vxlan-9']);
  });

  it("points every port bound to another host at that host's endpoint, and floods to each such host once (l2pop)", () => {
    const o = overlayOf(cloud(), 'h1');
    expect(o.fdb.map(({ dev, mac, dst }) => ({ dev, mac, dst }))).toEqual([
      { dev: 'vxlan-7', mac: 'fa:16:3e:00:00:02', dst: '198.18.0.12' },
      { dev: 'vxlan-7', mac: 'fa:16:3e:00:00:0d', dst: '198.18.0.12' },
      { dev: 'vxlan-7', mac: FLOOD_MAC, dst: '198.18.0.12' },
    ]);
    // h2 sees h1's server (its MAC lower-cased) but not h1's reserved DHCP port: it is not wired anywhere.
    const h2 = overlayOf(cloud(), 'h2');
    expect(h2.fdb.filter((e) => e.dev === 'vxlan-7').map((e) => [e.mac, e.dst])).toEqual([
      ['fa:16:3e:00:00:01', '198.18.0.11'],
      ['fa:16:3e:00:00:0e', '198.18.0.11'],
      [FLOOD_MAC, '198.18.0.11'],
    ]);
    expect(h2.fdb.filter((e) => e.dev === 'vxlan-9')).toEqual([]);
  });

  it('leaves out hosts that report no tunnel endpoint, unbound ports and other hosts’ networks', () => {
    const s = cloud();
    s.placement!.tunnels = new Map([['h1', '198.18.0.11']]);
    expect(overlayOf(s, 'h1').fdb).toEqual([]);
    const unbound = cloud([port(P1, 'fa:16:3e:00:00:01'), port(P2, 'fa:16:3e:00:00:02', { deviceOwner: '', deviceId: '', bindingHost: '' })]);
    expect(overlayOf(unbound, 'h1').fdb).toEqual([]);
  });

  it('creates a missing device in the underlay namespace, moves it into the switch, enslaves it and adds its entries', () => {
    const o = overlayOf(cloud(), 'h1');
    const plan = planOverlay(o, empty(), 'ps-sw');
    expect(plan.cleanup).toEqual([]);
    expect(cmds(plan.underlay)).toEqual([
      'link del vxlan-7',
      'link add vxlan-7 mtu 1450 type vxlan id 7 local 198.18.0.11 dstport 4789 nolearning',
      'link set vxlan-7 netns ps-sw',
    ]);
    expect(plan.underlay[0].tolerant).toBe(true);
    expect(cmds(plan.apply)).toEqual([`link set vxlan-7 master ${names.bridge(TENANT)}`, 'link set vxlan-7 up']);
    expect(cmds(plan.fdb)).toEqual([
      'fdb replace fa:16:3e:00:00:02 dev vxlan-7 dst 198.18.0.12 self permanent',
      'fdb replace fa:16:3e:00:00:0d dev vxlan-7 dst 198.18.0.12 self permanent',
      'fdb append 00:00:00:00:00:00 dev vxlan-7 dst 198.18.0.12 self permanent',
    ]);
  });

  it('adopts what an earlier run left (nothing to do) and removes what nobody wants any more', () => {
    const o = overlayOf(cloud(), 'h1');
    const adopted = planOverlay(o, predictOverlay(o), 'ps-sw');
    expect(adopted).toEqual({ cleanup: [], underlay: [], apply: [], fdb: [], neigh: [] });

    const left = predictOverlay(o);
    left.devices.set('vxlan-9', {
      name: 'vxlan-9',
      vni: 9,
      local: '198.18.0.11',
      port: 4789,
      learning: false,
      proxy: false,
      mtu: 1450,
      master: null,
      up: true,
    });
    left.fdb.push({ dev: 'vxlan-7', mac: 'fa:16:3e:00:00:99', dst: '198.18.0.13' }, { dev: 'vxlan-9', mac: FLOOD_MAC, dst: '198.18.0.12' });
    const plan = planOverlay(o, left, 'ps-sw');
    expect(cmds(plan.cleanup)).toEqual(['link del vxlan-9']);
    expect(plan.cleanup[0].owner).toBe('stale:vxlan-9');
    expect(cmds(plan.fdb)).toEqual(['fdb del fa:16:3e:00:00:99 dev vxlan-7 dst 198.18.0.13']);
    expect(plan.underlay).toEqual([]);
  });

  it('makes a device again when its endpoint, VNI or learning is wrong, and re-adds all its entries', () => {
    const o = overlayOf(cloud(), 'h1');
    const was = predictOverlay(o);
    was.devices.set('vxlan-7', { ...was.devices.get('vxlan-7')!, local: '198.18.0.99' });
    const plan = planOverlay(o, was, 'ps-sw');
    expect(cmds(plan.cleanup)).toEqual(['link del vxlan-7']);
    expect(plan.underlay.map((l) => l.cmd.split(' ').slice(0, 3).join(' '))).toEqual(['link del vxlan-7', 'link add vxlan-7', 'link set vxlan-7']);
    expect(plan.fdb).toHaveLength(3);
    const learning = predictOverlay(o);
    learning.devices.set('vxlan-7', { ...learning.devices.get('vxlan-7')!, learning: true });
    expect(cmds(planOverlay(o, learning, 'ps-sw').cleanup)).toEqual(['link del vxlan-7']);
  });

  it('follows a port that moves to another host: its entry points at the new host, the old host stops being flooded to', () => {
    const before = cloud();
    const o1 = overlayOf(before, 'h1');
    const moved = cloud([
      port(P1, 'fa:16:3e:00:00:01'),
      port(P2, 'fa:16:3e:00:00:02', { deviceId: VM3, bindingHost: 'h3' }),
      port(DHCP, 'fa:16:3e:00:00:0d', { deviceId: 'dhcpx', deviceOwner: 'network:dhcp', bindingHost: 'h3' }),
    ]);
    moved.placement!.dhcp = new Map([[TENANT, ['h3']]]);
    const o2 = overlayOf(moved, 'h1');
    const plan = planOverlay(o2, predictOverlay(o1), 'ps-sw');
    expect(plan.underlay).toEqual([]);
    expect(plan.apply).toEqual([]);
    expect(cmds(plan.fdb)).toEqual([
      'fdb del fa:16:3e:00:00:02 dev vxlan-7 dst 198.18.0.12',
      'fdb del fa:16:3e:00:00:0d dev vxlan-7 dst 198.18.0.12',
      'fdb del 00:00:00:00:00:00 dev vxlan-7 dst 198.18.0.12',
      'fdb replace fa:16:3e:00:00:02 dev vxlan-7 dst 198.18.0.13 self permanent',
      'fdb replace fa:16:3e:00:00:0d dev vxlan-7 dst 198.18.0.13 self permanent',
      'fdb append 00:00:00:00:00:00 dev vxlan-7 dst 198.18.0.13 self permanent',
    ]);
    // Deletions are tolerant (a replace may already have moved the entry) and come first.
    expect(plan.fdb.slice(0, 3).every((l) => l.tolerant)).toBe(true);
  });

  it('takes the device away when the host has nothing left on the network (its bridge goes)', () => {
    const o1 = overlayOf(cloud(), 'h1');
    const gone = cloud([port(P2, 'fa:16:3e:00:00:02', { deviceId: VM2, bindingHost: 'h2' })]);
    const o2 = overlayOf(gone, 'h1');
    expect(o2.devices).toEqual([]);
    expect(cmds(planOverlay(o2, predictOverlay(o1), 'ps-sw').cleanup)).toEqual(['link del vxlan-7']);
  });

  it('reads the devices and their remote entries as iproute2 prints them (the bridge’s own entries ignored)', () => {
    const links = JSON.stringify([
      {
        ifname: 'vxlan-7',
        mtu: 1450,
        flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'],
        master: 'brqbbbbbbbb-00',
        link_netnsid: 0,
        linkinfo: { info_kind: 'vxlan', info_data: { id: 7, local: '198.18.0.11', port: 4789, learning: false, ttl: 0 } },
      },
    ]);
    const fdb = JSON.stringify([
      { mac: '33:33:00:00:00:01', ifname: 'brqbbbbbbbb-00', flags: ['self'], state: 'permanent' },
      { mac: '36:1b:f3:a2:7e:82', ifname: 'vxlan-7', flags: [], master: 'brqbbbbbbbb-00', state: 'permanent' },
      { mac: 'FA:16:3E:00:00:02', ifname: 'vxlan-7', dst: '198.18.0.12', flags: ['self'], state: 'permanent' },
      { mac: '00:00:00:00:00:00', ifname: 'vxlan-7', dst: '198.18.0.12', flags: ['self'], state: 'permanent' },
    ]);
    const s = parseOverlayState(links, fdb);
    expect(s.devices.get('vxlan-7')).toEqual({
      name: 'vxlan-7',
      vni: 7,
      local: '198.18.0.11',
      port: 4789,
      learning: false,
      proxy: false,
      mtu: 1450,
      master: 'brqbbbbbbbb-00',
      up: true,
    });
    expect(s.fdb).toEqual([
      { dev: 'vxlan-7', mac: 'fa:16:3e:00:00:02', dst: '198.18.0.12' },
      { dev: 'vxlan-7', mac: FLOOD_MAC, dst: '198.18.0.12' },
    ]);
    expect(parseOverlayState('', '')).toEqual({ devices: new Map(), fdb: [], neigh: [] });
  });

  describe("l2population's ARP responder ([vxlan] arp_responder)", () => {
    const subnet = (id: string, ipVersion: 4 | 6, cidr: string) => ({
      id,
      networkId: TENANT,
      ipVersion,
      cidr,
      gatewayIp: null,
      hostRoutes: [],
      enableDhcp: false,
      dnsNameservers: [],
      ipv6AddressMode: null,
      ipv6RaMode: null,
    });
    const withSubnets = (s: Snapshot): Snapshot => ({ ...s, subnets: [subnet('s4', 4, '10.0.0.0/24'), subnet('s6', 6, '2001:db8::/64')] });
    const addressed = () =>
      withSubnets(
        cloud([
          port(P1, 'fa:16:3e:00:00:01', { fixedIps: [{ subnetId: 's4', ipAddress: '10.0.0.11' }] }),
          port(P2, 'FA:16:3E:00:00:02', {
            deviceId: VM2,
            bindingHost: 'h2',
            fixedIps: [
              { subnetId: 's4', ipAddress: '10.0.0.12' },
              { subnetId: 's6', ipAddress: '2001:DB8:0:0::c' },
            ],
          }),
          port(DHCP, 'fa:16:3e:00:00:0d', {
            deviceId: 'dhcpx',
            deviceOwner: 'network:dhcp',
            bindingHost: 'h2',
            fixedIps: [{ subnetId: 's4', ipAddress: '10.0.0.2' }],
          }),
        ]),
      );

    it('is off by default, as in Neutron: no proxy, no neighbour entries', () => {
      const o = overlayOf(addressed(), 'h1');
      expect(o.devices.every((d) => !d.proxy)).toBe(true);
      expect(o.neigh).toEqual([]);
      expect(planOverlay(o, empty(), 'ps-sw').underlay[1].cmd).not.toContain('proxy');
    });

    it("makes the device with proxy and one permanent entry per fixed IP of another host's ports (both families)", () => {
      const o = overlayOf(addressed(), 'h1', true);
      expect(o.devices.map((d) => [d.dev, d.proxy])).toEqual([['vxlan-7', true]]);
      expect(o.neigh.map((e) => [e.dev, e.ip, e.mac])).toEqual([
        ['vxlan-7', '10.0.0.12', 'fa:16:3e:00:00:02'],
        ['vxlan-7', '2001:db8::c', 'fa:16:3e:00:00:02'],
        ['vxlan-7', '10.0.0.2', 'fa:16:3e:00:00:0d'],
      ]);
      const plan = planOverlay(o, empty(), 'ps-sw');
      expect(plan.underlay[1].cmd).toBe('link add vxlan-7 mtu 1450 type vxlan id 7 local 198.18.0.11 dstport 4789 nolearning proxy');
      expect(cmds(plan.neigh)).toEqual([
        'neigh replace 10.0.0.12 lladdr fa:16:3e:00:00:02 dev vxlan-7 nud permanent',
        'neigh replace 2001:db8::c lladdr fa:16:3e:00:00:02 dev vxlan-7 nud permanent',
        'neigh replace 10.0.0.2 lladdr fa:16:3e:00:00:0d dev vxlan-7 nud permanent',
      ]);
      // h1's own port is answered by the port itself on the bridge: no entry for it on h2's side of… h1.
      expect(o.neigh.some((e) => e.ip === '10.0.0.11')).toBe(false);
      expect(overlayOf(addressed(), 'h2', true).neigh.map((e) => e.ip)).toEqual(['10.0.0.11']);
      // Applied: nothing more to do.
      expect(planOverlay(o, predictOverlay(o), 'ps-sw')).toEqual({ cleanup: [], underlay: [], apply: [], fdb: [], neigh: [] });
    });

    it('removes the entries of a port that goes, moves an IP given to another port, and leaves the rest', () => {
      const o1 = overlayOf(addressed(), 'h1', true);
      const after = withSubnets(
        cloud([
          port(P1, 'fa:16:3e:00:00:01', { fixedIps: [{ subnetId: 's4', ipAddress: '10.0.0.11' }] }),
          // P2 deleted; its IPv4 address now another port's on h3.
          port(P3, 'fa:16:3e:00:00:03', { deviceId: VM3, bindingHost: 'h3', fixedIps: [{ subnetId: 's4', ipAddress: '10.0.0.12' }] }),
          port(DHCP, 'fa:16:3e:00:00:0d', {
            deviceId: 'dhcpx',
            deviceOwner: 'network:dhcp',
            bindingHost: 'h2',
            fixedIps: [{ subnetId: 's4', ipAddress: '10.0.0.2' }],
          }),
        ]),
      );
      const plan = planOverlay(overlayOf(after, 'h1', true), predictOverlay(o1), 'ps-sw');
      expect(cmds(plan.neigh)).toEqual(['neigh del 2001:db8::c dev vxlan-7', 'neigh replace 10.0.0.12 lladdr fa:16:3e:00:00:03 dev vxlan-7 nud permanent']);
      expect(plan.neigh[0].tolerant).toBe(true);
    });

    it('makes a device of the other setting again (proxy is fixed at creation), and drops the entries with the option off', () => {
      const on = overlayOf(addressed(), 'h1', true);
      const off = overlayOf(addressed(), 'h1');
      const toOff = planOverlay(off, predictOverlay(on), 'ps-sw');
      expect(cmds(toOff.cleanup)).toEqual(['link del vxlan-7']);
      // The entries went with the device.
      expect(toOff.neigh).toEqual([]);
      const toOn = planOverlay(on, predictOverlay(off), 'ps-sw');
      expect(cmds(toOn.cleanup)).toEqual(['link del vxlan-7']);
      expect(toOn.neigh).toHaveLength(3);
      // Entries left on a kept device with the option off are removed.
      const left = predictOverlay(off);
      left.neigh.push({ dev: 'vxlan-7', ip: '10.0.0.99', mac: 'fa:16:3e:00:00:99' });
      expect(cmds(planOverlay(off, left, 'ps-sw').neigh)).toEqual(['neigh del 10.0.0.99 dev vxlan-7']);
    });

    it('reads proxy and the permanent neighbour entries of the VXLAN devices as iproute2 prints them', () => {
      const links = JSON.stringify([
        {
          ifname: 'vxlan-7',
          mtu: 1450,
          flags: ['UP'],
          linkinfo: { info_kind: 'vxlan', info_data: { id: 7, local: '198.18.0.11', port: 4789, learning: false, proxy: true } },
        },
      ]);
      const neigh = JSON.stringify([
        { dst: '10.0.0.12', dev: 'vxlan-7', lladdr: 'FA:16:3E:00:00:02', state: ['PERMANENT'] },
        { dst: '2001:db8:0::c', dev: 'vxlan-7', lladdr: 'fa:16:3e:00:00:02', state: ['PERMANENT'] },
        { dst: '10.0.0.1', dev: 'eth0', lladdr: 'fa:16:3e:00:00:01', state: ['PERMANENT'] },
        { dst: '10.0.0.13', dev: 'vxlan-7', lladdr: 'fa:16:3e:00:00:03', state: ['STALE'] },
      ]);
      const s = parseOverlayState(links, '[]', neigh);
      expect(s.devices.get('vxlan-7')?.proxy).toBe(true);
      expect(s.neigh).toEqual([
        { dev: 'vxlan-7', ip: '10.0.0.12', mac: 'fa:16:3e:00:00:02' },
        { dev: 'vxlan-7', ip: '2001:db8::c', mac: 'fa:16:3e:00:00:02' },
      ]);
    });
  });
});
