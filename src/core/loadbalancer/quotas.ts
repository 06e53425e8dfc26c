/**
 * Octavia quotas: per project, per object kind; NULL (never set) means the default, which is
 * unlimited (-1) as in Octavia's stock configuration.
 */
import type { Q, Tx } from '../../store/db.js';
import type { RequestContext } from '../context.js';
import { authorize, isLbAdmin } from './access.js';
import { QUOTA_UNLIMITED } from './constants.js';
import type { LbDeps } from './deps.js';
import { lbErrors } from './errors.js';
import type { LbTable } from './model.js';
import type { QuotaPut } from './schemas.js';

const QUOTA_KINDS = ['load_balancer', 'listener', 'member', 'pool', 'health_monitor', 'l7policy', 'l7rule'] as const;
export type QuotaKind = (typeof QUOTA_KINDS)[number];

const TABLE: Record<QuotaKind, LbTable> = {
  load_balancer: 'lb_loadbalancers',
  listener: 'lb_listeners',
  member: 'lb_members',
  pool: 'lb_pools',
  health_monitor: 'lb_healthmonitors',
  l7policy: 'lb_l7policies',
  l7rule: 'lb_l7rules',
};

/** Octavia's readable names in "Quota has been met for resources: …". */
const LABEL: Record<QuotaKind, string> = {
  load_balancer: 'Load Balancer',
  listener: 'Listener',
  member: 'Member',
  pool: 'Pool',
  health_monitor: 'Health Monitor',
  l7policy: 'L7 Policy',
  l7rule: 'L7 Rule',
};

const DEFAULT_QUOTAS: Record<QuotaKind, number> = {
  load_balancer: QUOTA_UNLIMITED,
  listener: QUOTA_UNLIMITED,
  member: QUOTA_UNLIMITED,
  pool: QUOTA_UNLIMITED,
  health_monitor: QUOTA_UNLIMITED,
  l7policy: QUOTA_UNLIMITED,
  l7rule: QUOTA_UNLIMITED,
};

async function effectiveQuotas(q: Q, projectId: string): Promise<Record<QuotaKind, number>> {
  const row = await q.selectFrom('lb_quotas').selectAll().where('project_id', '=', projectId).executeTakeFirst();
  const out = { ...DEFAULT_QUOTAS };
  if (row) for (const k of QUOTA_KINDS) if (row[k] !== null) out[k] = row[k]!;
  return out;
}

/** Refuse a create that would take the project past its quota (inside the creating transaction). */
export async function checkQuota(trx: Tx, projectId: string, kind: QuotaKind, adding = 1): Promise<void> {
  const limit = (await effectiveQuotas(trx, projectId))[kind];
  if (limit === QUOTA_UNLIMITED) return;
  const n = await trx
    .selectFrom(TABLE[kind])
    .select(({ fn }) => fn.countAll<number>().as('n'))
    .where('project_id', '=', projectId)
    .executeTakeFirst();
  if (Number(n?.n ?? 0) + adding > limit) throw lbErrors.quota(LABEL[kind]);
}

function renderQuota(q: Record<QuotaKind, number>): Record<QuotaKind, number> {
  return {
    load_balancer: q.load_balancer,
    listener: q.listener,
    member: q.member,
    pool: q.pool,
    health_monitor: q.health_monitor,
    l7policy: q.l7policy,
    l7rule: q.l7rule,
  };
}

export class Quotas {
  constructor(private readonly deps: LbDeps) {}

  /** The quotas set per project (`loadbalancer`/`healthmonitor` repeat them under Octavia's older names). */
  async list(ctx: RequestContext, projectFilter?: string): Promise<Record<string, string | number | null>[]> {
    let qb = this.deps.store.db.selectFrom('lb_quotas').selectAll().orderBy('project_id');
    if (!isLbAdmin(ctx)) qb = qb.where('project_id', '=', ctx.projectId ?? '');
    if (projectFilter) qb = qb.where('project_id', '=', projectFilter);
    const rows = await qb.execute();
    return rows.map((r) => ({
      project_id: r.project_id,
      loadbalancer: r.load_balancer,
      load_balancer: r.load_balancer,
      listener: r.listener,
      member: r.member,
      pool: r.pool,
      healthmonitor: r.health_monitor,
      health_monitor: r.health_monitor,
      l7policy: r.l7policy,
      l7rule: r.l7rule,
      tenant_id: r.project_id,
    }));
  }

  defaults(): Record<QuotaKind, number> {
    return renderQuota(DEFAULT_QUOTAS);
  }

  async show(ctx: RequestContext, projectId: string): Promise<Record<QuotaKind, number>> {
    authorize(ctx, projectId);
    return renderQuota(await effectiveQuotas(this.deps.store.db, projectId));
  }

  /** PUT /quotas/{project}: admins only; `loadbalancer`/`healthmonitor` are accepted spellings. */
  update(ctx: RequestContext, projectId: string, body: QuotaPut): Promise<Record<QuotaKind, number>> {
    return this.deps.uow.run(async ({ trx }) => {
      if (!isLbAdmin(ctx)) throw lbErrors.policyForbidden();
      const values: Partial<Record<QuotaKind, number | null>> = {};
      for (const k of QUOTA_KINDS) if (k in body) values[k] = body[k] ?? null;
      if ('loadbalancer' in body) values.load_balancer = body.loadbalancer ?? null;
      if ('healthmonitor' in body) values.health_monitor = body.healthmonitor ?? null;
      const exists = await trx.selectFrom('lb_quotas').select('project_id').where('project_id', '=', projectId).executeTakeFirst();
      if (exists) {
        if (Object.keys(values).length) await trx.updateTable('lb_quotas').set(values).where('project_id', '=', projectId).execute();
      } else {
        await trx
          .insertInto('lb_quotas')
          .values({ project_id: projectId, ...values })
          .execute();
      }
      return renderQuota(await effectiveQuotas(trx, projectId));
    }, ctx);
  }

  reset(ctx: RequestContext, projectId: string): Promise<void> {
    return this.deps.uow.run(async ({ trx }) => {
      if (!isLbAdmin(ctx)) throw lbErrors.policyForbidden();
      await trx.deleteFrom('lb_quotas').where('project_id', '=', projectId).execute();
    }, ctx);
  }
}
