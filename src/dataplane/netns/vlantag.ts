import { SECTION, bpfObject, popProgram, programName, pushProgram } from './bpf.js';
import type { DesiredNs } from './model.js';
import { taggerName } from './names.js';
import { type Owner, ownerKey } from './owners.js';
import type { Line } from './plan.js';
import type { LinkState } from './state.js';

/**
 * VLAN subinterfaces on a kernel without 802.1Q (no 8021q, as in Firecracker's guest kernels):
 * a desired `vlan` link is made as a veth pair in its own namespace (plan.ts), its named end
 * being the subinterface and a hidden peer (`taggerName`) joined to the parent by two tc-BPF
 * programs (bpf.ts): on the peer's ingress, tag and send out of the parent; on the parent's
 * ingress, untag frames of that VLAN and send them out of the peer. This module plans those
 * programs for one namespace against what its clsact hooks hold.
 */

/** A VLAN subinterface made with BPF: its veth, hidden peer, parent and VLAN id. */
export interface TaggedVlan {
  name: string;
  peer: string;
  parent: string;
  vid: number;
  owner: Owner;
}

export function taggedVlans(ns: DesiredNs): TaggedVlan[] {
  return ns.links
    .filter((l) => l.kind === 'vlan' && l.vlan)
    .map((l) => ({ name: l.name, peer: taggerName(l.name), parent: l.vlan!.parent, vid: l.vlan!.id, owner: l.owner }));
}

/** A bpf filter on a clsact ingress hook: device, preference, the loaded program's name. */
export interface TcBpfFilter {
  dev: string;
  pref: number;
  name: string | null;
}

/** What a namespace's clsact hooks hold: devices with a clsact qdisc, and their ingress bpf filters. */
export interface VlanTagState {
  clsact: Set<string>;
  filters: TcBpfFilter[];
}

/** A `tc` batch line; `object` is the BPF object its `obj @OBJECT` loads (the kernel writes it to a private file). */
export interface TcLine extends Line {
  object?: Buffer;
}

export const OBJECT_TOKEN = '@OBJECT';

/** Our programs' names (bpf.ts programName): only these are ever replaced or removed. */
const OURS = /^ps[tp][0-9a-f]{3}\.[0-9a-f]{8}$/;

/** The hidden peer's filter preference; the parent's filters use the VLAN id (one per subport). */
const PEER_PREF = 1;

/**
 * The `tc` lines that make `vlans` carry traffic in a namespace whose links (with their real
 * interface indexes) are `links` (read only when there are VLANs) and whose hooks hold `actual`; programs of ours no VLAN wants
 * any more are removed (a clsact left with none of anybody's filters goes too).
 */
export function planVlanTags(vlans: TaggedVlan[], links: ReadonlyMap<string, LinkState>, actual: VlanTagState): TcLine[] {
  const out: TcLine[] = [];
  const wanted = new Map<string, string>(); // `dev/pref` → program name
  const qdiscs = new Set<string>();
  const have = new Map(actual.filters.map((f) => [`${f.dev}/${f.pref}`, f.name]));
  const load = (dev: string, pref: number, name: string, program: ReturnType<typeof pushProgram>, owner: Owner) => {
    wanted.set(`${dev}/${pref}`, name);
    if (!actual.clsact.has(dev) && !qdiscs.has(dev)) {
      qdiscs.add(dev);
      out.push({ cmd: `qdisc add dev ${dev} clsact`, owner });
    }
    if (have.get(`${dev}/${pref}`) === name) return;
    out.push({
      cmd: `filter replace dev ${dev} ingress pref ${pref} handle 1 bpf direct-action obj ${OBJECT_TOKEN} sec ${SECTION}`,
      owner,
      object: bpfObject(name, program),
    });
  };
  for (const v of vlans) {
    const veth = links.get(v.name);
    const peer = links.get(v.peer);
    const parent = links.get(v.parent);
    // The pair or the parent is missing (the ip batch failed and said why) or not read yet.
    if (!veth || !peer || !parent || peer.ifindex < 1 || parent.ifindex < 1) continue;
    load(v.peer, PEER_PREF, programName('push', v.vid, parent.ifindex), pushProgram(v.vid, parent.ifindex), v.owner);
    load(v.parent, v.vid, programName('pop', v.vid, peer.ifindex), popProgram(v.vid, peer.ifindex), v.owner);
  }
  // Ours, no longer wanted: a device left with nothing of anybody's loses its clsact.
  const byDev = new Map<string, TcBpfFilter[]>();
  for (const f of actual.filters) byDev.set(f.dev, [...(byDev.get(f.dev) ?? []), f]);
  for (const [dev, filters] of byDev) {
    const stale = filters.filter((f) => f.name !== null && OURS.test(f.name) && !wanted.has(`${f.dev}/${f.pref}`));
    if (!stale.length) continue;
    const owner = ownerKey.stale(dev);
    if (stale.length === filters.length && ![...wanted.keys()].some((k) => k.startsWith(`${dev}/`))) {
      out.push({ cmd: `qdisc del dev ${dev} clsact`, owner, tolerant: true });
    } else for (const f of stale) out.push({ cmd: `filter del dev ${dev} ingress pref ${f.pref}`, owner, tolerant: true });
  }
  return out;
}

// What `tc -j qdisc show` and `tc -j filter show dev X ingress` print, as far as we read it.
interface TcQdiscJson {
  kind?: string;
  dev?: string;
}
interface TcFilterJson {
  pref?: number;
  kind?: string;
  options?: { prog?: { name?: string } };
}

/** Devices with a clsact qdisc, from `tc -j qdisc show`. */
export function parseClsact(qdiscJson: string): Set<string> {
  const out = new Set<string>();
  for (const q of JSON.parse(qdiscJson || '[]') as TcQdiscJson[]) if (q.kind === 'clsact' && q.dev) out.add(q.dev);
  return out;
}

/** One device's ingress bpf filters, from `tc -j filter show dev DEV ingress` (one line per filter with its program). */
export function parseIngressFilters(dev: string, filterJson: string): TcBpfFilter[] {
  const out: TcBpfFilter[] = [];
  for (const f of JSON.parse(filterJson || '[]') as TcFilterJson[]) {
    if (f.kind !== 'bpf' || typeof f.pref !== 'number' || !f.options) continue;
    out.push({ dev, pref: f.pref, name: f.options.prog?.name ?? null });
  }
  return out;
}
