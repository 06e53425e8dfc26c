/**
 * Octavia load balancers: create (with its VIP port), update, delete (with cascade), the status
 * tree, statistics and failover.
 */
import type { Updateable } from 'kysely';
import type { Q } from '../../store/db.js';
import type { LbLoadBalancersTable } from '../../store/schema.js';
import { uuid as newUuid } from '../../util/ids.js';
import type { RequestContext } from '../context.js';
import { authorize, getLb, isLbAdmin } from './access.js';
import { MODEL_NAMES, OPERATING, PROVISIONING } from './constants.js';
import { type LbDeps, checkProvider } from './deps.js';
import { computeZoneOf } from './hosts.js';
import { lbErrors } from './errors.js';
import { type GraphOrder, checkGraphSubnets, createGraph } from './graph.js';
import { loadGraph, octaviaTime, poolListenerIds } from './model.js';
import { type ListSpec, type Listing, OBJECT_COLUMNS, listV2Page } from './query.js';
import { checkQuota } from './quotas.js';
import { type Rendered, renderFullLoadBalancer, renderLoadBalancers } from './render.js';
import type { LoadBalancerPost, LoadBalancerPut } from './schemas.js';
import { type ListenerCounters, listenerStats } from './stats.js';
import { lockLoadBalancer, setProvisioning, writeTags } from './status.js';
import { allocateVip, planVip } from './vip.js';

const LB_LIST: ListSpec<'lb_loadbalancers'> = {
  table: 'lb_loadbalancers',
  tagType: 'lb_loadbalancer',
  columns: {
    ...OBJECT_COLUMNS,
    name: { column: 'name' },
    description: { column: 'description' },
    vip_address: { column: 'vip_address' },
    vip_port_id: { column: 'vip_port_id' },
    vip_subnet_id: { column: 'vip_subnet_id' },
    vip_network_id: { column: 'vip_network_id' },
    vip_qos_policy_id: { column: 'vip_qos_policy_id' },
    provider: { column: 'provider' },
    flavor_id: { column: 'flavor_id' },
    availability_zone: { column: 'availability_zone' },
  },
};

/** The flavor and availability zone a create names must exist and be enabled; the flavor's provider. */
async function checkFlavorAndZone(q: Q, b: LoadBalancerPost): Promise<{ id: string; provider: string } | undefined> {
  let flavor: { id: string; provider: string } | undefined;
  if (b.flavor_id !== undefined) {
    const id = b.flavor_id;
    if (!id) throw lbErrors.validation('Invalid flavor_id.');
    const row = await q
      .selectFrom('lb_flavors as f')
      .innerJoin('lb_flavor_profiles as p', 'p.id', 'f.flavor_profile_id')
      .select(['f.enabled', 'p.provider_name'])
      .where('f.id', '=', id)
      .executeTakeFirst();
    if (!row) throw lbErrors.validation('Invalid flavor_id.');
    if (row.enabled !== 1) throw lbErrors.disabledOption('flavor', id);
    flavor = { id, provider: row.provider_name };
  }
  if (b.availability_zone !== undefined) {
    const name = b.availability_zone;
    if (!name) throw lbErrors.validation('Invalid availability zone.');
    const az = await q.selectFrom('lb_availability_zones').select('enabled').where('name', '=', name).executeTakeFirst();
    if (!az) throw lbErrors.validation('Invalid availability zone.');
    if (az.enabled !== 1) throw lbErrors.disabledOption('availability_zone', name);
  }
  return flavor;
}

/** A pool's node in the status tree. */
interface PoolStatus {
  id: string;
  name: string;
  provisioning_status: string;
  operating_status: string;
  health_monitor?: { id: string; name: string; type: string; provisioning_status: string; operating_status: string };
  members: Array<{ id: string; name: string; operating_status: string; provisioning_status: string; address: string; protocol_port: number }>;
}

export class LoadBalancers {
  constructor(private readonly deps: LbDeps) {}

  async list(ctx: RequestContext, params: Map<string, string[]>, url: URL): Promise<Listing<Rendered>> {
    const page = await listV2Page(this.deps.store.db, ctx, LB_LIST, params, url);
    return { items: await renderLoadBalancers(this.deps.store.db, page.rows, { fields: page.fields }), links: page.links };
  }

  async show(ctx: RequestContext, id: string, fields?: string[]): Promise<Rendered> {
    const lb = await getLb(this.deps.store.db, id);
    authorize(ctx, lb.project_id);
    return (await renderLoadBalancers(this.deps.store.db, [lb], { fields }))[0];
  }

  async create(ctx: RequestContext, b: LoadBalancerPost): Promise<Rendered> {
    const { deps } = this;
    const project = b.project_id ?? ctx.projectId ?? undefined;
    if (!project) throw lbErrors.missingProject();
    authorize(ctx, project);
    const plan = await planVip(deps.network, ctx, b, deps.networkDriver);
    const flavor = await checkFlavorAndZone(deps.store.db, b);
    let provider: string;
    if (b.provider === undefined || b.provider === null) provider = flavor?.provider ?? checkProvider(undefined);
    else {
      if (flavor?.provider && flavor.provider !== b.provider) {
        throw lbErrors.flavorMismatch(flavor.id, b.provider);
      }
      provider = b.provider;
    }
    checkProvider(provider);
    const listeners = (b.listeners ?? []).map((l) => l!);
    const pools = (b.pools ?? []).map((p) => p!);
    const graph = listeners.length > 0 || pools.length > 0;
    if (graph) await checkGraphSubnets(deps, ctx, listeners, pools);
    if ((b.additional_vips?.length ?? 0) > 0) {
      throw lbErrors.unsupportedOption(provider, 'additional VIPs are not supported by this engine.');
    }
    const id = newUuid();
    let order: GraphOrder = [];
    await deps.uow.run(async (w) => {
      const { trx } = w;
      await checkQuota(trx, project, 'load_balancer');
      const now = octaviaTime();
      await trx
        .insertInto('lb_loadbalancers')
        .values({
          id,
          project_id: project,
          name: b.name ?? '',
          description: b.description ?? '',
          provisioning_status: PROVISIONING.PENDING_CREATE,
          operating_status: OPERATING.OFFLINE,
          admin_state_up: b.admin_state_up === false ? 0 : 1,
          api: 'v2',
          provider,
          flavor_id: b.flavor_id ?? null,
          availability_zone: b.availability_zone ?? null,
          vip_address: plan.address,
          vip_port_id: plan.portId,
          vip_subnet_id: plan.subnetId,
          vip_network_id: plan.networkId,
          vip_qos_policy_id: null,
          vip_kind: plan.kind,
          created_at: now,
          updated_at: null,
        })
        .execute();
      // The amphora's compute zone: the availability zone's profile's compute_zone (ComputeCreate).
      const zone = await computeZoneOf(trx, b.availability_zone);
      const vip = await allocateVip(w, deps.network, ctx, plan, {
        id,
        projectId: project,
        deviceOwner: 'Octavia',
        name: `octavia-lb-${id}`,
        fallbackHost: deps.host,
        zone,
      });
      await trx.updateTable('lb_loadbalancers').set({ vip_port_id: vip.portId, vip_address: vip.address }).where('id', '=', id).execute();
      await writeTags(trx, 'loadbalancer', id, b.tags);
      if (graph) order = await createGraph(deps, ctx, trx, await getLb(trx, id), listeners, pools);
      w.changed('loadbalancer', id, project, 'create');
    }, ctx);
    const lb = await getLb(deps.store.db, id);
    if (graph) return renderFullLoadBalancer(deps.store.db, lb, order);
    return (await renderLoadBalancers(deps.store.db, [lb], { createShape: true }))[0];
  }

  async update(ctx: RequestContext, id: string, b: LoadBalancerPut): Promise<Rendered> {
    const lb = await getLb(this.deps.store.db, id);
    authorize(ctx, lb.project_id);
    if (b.vip_qos_policy_id !== undefined) throw lbErrors.validation('VIP QoS policy is not allowed in this deployment.');
    await this.deps.uow.run(async (w) => {
      const { trx } = w;
      await lockLoadBalancer(trx, lb.id, 'PENDING_UPDATE', 'pending');
      const set: Updateable<LbLoadBalancersTable> = {};
      if ('name' in b) set.name = b.name ?? '';
      if ('description' in b) set.description = b.description ?? '';
      if ('admin_state_up' in b && b.admin_state_up !== null) set.admin_state_up = b.admin_state_up ? 1 : 0;
      if (Object.keys(set).length) await trx.updateTable('lb_loadbalancers').set(set).where('id', '=', lb.id).execute();
      await writeTags(trx, 'loadbalancer', lb.id, b.tags);
      w.changed('loadbalancer', lb.id, lb.project_id, 'update');
    }, ctx);
    return this.show(ctx, lb.id);
  }

  async delete(ctx: RequestContext, id: string, cascade: boolean): Promise<void> {
    const lb = await getLb(this.deps.store.db, id);
    authorize(ctx, lb.project_id);
    await this.deps.uow.run(async (w) => {
      const { trx } = w;
      // Read again inside the transaction: a concurrent delete may have removed it since the
      // check above (the retry after a serialization conflict sees it gone), and Octavia's answer
      // then is the load balancer's 404.
      const g = await loadGraph(trx, lb.id);
      if (!g || g.lb.provisioning_status === 'DELETED') throw lbErrors.notFound(MODEL_NAMES.loadbalancer, id);
      if ((g.listeners.length || g.pools.length) && !cascade) {
        throw lbErrors.validation(`Cannot delete Load Balancer ${lb.id} - it has children`);
      }
      await lockLoadBalancer(trx, lb.id, 'PENDING_DELETE', 'pending');
      if (cascade) {
        const ids = (rows: Array<{ id: string }>) => rows.map((x) => x.id);
        await setProvisioning(trx, 'lb_listeners', ids(g.listeners), PROVISIONING.PENDING_DELETE);
        await setProvisioning(trx, 'lb_pools', ids(g.pools), PROVISIONING.PENDING_DELETE);
        await setProvisioning(trx, 'lb_members', ids(g.members), PROVISIONING.PENDING_DELETE);
        await setProvisioning(trx, 'lb_healthmonitors', ids(g.monitors.filter((m) => m.pool_id)), PROVISIONING.PENDING_DELETE);
        await setProvisioning(trx, 'lb_l7policies', ids(g.l7policies), PROVISIONING.PENDING_DELETE);
        await setProvisioning(trx, 'lb_l7rules', ids(g.l7rules), PROVISIONING.PENDING_DELETE);
      }
      w.changed('loadbalancer', lb.id, lb.project_id, 'update');
    }, ctx);
  }

  /** GET /loadbalancers/{id}/status: the tree of provisioning and operating statuses. */
  async statusTree(ctx: RequestContext, id: string) {
    const lb = await getLb(this.deps.store.db, id);
    authorize(ctx, lb.project_id);
    const g = (await loadGraph(this.deps.store.db, lb.id))!;
    const poolNode = (poolId: string): PoolStatus => {
      const p = g.pools.find((x) => x.id === poolId)!;
      const hm = g.monitors.find((m) => m.pool_id === p.id) ?? g.monitorOf.get(p.id);
      return {
        id: p.id,
        name: p.name ?? '',
        provisioning_status: p.provisioning_status,
        operating_status: p.operating_status,
        ...(hm
          ? {
              health_monitor: {
                id: hm.id,
                name: hm.name ?? '',
                type: hm.type,
                provisioning_status: hm.provisioning_status,
                operating_status: hm.operating_status,
              },
            }
          : {}),
        members: g.members
          .filter((m) => m.pool_id === p.id)
          .map((m) => ({
            id: m.id,
            name: m.name ?? '',
            operating_status: m.operating_status,
            provisioning_status: m.provisioning_status,
            address: m.address,
            protocol_port: m.protocol_port,
          })),
      };
    };
    const listeners = g.listeners.map((l) => {
      const poolIds = g.pools
        .filter((p) => poolListenerIds(p.id, g.listeners, g.l7policies, g.l7rules).includes(l.id) || p.id === l.default_pool_id)
        .map((p) => p.id);
      const ordered = [...new Set([...(l.default_pool_id ? [l.default_pool_id] : []), ...poolIds])];
      return {
        id: l.id,
        name: l.name ?? '',
        operating_status: l.operating_status,
        provisioning_status: l.provisioning_status,
        pools: ordered.map(poolNode),
      };
    });
    return {
      loadbalancer: {
        id: lb.id,
        name: lb.name ?? '',
        operating_status: lb.operating_status,
        provisioning_status: lb.provisioning_status,
        listeners,
      },
    };
  }

  async stats(ctx: RequestContext, id: string): Promise<ListenerCounters> {
    const lb = await getLb(this.deps.store.db, id);
    authorize(ctx, lb.project_id);
    const listeners = await this.deps.store.db.selectFrom('lb_listeners').select('id').where('loadbalancer_id', '=', lb.id).execute();
    return listenerStats(
      this.deps.store.db,
      listeners.map((l) => l.id),
    );
  }

  /** PUT /loadbalancers/{id}/failover: the engine rebuilds the load balancer from scratch. */
  async failover(ctx: RequestContext, id: string): Promise<void> {
    const lb = await getLb(this.deps.store.db, id);
    // Failover is an operator action (Octavia's default policy: load-balancer admins only).
    if (!isLbAdmin(ctx)) throw lbErrors.policyForbidden();
    await this.deps.uow.run(async (w) => {
      const { trx } = w;
      const res = await trx
        .updateTable('lb_loadbalancers')
        .set({ provisioning_status: PROVISIONING.PENDING_UPDATE })
        .where('id', '=', lb.id)
        .where('provisioning_status', 'in', [PROVISIONING.ACTIVE, PROVISIONING.ERROR])
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) !== 1) {
        const cur = await trx.selectFrom('lb_loadbalancers').select('provisioning_status').where('id', '=', lb.id).executeTakeFirst();
        throw lbErrors.lbPending(cur?.provisioning_status ?? 'DELETED', lb.id);
      }
      w.changed('loadbalancer', lb.id, lb.project_id, 'failover');
    }, ctx);
  }
}
