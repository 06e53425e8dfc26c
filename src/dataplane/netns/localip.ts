import { parseIp } from '../../util/ip.js';
import { type BtfMap, type Insn, SECTION, bpfObject } from './bpf.js';
import {
  LOCAL_IP_PROGRAM,
  type LocalIpProgramKind,
  localIpBlockerProgram,
  localIpConnMap,
  localIpEgressProgram,
  localIpIngressProgram,
  localIpProgramName,
} from './localipprog.js';
import type { LocalIpBlockerSpec, LocalIpEntry, LocalIpTapSpec, Snapshot, WiredPort } from './model.js';
import type { Names } from './names.js';
import { type Owner, ownerKey } from './owners.js';
import { OBJECT_TOKEN, type TcLine } from './vlantag.js';

/**
 * Neutron's `local_ip` on the netns data plane. The OVS agent's local_ip extension acts on the
 * host of a port associated with a local IP, on that port's network (its local VLAN): what that
 * network's ports there send to the local IP goes to the port, the replies come back from the
 * local IP, ARP for it is answered with the port's MAC. Here that network is a bridge in the
 * switch namespace, and each of its ports' taps gets the two programs of localipprog.ts, holding
 * every local IP of the network associated with a port on this host (but the tap's own: a port
 * reaches its own local IP's owner untranslated, as _avoid_nat_to_self lets it).
 *
 * Only instances' ports (not `network:*` ones) are clients. That was chosen while the programs
 * were stateless, when a router's leg or a DHCP server would have had the associated port's own
 * traffic through them (its DHCP renewals, its connections out) rewritten to the local IP; with
 * the learned connections that no longer happens, and the agent's flows would translate for those
 * ports too (they match the network's local VLAN), but they are still left out.
 *
 * With an overlay to other hosts, the network's VXLAN device also gets the agent's gratuitous-ARP
 * blocker (buildLocalIpBlockers): other hosts' ARP claiming a local IP served here never reaches
 * its clients, who would otherwise learn another host's MAC for it.
 */

const isClient = (deviceOwner: string) => !deviceOwner.startsWith('network:');

/** Taps and what they answer, from the local IPs whose associated port is wired on this host. */
export function buildLocalIps(s: Snapshot, names: Names, wired: ReadonlyMap<string, WiredPort>): LocalIpTapSpec[] {
  const lips = s.localIps ?? [];
  if (!lips.length) return [];
  const ports = new Map(s.ports.map((p) => [p.id, p]));
  // network → local IPs served there (by associated port), first association by port id wins.
  const byNetwork = new Map<string, Array<LocalIpEntry & { lipId: string; portId: string }>>();
  for (const lip of [...lips].sort((a, b) => a.id.localeCompare(b.id))) {
    // IPv4 only: the agent's flows match IPv4 and answer ARP.
    if (parseIp(lip.address)?.version !== 4) continue;
    const assoc = [...lip.associations]
      .sort((a, b) => a.portId.localeCompare(b.portId))
      .find((a) => wired.has(a.portId) && ports.has(a.portId) && parseIp(a.fixedIp)?.version === 4);
    if (!assoc) continue;
    const port = ports.get(assoc.portId)!;
    const list = byNetwork.get(port.networkId) ?? [];
    if (list.some((e) => e.localIp === lip.address)) continue;
    list.push({ lipId: lip.id, portId: port.id, localIp: lip.address, fixedIp: assoc.fixedIp, mac: port.mac });
    byNetwork.set(port.networkId, list);
  }
  const out: LocalIpTapSpec[] = [];
  for (const p of [...s.ports].sort((a, b) => a.id.localeCompare(b.id))) {
    const w = wired.get(p.id);
    if (!w || w.subport || !isClient(p.deviceOwner)) continue;
    const entries = (byNetwork.get(p.networkId) ?? []).filter((e) => e.portId !== p.id && !p.fixedIps.some((f) => f.ipAddress === e.fixedIp));
    if (!entries.length) continue;
    out.push({
      dev: names.tap(p.id),
      portId: p.id,
      owner: ownerKey.localip(entries[0].lipId),
      entries: entries.map(({ localIp, fixedIp, mac }) => ({ localIp, fixedIp, mac })),
    });
  }
  return out;
}

/**
 * The gratuitous-ARP blockers: for each network with a port associated with an IPv4 local IP on
 * this host, its VXLAN device (`uplinks`: the overlay's devices, by bridge) drops ARP from other
 * hosts claiming that local IP. The agent installs one blocker per association whose port it
 * wires (add_local_ip_flows: install_garp_blocker on the port's local VLAN) and one exception per
 * association's fixed IP, so every such association counts here, not only the one the taps
 * answer with. The agent's match is the local VLAN tag, which in br-int's first table only frames
 * from br-tun carry (a physical bridge's frames still have their provider tag or none there), so
 * the blocker is on the tunnel side only: ARP entering from a flat or VLAN physical network
 * passes, as in Neutron. Without an overlay (one host) there is nobody else to block.
 */
export function buildLocalIpBlockers(
  s: Snapshot,
  names: Names,
  wired: ReadonlyMap<string, WiredPort>,
  uplinks: ReadonlyArray<{ dev: string; bridge: string }>,
): LocalIpBlockerSpec[] {
  const lips = s.localIps ?? [];
  if (!lips.length || !uplinks.length) return [];
  const ports = new Map(s.ports.map((p) => [p.id, p]));
  // network → (local IP → the fixed IPs of its associations here), and the first local IP's owner.
  const byNetwork = new Map<string, { owner: LocalIpBlockerSpec['owner']; lips: Map<string, Set<string>> }>();
  for (const lip of [...lips].sort((a, b) => a.id.localeCompare(b.id))) {
    if (parseIp(lip.address)?.version !== 4) continue;
    for (const assoc of [...lip.associations].sort((a, b) => a.portId.localeCompare(b.portId))) {
      const port = ports.get(assoc.portId);
      if (!port || !wired.has(port.id) || parseIp(assoc.fixedIp)?.version !== 4) continue;
      const net = byNetwork.get(port.networkId) ?? { owner: ownerKey.localip(lip.id), lips: new Map<string, Set<string>>() };
      byNetwork.set(port.networkId, net);
      const except = net.lips.get(lip.address) ?? new Set<string>();
      net.lips.set(lip.address, except.add(assoc.fixedIp));
    }
  }
  const out: LocalIpBlockerSpec[] = [];
  for (const [networkId, net] of [...byNetwork].sort(([a], [b]) => a.localeCompare(b))) {
    const bridge = names.bridge(networkId);
    for (const u of uplinks) {
      if (u.bridge !== bridge) continue;
      out.push({
        dev: u.dev,
        networkId,
        owner: net.owner,
        entries: [...net.lips].map(([localIp, except]) => ({ localIp, except: [...except].sort() })),
      });
    }
  }
  return out;
}

export type Hook = 'ingress' | 'egress';

/** A bpf filter on a clsact hook: device, hook, preference, the loaded program's name. */
export interface ClsactFilter {
  dev: string;
  hook: Hook;
  pref: number;
  name: string | null;
}

/** What a namespace's clsact hooks hold: devices with a clsact qdisc, and their bpf filters (both hooks). */
export interface ClsactState {
  clsact: Set<string>;
  filters: ClsactFilter[];
}

/** Above every VLAN's (vlantag.ts uses 1 and the VLAN ids 1–4094): our filters run after theirs. */
export const LOCAL_IP_PREF = 5000;

/**
 * The `tc` lines that give each tap of `specs` its two programs and each VXLAN device of
 * `blockers` its blocker (ingress), against what the switch's clsact hooks hold (`actual`); our
 * programs on devices no spec names are removed, and a device left with nobody's filters loses
 * its clsact. A tap's two programs share its connection map (localIpConnMap), which only programs
 * loaded by the same `tc` process get (the pin is in that process's own bpffs): when either is not
 * the one wanted, both are loaded again, in one batch, with a new empty map; the old map goes with
 * the programs that held it. A removed program's map goes with it likewise: nothing is left pinned.
 */
export function planLocalIps(specs: LocalIpTapSpec[], actual: ClsactState, blockers: LocalIpBlockerSpec[] = []): TcLine[] {
  const out: TcLine[] = [];
  const have = new Map(actual.filters.map((f) => [`${f.dev}/${f.hook}/${f.pref}`, f.name]));
  const wanted = new Set<string>();
  const withClsact = new Set(actual.clsact);
  type Program = { hook: Hook; kind: LocalIpProgramKind; insns: Insn[] };
  /** Loads `programs` on `dev` unless every one of them is in place already. */
  const load = (dev: string, programs: Program[], owner: Owner, map?: BtfMap) => {
    if (!withClsact.has(dev)) {
      out.push({ cmd: `qdisc add dev ${dev} clsact`, owner });
      withClsact.add(dev);
    }
    const named = programs.map((p) => ({ ...p, name: localIpProgramName(p.kind, p.insns) }));
    for (const p of named) wanted.add(`${dev}/${p.hook}/${LOCAL_IP_PREF}`);
    if (named.every((p) => have.get(`${dev}/${p.hook}/${LOCAL_IP_PREF}`) === p.name)) return;
    for (const p of named)
      out.push({
        cmd: `filter replace dev ${dev} ${p.hook} pref ${LOCAL_IP_PREF} handle 1 bpf direct-action obj ${OBJECT_TOKEN} sec ${SECTION}`,
        owner,
        object: bpfObject(p.name, p.insns, map),
      });
  };
  for (const s of specs)
    load(
      s.dev,
      [
        { hook: 'ingress', kind: 'ingress', insns: localIpIngressProgram(s.entries) },
        { hook: 'egress', kind: 'egress', insns: localIpEgressProgram(s.entries) },
      ],
      s.owner,
      localIpConnMap(s.dev),
    );
  for (const b of blockers) load(b.dev, [{ hook: 'ingress', kind: 'blocker', insns: localIpBlockerProgram(b.entries) }], b.owner);
  const byDev = new Map<string, ClsactFilter[]>();
  for (const f of actual.filters) byDev.set(f.dev, [...(byDev.get(f.dev) ?? []), f]);
  for (const [dev, filters] of byDev) {
    const stale = filters.filter((f) => f.name !== null && LOCAL_IP_PROGRAM.test(f.name) && !wanted.has(`${f.dev}/${f.hook}/${f.pref}`));
    if (!stale.length) continue;
    const owner = ownerKey.stale(dev);
    if (stale.length === filters.length) out.push({ cmd: `qdisc del dev ${dev} clsact`, owner, tolerant: true });
    else for (const f of stale) out.push({ cmd: `filter del dev ${dev} ${f.hook} pref ${f.pref}`, owner, tolerant: true });
  }
  return out;
}

// What `tc -j qdisc show` and `tc -j filter show dev X ingress|egress` print, as far as we read it.
interface TcFilterJson {
  pref?: number;
  kind?: string;
  options?: { prog?: { name?: string } };
}

/** One device's bpf filters on one hook (one JSON line per filter with its program). */
export function parseHookFilters(dev: string, hook: Hook, filterJson: string): ClsactFilter[] {
  const out: ClsactFilter[] = [];
  for (const f of JSON.parse(filterJson || '[]') as TcFilterJson[]) {
    if (f.kind !== 'bpf' || typeof f.pref !== 'number' || !f.options) continue;
    out.push({ dev, hook, pref: f.pref, name: f.options.prog?.name ?? null });
  }
  return out;
}
