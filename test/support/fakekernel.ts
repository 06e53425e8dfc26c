import type { Tables } from '../../src/dataplane/netns/iptables.js';
import { Readable } from 'node:stream';
import type { ConsoleSession } from '../../src/core/compute/host.js';
import type { Closer, InstancePower, InstanceRunner, Kernel, NetworkServices, OverlayKernel, Readiness } from '../../src/dataplane/netns/machine.js';
import type { OverlayState } from '../../src/dataplane/netns/overlay.js';
import { type DhcpServerSpec, type InstanceSpec, type MetadataProxySpec, ROOT_NS, type SgLogSpec } from '../../src/dataplane/netns/model.js';
import { L3_TABLE, type L3State } from '../../src/dataplane/netns/l3ext.js';
import type { NatState } from '../../src/dataplane/netns/nat.js';
import type { Owner } from '../../src/dataplane/netns/owners.js';
import type { QosState } from '../../src/dataplane/netns/qos.js';
import { type Line, batchErrors } from '../../src/dataplane/netns/plan.js';
import type { LinkState, NeighbourState, NsState, RouteState } from '../../src/dataplane/netns/state.js';
import type { TcLine, VlanTagState } from '../../src/dataplane/netns/vlantag.js';
import type { ClsactState } from '../../src/dataplane/netns/localip.js';
import { cidrContains, ipToString, parseCidr, parseIp } from '../../src/util/ip.js';

/**
 * An in-memory kernel for unit tests of whole reconcile passes: namespaces with inodes, links
 * (bridges, veth pairs whose ends know each other's index, loopback), addresses, routes,
 * neighbour entries, iptables tables and a router's NAT table, changed only through the
 * commands the driver really sends (`ip -batch` lines, `iptables-restore` input, `nft` scripts),
 * interpreted the way the kernel answers them: a veth dies with either end or its namespace, a
 * route's gateway must be reachable, a refused restore or nft script changes nothing.
 *
 * Tests can refuse commands (`refuse`), change things behind the driver's back (`vanish`,
 * `flap`) and look at what is there (`links`, `routes`, `namespace`) or what was asked (`calls`).
 */

interface FakeNs {
  ino: number;
  nsid: boolean;
  sysctls: Map<string, string>;
  links: Map<string, LinkState>;
  routes: RouteState[];
  neighbours: NeighbourState[];
  nat: NatState | null;
  iptables: Record<4 | 6, Tables>;
  /** tbf shapers by device, with the ifindex they sit on (a qdisc goes with its device). */
  tbf: Map<string, { ifindex: number; rate: number; burst: number }>;
  /** netdev tables (QoS) → the fingerprint in their `fp` chain; they outlive their devices. */
  netdev: Map<string, string | null>;
  /** The L3-extension table as last loaded (its nft text), null when absent. */
  l3: string | null;
  /** NDP proxy entries, `ip dev`. */
  proxies: string[];
  /** clsact qdiscs by device (with the ifindex they sit on): bpf filters per hook, pref → program name. */
  clsact: Map<string, { ifindex: number; ingress: Map<number, string>; egress: Map<number, string> }>;
}

/** The program name a BPF object's (first) function symbol gives it, read as libbpf reads the ELF. */
export function bpfObjectName(o: Buffer): string {
  if (o.readUInt32BE(0) !== 0x7f454c46 || o.readUInt16LE(18) !== 247) throw new Error('libbpf: not an EM_BPF ELF object');
  const shoff = Number(o.readBigUInt64LE(40));
  const sh = (i: number) => {
    const at = shoff + i * 64;
    return {
      type: o.readUInt32LE(at + 4),
      offset: Number(o.readBigUInt64LE(at + 24)),
      size: Number(o.readBigUInt64LE(at + 32)),
      link: o.readUInt32LE(at + 40),
    };
  };
  for (let i = 0; i < o.readUInt16LE(60); i++) {
    const sym = sh(i);
    if (sym.type !== 2) continue;
    const str = sh(sym.link);
    const nameAt = str.offset + o.readUInt32LE(sym.offset + 24);
    return o.subarray(nameAt, o.indexOf(0, nameAt)).toString();
  }
  throw new Error("libbpf: elf: couldn't find symbol table");
}

/** A kernel operation as the driver made it. */
export interface Call {
  op: keyof Kernel;
  ns: string;
  /** ip batch lines, restore or nft input. */
  input?: string[];
}

type Matcher = RegExp | string;
interface Refusal {
  op: 'ip' | 'iptables' | 'nft' | 'netns' | 'tc';
  match: Matcher;
  ns: string | undefined;
  reason: string;
}

const BUILTIN: Record<string, string[]> = { filter: ['INPUT', 'FORWARD', 'OUTPUT'], raw: ['PREROUTING', 'OUTPUT'] };
const NAT_TABLE = 'pocketstack';

class Refused extends Error {}

const cloneTables = (t: Tables): Tables => new Map([...t].map(([table, chains]) => [table, new Map([...chains].map(([c, rules]) => [c, [...rules]]))]));
const cloneNat = (n: NatState | null): NatState | null =>
  n ? { fingerprint: n.fingerprint, dnat: new Map(n.dnat), snat: new Map(n.snat), pf: new Map(n.pf) } : null;
const matches = (m: Matcher, text: string) => (typeof m === 'string' ? text.includes(m) : m.test(text));

export class FakeKernel implements Kernel {
  readonly calls: Call[] = [];
  readonly conntrack: Array<{ ns: string; zone?: number; ip: string }> = [];
  /** Gratuitous ARPs sent, each with the MAC of the device that sent it. */
  readonly garps: Array<{ ns: string; dev: string; ip: string; mac: string; count: number }> = [];
  readonly locks = new Set<string>();
  private readonly spaces = new Map<string, FakeNs>();
  private nextIno = 4026532001;
  private nextIfindex = 1;
  /** VXLAN devices' settings, by interface index (FakeOverlay reads them). */
  readonly vxlans = new Map<number, { vni: number; local: string | null; port: number; learning: boolean; proxy: boolean }>();
  private refusals: Refusal[] = [];
  private readonly watchers = new Set<() => void>();
  private readonly monitors = new Set<(ifname: string) => void>();
  private execs = 0;

  /** The host: loopback and one interface of its own (`eth0`, with `hostAddrs`). */
  constructor(hostAddrs: string[] = ['192.168.122.10/24']) {
    const root = this.blank(0, false);
    root.links.get('lo')!.up = true;
    const eth0 = this.newLink('eth0', 'veth', 1500, '52:54:00:12:34:56');
    eth0.kind = null;
    eth0.up = true;
    eth0.addrs = hostAddrs;
    root.links.set('eth0', eth0);
    this.spaces.set(ROOT_NS, root);
  }

  // ------------------------------------------------------------ for tests

  /**
   * Refuse what matches: an `ip` batch line, an `iptables-restore` or `nft` input, or a namespace
   * name to create (`netns`), optionally only in one namespace. Returns what lifts the refusal.
   */
  refuse(op: Refusal['op'], match: Matcher, reason: string, ns?: string): () => void {
    const r: Refusal = { op, match, ns, reason };
    this.refusals.push(r);
    return () => {
      this.refusals = this.refusals.filter((x) => x !== r);
    };
  }

  /** Named namespaces (the host's excluded). */
  get names(): string[] {
    return [...this.spaces.keys()].filter((n) => n !== ROOT_NS).sort();
  }

  /** A namespace's links by name, or undefined when it does not exist. */
  links(ns: string): Map<string, LinkState> | undefined {
    return this.spaces.get(ns)?.links;
  }

  routes(ns: string): RouteState[] | undefined {
    return this.spaces.get(ns)?.routes;
  }

  namespace(ns: string): Readonly<FakeNs> | undefined {
    return this.spaces.get(ns);
  }

  /** Someone else deletes a namespace (`ip netns del`): its veths' other ends go too. */
  vanish(ns: string): void {
    this.remove(ns);
    this.notifyWatchers();
  }

  /** Someone else deletes a link (`ip link del`): its clsact hooks go with it. */
  dropLink(ns: string, name: string): void {
    this.deleteLink(ns, name);
  }

  /**
   * A link goes down and up again behind our back: the kernel flushes the routes through it,
   * and the root's link monitor hears of it and of its veth peer (in namespaces with an id).
   */
  flap(ns: string, ifname: string): void {
    const space = this.space(ns);
    const link = space.links.get(ifname);
    if (!link) throw new Error(`no link ${ifname} in ${ns}`);
    space.routes = space.routes.filter((r) => r.dev !== ifname);
    const peer = this.peerOf(link);
    const heard = [space.nsid ? ifname : null, peer && this.spaces.get(peer.ns)?.nsid ? peer.link.name : null];
    for (const name of heard) if (name) for (const fn of this.monitors) fn(name);
  }

  /**
   * An interface of the host's own (a NIC, or in the lab a host's cable to a switch) in `ns`,
   * up: what `physical_interface_mappings` names. Returns it.
   */
  hostInterface(name: string, ns = ROOT_NS): LinkState {
    const l = this.newLink(name, 'veth', 1500);
    l.kind = null;
    l.up = true;
    this.space(ns).links.set(name, l);
    return l;
  }

  /** Calls of one operation (optionally in one namespace) since `since` (an index into `calls`). */
  callsOf(op: keyof Kernel, ns?: string, since = 0): Call[] {
    return this.calls.slice(since).filter((c) => c.op === op && (ns === undefined || c.ns === ns));
  }

  // ------------------------------------------------------------ Kernel

  async listNamespaces(): Promise<Map<string, number>> {
    this.record('listNamespaces', ROOT_NS);
    return new Map([...this.spaces].filter(([n]) => n !== ROOT_NS).map(([n, s]) => [n, s.ino]));
  }

  async createNamespace(name: string, sysctls: Array<[string, string]>, opts: { nsid: boolean }): Promise<void> {
    this.record('createNamespace', name);
    if (this.spaces.has(name)) throw new Error(`Cannot create namespace file "/run/netns/${name}": File exists`);
    const refused = this.refusal('netns', name, name);
    if (refused) throw new Error(refused);
    const s = this.blank(this.nextIno++, opts.nsid);
    for (const [k, v] of sysctls) s.sysctls.set(k, v);
    this.spaces.set(name, s);
    this.notifyWatchers();
  }

  async deleteNamespace(name: string): Promise<void> {
    this.record('deleteNamespace', name);
    this.remove(name);
    this.notifyWatchers();
  }

  async assignNsid(ns: string): Promise<void> {
    this.record('assignNsid', ns);
    const s = this.spaces.get(ns);
    if (s) s.nsid = true;
  }

  async readNamespace(ns: string): Promise<NsState> {
    this.record('readNamespace', ns);
    const s = this.space(ns);
    return {
      links: new Map([...s.links].map(([n, l]) => [n, { ...l, addrs: [...l.addrs] }])),
      routes: s.routes.map((r) => ({ ...r })),
      neighbours: s.neighbours.map((n) => ({ ...n, state: [...n.state] })),
    };
  }

  async ipBatch(ns: string, lines: Line[]): Promise<Map<Owner, string>> {
    if (lines.length === 0) return new Map();
    this.record(
      'ipBatch',
      ns,
      lines.map((l) => l.cmd),
    );
    const failures = new Map<number, string>();
    lines.forEach((line, i) => {
      try {
        const refused = this.refusal('ip', line.cmd, ns);
        if (refused) throw new Refused(refused);
        this.ip(ns, line.cmd);
      } catch (e) {
        failures.set(i + 1, (e as Error).message);
      }
    });
    return failures.size ? batchErrors(lines, failures, 'ip failed') : new Map();
  }

  async readNat(ns: string): Promise<NatState | null> {
    this.record('readNat', ns);
    return cloneNat(this.spaces.get(ns)?.nat ?? null);
  }

  async nftApply(ns: string, script: string): Promise<void> {
    this.record('nftApply', ns, script.split('\n'));
    const s = this.space(ns);
    const refused = this.refusal('nft', script, ns);
    if (refused) throw new Error(`nft -f - exited 1: ${refused}`);
    if (script.includes('table netdev ')) s.netdev = nftNetdev(s.netdev, script, s.links);
    else if (script.includes(`table inet ${L3_TABLE}`)) {
      // Always whole: (flush, delete,) then the table, or a delete alone.
      const at = script.lastIndexOf(`table inet ${L3_TABLE} {\n`);
      s.l3 = at >= 0 ? script.slice(at) : null;
    } else s.nat = nft(s.nat, script);
  }

  async readL3(ns: string): Promise<L3State> {
    this.record('readL3', ns);
    const s = this.space(ns);
    return { fingerprint: s.l3 === null ? null : (/comment "ps:([0-9a-f]+)"/.exec(s.l3)?.[1] ?? ''), proxies: [...s.proxies] };
  }

  async readQos(ns: string): Promise<QosState> {
    this.record('readQos', ns);
    const s = this.space(ns);
    const tbf = new Map<string, { rate: number; burst: number }>();
    for (const [dev, q] of s.tbf) if (s.links.get(dev)?.ifindex === q.ifindex) tbf.set(dev, { rate: q.rate, burst: q.burst });
    return { tbf, tables: new Map(s.netdev) };
  }

  /** Whether `type vlan` works (8021q); without, it is refused as this host's kernel refuses it. */
  has8021q = true;

  async vlanDevices(): Promise<boolean> {
    return this.has8021q;
  }

  async readVlanTags(ns: string): Promise<VlanTagState> {
    this.record('readVlanTags', ns);
    const s = this.space(ns);
    const out: VlanTagState = { clsact: new Set(), filters: [] };
    for (const [dev, q] of s.clsact) {
      if (s.links.get(dev)?.ifindex !== q.ifindex) continue;
      out.clsact.add(dev);
      for (const [pref, name] of q.ingress) out.filters.push({ dev, pref, name });
    }
    return out;
  }

  async readClsact(ns: string): Promise<ClsactState> {
    this.record('readClsact', ns);
    const s = this.space(ns);
    const out: ClsactState = { clsact: new Set(), filters: [] };
    for (const [dev, q] of s.clsact) {
      if (s.links.get(dev)?.ifindex !== q.ifindex) continue;
      out.clsact.add(dev);
      for (const hook of ['ingress', 'egress'] as const) for (const [pref, name] of q[hook]) out.filters.push({ dev, hook, pref, name });
    }
    return out;
  }

  /** What `tc` answers when it refuses the local IP programs (null: it loads them). */
  localIpRefusal: string | null = null;

  async localIpPrograms(): Promise<string | null> {
    return this.localIpRefusal;
  }

  /** A namespace's clsact egress programs by device (pref → name), of devices that still exist. */
  egressFilters(ns: string): Map<string, Map<number, string>> {
    const s = this.space(ns);
    return new Map([...s.clsact].filter(([dev, q]) => s.links.get(dev)?.ifindex === q.ifindex).map(([dev, q]) => [dev, new Map(q.egress)]));
  }

  /** A namespace's clsact ingress programs by device (pref → name), of devices that still exist. */
  bpfFilters(ns: string): Map<string, Map<number, string>> {
    const s = this.space(ns);
    return new Map([...s.clsact].filter(([dev, q]) => s.links.get(dev)?.ifindex === q.ifindex).map(([dev, q]) => [dev, new Map(q.ingress)]));
  }

  /** clsact lines (`vlantag.ts`): the qdisc, and bpf filters loading their line's object. */
  private clsactLine(s: FakeNs, line: TcLine): boolean {
    const qdisc = /^qdisc (add|del) dev (\S+) clsact$/.exec(line.cmd);
    const filter = /^filter replace dev (\S+) (ingress|egress) pref (\d+) handle 1 bpf direct-action obj @OBJECT sec tc$/.exec(line.cmd);
    const del = /^filter del dev (\S+) (ingress|egress) pref (\d+)$/.exec(line.cmd);
    const dev = (qdisc?.[2] ?? filter?.[1] ?? del?.[1]) as string | undefined;
    if (!dev) return false;
    const link = s.links.get(dev);
    if (!link) throw new Error(`Cannot find device "${dev}"`);
    const q = s.clsact.get(dev);
    const live = q && q.ifindex === link.ifindex ? q : undefined;
    if (qdisc?.[1] === 'add') {
      if (live) throw new Error('Error: Exclusivity flag on, cannot modify.');
      s.clsact.set(dev, { ifindex: link.ifindex, ingress: new Map(), egress: new Map() });
    } else if (qdisc) {
      if (!live) throw new Error('Error: Cannot find specified qdisc on specified device.');
      s.clsact.delete(dev);
    } else if (!live) throw new Error("Error: Parent Qdisc doesn't exists.");
    else if (filter) {
      if (!line.object) throw new Error('No such file or directory');
      live[filter[2] as 'ingress' | 'egress'].set(Number(filter[3]), bpfObjectName(line.object));
    } else if (!live[del![2] as 'ingress' | 'egress'].delete(Number(del![3]))) throw new Error('Error: Filter with specified priority/protocol not found.');
    return true;
  }

  async tcBatch(ns: string, lines: TcLine[]): Promise<Map<Owner, string>> {
    if (lines.length === 0) return new Map();
    this.record(
      'tcBatch',
      ns,
      lines.map((l) => l.cmd),
    );
    const s = this.space(ns);
    const failures = new Map<number, string>();
    lines.forEach((line, i) => {
      try {
        const refused = this.refusal('tc', line.cmd, ns);
        if (refused) throw new Refused(refused);
        if (this.clsactLine(s, line)) return;
        const add = /^qdisc replace dev (\S+) root tbf rate (\d+)bit burst (\d+)b latency \d+ms$/.exec(line.cmd);
        const del = /^qdisc del dev (\S+) root$/.exec(line.cmd);
        const dev = (add ?? del)?.[1];
        const link = dev ? s.links.get(dev) : undefined;
        if (!link) throw new Error(`Cannot find device "${dev}"`);
        if (add) s.tbf.set(add[1], { ifindex: link.ifindex, rate: Number(add[2]) / 8, burst: Number(add[3]) });
        else if (!s.tbf.delete(link.name)) throw new Error('Error: Cannot delete qdisc with handle of zero.');
      } catch (e) {
        failures.set(i + 1, (e as Error).message);
      }
    });
    return failures.size ? batchErrors(lines, failures, 'tc failed') : new Map();
  }

  /** Netdev tables (QoS) of a namespace → fingerprint. */
  netdevTables(ns: string): Map<string, string | null> {
    return new Map(this.space(ns).netdev);
  }

  /** tbf shapers of a namespace, by device (those whose device still exists). */
  shapers(ns: string): Map<string, { rate: number; burst: number }> {
    const s = this.space(ns);
    const out = new Map<string, { rate: number; burst: number }>();
    for (const [dev, q] of s.tbf) if (s.links.get(dev)?.ifindex === q.ifindex) out.set(dev, { rate: q.rate, burst: q.burst });
    return out;
  }

  async iptablesSave(ns: string, family: 4 | 6): Promise<Tables> {
    this.record('iptablesSave', ns);
    return cloneTables(this.space(ns).iptables[family]);
  }

  async iptablesRestore(ns: string, family: 4 | 6, text: string): Promise<void> {
    this.record('iptablesRestore', ns, text.split('\n'));
    const s = this.space(ns);
    const refused = this.refusal('iptables', text, ns);
    if (refused) throw new Error(`iptables-restore exited 1: ${refused}`);
    s.iptables[family] = restore(s.iptables[family], text);
  }

  async conntrackForget(ns: string, zone: number, ip: string): Promise<void> {
    this.record('conntrackForget', ns);
    this.conntrack.push({ ns, zone, ip });
  }

  async conntrackForgetFloating(ns: string, ip: string): Promise<void> {
    this.record('conntrackForgetFloating', ns);
    this.conntrack.push({ ns, ip });
  }

  sendGratuitousArp(ns: string, dev: string, ip: string, count: number, onFailure: (reason: string) => void): void {
    if (count <= 0 || ip.includes(':')) return;
    this.record('sendGratuitousArp', ns);
    // arping binds to the address on the device: neither there, and it cannot send.
    const link = this.spaces.get(ns)?.links.get(dev);
    if (!link?.addrs.some((a) => a.split('/')[0] === ip)) {
      onFailure(link ? 'arping: bind: Cannot assign requested address' : `arping: Device ${dev} not available.`);
      return;
    }
    this.garps.push({ ns, dev, ip, mac: link.mac, count });
  }

  execCount(): number {
    return this.execs;
  }

  watchNamespaces(onChange: () => void): Closer {
    this.watchers.add(onChange);
    return { close: () => this.watchers.delete(onChange) };
  }

  monitorLinks(onLink: (ifname: string) => void): Closer {
    this.monitors.add(onLink);
    return { close: () => this.monitors.delete(onLink) };
  }

  lock(prefix: string): void {
    if (this.locks.has(prefix)) throw new Error(`prefix ${prefix} is in use`);
    this.locks.add(prefix);
  }

  unlock(prefix: string): void {
    this.locks.delete(prefix);
  }

  // ------------------------------------------------------------ the model

  private record(op: keyof Kernel, ns: string, input?: string[]): void {
    this.execs++;
    this.calls.push({ op, ns, ...(input ? { input } : {}) });
  }

  private refusal(op: Refusal['op'], text: string, ns: string): string | null {
    return this.refusals.find((r) => r.op === op && (r.ns === undefined || r.ns === ns) && matches(r.match, text))?.reason ?? null;
  }

  private notifyWatchers(): void {
    for (const fn of this.watchers) fn();
  }

  private blank(ino: number, nsid: boolean): FakeNs {
    const lo = this.newLink('lo', 'veth', 65536, '00:00:00:00:00:00');
    lo.kind = null;
    return {
      ino,
      nsid,
      sysctls: new Map(),
      links: new Map([['lo', lo]]),
      routes: [],
      neighbours: [],
      nat: null,
      iptables: { 4: new Map(), 6: new Map() },
      tbf: new Map(),
      netdev: new Map(),
      l3: null,
      proxies: [],
      clsact: new Map(),
    };
  }

  private newLink(name: string, kind: string, mtu: number, mac?: string): LinkState {
    const ifindex = this.nextIfindex++;
    const own = `02:00:00:00:${((ifindex >> 8) & 0xff).toString(16).padStart(2, '0')}:${(ifindex & 0xff).toString(16).padStart(2, '0')}`;
    return { ifindex, name, kind, mtu, mac: (mac ?? own).toLowerCase(), up: false, master: null, linkIndex: null, linkNetnsid: null, addrs: [] };
  }

  private space(ns: string): FakeNs {
    const s = this.spaces.get(ns);
    if (!s) throw new Error(`Cannot open network namespace "${ns}": No such file or directory`);
    return s;
  }

  /** A veth's other end, wherever it is. */
  private peerOf(link: LinkState): { ns: string; link: LinkState } | null {
    if (link.kind !== 'veth' || link.linkIndex === null) return null;
    for (const [ns, s] of this.spaces) for (const l of s.links.values()) if (l.ifindex === link.linkIndex) return { ns, link: l };
    return null;
  }

  private remove(ns: string): void {
    const s = this.spaces.get(ns);
    if (!s || ns === ROOT_NS) return;
    for (const name of [...s.links.keys()]) if (s.links.has(name)) this.deleteLink(ns, name);
    this.spaces.delete(ns);
  }

  private deleteLink(ns: string, name: string): void {
    const s = this.space(ns);
    const link = s.links.get(name);
    if (!link) throw new Error(`Cannot find device "${name}"`);
    const peer = this.peerOf(link);
    s.links.delete(name);
    s.routes = s.routes.filter((r) => r.dev !== name);
    s.neighbours = s.neighbours.filter((n) => n.dev !== name);
    s.proxies = s.proxies.filter((x) => !x.endsWith(` ${name}`));
    if (link.kind === 'bridge') for (const l of s.links.values()) if (l.master === name) l.master = null;
    for (const l of [...s.links.values()]) if (l.vlan?.parent === name) this.deleteLink(ns, l.name);
    if (peer) this.deleteLink(peer.ns, peer.link.name);
  }

  /** One `ip` batch line, as iproute2 and the kernel answer it. */
  private ip(ns: string, cmd: string): void {
    const s = this.space(ns);
    const w = cmd.split(/\s+/);
    const opt = (key: string, from = 0): string | undefined => {
      const i = w.indexOf(key, from);
      return i >= 0 ? w[i + 1] : undefined;
    };
    const dev = (name: string | undefined): LinkState => {
      const l = name === undefined ? undefined : s.links.get(name);
      if (!l) throw new Error(`Cannot find device "${name}"`);
      return l;
    };
    const [object, verb] = w;
    if (object === 'link' && verb === 'add' && w[2] === 'link') {
      // `link add link PARENT name NAME … type vlan id N`: an 802.1Q VLAN, gone with its parent.
      const parent = dev(w[3]);
      const name = opt('name')!;
      if (opt('type') !== 'vlan') throw new Error(`Unknown link type ${opt('type')}`);
      if (!this.has8021q) throw new Error('RTNETLINK answers: Operation not supported');
      if (s.links.has(name)) throw new Error('RTNETLINK answers: File exists');
      const l = this.newLink(name, 'vlan', Number(opt('mtu') ?? parent.mtu), opt('address'));
      l.vlan = { id: Number(opt('id')), parent: parent.name };
      s.links.set(name, l);
      return;
    }
    if (object === 'link' && verb === 'add') {
      const name = w[2];
      const type = opt('type');
      if (s.links.has(name)) throw new Error('RTNETLINK answers: File exists');
      if (type === 'bridge') {
        s.links.set(name, this.newLink(name, 'bridge', Number(opt('mtu') ?? 1500)));
        return;
      }
      if (type === 'vxlan') {
        const l = this.newLink(name, 'vxlan', Number(opt('mtu') ?? 1500));
        const vni = Number(opt('id'));
        this.vxlans.set(l.ifindex, {
          vni,
          local: opt('local') ?? null,
          port: Number(opt('dstport') ?? 8472),
          learning: !w.includes('nolearning'),
          proxy: w.includes('proxy'),
        });
        s.links.set(name, l);
        return;
      }
      if (type !== 'veth') throw new Error(`Unknown link type ${type}`);
      const peerAt = w.indexOf('peer');
      const mine = w.slice(0, peerAt);
      const theirs = w.slice(peerAt);
      const target = theirs.includes('netns') ? theirs[theirs.indexOf('netns') + 1] : ns;
      const t = this.spaces.get(target);
      if (!t) throw new Error(`Invalid "netns" value "${target}"`);
      const peerName = theirs[theirs.indexOf('name') + 1];
      if (t.links.has(peerName)) throw new Error('RTNETLINK answers: File exists');
      const get = (words: string[], key: string) => (words.includes(key) ? words[words.indexOf(key) + 1] : undefined);
      const a = this.newLink(name, 'veth', Number(get(mine, 'mtu') ?? 1500), get(mine, 'address'));
      const b = this.newLink(peerName, 'veth', Number(get(theirs, 'mtu') ?? 1500), get(theirs, 'address'));
      a.linkIndex = b.ifindex;
      b.linkIndex = a.ifindex;
      if (t !== s) {
        a.linkNetnsid = 0;
        b.linkNetnsid = 0;
      }
      s.links.set(name, a);
      t.links.set(peerName, b);
      return;
    }
    if (object === 'link' && verb === 'del') {
      this.deleteLink(ns, w[2]);
      return;
    }
    if (object === 'link' && verb === 'set') {
      const l = dev(w[2]);
      const what = w[3];
      if (what === 'up' || what === 'down') l.up = what === 'up';
      else if (what === 'mtu') l.mtu = Number(w[4]);
      else if (what === 'address') l.mac = w[4].toLowerCase();
      else if (what === 'nomaster') l.master = null;
      else if (what === 'netns') {
        // Into another namespace (pid 1: the host's), its index kept, off its bridge; its clsact
        // hooks go with it, the VLAN devices on it stay behind (they are netdevices of their own).
        const to = w[4] === '1' ? ROOT_NS : w[4];
        const t = this.spaces.get(to);
        if (!t) throw new Error(`Invalid "netns" value "${w[4]}"`);
        if (t === s) return;
        if (t.links.has(l.name)) throw new Error('RTNETLINK answers: File exists');
        s.links.delete(l.name);
        l.master = null;
        t.links.set(l.name, l);
        const hooks = s.clsact.get(l.name);
        if (hooks) {
          s.clsact.delete(l.name);
          t.clsact.set(l.name, hooks);
        }
      } else if (what === 'master') {
        if (dev(w[4]).kind !== 'bridge') throw new Error('RTNETLINK answers: Invalid argument');
        l.master = w[4];
      } else if (what === 'addrgenmode' && ['eui64', 'none', 'stable_secret', 'random'].includes(w[4])) {
        // no IPv6 addresses are modelled
      } else throw new Error(`Error: argument "${what}" is wrong`);
      return;
    }
    if (object === 'addr') {
      const c = parseCidr(w[2]);
      const ip = parseIp(w[2].split('/')[0]);
      if (!c || !ip) throw new Error(`Error: any valid prefix is expected rather than "${w[2]}".`);
      const cidr = `${ipToString(ip)}/${c.prefix}`;
      const l = dev(opt('dev'));
      if (verb === 'replace') {
        if (!l.addrs.includes(cidr)) l.addrs.push(cidr);
      } else if (verb === 'del') {
        if (!l.addrs.includes(cidr)) throw new Error('RTNETLINK answers: Cannot assign requested address');
        l.addrs = l.addrs.filter((a) => a !== cidr);
      } else throw new Error(`Command "${verb}" is unknown, try "ip address help".`);
      return;
    }
    if (object === 'neigh' && w[2] === 'proxy') {
      const key = `${ipToString(parseIp(w[3])!)} ${dev(opt('dev')).name}`;
      if (verb === 'add') {
        if (s.proxies.includes(key)) throw new Error('RTNETLINK answers: File exists');
        s.proxies.push(key);
      } else if (verb === 'del') {
        if (!s.proxies.includes(key)) throw new Error('RTNETLINK answers: No such file or directory');
        s.proxies = s.proxies.filter((x) => x !== key);
      }
      return;
    }
    if (object === 'neigh' && verb === 'replace') {
      const d = opt('dev')!;
      dev(d);
      const entry = { ip: ipToString(parseIp(w[2])!), dev: d, mac: opt('lladdr')!.toLowerCase(), state: ['STALE'] };
      s.neighbours = [...s.neighbours.filter((n) => !(n.ip === entry.ip && n.dev === d)), entry];
      return;
    }
    if (object === 'route') {
      const dst = w[2];
      const via = opt('via');
      const gw = via === undefined ? null : parseIp(via);
      const family = (gw?.version ?? (dst.includes(':') ? 6 : 4)) as 4 | 6;
      if (verb === 'replace') {
        if (!gw) throw new Error('Error: inet prefix is expected rather than "via".');
        let d = opt('dev');
        if (d !== undefined) dev(d);
        if (!w.includes('onlink')) {
          // The gateway must be on a connected subnet (of `dev`, when given).
          const on = [...s.links.values()].find((l) => (d === undefined || l.name === d) && l.addrs.some((a) => cidrContains(parseCidr(a)!, gw)));
          if (!on) throw new Error('Error: Nexthop has invalid gateway.');
          d = on.name;
        }
        const route: RouteState = { family, dst, via: ipToString(gw), dev: d ?? null, protocol: 'boot' };
        s.routes = [...s.routes.filter((r) => !(r.family === family && r.dst === dst)), route];
        return;
      }
      if (verb === 'del') {
        const d = opt('dev');
        const i = s.routes.findIndex((r) => r.dst === dst && (!gw || (r.family === family && r.via === ipToString(gw))) && (d === undefined || r.dev === d));
        if (i < 0) throw new Error('RTNETLINK answers: No such process');
        s.routes.splice(i, 1);
        return;
      }
    }
    throw new Error(`Command "${cmd}" is unknown`);
  }
}

/** `iptables-restore --noflush`: all or nothing. */
function restore(tables: Tables, text: string): Tables {
  const out = cloneTables(tables);
  let current: Map<string, string[]> | null = null;
  const lines = text.split('\n');
  for (const [i, line] of lines.entries()) {
    const fail = (why: string) => {
      throw new Error(`line ${i + 1} failed: ${why}`);
    };
    if (line === '' || line === 'COMMIT') continue;
    if (line.startsWith('*')) {
      const name = line.slice(1);
      if (!out.has(name)) out.set(name, new Map((BUILTIN[name] ?? []).map((c) => [c, []])));
      current = out.get(name)!;
      continue;
    }
    if (!current) fail('no table');
    const chains: Map<string, string[]> = current!;
    const [verb, chain, ...rest] = line.split(' ');
    if (verb.startsWith(':')) chains.set(verb.slice(1), []);
    else if (verb === '-F') {
      if (!chains.has(chain)) fail(`chain ${chain} does not exist`);
      chains.set(chain, []);
    } else if (verb === '-A') {
      if (!chains.has(chain)) fail(`chain ${chain} does not exist`);
      const jump = /-j (\S+)$/.exec(rest.join(' '))?.[1];
      if (jump && /^ps-/.test(jump) && !chains.has(jump)) fail(`chain ${jump} does not exist`);
      chains.get(chain)!.push(rest.join(' '));
    } else if (verb === '-X') {
      if (!chains.has(chain)) fail(`chain ${chain} does not exist`);
      chains.delete(chain);
    } else fail(`unknown ${verb}`);
  }
  return out;
}

const pairs = (body: string): Array<[string, string]> =>
  body
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)
    .map((x) => x.split(':').map((y) => y.trim()) as [string, string]);

/** `nft -f`: one transaction over the router's NAT table (only the forms the driver writes). */
function nft(table: NatState | null, script: string): NatState | null {
  let t = cloneNat(table);
  const lines = script.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line === '') continue;
    if (line === `table ip ${NAT_TABLE} {}`) {
      t ??= { fingerprint: null, dnat: new Map(), snat: new Map(), pf: new Map() };
    } else if (line === `delete table ip ${NAT_TABLE}`) {
      if (!t) throw new Error('Error: Could not process rule: No such file or directory');
      t = null;
    } else if (line === `table ip ${NAT_TABLE} {`) {
      // The whole table: maps with their elements, the fingerprint in a rule comment.
      let depth = 1;
      const block: string[] = [];
      while (depth > 0 && ++i < lines.length) {
        const l = lines[i];
        if (l === '}') depth--;
        else block.push(l);
      }
      const text = block.join('\n');
      const elements = (map: string) => pairs(new RegExp(`map ${map} \\{[^;]*;(?: elements = \\{ ([^}]*) \\};)? \\}`).exec(text)?.[1] ?? '');
      t = {
        fingerprint: /comment "ps:([0-9a-f]+)"/.exec(text)?.[1] ?? null,
        dnat: new Map(elements('fip_dnat')),
        snat: new Map(elements('fip_snat')),
        pf: new Map(elements('pf_dnat')),
      };
    } else {
      const m = new RegExp(`^(add|delete) element ip ${NAT_TABLE} (fip_dnat|fip_snat|pf_dnat) \\{ (.*) \\}$`).exec(line);
      if (!m || !t) throw new Error(`Error: syntax error or no table: ${line}`);
      const map = m[2] === 'fip_dnat' ? t.dnat : m[2] === 'fip_snat' ? t.snat : t.pf;
      if (m[1] === 'add') for (const [k, v] of pairs(m[3])) map.set(k, v);
      else
        for (const k of m[3].split(',').map((x) => x.trim())) {
          if (!map.delete(k)) throw new Error('Error: Could not process rule: No such file or directory');
        }
    }
  }
  return t;
}

/**
 * `nft -f` of netdev tables (the forms the QoS planner writes): whole tables, their reset and
 * deletion, in one transaction. A table's chain must name a device that exists.
 */
function nftNetdev(tables: Map<string, string | null>, script: string, links: Map<string, LinkState>): Map<string, string | null> {
  const t = new Map(tables);
  const lines = script.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line === '') continue;
    let m = /^table netdev (\S+) \{\}$/.exec(line);
    if (m) {
      if (!t.has(m[1])) t.set(m[1], null);
      continue;
    }
    m = /^delete table netdev (\S+)$/.exec(line);
    if (m) {
      if (!t.delete(m[1])) throw new Error('Error: Could not process rule: No such file or directory');
      continue;
    }
    m = /^table netdev (\S+) \{$/.exec(line);
    if (!m) throw new Error(`Error: syntax error: ${line}`);
    const name = m[1];
    const block: string[] = [];
    while (++i < lines.length && lines[i] !== '}') block.push(lines[i]);
    const text = block.join('\n');
    for (const dev of text.matchAll(/device "([^"]+)"/g))
      if (!links.has(dev[1])) throw new Error(`Error: Could not process rule: No such file or directory (${dev[1]})`);
    t.set(name, /comment "ps:([0-9a-f]+)"/.exec(text)?.[1] ?? null);
  }
  return t;
}

/**
 * Machines, as a record of what the driver asked for: namespaces are made in the fake kernel
 * (as a machine's own user namespace would own them), boots and stops are remembered, and a
 * test can hold an instance back (`pending`) or refuse its image (`refuse`).
 */
/**
 * The overlay's reads and `bridge` batches against a FakeKernel: its VXLAN devices (made by `ip`
 * lines in the underlay namespace and moved) and their forwarding entries, which go with them.
 */
export class FakeOverlay implements OverlayKernel {
  private fdb: Array<{ ifindex: number; dev: string; mac: string; dst: string }> = [];
  constructor(private readonly kernel: FakeKernel) {}

  private devices(ns: string): LinkState[] {
    return [...(this.kernel.links(ns)?.values() ?? [])].filter((l) => l.kind === 'vxlan' && this.kernel.vxlans.has(l.ifindex));
  }

  async readOverlay(ns: string): Promise<OverlayState> {
    const devs = this.devices(ns);
    const live = new Set(devs.map((l) => l.ifindex));
    return {
      devices: new Map(
        devs.map((l) => {
          const v = this.kernel.vxlans.get(l.ifindex)!;
          return [
            l.name,
            { name: l.name, vni: v.vni, local: v.local, port: v.port, learning: v.learning, proxy: v.proxy, mtu: l.mtu, master: l.master, up: l.up },
          ];
        }),
      ),
      fdb: this.fdb.filter((e) => live.has(e.ifindex)).map(({ dev, mac, dst }) => ({ dev, mac, dst })),
      neigh: [],
    };
  }

  async bridgeBatch(ns: string, lines: Line[]): Promise<Map<Owner, string>> {
    const failures = new Map<number, string>();
    lines.forEach((line, i) => {
      const w = line.cmd.split(/\s+/);
      const at = (k: string) => w[w.indexOf(k) + 1];
      const dev = this.devices(ns).find((l) => l.name === at('dev'));
      if (w[0] !== 'fdb' || !dev) {
        failures.set(i + 1, `Cannot find device "${at('dev')}"`);
        return;
      }
      const [verb, mac, dst] = [w[1], w[2], at('dst')];
      const same = (e: { ifindex: number; mac: string; dst: string }) => e.ifindex === dev.ifindex && e.mac === mac && (verb === 'replace' || e.dst === dst);
      this.fdb = this.fdb.filter((e) => !same(e));
      if (verb !== 'del') this.fdb.push({ ifindex: dev.ifindex, dev: dev.name, mac, dst });
    });
    return failures.size ? batchErrors(lines, failures, 'bridge failed') : new Map();
  }
}

export class FakeProcesses implements InstanceRunner {
  /** Every reconcile that did something: `booted`, `stopped` or `frozen`, per instance. */
  readonly events: Array<{ id: string; result: 'booted' | 'stopped' | 'frozen'; nsIno: number }> = [];
  readonly removed: Array<ReadonlySet<string>> = [];
  /** Namespaces torn down (destroy). */
  readonly destroyed: string[] = [];
  /** Machine namespaces created through the runner. */
  readonly created: string[] = [];
  /** Instances told their NICs were plugged in again. */
  readonly replugs: string[] = [];
  readonly readinessOf = new Map<string, Readiness>();
  private readonly state = new Map<string, string>();
  private readonly powers = new Map<string, InstancePower>();

  constructor(private readonly kernel?: Kernel) {}

  readiness(spec: InstanceSpec): Readiness {
    return this.readinessOf.get(spec.id) ?? 'ready';
  }

  async createNamespace(spec: InstanceSpec, sysctls: Array<[string, string]>): Promise<void> {
    this.created.push(spec.ns);
    await this.kernel?.createNamespace(spec.ns, sysctls, { nsid: false });
  }

  async destroy(ns: string): Promise<void> {
    this.destroyed.push(ns);
  }

  async reconcile(spec: InstanceSpec, nsIno: number): Promise<'booted' | 'stopped' | 'frozen' | 'thawed' | 'unchanged'> {
    const key = JSON.stringify([spec.power, nsIno, spec.bootGeneration]);
    if (this.state.get(spec.id) === key) return 'unchanged';
    this.state.set(spec.id, key);
    const result = spec.power === 'stopped' ? 'stopped' : spec.power === 'running' ? 'booted' : 'frozen';
    this.powers.set(spec.id, spec.power === 'stopped' ? 'shutdown' : spec.power);
    this.events.push({ id: spec.id, result, nsIno });
    return result;
  }

  replugged(spec: InstanceSpec): void {
    this.replugs.push(spec.id);
  }

  power(spec: InstanceSpec): InstancePower | null {
    return this.powers.get(spec.id) ?? null;
  }

  removalSweep(): (keep: ReadonlySet<string>) => void {
    return (keep) => this.removed.push(keep);
  }

  async snapshot(): Promise<Readable> {
    return Readable.from([]);
  }

  attachConsole(): ConsoleSession {
    return { write: () => undefined, close: () => undefined };
  }
}

/** DHCP servers and metadata proxies, as a record of what the last pass asked for. */
export class FakeServices implements NetworkServices {
  dhcpSpecs: DhcpServerSpec[] = [];
  metadataSpecs: MetadataProxySpec[] = [];
  /** Network id → reason: dnsmasq refuses to serve it. */
  readonly refuseDhcp = new Map<string, string>();

  async dhcp(specs: DhcpServerSpec[]): Promise<Map<string, string>> {
    this.dhcpSpecs = specs;
    return new Map([...this.refuseDhcp].filter(([id]) => specs.some((s) => s.networkId === id)));
  }

  async metadata(specs: MetadataProxySpec[]): Promise<Map<string, string>> {
    this.metadataSpecs = specs;
    return new Map();
  }

  /** The security-group log plan last given, and whether the switch existed then. */
  sgLogSpec: SgLogSpec | null = null;
  sgLogSwitch = false;

  async sgLog(spec: SgLogSpec | null, switchIno: number | undefined): Promise<void> {
    this.sgLogSpec = spec;
    this.sgLogSwitch = switchIno !== undefined;
  }

  async close(): Promise<void> {}
}
