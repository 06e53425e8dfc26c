/**
 * Load balancing without HTTP: the Octavia v2 operations (and, in v1.ts, LBaaS v1 on the same
 * model) plus the engine's side of the contract: which load balancers to run, their whole
 * configuration, and where to write back what was applied and measured.
 */
import type { Store } from '../../store/db.js';
import { systemContext } from '../context.js';
import type { KeyManagerService } from '../keymanager/service.js';
import type { NetworkService } from '../network/service.js';
import type { UnitOfWork } from '../work.js';
import { Amphorae } from './amphorae.js';
import { AvailabilityZones, AzProfiles, FlavorProfiles, Flavors, Providers } from './catalog.js';
import type { LbDeps } from './deps.js';
import { L7Policies, L7Rules } from './l7.js';
import { Listeners } from './listeners.js';
import { LoadBalancers } from './loadbalancers.js';
import { Members } from './members.js';
import { type LbGraph, type Reloaded, loadGraph, reloadGraph } from './model.js';
import { HealthMonitors } from './monitors.js';
import { Pools } from './pools.js';
import { Quotas } from './quotas.js';
import type { ListenerCounters } from './stats.js';
import { type AppliedOptions, type Health, completeApplied, failApplied, operatingStatuses, withOperatingStatuses, writeOperatingStatuses } from './status.js';
import { type NetworkDriver, releaseVip } from './vip.js';
import { bindPort, bindingColumns, portSubnetIds } from '../network/binding.js';
import { PROVISIONING } from './constants.js';
import { type Served, chooseLoadBalancerHost, computeZoneOf, hostAlive, lostHostLoadBalancers, servedAt } from './hosts.js';

export interface LoadBalancerServiceOptions {
  networkDriver: NetworkDriver;
  /** This server's host: VIP ports are bound to it when no live host's agent reaches the VIP network. */
  host: string;
  /** Where TLS certificates are read (Octavia's Barbican certificate manager). */
  keyManager: KeyManagerService;
}

export class LoadBalancerService {
  readonly deps: LbDeps;

  /*
   * The Octavia v2 operations, one object per resource, each holding the dependencies. Declared
   * here one by one (not bound by reflection over a module's exports) so that what the API may
   * call is exactly the methods of these classes, typed as written: a helper a module exports for
   * its neighbours does not become an operation.
   */
  readonly loadbalancers: LoadBalancers;
  readonly listeners: Listeners;
  readonly pools: Pools;
  readonly members: Members;
  readonly healthmonitors: HealthMonitors;
  readonly l7policies: L7Policies;
  readonly l7rules: L7Rules;
  readonly quotas: Quotas;
  readonly providers = new Providers();
  readonly flavorProfiles: FlavorProfiles;
  readonly flavors: Flavors;
  readonly azProfiles: AzProfiles;
  readonly availabilityZones: AvailabilityZones;
  readonly amphorae: Amphorae;

  constructor(
    readonly uow: UnitOfWork,
    readonly network: NetworkService,
    opts: LoadBalancerServiceOptions,
  ) {
    const deps: LbDeps = { uow, store: uow.store, network, networkDriver: opts.networkDriver, host: opts.host, keyManager: opts.keyManager };
    this.deps = deps;
    this.loadbalancers = new LoadBalancers(deps);
    this.listeners = new Listeners(deps);
    this.pools = new Pools(deps);
    this.members = new Members(deps);
    this.healthmonitors = new HealthMonitors(deps);
    this.l7policies = new L7Policies(deps);
    this.l7rules = new L7Rules(deps);
    this.quotas = new Quotas(deps);
    this.flavorProfiles = new FlavorProfiles(deps);
    this.flavors = new Flavors(deps);
    this.azProfiles = new AzProfiles(deps);
    this.availabilityZones = new AvailabilityZones(deps);
    this.amphorae = new Amphorae(deps);
  }

  get store(): Store {
    return this.uow.store;
  }

  // ------------------------------------------------------------ the engine's side

  /** Where a load balancer is served (hosts.ts): undefined when it is gone. */
  servedAt(lbId: string): Promise<Served | undefined> {
    return servedAt(this.store.db, lbId);
  }

  /**
   * The load balancers one host's engine serves: those whose VIP port is bound to `host`, and,
   * with `noop`, those without a real VIP (the API server's engine completes them).
   */
  async loadBalancerIdsServedBy(host: string, noop: boolean): Promise<string[]> {
    const rows = await this.store.db
      .selectFrom('lb_loadbalancers as lb')
      .leftJoin('ports as p', 'p.id', 'lb.vip_port_id')
      .select(['lb.id', 'lb.vip_kind', 'p.binding_host_id'])
      .execute();
    return rows.filter((r) => (r.vip_kind === 'noop' ? noop : r.binding_host_id === host)).map((r) => r.id);
  }

  /**
   * Octavia's health manager for hosts (hosts.ts): every load balancer whose host's agent is no
   * longer alive is moved to another live host that reaches its VIP network — its VIP port
   * bound there (DOWN until that host wires it), and an ACTIVE (or ERROR) load balancer failed
   * over (PENDING_UPDATE until the new host's engine has rebuilt it, a new amphora), one still
   * pending handed on as it is. Returns the moves made; a load balancer no host can take stays
   * where it is until one can.
   */
  async failoverFromLostHosts(): Promise<Array<{ id: string; from: string; to: string }>> {
    const moved: Array<{ id: string; from: string; to: string }> = [];
    for (const lost of await lostHostLoadBalancers(this.store.db)) {
      const to = await this.uow.run(async (w) => {
        const { trx } = w;
        const lb = await w
          .forUpdate(
            trx
              .selectFrom('lb_loadbalancers')
              .select(['id', 'project_id', 'provisioning_status', 'availability_zone', 'vip_port_id'])
              .where('id', '=', lost.id),
          )
          .executeTakeFirst();
        if (!lb?.vip_port_id) return null;
        const port = await w
          .forUpdate(trx.selectFrom('ports').select(['id', 'network_id', 'binding_host_id']).where('id', '=', lb.vip_port_id))
          .executeTakeFirst();
        // Another server moved it meanwhile, or its host came back.
        if (!port || port.binding_host_id !== lost.host || (await hostAlive(trx, port.binding_host_id))) return null;
        const subnetIds = await portSubnetIds(trx, port.id);
        const host = await chooseLoadBalancerHost(trx, {
          networkId: port.network_id,
          subnetIds,
          zone: await computeZoneOf(trx, lb.availability_zone),
          exclude: new Set([lost.host]),
        });
        if (!host) return null;
        const b = await bindPort(trx, port.network_id, host, subnetIds);
        await trx
          .updateTable('ports')
          .set({
            ...bindingColumns(host, b),
            status: 'DOWN',
          })
          .where('id', '=', port.id)
          .execute();
        w.changed('port', port.id, lb.project_id, 'update');
        if (lb.provisioning_status === PROVISIONING.ACTIVE || lb.provisioning_status === PROVISIONING.ERROR) {
          await trx.updateTable('lb_loadbalancers').set({ provisioning_status: PROVISIONING.PENDING_UPDATE }).where('id', '=', lb.id).execute();
          w.changed('loadbalancer', lb.id, lb.project_id, 'failover');
        } else w.changed('loadbalancer', lb.id, lb.project_id, 'update');
        return host;
      });
      if (to) moved.push({ id: lost.id, from: lost.host, to });
    }
    return moved;
  }

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

  /** The load balancer a member's pool belongs to (null: the member or its load balancer is gone). */
  async memberLoadBalancer(memberId: string): Promise<string | null> {
    const row = await this.store.db
      .selectFrom('lb_members as m')
      .innerJoin('lb_pools as p', 'p.id', 'm.pool_id')
      .select('p.loadbalancer_id')
      .where('m.id', '=', memberId)
      .executeTakeFirst();
    return row?.loadbalancer_id ?? null;
  }

  graph(lbId: string): Promise<LbGraph | undefined> {
    return loadGraph(this.store.db, lbId);
  }

  /**
   * `known` read again with only the members `memberIds` from the store (model.ts, reloadGraph):
   * undefined when the load balancer is gone, null when the whole graph must be read.
   */
  regraph(known: LbGraph, memberIds: ReadonlySet<string>): Promise<Reloaded | null | undefined> {
    return reloadGraph(this.store.db, known, memberIds);
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

  /**
   * Write measured health back as operating status: only the rows whose status `g` (the engine's
   * model of what the store holds) says differs. Returns `g` with the statuses written, so the
   * engine's model stays what the store holds without reading the graph again.
   */
  async health(g: LbGraph, h: Health): Promise<LbGraph> {
    const changes = operatingStatuses(g, h);
    if (changes.size === 0) return g;
    await this.uow.run(async (w) => {
      await writeOperatingStatuses(w.trx, changes);
      w.changed('loadbalancer', g.lb.id, g.lb.project_id, 'status');
    });
    return withOperatingStatuses(g, changes);
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
