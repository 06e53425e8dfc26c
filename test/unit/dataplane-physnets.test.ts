/**
 * Physical networks mapped to an interface (physnets.ts, the Linux bridge agent's
 * physical_interface_mappings): the interface moves from its home namespace into the switch and
 * onto its flat network's bridge while that network has a bridge on this host, and back home
 * when none has — never deleted, whatever it is (in the lab a veth: the host's cable).
 */
import { describe, expect, it } from 'vitest';
import { parseInterfaceMappings } from '../../src/config.js';
import type { NetworkRec, PhysnetSpec, Snapshot } from '../../src/dataplane/netns/model.js';
import { buildDesired } from '../../src/dataplane/netns/desired.js';
import { Names, taggerName, vlanDeviceName } from '../../src/dataplane/netns/names.js';
import { planNamespace } from '../../src/dataplane/netns/plan.js';
import { planPhysnets } from '../../src/dataplane/netns/physnets.js';
import type { LinkState } from '../../src/dataplane/netns/state.js';

const link = (name: string, extra: Partial<LinkState> = {}): LinkState => ({
  ifindex: 9,
  name,
  kind: 'veth',
  mtu: 1500,
  mac: 'fa:16:3e:00:00:01',
  up: false,
  master: null,
  linkIndex: 3,
  linkNetnsid: 0,
  addrs: [],
  ...extra,
});
const spec = (ports: PhysnetSpec['ports'], home = 'pslab-h2', vlanParents: PhysnetSpec['vlanParents'] = []): PhysnetSpec => ({
  home,
  mapped: ['eth1', 'eth2'],
  ports,
  vlanParents,
});
const pub = { dev: 'eth1', bridge: 'psb-public', owner: 'hostleg:pub' } as const;

describe('interfaces of mapped physical networks', () => {
  it('moves a wanted interface in from its home namespace, onto the bridge, up', () => {
    expect(planPhysnets(spec([pub]), new Map(), 'l2-sw')).toEqual({
      release: [],
      adopt: [{ cmd: 'link set eth1 netns l2-sw', owner: 'hostleg:pub' }],
      apply: [
        { cmd: 'link set eth1 master psb-public', owner: 'hostleg:pub' },
        { cmd: 'link set eth1 up', owner: 'hostleg:pub' },
      ],
    });
  });

  it('leaves one in place alone, and puts one that lost its bridge back on it', () => {
    const placed = new Map([['eth1', link('eth1', { master: 'psb-public', up: true })]]);
    expect(planPhysnets(spec([pub]), placed, 'l2-sw')).toEqual({ release: [], adopt: [], apply: [] });
    const loose = new Map([['eth1', link('eth1', { up: true })]]);
    expect(planPhysnets(spec([pub]), loose, 'l2-sw').apply.map((l) => l.cmd)).toEqual(['link set eth1 master psb-public']);
  });

  it('sends an unwanted one home (the root namespace by pid 1), never deleting it', () => {
    const there = new Map([['eth1', link('eth1', { master: 'psb-public', up: true })]]);
    expect(planPhysnets(spec([], ''), there, 'ps-sw').release.map((l) => l.cmd)).toEqual(['link set eth1 nomaster', 'link set eth1 netns 1']);
    expect(planPhysnets(spec([]), there, 'ps-sw').release.map((l) => l.cmd)).toEqual(['link set eth1 nomaster', 'link set eth1 netns pslab-h2']);
    // The switch's own plan does not take it for a stale veth of ours when told it is not ours.
    const sw = { name: 'ps-sw', kind: 'switch' as const, objectId: '', sysctls: [], links: [], addrs: [], routes: [] };
    const ctx = { peer: () => 'unknown' as const, desiredPeer: () => undefined, netnsArg: (n: string) => n, vlanDevices: true };
    const state = { links: there, routes: [], neighbours: [] };
    expect(planNamespace(sw, state, { ...ctx, owns: (n) => n !== 'eth1' }).cleanup).toEqual([]);
    expect(planNamespace(sw, state, { ...ctx, owns: () => true }).cleanup.map((l) => l.cmd)).toEqual(['link del eth1']);
  });

  it('reads physical_interface_mappings as neutron parses mappings: each physnet and interface once', () => {
    expect([...parseInterfaceMappings('public:eth1, physnet1:eth2')]).toEqual([
      ['public', 'eth1'],
      ['physnet1', 'eth2'],
    ]);
    expect(parseInterfaceMappings('').size).toBe(0);
    expect(() => parseInterfaceMappings('public')).toThrow(/Invalid mapping/);
    expect(() => parseInterfaceMappings('public:eth1,public:eth2')).toThrow(/not unique/);
    expect(() => parseInterfaceMappings('a:eth1,b:eth1')).toThrow(/not unique/);
    expect(() => parseInterfaceMappings('public:eth 1')).toThrow(/not an interface name/);
  });

  it("names a VLAN network's device as the Linux bridge agent does: `<interface>.<vid>`, a long interface hashed to 10 characters", () => {
    expect(vlanDeviceName('eth1', 100)).toBe('eth1.100');
    expect(vlanDeviceName('enp0s31f6', 4094)).toBe('enp0s31f6.4094');
    // neutron_lib get_interface_name: the first 4 characters and 6 of the name's SHA-1.
    expect(vlanDeviceName('enp0s20f0u1u2', 4094)).toBe('enp0c517c7.4094');
    expect(vlanDeviceName('enp0s20f0u1u2', 7)).toBe('enp0c517c7.7');
    // Without 802.1Q its hidden peer still fits in 15 characters (hashed alike when too long).
    expect(taggerName('eth1.100')).toBe('vt-eth1.100');
    expect(taggerName('enp0s31f6.4094')).toBe('vt-enp0s3257dad');
    expect(taggerName('enp0c517c7.4094')).toHaveLength(15);
  });

  it('brings a VLAN parent into the switch, up and on no bridge, and keeps it there while it parents one', () => {
    const parent = { dev: 'eth1', owner: 'hostleg:vlan100' } as const;
    expect(planPhysnets(spec([], 'pslab-h2', [parent]), new Map(), 'l2-sw')).toEqual({
      release: [],
      adopt: [{ cmd: 'link set eth1 netns l2-sw', owner: 'hostleg:vlan100' }],
      apply: [{ cmd: 'link set eth1 up', owner: 'hostleg:vlan100' }],
    });
    // Its flat network gone but a VLAN network still on it: off the bridge, not sent home.
    const enslaved = new Map([['eth1', link('eth1', { master: 'psb-public', up: true })]]);
    expect(planPhysnets(spec([], 'pslab-h2', [parent]), enslaved, 'l2-sw')).toEqual({
      release: [],
      adopt: [],
      apply: [{ cmd: 'link set eth1 nomaster', owner: 'hostleg:vlan100' }],
    });
    // Flat and VLAN networks on one interface: it is the flat network's bridge port.
    const placed = new Map([['eth1', link('eth1', { master: 'psb-public', up: true })]]);
    expect(planPhysnets(spec([pub], 'pslab-h2', [parent]), placed, 'l2-sw')).toEqual({ release: [], adopt: [], apply: [] });
  });

  describe('VLAN networks on a mapped physical network (the agent’s ensure_vlan_bridge)', () => {
    const names = new Names('ps');
    const VLAN_A = 'aaaaaaaa-0000-0000-0000-00000000000a';
    const VLAN_B = 'bbbbbbbb-0000-0000-0000-00000000000b';
    const OTHER = 'cccccccc-0000-0000-0000-00000000000c';
    const vlan = (id: string, physicalNetwork: string, segmentationId: number): NetworkRec => ({
      id,
      mtu: 1500,
      adminUp: true,
      networkType: 'vlan',
      physicalNetwork,
      segmentationId,
    });
    const snap = (networks: NetworkRec[]): Snapshot => ({
      networks,
      subnets: [],
      ports: [],
      securityGroups: [],
      routers: [],
      floatingIps: [],
      instances: null,
    });
    const opts = {
      publicPhysnet: 'public',
      protocolNames: new Map<number, string>(),
      interfaceMappings: { mappings: new Map([['public', 'eth1']]), home: 'pslab-h1' },
    };

    it("puts `<interface>.<vid>` on each network's bridge and the interface in the switch as their parent", () => {
      const d = buildDesired(snap([vlan(VLAN_A, 'public', 100), vlan(VLAN_B, 'public', 101), vlan(OTHER, 'physnet9', 100)]), names, opts);
      const sw = d.switch.links;
      expect(sw.find((l) => l.name === 'eth1.100')).toEqual({
        name: 'eth1.100',
        kind: 'vlan',
        mtu: 1500,
        master: names.bridge(VLAN_A),
        up: true,
        vlan: { parent: 'eth1', id: 100 },
        owner: `hostleg:${VLAN_A}`,
      });
      expect(sw.find((l) => l.name === 'eth1.101')).toMatchObject({ master: names.bridge(VLAN_B), vlan: { parent: 'eth1', id: 101 } });
      expect(d.physnets).toEqual({ home: 'pslab-h1', mapped: ['eth1'], ports: [], vlanParents: [{ dev: 'eth1', owner: `hostleg:${VLAN_A}` }] });
      // A VLAN network of an unmapped physical network gets no VLAN device.
      expect(sw.filter((l) => l.vlan?.id === 100).map((l) => l.name)).toEqual(['eth1.100']);
      expect(d.errors).toEqual(new Map());
    });

    it('without a mapping a VLAN network makes no device and moves no interface', () => {
      const d = buildDesired(snap([vlan(VLAN_A, 'public', 100)]), names, { ...opts, interfaceMappings: { mappings: new Map(), home: '' } });
      expect(d.switch.links.filter((l) => l.kind === 'vlan')).toEqual([]);
      expect(d.physnets?.vlanParents).toEqual([]);
    });
  });

  describe("bridge_mappings (an existing bridge of the host's)", () => {
    const names = new Names('ps');
    const FLAT = 'f1a70000-0000-0000-0000-000000000001';
    const VLAN = 'f1a70000-0000-0000-0000-000000000002';
    const net = (id: string, networkType: 'flat' | 'vlan', physicalNetwork: string): NetworkRec => ({
      id,
      mtu: 1500,
      adminUp: true,
      networkType,
      physicalNetwork,
      segmentationId: networkType === 'vlan' ? 100 : null,
    });
    const snap = (networks: NetworkRec[]): Snapshot => ({
      networks,
      subnets: [],
      ports: [],
      securityGroups: [],
      routers: [],
      floatingIps: [],
      instances: null,
    });
    const opts = {
      publicPhysnet: 'public',
      protocolNames: new Map<number, string>(),
      interfaceMappings: { mappings: new Map([['physnet1', 'eth1']]), home: '' },
      bridgeMappings: new Map([['physnet1', 'br-phys']]),
    };

    it("joins a flat network's bridge to the mapped bridge by a veth pair, before the physical network's interface mapping", () => {
      const d = buildDesired(snap([net(FLAT, 'flat', 'physnet1')]), names, opts);
      const owner = `hostleg:${FLAT}`;
      expect(d.root.links).toEqual([
        {
          name: names.hostLeg(FLAT),
          kind: 'veth',
          mtu: 1500,
          master: 'br-phys',
          up: true,
          peer: { ns: names.switchNs, name: names.hostLegSwitchEnd(FLAT) },
          creates: true,
          owner,
        },
      ]);
      expect(d.switch.links).toContainEqual({
        name: names.hostLegSwitchEnd(FLAT),
        kind: 'veth',
        mtu: 1500,
        master: names.bridge(FLAT),
        up: true,
        peer: { ns: '', name: names.hostLeg(FLAT) },
        owner,
      });
      // No address on the leg (it is not routed), and the interface of physnet1 is not taken.
      expect(d.root.addrs).toEqual([]);
      expect(d.physnets?.ports).toEqual([]);
      // The host's namespace plans the leg: made from there into the switch, onto the mapped bridge, up.
      const p = planNamespace(
        d.root,
        { links: new Map(), routes: [] },
        {
          peer: () => 'absent',
          desiredPeer: (ns, name) => d.switch.links.find((l) => ns === names.switchNs && l.name === name),
          owns: (n) => names.ownsHostLink(n),
          netnsArg: (ns) => ns,
          vlanDevices: true,
        },
      );
      expect(p.apply.map((l) => l.cmd)).toEqual([
        `link add ${names.hostLeg(FLAT)} mtu 1500 type veth peer name ${names.hostLegSwitchEnd(FLAT)} mtu 1500 netns ${names.switchNs}`,
        `link set ${names.hostLeg(FLAT)} master br-phys`,
        `link set ${names.hostLeg(FLAT)} up`,
      ]);
    });

    it('leaves a VLAN network of the physical network to its interface mapping, and a flat one without a bridge mapping too', () => {
      const d = buildDesired(snap([net(VLAN, 'vlan', 'physnet1')]), names, opts);
      expect(d.root.links).toEqual([]);
      expect(d.switch.links.map((l) => l.name)).toContain('eth1.100');
      const other = buildDesired(snap([net(FLAT, 'flat', 'physnet1')]), names, { ...opts, bridgeMappings: new Map([['physnet2', 'br-phys']]) });
      expect(other.root.links).toEqual([]);
      expect(other.physnets?.ports).toEqual([{ dev: 'eth1', bridge: names.bridge(FLAT), owner: `hostleg:${FLAT}` }]);
    });

    it('reads the option as neutron reads bridge_mappings', () => {
      expect(parseInterfaceMappings('physnet1:br-phys, physnet2:br-ex', 'bridge')).toEqual(
        new Map([
          ['physnet1', 'br-phys'],
          ['physnet2', 'br-ex'],
        ]),
      );
      expect(() => parseInterfaceMappings('physnet1', 'bridge')).toThrow("Invalid mapping: 'physnet1' (physnet:bridge)");
      expect(() => parseInterfaceMappings('a:br0,b:br0', 'bridge')).toThrow("Value br0 in mapping: 'b:br0' not unique");
    });
  });
});
