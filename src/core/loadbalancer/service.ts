/**
 * Load balancing without HTTP: the Octavia v2 operations (and, in v1.ts, LBaaS v1 on the same
 * model) plus the engine's side of the contract: which load balancers to run, their whole
 * configuration, and where to write back what was applied and measured.
 */
import type { Store } from '../../store/db.js';
import { systemContext } from '../context.js';
import type { NetworkService } from '../network/service.js';
import type { UnitOfWork } from '../work.js';
import type { LbDeps } from './deps.js';
import { type LbGraph, loadGraph } from './model.js';
import { type AppliedOptions, type Health, completeApplied, failApplied, operatingStatuses, writeOperatingStatuses } from './status.js';
import { type NetworkDriver, releaseVip } from './vip.js';
import * as lbs from './loadbalancers.js';
import * as listeners from './listeners.js';
import * as pools from './pools.js';
import * as members from './members.js';
import * as monitors from './monitors.js';
import * as l7 from './l7.js';
import * as catalog from './catalog.js';
import * as quotas from './quotas.js';
import * as amphorae from './amphorae.js';

export interface LoadBalancerServiceOptions {
  networkDriver: NetworkDriver;
  /** Host name VIP ports are bound to. */
  host: string;
}

export interface ListenerCounters {
  bytes_in: number;
  bytes_out: number;
  active_connections: number;
  total_connections: number;
  request_errors: number;
}

export class LoadBalancerService {
  readonly deps: LbDeps;

  constructor(
    readonly uow: UnitOfWork,
    readonly network: NetworkService,
    opts: LoadBalancerServiceOptions,
  ) {
    this.deps = {
      uow,
      store: uow.store,
      network,
      networkDriver: opts.networkDriver,
      host: opts.host,
    };
  }

  get store(): Store {
    return this.uow.store;
  }

  // The Octavia v2 operations, grouped by resource.
  readonly loadbalancers = bindAll(this, lbs);
  readonly listeners = bindAll(this, listeners);
  readonly pools = bindAll(this, pools);
  readonly members = bindAll(this, members);
  readonly monitors = bindAll(this, monitors);
  readonly l7 = bindAll(this, l7);
  readonly catalog = bindAll(this, catalog);
  readonly quotas = quotas;
  readonly amphorae = bindAll(this, amphorae);

  // ------------------------------------------------------------ the engine's side

  /** Every load balancer that exists (the engine converges on all of them after a restart). */
  async allLoadBalancerIds(): Promise<string[]> {
    const rows = await this.store.db.selectFrom('lb_loadbalancers').select('id').execute();
    return rows.map((r) => r.id);
  }

  /** v1 pools without a VIP that still have pending objects. */
  async pendingDetachedPools(): Promise<string[]> {
    const rows = await this.store.db.selectFrom('lb_pools').select('id').where('loadbalancer_id', 'is', null).execute();
    return rows.map((r) => r.id);
  }

  graph(lbId: string): Promise<LbGraph | undefined> {
    return loadGraph(this.store.db, lbId);
  }

  /** The engine applied `g`: advance its pending objects; a deleted load balancer gives its VIP back. */
  async applied(g: LbGraph, opts: AppliedOptions = {}): Promise<void> {
    await this.uow.run(async (w) => {
      const done = await completeApplied(w.trx, g, opts);
      w.changed('loadbalancer', g.lb.id, g.lb.project_id, 'status');
      if (done.deletedLb) await releaseVip(w, this.network, systemContext('req-lb-engine'), done.deletedLb);
    });
  }

  /** The engine could not apply `g` and kept the previous configuration. */
  async failed(g: LbGraph): Promise<void> {
    await this.uow.run(async (w) => {
      await failApplied(w.trx, g);
      w.changed('loadbalancer', g.lb.id, g.lb.project_id, 'status');
    });
  }

  /** Write measured health back as operating status (only rows that changed). */
  async health(lbId: string, h: Health): Promise<void> {
    const g = await loadGraph(this.store.db, lbId);
    if (!g) return;
    const changes = operatingStatuses(g, h);
    if (changes.size === 0) return;
    await this.uow.run(async (w) => {
      await writeOperatingStatuses(w.trx, changes);
      w.changed('loadbalancer', g.lb.id, g.lb.project_id, 'status');
    });
  }

  /** Cumulative counters per listener, as the engine last read them. */
  async stats(lbId: string, byListener: Map<string, ListenerCounters>): Promise<void> {
    if (byListener.size === 0) return;
    await this.uow.run(async ({ trx }) => {
      for (const [listenerId, c] of byListener) {
        const exists = await trx.selectFrom('lb_listeners').select('id').where('id', '=', listenerId).executeTakeFirst();
        if (!exists) continue;
        const cur = await trx.selectFrom('lb_listener_stats').select('listener_id').where('listener_id', '=', listenerId).executeTakeFirst();
        if (cur)
          await trx
            .updateTable('lb_listener_stats')
            .set({ ...c })
            .where('listener_id', '=', listenerId)
            .execute();
        else
          await trx
            .insertInto('lb_listener_stats')
            .values({ listener_id: listenerId, loadbalancer_id: lbId, ...c })
            .execute();
      }
    });
  }
}

type Op<A extends unknown[], R> = (deps: LbDeps, ...args: A) => R;
type Bound<M> = { [K in keyof M]: M[K] extends Op<infer A, infer R> ? (...args: A) => R : never };

/** Bind a module's operations (functions taking LbDeps first) to this service. */
function bindAll<M extends Record<string, unknown>>(svc: LoadBalancerService, mod: M): Bound<Pick<M, OpKeys<M>>> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(mod)) {
    if (typeof v === 'function' && v.length >= 1) out[k] = (...args: unknown[]) => (v as (...a: unknown[]) => unknown)(svc.deps, ...args);
  }
  return out as Bound<Pick<M, OpKeys<M>>>;
}
type OpKeys<M> = { [K in keyof M]: M[K] extends (deps: LbDeps, ...args: any[]) => any ? K : never }[keyof M];
