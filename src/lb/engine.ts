/**
 * The load-balancer engine: Octavia's controller worker and health manager in one. It applies
 * every change of a load balancer (serialised per load balancer, coalescing bursts), writes
 * provisioning status back (PENDING_* → ACTIVE/ERROR, deletions), and polls the running
 * instances for member health and traffic counters, written back as operating status and stats.
 * Load balancers whose VIP came from the noop network driver are provisioned without running.
 */
import type { Logger } from 'pino';
import type { LbGraph } from '../core/loadbalancer/model.js';
import type { LoadBalancerService } from '../core/loadbalancer/service.js';
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
}

const DEFAULT_FAILOVER_MS = 1000;

interface Running {
  instance: LbInstance;
  placement: Placement;
}

const hasPending = (g: LbGraph) =>
  [g.lb, ...g.listeners, ...g.pools, ...g.members, ...g.monitors, ...g.l7policies, ...g.l7rules].some((o) => o.provisioning_status.startsWith('PENDING_'));

export class LbEngine {
  private readonly running = new Map<string, Running>();
  private readonly queues = new Map<string, { busy: Promise<void>; again: boolean; rebuild: boolean }>();
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

  /** A load balancer to apply (rebuilt from scratch on failover), or a v1 pool without a VIP. */
  private readonly onChange = (c: Change) => {
    if (c.kind === 'loadbalancer') this.kick(c.id, c.op === 'failover');
    else void this.detachedPool(c.id);
  };

  async start(): Promise<void> {
    this.stopped = false;
    this.unsubscribe = this.service.uow.changes.subscribe({ kinds: ['loadbalancer', 'lb_pool'] }, this.onChange);
    const ids = await this.service.allLoadBalancerIds();
    await this.runtime.cleanup?.(new Set(ids));
    for (const id of ids) this.kick(id);
    for (const id of await this.service.pendingDetachedPools()) void this.detachedPool(id);
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

  /** Where a load balancer is served, if it is (tests and the CLI report it). */
  endpoint(lbId: string): Placement | undefined {
    return this.running.get(lbId)?.placement;
  }

  /** Apply a load balancer soon; bursts of changes coalesce into one more pass. */
  kick(lbId: string, rebuild = false): void {
    if (this.stopped) return;
    const q = this.queues.get(lbId);
    if (q) {
      q.again = true;
      q.rebuild ||= rebuild;
      return;
    }
    const entry = { busy: Promise.resolve(), again: false, rebuild };
    this.queues.set(lbId, entry);
    entry.busy = (async () => {
      do {
        const rb = entry.rebuild;
        entry.again = false;
        entry.rebuild = false;
        try {
          await this.reconcile(lbId, rb);
        } catch (e) {
          this.log.error({ err: e, lb: lbId }, 'load balancer reconcile failed');
        }
      } while (entry.again && !this.stopped);
      this.queues.delete(lbId);
    })();
  }

  /** Resolve once no load balancer is being applied. */
  async idle(): Promise<void> {
    while (this.queues.size) await Promise.all([...this.queues.values()].map((q) => q.busy));
  }

  /** A failover lasts at least `failoverMs` from when the engine took it up. */
  private async failoverPause(started: number): Promise<void> {
    const left = (this.opts.failoverMs ?? DEFAULT_FAILOVER_MS) - (performance.now() - started);
    if (left > 0 && !this.stopped) await new Promise((r) => setTimeout(r, left));
  }

  private async reconcile(lbId: string, rebuild: boolean): Promise<void> {
    const started = performance.now();
    const g = await this.service.graph(lbId);
    if (!g) {
      await this.teardown(lbId);
      return;
    }
    if (g.lb.vip_kind === 'noop') {
      // Nothing to serve: the VIP exists only in the API (Octavia's noop network driver).
      if (rebuild) await this.failoverPause(started);
      if (hasPending(g)) await this.service.applied(g, { failover: rebuild });
      return;
    }
    if (g.lb.provisioning_status === 'PENDING_DELETE') {
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
      if (hasPending(g)) await this.service.failed(g);
      return;
    }
    if (!cfg) {
      await this.teardown(lbId);
      if (rebuild) await this.failoverPause(started);
      if (hasPending(g)) await this.service.applied(g, { failover: rebuild });
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
      if (hasPending(g)) await this.service.failed(g);
      return;
    }
    if (rebuild) await this.failoverPause(started);
    if (hasPending(g)) await this.service.applied(g, { failover: rebuild, servedAt: run.placement.netns ? null : run.placement.address });
    await this.reportHealth(lbId);
  }

  private async teardown(lbId: string): Promise<void> {
    const run = this.running.get(lbId);
    if (!run) return;
    this.running.delete(lbId);
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

  private async reportHealth(lbId: string): Promise<void> {
    const run = this.running.get(lbId);
    if (!run) return;
    await this.service.health(lbId, await run.instance.health());
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
    await this.pollStats().catch(() => undefined);
    for (const lbId of [...this.running.keys()]) await this.teardown(lbId);
    await this.runtime.close?.();
  }
}
