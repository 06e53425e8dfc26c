/**
 * Who may do what (Octavia's "owner or admin" policy) and reading single objects with Octavia's
 * not-found wording. A foreign object exists but is refused with 403, as Octavia does.
 */
import type { Q } from '../../store/db.js';
import type { RequestContext } from '../context.js';
import { MODEL_NAMES } from './constants.js';
import { lbErrors } from './errors.js';
import { type L7PolicyRow, type L7RuleRow, type LbRow, type ListenerRow, type MemberRow, type MonitorRow, type PoolRow, oneWithStatus } from './model.js';
import { canonicalUuid } from './wsme.js';

const LB_ADMIN_ROLE = 'load-balancer_admin';

/** Cloud admins and holders of Octavia's load-balancer_admin role act on every project. */
export const isLbAdmin = (ctx: RequestContext): boolean => ctx.isAdmin || ctx.roles.includes(LB_ADMIN_ROLE);

export function authorize(ctx: RequestContext, projectId: string): void {
  if (isLbAdmin(ctx)) return;
  if (ctx.projectId === null || ctx.projectId !== projectId) throw lbErrors.policyForbidden();
}

/** Projects a list may show: every project for admins (optionally one), else the caller's own. */
export function listScope(ctx: RequestContext, projectFilter: string | undefined): string | undefined {
  if (isLbAdmin(ctx)) return projectFilter;
  if (ctx.projectId === null) throw lbErrors.policyForbidden();
  if (projectFilter !== undefined && projectFilter !== ctx.projectId) throw lbErrors.policyForbidden();
  return ctx.projectId;
}

/** Octavia answers 404 for ids that are not UUIDs too ("Load Balancer not-a-uuid not found."). */
const key = (id: string) => canonicalUuid(id) ?? id;

export async function getLb(q: Q, id: string, api: 'v2' | 'v1' = 'v2'): Promise<LbRow> {
  const row = oneWithStatus(await q.selectFrom('lb_loadbalancers').selectAll().where('id', '=', key(id)).where('api', '=', api).executeTakeFirst());
  if (!row || row.provisioning_status === 'DELETED') throw lbErrors.notFound(MODEL_NAMES.loadbalancer, id);
  return row;
}

export async function getListener(q: Q, id: string): Promise<ListenerRow> {
  const row = oneWithStatus(await q.selectFrom('lb_listeners').selectAll().where('id', '=', key(id)).where('api', '=', 'v2').executeTakeFirst());
  if (!row) throw lbErrors.notFound(MODEL_NAMES.listener, id);
  return row;
}

export async function getPool(q: Q, id: string): Promise<PoolRow> {
  const row = oneWithStatus(await q.selectFrom('lb_pools').selectAll().where('id', '=', key(id)).where('api', '=', 'v2').executeTakeFirst());
  if (!row) throw lbErrors.notFound(MODEL_NAMES.pool, id);
  return row;
}

export async function getMember(q: Q, id: string): Promise<MemberRow> {
  const row = oneWithStatus(await q.selectFrom('lb_members').selectAll().where('id', '=', key(id)).where('api', '=', 'v2').executeTakeFirst());
  if (!row) throw lbErrors.notFound(MODEL_NAMES.member, id);
  return row;
}

export async function getMonitor(q: Q, id: string): Promise<MonitorRow> {
  const row = oneWithStatus(await q.selectFrom('lb_healthmonitors').selectAll().where('id', '=', key(id)).where('api', '=', 'v2').executeTakeFirst());
  if (!row) throw lbErrors.notFound(MODEL_NAMES.healthmonitor, id);
  return row;
}

export async function getL7Policy(q: Q, id: string): Promise<L7PolicyRow> {
  const row = oneWithStatus(await q.selectFrom('lb_l7policies').selectAll().where('id', '=', key(id)).where('api', '=', 'v2').executeTakeFirst());
  if (!row) throw lbErrors.notFound(MODEL_NAMES.l7policy, id);
  return row;
}

export async function getL7Rule(q: Q, id: string): Promise<L7RuleRow> {
  const row = oneWithStatus(await q.selectFrom('lb_l7rules').selectAll().where('id', '=', key(id)).where('api', '=', 'v2').executeTakeFirst());
  if (!row) throw lbErrors.notFound(MODEL_NAMES.l7rule, id);
  return row;
}
