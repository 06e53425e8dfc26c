import { parseIp } from '../../util/ip.js';
import { SECTION, bpfObject } from './bpf.js';
import { LOCAL_IP_PROGRAM, localIpEgressProgram, localIpIngressProgram, localIpProgramName } from './localipprog.js';
import type { LocalIpEntry, LocalIpTapSpec, Snapshot, WiredPort } from './model.js';
import type { Names } from './names.js';
import { ownerKey } from './owners.js';
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
 * Only instances' ports (not `network:*` ones) are clients: the programs are stateless, and a
 * router's leg or a DHCP server would have the associated port's own traffic through them (its
 * DHCP renewals, its connections out) rewritten to the local IP.
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
 * The `tc` lines that give each tap of `specs` its two programs, against what the switch's clsact
 * hooks hold (`actual`); our programs on taps no spec names are removed, and a tap left with
 * nobody's filters loses its clsact.
 */
export function planLocalIps(specs: LocalIpTapSpec[], actual: ClsactState): TcLine[] {
  const out: TcLine[] = [];
  const have = new Map(actual.filters.map((f) => [`${f.dev}/${f.hook}/${f.pref}`, f.name]));
  const wanted = new Set<string>();
  for (const s of specs) {
    if (!actual.clsact.has(s.dev)) out.push({ cmd: `qdisc add dev ${s.dev} clsact`, owner: s.owner });
    for (const hook of ['ingress', 'egress'] as const) {
      const insns = hook === 'ingress' ? localIpIngressProgram(s.entries) : localIpEgressProgram(s.entries);
      const name = localIpProgramName(hook, insns);
      wanted.add(`${s.dev}/${hook}/${LOCAL_IP_PREF}`);
      if (have.get(`${s.dev}/${hook}/${LOCAL_IP_PREF}`) === name) continue;
      out.push({
        cmd: `filter replace dev ${s.dev} ${hook} pref ${LOCAL_IP_PREF} handle 1 bpf direct-action obj ${OBJECT_TOKEN} sec ${SECTION}`,
        owner: s.owner,
        object: bpfObject(name, insns),
      });
    }
  }
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
