import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { SwitchFilter } from './filters.js';
import type { KeepalivedSpec } from './keepalived.js';
import type { InstanceRunner, Kernel, NetworkServices, OverlayKernel, VrrpKernel } from './machine.js';
import type { PassMemory } from './memory.js';
import { type Desired, type DesiredNs, type InstanceSpec, ROOT_NS } from './model.js';
import type { Names } from './names.js';
import { l3StateOf, planL3 } from './l3ext.js';
import { natStateOf, planNatChange } from './nat.js';
import { type OverlayState, planOverlay, predictOverlay } from './overlay.js';
import { planPhysnets } from './physnets.js';
import { type Owner, ownerKey } from './owners.js';
import { type QosState, planQos, qosStateOf, withoutDevices } from './qos.js';
import {
  type Announcement,
  type Line,
  type NsPlan,
  type PeerView,
  type PlanContext,
  hostConflicts,
  planNamespace,
  predictState,
  withoutOwners,
} from './plan.js';
import type { LinkState, NsState } from './state.js';
import { planVlanTags, taggedVlans } from './vlantag.js';
import { planLocalIps } from './localip.js';

/** What a pass works with: the kernel, instances' processes, and what earlier passes left. */
export interface PassDeps {
  kernel: Kernel;
  processes: InstanceRunner;
  services: NetworkServices;
  filter: SwitchFilter;
  memory: PassMemory;
  names: Names;
  log: Logger;
  /** The kernel's VXLAN side, when this data plane has a tunnel endpoint. */
  overlay?: OverlayKernel;
  /** The kernel makes 802.1Q VLAN devices (else VLANs are veth pairs joined by tc-BPF: vlantag.ts). */
  vlanDevices: boolean;
  /** Rounds of gratuitous ARPs for each address a router adds (the L3 agent's `send_arp_for_ha`; 0: none). */
  garpCount: number;
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  });
  await Promise.all(workers);
  return out;
}

const message = (e: unknown) => (e as Error).message;

/** The owner key that stands for a whole namespace. */
function ownerOfNs(ns: DesiredNs): Owner {
  switch (ns.kind) {
    case 'router':
      return ownerKey.router(ns.objectId);
    case 'instance':
      return ownerKey.instance(ns.objectId);
    case 'loadbalancer':
      return ownerKey.loadbalancer(ns.objectId);
    case 'dhcp':
      return ownerKey.dhcp(ns.objectId);
    default:
      return ns.kind;
  }
}

/** Namespaces an owner's objects live in (to retry exactly those). */
function nsOfOwner(o: Owner, d: Desired): string[] {
  const out: string[] = [];
  for (const ns of [d.root, d.switch, ...d.namespaces]) {
    if (
      ownerOfNs(ns) === o ||
      ns.links.some((l) => l.owner === o) ||
      ns.addrs.some((a) => a.owner === o) ||
      ns.routes.some((r) => r.owner === o) ||
      ns.neighbours?.some((n) => n.owner === o) ||
      ns.nat?.fips.some((f) => f.owner === o)
    ) {
      out.push(ns.name);
    }
  }
  if (out.length === 0) out.push(d.switch.name);
  return out;
}

/**
 * One reconcile pass from a desired state to the kernel, in phases the driver runs in order:
 *
 *   namespaces   delete ours nobody wants, choose which to look at, create the missing ones
 *                (the security groups load meanwhile: they name taps, so they may precede them)
 *   readBack     read what the chosen namespaces hold (or predict it from the last clean apply)
 *   guardHost    leave out host legs that would shadow an interface of the host's
 *   plan         each namespace's `ip -batch` lines, pulling in namespaces a new veth lands in
 *   physnetParents  mapped interfaces that parent VLAN networks' devices, into the switch
 *   apply        cleanup everywhere, the host leg, the switch, then owners and routers' NAT
 *   services     each network's dnsmasq, the metadata proxies (before instances boot: they use both)
 *   qos          ports' QoS on their taps (shapers, policers, DSCP marks), once the taps exist
 *   overlay      tenant networks' VXLAN devices on their bridges and l2pop's forwarding entries
 *   localIps     local IPs' tc-BPF programs on their clients' taps and their networks' VXLAN
 *                devices (localip.ts), once both exist
 *   physnets     mapped interfaces onto their flat networks' bridges (physical_interface_mappings)
 *   processes    machines where something changed
 *   remember     what is now in place, for the next pass; the errors met, for status
 *
 * An incremental pass trusts what it applied cleanly to a namespace that is still the same one
 * (same inode) and predicts its state instead of reading it; a full pass reads everything.
 */
export class Pass {
  /** Every error of this pass (the desired state's, then the kernel's), owner → reason: what status shows. */
  readonly errors: Map<Owner, string>;
  /** What the kernel refused in this pass; the first reason per owner wins. */
  readonly kernelErrors = new Map<Owner, string>();
  /** Kernel changes made: ip batch lines, nft scripts, iptables restores, namespaces added/removed. */
  changes = 0;
  /** Our namespaces → inode, as listed at the start and again after creating some. */
  existing = new Map<string, number>();
  /** Namespaces this pass created (they hold nothing to read back). */
  readonly created = new Set<string>();
  /** The overlay phase changed VXLAN devices (made, moved, removed, re-enslaved) in this pass. */
  overlayChanged = false;
  /** Namespaces this pass looks at. */
  readonly dirty = new Set<string>();
  readonly plans = new Map<string, NsPlan>();

  /** Root, switch, then instances, routers and load balancers. */
  private readonly all: DesiredNs[];
  private readonly byName: Map<string, DesiredNs>;
  private readonly instanceOf: Map<string, InstanceSpec>;
  /** What each namespace looked at holds: read back, predicted, or null (created by this pass). */
  private readonly states = new Map<string, NsState | null>();
  private readonly predicted = new Set<string>();
  /** The desired state per namespace once the host is guarded (root and switch may lose legs). */
  private specs: Map<string, DesiredNs>;
  /** Interfaces of physical_interface_mappings: in the switch, never ours to delete. */
  private readonly mapped: Set<string>;
  /** Switch links this pass changes: their events are ours, not flaps. */
  private touched: string[] = [];

  constructor(
    private readonly deps: PassDeps,
    readonly desired: Desired,
    readonly full: boolean,
  ) {
    this.errors = new Map(desired.errors);
    this.all = [desired.root, desired.switch, ...desired.namespaces];
    this.mapped = new Set(desired.physnets?.mapped ?? []);
    this.byName = new Map(this.all.map((n) => [n.name, n]));
    this.specs = this.byName;
    this.instanceOf = new Map(desired.instances.map((i) => [i.ns, i]));
  }

  fail(o: Owner, reason: string): void {
    if (!this.kernelErrors.has(o)) this.kernelErrors.set(o, reason);
  }

  private fingerprint(ns: DesiredNs): string {
    return createHash('sha1')
      .update(JSON.stringify([ns, this.instanceOf.get(ns.name) ?? null]))
      .digest('hex');
  }

  // ---------------------------------------------------------------- namespaces

  /**
   * Delete the unwanted, choose what to look at, create the missing (and load the filters).
   * `listedBefore`: the namespaces there before the store was read. Only those can be unwanted:
   * one that appeared since is a machine another host handed over after the read (a live
   * migration on this kernel), which this pass's snapshot cannot know yet; the next pass's does.
   */
  async namespaces(listedBefore: ReadonlyMap<string, number>): Promise<void> {
    this.existing = await this.deps.kernel.listNamespaces();
    await this.removeUnwanted(listedBefore);
    this.choose();
    await this.createMissing();
  }

  /** Namespaces of ours nobody wants any more: their processes are killed (machines torn down), then they go. */
  private async removeUnwanted(listedBefore: ReadonlyMap<string, number>): Promise<void> {
    const { kernel, memory, names, log, processes } = this.deps;
    const reserved = this.desired.reserved;
    const doomed = [...this.existing.keys()].filter(
      (n) => names.ownsNamespace(n) && !this.byName.has(n) && !reserved?.has(n) && listedBefore.get(n) === this.existing.get(n),
    );
    for (const n of doomed) memory.forget(n);
    // A machine's teardown and its namespace's removal side by side: its processes hold the
    // namespace until they are gone, and a boot queued behind this pass waits for both.
    await mapLimit(doomed, 4, async (n) => {
      const machine = names.isInstanceNs(n)
        ? processes.destroy(n).catch((e: unknown) => log.warn({ namespace: n, err: e }, 'could not tear down the machine of a removed instance'))
        : undefined;
      await Promise.all([machine, kernel.deleteNamespace(n)]);
    });
    this.changes += doomed.length;
    if (doomed.length) log.info({ namespaces: doomed }, 'removed namespaces');
  }

  /** What needs looking at: everything on a full pass, else what changed or is not what we applied to. */
  private choose(): void {
    const { memory } = this.deps;
    const sw = this.desired.switch.name;
    const switchNew = !this.existing.has(sw);
    for (const ns of this.all) {
      const ino = ns.kind === 'root' ? 0 : this.existing.get(ns.name);
      if (this.full || switchNew || !memory.trusts(ns.name, ino, this.fingerprint(ns))) this.dirty.add(ns.name);
    }
    // An instance or router namespace that is new or was recreated lost its veths: their switch
    // ends went with them, so the switch needs looking at too.
    if (this.desired.namespaces.some((n) => this.dirty.has(n.name) && memory.reborn(n.name, this.existing.get(n.name)))) this.dirty.add(sw);
  }

  /**
   * Create the missing namespaces (with their sysctls, before anything goes into them), the
   * switch first; the security group rules load meanwhile.
   */
  private async createMissing(): Promise<void> {
    const { kernel, filter } = this.deps;
    const sw = this.desired.switch.name;
    const missing = this.all.filter((n) => n.kind !== 'root' && !this.existing.has(n.name));
    const create = async (n: DesiredNs) => {
      try {
        const machine = this.instanceOf.get(n.name);
        if (machine?.machine) await this.deps.processes.createNamespace(machine, n.sysctls);
        else await kernel.createNamespace(n.name, n.sysctls, { nsid: n.kind === 'switch' });
        this.created.add(n.name);
        this.changes++;
      } catch (e) {
        this.fail(ownerOfNs(n), `cannot create namespace ${n.name}: ${message(e)}`);
      }
    };
    if (missing.some((n) => n.kind === 'switch')) await create(this.desired.switch);
    filter.loading(this.created.has(sw), this.created.has(sw) ? undefined : this.existing.get(sw));
    const loadFilters = async () => {
      this.changes += await filter.apply(this.desired.filter, this.full, (o, r) => this.fail(o, r));
    };
    await Promise.all([
      mapLimit(
        missing.filter((n) => n.kind !== 'switch'),
        4,
        create,
      ),
      this.created.has(sw) || this.existing.has(sw) ? loadFilters() : undefined,
    ]);
    if (this.created.size) this.existing = await kernel.listNamespaces();
    filter.loaded(this.existing.get(sw));
  }

  // ---------------------------------------------------------------- read back

  /** Read back what the chosen namespaces hold. */
  async readBack(): Promise<void> {
    await mapLimit([...this.dirty], 4, (n) => this.read(n));
  }

  /**
   * One namespace's state: nothing when this pass created it; predicted from the last clean
   * apply when an incremental pass may trust it; else read. The host's namespace is read
   * whenever our links there change (the leg must not shadow an interface of the host's).
   */
  private async read(name: string): Promise<void> {
    if (this.created.has(name)) {
      this.states.set(name, null);
      return;
    }
    if (name !== ROOT_NS && !this.existing.has(name)) return;
    const was = this.deps.memory.applied.get(name);
    const ino = name === ROOT_NS ? 0 : this.existing.get(name);
    const spec = this.byName.get(name)!;
    const sameLinks = name !== ROOT_NS || (was && JSON.stringify([was.spec.links, was.spec.addrs]) === JSON.stringify([spec.links, spec.addrs]));
    if (!this.full && was && was.ino === ino && sameLinks) {
      this.states.set(name, predictState(was.spec, this.deps.vlanDevices));
      this.predicted.add(name);
      return;
    }
    try {
      this.states.set(name, await this.deps.kernel.readNamespace(name));
    } catch (e) {
      this.fail(ownerOfNs(spec), `cannot read namespace ${name}: ${message(e)}`);
    }
  }

  // ---------------------------------------------------------------- guard the host

  /** The host leg must not shadow anything the host already has: such legs are left out (and in ERROR). */
  guardHost(): void {
    let root = this.desired.root;
    let sw = this.desired.switch;
    const rootState = this.states.get(ROOT_NS);
    if (rootState && !this.predicted.has(ROOT_NS)) {
      const conflicts = hostConflicts(root, rootState, (n) => this.deps.names.ownsHostLink(n));
      // A kernel error, so the next pass looks again: the host's interface may go away.
      for (const [o, reason] of conflicts) this.fail(o, reason);
      const skip = new Set(conflicts.keys());
      root = withoutOwners(root, skip);
      sw = withoutOwners(sw, skip);
    }
    this.specs = new Map([...this.byName].map(([k, v]) => [k, k === ROOT_NS ? root : k === sw.name ? sw : v]));
  }

  // ---------------------------------------------------------------- plan

  /** Plan every namespace looked at; a veth (re)created into a namespace not looked at pulls it in. */
  async plan(): Promise<void> {
    for (const name of this.dirty) if (this.states.has(name) || this.created.has(name)) this.planOne(name);
    for (let round = 0; round < 2; round++) {
      const late = [...this.peerNamespaces()].filter((n) => !this.plans.has(n) && this.specs.has(n));
      if (!late.length) break;
      await mapLimit(late, 4, (n) => this.read(n));
      for (const n of late) {
        this.dirty.add(n);
        this.planOne(n);
      }
    }
  }

  /** Namespaces this pass's plans make veth ends in (the other end creates the pair). */
  private peerNamespaces(): Set<string> {
    return new Set([...this.plans.values()].flatMap((p) => p.createsPeers.map((x) => x.slice(0, x.lastIndexOf('/')))));
  }

  private planOne(name: string): void {
    const spec = this.specs.get(name)!;
    if (name !== ROOT_NS && !this.existing.has(name)) return;
    this.plans.set(name, planNamespace(spec, this.states.get(name) ?? null, this.context(spec)));
  }

  private context(self: DesiredNs): PlanContext {
    return {
      peer: (ns: string, name: string): PeerView => {
        if (this.states.has(ns)) {
          const link = this.states.get(ns)?.links.get(name);
          if (!link) return 'absent';
          // A predicted state has no interface indexes to pair by: trust the pair.
          return this.predicted.has(ns) || this.predicted.has(self.name) ? 'unknown' : link;
        }
        if (ns !== ROOT_NS && !this.existing.has(ns)) return 'absent';
        return 'unknown';
      },
      desiredPeer: (ns: string, name: string) => this.specs.get(ns)?.links.find((l) => l.name === name),
      // A mapped interface in the switch is the host's (physnets.ts moves it home, never deletes it).
      owns: (name: string) => (self.kind === 'root' ? this.deps.names.ownsHostLink(name) : !(self.kind === 'switch' && this.mapped.has(name))),
      netnsArg: (ns: string) => ns,
      vlanDevices: this.deps.vlanDevices,
    };
  }

  // ---------------------------------------------------------------- apply

  /** The switch as planned (its host legs possibly left out). */
  private get switchSpec(): DesiredNs {
    return this.specs.get(this.desired.switch.name)!;
  }

  /** Our own changes make link events too: not flaps. Also records where each switch link leads. */
  quietOwnLinks(): void {
    const { memory } = this.deps;
    const sw = this.switchSpec;
    this.touched = sw.links.filter((l) => this.plans.has(sw.name) || (l.peer && this.plans.has(l.peer.ns))).map((l) => l.name);
    for (const name of this.touched) memory.quiet.set(name, Number.POSITIVE_INFINITY);
    memory.linkOwners = new Map(sw.links.filter((l) => l.peer).map((l) => [l.name, l.peer!.ns]));
  }

  /**
   * Cleanup everywhere, then the switch (its taps create the owners' ends), then owners and
   * routers' NAT side by side. The host's batch goes first only when it creates the host leg
   * into the switch; otherwise (neighbour entries, addresses) it runs alongside.
   */
  async apply(): Promise<void> {
    const plans = this.plans;
    const sw = this.switchSpec.name;
    const owners = this.desired.namespaces.map((n) => n.name).filter((n) => plans.has(n));
    await mapLimit([...plans], 4, ([ns, p]) => this.batch(ns, p.cleanup));
    const rootPlan = plans.get(ROOT_NS);
    const rootFirst = rootPlan !== undefined && rootPlan.createsPeers.length > 0;
    if (rootPlan && rootFirst) await this.batch(ROOT_NS, rootPlan.apply);
    const rest = async () => {
      if (plans.has(sw)) await this.batch(sw, plans.get(sw)!.apply);
      await Promise.all([
        mapLimit(owners, 4, async (ns) => {
          const p = plans.get(ns)!;
          this.announce(ns, p.announce, await this.batch(ns, p.apply));
        }),
        mapLimit(
          this.desired.namespaces.filter((n) => n.kind === 'router' && plans.has(n.name)),
          4,
          async (n) => {
            await this.applyNat(n);
            await this.applyL3(n);
          },
        ),
      ]);
    };
    await Promise.all([rest(), rootPlan && !rootFirst ? this.batch(ROOT_NS, rootPlan.apply) : undefined]);
  }

  private async batch(ns: string, lines: Line[]): Promise<Map<Owner, string>> {
    this.changes += lines.length;
    const errors = await this.deps.kernel.ipBatch(ns, lines);
    for (const [o, reason] of errors) this.fail(o, reason);
    return errors;
  }

  /**
   * The addresses a router's batch added, announced with gratuitous ARPs once they are on their
   * device (garp.ts; in the background); not those whose lines failed. A failure is logged, as
   * the L3 agent logs one: the address works, the neighbours learn it when they next ask.
   */
  private announce(ns: string, list: Announcement[], failed: Map<Owner, string>): void {
    const { kernel, log, garpCount } = this.deps;
    for (const a of list) {
      if (failed.has(a.owner)) continue;
      kernel.sendGratuitousArp(ns, a.dev, a.ip, garpCount, (reason) =>
        log.warn({ namespace: ns, device: a.dev, address: a.ip, reason }, 'failed sending gratuitous ARP'),
      );
    }
  }

  /** A router's NAT: planned against what we last loaded (a full pass reads it back). */
  private async applyNat(n: DesiredNs): Promise<void> {
    const { kernel, memory } = this.deps;
    try {
      const ino = this.existing.get(n.name);
      const cached = memory.nat.get(n.name);
      const actual = this.created.has(n.name) ? null : !this.full && cached && cached.ino === ino ? cached.state : await kernel.readNat(n.name);
      const { script, forgotten } = planNatChange(n.nat, actual);
      if (script) {
        this.changes++;
        memory.nat.delete(n.name);
        await kernel.nftApply(n.name, script);
      }
      await Promise.all(forgotten.map((ip) => kernel.conntrackForgetFloating(n.name, ip)));
      if (ino !== undefined) memory.nat.set(n.name, { ino, state: natStateOf(n.nat) });
    } catch (e) {
      memory.nat.delete(n.name);
      this.fail(ownerKey.router(n.objectId), `nftables: ${message(e)}`);
      for (const f of n.nat?.fips ?? []) this.fail(f.owner, `nftables: ${message(e)}`);
    }
  }

  /** A router's conntrack helpers and NDP proxies (l3ext.ts), planned like its NAT. */
  private async applyL3(n: DesiredNs): Promise<void> {
    const { kernel, memory } = this.deps;
    const owner = ownerKey.router(n.objectId);
    try {
      const ino = this.existing.get(n.name);
      const cached = memory.l3.get(n.name);
      const actual = this.created.has(n.name) ? null : !this.full && cached && cached.ino === ino ? cached.state : await kernel.readL3(n.name);
      const { script, neigh } = planL3(n.l3, actual, owner);
      memory.l3.delete(n.name);
      if (script) {
        this.changes++;
        await kernel.nftApply(n.name, script);
      }
      if (neigh.length) {
        this.changes += neigh.length;
        const errors = await kernel.ipBatch(n.name, neigh);
        for (const [o, reason] of errors) this.fail(o, reason);
        if (errors.size) return;
      }
      if (ino !== undefined) memory.l3.set(n.name, { ino, state: l3StateOf(n.l3) });
    } catch (e) {
      memory.l3.delete(n.name);
      this.fail(owner, `nftables: ${message(e)}`);
    }
  }

  // ---------------------------------------------------------------- VLANs with tc-BPF

  /**
   * Without 802.1Q in the kernel, the programs that make each VLAN's veth pair a subinterface of
   * its parent (vlantag.ts), once the links exist: they name interface indexes, so they are
   * planned against the namespace read back, wherever its links changed (or were made again by
   * the other end of a veth), it holds VLANs it did not hold cleanly before, or had some.
   */
  async vlanTags(): Promise<void> {
    const { kernel, memory } = this.deps;
    if (this.deps.vlanDevices) return;
    const replugged = this.peerNamespaces();
    const sw = this.desired.switch.name;
    await mapLimit([...this.plans.keys()], 4, async (name) => {
      const ino = this.existing.get(name);
      const spec = this.specs.get(name);
      if (name === ROOT_NS || ino === undefined || !spec) return;
      const vlans = taggedVlans(spec);
      const was = memory.vlanTags.get(name);
      if (!vlans.length && !was && !(this.full && name === sw)) return;
      const plan = this.plans.get(name)!;
      const changed = plan.cleanup.length + plan.apply.length > 0 || replugged.has(name);
      const fp = JSON.stringify(vlans);
      if (!this.full && !changed && was?.ino === ino && was.fp === fp) return;
      memory.vlanTags.delete(name);
      try {
        // The links as read before this pass applied nothing to them, else as they are now.
        const before = !changed && !this.predicted.has(name) ? this.states.get(name) : undefined;
        const [links, hooks] = await Promise.all([
          vlans.length ? (before ?? (await kernel.readNamespace(name))).links : new Map<string, LinkState>(),
          kernel.readVlanTags(name),
        ]);
        const lines = planVlanTags(vlans, links, hooks);
        if (lines.length) {
          this.changes += lines.length;
          const errors = await kernel.tcBatch(name, lines);
          for (const [o, reason] of errors) this.fail(o, reason);
          if (errors.size) return;
        }
        if (vlans.length) memory.vlanTags.set(name, { ino, fp });
      } catch (e) {
        for (const v of vlans) this.fail(v.owner, `tc-BPF VLAN: ${message(e)}`);
      }
    });
  }

  // ---------------------------------------------------------------- local IPs with tc-BPF

  /**
   * Local IPs' programs on their clients' taps and their gratuitous-ARP blockers on the networks'
   * VXLAN devices (localip.ts), once both exist (after the overlay phase): planned against the
   * switch's clsact hooks read back on a full pass, when the switch's links or VXLAN devices
   * changed (a device made again has lost its programs) or when what is wanted changed. A kernel where `tc` cannot
   * load them is logged once; Neutron shows no status for a local IP, so the refusals of a pass
   * are logged with the local IP they serve (`localip:<id>`).
   */
  async localIps(): Promise<void> {
    const { kernel, memory, log } = this.deps;
    const sw = this.desired.switch.name;
    const ino = this.existing.get(sw);
    const specs = this.desired.localIps ?? [];
    const blockers = this.desired.localIpBlockers ?? [];
    if (ino === undefined) {
      memory.localIps = null;
      return;
    }
    const was = memory.localIps;
    const plan = this.plans.get(sw);
    // A VXLAN device the overlay phase made again has lost its blocker, as a tap made again has.
    const changed = (plan?.cleanup.length ?? 0) + (plan?.apply.length ?? 0) > 0 || this.overlayChanged;
    const fp = JSON.stringify([specs, blockers]);
    if (!this.full && !changed && was?.ino === ino && was.fp === fp) return;
    if (specs.length || blockers.length) {
      const refused = await kernel.localIpPrograms();
      if (refused !== null) {
        if (!memory.localIpsRefused)
          log.warn(
            { reason: refused, localIps: [...new Set([...specs, ...blockers].map((s) => s.owner))] },
            'local IPs are not enforced: tc refuses their BPF programs on this kernel',
          );
        memory.localIpsRefused = true;
        return;
      }
    }
    memory.localIps = null;
    try {
      const lines = planLocalIps(specs, await kernel.readClsact(sw), blockers);
      if (lines.length) {
        this.changes += lines.length;
        const errors = await kernel.tcBatch(sw, lines);
        for (const [o, reason] of errors) this.fail(o, `tc-BPF local IP: ${reason}`);
        if (errors.size) return;
      }
      memory.localIps = { ino, fp };
    } catch (e) {
      for (const s of [...specs, ...blockers]) this.fail(s.owner, `tc-BPF local IP: ${message(e)}`);
    }
  }

  // ---------------------------------------------------------------- services

  /** DHCP servers in their namespaces, metadata proxies in routers' and DHCP namespaces. */
  async services(): Promise<void> {
    const { services, log } = this.deps;
    const [dhcp, meta] = await Promise.all([
      services.dhcp(this.desired.dhcp.filter((d) => this.existing.has(d.ns))),
      services.metadata(this.desired.metadata, this.existing),
      services.sgLog(this.desired.sgLog ?? null, this.existing.get(this.desired.switch.name)),
    ]);
    for (const [networkId, reason] of dhcp) this.fail(ownerKey.dhcp(networkId), reason);
    if (meta.size) log.warn({ errors: Object.fromEntries(meta) }, 'metadata proxies could not listen');
  }

  /**
   * HA routers' keepalived (with VRRP: a `pocketstack agent`'s part), started, reloaded or
   * stopped to match the routers whose namespaces exist; returns what now runs.
   */
  async keepalived(vrrp: VrrpKernel): Promise<KeepalivedSpec[]> {
    const specs: KeepalivedSpec[] = [];
    for (const ns of this.desired.namespaces) if (ns.vrrp && this.existing.has(ns.name)) specs.push({ ns: ns.name, vrrp: ns.vrrp });
    for (const [routerId, reason] of await vrrp.reconcile(specs)) this.fail(ownerKey.router(routerId), reason);
    return specs;
  }

  // ---------------------------------------------------------------- QoS

  /**
   * Ports' QoS on the switch side of their veths, planned against what we last applied (a full
   * pass, a new switch or a failure reads it back); taps this pass (re)created lost theirs.
   */
  async qos(): Promise<void> {
    const { kernel, memory } = this.deps;
    const sw = this.desired.switch.name;
    const ino = this.existing.get(sw);
    const specs = this.desired.qos ?? [];
    if (ino === undefined) {
      memory.qos = null;
      return;
    }
    const cached = memory.qos;
    if (!specs.length && cached?.ino === ino && !cached.state.tbf.size && !cached.state.tables.size && !this.full) return;
    let actual: QosState;
    try {
      actual = this.full || !cached || cached.ino !== ino ? await kernel.readQos(sw) : cached.state;
    } catch (e) {
      memory.qos = null;
      for (const s of specs) this.fail(s.owner, `qos: ${message(e)}`);
      return;
    }
    const recreated = new Set<string>();
    for (const l of this.plans.get(sw)?.apply ?? []) {
      const m = /^link add (\S+) /.exec(l.cmd);
      if (m) recreated.add(m[1]);
    }
    const ports = new Map(specs.map((s) => [s.dev, s.portId]));
    for (const w of this.desired.wired.values()) ports.set(this.deps.names.tap(w.portId), w.portId);
    const plan = planQos(specs, withoutDevices(actual, recreated), ports);
    const failed = new Set<Owner>();
    if (plan.tc.length) {
      this.changes += plan.tc.length;
      for (const [o, reason] of await kernel.tcBatch(sw, plan.tc)) {
        failed.add(o);
        this.fail(o, reason);
      }
    }
    await mapLimit(plan.nft, 4, async ({ owner, script }) => {
      this.changes++;
      try {
        await kernel.nftApply(sw, script);
      } catch (e) {
        failed.add(owner);
        this.fail(owner, `nftables: ${message(e)}`);
      }
    });
    // What failed is read back next time; the rest is as planned.
    memory.qos = failed.size ? null : { ino, state: qosStateOf(specs) };
  }

  // ---------------------------------------------------------------- overlay

  /**
   * The VXLAN devices and forwarding entries (overlay.ts), once the bridges exist: planned
   * against what we last applied unless the pass is full, the switch is another one, or its
   * links changed in this pass (a bridge made again has lost its VXLAN port).
   */
  async overlay(): Promise<void> {
    const { kernel, memory } = this.deps;
    const spec = this.desired.overlay;
    const ok = this.deps.overlay;
    const sw = this.desired.switch.name;
    const ino = this.existing.get(sw);
    if (!spec || !ok || ino === undefined) {
      memory.overlay = null;
      return;
    }
    const cached = memory.overlay;
    const swPlan = this.plans.get(sw);
    const switchChanged = (swPlan?.cleanup.length ?? 0) + (swPlan?.apply.length ?? 0) > 0;
    const same = cached?.ino === ino && JSON.stringify(cached.spec) === JSON.stringify(spec);
    if (same && !this.full && !switchChanged) return;
    memory.overlay = null;
    let actual: OverlayState;
    try {
      actual = this.full || !cached || cached.ino !== ino || switchChanged ? await ok.readOverlay(sw) : predictOverlay(cached.spec);
    } catch (e) {
      for (const d of spec.devices) this.fail(d.owner, `vxlan: ${message(e)}`);
      return;
    }
    const plan = planOverlay(spec, actual, sw);
    let failed = false;
    const run = async (ns: string, lines: Line[], bridge = false) => {
      if (!lines.length) return;
      this.changes += lines.length;
      const errors = bridge ? await ok.bridgeBatch(ns, lines) : await kernel.ipBatch(ns, lines);
      for (const [o, reason] of errors) this.fail(o, reason);
      if (errors.size) failed = true;
    };
    this.overlayChanged = plan.cleanup.length + plan.underlay.length + plan.apply.length > 0;
    await run(sw, plan.cleanup);
    await run(spec.underlayNs, plan.underlay);
    await run(sw, plan.apply);
    await run(sw, plan.fdb, true);
    await run(sw, plan.neigh);
    if (!failed) memory.overlay = { ino, spec };
  }

  // ---------------------------------------------------------------- physical networks

  /**
   * The mapped interfaces that parent VLAN devices of the switch's spec (`eth1.100`) moved into
   * the switch before its links are applied: the kernel makes a VLAN device (or joins a tc-BPF
   * pair) only to an interface of its own namespace. Everything else about them is `physnets`'s,
   * at the end of the apply; nothing happens while the last clean physnets pass still holds.
   */
  async physnetParents(): Promise<void> {
    const { kernel, memory } = this.deps;
    const spec = this.desired.physnets;
    const sw = this.desired.switch.name;
    const ino = this.existing.get(sw);
    if (!spec?.vlanParents.length || ino === undefined || !this.plans.has(sw)) return;
    const cached = memory.physnets;
    if (!this.full && cached?.ino === ino && JSON.stringify(cached.spec) === JSON.stringify(spec)) return;
    let links: ReadonlyMap<string, LinkState>;
    try {
      links = (await kernel.readNamespace(sw)).links;
    } catch (e) {
      for (const p of spec.vlanParents) this.fail(p.owner, `cannot read namespace ${sw}: ${message(e)}`);
      return;
    }
    const { adopt } = planPhysnets(spec, links, sw);
    if (!adopt.length) return;
    this.changes += adopt.length;
    const errors = await kernel.ipBatch(spec.home, adopt);
    for (const [o, reason] of errors) this.fail(o, reason);
  }

  /**
   * The mapped interfaces on their flat networks' bridges (physnets.ts), once the bridges exist:
   * the switch's links are read again unless nothing changed since the last clean apply (a
   * bridge made again has lost its interface).
   */
  async physnets(): Promise<void> {
    const { kernel, memory } = this.deps;
    const spec = this.desired.physnets;
    const sw = this.desired.switch.name;
    const ino = this.existing.get(sw);
    if (!spec || ino === undefined) {
      memory.physnets = null;
      return;
    }
    const cached = memory.physnets;
    const swPlan = this.plans.get(sw);
    const switchChanged = (swPlan?.cleanup.length ?? 0) + (swPlan?.apply.length ?? 0) > 0;
    if (!this.full && !switchChanged && cached?.ino === ino && JSON.stringify(cached.spec) === JSON.stringify(spec)) return;
    memory.physnets = null;
    let links: ReadonlyMap<string, LinkState>;
    try {
      links = (await kernel.readNamespace(sw)).links;
    } catch (e) {
      for (const p of spec.ports) this.fail(p.owner, `cannot read namespace ${sw}: ${message(e)}`);
      return;
    }
    const plan = planPhysnets(spec, links, sw);
    let failed = false;
    const run = async (ns: string, lines: Line[]) => {
      if (!lines.length) return;
      this.changes += lines.length;
      const errors = await kernel.ipBatch(ns, lines);
      for (const [o, reason] of errors) this.fail(o, reason);
      if (errors.size) failed = true;
    };
    await run(sw, plan.release);
    await run(spec.home, plan.adopt);
    await run(sw, plan.apply);
    if (!failed) memory.physnets = { ino, spec };
  }

  // ---------------------------------------------------------------- processes

  /** Machines (only where something changed, or on a full pass). */
  async processes(): Promise<void> {
    const { processes, log } = this.deps;
    const replugged = this.peerNamespaces();
    await mapLimit(
      this.desired.instances.filter((i) => this.plans.has(i.ns)),
      4,
      async (i) => {
        const ino = this.existing.get(i.ns);
        if (ino === undefined) return;
        try {
          const r = await processes.reconcile(i, ino);
          if (r !== 'unchanged') log.info({ instance: i.id, namespace: i.ns, result: r }, 'instance processes');
          // A machine that kept running in its namespace while its NICs were made again.
          else if (replugged.has(i.ns) && !this.created.has(i.ns)) {
            processes.replugged(i);
            log.info({ instance: i.id, namespace: i.ns }, 'instance NICs plugged in again');
          }
        } catch (e) {
          this.fail(ownerKey.instance(i.id), message(e));
        }
      },
    );
  }

  // ---------------------------------------------------------------- remember

  /** Remember what is now in place; anything that failed is looked at again next pass. */
  async remember(): Promise<void> {
    const { kernel, memory, log } = this.deps;
    const failedNs = new Set<string>();
    for (const o of this.kernelErrors.keys()) for (const ns of nsOfOwner(o, this.desired)) failedNs.add(ns);
    const fresh = await kernel.listNamespaces();
    for (const name of this.plans.keys()) {
      const ino = name === ROOT_NS ? 0 : fresh.get(name);
      if (failedNs.has(name) || ino === undefined) memory.applied.delete(name);
      else memory.applied.set(name, { fp: this.fingerprint(this.byName.get(name)!), ino, spec: this.specs.get(name)! });
    }
    for (const [k, v] of this.kernelErrors) this.errors.set(k, v);
    if (this.kernelErrors.size) log.warn({ errors: Object.fromEntries(this.kernelErrors) }, 'kernel refused some changes');

    // Link events from now on are flaps again, half a second after our last change.
    const calm = Date.now() + 500;
    for (const name of this.touched) memory.quiet.set(name, calm);
    for (const [name, until] of memory.quiet) if (until < Date.now()) memory.quiet.delete(name);
  }
}
