/**
 * The provisioning state machine. An API write marks the object PENDING_* and locks its load
 * balancer (PENDING_UPDATE), refusing any write while it is pending (409); the engine applies
 * the load balancer and then `completeApplied` (or `failApplied`) moves everything on: PENDING_CREATE
 * and PENDING_UPDATE become ACTIVE, PENDING_DELETE rows are removed. Operating status rolls up
 * from members to pools, listeners and the load balancer.
 */
import type { Q, Tx } from '../../store/db.js';
import { uuid as newUuid } from '../../util/ids.js';
import { OPERATING, type OperatingStatus, PROVISIONING, type PendingStatus, type ProvisioningStatus, isPending } from './constants.js';
import { lbErrors } from './errors.js';
import { type LbGraph, type LbResource, type LbRow, type LbTable, TAG_TYPES, octaviaTime } from './model.js';

/** What the state machine reads of any object: its id and where it stands. */
interface Provisioned {
  id: string;
  provisioning_status: ProvisioningStatus;
  admin_state_up: number;
}

/**
 * Octavia's test_and_set_provisioning_status: the load balancer must be ACTIVE (ACTIVE or ERROR
 * to delete); it becomes `status` atomically, or the request is refused.
 */
export async function lockLoadBalancer(
  trx: Tx,
  lbId: string,
  status: Extract<PendingStatus, 'PENDING_UPDATE' | 'PENDING_DELETE'>,
  refusal: 'immutable' | 'pending',
): Promise<void> {
  const acceptable: ProvisioningStatus[] = status === PROVISIONING.PENDING_DELETE ? [PROVISIONING.ACTIVE, PROVISIONING.ERROR] : [PROVISIONING.ACTIVE];
  const res = await trx
    .updateTable('lb_loadbalancers')
    .set({ provisioning_status: status })
    .where('id', '=', lbId)
    .where('provisioning_status', 'in', acceptable)
    .executeTakeFirst();
  if (Number(res.numUpdatedRows) === 1) return;
  const lb = await trx.selectFrom('lb_loadbalancers').select('provisioning_status').where('id', '=', lbId).executeTakeFirst();
  if (refusal === 'pending') throw lbErrors.lbPending(lb?.provisioning_status ?? 'DELETED', lbId);
  throw lbErrors.immutable('Load Balancer', lbId);
}

export async function setProvisioning(trx: Tx, table: LbTable, ids: string[], status: ProvisioningStatus): Promise<void> {
  if (!ids.length) return;
  await trx.updateTable(table).set({ provisioning_status: status }).where('id', 'in', ids).execute();
}

export async function deleteTags(trx: Tx, kind: LbResource, ids: string[]): Promise<void> {
  if (!ids.length) return;
  await trx.deleteFrom('tags').where('resource_type', '=', TAG_TYPES[kind]).where('resource_id', 'in', ids).execute();
}

/**
 * Replace an object's tags (`undefined`: not sent, leave them). No tag is null: the body parser
 * refuses null list items (wsme.ts).
 */
export async function writeTags(trx: Tx, kind: LbResource, id: string, tags: Iterable<string | null> | undefined | null): Promise<void> {
  if (tags === undefined) return;
  await trx.deleteFrom('tags').where('resource_type', '=', TAG_TYPES[kind]).where('resource_id', '=', id).execute();
  for (const tag of new Set(tags ?? [])) await trx.insertInto('tags').values({ resource_type: TAG_TYPES[kind], resource_id: id, tag: tag! }).execute();
}

/** Remove pool rows and what hangs off them. */
export async function deletePoolRows(trx: Tx, poolIds: string[]): Promise<void> {
  if (!poolIds.length) return;
  const members = await trx.selectFrom('lb_members').select('id').where('pool_id', 'in', poolIds).execute();
  await deleteTags(
    trx,
    'member',
    members.map((m) => m.id),
  );
  await trx.deleteFrom('lb_members').where('pool_id', 'in', poolIds).execute();
  const hms = await trx.selectFrom('lb_healthmonitors').select('id').where('pool_id', 'in', poolIds).execute();
  await deleteTags(
    trx,
    'healthmonitor',
    hms.map((h) => h.id),
  );
  await trx.deleteFrom('lb_v1_pool_monitors').where('pool_id', 'in', poolIds).execute();
  await trx.deleteFrom('lb_healthmonitors').where('pool_id', 'in', poolIds).execute();
  await trx.updateTable('lb_listeners').set({ default_pool_id: null }).where('default_pool_id', 'in', poolIds).execute();
  await trx.updateTable('lb_l7policies').set({ redirect_pool_id: null }).where('redirect_pool_id', 'in', poolIds).execute();
  await deleteTags(trx, 'pool', poolIds);
  await trx.deleteFrom('lb_pools').where('id', 'in', poolIds).execute();
}

/** Keep a listener's policies numbered 1..n, optionally moving one to a position first. */
export async function renumberPolicies(trx: Tx | Q, listenerId: string, move?: { id: string; position: number }): Promise<void> {
  const rows = await trx
    .selectFrom('lb_l7policies')
    .select(['id', 'position'])
    .where('listener_id', '=', listenerId)
    .orderBy('position')
    .orderBy('created_at')
    .execute();
  let ids = rows.map((r) => r.id);
  if (move) {
    ids = ids.filter((x) => x !== move.id);
    ids.splice(Math.max(0, Math.min(move.position - 1, ids.length)), 0, move.id);
  }
  for (let i = 0; i < ids.length; i++) {
    const cur = rows.find((r) => r.id === ids[i]);
    if (cur?.position !== i + 1)
      await trx
        .updateTable('lb_l7policies')
        .set({ position: i + 1 })
        .where('id', '=', ids[i])
        .execute();
  }
}

async function deletePolicyRows(trx: Tx, policyIds: string[]): Promise<void> {
  if (!policyIds.length) return;
  const rules = await trx.selectFrom('lb_l7rules').select('id').where('l7policy_id', 'in', policyIds).execute();
  await deleteTags(
    trx,
    'l7rule',
    rules.map((r) => r.id),
  );
  await trx.deleteFrom('lb_l7rules').where('l7policy_id', 'in', policyIds).execute();
  await deleteTags(trx, 'l7policy', policyIds);
  await trx.deleteFrom('lb_l7policies').where('id', 'in', policyIds).execute();
}

async function deleteListenerRows(trx: Tx, listenerIds: string[]): Promise<void> {
  if (!listenerIds.length) return;
  const policies = await trx.selectFrom('lb_l7policies').select('id').where('listener_id', 'in', listenerIds).execute();
  await deletePolicyRows(
    trx,
    policies.map((p) => p.id),
  );
  await trx.deleteFrom('lb_listener_stats').where('listener_id', 'in', listenerIds).execute();
  await deleteTags(trx, 'listener', listenerIds);
  await trx.deleteFrom('lb_listeners').where('id', 'in', listenerIds).execute();
}

export interface Completion {
  /** The load balancer row was removed (its VIP port must go too). */
  deletedLb?: LbRow;
}

/** Waiting to be applied (a PENDING_DELETE object is removed instead). */
const toApply = (s: ProvisioningStatus) => s === PROVISIONING.PENDING_CREATE || s === PROVISIONING.PENDING_UPDATE;

/**
 * The engine has applied `g`: advance every pending object of it. `served` says whether the
 * engine really runs this load balancer (operating status is then measured, not set here).
 */
export async function completeApplied(trx: Tx, g: LbGraph, opts: AppliedOptions = {}): Promise<Completion> {
  const now = octaviaTime();
  const lbId = g.lb.id;
  if (g.lb.provisioning_status === PROVISIONING.PENDING_DELETE) {
    await trx.deleteFrom('lb_amphorae').where('loadbalancer_id', '=', lbId).execute();
    await deleteListenerRows(
      trx,
      g.listeners.map((l) => l.id),
    );
    // v1 pools outlive their VIP: they are only detached.
    const v1Pools = g.pools.filter((p) => p.api === 'v1').map((p) => p.id);
    await deletePoolRows(
      trx,
      g.pools.filter((p) => p.api !== 'v1').map((p) => p.id),
    );
    if (v1Pools.length) {
      await trx.updateTable('lb_pools').set({ loadbalancer_id: null, updated_at: now }).where('id', 'in', v1Pools).execute();
    }
    await deleteTags(trx, 'loadbalancer', [lbId]);
    await trx.deleteFrom('lb_listener_stats').where('loadbalancer_id', '=', lbId).execute();
    await trx.deleteFrom('lb_loadbalancers').where('id', '=', lbId).execute();
    return { deletedLb: g.lb };
  }

  // Leaves first, so parents being deleted take nothing pending with them.
  const gone = (rows: Provisioned[]) => rows.filter((r) => r.provisioning_status === PROVISIONING.PENDING_DELETE).map((r) => r.id);
  const goneRules = gone(g.l7rules);
  if (goneRules.length) {
    await deleteTags(trx, 'l7rule', goneRules);
    await trx.deleteFrom('lb_l7rules').where('id', 'in', goneRules).execute();
  }
  const gonePolicies = g.l7policies.filter((p) => p.provisioning_status === PROVISIONING.PENDING_DELETE);
  await deletePolicyRows(
    trx,
    gonePolicies.map((p) => p.id),
  );
  for (const listenerId of new Set(gonePolicies.map((p) => p.listener_id))) await renumberPolicies(trx, listenerId);
  const goneMembers = gone(g.members);
  if (goneMembers.length) {
    await deleteTags(trx, 'member', goneMembers);
    await trx.deleteFrom('lb_members').where('id', 'in', goneMembers).execute();
  }
  const goneMonitors = g.monitors.filter((m) => m.api === 'v2' && m.provisioning_status === PROVISIONING.PENDING_DELETE).map((m) => m.id);
  if (goneMonitors.length) {
    await deleteTags(trx, 'healthmonitor', goneMonitors);
    await trx.deleteFrom('lb_healthmonitors').where('id', 'in', goneMonitors).execute();
    // Members are not measured any more.
    const pools = g.monitors.filter((m) => goneMonitors.includes(m.id)).map((m) => m.pool_id!);
    await trx.updateTable('lb_members').set({ operating_status: OPERATING.NO_MONITOR }).where('pool_id', 'in', pools).execute();
  }
  await deleteListenerRows(trx, gone(g.listeners));
  await deletePoolRows(trx, gone(g.pools));

  const activate = async (table: LbTable, rows: Provisioned[], extra: { operating_status?: OperatingStatus } = {}) => {
    const ids = rows.filter((r) => toApply(r.provisioning_status)).map((r) => r.id);
    if (!ids.length) return;
    await trx
      .updateTable(table)
      .set({ provisioning_status: PROVISIONING.ACTIVE, updated_at: now, ...extra })
      .where('id', 'in', ids)
      .execute();
  };
  // LBaaS v1 monitor associations of these pools are in effect now.
  const poolIds = g.pools.map((p) => p.id);
  if (poolIds.length) {
    await trx
      .updateTable('lb_v1_pool_monitors')
      .set({ status: PROVISIONING.ACTIVE })
      .where('pool_id', 'in', poolIds)
      .where('status', '!=', PROVISIONING.ACTIVE)
      .execute();
  }
  await activate('lb_listeners', g.listeners);
  await activate('lb_pools', g.pools);
  await activate('lb_members', g.members);
  // Monitors and L7 objects report ONLINE once configured (Octavia's worker does the same).
  const enabled = (rows: Provisioned[]) => rows.filter((r) => r.admin_state_up === 1);
  const disabled = (rows: Provisioned[]) => rows.filter((r) => r.admin_state_up !== 1);
  const v2Monitors = g.monitors.filter((m) => m.pool_id !== null);
  await activate('lb_healthmonitors', enabled(v2Monitors), { operating_status: OPERATING.ONLINE });
  await activate('lb_healthmonitors', disabled(v2Monitors), { operating_status: OPERATING.OFFLINE });
  await activate('lb_l7policies', enabled(g.l7policies), { operating_status: OPERATING.ONLINE });
  await activate('lb_l7policies', disabled(g.l7policies), { operating_status: OPERATING.OFFLINE });
  await activate('lb_l7rules', enabled(g.l7rules), { operating_status: OPERATING.ONLINE });
  await activate('lb_l7rules', disabled(g.l7rules), { operating_status: OPERATING.OFFLINE });
  if (g.lb.provisioning_status === PROVISIONING.PENDING_CREATE || opts.failover) await replaceAmphora(trx, g.lb, now, opts.servedAt ?? null);
  if (toApply(g.lb.provisioning_status)) {
    await trx
      .updateTable('lb_loadbalancers')
      .set({ provisioning_status: PROVISIONING.ACTIVE, updated_at: g.lb.provisioning_status === PROVISIONING.PENDING_CREATE ? now : now })
      .where('id', '=', lbId)
      .execute();
  }
  return {};
}

export interface AppliedOptions {
  /** A failover rebuilt the instance (a new amphora). */
  failover?: boolean;
  /** The address the instance listens on when it is not the VIP (the loopback placement). */
  servedAt?: string | null;
}

/** A new instance now serves the load balancer (first start, or failover). */
async function replaceAmphora(trx: Tx, lb: LbRow, now: string, servedAt: string | null): Promise<void> {
  await trx.deleteFrom('lb_amphorae').where('loadbalancer_id', '=', lb.id).execute();
  await trx
    .insertInto('lb_amphorae')
    .values({
      id: newUuid(),
      loadbalancer_id: lb.id,
      compute_id: newUuid(),
      status: 'ALLOCATED',
      role: 'STANDALONE',
      lb_network_ip: servedAt,
      vrrp_ip: lb.vip_address,
      ha_ip: lb.vip_address,
      vrrp_port_id: lb.vip_port_id,
      ha_port_id: lb.vip_port_id,
      created_at: now,
      updated_at: now,
    })
    .execute();
}

/**
 * The engine could not apply `g` (it keeps running the previous configuration): the objects
 * being created or changed go to ERROR, and the load balancer becomes usable again (ERROR if it
 * was itself being created).
 */
export async function failApplied(trx: Tx, g: LbGraph): Promise<void> {
  const now = octaviaTime();
  const fail = async (table: LbTable, rows: Provisioned[]) => {
    const ids = rows.filter((r) => isPending(r.provisioning_status)).map((r) => r.id);
    if (ids.length) await trx.updateTable(table).set({ provisioning_status: PROVISIONING.ERROR, updated_at: now }).where('id', 'in', ids).execute();
  };
  await fail('lb_listeners', g.listeners);
  await fail('lb_pools', g.pools);
  await fail('lb_members', g.members);
  await fail('lb_healthmonitors', g.monitors);
  await fail('lb_l7policies', g.l7policies);
  await fail('lb_l7rules', g.l7rules);
  const next = g.lb.provisioning_status === PROVISIONING.PENDING_UPDATE ? PROVISIONING.ACTIVE : PROVISIONING.ERROR;
  if (isPending(g.lb.provisioning_status)) {
    await trx.updateTable('lb_loadbalancers').set({ provisioning_status: next, updated_at: now }).where('id', '=', g.lb.id).execute();
  }
}

/** What the engine measured for one load balancer. */
export interface Health {
  /** member id → UP, DOWN, DRAIN, MAINT, NOCHECK */
  members: Map<string, 'UP' | 'DOWN' | 'DRAIN' | 'MAINT' | 'NOCHECK'>;
  /** listener id → OPEN (serving) or FULL (connection limit reached) or STOPPED */
  listeners: Map<string, 'OPEN' | 'FULL' | 'STOPPED'>;
}

/**
 * Operating statuses from a measurement, as Octavia's health manager derives them. Returns
 * table → id → status for the rows whose status differs from what the graph holds.
 */
export function operatingStatuses(g: LbGraph, h: Health): Map<LbTable, Map<string, OperatingStatus>> {
  const out = new Map<LbTable, Map<string, OperatingStatus>>();
  const set = (table: LbTable, id: string, current: OperatingStatus, next: OperatingStatus) => {
    if (current === next) return;
    if (!out.has(table)) out.set(table, new Map());
    out.get(table)!.set(id, next);
  };
  const lbUp = g.lb.admin_state_up === 1;
  const poolStatus = new Map<string, OperatingStatus>();
  for (const p of g.pools) {
    const monitor = g.monitorOf.get(p.id);
    const monitored = monitor !== undefined && monitor.admin_state_up === 1 && monitor.provisioning_status !== PROVISIONING.ERROR;
    const members = g.members.filter((m) => m.pool_id === p.id && m.provisioning_status !== PROVISIONING.PENDING_DELETE);
    let up = 0;
    let down = 0;
    for (const m of members) {
      let s: OperatingStatus;
      const measured = h.members.get(m.id);
      if (!lbUp || p.admin_state_up !== 1 || m.admin_state_up !== 1) s = OPERATING.OFFLINE;
      else if (m.weight === 0 && measured !== 'DOWN') s = OPERATING.DRAINING;
      else if (!monitored) s = OPERATING.NO_MONITOR;
      else if (measured === 'UP' || measured === 'DRAIN') s = OPERATING.ONLINE;
      else if (measured === 'DOWN') s = OPERATING.ERROR;
      else s = m.operating_status === OPERATING.NO_MONITOR ? OPERATING.OFFLINE : m.operating_status;
      if (s === OPERATING.ERROR) down++;
      else if (s === OPERATING.ONLINE || s === OPERATING.NO_MONITOR || s === OPERATING.DRAINING) up++;
      set('lb_members', m.id, m.operating_status, s);
    }
    const used = g.listeners.some((l) => l.default_pool_id === p.id) || g.l7policies.some((x) => x.redirect_pool_id === p.id);
    let ps: OperatingStatus;
    if (!lbUp || p.admin_state_up !== 1 || !used) ps = OPERATING.OFFLINE;
    else if (down > 0 && up === 0) ps = OPERATING.ERROR;
    else if (down > 0) ps = OPERATING.DEGRADED;
    else ps = OPERATING.ONLINE;
    poolStatus.set(p.id, ps);
    set('lb_pools', p.id, p.operating_status, ps);
  }
  let degraded = false;
  let anyOnline = false;
  for (const l of g.listeners) {
    const measured = h.listeners.get(l.id);
    let s: OperatingStatus;
    if (!lbUp || l.admin_state_up !== 1) s = OPERATING.OFFLINE;
    else if (measured === 'FULL') s = OPERATING.DEGRADED;
    else if (measured === 'OPEN') s = OPERATING.ONLINE;
    else s = OPERATING.OFFLINE;
    const pools = [l.default_pool_id, ...g.l7policies.filter((x) => x.listener_id === l.id).map((x) => x.redirect_pool_id)].filter(Boolean) as string[];
    if (s === OPERATING.ONLINE && pools.some((p) => poolStatus.get(p) === OPERATING.ERROR || poolStatus.get(p) === OPERATING.DEGRADED)) degraded = true;
    if (s === OPERATING.DEGRADED) degraded = true;
    if (s === OPERATING.ONLINE || s === OPERATING.DEGRADED) anyOnline = true;
    set('lb_listeners', l.id, l.operating_status, s);
  }
  let lbStatus: OperatingStatus;
  if (!lbUp) lbStatus = OPERATING.OFFLINE;
  else if (degraded) lbStatus = OPERATING.DEGRADED;
  else if (anyOnline || g.listeners.length === 0) lbStatus = OPERATING.ONLINE;
  else lbStatus = OPERATING.OFFLINE;
  set('lb_loadbalancers', g.lb.id, g.lb.operating_status, lbStatus);
  return out;
}

export async function writeOperatingStatuses(trx: Tx, changes: Map<LbTable, Map<string, OperatingStatus>>): Promise<void> {
  for (const [table, byId] of changes) {
    for (const [id, status] of byId) await trx.updateTable(table).set({ operating_status: status }).where('id', '=', id).execute();
  }
}

/** `g` with the operating statuses `changes` holds (what writeOperatingStatuses wrote), as new rows. */
export function withOperatingStatuses(g: LbGraph, changes: Map<LbTable, Map<string, OperatingStatus>>): LbGraph {
  const patch = <R extends { id: string; operating_status: OperatingStatus }>(table: LbTable, rows: R[]): R[] => {
    const byId = changes.get(table);
    if (!byId) return rows;
    return rows.map((r) => {
      const s = byId.get(r.id);
      return s === undefined ? r : { ...r, operating_status: s };
    });
  };
  const lbStatus = changes.get('lb_loadbalancers')?.get(g.lb.id);
  const monitors = patch('lb_healthmonitors', g.monitors);
  const monitorOf = new Map([...g.monitorOf].map(([pool, m]) => [pool, monitors.find((x) => x.id === m.id) ?? m]));
  return {
    lb: lbStatus === undefined ? g.lb : { ...g.lb, operating_status: lbStatus },
    listeners: patch('lb_listeners', g.listeners),
    pools: patch('lb_pools', g.pools),
    members: patch('lb_members', g.members),
    monitorOf,
    monitors,
    l7policies: patch('lb_l7policies', g.l7policies),
    l7rules: patch('lb_l7rules', g.l7rules),
  };
}
