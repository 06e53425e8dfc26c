import type { Q, Tx } from '../../store/db.js';
import { conflict } from '../errors.js';

/** Neutron's default quotas (neutron.conf [quotas]); -1 is unlimited. */
export const DEFAULT_QUOTAS: Record<string, number> = {
  network: 100,
  subnet: 100,
  subnetpool: -1,
  port: 500,
  router: 10,
  floatingip: 50,
  rbac_policy: 10,
  security_group: 10,
  security_group_rule: 100,
};

/** The table each quota resource counts. New resources register here (routers, floating IPs …). */
export const QUOTA_TABLES: Record<string, string | null> = {
  network: 'networks',
  subnet: 'subnets',
  subnetpool: null,
  port: 'ports',
  router: null,
  floatingip: null,
  rbac_policy: null,
  security_group: 'security_groups',
  security_group_rule: 'security_group_rules',
};

/** Defaults after configuration (neutron.conf's [quotas] quota_<resource>); set once at start-up. */
let configured: Record<string, number> = { ...DEFAULT_QUOTAS };

export function configureDefaultQuotas(overrides: Record<string, number>): void {
  configured = { ...DEFAULT_QUOTAS };
  for (const [k, v] of Object.entries(overrides)) if (k in configured && Number.isInteger(v)) configured[k] = v;
}

export function defaultQuotas(): Record<string, number> {
  return { ...configured };
}

export async function quotaLimits(q: Q, projectId: string): Promise<Record<string, number>> {
  const rows = await q.selectFrom('quotas').select(['resource', 'hard_limit']).where('project_id', '=', projectId).execute();
  const out = defaultQuotas();
  for (const r of rows) if (r.resource in out) out[r.resource] = r.hard_limit;
  return out;
}

export async function quotaUsage(q: Q, projectId: string, resource: string): Promise<number> {
  const table = QUOTA_TABLES[resource];
  if (!table) return 0;
  const row = await (q as unknown as import('kysely').Kysely<Record<string, { project_id: string }>>)
    .selectFrom(table)
    .select(({ fn }) => fn.countAll<number>().as('n'))
    .where('project_id', '=', projectId)
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

/** Refuse a create that would take the project past its limit (inside the creating transaction). */
export async function checkQuota(trx: Tx, projectId: string, resource: string, adding = 1): Promise<void> {
  const limits = await quotaLimits(trx, projectId);
  const limit = limits[resource];
  if (limit === undefined || limit < 0) return;
  const used = await quotaUsage(trx, projectId, resource);
  if (used + adding > limit) throw conflict('OverQuota', `Quota exceeded for resources: ['${resource}'].`);
}
