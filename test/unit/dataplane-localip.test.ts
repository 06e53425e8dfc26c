import { describe, expect, it } from 'vitest';
import { type ClsactState, LOCAL_IP_PREF, buildLocalIpBlockers, buildLocalIps, planLocalIps } from '../../src/dataplane/netns/localip.js';
import {
  LOCAL_IP_PROGRAM,
  localIpBlockerProgram,
  localIpConnMap,
  localIpEgressProgram,
  localIpIngressProgram,
  localIpProgramName,
} from '../../src/dataplane/netns/localipprog.js';
import type { LocalIpBlockerSpec, LocalIpTapSpec, PortRec, Snapshot, WiredPort } from '../../src/dataplane/netns/model.js';
import { Names } from '../../src/dataplane/netns/names.js';
import { type BpfMap, runProgram } from '../support/bpfvm.js';
import { bpfObjectName } from '../support/fakekernel.js';

const TC_ACT_UNSPEC = -1;
const TC_ACT_SHOT = 2;
const TC_ACT_REDIRECT = 7;

const LOCAL = '10.0.0.200';
const FIXED = '10.0.0.5';
const OWNER_MAC = 'fa:16:3e:00:00:05';
const CLIENT = '10.0.0.6';
const CLIENT_MAC = 'fa:16:3e:00:00:06';
const entries = [
  { localIp: '10.0.0.199', fixedIp: '10.0.0.9', mac: 'fa:16:3e:00:00:09' },
  { localIp: LOCAL, fixedIp: FIXED, mac: OWNER_MAC },
];

// ------------------------------------------------------------------ frames

const ip4 = (s: string) => Buffer.from(s.split('.').map(Number));
const mac = (s: string) => Buffer.from(s.split(':').map((x) => Number.parseInt(x, 16)));
const ipStr = (b: Buffer, at: number) => [...b.subarray(at, at + 4)].join('.');
const macStr = (b: Buffer, at: number) => [...b.subarray(at, at + 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');

function checksum(b: Buffer): number {
  let s = 0;
  for (let i = 0; i < b.length; i += 2) s += (b[i] << 8) | (b[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** An Ethernet/IPv4 frame with valid IP and L4 checksums (protocol 1, 6 or 17, or any other). */
function ipFrame(o: {
  src: string;
  dst: string;
  proto: number;
  dmac?: string;
  smac?: string;
  fragOffset?: number;
  udpNoCsum?: boolean;
  /** TCP and UDP: source and destination port (50000 to 8080, or to 53 for UDP). */
  ports?: [number, number];
}): Buffer {
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(o.ports?.[0] ?? 50000, 0);
  ports.writeUInt16BE(o.ports?.[1] ?? (o.proto === 17 ? 53 : 8080), 2);
  const l4 =
    o.proto === 6
      ? Buffer.concat([ports, Buffer.alloc(8), Buffer.from([0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]), Buffer.from('hello')])
      : o.proto === 17
        ? Buffer.concat([ports, Buffer.from([0, 13, 0, 0]), Buffer.from('hello')])
        : Buffer.concat([Buffer.from([8, 0, 0, 0, 0x12, 0x34, 0, 1]), Buffer.from('ping-data')]);
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + l4.length, 2);
  ip.writeUInt16BE(o.fragOffset ?? 0, 6);
  ip[8] = 64;
  ip[9] = o.proto;
  ip4(o.src).copy(ip, 12);
  ip4(o.dst).copy(ip, 16);
  ip.writeUInt16BE(checksum(ip), 10);
  const pseudo = Buffer.concat([ip.subarray(12, 20), Buffer.from([0, o.proto]), Buffer.from([l4.length >> 8, l4.length & 0xff])]);
  if (o.proto === 6) l4.writeUInt16BE(checksum(Buffer.concat([pseudo, l4])), 16);
  else if (o.proto === 17 && !o.udpNoCsum) l4.writeUInt16BE(checksum(Buffer.concat([pseudo, l4])), 6);
  else if (o.proto === 1) l4.writeUInt16BE(checksum(l4), 2);
  return Buffer.concat([mac(o.dmac ?? OWNER_MAC), mac(o.smac ?? CLIENT_MAC), Buffer.from([0x08, 0x00]), ip, l4]);
}

/** Whether a frame's IPv4 header and its L4 checksum (TCP, UDP unless zero, ICMP) verify. */
function checksumsValid(f: Buffer): boolean {
  const ip = f.subarray(14, 34);
  if (checksum(ip) !== 0) return false;
  const l4 = f.subarray(34);
  const proto = ip[9];
  if (proto === 1) return checksum(l4) === 0;
  if (proto === 17 && l4.readUInt16BE(6) === 0) return true;
  const pseudo = Buffer.concat([ip.subarray(12, 20), Buffer.from([0, proto]), Buffer.from([l4.length >> 8, l4.length & 0xff])]);
  return checksum(Buffer.concat([pseudo, l4])) === 0;
}

/** The L4 header and payload are as sent, but for the checksum field (TCP, UDP) or entirely (ICMP). */
function onlyChecksumChanged(before: Buffer, after: Buffer): boolean {
  const at = { 6: 16, 17: 6 }[before[23] as 6 | 17];
  const a = Buffer.from(before.subarray(34));
  const b = Buffer.from(after.subarray(34));
  if (at !== undefined) {
    a.writeUInt16BE(0, at);
    b.writeUInt16BE(0, at);
  }
  return a.equals(b);
}

function arpRequest(target: string, op = 1, sender = CLIENT, htype = 1): Buffer {
  const arp = Buffer.concat([Buffer.from([0, htype, 8, 0, 6, 4, 0, op]), mac(CLIENT_MAC), ip4(sender), Buffer.alloc(6), ip4(target)]);
  return Buffer.concat([Buffer.alloc(6, 0xff), mac(CLIENT_MAC), Buffer.from([0x08, 0x06]), arp]);
}

// ------------------------------------------------------------------ programs

describe('local IP programs (run on frames)', () => {
  const ingress = localIpIngressProgram(entries);
  const egress = localIpEgressProgram(entries);

  it('ingress: an ARP request for a local IP becomes the reply with the associated port’s MAC, sent back out of the tap', () => {
    const { verdict, frame, redirect } = runProgram(ingress, arpRequest(LOCAL), { ifindex: 17 });
    expect(verdict).toBe(TC_ACT_REDIRECT);
    expect(redirect).toEqual({ ifindex: 17, flags: 0 });
    expect([macStr(frame, 0), macStr(frame, 6), frame.readUInt16BE(12)]).toEqual([CLIENT_MAC, OWNER_MAC, 0x0806]);
    expect(frame.readUInt16BE(20)).toBe(2); // ARPOP_REPLY
    expect([macStr(frame, 22), ipStr(frame, 28), macStr(frame, 32), ipStr(frame, 38)]).toEqual([OWNER_MAC, LOCAL, CLIENT_MAC, CLIENT]);
  });

  it('ingress: ARP for another address, and ARP replies, go on untouched', () => {
    for (const f of [arpRequest('10.0.0.7'), arpRequest(LOCAL, 2)]) {
      const out = runProgram(ingress, f);
      expect(out.verdict).toBe(TC_ACT_UNSPEC);
      expect(out.frame.equals(f)).toBe(true);
    }
  });

  it.each([
    ['TCP', 6],
    ['UDP', 17],
    ['ICMP', 1],
  ])('ingress: %s to the local IP goes to the fixed IP and MAC, its checksums still valid', (_, proto) => {
    const f = ipFrame({ src: CLIENT, dst: LOCAL, proto, dmac: 'fa:16:3e:aa:aa:aa' });
    const { verdict, frame } = runProgram(ingress, f);
    expect(verdict).toBe(TC_ACT_UNSPEC);
    expect([ipStr(frame, 26), ipStr(frame, 30), macStr(frame, 0), macStr(frame, 6)]).toEqual([CLIENT, FIXED, OWNER_MAC, CLIENT_MAC]);
    expect(checksumsValid(frame)).toBe(true);
    expect(onlyChecksumChanged(f, frame)).toBe(true);
  });

  it.each([
    ['TCP', 6, 16],
    ['UDP', 17, 6],
  ])('ingress: %s whose checksum the kernel completes later (CHECKSUM_PARTIAL) gets the new pseudo header sum', (_, proto, at) => {
    const f = ipFrame({ src: CLIENT, dst: LOCAL, proto });
    const pseudoSum = (src: string, dst: string) =>
      ~checksum(Buffer.concat([ip4(src), ip4(dst), Buffer.from([0, proto]), Buffer.from([0, f.length - 34])])) & 0xffff;
    f.writeUInt16BE(pseudoSum(CLIENT, LOCAL), 34 + at);
    const { frame } = runProgram(ingress, f, { ifindex: 3, partial: true });
    expect(frame.readUInt16BE(34 + at)).toBe(pseudoSum(CLIENT, FIXED));
  });

  it('ingress: the second local IP of the tap is translated to its own port', () => {
    const { frame } = runProgram(ingress, ipFrame({ src: CLIENT, dst: '10.0.0.199', proto: 6 }));
    expect([ipStr(frame, 30), macStr(frame, 0)]).toEqual(['10.0.0.9', 'fa:16:3e:00:00:09']);
    expect(checksumsValid(frame)).toBe(true);
  });

  it('ingress: a UDP datagram without checksum keeps none; a later fragment keeps its payload', () => {
    const udp = runProgram(ingress, ipFrame({ src: CLIENT, dst: LOCAL, proto: 17, udpNoCsum: true })).frame;
    expect([ipStr(udp, 30), udp.readUInt16BE(40)]).toEqual([FIXED, 0]);
    const frag = ipFrame({ src: CLIENT, dst: LOCAL, proto: 6, fragOffset: 0x20 });
    const out = runProgram(ingress, frag).frame;
    expect(ipStr(out, 30)).toBe(FIXED);
    expect(checksum(out.subarray(14, 34))).toBe(0);
    expect(out.subarray(34).equals(frag.subarray(34))).toBe(true);
  });

  it('ingress: other protocols, other destinations, the fixed IP itself and 802.1Q-tagged frames go on untouched', () => {
    for (const [f, vlan] of [
      [ipFrame({ src: CLIENT, dst: LOCAL, proto: 47 }), false],
      [ipFrame({ src: CLIENT, dst: '10.0.0.7', proto: 6 }), false],
      [ipFrame({ src: FIXED, dst: LOCAL, proto: 6 }), false],
      [ipFrame({ src: CLIENT, dst: LOCAL, proto: 6 }), true],
    ] as const) {
      const out = runProgram(ingress, f, { ifindex: 3, vlanPresent: vlan });
      expect(out.verdict).toBe(TC_ACT_UNSPEC);
      expect(out.frame.equals(f)).toBe(true);
    }
  });

  it('ingress: a frame shorter than ARP or IPv4 with its ports needs goes on untouched', () => {
    const short = arpRequest(LOCAL).subarray(0, 40);
    expect(runProgram(ingress, short).verdict).toBe(TC_ACT_UNSPEC);
  });

  /** The client's packet to the local IP (learned on ingress), and the instance's reply to it. */
  const request = (proto: number, o: { ports?: [number, number]; dst?: string } = {}) =>
    ipFrame({ src: CLIENT, dst: o.dst ?? LOCAL, proto, ports: o.ports, dmac: OWNER_MAC });
  const reply = (proto: number, o: { ports?: [number, number]; src?: string } = {}) =>
    ipFrame({ src: o.src ?? FIXED, dst: CLIENT, proto, ports: o.ports ?? [proto === 17 ? 53 : 8080, 50000], smac: OWNER_MAC, dmac: CLIENT_MAC });
  const S = 1_000_000_000n;

  it.each([
    ['TCP', 6],
    ['UDP', 17],
    ['ICMP', 1],
  ])('egress: the reply of a %s connection the client opened to the local IP comes from the local IP, checksums valid', (_, proto) => {
    const map: BpfMap = new Map();
    runProgram(ingress, request(proto), { ifindex: 3, map });
    const f = reply(proto);
    const { verdict, frame } = runProgram(egress, f, { ifindex: 3, map });
    expect(verdict).toBe(TC_ACT_UNSPEC);
    expect([ipStr(frame, 26), ipStr(frame, 30), macStr(frame, 6)]).toEqual([LOCAL, CLIENT, OWNER_MAC]);
    expect(checksumsValid(frame)).toBe(true);
    expect(onlyChecksumChanged(f, frame)).toBe(true);
  });

  it('ingress: learns the connection as the flow the agent learns: client, fixed IP, ports, protocol; the local IP to answer from', () => {
    const map: BpfMap = new Map();
    runProgram(ingress, request(6), { ifindex: 3, map, now: 5n * S });
    runProgram(ingress, request(1), { ifindex: 3, map, now: 5n * S });
    const key = (proto: number, cport: number, sport: number) => {
      const k = Buffer.alloc(16);
      ip4(CLIENT).copy(k, 0);
      ip4(FIXED).copy(k, 4);
      k.writeUInt16BE(cport, 8);
      k.writeUInt16BE(sport, 10);
      k[12] = proto;
      return k.toString('hex');
    };
    const value = (learned: bigint, seen: bigint, local: string) => {
      const v = Buffer.alloc(24);
      v.writeBigUInt64LE(learned, 0);
      v.writeBigUInt64LE(seen, 8);
      ip4(local).copy(v, 16);
      return v;
    };
    expect(map).toEqual(
      new Map([
        [key(6, 50000, 8080), value(5n * S, 5n * S, LOCAL)],
        [key(1, 0, 0), value(5n * S, 5n * S, LOCAL)],
      ]),
    );
    // Learned again: the learned time (OVS's `modified`, the hard timeout's start) moves, the last hit does not.
    runProgram(ingress, request(6), { ifindex: 3, map, now: 9n * S });
    expect(map.get(key(6, 50000, 8080))).toEqual(value(9n * S, 5n * S, LOCAL));
    // Not learned: the fixed IP itself, other protocols, a later fragment (no ports).
    const before = new Map(map);
    runProgram(ingress, ipFrame({ src: FIXED, dst: LOCAL, proto: 6 }), { ifindex: 3, map });
    runProgram(ingress, ipFrame({ src: CLIENT, dst: LOCAL, proto: 47 }), { ifindex: 3, map });
    runProgram(ingress, ipFrame({ src: CLIENT, dst: LOCAL, proto: 17, fragOffset: 0x20 }), { ifindex: 3, map });
    expect(map).toEqual(before);
  });

  it('egress: the client reaching the instance at its fixed IP, and what the instance opens to the client, pass unchanged', () => {
    const map: BpfMap = new Map();
    // Nothing learned: the reply of a connection to the fixed IP.
    const direct = reply(6, { ports: [8080, 40000] });
    expect(runProgram(egress, direct, { ifindex: 3, map }).frame.equals(direct)).toBe(true);
    // Learned for one connection: another port pair, another protocol, a later fragment still pass.
    runProgram(ingress, request(6), { ifindex: 3, map });
    for (const f of [
      reply(6, { ports: [8080, 40000] }),
      reply(6, { ports: [22, 50000] }),
      reply(17, { ports: [8080, 50000] }),
      ipFrame({ src: FIXED, dst: CLIENT, proto: 6, fragOffset: 0x20, ports: [8080, 50000] }),
    ]) {
      const out = runProgram(egress, f, { ifindex: 3, map });
      expect(out.verdict).toBe(TC_ACT_UNSPEC);
      expect(out.frame.equals(f)).toBe(true);
    }
  });

  it('egress: a second local IP of the same fixed IP answers from the one the connection was made to', () => {
    const two = [
      { localIp: '10.0.0.199', fixedIp: FIXED, mac: OWNER_MAC },
      { localIp: LOCAL, fixedIp: FIXED, mac: OWNER_MAC },
    ];
    const map: BpfMap = new Map();
    runProgram(localIpIngressProgram(two), request(6, { dst: LOCAL }), { ifindex: 3, map });
    expect(ipStr(runProgram(localIpEgressProgram(two), reply(6), { ifindex: 3, map }).frame, 26)).toBe(LOCAL);
    runProgram(localIpIngressProgram(two), request(6, { dst: '10.0.0.199' }), { ifindex: 3, map });
    expect(ipStr(runProgram(localIpEgressProgram(two), reply(6), { ifindex: 3, map }).frame, 26)).toBe('10.0.0.199');
  });

  it('egress: a learned connection expires after 30 s without a reply (idle) or 300 s without being learned again (hard); replies keep it', () => {
    const map: BpfMap = new Map();
    const src = (now: bigint) => ipStr(runProgram(egress, reply(6), { ifindex: 3, map, now }).frame, 26);
    runProgram(ingress, request(6), { ifindex: 3, map, now: 100n * S });
    expect(src(130n * S)).toBe(LOCAL); // 30 s exactly: not yet idle
    expect(src(160n * S)).toBe(LOCAL); // the reply at 130 s started the idle timer again
    expect(src(190n * S + 1n)).toBe(FIXED); // 30 s and a nanosecond without a reply
    // Learned again after it expired: a new flow, its idle timer starting now.
    runProgram(ingress, request(6), { ifindex: 3, map, now: 200n * S });
    expect(src(229n * S)).toBe(LOCAL);
    // Replies every 20 s keep it from idling, but 300 s after it was last learned it is gone.
    for (let t = 249n; t <= 489n; t += 20n) expect(src(t * S)).toBe(LOCAL);
    expect(src(500n * S + 1n)).toBe(FIXED);
    // A client still sending keeps it learned: the hard timeout counts from the last learn.
    runProgram(ingress, request(6), { ifindex: 3, map, now: 600n * S });
    for (let t = 620n; t <= 1000n; t += 20n) {
      runProgram(ingress, request(6), { ifindex: 3, map, now: t * S });
      expect(src(t * S + 1n)).toBe(LOCAL);
    }
  });

  it('egress: from anyone else, untouched', () => {
    const f = ipFrame({ src: '10.0.0.7', dst: CLIENT, proto: 6 });
    expect(runProgram(egress, f).frame.equals(f)).toBe(true);
  });

  it('a helper that fails drops the frame rather than send it half rewritten', () => {
    // A TCP segment cut after its ports: its checksum is past the frame, the helper refuses.
    const f = ipFrame({ src: CLIENT, dst: LOCAL, proto: 6 }).subarray(0, 42);
    const out = runProgram(ingress, f);
    expect(out.verdict).toBe(TC_ACT_SHOT);
    expect(out.frame.equals(f)).toBe(true);
  });

  it('refuses what it cannot encode', () => {
    expect(() => localIpIngressProgram([])).toThrow(/at least one/);
    expect(() => localIpIngressProgram([entries[1], { ...entries[0], localIp: LOCAL }])).toThrow(/twice/);
    expect(() => localIpEgressProgram([{ localIp: 'fd00::1', fixedIp: FIXED, mac: OWNER_MAC }])).toThrow(/IPv4/);
  });

  it('names a program by its hook and a digest of its instructions (15 characters)', () => {
    const name = localIpProgramName('ingress', ingress);
    expect(name).toMatch(/^psli[0-9a-f]{11}$/);
    expect(localIpProgramName('egress', egress)).toMatch(/^psle[0-9a-f]{11}$/);
    expect(localIpProgramName('ingress', localIpIngressProgram([entries[1]]))).not.toBe(name);
  });
});

describe('the gratuitous-ARP blocker (run on frames from other hosts)', () => {
  const blocker = localIpBlockerProgram([
    { localIp: LOCAL, except: [FIXED, '10.0.0.8'] },
    { localIp: '10.0.0.199', except: [] },
  ]);

  it('drops ARP claiming a local IP: a gratuitous announcement, a request, a reply', () => {
    for (const f of [
      arpRequest(LOCAL, 1, LOCAL),
      arpRequest(LOCAL, 2, LOCAL),
      arpRequest(CLIENT, 1, LOCAL),
      arpRequest(CLIENT, 2, LOCAL),
      arpRequest(CLIENT, 1, '10.0.0.199'),
    ]) {
      const out = runProgram(blocker, f);
      expect(out.verdict).toBe(TC_ACT_SHOT);
      expect(out.frame.equals(f)).toBe(true);
    }
  });

  it("lets through ARP from a local IP asking for an associated port's fixed IP (the blocker's exception)", () => {
    for (const target of [FIXED, '10.0.0.8']) expect(runProgram(blocker, arpRequest(target, 1, LOCAL)).verdict).toBe(TC_ACT_UNSPEC);
    // The exception is per local IP: another local IP's associated address is no exception for it.
    expect(runProgram(blocker, arpRequest(FIXED, 1, '10.0.0.199')).verdict).toBe(TC_ACT_SHOT);
  });

  it('lets through ARP from anyone else, ARP asking for the local IP, IPv4 from the local IP, non-Ethernet ARP and 802.1Q-tagged frames', () => {
    for (const [f, vlan] of [
      [arpRequest(LOCAL), false],
      [arpRequest(CLIENT, 1, '10.0.0.7'), false],
      [ipFrame({ src: LOCAL, dst: CLIENT, proto: 1 }), false],
      [arpRequest(CLIENT, 1, LOCAL, 6), false],
      [arpRequest(CLIENT, 1, LOCAL), true],
    ] as const) {
      const out = runProgram(blocker, f, { ifindex: 3, vlanPresent: vlan });
      expect(out.verdict).toBe(TC_ACT_UNSPEC);
      expect(out.frame.equals(f)).toBe(true);
    }
  });

  it('is named as a blocker, and refuses what it cannot encode', () => {
    expect(localIpProgramName('blocker', blocker)).toMatch(/^pslb[0-9a-f]{11}$/);
    expect(() => localIpBlockerProgram([])).toThrow(/at least one/);
    expect(() => localIpBlockerProgram([{ localIp: 'fd00::1', except: [] }])).toThrow(/IPv4/);
    expect(() =>
      localIpBlockerProgram([
        { localIp: LOCAL, except: [] },
        { localIp: LOCAL, except: [FIXED] },
      ]),
    ).toThrow(/twice/);
  });
});

// ------------------------------------------------------------------ which taps, which programs

const NET = 'bbbbbbbb-0000-0000-0000-000000000002';
const OTHER_NET = 'cbbbbbbb-0000-0000-0000-000000000003';
const names = new Names('ps');

function port(id: string, ip: string, extra: Partial<PortRec> = {}): PortRec {
  return {
    id,
    networkId: NET,
    mac: `fa:16:3e:00:00:${id.slice(0, 2)}`,
    adminUp: true,
    status: 'ACTIVE',
    deviceId: `dev-${id}`,
    deviceOwner: 'compute:nova',
    bindingHost: 'host1',
    portSecurity: true,
    fixedIps: [{ subnetId: 'sub', ipAddress: ip }],
    allowedAddressPairs: [],
    securityGroups: [],
    createdAt: '2026-01-01T00:00:00Z',
    extraDhcpOpts: [],
    ...extra,
  };
}

const owner = port('05000000-0000-0000-0000-000000000000', '10.0.0.5');
const client = port('06000000-0000-0000-0000-000000000000', '10.0.0.6');
const client2 = port('07000000-0000-0000-0000-000000000000', '10.0.0.7');
const dhcp = port('02000000-0000-0000-0000-000000000000', '10.0.0.2', { deviceOwner: 'network:dhcp' });
const router = port('01000000-0000-0000-0000-000000000000', '10.0.0.1', { deviceOwner: 'network:router_interface' });
const elsewhere = port('08000000-0000-0000-0000-000000000000', '10.1.0.8', { networkId: OTHER_NET });

function snap(localIps: Snapshot['localIps'], ports = [owner, client, client2, dhcp, router, elsewhere]): Snapshot {
  return { networks: [], subnets: [], ports, securityGroups: [], routers: [], floatingIps: [], instances: null, localIps };
}
const wiredAll = (ports: PortRec[]) => new Map<string, WiredPort>(ports.map((p) => [p.id, { portId: p.id, ns: 'x', ifname: 'eth0', up: true }]));
const allPorts = [owner, client, client2, dhcp, router, elsewhere];
const lip = (id: string, address: string, portId: string, fixedIp: string) => ({ id, address, associations: [{ portId, fixedIp }] });

describe('local IPs: which taps get which programs', () => {
  it("gives every instance port of the associated port's network on this host the local IP, but the port itself and network:* ports", () => {
    const specs = buildLocalIps(snap([lip('l1', LOCAL, owner.id, '10.0.0.5')]), names, wiredAll(allPorts));
    expect(specs).toEqual([
      { dev: names.tap(client.id), portId: client.id, owner: 'localip:l1', entries: [{ localIp: LOCAL, fixedIp: '10.0.0.5', mac: owner.mac }] },
      { dev: names.tap(client2.id), portId: client2.id, owner: 'localip:l1', entries: [{ localIp: LOCAL, fixedIp: '10.0.0.5', mac: owner.mac }] },
    ]);
  });

  it('does nothing for an association whose port is not wired on this host, nor without associations', () => {
    const wired = wiredAll(allPorts.filter((p) => p !== owner));
    expect(buildLocalIps(snap([lip('l1', LOCAL, owner.id, '10.0.0.5')]), names, wired)).toEqual([]);
    expect(buildLocalIps(snap([{ id: 'l1', address: LOCAL, associations: [] }]), names, wiredAll(allPorts))).toEqual([]);
    expect(buildLocalIps(snap(undefined), names, wiredAll(allPorts))).toEqual([]);
  });

  it('leaves IPv6 local IPs out (the agent matches IPv4 and answers ARP); one port per local IP, the first by id', () => {
    const v6 = lip('l0', 'fd00::5', owner.id, 'fd00::5');
    const both = {
      id: 'l1',
      address: LOCAL,
      associations: [
        { portId: client2.id, fixedIp: '10.0.0.7' },
        { portId: owner.id, fixedIp: '10.0.0.5' },
      ],
    };
    const specs = buildLocalIps(snap([v6, both]), names, wiredAll(allPorts));
    expect(specs.map((s) => [s.portId, s.entries.map((e) => e.fixedIp)])).toEqual([
      [client.id, ['10.0.0.5']],
      [client2.id, ['10.0.0.5']],
    ]);
  });

  it("gathers a network's local IPs per tap, the tap's own one left out", () => {
    const specs = buildLocalIps(snap([lip('l1', LOCAL, owner.id, '10.0.0.5'), lip('l2', '10.0.0.201', client.id, '10.0.0.6')]), names, wiredAll(allPorts));
    expect(specs.map((s) => [s.portId, s.entries.map((e) => e.localIp)])).toEqual([
      [owner.id, ['10.0.0.201']],
      [client.id, [LOCAL]],
      [client2.id, [LOCAL, '10.0.0.201']],
    ]);
  });
});

describe('local IPs: which VXLAN devices get the gratuitous-ARP blocker', () => {
  const uplinks = [
    { dev: 'vxlan-7', bridge: names.bridge(NET) },
    { dev: 'vxlan-9', bridge: names.bridge(OTHER_NET) },
  ];

  it("puts it on the associated port's network's VXLAN device, every association here an exception", () => {
    const both = {
      id: 'l1',
      address: LOCAL,
      associations: [
        { portId: owner.id, fixedIp: '10.0.0.5' },
        { portId: client2.id, fixedIp: '10.0.0.7' },
      ],
    };
    expect(buildLocalIpBlockers(snap([both, lip('l2', '10.0.0.201', client.id, '10.0.0.6')]), names, wiredAll(allPorts), uplinks)).toEqual([
      {
        dev: 'vxlan-7',
        networkId: NET,
        owner: 'localip:l1',
        entries: [
          { localIp: LOCAL, except: ['10.0.0.5', '10.0.0.7'] },
          { localIp: '10.0.0.201', except: ['10.0.0.6'] },
        ],
      },
    ]);
  });

  it('is on the network of the associated port, not on the other networks here', () => {
    const specs = buildLocalIpBlockers(snap([lip('l3', '10.1.0.200', elsewhere.id, '10.1.0.8')]), names, wiredAll(allPorts), uplinks);
    expect(specs.map((s) => [s.dev, s.entries])).toEqual([['vxlan-9', [{ localIp: '10.1.0.200', except: ['10.1.0.8'] }]]]);
  });

  it('is not there without an overlay, for ports not wired here, nor for IPv6 (the agent matches arp_spa)', () => {
    const one = snap([lip('l1', LOCAL, owner.id, '10.0.0.5')]);
    expect(buildLocalIpBlockers(one, names, wiredAll(allPorts), [])).toEqual([]);
    expect(buildLocalIpBlockers(one, names, wiredAll(allPorts.filter((p) => p !== owner)), uplinks)).toEqual([]);
    expect(buildLocalIpBlockers(snap([lip('l0', 'fd00::5', owner.id, 'fd00::5')]), names, wiredAll(allPorts), uplinks)).toEqual([]);
    expect(buildLocalIpBlockers(snap([lip('l0', LOCAL, owner.id, 'fd00::5')]), names, wiredAll(allPorts), uplinks)).toEqual([]);
  });
});

describe('local IPs: the tc lines', () => {
  const spec: LocalIpTapSpec = { dev: 'tapc', portId: client.id, owner: 'localip:l1', entries: [entries[1]] };
  const ingressName = localIpProgramName('ingress', localIpIngressProgram(spec.entries));
  const egressName = localIpProgramName('egress', localIpEgressProgram(spec.entries));
  const empty: ClsactState = { clsact: new Set(), filters: [] };

  it('adds a clsact and loads both programs, above the VLAN programs’ preferences', () => {
    const lines = planLocalIps([spec], empty);
    expect(lines.map((l) => l.cmd)).toEqual([
      'qdisc add dev tapc clsact',
      `filter replace dev tapc ingress pref ${LOCAL_IP_PREF} handle 1 bpf direct-action obj @OBJECT sec tc`,
      `filter replace dev tapc egress pref ${LOCAL_IP_PREF} handle 1 bpf direct-action obj @OBJECT sec tc`,
    ]);
    expect(lines.map((l) => l.object && bpfObjectName(l.object))).toEqual([undefined, ingressName, egressName]);
    expect(LOCAL_IP_PREF).toBeGreaterThan(4094);
  });

  it("gives a tap's two programs one connection map, ours and named per tap", () => {
    const other: LocalIpTapSpec = { ...spec, dev: 'tapd' };
    const objects = planLocalIps([spec, other], empty).flatMap((l) => (l.object ? [l.object] : []));
    const [c, d] = [localIpConnMap('tapc').name, localIpConnMap('tapd').name];
    expect([c, d]).toEqual([expect.stringMatching(/^pslm[0-9a-f]{11}$/), expect.stringMatching(/^pslm[0-9a-f]{11}$/)]);
    expect(c).not.toBe(d);
    expect(LOCAL_IP_PROGRAM.test(c)).toBe(false);
    expect(objects.map((o) => [o.includes(Buffer.from(`\0${c}\0`)), o.includes(Buffer.from(`\0${d}\0`))])).toEqual([
      [true, false],
      [true, false],
      [false, true],
      [false, true],
    ]);
  });

  it('changes nothing when the programs in place are the ones wanted', () => {
    const actual: ClsactState = {
      clsact: new Set(['tapc']),
      filters: [
        { dev: 'tapc', hook: 'ingress', pref: LOCAL_IP_PREF, name: ingressName },
        { dev: 'tapc', hook: 'egress', pref: LOCAL_IP_PREF, name: egressName },
      ],
    };
    expect(planLocalIps([spec], actual)).toEqual([]);
  });

  it('replaces both programs of a tap when one does something else: only programs loaded in one batch share a map', () => {
    const actual: ClsactState = {
      clsact: new Set(['tapc']),
      filters: [
        { dev: 'tapc', hook: 'ingress', pref: LOCAL_IP_PREF, name: 'psli00000000000' },
        { dev: 'tapc', hook: 'egress', pref: LOCAL_IP_PREF, name: egressName },
      ],
    };
    expect(planLocalIps([spec], actual).map((l) => l.cmd)).toEqual([
      `filter replace dev tapc ingress pref ${LOCAL_IP_PREF} handle 1 bpf direct-action obj @OBJECT sec tc`,
      `filter replace dev tapc egress pref ${LOCAL_IP_PREF} handle 1 bpf direct-action obj @OBJECT sec tc`,
    ]);
  });

  it("removes ours nobody wants: the clsact when nothing else is on it, else only our filters; never anybody else's", () => {
    const actual: ClsactState = {
      clsact: new Set(['tapa', 'tapb', 'tapd']),
      filters: [
        { dev: 'tapa', hook: 'ingress', pref: LOCAL_IP_PREF, name: ingressName },
        { dev: 'tapa', hook: 'egress', pref: LOCAL_IP_PREF, name: egressName },
        { dev: 'tapb', hook: 'ingress', pref: 101, name: 'psp065.00000005' },
        { dev: 'tapb', hook: 'ingress', pref: LOCAL_IP_PREF, name: ingressName },
        { dev: 'tapb', hook: 'egress', pref: LOCAL_IP_PREF, name: egressName },
        { dev: 'tapd', hook: 'egress', pref: 7, name: 'someone_else' },
      ],
    };
    expect(planLocalIps([], actual).map((l) => [l.cmd, l.tolerant])).toEqual([
      ['qdisc del dev tapa clsact', true],
      [`filter del dev tapb ingress pref ${LOCAL_IP_PREF}`, true],
      [`filter del dev tapb egress pref ${LOCAL_IP_PREF}`, true],
    ]);
  });
});

describe('local IPs: the blocker’s tc lines', () => {
  const blocker: LocalIpBlockerSpec = { dev: 'vxlan-7', networkId: NET, owner: 'localip:l1', entries: [{ localIp: LOCAL, except: [FIXED] }] };
  const name = localIpProgramName('blocker', localIpBlockerProgram(blocker.entries));

  it('adds a clsact and loads the blocker on the ingress hook only', () => {
    const lines = planLocalIps([], { clsact: new Set(), filters: [] }, [blocker]);
    expect(lines.map((l) => [l.cmd, l.owner])).toEqual([
      ['qdisc add dev vxlan-7 clsact', 'localip:l1'],
      [`filter replace dev vxlan-7 ingress pref ${LOCAL_IP_PREF} handle 1 bpf direct-action obj @OBJECT sec tc`, 'localip:l1'],
    ]);
    expect(bpfObjectName(lines[1].object!)).toBe(name);
  });

  it('keeps the one in place, and takes it away with the clsact once no local IP needs it', () => {
    const actual: ClsactState = { clsact: new Set(['vxlan-7']), filters: [{ dev: 'vxlan-7', hook: 'ingress', pref: LOCAL_IP_PREF, name }] };
    expect(planLocalIps([], actual, [blocker])).toEqual([]);
    expect(planLocalIps([], actual, []).map((l) => l.cmd)).toEqual(['qdisc del dev vxlan-7 clsact']);
  });
});
