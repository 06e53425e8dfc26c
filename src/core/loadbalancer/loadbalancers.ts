/**
 * Octavia load balancers: create (with its VIP port), update, delete (with cascade), the status
 * tree, statistics and failover.
 */
import { uuid as newUuid } from '../../util/ids.js';
import type { Q } from '../../store/db.js';
import type { RequestContext } from '../context.js';
import { authorize, getLb, isLbAdmin } from './access.js';
import { MODEL_NAMES, PROVISIONING, OPERATING } from './constants.js';
import { type LbDeps, checkProvider } from './deps.js';
import { lbErrors } from './errors.js';
import { type LbRow, loadGraph, octaviaTime, poolListenerIds } from './model.js';
import { type ListSpec, OBJECT_COLUMNS, listV2Page } from './query.js';
import { checkQuota } from './quotas.js';
import { renderLoadBalancers } from './render.js';
import { lockLoadBalancer, setProvisioning, writeTags } from './status.js';
import { allocateVip, planVip } from './vip.js';

type Dict = Record<string, any>;

export const LB_LIST: ListSpec = {
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

export async function listLoadBalancers(deps: LbDeps, ctx: RequestContext, params: Map<string, string[]>, url: URL) {
  const page = await listV2Page(deps.store.db, ctx, LB_LIST, params, url);
  return { items: await renderLoadBalancers(deps.store.db, page.rows as LbRow[], { fields: page.fields }), links: page.links };
}

export async function showLoadBalancer(deps: LbDeps, ctx: RequestContext, id: string, fields?: string[]) {
  const lb = await getLb(deps.store.db, id);
  authorize(ctx, lb.project_id);
  return (await renderLoadBalancers(deps.store.db, [lb], { fields }))[0];
}

async function checkFlavorAndZone(q: Q, b: Dict): Promise<string | undefined> {
  let flavorProvider: string | undefined;
  if (b.flavor_id !== undefined) {
    const flavor = b.flavor_id
      ? await q
          .selectFrom('lb_flavors as f')
          .innerJoin('lb_flavor_profiles as p', 'p.id', 'f.flavor_profile_id')
          .select(['f.enabled', 'p.provider_name'])
          .where('f.id', '=', b.flavor_id)
          .executeTakeFirst()
      : undefined;
    if (!flavor) throw lbErrors.validation('Invalid flavor_id.');
    if (flavor.enabled !== 1) throw lbErrors.disabledOption('flavor', b.flavor_id);
    flavorProvider = flavor.provider_name;
  }
  if (b.availability_zone !== undefined) {
    const az = b.availability_zone
      ? await q.selectFrom('lb_availability_zones').select('enabled').where('name', '=', b.availability_zone).executeTakeFirst()
      : undefined;
    if (!az) throw lbErrors.validation('Invalid availability zone.');
    if (az.enabled !== 1) throw lbErrors.disabledOption('availability_zone', b.availability_zone);
  }
  return flavorProvider;
}

export async function createLoadBalancer(deps: LbDeps, ctx: RequestContext, b: Dict) {
  const project: string | undefined = b.project_id ?? ctx.projectId ?? undefined;
  if (!project) throw lbErrors.missingProject();
  authorize(ctx, project);
  const plan = await planVip(deps.network, ctx, b, deps.networkDriver);
  const flavorProvider = await checkFlavorAndZone(deps.store.db, b);
  let provider: string;
  if (b.provider === undefined || b.provider === null) provider = flavorProvider ?? checkProvider(undefined);
  else {
    if (flavorProvider && flavorProvider !== b.provider) {
      throw lbErrors.flavorMismatch(b.flavor_id, b.provider);
    }
    provider = b.provider;
  }
  checkProvider(provider);
  if ((b.listeners?.length ?? 0) > 0 || (b.pools?.length ?? 0) > 0) {
    throw lbErrors.notImplementedAction(
      provider,
      'Creating a fully populated load balancer (listeners and pools in one call) is not implemented by this engine.',
    );
  }
  if ((b.additional_vips?.length ?? 0) > 0) {
    throw lbErrors.unsupportedOption(provider, 'additional VIPs are not supported by this engine.');
  }
  const id = newUuid();
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
    const vip = await allocateVip(w, deps.network, ctx, plan, { id, projectId: project, deviceOwner: 'Octavia', name: `octavia-lb-${id}`, host: deps.host });
    await trx.updateTable('lb_loadbalancers').set({ vip_port_id: vip.portId, vip_address: vip.address }).where('id', '=', id).execute();
    await writeTags(trx, 'loadbalancer', id, b.tags);
    w.changed('loadbalancer', id, project, 'create');
  });
  const lb = await getLb(deps.store.db, id);
  return (await renderLoadBalancers(deps.store.db, [lb], { createShape: true }))[0];
}

export async function updateLoadBalancer(deps: LbDeps, ctx: RequestContext, id: string, b: Dict) {
  const lb = await getLb(deps.store.db, id);
  authorize(ctx, lb.project_id);
  if (b.vip_qos_policy_id !== undefined) throw lbErrors.validation('VIP QoS policy is not allowed in this deployment.');
  await deps.uow.run(async (w) => {
    const { trx } = w;
    await lockLoadBalancer(trx, lb.id, 'PENDING_UPDATE', 'pending');
    const set: Dict = {};
    if ('name' in b) set.name = b.name ?? '';
    if ('description' in b) set.description = b.description ?? '';
    if ('admin_state_up' in b && b.admin_state_up !== null) set.admin_state_up = b.admin_state_up ? 1 : 0;
    if (Object.keys(set).length) await trx.updateTable('lb_loadbalancers').set(set).where('id', '=', lb.id).execute();
    await writeTags(trx, 'loadbalancer', lb.id, b.tags);
    w.changed('loadbalancer', lb.id, lb.project_id, 'update');
  });
  return showLoadBalancer(deps, ctx, lb.id);
}

export async function deleteLoadBalancer(deps: LbDeps, ctx: RequestContext, id: string, cascade: boolean): Promise<void> {
  const lb = await getLb(deps.store.db, id);
  authorize(ctx, lb.project_id);
  await deps.uow.run(async (w) => {
    const { trx } = w;
    const g = (await loadGraph(trx, lb.id))!;
    if ((g.listeners.length || g.pools.length) && !cascade) {
      throw lbErrors.validation(`Cannot delete Load Balancer ${lb.id} - it has children`);
    }
    await lockLoadBalancer(trx, lb.id, 'PENDING_DELETE', 'pending');
    if (cascade) {
      await setProvisioning(
        trx,
        'lb_listeners',
        g.listeners.map((x) => x.id),
        PROVISIONING.PENDING_DELETE,
      );
      await setProvisioning(
        trx,
        'lb_pools',
        g.pools.map((x) => x.id),
        PROVISIONING.PENDING_DELETE,
      );
      await setProvisioning(
        trx,
        'lb_members',
        g.members.map((x) => x.id),
        PROVISIONING.PENDING_DELETE,
      );
      await setProvisioning(
        trx,
        'lb_healthmonitors',
        g.monitors.filter((m) => m.pool_id).map((x) => x.id),
        PROVISIONING.PENDING_DELETE,
      );
      await setProvisioning(
        trx,
        'lb_l7policies',
        g.l7policies.map((x) => x.id),
        PROVISIONING.PENDING_DELETE,
      );
      await setProvisioning(
        trx,
        'lb_l7rules',
        g.l7rules.map((x) => x.id),
        PROVISIONING.PENDING_DELETE,
      );
    }
    w.changed('loadbalancer', lb.id, lb.project_id, 'update');
  });
}

/** GET /loadbalancers/{id}/status: the tree of provisioning and operating statuses. */
export async function statusTree(deps: LbDeps, ctx: RequestContext, id: string) {
  const lb = await getLb(deps.store.db, id);
  authorize(ctx, lb.project_id);
  const g = (await loadGraph(deps.store.db, lb.id))!;
  const poolNode = (poolId: string) => {
    const p = g.pools.find((x) => x.id === poolId)!;
    const hm = g.monitors.find((m) => m.pool_id === p.id) ?? g.monitorOf.get(p.id);
    const node: Dict = { id: p.id, name: p.name ?? '', provisioning_status: p.provisioning_status, operating_status: p.operating_status };
    if (hm) {
      node.health_monitor = {
        id: hm.id,
        name: hm.name ?? '',
        type: hm.type,
        provisioning_status: hm.provisioning_status,
        operating_status: hm.operating_status,
      };
    }
    node.members = g.members
      .filter((m) => m.pool_id === p.id)
      .map((m) => ({
        id: m.id,
        name: m.name ?? '',
        operating_status: m.operating_status,
        provisioning_status: m.provisioning_status,
        address: m.address,
        protocol_port: m.protocol_port,
      }));
    return node;
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

export interface Stats {
  bytes_in: number;
  bytes_out: number;
  active_connections: number;
  total_connections: number;
  request_errors: number;
}

export async function listenerStats(q: Q, listenerIds: string[]): Promise<Stats> {
  const out: Stats = { bytes_in: 0, bytes_out: 0, active_connections: 0, total_connections: 0, request_errors: 0 };
  if (!listenerIds.length) return out;
  const rows = await q.selectFrom('lb_listener_stats').selectAll().where('listener_id', 'in', listenerIds).execute();
  for (const r of rows) {
    out.bytes_in += Number(r.bytes_in);
    out.bytes_out += Number(r.bytes_out);
    out.active_connections += Number(r.active_connections);
    out.total_connections += Number(r.total_connections);
    out.request_errors += Number(r.request_errors);
  }
  return out;
}

export async function loadBalancerStats(deps: LbDeps, ctx: RequestContext, id: string): Promise<Stats> {
  const lb = await getLb(deps.store.db, id);
  authorize(ctx, lb.project_id);
  const listeners = await deps.store.db.selectFrom('lb_listeners').select('id').where('loadbalancer_id', '=', lb.id).execute();
  return listenerStats(
    deps.store.db,
    listeners.map((l) => l.id),
  );
}

/** PUT /loadbalancers/{id}/failover: the engine rebuilds the load balancer from scratch. */
export async function failoverLoadBalancer(deps: LbDeps, ctx: RequestContext, id: string): Promise<void> {
  const lb = await getLb(deps.store.db, id);
  // Failover is an operator action (Octavia's default policy: load-balancer admins only).
  if (!isLbAdmin(ctx)) throw lbErrors.policyForbidden();
  await deps.uow.run(async (w) => {
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
  });
}

export const LB_NAME = MODEL_NAMES.loadbalancer;
