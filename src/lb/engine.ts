/**
 * The load-balancer engine: Octavia's controller worker and health manager in one. It applies
 * every change of a load balancer (serialised per load balancer, coalescing bursts), writes
 * provisioning status back (PENDING_* → ACTIVE/ERROR, deletions), and polls the running
 * instances for member health and traffic counters, written back as operating status and stats.
 * Load balancers whose VIP came from the noop network driver are provisioned without running.
 *
 * The engine keeps its model of each load balancer (the graph the store holds) in memory. A
 * change to one member (work.ts, 'lb_member') reads that member and the few rows around it
 * (the load balancer, listeners, pools, monitors, L7), not the pool's every member, and the
 * health written back patches the model: issue 17 asks a member add to cost the same at 1,000
 * members as at 50. Any other change reads the whole graph again, as every change did before.
 */
import type { Logger } from 'pino';
import type { LbGraph } from '../core/loadbalancer/model.js';
import type { LoadBalancerService } from '../core/loadbalancer/service.js';
import type { AppliedOptions, Health } from '../core/loadbalancer/status.js';
import type { Change } from '../core/work.js';
import { type RtLoadBalancer, runtimeConfig } from './config.js';
import { loadTlsMaterial } from './material.js';
import type { LbInstance, LbRuntime, Placement } from './runtime.js';
import { completeDetachedPool } from '../core/loadbalancer/v1.js';

/** Where load balancers run: a loopback address each, or a namespace plugged into the VIP's network. */
export interface PlacementProvider {
  readonly kind: string;
  acquire(g: LbGraph): Promise<Placement>;
  release(lbId: string): Promise<void>;
}

export interface EngineOptions {
  /** Health and status write-back period. */
  healthIntervalMs?: number;
  /** Traffic counters write-back period. */
  statsIntervalMs?: number;
  /**
   * The least time a failover keeps the load balancer PENDING_UPDATE. Octavia's worker answers
   * 202 and rebuilds the amphora afterwards (about a minute for a VM, a few hundred milliseconds
   * with its noop drivers); a rebuild here takes milliseconds, which a caller polling for
   * PENDING_UPDATE would never see. The old amphora stays listed until the new one replaces it.
   */
  failoverMs?: number;
  /**
   * The host this engine runs on (issue 18): it serves the load balancers whose VIP port is
   * bound to `name` (core/loadbalancer/hosts.ts placed them there), and, with `noop`, those
   * without a real VIP (the API server's own engine). Absent: every load balancer (one machine).
   */
  host?: { name: string; noop: boolean };
}

const DEFAULT_FAILOVER_MS = 1000;

interface Running {
  instance: LbInstance;
  placement: Placement;
}

/** What a load balancer's next pass must read: everything, or only these members. */
interface Pending {
  full: boolean;
  rebuild: boolean;
  members: Set<string>;
}

const pending = (o: { provisioning_status: string }) => o.provisioning_status.startsWith('PENDING_');
/** Anything of `g` waiting for the engine (without copying its 1,000 members into one array). */
const hasPending = (g: LbGraph) =>
  pending(g.lb) ||
  [g.listeners, g.pools, g.members, g.monitors, g.l7policies, g.l7rules].some((rows: ReadonlyArray<{ provisioning_status: string }>) => rows.some(pending));

export class LbEngine {
  private readonly running = new Map<string, Running>();
  private readonly queues = new Map<string, { busy: Promise<void>; again: boolean; next: Pending }>();
  /** The graph of each load balancer as the store holds it, as of the engine's last read or write. */
  private readonly models = new Map<string, LbGraph>();
  /** member id → its load balancer, for the members of the models. */
  private readonly memberLb = new Map<string, string>();
  /** Load balancers whose model a health write raced with a pass: their next pass reads everything. */
  private readonly stale = new Set<string>();
  /** What each running instance last measured (reportHealth). */
  private readonly measured = new Map<string, Health>();
  /** Members whose load balancer is being looked up (a new member is in no model yet). */
  private readonly lookups = new Set<Promise<void>>();
  /** Load balancers another host serves, as of their last full pass: their members' changes are not ours. */
  private readonly elsewhere = new Set<string>();
  private timers: NodeJS.Timeout[] = [];
  private stopped = false;
  private healthBusy = false;

  constructor(
    private readonly service: LoadBalancerService,
    readonly runtime: LbRuntime,
    readonly placement: PlacementProvider,
    private readonly log: Logger,
    private readonly opts: EngineOptions = {},
  ) {}

  private unsubscribe: (() => void) | null = null;

  /** A load balancer to apply (rebuilt from scratch on failover), one member of one, or a v1 pool without a VIP. */
  private readonly onChange = (c: Change) => {
    if (c.kind === 'loadbalancer') this.kick(c.id, c.op === 'failover');
    else if (c.kind === 'lb_member') this.memberChanged(c.id);
    else if (this.servesNoop) void this.detachedPool(c.id);
  };

  /** v1 pools without a VIP run nowhere: the engine that completes noop VIPs completes them. */
  private get servesNoop(): boolean {
    return this.opts.host?.noop ?? true;
  }

  /** The load balancers this engine serves (all of them without a host). */
  private async servedIds(): Promise<string[]> {
    const host = this.opts.host;
    return host ? this.service.loadBalancerIdsServedBy(host.name, host.noop) : this.service.allLoadBalancerIds();
  }

  /** One member changed: its load balancer applies it, from the model it knows or after looking it up. */
  private memberChanged(memberId: string): void {
    const lbId = this.memberLb.get(memberId);
    if (lbId) {
      this.kickMembers(lbId, [memberId]);
      return;
    }
    const lookup = this.service
      .memberLoadBalancer(memberId)
      .then((id) => {
        if (id && !this.elsewhere.has(id)) this.kickMembers(id, [memberId]);
      })
      .catch((e) => this.log.error({ err: e, member: memberId }, 'member lookup failed'))
      .finally(() => this.lookups.delete(lookup));
    this.lookups.add(lookup);
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.unsubscribe = this.service.uow.changes.subscribe({ kinds: ['loadbalancer', 'lb_member', 'lb_pool'] }, this.onChange);
    // What runs for a load balancer this host no longer serves (moved while it was away) stops.
    const ids = await this.servedIds();
    await this.runtime.cleanup?.(new Set(ids));
    for (const id of ids) this.kick(id);
    if (this.servesNoop) for (const id of await this.service.pendingDetachedPools()) void this.detachedPool(id);
    const h = setInterval(() => void this.pollHealth(), this.opts.healthIntervalMs ?? 1000);
    const s = setInterval(() => void this.pollStats(), this.opts.statsIntervalMs ?? 5000);
    h.unref();
    s.unref();
    this.timers.push(h, s);
  }

  private readonly healthKicks = new Map<string, NodeJS.Timeout>();

  /** A member changed state: write statuses soon instead of at the next poll. */
  kickHealth(lbId: string): void {
    if (this.stopped || this.healthKicks.has(lbId)) return;
    const t = setTimeout(() => {
      this.healthKicks.delete(lbId);
      if (!this.queues.has(lbId)) void this.reportHealth(lbId).catch((e) => this.log.warn({ err: e, lb: lbId }, 'health report failed'));
    }, 50);
    t.unref();
    this.healthKicks.set(lbId, t);
  }

  /**
   * Changes may have been missed (the connection that hears other processes' commits was lost):
   * every load balancer served here, or running here, is read again.
   */
  async resync(): Promise<void> {
    for (const id of new Set([...(await this.servedIds()), ...this.running.keys()])) this.kick(id);
  }

  /** Where a load balancer is served, if it is (tests and the CLI report it). */
  endpoint(lbId: string): Placement | undefined {
    return this.running.get(lbId)?.placement;
  }

  /** Apply a load balancer soon, all of it read again; bursts of changes coalesce into one more pass. */
  kick(lbId: string, rebuild = false): void {
    this.enqueue(lbId, { full: true, rebuild, members: new Set() });
  }

  /** Apply these members of a load balancer soon (the rest of it did not change). */
  private kickMembers(lbId: string, memberIds: Iterable<string>): void {
    this.enqueue(lbId, { full: false, rebuild: false, members: new Set(memberIds) });
  }

  private enqueue(lbId: string, p: Pending): void {
    if (this.stopped) return;
    const q = this.queues.get(lbId);
    if (q) {
      q.again = true;
      q.next.full ||= p.full;
      q.next.rebuild ||= p.rebuild;
      for (const id of p.members) q.next.members.add(id);
      return;
    }
    const entry = { busy: Promise.resolve(), again: false, next: p };
    this.queues.set(lbId, entry);
    entry.busy = (async () => {
      do {
        const pass = entry.next;
        entry.again = false;
        entry.next = { full: false, rebuild: false, members: new Set() };
        try {
          await this.reconcile(lbId, pass);
        } catch (e) {
          this.log.error({ err: e, lb: lbId }, 'load balancer reconcile failed');
          this.forget(lbId);
        }
        if (this.stale.delete(lbId)) this.forget(lbId);
      } while (entry.again && !this.stopped);
      this.queues.delete(lbId);
    })();
  }

  /** Resolve once no load balancer is being applied (nor a changed member's looked up). */
  async idle(): Promise<void> {
    while (this.queues.size || this.lookups.size) await Promise.all([...[...this.queues.values()].map((q) => q.busy), ...this.lookups]);
  }

  /** The engine's model of a load balancer (tests compare it with what the store holds). */
  model(lbId: string): LbGraph | undefined {
    return this.models.get(lbId);
  }

  /**
   * Keep `g` as the model of its load balancer. `touched`: the only members that may differ from
   * the previous model, and `found` those of them `g` holds (all members when absent): a member
   * add must not walk the pool.
   */
  private remember(g: LbGraph, touched?: ReadonlySet<string>, found?: ReadonlySet<string>): void {
    const lbId = g.lb.id;
    if (!touched || !found) {
      for (const m of this.models.get(lbId)?.members ?? []) this.memberLb.delete(m.id);
      for (const m of g.members) this.memberLb.set(m.id, lbId);
    } else {
      for (const id of touched) if (!found.has(id)) this.memberLb.delete(id);
      for (const id of found) this.memberLb.set(id, lbId);
    }
    this.models.set(lbId, g);
  }

  /** Drop the model: the next pass reads the whole graph. */
  private forget(lbId: string): void {
    for (const m of this.models.get(lbId)?.members ?? []) this.memberLb.delete(m.id);
    this.models.delete(lbId);
  }

  /**
   * The graph this pass applies: the model with the changed members read again when only members
   * changed, else the whole graph. Undefined: the load balancer is gone.
   */
  private async read(lbId: string, pass: Pending): Promise<LbGraph | undefined> {
    const known = this.models.get(lbId);
    if (!pass.full && !pass.rebuild && known) {
      const again = await this.service.regraph(known, pass.members);
      if (again !== null) {
        if (again) this.remember(again.graph, pass.members, again.found);
        return again?.graph;
      }
    }
    const g = await this.service.graph(lbId);
    if (g) this.remember(g);
    return g;
  }

  /**
   * After the engine wrote `g`'s pending objects back (applied or failed): the model again, with
   * the members that were pending read anew (now ACTIVE, ERROR or removed).
   */
  private async reread(g: LbGraph): Promise<void> {
    const asked = new Set(g.members.filter(pending).map((m) => m.id));
    const again = await this.service.regraph(g, asked);
    if (again) this.remember(again.graph, asked, again.found);
    else this.forget(g.lb.id);
  }

  /** A failover lasts at least `failoverMs` from when the engine took it up. */
  private async failoverPause(started: number): Promise<void> {
    const left = (this.opts.failoverMs ?? DEFAULT_FAILOVER_MS) - (performance.now() - started);
    if (left > 0 && !this.stopped) await new Promise((r) => setTimeout(r, left));
  }

  /**
   * Whether this engine serves `lbId` (always without a host). A load balancer another host
   * serves is stopped here if it ran here (it was moved: failoverFromLostHosts) and forgotten.
   */
  private async ours(lbId: string): Promise<boolean> {
    const host = this.opts.host;
    if (!host) return true;
    const at = await this.service.servedAt(lbId);
    if (!at) {
      this.elsewhere.delete(lbId);
      return true;
    }
    if (at.vipKind === 'noop' ? host.noop : at.host === host.name) {
      this.elsewhere.delete(lbId);
      return true;
    }
    this.elsewhere.add(lbId);
    this.forget(lbId);
    await this.teardown(lbId);
    return false;
  }

  private async reconcile(lbId: string, pass: Pending): Promise<void> {
    const started = performance.now();
    const { rebuild } = pass;
    // A pass of only members of a load balancer running here needs no look at its host (issue 17).
    if ((pass.full || rebuild || !this.running.has(lbId)) && !(await this.ours(lbId))) return;
    const g = await this.read(lbId, pass);
    if (!g) {
      this.forget(lbId);
      await this.teardown(lbId);
      return;
    }
    if (g.lb.vip_kind === 'noop') {
      // Nothing to serve: the VIP exists only in the API (Octavia's noop network driver).
      if (rebuild) await this.failoverPause(started);
      if (hasPending(g)) await this.applied(g, { failover: rebuild });
      return;
    }
    if (g.lb.provisioning_status === 'PENDING_DELETE') {
      this.forget(lbId);
      await this.teardown(lbId);
      await this.service.applied(g);
      return;
    }
    let cfg: RtLoadBalancer | null;
    try {
      cfg = runtimeConfig(g, await loadTlsMaterial(this.service.deps.keyManager, g));
    } catch (e) {
      // A certificate that went away or no longer parses: the running configuration stays.
      this.log.warn({ err: e, lb: lbId }, 'load balancer configuration incomplete; the previous one keeps running');
      if (hasPending(g)) await this.failed(g);
      return;
    }
    if (!cfg) {
      await this.teardown(lbId);
      if (rebuild) await this.failoverPause(started);
      if (hasPending(g)) await this.applied(g, { failover: rebuild });
      return;
    }
    if (rebuild) await this.teardown(lbId);
    let run = this.running.get(lbId);
    try {
      if (!run) {
        const placement = await this.placement.acquire(g);
        this.log.info({ lb: lbId, address: placement.address, netns: placement.netns }, 'load balancer served here');
        run = { placement, instance: this.runtime.create(lbId, placement) };
        this.running.set(lbId, run);
      }
      await run.instance.apply(cfg);
    } catch (e) {
      this.log.warn({ err: e, lb: lbId }, 'load balancer configuration refused; the previous one keeps running');
      if (hasPending(g)) await this.failed(g);
      return;
    }
    if (rebuild) await this.failoverPause(started);
    if (hasPending(g)) await this.applied(g, { failover: rebuild, servedAt: run.placement.netns ? null : run.placement.address });
    await this.reportHealth(lbId, true, pass.full || pass.rebuild ? undefined : pass.members);
  }

  private async applied(g: LbGraph, opts: AppliedOptions): Promise<void> {
    await this.service.applied(g, opts);
    await this.reread(g);
  }

  private async failed(g: LbGraph): Promise<void> {
    await this.service.failed(g);
    await this.reread(g);
  }

  private async teardown(lbId: string): Promise<void> {
    const run = this.running.get(lbId);
    if (!run) return;
    this.running.delete(lbId);
    this.measured.delete(lbId);
    try {
      await run.instance.stop();
    } finally {
      await this.placement.release(lbId);
    }
  }

  /** v1 pools without a VIP have nothing to run: their pending objects are simply accepted. */
  private async detachedPool(poolId: string): Promise<void> {
    try {
      await completeDetachedPool(this.service.uow, poolId);
    } catch (e) {
      this.log.error({ err: e, pool: poolId }, 'v1 pool completion failed');
    }
  }

  /**
   * Write what the instance measures back as operating statuses, compared with the model (not the
   * graph read again). `inPass`: called by the load balancer's own pass. A report that overlapped
   * a pass cannot tell whose statuses the model holds: the next pass reads everything.
   *
   * `changed`: after a pass that applied only these members, the statuses follow from the last
   * measurement without them (what a member not measured since its change shows: OFFLINE when
   * disabled, NO_MONITOR without a monitor, else what it showed), and the pools' and load
   * balancer's roll-up from there; the instance is not asked for every server's state (HAProxy's
   * `show stat` of 1,000 servers) on each member add. The periodic poll measures them all.
   */
  private async reportHealth(lbId: string, inPass = false, changed?: ReadonlySet<string>): Promise<void> {
    const run = this.running.get(lbId);
    if (!run) return;
    const last = this.measured.get(lbId);
    let h: Health;
    if (changed && last) {
      const members = new Map(last.members);
      for (const id of changed) members.delete(id);
      h = { members, listeners: last.listeners };
    } else {
      h = await run.instance.health();
      this.measured.set(lbId, h);
    }
    let g = this.models.get(lbId);
    if (!g) {
      g = await this.service.graph(lbId);
      if (!g) return;
      if (inPass || !this.queues.has(lbId)) this.remember(g);
    }
    const after = await this.service.health(g, h);
    if (after === g) return;
    if (this.models.get(lbId) === g && (inPass || !this.queues.has(lbId))) this.models.set(lbId, after);
    else {
      this.forget(lbId);
      if (this.queues.has(lbId)) this.stale.add(lbId);
    }
  }

  private async pollHealth(): Promise<void> {
    if (this.healthBusy) return;
    this.healthBusy = true;
    try {
      for (const lbId of this.running.keys()) {
        if (this.queues.has(lbId)) continue;
        try {
          await this.reportHealth(lbId);
        } catch (e) {
          this.log.warn({ err: e, lb: lbId }, 'health report failed');
        }
      }
    } finally {
      this.healthBusy = false;
    }
  }

  private async pollStats(): Promise<void> {
    for (const [lbId, run] of this.running) {
      try {
        await this.service.stats(lbId, await run.instance.counters());
      } catch (e) {
        this.log.warn({ err: e, lb: lbId }, 'stats report failed');
      }
    }
  }

  /** Report now (tests and the status tree after a change). */
  async flush(): Promise<void> {
    await this.idle();
    for (const lbId of this.running.keys()) await this.reportHealth(lbId);
    await this.pollStats();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    this.unsubscribe = null;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    for (const t of this.healthKicks.values()) clearTimeout(t);
    this.healthKicks.clear();
    await this.idle();
    // Stopped, the engine hears no change: what it knew may be out of date when it starts again.
    this.models.clear();
    this.memberLb.clear();
    this.stale.clear();
    await this.pollStats().catch(() => undefined);
    for (const lbId of [...this.running.keys()]) await this.teardown(lbId);
    await this.runtime.close?.();
  }
}
