import { describe, expect, it } from 'vitest';
import { applyToCache, planIptables, type Tables } from '../../src/dataplane/netns/iptables.js';
import { parseAddressEvent, parseMonitorLine } from '../../src/dataplane/netns/monitor.js';
import type { DesiredNs, NatSpec } from '../../src/dataplane/netns/model.js';
import { parseNatState, planNat, planNatChange, renderNatTable } from '../../src/dataplane/netns/nat.js';
import { type PeerView, batchFailures, hostConflicts, planNamespace, predictState, withoutOwners } from '../../src/dataplane/netns/plan.js';
import { type LinkState, type NsState, parseIptablesSave, parseNsRead } from '../../src/dataplane/netns/state.js';

const link = (name: string, extra: Partial<LinkState> = {}): LinkState => ({
  ifindex: 2,
  name,
  kind: 'veth',
  mtu: 1450,
  mac: 'fa:16:3e:00:00:01',
  up: true,
  master: null,
  linkIndex: 7,
  linkNetnsid: 0,
  addrs: [],
  ...extra,
});

const instanceNs = (): DesiredNs => ({
  name: 'psi-11111111-22',
  kind: 'instance',
  objectId: '11111111-2222',
  sysctls: [],
  links: [
    { name: 'lo', kind: 'loopback', up: true, owner: 'instance:x' },
    { name: 'eth0', kind: 'veth', mtu: 1450, mac: 'fa:16:3e:00:00:01', up: true, peer: { ns: 'ps-sw', name: 'tapaaaa' }, owner: 'port:a' },
  ],
  addrs: [{ dev: 'eth0', cidr: '10.0.2.11/24', owner: 'port:a' }],
  routes: [{ dst: 'default', via: '10.0.2.1', owner: 'instance:x' }],
});

const switchNs = (): DesiredNs => ({
  name: 'ps-sw',
  kind: 'switch',
  objectId: '',
  sysctls: [],
  links: [
    { name: 'tapaaaa', kind: 'veth', mtu: 1450, master: 'brqnet', up: true, peer: { ns: 'psi-11111111-22', name: 'eth0' }, creates: true, owner: 'port:a' },
    { name: 'brqnet', kind: 'bridge', mtu: 1450, up: true, owner: 'network:n' },
  ],
  addrs: [],
  routes: [],
});

const ctx = (peers: Record<string, PeerView>, desired: DesiredNs[] = [instanceNs(), switchNs()], root = false, vlanDevices = true) => ({
  peer: (ns: string, name: string) => peers[`${ns}/${name}`] ?? 'absent',
  desiredPeer: (ns: string, name: string) => desired.find((d) => d.name === ns)?.links.find((l) => l.name === name),
  owns: (name: string) => (root ? name.startsWith('psx-') : true),
  netnsArg: (ns: string) => ns,
  vlanDevices,
});

/** The host's namespace with a leg into the public bridge. */
const rootNs = (): DesiredNs => ({
  name: '',
  kind: 'root',
  objectId: '',
  sysctls: [],
  links: [{ name: 'psx-aaaa', kind: 'veth', mtu: 1500, up: true, peer: { ns: 'ps-sw', name: 'ex-aaaa' }, creates: true, owner: 'hostleg:n' }],
  addrs: [{ dev: 'psx-aaaa', cidr: '172.24.4.1/24', owner: 'hostleg:n' }],
  routes: [],
});

/** An instance namespace exactly as desired, paired with its tap. */
function goodInstance(): { state: NsState; tap: LinkState } {
  const eth0 = link('eth0', { ifindex: 2, linkIndex: 7, addrs: ['10.0.2.11/24'] });
  const tap = link('tapaaaa', { ifindex: 7, linkIndex: 2, master: 'brqnet', mac: '2a:00:00:00:00:01' });
  const state: NsState = {
    links: new Map([
      ['lo', link('lo', { ifindex: 1, kind: null, linkIndex: null })],
      ['eth0', eth0],
    ]),
    routes: [{ family: 4, dst: 'default', via: '10.0.2.1', dev: 'eth0', protocol: 'boot' }],
  };
  return { state, tap };
}

describe('namespace plan', () => {
  it('builds a new switch from nothing: bridge first, then the veth straight into the instance', () => {
    const p = planNamespace(switchNs(), null, ctx({}));
    expect(p.cleanup).toEqual([]);
    expect(p.apply.map((l) => l.cmd)).toEqual([
      'link add brqnet mtu 1450 type bridge',
      'link set brqnet up',
      'link add tapaaaa mtu 1450 type veth peer name eth0 address fa:16:3e:00:00:01 mtu 1450 netns psi-11111111-22',
      'link set tapaaaa master brqnet',
      'link set tapaaaa up',
    ]);
    expect(p.createsPeers).toEqual(['psi-11111111-22/eth0']);
  });

  it('configures the instance end once its peer created it', () => {
    const p = planNamespace(instanceNs(), null, ctx({}));
    expect(p.apply.map((l) => l.cmd)).toEqual([
      'link set eth0 up',
      'link set lo up',
      'addr replace 10.0.2.11/24 dev eth0',
      'route replace default via 10.0.2.1',
    ]);
    expect(p.apply.find((l) => l.cmd.startsWith('addr'))!.owner).toBe('port:a');
  });

  describe('a VLAN subinterface (a trunk subport)', () => {
    const withVlan = (): DesiredNs => {
      const ns = instanceNs();
      ns.links.push({ name: 'eth0.101', kind: 'vlan', mtu: 1450, mac: 'fa:16:3e:00:00:31', up: true, vlan: { parent: 'eth0', id: 101 }, owner: 'port:sub' });
      return ns;
    };
    const vlanLines = (p: ReturnType<typeof planNamespace>) => p.apply.map((l) => l.cmd).filter((c) => c.includes('101'));

    it('with 802.1Q: a VLAN device on the parent', () => {
      expect(vlanLines(planNamespace(withVlan(), null, ctx({})))).toEqual([
        'link add link eth0 name eth0.101 address fa:16:3e:00:00:31 mtu 1450 type vlan id 101',
        'link set eth0.101 up',
      ]);
    });

    it('without: a veth pair in the namespace, its hidden peer up and silent (tc-BPF joins it to the parent)', () => {
      expect(vlanLines(planNamespace(withVlan(), null, ctx({}, undefined, false, false)))).toEqual([
        'link add eth0.101 address fa:16:3e:00:00:31 mtu 1450 type veth peer name vt-eth0.101 mtu 1450',
        'link set vt-eth0.101 addrgenmode none',
        'link set vt-eth0.101 up',
        'link set eth0.101 up',
      ]);
    });

    it('without: a pair in place (read back or predicted) is kept; a VLAN device in its place is replaced', () => {
      const { state } = goodInstance();
      state.links.set('eth0.101', link('eth0.101', { ifindex: 8, linkIndex: 9, linkNetnsid: null, mac: 'fa:16:3e:00:00:31', addrs: [] }));
      state.links.set('vt-eth0.101', link('vt-eth0.101', { ifindex: 9, linkIndex: 8, linkNetnsid: null }));
      const p = planNamespace(withVlan(), state, ctx({ 'ps-sw/tapaaaa': goodInstance().tap }, undefined, false, false));
      expect([...p.cleanup, ...p.apply].filter((l) => l.cmd.includes('101'))).toEqual([]);
      const predicted = predictState(withVlan(), false);
      expect(predicted.links.get('vt-eth0.101')).toMatchObject({ kind: 'veth', up: true });
      expect(planNamespace(withVlan(), predicted, ctx({}, undefined, false, false)).cleanup.filter((l) => l.cmd.includes('101'))).toEqual([]);
      state.links.set('eth0.101', link('eth0.101', { kind: 'vlan', vlan: { id: 101, parent: 'eth0' }, linkIndex: null }));
      state.links.delete('vt-eth0.101');
      expect(planNamespace(withVlan(), state, ctx({}, undefined, false, false)).cleanup.map((l) => l.cmd)).toContain('link del eth0.101');
    });
  });

  it("leaves keepalived's addresses and virtual routes alone in an HA router (it must not fight VRRP), and still removes strays", () => {
    const { state, tap } = goodInstance();
    state.links.get('lo')!.up = true;
    const ns = instanceNs();
    // The same namespace as an HA router's: eth0 is a leg whose address keepalived holds, ha0 its VRRP device.
    ns.kind = 'router';
    ns.links.push({ name: 'ha0', kind: 'veth', mtu: 1450, mac: 'fa:16:3e:00:00:02', up: true, peer: { ns: 'ps-sw', name: 'tapbbbb' }, owner: 'port:h' });
    ns.addrs = [{ dev: 'ha0', cidr: '169.254.192.5/18', owner: 'port:h' }];
    ns.routes = [];
    ns.vrrp = {
      routerId: 'r',
      haIf: 'ha0',
      primaryVip: '169.254.0.7/24',
      owner: 'router:r',
      instance: {
        state: 'BACKUP',
        interface: 'ha0',
        vrid: 7,
        haCidrs: ['169.254.192.0/18'],
        trackInterfaces: ['ha0'],
        vips: [{ cidr: '10.0.2.11/24', dev: 'eth0', track: false }],
        routes: [{ destination: '0.0.0.0/0', nexthop: '10.0.2.1', dev: 'eth0' }],
      },
    };
    // The master's kernel: the VIPs, the primary VIP, keepalived's default route (protocol static), and a stray address.
    state.links.get('eth0')!.addrs = ['10.0.2.11/24', '10.0.2.99/24'];
    state.links.set('ha0', link('ha0', { ifindex: 3, linkIndex: 8, mac: 'fa:16:3e:00:00:02', addrs: ['169.254.192.5/18', '169.254.0.7/24'] }));
    state.routes = [{ family: 4, dst: 'default', via: '10.0.2.1', dev: 'eth0', protocol: 'static' }];
    const tapB = link('tapbbbb', { ifindex: 8, linkIndex: 3, master: 'brqnet', mac: '2a:00:00:00:00:02' });
    const p = planNamespace(ns, state, ctx({ 'ps-sw/tapaaaa': tap, 'ps-sw/tapbbbb': tapB }, [ns, switchNs()]));
    expect(p.apply.map((l) => l.cmd)).toEqual(['addr del 10.0.2.99/24 dev eth0']);
    // A backup's kernel (no VIPs, no route): nothing to add either.
    state.links.get('eth0')!.addrs = [];
    state.links.get('ha0')!.addrs = ['169.254.192.5/18'];
    state.routes = [];
    expect(planNamespace(ns, state, ctx({ 'ps-sw/tapaaaa': tap, 'ps-sw/tapbbbb': tapB }, [ns, switchNs()])).apply).toEqual([]);
  });

  /** A legacy router: its gateway leg with the gateway's addresses and a floating IP, an interface, the metadata address. */
  const routerNs = (): DesiredNs => ({
    name: 'psr-99999999-88',
    kind: 'router',
    objectId: 'r',
    sysctls: [],
    links: [
      { name: 'lo', kind: 'loopback', up: true, owner: 'router:r' },
      { name: 'qg-1', kind: 'veth', mtu: 1500, mac: 'fa:16:3e:00:01:02', up: true, peer: { ns: 'ps-sw', name: 'tapg' }, owner: 'port:g' },
      { name: 'qr-1', kind: 'veth', mtu: 1450, mac: 'fa:16:3e:00:01:03', up: true, peer: { ns: 'ps-sw', name: 'tapr' }, owner: 'port:i' },
    ],
    addrs: [
      { dev: 'qg-1', cidr: '172.24.4.13/24', owner: 'port:g' },
      { dev: 'qg-1', cidr: '2001:db8::5/64', owner: 'port:g' },
      { dev: 'qg-1', cidr: '172.24.4.101/32', owner: 'floatingip:f1' },
      { dev: 'qr-1', cidr: '10.0.2.1/24', owner: 'port:i' },
      { dev: 'lo', cidr: '169.254.169.254/32', owner: 'router:r' },
    ],
    routes: [],
  });
  const routerState = (addrs: Record<string, string[]>): { state: NsState; peers: Record<string, PeerView> } => {
    const qg = link('qg-1', { ifindex: 2, linkIndex: 12, mtu: 1500, mac: 'fa:16:3e:00:01:02', addrs: addrs['qg-1'] ?? [] });
    const qr = link('qr-1', { ifindex: 3, linkIndex: 13, mac: 'fa:16:3e:00:01:03', addrs: addrs['qr-1'] ?? [] });
    const lo = link('lo', { ifindex: 1, kind: null, linkIndex: null, addrs: addrs.lo ?? [] });
    return {
      state: {
        links: new Map([
          ['lo', lo],
          ['qg-1', qg],
          ['qr-1', qr],
        ]),
        routes: [],
      },
      peers: {
        'ps-sw/tapg': link('tapg', { ifindex: 12, linkIndex: 2, mtu: 1500, master: 'brqpub' }),
        'ps-sw/tapr': link('tapr', { ifindex: 13, linkIndex: 3, master: 'brqnet' }),
      },
    };
  };

  it("announces the IPv4 addresses it adds to a router's legs, as the L3 agent's send_ip_addr_adv_notif: not IPv6, not lo, not what is there", () => {
    const ns = routerNs();
    // A new router: its gateway, its floating IP and its interface address.
    const fresh = planNamespace(ns, null, ctx({}, [ns]));
    expect(fresh.announce).toEqual([
      { dev: 'qg-1', ip: '172.24.4.13', owner: 'port:g' },
      { dev: 'qg-1', ip: '172.24.4.101', owner: 'floatingip:f1' },
      { dev: 'qr-1', ip: '10.0.2.1', owner: 'port:i' },
    ]);
    // A floating IP associated to a router in place: only it.
    const { state, peers } = routerState({ 'qg-1': ['172.24.4.13/24', '2001:db8::5/64'], 'qr-1': ['10.0.2.1/24'], lo: ['169.254.169.254/32'] });
    const p = planNamespace(ns, state, ctx(peers, [ns]));
    expect(p.apply.map((l) => l.cmd)).toEqual(['addr replace 172.24.4.101/32 dev qg-1']);
    expect(p.announce).toEqual([{ dev: 'qg-1', ip: '172.24.4.101', owner: 'floatingip:f1' }]);
    // Once there, nothing is announced again (a floating IP moved to another port of the same
    // router keeps its address and MAC: Neutron's move_floating_ip sends none either).
    state.links.get('qg-1')!.addrs.push('172.24.4.101/32');
    expect(planNamespace(ns, state, ctx(peers, [ns]))).toEqual({ cleanup: [], apply: [], createsPeers: [], announce: [] });
    // An instance's or a load balancer's addresses are not the L3 agent's to announce.
    expect(planNamespace({ ...ns, kind: 'loadbalancer' }, null, ctx({}, [ns])).announce).toEqual([]);
  });

  it("announces nothing in an HA router: its addresses are keepalived's, which sends its own gratuitous ARPs", () => {
    const ns = routerNs();
    ns.addrs = [{ dev: 'qr-1', cidr: '169.254.192.5/18', owner: 'port:h' }];
    ns.vrrp = {
      routerId: 'r',
      haIf: 'qr-1',
      primaryVip: '169.254.0.7/24',
      owner: 'router:r',
      instance: {
        state: 'BACKUP',
        interface: 'qr-1',
        vrid: 7,
        haCidrs: ['169.254.192.0/18'],
        trackInterfaces: ['qr-1'],
        vips: [{ cidr: '172.24.4.13/24', dev: 'qg-1', track: false }],
        routes: [],
      },
    };
    const p = planNamespace(ns, null, ctx({}, [ns]));
    expect(p.apply.map((l) => l.cmd)).toContain('addr replace 169.254.192.5/18 dev qr-1');
    expect(p.announce).toEqual([]);
  });

  it('changes nothing when the kernel already matches (idempotent)', () => {
    const { state, tap } = goodInstance();
    const lo = state.links.get('lo')!;
    lo.up = true;
    const p = planNamespace(instanceNs(), state, ctx({ 'ps-sw/tapaaaa': tap }));
    expect(p).toEqual({ cleanup: [], apply: [], createsPeers: [], announce: [] });
    const sw: NsState = {
      links: new Map([
        ['tapaaaa', tap],
        ['brqnet', link('brqnet', { ifindex: 5, kind: 'bridge', linkIndex: null })],
      ]),
      routes: [],
    };
    const sp = planNamespace(switchNs(), sw, ctx({ 'psi-11111111-22/eth0': state.links.get('eth0')! }));
    expect(sp.apply).toEqual([]);
  });

  it('re-adds the default route a link flap flushed, and brings the link back up', () => {
    const { state, tap } = goodInstance();
    state.links.get('lo')!.up = true;
    state.links.get('eth0')!.up = false;
    state.routes = [];
    const p = planNamespace(instanceNs(), state, ctx({ 'ps-sw/tapaaaa': tap }));
    expect(p.apply.map((l) => l.cmd)).toEqual(['link set eth0 up', 'route replace default via 10.0.2.1']);
  });

  it('removes addresses, routes and links that are not wanted', () => {
    const { state, tap } = goodInstance();
    state.links.get('lo')!.up = true;
    state.links.get('eth0')!.addrs.push('10.0.2.99/24');
    state.links.set('eth1', link('eth1', { ifindex: 3, linkIndex: 9 }));
    state.routes.push({ family: 4, dst: '10.9.0.0/16', via: '10.0.2.5', dev: 'eth0', protocol: 'boot' });
    const p = planNamespace(instanceNs(), state, ctx({ 'ps-sw/tapaaaa': tap }));
    expect(p.cleanup.map((l) => l.cmd)).toEqual(['link del eth1']);
    expect(p.apply.map((l) => l.cmd)).toEqual(['addr del 10.0.2.99/24 dev eth0', 'route del 10.9.0.0/16 via 10.0.2.5 dev eth0']);
  });

  it('recreates a veth whose other end is gone, and treats the new end as blank', () => {
    const { state } = goodInstance();
    state.links.get('lo')!.up = true;
    // Seen from the instance: eth0 exists but the switch has no tap any more.
    const p = planNamespace(instanceNs(), state, ctx({}));
    expect(p.cleanup.map((l) => l.cmd)).toEqual(['link del eth0']);
    expect(p.apply.map((l) => l.cmd)).toEqual(['link set eth0 up', 'addr replace 10.0.2.11/24 dev eth0', 'route replace default via 10.0.2.1']);
    // Seen from the switch: the tap exists but points at the wrong peer.
    const sw: NsState = {
      links: new Map([
        ['tapaaaa', link('tapaaaa', { ifindex: 7, linkIndex: 42, master: 'brqnet' })],
        ['brqnet', link('brqnet', { ifindex: 5, kind: 'bridge', linkIndex: null })],
      ]),
      routes: [],
    };
    const sp = planNamespace(switchNs(), sw, ctx({ 'psi-11111111-22/eth0': state.links.get('eth0')! }));
    expect(sp.apply.map((l) => l.cmd)).toEqual([
      'link del tapaaaa',
      'link add tapaaaa mtu 1450 type veth peer name eth0 address fa:16:3e:00:00:01 mtu 1450 netns psi-11111111-22',
      'link set tapaaaa master brqnet',
      'link set tapaaaa up',
    ]);
  });

  it('trusts a link whose peer namespace was not read this pass', () => {
    const { state } = goodInstance();
    state.links.get('lo')!.up = true;
    const p = planNamespace(instanceNs(), state, ctx({ 'ps-sw/tapaaaa': 'unknown' }));
    expect(p.apply).toEqual([]);
  });

  it('never deletes a host route or a host link that is not ours in the root namespace', () => {
    const root = rootNs();
    const state: NsState = {
      links: new Map([
        ['eth0', link('eth0', { kind: null, addrs: ['192.168.1.5/24'] })],
        ['docker0', link('docker0', { kind: 'bridge' })],
        ['psx-old', link('psx-old', { ifindex: 9 })],
      ]),
      routes: [{ family: 4, dst: 'default', via: '192.168.1.1', dev: 'eth0', protocol: 'dhcp' }],
    };
    const p = planNamespace(root, state, ctx({}, [root], true));
    expect(p.cleanup.map((l) => l.cmd)).toEqual(['link del psx-old']);
    expect(p.apply.map((l) => l.cmd)).toEqual([
      'link add psx-aaaa mtu 1500 type veth peer name ex-aaaa netns ps-sw',
      'link set psx-aaaa up',
      'addr replace 172.24.4.1/24 dev psx-aaaa',
    ]);
  });

  it('corrects the neighbour entries a namespace is given when absent, failed or outdated, and leaves those that hold', () => {
    const root: DesiredNs = {
      ...rootNs(),
      links: [],
      addrs: [],
      neighbours: [
        { dev: 'psx-aaaa', ip: '172.24.4.101', mac: 'fa:16:3e:00:01:02', owner: 'floatingip:f1' },
        { dev: 'psx-aaaa', ip: '172.24.4.102', mac: 'fa:16:3e:00:01:02', owner: 'floatingip:f2' },
        { dev: 'psx-aaaa', ip: '172.24.4.103', mac: 'fa:16:3e:00:01:02', owner: 'floatingip:f3' },
        { dev: 'psx-aaaa', ip: '172.24.4.104', mac: 'fa:16:3e:00:01:02', owner: 'floatingip:f4' },
      ],
    };
    const state: NsState = {
      links: new Map(),
      routes: [],
      neighbours: [
        { ip: '172.24.4.101', dev: 'psx-aaaa', mac: null, state: ['INCOMPLETE'] },
        { ip: '172.24.4.102', dev: 'psx-aaaa', mac: 'fa:16:3e:99:99:99', state: ['STALE'] },
        { ip: '172.24.4.103', dev: 'psx-aaaa', mac: 'fa:16:3e:00:01:02', state: ['REACHABLE'] },
      ],
    };
    const p = planNamespace(root, state, ctx({}, [root], true));
    expect(p.apply.map((l) => l.cmd)).toEqual([
      'neigh replace 172.24.4.101 lladdr fa:16:3e:00:01:02 dev psx-aaaa nud stale',
      'neigh replace 172.24.4.102 lladdr fa:16:3e:00:01:02 dev psx-aaaa nud stale',
      'neigh replace 172.24.4.104 lladdr fa:16:3e:00:01:02 dev psx-aaaa nud stale',
    ]);
  });

  it('refuses to give the host a second path onto a subnet it already has', () => {
    const root = rootNs();
    const state: NsState = { links: new Map([['fa-brex', link('fa-brex', { addrs: ['172.24.4.1/24'] })]]), routes: [] };
    const conflicts = hostConflicts(root, state, (n) => n.startsWith('psx-'));
    expect(conflicts.get('hostleg:n')).toMatch(/fa-brex/);
    const kept = withoutOwners(
      { ...root, neighbours: [{ dev: 'psx-aaaa', ip: '172.24.4.101', mac: 'fa:16:3e:00:00:01', owner: 'floatingip:f1' }] },
      new Set(conflicts.keys()),
    );
    expect(kept.links).toEqual([]);
    expect(kept.addrs).toEqual([]);
    // Nothing is planned on a leg that is not there.
    expect(kept.neighbours).toEqual([]);
  });

  it('plans nothing against the state it predicts after applying a spec', () => {
    const spec = instanceNs();
    spec.routes.push({ dst: '192.168.5.0/24', via: '10.0.2.254', dev: 'eth0', owner: 'instance:x' });
    spec.neighbours = [{ dev: 'eth0', ip: '10.0.2.1', mac: 'FA:16:3E:00:00:09', owner: 'port:x' }];
    const unknownPeers = { ...ctx({}), peer: () => 'unknown' as const };
    expect(planNamespace(spec, predictState(spec), unknownPeers)).toEqual({ cleanup: [], apply: [], createsPeers: [], announce: [] });
    expect(planNamespace(switchNs(), predictState(switchNs()), unknownPeers).apply).toEqual([]);
    // A change on top of it costs only its own lines.
    const more = instanceNs();
    more.addrs.push({ dev: 'eth0', cidr: '10.0.2.12/24', owner: 'port:a' });
    expect(planNamespace(more, predictState(instanceNs()), unknownPeers).apply.map((l) => l.cmd)).toEqual(['addr replace 10.0.2.12/24 dev eth0']);
  });

  it('maps ip -batch failures to their lines', () => {
    const stderr = 'Error: ipv4: Address already assigned.\nCommand failed -:2\nCannot find device "nosuch"\nCommand failed -:3\n';
    expect([...batchFailures(stderr)]).toEqual([
      [2, 'Error: ipv4: Address already assigned.'],
      [3, 'Cannot find device "nosuch"'],
    ]);
  });
});

describe('reading the kernel', () => {
  it('parses ip -j output: veth peers by index, global addresses only, managed routes only', () => {
    const out = [
      JSON.stringify([
        {
          ifindex: 1,
          ifname: 'lo',
          flags: ['LOOPBACK', 'UP'],
          mtu: 65536,
          address: '00:00:00:00:00:00',
          addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8, scope: 'host' }],
        },
        {
          ifindex: 2,
          link_index: 7,
          ifname: 'eth0',
          flags: ['BROADCAST', 'UP', 'LOWER_UP'],
          mtu: 1450,
          address: 'FA:16:3E:00:00:01',
          link_netnsid: 0,
          linkinfo: { info_kind: 'veth' },
          addr_info: [
            { family: 'inet', local: '10.0.2.11', prefixlen: 24, scope: 'global' },
            { family: 'inet6', local: '2001:0db8:0000::0005', prefixlen: 64, scope: 'global' },
            { family: 'inet6', local: 'fe80::1', prefixlen: 64, scope: 'link' },
          ],
        },
      ]),
      JSON.stringify([
        { dst: 'default', gateway: '10.0.2.1', dev: 'eth0', flags: [] },
        { dst: '10.0.2.0/24', dev: 'eth0', protocol: 'kernel', scope: 'link', prefsrc: '10.0.2.11', flags: [] },
        { type: 'local', dst: '10.0.2.11', dev: 'eth0', table: 'local', protocol: 'kernel', flags: [] },
        { dst: 'default', gateway: '2001:db8::1', dev: 'eth0', metric: 1024, flags: [] },
        { dst: '192.168.5.7', gateway: '10.0.2.254', dev: 'eth0', flags: [] },
      ]),
      JSON.stringify([
        { dst: '172.24.4.101', dev: 'psx-aaaa', state: ['FAILED'] },
        { dst: '172.24.4.13', dev: 'psx-aaaa', lladdr: 'FA:16:3E:00:01:02', state: ['REACHABLE'] },
      ]),
    ].join('\n');
    const s = parseNsRead(out);
    expect(s.neighbours).toEqual([
      { ip: '172.24.4.101', dev: 'psx-aaaa', mac: null, state: ['FAILED'] },
      { ip: '172.24.4.13', dev: 'psx-aaaa', mac: 'fa:16:3e:00:01:02', state: ['REACHABLE'] },
    ]);
    expect(s.links.get('eth0')).toMatchObject({ kind: 'veth', linkIndex: 7, mac: 'fa:16:3e:00:00:01', up: true, addrs: ['10.0.2.11/24', '2001:db8::5/64'] });
    expect(s.links.get('lo')!.addrs).toEqual([]);
    expect(s.routes).toEqual([
      { family: 4, dst: 'default', via: '10.0.2.1', dev: 'eth0', protocol: 'boot' },
      { family: 6, dst: 'default', via: '2001:db8::1', dev: 'eth0', protocol: 'boot' },
      { family: 4, dst: '192.168.5.7/32', via: '10.0.2.254', dev: 'eth0', protocol: 'boot' },
    ]);
  });
});

describe('reading a veth pair within one namespace', () => {
  it('pairs the ends iproute2 names by `link` instead of an index (a VLAN subinterface without 802.1Q)', () => {
    const links = JSON.stringify([
      {
        ifindex: 2,
        link: 'vt-eth0.101',
        ifname: 'eth0.101',
        flags: ['UP'],
        mtu: 1450,
        address: 'fa:16:3e:00:00:31',
        linkinfo: { info_kind: 'veth' },
        addr_info: [],
      },
      {
        ifindex: 3,
        link: 'eth0.101',
        ifname: 'vt-eth0.101',
        flags: ['UP'],
        mtu: 1450,
        address: '4a:00:00:00:00:01',
        linkinfo: { info_kind: 'veth' },
        addr_info: [],
      },
      { ifindex: 4, link: null, ifname: 'eth0', flags: ['UP'], mtu: 1450, link_index: 9, link_netnsid: 0, linkinfo: { info_kind: 'veth' }, addr_info: [] },
    ]);
    const s = parseNsRead([links, '[]', '[]'].join('\n'));
    expect([s.links.get('eth0.101')!.linkIndex, s.links.get('vt-eth0.101')!.linkIndex, s.links.get('eth0')!.linkIndex]).toEqual([3, 2, 9]);
  });
});

describe('router NAT', () => {
  const spec: NatSpec = {
    gatewayIf: 'qg-aaaa',
    gatewayIp: '172.24.4.13',
    enableSnat: true,
    fips: [{ floating: '172.24.4.101', fixed: '10.0.2.11', owner: 'floatingip:f1' }],
  };

  it('renders the table with the floating IPs as map elements and the rules fingerprinted', () => {
    const t = renderNatTable(spec);
    expect(t).toContain('map fip_dnat { type ipv4_addr : ipv4_addr; elements = { 172.24.4.101 : 10.0.2.11 }; }');
    expect(t).toContain('map fip_snat { type ipv4_addr : ipv4_addr; elements = { 10.0.2.11 : 172.24.4.101 }; }');
    expect(t).toContain('oifname "qg-aaaa" snat to 172.24.4.13');
    expect(t).toContain('iifname != "qg-aaaa" oifname != "qg-aaaa" ct status & dnat == 0 accept');
    expect(renderNatTable({ ...spec, enableSnat: false })).not.toContain('oifname "qg-aaaa" snat to');
    // No transit on the external network; from outside only the gateway address is the router's.
    expect(t).toContain('iifname "qg-aaaa" oifname "qg-aaaa" drop');
    expect(t).toContain('iifname "qg-aaaa" ip daddr != 172.24.4.13 drop');
  });

  it('loads the whole table once, then only adds and removes elements', () => {
    expect(planNat(spec, null)).toBe(renderNatTable(spec));
    const fp = /comment "ps:([0-9a-f]+)"/.exec(renderNatTable(spec))![1];
    const loaded = parseNatState(
      JSON.stringify({
        nftables: [
          { map: { name: 'fip_dnat', elem: [['172.24.4.101', '10.0.2.11']] } },
          { map: { name: 'fip_snat', elem: [['10.0.2.11', '172.24.4.101']] } },
          { rule: { chain: 'prerouting', comment: `ps:${fp}` } },
        ],
      }),
    );
    expect(planNat(spec, loaded)).toBeNull();
    const moved: NatSpec = {
      ...spec,
      fips: [
        { floating: '172.24.4.101', fixed: '10.0.2.12', owner: 'floatingip:f1' },
        { floating: '172.24.4.102', fixed: '10.0.2.13', owner: 'floatingip:f2' },
      ],
    };
    expect(planNat(moved, loaded)).toBe(
      [
        'delete element ip pocketstack fip_dnat { 172.24.4.101 }',
        'add element ip pocketstack fip_dnat { 172.24.4.101 : 10.0.2.12, 172.24.4.102 : 10.0.2.13 }',
        'delete element ip pocketstack fip_snat { 10.0.2.11 }',
        'add element ip pocketstack fip_snat { 10.0.2.12 : 172.24.4.101, 10.0.2.13 : 172.24.4.102 }',
        '',
      ].join('\n'),
    );
    // Connections of a floating IP whose mapping goes away or moves are forgotten.
    expect(planNatChange(moved, loaded).forgotten).toEqual(['172.24.4.101']);
    expect(planNatChange(spec, loaded).forgotten).toEqual([]);
    expect(planNatChange(undefined, loaded).forgotten).toEqual(['172.24.4.101']);
    // A changed rule part (SNAT turned off) replaces the table in one transaction.
    const replaced = planNat({ ...spec, enableSnat: false }, loaded)!;
    expect(replaced.startsWith('table ip pocketstack {}\ndelete table ip pocketstack\ntable ip pocketstack {')).toBe(true);
    expect(planNat(undefined, loaded)).toBe('delete table ip pocketstack\n');
    expect(planNat(undefined, null)).toBeNull();
  });
});

describe('iptables plan', () => {
  const saved = parseIptablesSave(
    [
      '*filter',
      ':INPUT ACCEPT [0:0]',
      ':FORWARD ACCEPT [0:0]',
      ':ps-sg-chain - [0:0]',
      ':ps-ia - [0:0]',
      ':ps-iold - [0:0]',
      '-A FORWARD -j ps-sg-chain',
      '-A ps-ia -j DROP',
      '-A ps-sg-chain -j ACCEPT',
      'COMMIT',
    ].join('\n'),
  );

  it('rewrites only the chains that differ and deletes stale chains of ours', () => {
    const want = {
      filter: new Map([
        ['FORWARD', ['-j ps-sg-chain']],
        ['ps-sg-chain', ['-m physdev --physdev-out tapa --physdev-is-bridged -j ps-ia', '-j ACCEPT']],
        ['ps-ia', ['-j DROP']],
      ]),
    };
    const plan = planIptables(want, saved);
    expect(plan.text).toBe(
      [
        '*filter',
        ':ps-sg-chain - [0:0]',
        '-A ps-sg-chain -m physdev --physdev-out tapa --physdev-is-bridged -j ps-ia',
        '-A ps-sg-chain -j ACCEPT',
        '-F ps-iold',
        '-X ps-iold',
        'COMMIT',
        '',
      ].join('\n'),
    );
    const cache: Tables = parseIptablesSave('*filter\n:FORWARD ACCEPT [0:0]\n:ps-iold - [0:0]\n-A FORWARD -j ps-sg-chain\nCOMMIT\n');
    applyToCache(cache, want, plan);
    expect(cache.get('filter')!.get('ps-sg-chain')).toEqual(want.filter.get('ps-sg-chain'));
    expect(cache.get('filter')!.has('ps-iold')).toBe(false);
    const again = planIptables(
      want,
      parseIptablesSave(
        '*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -j ps-sg-chain\n:ps-sg-chain - [0:0]\n-A ps-sg-chain -m physdev --physdev-out tapa --physdev-is-bridged -j ps-ia\n-A ps-sg-chain -j ACCEPT\n:ps-ia - [0:0]\n-A ps-ia -j DROP\nCOMMIT\n',
      ),
    );
    expect(again.text).toBeNull();
  });

  it('flushes and refills a builtin chain instead of declaring it', () => {
    const plan = planIptables({ raw: new Map([['PREROUTING', ['-i brqa -j CT --zone 5']]]) }, new Map());
    expect(plan.text).toBe('*raw\n-F PREROUTING\n-A PREROUTING -i brqa -j CT --zone 5\nCOMMIT\n');
  });
});

describe('link monitor', () => {
  it("names the interface of another namespace's event, and ignores the host's own", () => {
    expect(
      parseMonitorLine('[nsid 0]12: tap3f2a1b4c-5d@if2: <NO-CARRIER,BROADCAST,MULTICAST,UP> mtu 1450 qdisc noqueue master brqx state LOWERLAYERDOWN'),
    ).toBe('tap3f2a1b4c-5d');
    expect(parseMonitorLine('[nsid 3]Deleted 12: tap3f2a1b4c-5d@NONE: <BROADCAST,MULTICAST> mtu 1450')).toBe('tap3f2a1b4c-5d');
    expect(parseMonitorLine('2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500')).toBeNull();
  });

  it("reads an HA router's address events from `ip -o monitor address all-nsid` by the address's label, not the index's local name", () => {
    const added = '[nsid 1]3: ifb1    inet 169.254.0.1/24 scope global ha-1234abcd-ef\\       valid_lft forever preferred_lft forever';
    expect(parseAddressEvent(added)).toEqual({ deleted: false, cidr: '169.254.0.1/24', dev: 'ha-1234abcd-ef' });
    const gone = '[nsid 1]Deleted 3: ifb1    inet 169.254.0.2/24 scope global secondary ha-1234abcd-ef\\       valid_lft forever preferred_lft forever';
    expect(parseAddressEvent(gone)).toEqual({ deleted: true, cidr: '169.254.0.2/24', dev: 'ha-1234abcd-ef' });
    const own = '[nsid 1]3: ifb1    inet 169.254.192.3/18 brd 169.254.255.255 scope global ha-1234abcd-ef\\       valid_lft forever preferred_lft forever';
    expect(parseAddressEvent(own)?.dev).toBe('ha-1234abcd-ef');
    expect(parseAddressEvent('[nsid 1]3: ifb1    inet6 fe80::1/64 scope link \\       valid_lft forever preferred_lft forever')).toBeNull();
    expect(parseAddressEvent('3: eth0    inet 10.0.0.1/24 scope global eth0\\       valid_lft forever')).toBeNull();
  });
});
