/**
 * The load-balancing object model shared by Octavia v2 and LBaaS v1: row types, the whole tree of
 * one load balancer as the engine and the status tree see it, and the relations rendering needs.
 */
import type { Q } from '../../store/db.js';
import { chunks } from '../../store/db.js';
import type {
  LbBase,
  LbHealthMonitorsTable,
  LbL7PoliciesTable,
  LbL7RulesTable,
  LbListenersTable,
  LbLoadBalancersTable,
  LbMembersTable,
  LbPoolsTable,
} from '../../store/schema.js';
import type { OperatingStatus, ProvisioningStatus } from './constants.js';

/**
 * A load-balancing row as the store holds it, its two statuses narrowed to Octavia's vocabulary.
 * The store keeps them as text; every writer (the operations in this folder and the engine's
 * write-back through status.ts) sets them from PROVISIONING and OPERATING only.
 */
export type WithStatus<R extends LbBase> = Omit<R, 'provisioning_status' | 'operating_status'> & {
  provisioning_status: ProvisioningStatus;
  operating_status: OperatingStatus;
};

export type LbRow = WithStatus<LbLoadBalancersTable>;
export type ListenerRow = WithStatus<LbListenersTable>;
export type PoolRow = WithStatus<LbPoolsTable>;
export type MemberRow = WithStatus<LbMembersTable>;
export type MonitorRow = WithStatus<LbHealthMonitorsTable>;
export type L7PolicyRow = WithStatus<LbL7PoliciesTable>;
export type L7RuleRow = WithStatus<LbL7RulesTable>;

/** The tables of load-balancing objects and the row each holds. */
export interface LbRows {
  lb_loadbalancers: LbRow;
  lb_listeners: ListenerRow;
  lb_pools: PoolRow;
  lb_members: MemberRow;
  lb_healthmonitors: MonitorRow;
  lb_l7policies: L7PolicyRow;
  lb_l7rules: L7RuleRow;
}
export type LbTable = keyof LbRows;

/** Rows read from the store, seen with their statuses' vocabulary (see WithStatus). */
export const withStatus = <R extends LbBase>(rows: R[]): WithStatus<R>[] => rows as WithStatus<R>[];
export const oneWithStatus = <R extends LbBase>(row: R | undefined): WithStatus<R> | undefined => row as WithStatus<R> | undefined;

/** Octavia's timestamps: "2026-11-26T13:39:31" (UTC, seconds, no zone suffix). */
export const octaviaTime = (d: Date = new Date()): string => d.toISOString().slice(0, 19);

/** Tag resource types in the shared `tags` table. */
export const TAG_TYPES = {
  loadbalancer: 'lb_loadbalancer',
  listener: 'lb_listener',
  pool: 'lb_pool',
  member: 'lb_member',
  healthmonitor: 'lb_healthmonitor',
  l7policy: 'lb_l7policy',
  l7rule: 'lb_l7rule',
} as const;
export type LbResource = keyof typeof TAG_TYPES;

/** Everything one load balancer consists of, read in one go. */
export interface LbGraph {
  lb: LbRow;
  listeners: ListenerRow[];
  pools: PoolRow[];
  members: MemberRow[];
  /** Monitors in effect, keyed by pool: the pool's v2 monitor, else its first v1 association. */
  monitorOf: Map<string, MonitorRow>;
  /** Every monitor row bound to a pool of this load balancer (v2, and v1 associations). */
  monitors: MonitorRow[];
  l7policies: L7PolicyRow[];
  l7rules: L7RuleRow[];
}

export async function loadGraph(q: Q, lbId: string): Promise<LbGraph | undefined> {
  const frame = await loadFrame(q, lbId);
  if (!frame) return undefined;
  const poolIds = frame.pools.map((p) => p.id);
  const members = withStatus(
    poolIds.length ? await q.selectFrom('lb_members').selectAll().where('pool_id', 'in', poolIds).orderBy('created_at').orderBy('id').execute() : [],
  );
  return { ...frame, members };
}

/**
 * The graph of `known.lb` again with only the members `memberIds` read from the store, the others
 * taken from `known` (issue 17: a member add must not read the pool's every member), and which of
 * the members asked for are still there. Returns undefined when the load balancer is gone, null when what `known` holds cannot be patched (a
 * pool came or went: the caller reads the whole graph). The result equals loadGraph's as long as
 * every member row of the load balancer written since `known` was read is in `memberIds`.
 */
export async function reloadGraph(q: Q, known: LbGraph, memberIds: ReadonlySet<string>): Promise<Reloaded | null | undefined> {
  const frame = await loadFrame(q, known.lb.id);
  if (!frame) return undefined;
  if (frame.pools.length !== known.pools.length || frame.pools.some((p, i) => p.id !== known.pools[i].id)) return null;
  const poolIds = frame.pools.map((p) => p.id);
  const ids = [...memberIds];
  const fresh: MemberRow[] = [];
  for (const chunk of chunks(ids, 500)) {
    if (chunk.length && poolIds.length)
      fresh.push(...withStatus(await q.selectFrom('lb_members').selectAll().where('id', 'in', chunk).where('pool_id', 'in', poolIds).execute()));
  }
  return { graph: { ...frame, members: patchMembers(known.members, fresh, memberIds) }, found: new Set(fresh.map((m) => m.id)) };
}

/** A graph read again (reloadGraph), with the members asked for that it still holds. */
export interface Reloaded {
  graph: LbGraph;
  found: ReadonlySet<string>;
}

/** loadGraph's member order: created_at, then id. */
const memberOrder = (a: MemberRow, b: MemberRow) =>
  a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;

/**
 * `members` (in loadGraph's order) with the rows of `asked` replaced by `fresh`: a row asked for
 * and not found is gone, a found one not held yet is inserted where loadGraph would place it.
 */
export function patchMembers(members: readonly MemberRow[], fresh: readonly MemberRow[], asked: ReadonlySet<string>): MemberRow[] {
  const byId = new Map(fresh.map((m) => [m.id, m]));
  const out: MemberRow[] = [];
  for (const m of members) {
    if (!asked.has(m.id)) out.push(m);
    else {
      const f = byId.get(m.id);
      byId.delete(m.id);
      // A row whose creation time moved (it cannot: created_at is written once) would be re-placed below.
      if (f && f.created_at === m.created_at) out.push(f);
      else if (f) byId.set(f.id, f);
    }
  }
  for (const f of [...byId.values()].sort(memberOrder)) {
    // Binary search for the first member after `f`: new members are usually the newest (the end).
    let lo = 0;
    let hi = out.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (memberOrder(out[mid], f) <= 0) lo = mid + 1;
      else hi = mid;
    }
    out.splice(lo, 0, f);
  }
  return out;
}

/** Everything of a load balancer but its members (a few rows: what a member change does not touch). */
async function loadFrame(q: Q, lbId: string): Promise<Omit<LbGraph, 'members'> | undefined> {
  const lb = oneWithStatus(await q.selectFrom('lb_loadbalancers').selectAll().where('id', '=', lbId).executeTakeFirst());
  if (!lb) return undefined;
  const listeners = withStatus(
    await q.selectFrom('lb_listeners').selectAll().where('loadbalancer_id', '=', lbId).orderBy('created_at').orderBy('id').execute(),
  );
  const pools = withStatus(await q.selectFrom('lb_pools').selectAll().where('loadbalancer_id', '=', lbId).orderBy('created_at').orderBy('id').execute());
  const poolIds = pools.map((p) => p.id);
  const v2 = withStatus(poolIds.length ? await q.selectFrom('lb_healthmonitors').selectAll().where('pool_id', 'in', poolIds).execute() : []);
  const assoc = withStatus(
    poolIds.length
      ? await q
          .selectFrom('lb_v1_pool_monitors as a')
          .innerJoin('lb_healthmonitors as h', 'h.id', 'a.monitor_id')
          .selectAll('h')
          .select(['a.pool_id as assoc_pool_id'])
          .where('a.pool_id', 'in', poolIds)
          .orderBy('a.created_at')
          .execute()
      : [],
  );
  const monitorOf = new Map<string, MonitorRow>();
  for (const m of v2) monitorOf.set(m.pool_id!, m);
  const monitors: MonitorRow[] = [...v2];
  for (const a of assoc) {
    const { assoc_pool_id, ...m } = a;
    if (!monitorOf.has(assoc_pool_id)) monitorOf.set(assoc_pool_id, m);
    if (!monitors.some((x) => x.id === m.id)) monitors.push(m);
  }
  const listenerIds = listeners.map((l) => l.id);
  const l7policies = withStatus(
    listenerIds.length ? await q.selectFrom('lb_l7policies').selectAll().where('listener_id', 'in', listenerIds).orderBy('position').execute() : [],
  );
  const policyIds = l7policies.map((p) => p.id);
  const l7rules = withStatus(
    policyIds.length ? await q.selectFrom('lb_l7rules').selectAll().where('l7policy_id', 'in', policyIds).orderBy('created_at').orderBy('id').execute() : [],
  );
  return { lb, listeners, pools, monitorOf, monitors, l7policies, l7rules };
}

/** Listeners actually using a pool: as default pool, or through an enabled L7 policy with rules. */
export function poolListenerIds(
  poolId: string,
  listeners: ReadonlyArray<Pick<ListenerRow, 'id' | 'default_pool_id'>>,
  policies: ReadonlyArray<Pick<L7PolicyRow, 'id' | 'listener_id' | 'redirect_pool_id' | 'admin_state_up'>>,
  rules: ReadonlyArray<Pick<L7RuleRow, 'l7policy_id'>>,
): string[] {
  const out = listeners.filter((l) => l.default_pool_id === poolId).map((l) => l.id);
  for (const p of policies) {
    if (p.redirect_pool_id !== poolId || p.admin_state_up !== 1) continue;
    if (!rules.some((r) => r.l7policy_id === p.id)) continue;
    if (!out.includes(p.listener_id)) out.push(p.listener_id);
  }
  return out;
}

/** Tags of many objects of one kind, in one query per 500 ids. */
export async function loadTagMap(q: Q, kind: LbResource, ids: string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const id of ids) out.set(id, []);
  for (const chunk of chunks(ids, 500)) {
    if (!chunk.length) continue;
    const rows = await q
      .selectFrom('tags')
      .select(['resource_id', 'tag'])
      .where('resource_type', '=', TAG_TYPES[kind])
      .where('resource_id', 'in', chunk)
      // Each resource's tags in order, as the primary key (type, resource, tag) holds them: no sort.
      .orderBy('resource_id')
      .orderBy('tag')
      .execute();
    for (const r of rows) out.get(r.resource_id)?.push(r.tag);
  }
  return out;
}
