/**
 * Physical networks mapped to an interface (physnets.ts, the Linux bridge agent's
 * physical_interface_mappings): the interface moves from its home namespace into the switch and
 * onto its flat network's bridge while that network has a bridge on this host, and back home
 * when none has — never deleted, whatever it is (in the lab a veth: the host's cable).
 */
import { describe, expect, it } from 'vitest';
import { parseInterfaceMappings } from '../../src/config.js';
import type { PhysnetSpec } from '../../src/dataplane/netns/model.js';
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
const spec = (ports: PhysnetSpec['ports'], home = 'pslab-h2'): PhysnetSpec => ({ home, mapped: ['eth1', 'eth2'], ports });
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
});
