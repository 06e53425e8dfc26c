import { createHash } from 'node:crypto';
import { type FSWatcher, readFileSync, readdirSync, rmSync, watch } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { type InstanceReport, type InstanceReports, readInstanceSpecs } from '../../core/compute/host.js';
import type { NetworkService } from '../../core/network/service.js';
import { type DataPlaneDriver, Reconciler } from '../driver.js';
import { buildDesired, ROUTER_GATEWAY_OWNER, ROUTER_INTERFACE_OWNERS } from './desired.js';
import { execStats, run } from './exec.js';
import { type Tables, applyToCache, planIptables } from './iptables.js';
import {
  NETNS_DIR,
  conntrackForget,
  conntrackForgetFloating,
  createNamespace,
  deleteNamespace,
  ipBatch,
  iptablesRestore,
  iptablesSave,
  listNamespaces,
  nftApply,
  readNat,
  readNs,
} from './kernel.js';
import { type Desired, type DesiredNs, type FilterTables, ROOT_NS, type Snapshot } from './model.js';
import { type NatState, natStateOf, planNatChange } from './nat.js';
import { LinkMonitor } from './monitor.js';
import { Names, SG_CHAIN } from './names.js';
import { type Line, type NsPlan, type PeerView, hostConflicts, planNamespace, predictState, withoutOwners } from './plan.js';
import { ensureBrNetfilter, preflight, releaseLock, takeLock } from './preflight.js';
import { InstanceProcesses, instanceDir, instanceDirName, resolveUser } from './processes.js';
import { parseProtocols } from './secgroups.js';
import { loadSnapshot } from './snapshot.js';
import type { NsState } from './state.js';

export interface NetnsOptions {
  /** Two characters that start every namespace and host link we own (default `ps`). */
  prefix: string;
  /** PocketStack's data directory: instances' working directories and console logs live under it. */
  dataDir: string;
  runUserData: boolean;
  /** Unprivileged user that runs user_data. */
  instanceUser: string;
  /** The physical network bridged to the host (DevStack's `public`). */
  publicPhysnet: string;
  /** A full pass (read everything back from the kernel) at least this often. */
  resyncMs: number;
}

export interface PassStats {
  full: boolean;
  ms: number;
  execs: number;
  namespacesTouched: number;
  /** Kernel changes made: ip batch lines, nft scripts, iptables restores, namespaces added/removed. */
  changes: number;
  errors: number;
  /** Where the time went (ms): reading the store, namespaces, reading back, applying, status. */
  phases: Record<string, number>;
}

/** Extra sources of desired state (compute's servers, routers) plugged in by other services. */
export type SnapshotExtender = (snapshot: Snapshot) => Promise<void>;

const fingerprint = (x: unknown): string => createHash('sha1').update(JSON.stringify(x)).digest('hex');

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

/**
 * The real data plane: reconciles the store into network namespaces, bridges, veths, nftables
 * and iptables on this machine, level-triggered. Each pass builds the desired state from one
 * snapshot of the store, reads back only what may differ (every namespace on a full pass; on an
 * incremental pass only namespaces whose desired state changed since they were last applied
 * cleanly), applies the difference in one batch per namespace and writes status back.
 */
export class NetnsDataPlane implements DataPlaneDriver {
  readonly kind = 'netns';
  readonly hostname = hostname();
  readonly names: Names;
  /** Ports in ERROR, with the kernel's reason (compute shows it as the server's fault). */
  readonly portErrors = new Map<string, string>();
  lastPass: PassStats | null = null;

  private readonly reconciler: Reconciler;
  private readonly processes: InstanceProcesses;
  private readonly protocolNames: Map<number, string>;
  private readonly extenders: SnapshotExtender[] = [];
  /** Namespace → the desired state last applied to it without error (and its fingerprint and inode). */
  private readonly applied = new Map<string, { fp: string; ino: number; spec: DesiredNs }>();
  private iptCache: Record<4 | 6, Tables | null> = { 4: null, 6: null };
  /** Inode of the switch namespace the iptables cache describes. */
  private switchIno: number | undefined;
  private lastRuleSets: FilterTables['portRuleSets'] = new Map();
  private fullPending = true;
  private lastFull = 0;
  private watcher: FSWatcher | null = null;
  private retry: NodeJS.Timeout | null = null;
  private retryDelay = 250;
  private changes = 0;
  private unsubscribe: (() => void) | null = null;
  /** What each instance was last reported as (compute learns of changes only). */
  private readonly reported = new Map<string, string>();
  /** Switch-side link → the namespace its veth leads to (to re-read it when the link flaps). */
  private linkOwners = new Map<string, string>();
  /** Links we are changing ourselves: their events are ours, not a flap (name → until when). */
  private readonly quiet = new Map<string, number>();
  private readonly monitor = new LinkMonitor((name) => this.onLinkEvent(name));
  private linkKick: NodeJS.Timeout | null = null;
  private monitoring = false;
  /** What each router's NAT table holds after our last successful apply (full passes re-read). */
  private readonly natCache = new Map<string, { ino: number; state: NatState | null }>();

  private constructor(
    private readonly network: NetworkService,
    private readonly opts: NetnsOptions,
    private readonly log: Logger,
    /** Compute, when this data plane runs its servers: what each instance really does is reported there. */
    private readonly instances: InstanceReports | null,
  ) {
    this.names = new Names(opts.prefix);
    this.reconciler = new Reconciler(
      () => this.pass(),
      (e) => this.log.error({ err: e }, 'netns data plane pass failed'),
      opts.resyncMs,
    );
    const user = opts.runUserData ? resolveUser(opts.instanceUser) : null;
    this.processes = new InstanceProcesses({ dataDir: opts.dataDir, user, runUserData: opts.runUserData });
    let protocols = '';
    try {
      protocols = readFileSync('/etc/protocols', 'utf8');
    } catch {
      // numbers are printed as numbers then
    }
    this.protocolNames = parseProtocols(protocols);
  }

  /** Refuses (throws, with the reason and the fix) when not root or a tool is missing. */
  static async create(network: NetworkService, opts: NetnsOptions, log: Logger, instances: InstanceReports | null = null): Promise<NetnsDataPlane> {
    const why = (await preflight()) ?? (await ensureBrNetfilter());
    if (why) throw new Error(why);
    return new NetnsDataPlane(network, opts, log, instances);
  }

  /** Let another service add to each snapshot. */
  extend(fn: SnapshotExtender): void {
    this.extenders.push(fn);
  }

  async start(): Promise<void> {
    takeLock(this.opts.prefix);
    // Any desired-state change may touch the machine (status reports are ours, and not heard).
    this.unsubscribe = this.network.uow.changes.subscribe({}, () => this.kick());
    this.reconciler.start();
  }

  kick(_reason?: string): void {
    this.reconciler.kick();
  }

  /** A full pass now (reads every namespace back), resolved when done. */
  async resync(): Promise<void> {
    this.fullPending = true;
    this.reconciler.kick();
    await this.reconciler.idle();
  }

  idle(): Promise<void> {
    return this.reconciler.idle();
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.watcher?.close();
    this.monitor.stop();
    if (this.linkKick) clearTimeout(this.linkKick);
    if (this.retry) clearTimeout(this.retry);
    await this.reconciler.stop();
    releaseLock(this.opts.prefix);
  }

  /**
   * A link of the switch changed and it was not us: the namespace at its other end may have
   * lost routes (a link flap) or the link itself. Read both back in the next pass, soon.
   */
  private onLinkEvent(name: string): void {
    const ns = this.linkOwners.get(name);
    if (ns === undefined || (this.quiet.get(name) ?? 0) > Date.now()) return;
    this.applied.delete(ns);
    this.applied.delete(this.names.switchNs);
    if (this.linkKick) return;
    this.linkKick = setTimeout(() => {
      this.linkKick = null;
      this.kick();
    }, 20);
    this.linkKick.unref();
  }

  /** A namespace of ours deleted behind our back: converge now, not at the next resync. */
  private watchNamespaces(): void {
    if (this.watcher) return;
    try {
      let timer: NodeJS.Timeout | null = null;
      this.watcher = watch(NETNS_DIR, () => {
        if (timer) return;
        timer = setTimeout(async () => {
          timer = null;
          const now = await listNamespaces();
          for (const name of this.applied.keys()) {
            if (name !== ROOT_NS && !now.has(name)) {
              this.fullPending = true;
              this.kick();
              return;
            }
          }
        }, 20);
      });
      this.watcher.on('error', () => undefined);
      this.watcher.unref();
    } catch {
      // no /run/netns yet: the periodic resync still notices
    }
  }

  async snapshot(): Promise<Snapshot> {
    const snap = await loadSnapshot(this.network.store);
    if (this.instances) {
      snap.instances = (await readInstanceSpecs(this.network.store.db)).map((i) => ({
        id: i.id,
        running: i.power !== 'stopped',
        frozen: i.power === 'paused' || i.power === 'suspended' ? i.power : null,
        rescue: i.rescue,
        userData: i.userData ? i.userData.toString('utf8') : null,
        files: i.personality.map((f) => ({ path: f.path, contents: f.contents.toString('base64') })),
        bootGeneration: i.rebootSeq,
        nics: i.ports.map((p) => p.id),
      }));
    }
    for (const fn of this.extenders) await fn(snap);
    return snap;
  }

  private async pass(): Promise<void> {
    const started = performance.now();
    const execs0 = execStats.spawned;
    this.changes = 0;
    const phases: Record<string, number> = {};
    let last = started;
    const mark = (phase: string) => {
      const now = performance.now();
      phases[phase] = Math.round((now - last) * 10) / 10;
      last = now;
    };
    const full = this.fullPending || Date.now() - this.lastFull >= this.opts.resyncMs;
    this.fullPending = false;
    const snap = await this.snapshot();
    const desired = buildDesired(snap, this.names, { publicPhysnet: this.opts.publicPhysnet, protocolNames: this.protocolNames });
    const errors = new Map(desired.errors);
    mark('store');
    const kernelErrors = new Map<string, string>();
    const fail = (owner: string, reason: string) => {
      if (!kernelErrors.has(owner)) kernelErrors.set(owner, reason);
    };

    let existing = await listNamespaces();
    const all: DesiredNs[] = [desired.root, desired.switch, ...desired.namespaces];
    const byName = new Map(all.map((n) => [n.name, n]));
    const instanceOf = new Map(desired.instances.map((i) => [i.ns, i]));
    const fpOf = (ns: DesiredNs) => fingerprint([ns, instanceOf.get(ns.name) ?? null]);

    // Namespaces of ours nobody wants any more: their processes are killed, then they go.
    const doomed = [...existing.keys()].filter((n) => this.names.ownsNamespace(n) && !byName.has(n));
    for (const n of doomed) {
      this.applied.delete(n);
      this.natCache.delete(n);
    }
    await mapLimit(doomed, 4, (n) => deleteNamespace(n));
    this.changes += doomed.length;
    if (doomed.length) this.log.info({ namespaces: doomed }, 'removed namespaces');

    // What needs looking at.
    const dirty = new Set<string>();
    const switchNew = !existing.has(desired.switch.name);
    for (const ns of all) {
      const ino = ns.kind === 'root' ? 0 : existing.get(ns.name);
      const was = this.applied.get(ns.name);
      if (full || switchNew || ino === undefined || !was || was.fp !== fpOf(ns) || was.ino !== ino) dirty.add(ns.name);
    }
    // An instance or router namespace that is new or was recreated lost its veths: their switch
    // ends went with them, so the switch needs looking at too.
    const reborn = (n: DesiredNs) => {
      const was = this.applied.get(n.name);
      const ino = existing.get(n.name);
      return !was || ino === undefined || was.ino !== ino;
    };
    if (desired.namespaces.some((n) => dirty.has(n.name) && reborn(n))) dirty.add(desired.switch.name);

    // Create the missing namespaces (with their sysctls, before anything goes into them); the
    // security group rules load meanwhile (they name taps, so they may precede them).
    const missing = all.filter((n) => n.kind !== 'root' && !existing.has(n.name));
    const created = new Set<string>();
    const create = async (n: DesiredNs) => {
      try {
        await createNamespace(n.name, n.sysctls, { nsid: n.kind === 'switch' });
        created.add(n.name);
        this.changes++;
      } catch (e) {
        fail(ownerOfNs(n), `cannot create namespace ${n.name}: ${(e as Error).message}`);
      }
    };
    if (missing.some((n) => n.kind === 'switch')) await create(desired.switch);
    const swIno = created.has(desired.switch.name) ? undefined : existing.get(desired.switch.name);
    if (created.has(desired.switch.name) || swIno !== this.switchIno) {
      // A new switch namespace holds no rules: forget what we loaded into the old one.
      this.iptCache = { 4: null, 6: null };
    }
    await Promise.all([
      mapLimit(
        missing.filter((n) => n.kind !== 'switch'),
        4,
        create,
      ),
      created.has(desired.switch.name) || existing.has(desired.switch.name) ? this.applyFilters(desired.filter, full, fail) : undefined,
    ]);
    if (created.size) existing = await listNamespaces();
    this.switchIno = existing.get(desired.switch.name);
    if (dirty.size) this.watchNamespaces();
    mark('namespaces');

    // Read back what exists. An incremental pass trusts what it applied cleanly to a namespace
    // that is still the same one (same inode) and predicts its state instead of reading it; a
    // full pass reads everything. The host's namespace is read whenever its links change (the
    // leg must not shadow an interface of the host's).
    const states = new Map<string, NsState | null>();
    const predicted = new Set<string>();
    const readInto = async (name: string) => {
      if (created.has(name)) {
        states.set(name, null);
        return;
      }
      if (name !== ROOT_NS && !existing.has(name)) return;
      const was = this.applied.get(name);
      const ino = name === ROOT_NS ? 0 : existing.get(name);
      const spec = byName.get(name)!;
      const sameLinks = name !== ROOT_NS || (was && JSON.stringify([was.spec.links, was.spec.addrs]) === JSON.stringify([spec.links, spec.addrs]));
      if (!full && was && was.ino === ino && sameLinks) {
        states.set(name, predictState(was.spec));
        predicted.add(name);
        return;
      }
      try {
        states.set(name, await readNs(name));
      } catch (e) {
        fail(ownerOfNs(spec), `cannot read namespace ${name}: ${(e as Error).message}`);
      }
    };
    await mapLimit([...dirty], 4, readInto);

    // The host leg must not shadow anything the host already has.
    let root = desired.root;
    let sw = desired.switch;
    const rootState = states.get(ROOT_NS);
    if (rootState && !predicted.has(ROOT_NS)) {
      const conflicts = hostConflicts(root, rootState, (n) => this.names.ownsHostLink(n));
      for (const [owner, reason] of conflicts) {
        errors.set(owner, reason);
        // Look again next pass: the host's interface may go away.
        fail(owner, reason);
      }
      const skip = new Set(conflicts.keys());
      root = withoutOwners(root, skip);
      sw = withoutOwners(sw, skip);
    }
    const specs = new Map<string, DesiredNs>([...byName].map(([k, v]) => [k, k === ROOT_NS ? root : k === sw.name ? sw : v]));

    // Plan.
    const ctx = (self: DesiredNs) => ({
      peer: (ns: string, name: string): PeerView => {
        if (states.has(ns)) {
          const link = states.get(ns)?.links.get(name);
          if (!link) return 'absent';
          // A predicted state has no interface indexes to pair by: trust the pair.
          return predicted.has(ns) || predicted.has(self.name) ? 'unknown' : link;
        }
        if (ns !== ROOT_NS && !existing.has(ns)) return 'absent';
        return 'unknown';
      },
      desiredPeer: (ns: string, name: string) => specs.get(ns)?.links.find((l) => l.name === name),
      owns: (name: string) => (self.kind === 'root' ? this.names.ownsHostLink(name) : true),
      netnsArg: (ns: string) => ns,
    });
    const plans = new Map<string, NsPlan>();
    const planOne = (name: string) => {
      const spec = specs.get(name)!;
      if (name !== ROOT_NS && !existing.has(name)) return;
      plans.set(name, planNamespace(spec, states.get(name) ?? null, ctx(spec)));
    };
    for (const name of dirty) if (states.has(name) || created.has(name)) planOne(name);
    // A veth (re)created into a namespace we did not look at: look at it now.
    for (let round = 0; round < 2; round++) {
      const pulled = [...plans.values()].flatMap((p) => p.createsPeers.map((x) => x.slice(0, x.lastIndexOf('/'))));
      const late = [...new Set(pulled)].filter((n) => !plans.has(n) && specs.has(n));
      if (!late.length) break;
      await mapLimit(late, 4, readInto);
      for (const n of late) {
        dirty.add(n);
        planOne(n);
      }
    }

    mark('read');
    // Our own changes make link events too: not flaps.
    const touched = sw.links.filter((l) => plans.has(sw.name) || (l.peer && plans.has(l.peer.ns))).map((l) => l.name);
    for (const name of touched) this.quiet.set(name, Number.POSITIVE_INFINITY);
    this.linkOwners = new Map(sw.links.filter((l) => l.peer).map((l) => [l.name, l.peer!.ns]));

    // Apply: cleanup everywhere, filters, then the switch (its taps create the owners' ends), then
    // owners and routers' NAT side by side. The host's batch goes first only when it creates the
    // host leg into the switch; otherwise (neighbour entries, addresses) it runs alongside.
    const owners = desired.namespaces.map((n) => n.name).filter((n) => plans.has(n));
    const runBatch = async (ns: string, lines: Line[]) => {
      this.changes += lines.length;
      for (const [owner, reason] of await ipBatch(ns, lines)) fail(owner, reason);
    };
    const applyNat = async (n: DesiredNs) => {
      try {
        const ino = existing.get(n.name);
        const cached = this.natCache.get(n.name);
        const actual = created.has(n.name) ? null : !full && cached && cached.ino === ino ? cached.state : await readNat(n.name);
        const { script, forgotten } = planNatChange(n.nat, actual);
        if (script) {
          this.changes++;
          this.natCache.delete(n.name);
          await nftApply(n.name, script);
        }
        await Promise.all(forgotten.map((ip) => conntrackForgetFloating(n.name, ip)));
        if (ino !== undefined) this.natCache.set(n.name, { ino, state: natStateOf(n.nat) });
      } catch (e) {
        this.natCache.delete(n.name);
        fail(`router:${n.objectId}`, `nftables: ${(e as Error).message}`);
        for (const f of n.nat?.fips ?? []) fail(f.owner, `nftables: ${(e as Error).message}`);
      }
    };
    await mapLimit([...plans], 4, ([ns, p]) => runBatch(ns, p.cleanup));
    const rootPlan = plans.get(ROOT_NS);
    const rootFirst = rootPlan !== undefined && rootPlan.createsPeers.length > 0;
    if (rootPlan && rootFirst) await runBatch(ROOT_NS, rootPlan.apply);
    const rest = async () => {
      if (plans.has(sw.name)) await runBatch(sw.name, plans.get(sw.name)!.apply);
      await Promise.all([
        mapLimit(owners, 4, (ns) => runBatch(ns, plans.get(ns)!.apply)),
        mapLimit(
          desired.namespaces.filter((n) => n.kind === 'router' && plans.has(n.name)),
          4,
          applyNat,
        ),
      ]);
    };
    await Promise.all([rest(), rootPlan && !rootFirst ? runBatch(ROOT_NS, rootPlan.apply) : undefined]);
    mark('apply');
    // Instances' process trees (only where something changed, or on a full pass).
    await mapLimit(
      desired.instances.filter((i) => plans.has(i.ns)),
      4,
      async (i) => {
        const ino = existing.get(i.ns);
        if (ino === undefined) return;
        try {
          const r = await this.processes.reconcile(i, ino);
          if (r !== 'unchanged') this.log.info({ instance: i.id, namespace: i.ns, result: r }, 'instance processes');
        } catch (e) {
          fail(`instance:${i.id}`, `processes: ${(e as Error).message}`);
        }
      },
    );

    mark('processes');
    // Remember what is now in place; anything that failed is looked at again next pass.
    const failedNs = new Set<string>();
    for (const owner of kernelErrors.keys()) for (const ns of nsOfOwner(owner, desired)) failedNs.add(ns);
    const fresh = await listNamespaces();
    for (const name of plans.keys()) {
      const ino = name === ROOT_NS ? 0 : fresh.get(name);
      if (failedNs.has(name) || ino === undefined) this.applied.delete(name);
      else this.applied.set(name, { fp: fpOf(byName.get(name)!), ino, spec: specs.get(name)! });
    }
    for (const [k, v] of kernelErrors) errors.set(k, v);
    if (kernelErrors.size) this.log.warn({ errors: Object.fromEntries(kernelErrors) }, 'kernel refused some changes');

    const calm = Date.now() + 500;
    for (const name of touched) this.quiet.set(name, calm);
    for (const [name, until] of this.quiet) if (until < Date.now()) this.quiet.delete(name);
    if (existing.has(sw.name) && !this.monitoring) {
      // A switch made by an earlier run may have no id in the root namespace yet.
      await run('ip', ['netns', 'set', sw.name, 'auto'], { allowFail: true });
      this.monitor.start();
      this.monitoring = true;
    }

    await this.writeStatus(snap, desired, errors);
    await this.reportInstances(desired, errors, existing);
    if (full && this.instances) this.removeInstanceDirs(desired);
    if (full) this.lastFull = Date.now();
    mark('status');
    this.lastPass = {
      full,
      ms: performance.now() - started,
      execs: execStats.spawned - execs0,
      namespacesTouched: plans.size,
      changes: this.changes,
      errors: errors.size,
      phases,
    };
    this.log.debug({ pass: this.lastPass }, 'data plane pass');
    this.scheduleRetry(kernelErrors.size > 0);
  }

  /** After a kernel error, try again soon (backing off), not only at the next resync. */
  private scheduleRetry(failed: boolean): void {
    if (!failed) {
      this.retryDelay = 250;
      return;
    }
    if (this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = null;
      this.kick();
    }, this.retryDelay);
    this.retry.unref();
    this.retryDelay = Math.min(this.retryDelay * 2, this.opts.resyncMs);
  }

  /**
   * Security groups: chains that differ are rewritten, in one atomic restore per family. If the
   * kernel refuses the batch, chains are applied one by one so only the ports whose rules cannot
   * be loaded end in ERROR — and their traffic is dropped, never passed unfiltered.
   */
  private async applyFilters(filter: FilterTables, full: boolean, fail: (owner: string, reason: string) => void): Promise<void> {
    const ns = this.names.switchNs;
    const removed: Array<{ zone: number; ips: string[] }> = [];
    await Promise.all(
      ([4, 6] as const).map(async (family) => {
        const want = family === 4 ? filter.v4 : filter.v6;
        try {
          if (full || !this.iptCache[family]) this.iptCache[family] = await iptablesSave(ns, family);
        } catch (e) {
          fail('switch', `iptables-save: ${(e as Error).message}`);
          return;
        }
        const cache = this.iptCache[family]!;
        const plan = planIptables(want, cache);
        if (!plan.text) return;
        try {
          this.changes++;
          await iptablesRestore(ns, family, plan.text);
          applyToCache(cache, want, plan);
        } catch (e) {
          this.iptCache[family] = null;
          await this.applyFiltersOneByOne(family, want, filter, fail, (e as Error).message);
        }
      }),
    );
    // A rule that went away also ends the connections it admitted (as Neutron does).
    for (const [port, before] of this.lastRuleSets) {
      const after = filter.portRuleSets.get(port);
      if (!after) continue;
      for (const r of before.rules) {
        if (!after.rules.has(r)) {
          removed.push(after);
          break;
        }
      }
    }
    this.lastRuleSets = filter.portRuleSets;
    for (const { zone, ips } of removed) {
      for (const ip of ips) await conntrackForget(ns, zone, ip);
      this.changes++;
    }
  }

  private async applyFiltersOneByOne(
    family: 4 | 6,
    want: Record<'filter' | 'raw', Map<string, string[]>>,
    filter: FilterTables,
    fail: (owner: string, reason: string) => void,
    why: string,
  ): Promise<void> {
    const ns = this.names.switchNs;
    const actual = await iptablesSave(ns, family);
    const failedPorts = new Set<string>();
    // Group chains first (port chains jump to them), then each port's chains together.
    const order = [...want.filter.keys()].filter((c) => c !== 'FORWARD' && c !== SG_CHAIN);
    order.sort((a, b) => Number(filter.chainOwner.has(a)) - Number(filter.chainOwner.has(b)));
    for (const chain of order) {
      const owner = filter.chainOwner.get(chain);
      if (owner && failedPorts.has(owner)) continue;
      const plan = planIptables({ filter: want.filter }, actual, new Set([chain]));
      if (!plan.text) continue;
      try {
        await iptablesRestore(ns, family, plan.text);
        applyToCache(actual, { filter: want.filter }, plan);
      } catch (e) {
        const reason = `iptables: ${(e as Error).message}`;
        if (owner) {
          failedPorts.add(owner);
          fail(owner, reason);
        } else {
          // A group's chain: every port using it fails.
          for (const [c, o] of filter.chainOwner) if (want.filter.get(c)?.some((r) => r.endsWith(`-j ${chain}`))) failedPorts.add(o);
          for (const o of failedPorts) fail(o, reason);
        }
      }
    }
    // The dispatch chain: ports whose rules could not be loaded get DROP, not a free pass.
    const sg = (want.filter.get(SG_CHAIN) ?? []).map((r) => {
      const m = /-j (ps-[io][0-9a-z-]+)$/.exec(r);
      const owner = m ? filter.chainOwner.get(m[1]) : undefined;
      return owner && failedPorts.has(owner) ? r.replace(/-j ps-[io][0-9a-z-]+$/, '-j DROP') : r;
    });
    const patched = { filter: new Map(want.filter).set(SG_CHAIN, sg), raw: want.raw };
    for (const o of failedPorts) for (const [c, co] of filter.chainOwner) if (co === o) patched.filter.delete(c);
    const rest = planIptables(patched, actual);
    if (rest.text) {
      try {
        await iptablesRestore(ns, family, rest.text);
      } catch (e) {
        for (const o of new Set(filter.chainOwner.values())) fail(o, `iptables: ${(e as Error).message}`);
      }
    }
    this.log.warn({ family, reason: why, failed: [...failedPorts] }, 'security group rules applied one by one');
  }

  /**
   * Tell compute what each instance does: running once its namespace exists and it booted,
   * shutdown when stopped, or the reason it cannot run (a port the kernel refused).
   */
  private async reportInstances(desired: Desired, errors: Map<string, string>, existing: Map<string, number>): Promise<void> {
    if (!this.instances) return;
    const live = new Set<string>();
    for (const i of desired.instances) {
      live.add(i.id);
      const portError = [...desired.wired.values()].find((w) => w.ns === i.ns && errors.has(`port:${w.portId}`));
      // The port's reason first: a route through a refused link fails only because of it.
      const error = (portError ? errors.get(`port:${portError.portId}`) : undefined) ?? errors.get(`instance:${i.id}`);
      if (!existing.has(i.ns) && !error) continue;
      const power: InstanceReport['power'] = !i.running ? 'shutdown' : (this.processes.frozenAs(i.id) ?? 'running');
      const report: InstanceReport = { power, rebootSeq: i.bootGeneration, ...(error ? { error } : {}) };
      const key = JSON.stringify(report);
      if (this.reported.get(i.id) === key) continue;
      this.reported.set(i.id, key);
      await this.instances.reportInstance(i.id, report);
    }
    for (const id of this.reported.keys()) if (!live.has(id)) this.reported.delete(id);
  }

  /** Working directories of instances that no longer exist (their console logs go with them). */
  private removeInstanceDirs(desired: Desired): void {
    const keep = new Set(desired.instances.map((i) => instanceDirName(i.id)));
    const base = dirname(instanceDir(this.opts.dataDir, 'x'));
    let entries: string[] = [];
    try {
      entries = readdirSync(base);
    } catch {
      return;
    }
    for (const e of entries) if (!keep.has(e)) rmSync(join(base, e), { recursive: true, force: true });
  }

  /** Port, router and floating IP status, written only when it changes. */
  private async writeStatus(snap: Snapshot, desired: Desired, errors: Map<string, string>): Promise<void> {
    const managed = (owner: string) => owner.startsWith('compute:') || owner === ROUTER_GATEWAY_OWNER || ROUTER_INTERFACE_OWNERS.includes(owner);
    const seen = new Set<string>();
    for (const p of snap.ports) {
      // A load balancer's namespace failing is its VIP port failing.
      const err = errors.get(`port:${p.id}`) ?? errors.get(`loadbalancer:${p.id}`);
      const w = desired.wired.get(p.id);
      if (!managed(p.deviceOwner) && !w && !err) continue;
      seen.add(p.id);
      let status: string;
      if (err) status = 'ERROR';
      else if (w) status = w.up ? 'ACTIVE' : 'DOWN';
      else status = 'DOWN';
      if (err) {
        if (this.portErrors.get(p.id) !== err) this.log.warn({ port: p.id, reason: err }, 'port in ERROR');
        this.portErrors.set(p.id, err);
      } else this.portErrors.delete(p.id);
      if (p.status !== status) await this.network.setStatus('port', p.id, status);
    }
    for (const id of this.portErrors.keys()) if (!seen.has(id)) this.portErrors.delete(id);

    // Routers: ERROR while the kernel refuses part of them, else ACTIVE.
    const routerNs = new Set(desired.namespaces.filter((n) => n.kind === 'router').map((n) => n.objectId));
    for (const r of snap.routers) {
      const ns = this.names.routerNs(r.id);
      const legError = [...desired.wired.values()].find((w) => w.ns === ns && errors.has(`port:${w.portId}`));
      const err = errors.get(`router:${r.id}`) ?? (legError ? errors.get(`port:${legError.portId}`) : undefined);
      const status = err ? 'ERROR' : 'ACTIVE';
      if (err) this.log.warn({ router: r.id, reason: err }, 'router in ERROR');
      if (r.status !== status) await this.network.setStatus('router', r.id, status);
    }
    // Floating IPs: ACTIVE once their NAT is loaded in a running router, DOWN when unassociated.
    const loaded = new Set(desired.namespaces.flatMap((n) => n.nat?.fips.map((f) => f.owner) ?? []));
    for (const f of snap.floatingIps) {
      const owner = `floatingip:${f.id}`;
      const err = errors.get(owner) ?? (f.routerId ? errors.get(`router:${f.routerId}`) : undefined);
      let status = 'DOWN';
      if (f.portId && f.routerId && routerNs.has(f.routerId) && loaded.has(owner)) status = err ? 'ERROR' : 'ACTIVE';
      if (f.status !== status) await this.network.setStatus('floatingip', f.id, status);
    }
  }
}

/** The owner key that stands for a whole namespace. */
function ownerOfNs(ns: DesiredNs): string {
  if (ns.kind === 'router') return `router:${ns.objectId}`;
  if (ns.kind === 'instance') return `instance:${ns.objectId}`;
  if (ns.kind === 'loadbalancer') return `loadbalancer:${ns.objectId}`;
  return ns.kind;
}

/** Namespaces an owner's objects live in (to retry exactly those). */
function nsOfOwner(owner: string, d: Desired): string[] {
  const out: string[] = [];
  for (const ns of [d.root, d.switch, ...d.namespaces]) {
    if (
      ownerOfNs(ns) === owner ||
      ns.links.some((l) => l.owner === owner) ||
      ns.addrs.some((a) => a.owner === owner) ||
      ns.routes.some((r) => r.owner === owner) ||
      ns.neighbours?.some((n) => n.owner === owner) ||
      ns.nat?.fips.some((f) => f.owner === owner)
    ) {
      out.push(ns.name);
    }
  }
  if (out.length === 0) out.push(d.switch.name);
  return out;
}
