/**
 * A fully populated load-balancer create: the load balancer with its listeners, pools, members,
 * health monitors and L7 policies (with their rules) in one call, as Octavia's
 * LoadBalancersController._graph_create and the controllers' own `_graph_create` build it. All of
 * it is written in the load balancer's own transaction, so a refusal anywhere leaves nothing
 * behind, and the engine first sees the whole graph (every object PENDING_CREATE) at once.
 *
 * Pools are created before listeners. A listener's `default_pool` or a policy's `redirect_pool`
 * is either a whole pool (moved to the load balancer's pools) or, when it carries nothing but its
 * name, a reference to a pool defined elsewhere in the body; pools are named for that reason.
 */
import type { Tx } from '../../store/db.js';
import { uuid as newUuid } from '../../util/ids.js';
import type { RequestContext } from '../context.js';
import * as C from './constants.js';
import type { LbDeps } from './deps.js';
import { lbErrors } from './errors.js';
import { type RuleInput, checkL7Served, checkRule, insertPolicy, sanitizePolicy } from './l7.js';
import { checkDefaultPool, checkProtocolPair, insertListener } from './listeners.js';
import { checkNotReserved, checkSubnet, insertMember } from './members.js';
import { getPool } from './access.js';
import type { LbRow, PoolRow } from './model.js';
import { checkForDatagramPool, insertMonitor } from './monitors.js';
import { checkSessionPersistence, insertPool } from './pools.js';
import { checkQuota } from './quotas.js';
import type { ListenerSingle, PoolSingle } from './schemas.js';

/**
 * Octavia tells a whole pool from a reference by its number of attributes: more than the name
 * and the two defaults every parsed pool carries (`admin_state_up`, `tls_enabled`).
 */
const isFullPool = (p: PoolSingle) => Object.keys(p).length > 3;

/** A list's items: none is null (the body parser refuses null list items, wsme.ts). */
const items = <T>(xs: ReadonlyArray<T | null> | null | undefined): T[] => (xs ?? []).map((x) => x!);

const POOL_MUST_BE_NAMED = 'Pools must be named when creating a fully populated loadbalancer.';

/** Every object created, in creation order (the response lists them in that order). */
export type GraphOrder = string[];

/**
 * Create the listeners and pools a load-balancer POST carries, on `lb` (created in this
 * transaction). Returns the ids made, in the order they were made.
 */
export async function createGraph(
  deps: LbDeps,
  ctx: RequestContext,
  trx: Tx,
  lb: LbRow,
  listeners: ListenerSingle[],
  lbPools: PoolSingle[],
): Promise<GraphOrder> {
  const order: GraphOrder = [];
  const pools = [...lbPools];
  // What each listener's default pool and each policy's redirect pool names, by position.
  const defaultPoolNames: Array<string | undefined> = [];
  const redirectPoolNames: Array<Array<string | undefined>> = [];
  const required = new Set<string>();
  const named = (p: PoolSingle | null | undefined): string | undefined => {
    if (!p) return undefined;
    if (!p.name) throw lbErrors.validation(POOL_MUST_BE_NAMED);
    if (isFullPool(p)) pools.push(p);
    else required.add(p.name);
    return p.name;
  };
  for (const li of listeners) {
    defaultPoolNames.push(named(li.default_pool));
    redirectPoolNames.push(items(li.l7policies).map((p) => named(p.redirect_pool)));
  }
  // Octavia compares the names as given: two unnamed pools at the top level clash too.
  const names = pools.map((p) => p.name ?? null);
  if (new Set(names).size !== names.length) {
    throw lbErrors.validation('Pool names must be unique when creating a fully populated loadbalancer.');
  }
  for (const ref of required) {
    if (!names.includes(ref)) throw lbErrors.validation(`Pool '${ref}' was referenced but no full definition was found.`);
  }

  if (pools.length) await checkQuota(trx, lb.project_id, 'pool', pools.length);
  const poolsByName = new Map<string, PoolRow>();
  for (const p of pools) {
    const row = await createPool(deps, ctx, trx, lb, p, order);
    if (p.name) poolsByName.set(p.name, row);
  }

  if (listeners.length) await checkQuota(trx, lb.project_id, 'listener', listeners.length);
  for (const [i, li] of listeners.entries()) {
    const id = newUuid();
    const protocol = li.protocol!;
    let defaultPoolId = li.default_pool_id ?? null;
    const defaultName = defaultPoolNames[i];
    if (defaultName !== undefined) defaultPoolId = poolByName(poolsByName, defaultName).id;
    // ListenersController._graph_create: a default pool of this load balancer, of a protocol
    // the listener can forward to.
    if (defaultPoolId) {
      if (protocol === 'PROMETHEUS') throw lbErrors.listenerNoChildren('PROMETHEUS');
      await checkDefaultPool(trx, lb.id, defaultPoolId, protocol);
    }
    await insertListener(deps, ctx, trx, lb, { ...li, default_pool_id: defaultPoolId }, id);
    order.push(id);
    const policies = items(li.l7policies);
    if (protocol === 'PROMETHEUS' && policies.length) throw lbErrors.listenerNoChildren('PROMETHEUS');
    for (const [j, pol] of policies.entries()) {
      const { redirect_pool: _ref, rules: given, ...rest } = pol;
      const redirectName = redirectPoolNames[i][j];
      const redirect = redirectName === undefined ? undefined : poolByName(poolsByName, redirectName);
      if (redirect) checkProtocolPair(protocol, redirect.protocol);
      const rules: RuleInput[] = items(given);
      if (rules.length > C.MAX_L7RULES_PER_POLICY) throw lbErrors.tooManyL7Rules('');
      for (const r of items(given)) checkRule(r);
      const v = sanitizePolicy({ ...rest, ...(redirect ? { redirect_pool_id: redirect.id } : {}) }, true);
      checkL7Served(lb.provider, protocol);
      const policyId = newUuid();
      await insertPolicy(trx, lb, { id, protocol }, v, rules, policyId);
      order.push(policyId);
    }
  }
  return order;
}

/**
 * Octavia's graph skips the subnet check its member POST makes; here every member's subnet is
 * checked as a member POST checks it (one the caller can use, holding the address), so no project
 * reaches another's network through a graph. Read before the transaction opens: the network
 * service reads on the store's own connection.
 */
export async function checkGraphSubnets(deps: LbDeps, ctx: RequestContext, listeners: ListenerSingle[], pools: PoolSingle[]): Promise<void> {
  const all = [...pools, ...listeners.flatMap((l) => [l.default_pool, ...items(l.l7policies).map((p) => p.redirect_pool)])];
  for (const p of all) {
    for (const m of items(p?.members)) if (m.subnet_id && m.address) await checkSubnet(deps, ctx, m.subnet_id, m.address);
  }
}

function poolByName(pools: Map<string, PoolRow>, name: string): PoolRow {
  const pool = pools.get(name);
  if (!pool) throw lbErrors.singleCreateDetailsMissing('Pool', name);
  return pool;
}

/**
 * PoolsController._graph_create: the pool, then its health monitor (so that its members start
 * OFFLINE rather than NO_MONITOR), then its members, each under the project's quota.
 */
async function createPool(deps: LbDeps, ctx: RequestContext, trx: Tx, lb: LbRow, p: PoolSingle, order: GraphOrder): Promise<PoolRow> {
  // Absent or null: Octavia bypasses its type checks to let name-only references through.
  for (const attr of ['protocol', 'lb_algorithm'] as const) {
    if (p[attr] === undefined || p[attr] === null) {
      throw lbErrors.validation(`Pool definition for '${p.name}' missing required attribute: ${attr}`);
    }
  }
  const protocol = p.protocol!;
  checkSessionPersistence(protocol, p.session_persistence);
  const id = newUuid();
  const { members, healthmonitor, ...pool } = p;
  await insertPool(deps, ctx, trx, lb, { ...pool, protocol, lb_algorithm: p.lb_algorithm! }, id);
  order.push(id);
  const row = await getPool(trx, id);
  if (healthmonitor) {
    await checkQuota(trx, lb.project_id, 'health_monitor');
    checkForDatagramPool(row, healthmonitor.type!, healthmonitor.delay ?? undefined);
    const hmId = newUuid();
    await insertMonitor(trx, lb, row, healthmonitor, hmId);
    order.push(hmId);
  }
  if (members?.length) {
    await checkQuota(trx, lb.project_id, 'member', members.length);
    for (const m of items(members)) {
      checkNotReserved(m.address!);
      order.push(await insertMember(trx, row, m));
    }
  }
  return row;
}
