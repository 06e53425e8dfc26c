import { cidrsOverlap, parseCidr, parseIp } from '../../util/ip.js';
import type { DesiredLink, DesiredNs } from './model.js';
import { TAGGER_RE, taggerName } from './names.js';
import { type Owner, ownerKey } from './owners.js';
import type { LinkState, NsState, RouteState } from './state.js';

/**
 * The difference between a namespace's desired and actual state as `ip -batch` lines, each
 * tagged with the object it serves so a failing line puts exactly that object in ERROR.
 *
 * Phases of a pass: `cleanup` (every namespace: remove stale links and links whose veth peer is
 * wrong) → root `apply` (creates the host leg into the switch) → switch `apply` (bridges, taps
 * created with their peer end straight into the owner's namespace) → owners' `apply` (bring up,
 * addresses, routes). A veth is created by one side (`creates`), configured by both.
 */
export interface Line {
  cmd: string;
  owner: Owner;
  /** A failure is expected and harmless (deleting what a peer's deletion already took). */
  tolerant?: boolean;
}

export interface NsPlan {
  cleanup: Line[];
  apply: Line[];
  /** Links this pass (re)creates from this namespace: `ns/name` of their peer end. */
  createsPeers: string[];
  /** Addresses `apply` adds that the router announces with gratuitous ARPs once they are on their device. */
  announce: Announcement[];
}

/** An IPv4 address a router announces on one of its legs (a gratuitous ARP). */
export interface Announcement {
  dev: string;
  ip: string;
  owner: Owner;
}

/** A peer link as known to the pass: read, known absent (namespace new or gone), or not read. */
export type PeerView = LinkState | 'absent' | 'unknown';

export interface PlanContext {
  /** Look up the current state of a link in another namespace. */
  peer(ns: string, name: string): PeerView;
  /** The desired spec of a link in another namespace (the creator needs the peer's MAC/MTU). */
  desiredPeer(ns: string, name: string): DesiredLink | undefined;
  /** Links owned by this data plane in this namespace (all of them except in the root namespace). */
  owns(name: string): boolean;
  /** `netns` argument for a namespace name (the root namespace cannot be named; use a pid). */
  netnsArg(ns: string): string;
  /**
   * The kernel makes 802.1Q VLAN devices (`type vlan`). Without (no 8021q), a desired VLAN is a
   * veth pair whose hidden peer tc-BPF joins to the parent (vlantag.ts).
   */
  vlanDevices: boolean;
}

const isV6 = (cidr: string) => cidr.includes(':');

/** Both ends exist and point at each other. */
export function paired(a: LinkState | undefined, b: PeerView): boolean {
  if (a?.kind !== 'veth') return false;
  if (b === 'absent') return false;
  if (b === 'unknown') return a.linkIndex !== null;
  return b.kind === 'veth' && a.linkIndex === b.ifindex && b.linkIndex === a.ifindex;
}

export function planNamespace(desired: DesiredNs, actual: NsState | null, ctx: PlanContext): NsPlan {
  const plan: NsPlan = { cleanup: [], apply: [], createsPeers: [], announce: [] };
  const have = actual?.links ?? new Map<string, LinkState>();
  const wanted = new Map(desired.links.map((l) => [l.name, l]));
  /** Links that will be new after this pass: nothing on them survives. */
  const fresh = new Set<string>();
  const bpfVlans = !ctx.vlanDevices;
  /** Without 802.1Q, each VLAN's hidden peer → the VLAN. */
  const taggers = new Map(bpfVlans ? desired.links.filter((l) => l.kind === 'vlan').map((l) => [taggerName(l.name), l]) : []);
  /** The kernel's link is the VLAN wanted, made as this kernel makes VLANs. */
  const same = (w: DesiredLink, l: LinkState): boolean => {
    if (w.kind !== 'vlan' || !bpfVlans) return sameLink(w, l);
    const peer = have.get(taggerName(w.name));
    // A predicted state has no interface indexes (-1): the pair is trusted as applied.
    return l.kind === 'veth' && peer?.kind === 'veth' && (l.linkIndex === -1 || (l.linkIndex === peer.ifindex && peer.linkIndex === l.ifindex));
  };

  // Stale links: ours, not wanted (or of the wrong kind).
  for (const [name, l] of have) {
    // Only what we create (veths, bridges); a kernel's per-namespace fallback devices stay.
    if (name === 'lo' || !ctx.owns(name) || (l.kind !== 'veth' && l.kind !== 'bridge' && l.kind !== 'vlan')) continue;
    // Inside a machine only its NICs and their trunk subports' VLANs (`eth0.101`) are ours:
    // bridges, veths or VLANs it makes itself under other names are its own.
    if (desired.selfConfigured && !wanted.has(name) && !/^eth\d+(\.\d+)?$/.test(name) && !TAGGER_RE.test(name)) continue;
    // A VLAN's hidden peer lives and dies with its pair.
    const vlan = taggers.get(name);
    if (vlan && have.has(vlan.name) && same(vlan, have.get(vlan.name)!)) continue;
    const w = wanted.get(name);
    if (!w || !same(w, l)) plan.cleanup.push({ cmd: `link del ${name}`, owner: w?.owner ?? ownerKey.stale(name), tolerant: true });
  }
  const present = (name: string): LinkState | undefined => {
    const l = have.get(name);
    const w = wanted.get(name);
    if (!l || !w || !same(w, l)) return undefined;
    // A VLAN lives and dies with its parent: a parent (re)made this pass has none yet.
    if (w.kind === 'vlan' && !bpfVlans && fresh.has(w.vlan!.parent)) return undefined;
    return l;
  };

  // Bridges first (taps are enslaved to them), then veths, then loopback.
  const order = [...desired.links].sort((a, b) => rank(a) - rank(b));
  for (const w of order) {
    const l = present(w.name);
    if (w.kind === 'bridge') {
      if (!l) {
        plan.apply.push({ cmd: `link add ${w.name}${w.mtu ? ` mtu ${w.mtu}` : ''} type bridge`, owner: w.owner });
        fresh.add(w.name);
      }
      plan.apply.push(...linkSettings(w, l));
      continue;
    }
    if (w.kind === 'vlan') {
      // Made by us on either side; inside a machine only at creation (its state is then the guest's).
      if (!l) {
        const v = w.vlan!;
        const settings = `${w.mac ? ` address ${w.mac}` : ''}${w.mtu ? ` mtu ${w.mtu}` : ''}`;
        if (bpfVlans) {
          // A pair in this namespace: the VLAN's end and its hidden peer, up (or nothing passes)
          // and without IPv6 addresses (its own link-local chatter would reach the subinterface).
          const peer = taggerName(w.name);
          if (have.has(w.name)) plan.apply.push({ cmd: `link del ${w.name}`, owner: w.owner, tolerant: true });
          if (have.has(peer)) plan.apply.push({ cmd: `link del ${peer}`, owner: w.owner, tolerant: true });
          plan.apply.push(
            { cmd: `link add ${w.name}${settings} type veth peer name ${peer}${w.mtu ? ` mtu ${w.mtu}` : ''}`, owner: w.owner },
            { cmd: `link set ${peer} addrgenmode none`, owner: w.owner },
            { cmd: `link set ${peer} up`, owner: w.owner },
          );
        } else plan.apply.push({ cmd: `link add link ${v.parent} name ${w.name}${settings} type vlan id ${v.id}`, owner: w.owner });
        fresh.add(w.name);
        plan.apply.push(...linkSettings(w, undefined));
      } else if (!desired.selfConfigured) plan.apply.push(...linkSettings(w, l));
      continue;
    }
    if (w.kind === 'loopback') {
      if (!desired.selfConfigured && !have.get('lo')?.up) plan.apply.push({ cmd: 'link set lo up', owner: w.owner });
      continue;
    }
    const peer = ctx.peer(w.peer!.ns, w.peer!.name);
    const ok = paired(l, peer);
    if (w.creates) {
      if (!ok) {
        if (have.has(w.name)) plan.apply.push({ cmd: `link del ${w.name}`, owner: w.owner, tolerant: true });
        const p = ctx.desiredPeer(w.peer!.ns, w.peer!.name);
        const mine = [w.mac ? ` address ${w.mac}` : '', w.mtu ? ` mtu ${w.mtu}` : ''].join('');
        const theirs = [p?.mac ? ` address ${p.mac}` : '', p?.mtu ? ` mtu ${p.mtu}` : ''].join('');
        plan.apply.push({
          cmd: `link add ${w.name}${mine} type veth peer name ${w.peer!.name}${theirs} netns ${ctx.netnsArg(w.peer!.ns)}`,
          owner: w.owner,
        });
        plan.createsPeers.push(`${w.peer!.ns}/${w.peer!.name}`);
        fresh.add(w.name);
        plan.apply.push(...linkSettings(w, undefined));
      } else plan.apply.push(...linkSettings(w, l));
    } else {
      if (!ok && have.has(w.name)) plan.cleanup.push({ cmd: `link del ${w.name}`, owner: w.owner, tolerant: true });
      if (!ok) fresh.add(w.name);
      // A missing or broken pair is (re)created by the peer's namespace earlier in this pass. A
      // machine's NIC arrives with its MAC and MTU; bringing it up and everything after is its own.
      if (!desired.selfConfigured) plan.apply.push(...linkSettings(w, ok ? l : undefined, true));
    }
  }

  // A machine's addresses, routes and neighbours are its own.
  if (desired.selfConfigured) return plan;

  // Addresses on our links.
  const wantAddrs = new Map<string, Set<string>>();
  for (const a of desired.addrs) {
    if (!wantAddrs.has(a.dev)) wantAddrs.set(a.dev, new Set());
    wantAddrs.get(a.dev)!.add(a.cidr);
  }
  // An HA router's VIPs are keepalived's: present on the master, absent on a backup, and never
  // the reconciler's to add or remove (it would fight VRRP).
  const vrrp = desired.vrrp;
  const keepalivedOwns = (dev: string, cidr: string) =>
    vrrp !== undefined && ((dev === vrrp.haIf && cidr === vrrp.primaryVip) || vrrp.instance.vips.some((v) => v.dev === dev && v.cidr === cidr));
  for (const w of desired.links) {
    if (w.kind === 'loopback') continue;
    const l = fresh.has(w.name) ? undefined : present(w.name);
    const haveAddrs = new Set(l?.addrs ?? []);
    const want = wantAddrs.get(w.name) ?? new Set<string>();
    for (const cidr of haveAddrs) {
      if (!want.has(cidr) && !keepalivedOwns(w.name, cidr)) plan.apply.push({ cmd: `addr del ${cidr} dev ${w.name}`, owner: w.owner });
    }
  }
  // Neutron's L3 agent announces every IPv4 address it adds to a legacy router's legs — the
  // gateway's and each interface's fixed IPs, each floating IP as it lands on the gateway device
  // (router_info.py `_external_gateway_added`, `_internal_network_added`,
  // `add_floating_ip`/`_add_fip_addr_to_device`, all through ip_lib.send_ip_addr_adv_notif):
  // neighbours on the segment, another host's or the upstream's, then hold the new MAC at once
  // (and the switches learn its port) instead of when their entry expires. IPv6 needs none (NDP
  // and DAD do it); an HA router's addresses are keepalived's, which sends its own; the metadata
  // address on `lo` is nobody's neighbour.
  const announces = desired.kind === 'router' && !vrrp;
  for (const a of desired.addrs) {
    const l = fresh.has(a.dev) ? undefined : present(a.dev);
    if (l?.addrs.includes(a.cidr)) continue;
    plan.apply.push({ cmd: `addr replace ${a.cidr} dev ${a.dev}${isV6(a.cidr) ? ' nodad' : ''}`, owner: a.owner });
    if (announces && a.dev !== 'lo' && !isV6(a.cidr)) plan.announce.push({ dev: a.dev, ip: a.cidr.split('/')[0], owner: a.owner });
  }

  // Neighbours the namespace knows before they answer ARP (a router's instances, as Neutron's
  // DVR pre-populates), corrected when the kernel holds a failed or outdated entry.
  for (const n of desired.neighbours ?? []) {
    const have = fresh.has(n.dev) ? undefined : (actual?.neighbours ?? []).find((x) => x.dev === n.dev && x.ip === n.ip);
    const good = have && have.mac === n.mac.toLowerCase() && !have.state.includes('FAILED') && !have.state.includes('INCOMPLETE');
    if (!good) plan.apply.push({ cmd: `neigh replace ${n.ip} lladdr ${n.mac} dev ${n.dev} nud stale`, owner: n.owner });
  }

  // Routes (never in the root namespace: the host's routing table is not ours).
  if (desired.kind !== 'root') {
    // keepalived writes its virtual routes with `protocol static` (keepalived.py): a master's.
    const alive = (r: RouteState) => !(r.dev && fresh.has(r.dev)) && !(vrrp && r.protocol === 'static');
    const current = (actual?.routes ?? []).filter(alive);
    const key = (family: number, dst: string) => `${family}/${dst}`;
    const wantKeys = new Set<string>();
    for (const r of desired.routes) {
      const family = parseIp(r.via)?.version ?? 4;
      wantKeys.add(key(family, r.dst));
      const match = current.find((c) => c.family === family && c.dst === r.dst && c.via === r.via && (!r.dev || c.dev === r.dev));
      if (match) continue;
      plan.apply.push({ cmd: `route replace ${r.dst} via ${r.via}${r.dev ? ` dev ${r.dev}` : ''}${r.onlink ? ' onlink' : ''}`, owner: r.owner });
    }
    for (const c of current) {
      if (wantKeys.has(key(c.family, c.dst))) continue;
      plan.apply.push({
        cmd: `route del ${c.dst}${c.via ? ` via ${c.via}` : ''}${c.dev ? ` dev ${c.dev}` : ''}`,
        owner: ownerKey.staleRoute(c.dst),
        tolerant: true,
      });
    }
  }
  return plan;
}

// Bridges, then veths, then VLANs on them.
const rank = (l: DesiredLink) => (l.kind === 'bridge' ? 0 : l.kind === 'veth' ? 1 : l.kind === 'vlan' ? 2 : 3);

/** The kernel's link is the kind wanted (a VLAN: on the same parent with the same id). */
function sameLink(w: DesiredLink, l: LinkState): boolean {
  if (w.kind === 'bridge' || w.kind === 'veth') return l.kind === w.kind;
  if (w.kind === 'vlan') return l.kind === 'vlan' && l.vlan?.id === w.vlan?.id && (l.vlan?.parent ?? w.vlan?.parent) === w.vlan?.parent;
  return true;
}

/** MTU, MAC, master and up/down of a link, compared with what it has (none when new). */
function linkSettings(w: DesiredLink, l: LinkState | undefined, createdByPeer = false): Line[] {
  const out: Line[] = [];
  const owner = w.owner;
  // The creator sets MAC and MTU at creation; a link created by its peer arrives with them.
  if (l || !createdByPeer) {
    if (w.mtu && l && l.mtu !== w.mtu) out.push({ cmd: `link set ${w.name} mtu ${w.mtu}`, owner });
    if (w.mac && l && l.mac !== w.mac.toLowerCase()) out.push({ cmd: `link set ${w.name} address ${w.mac}`, owner });
  }
  if ((w.master ?? null) !== (l?.master ?? null)) {
    out.push({ cmd: w.master ? `link set ${w.name} master ${w.master}` : `link set ${w.name} nomaster`, owner });
  }
  if (!l || l.up !== w.up) out.push({ cmd: `link set ${w.name} ${w.up ? 'up' : 'down'}`, owner });
  return out;
}

/**
 * The root namespace is shared with the host: before giving our host leg an address, make sure
 * no interface of the host's already sits on that subnet (another cloud, a test rig, a real LAN).
 * Returns owner → reason for the legs that must not be touched.
 */
export function hostConflicts(desired: DesiredNs, actual: NsState, owns: (name: string) => boolean): Map<Owner, string> {
  const out = new Map<Owner, string>();
  for (const a of desired.addrs) {
    const want = parseCidr(a.cidr);
    if (!want) continue;
    for (const l of actual.links.values()) {
      if (owns(l.name)) continue;
      for (const have of l.addrs) {
        const c = parseCidr(have);
        if (c && cidrsOverlap(c, want)) out.set(a.owner, `the host already has ${have} on ${l.name}, which overlaps ${a.cidr}; not adding a second path`);
      }
    }
  }
  return out;
}

/** Drop everything a set of owners contributes (after a conflict was found for them). */
export function withoutOwners(ns: DesiredNs, owners: Set<Owner>): DesiredNs {
  if (owners.size === 0) return ns;
  const gone = new Set(ns.links.filter((l) => owners.has(l.owner)).map((l) => l.name));
  const keep = <T extends { owner: Owner; dev?: string }>(x: T) => !owners.has(x.owner) && !(x.dev && gone.has(x.dev));
  return {
    ...ns,
    links: ns.links.filter((l) => !owners.has(l.owner)),
    addrs: ns.addrs.filter(keep),
    routes: ns.routes.filter(keep),
    ...(ns.neighbours ? { neighbours: ns.neighbours.filter(keep) } : {}),
  };
}

/** Map `ip -force -batch` stderr ("…error…\nCommand failed -:N") to line numbers (1-based). */
export function batchFailures(stderr: string): Map<number, string> {
  const out = new Map<number, string>();
  let pending: string[] = [];
  for (const line of stderr.split('\n')) {
    const m = /^Command failed -:(\d+)\s*$/.exec(line.trim());
    if (m) {
      out.set(Number(m[1]), pending.join(' ').trim() || 'failed');
      pending = [];
    } else if (line.trim()) pending.push(line.trim());
  }
  return out;
}

/**
 * A failed batch as owner → reason: each failed line (1-based, as `batchFailures` numbers them)
 * blames its owner, the first failure per owner wins, tolerant lines never count. When the tool
 * named no line (it could not start, or died), every line's owner gets `whole`.
 */
export function batchErrors(lines: Line[], failures: Map<number, string>, whole: string): Map<Owner, string> {
  const errors = new Map<Owner, string>();
  if (failures.size === 0) {
    for (const l of lines) if (!l.tolerant) errors.set(l.owner, whole);
    return errors;
  }
  for (const [n, reason] of failures) {
    const line = lines[n - 1];
    if (!line || line.tolerant) continue;
    if (!errors.has(line.owner)) errors.set(line.owner, `${line.cmd}: ${reason}`);
  }
  return errors;
}

/**
 * The state a namespace holds right after `spec` was applied without error. Incremental passes
 * plan against it instead of reading the kernel back (a full pass, a recreated namespace or an
 * earlier error still reads): a change then costs only the processes that make it.
 */
export function predictState(spec: DesiredNs, vlanDevices = true): NsState {
  const links = new Map<string, LinkState>();
  for (const l of spec.links) {
    // Without 802.1Q a VLAN is a veth pair (vlantag.ts); no interface indexes are predicted.
    const pair = l.kind === 'vlan' && !vlanDevices;
    if (pair) {
      const peer = taggerName(l.name);
      links.set(peer, { ifindex: -1, name: peer, kind: 'veth', mtu: l.mtu ?? 0, mac: '', up: true, master: null, linkIndex: -1, linkNetnsid: null, addrs: [] });
    }
    links.set(l.name, {
      ifindex: -1,
      name: l.name,
      kind: l.kind === 'loopback' ? null : pair ? 'veth' : l.kind,
      mtu: l.mtu ?? 0,
      mac: l.mac ?? '',
      up: l.up,
      master: l.master ?? null,
      linkIndex: l.kind === 'veth' || pair ? -1 : null,
      linkNetnsid: null,
      ...(l.vlan && !pair ? { vlan: { ...l.vlan } } : {}),
      addrs: spec.addrs.filter((a) => a.dev === l.name).map((a) => a.cidr),
    });
  }
  return {
    links,
    routes: spec.routes.map((r) => ({ family: parseIp(r.via)?.version ?? 4, dst: r.dst, via: r.via, dev: r.dev ?? null, protocol: 'boot' })),
    neighbours: (spec.neighbours ?? []).map((n) => ({ ip: n.ip, dev: n.dev, mac: n.mac.toLowerCase(), state: ['STALE'] })),
  };
}
