import { type Q, type Tx, fromJson, jsonRowsOf, prepared } from '../../store/db.js';
import type { Work } from '../work.js';
import type { RequestContext } from '../context.js';
import { DomainError, conflict, httpBadRequest, notFound } from '../errors.js';
import { range, toInt } from './attributes.js';
import { type NeutronTable, policyError } from './resource.js';

/** Neutron's default quotas (neutron.conf [quotas]); -1 is unlimited. Order is Neutron's. */
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

/** The table each quota resource counts; null where the resource does not exist here. */
const QUOTA_TABLES: Record<string, NeutronTable | null> = {
  network: 'networks',
  subnet: 'subnets',
  subnetpool: 'subnetpools',
  port: 'ports',
  router: 'routers',
  floatingip: 'floating_ips',
  rbac_policy: 'rbac_policies',
  security_group: 'security_groups',
  security_group_rule: 'security_group_rules',
};

/** Neutron's DB_INTEGER_MAX_VALUE: the largest limit a quota takes. */
const MAX_LIMIT = 2 ** 31 - 1;

/** Defaults after configuration (neutron.conf's [quotas] quota_<resource>); set once at start-up. */
let configured: Record<string, number> = { ...DEFAULT_QUOTAS };

export function configureDefaultQuotas(overrides: Record<string, number>): void {
  configured = { ...DEFAULT_QUOTAS };
  for (const [k, v] of Object.entries(overrides)) if (Object.hasOwn(configured, k) && Number.isInteger(v)) configured[k] = v;
}

export function defaultQuotas(): Record<string, number> {
  return { ...configured };
}

// Every create of a counted resource reads its project's limits: compiled once.
const limitsOf = prepared(['project'], (q, a) => q.selectFrom('quotas').select(['resource', 'hard_limit']).where('project_id', '=', a.project));

export async function quotaLimits(q: Q, projectId: string): Promise<Record<string, number>> {
  const rows = await limitsOf.execute(q, { project: projectId });
  const out = defaultQuotas();
  for (const r of rows) if (Object.hasOwn(out, r.resource)) out[r.resource] = r.hard_limit;
  return out;
}

export async function quotaUsage(q: Q, projectId: string, resource: string): Promise<number> {
  const table = Object.hasOwn(QUOTA_TABLES, resource) ? QUOTA_TABLES[resource] : null;
  if (!table) return 0;
  const row = await q
    .selectFrom(table)
    .select(({ fn }) => fn.countAll<number>().as('n'))
    .where('project_id', '=', projectId)
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

/**
 * What the creates of one unit of work read of their project: its limits, its default security
 * group and its default QoS policy. A network create read the three in three statements and a port
 * create two of them; they are now one statement, read once per project and unit of work (one
 * attempt of one transaction: a retried attempt reads again). None of them changes inside a create:
 * they are written by their own requests (quotas, security groups, QoS policies), and the one write
 * a create makes — the project's first default group — is recorded here by the code that makes it.
 */
export interface ProjectFacts {
  limits: Record<string, number>;
  defaultGroup: string | null;
  qosDefault: string | null;
}

const factsOf = prepared(['project'], (q, a, dialect) =>
  q.selectNoFrom((eb) => [
    jsonRowsOf(dialect, eb.selectFrom('quotas').select(['resource', 'hard_limit']).where('project_id', '=', a.project), ['resource', 'hard_limit']).as(
      'limits',
    ),
    eb.selectFrom('default_security_groups').select('security_group_id').where('project_id', '=', a.project).as('default_group'),
    eb.selectFrom('qos_default_policies').select('policy_id').where('project_id', '=', a.project).as('qos_default'),
  ]),
);

const factsByWork = new WeakMap<Work, Map<string, ProjectFacts>>();

/** The project's facts as this unit of work read them, or undefined if it has not yet. */
export function knownProjectFacts(w: Work, projectId: string): ProjectFacts | undefined {
  return factsByWork.get(w)?.get(projectId);
}

export async function projectFacts(w: Work, projectId: string): Promise<ProjectFacts> {
  let byProject = factsByWork.get(w);
  const cached = byProject?.get(projectId);
  if (cached) return cached;
  const [row] = await factsOf.execute(w.trx, { project: projectId });
  const limits = defaultQuotas();
  for (const [resource, limit] of fromJson<Array<[string, number]>>(row?.limits, [])) if (Object.hasOwn(limits, resource)) limits[resource] = Number(limit);
  const facts: ProjectFacts = { limits, defaultGroup: row?.default_group ?? null, qosDefault: row?.qos_default ?? null };
  if (!byProject) {
    byProject = new Map();
    factsByWork.set(w, byProject);
  }
  byProject.set(projectId, facts);
  return facts;
}

/** checkQuota with the limits read once per unit of work (projectFacts). */
export async function checkQuotaIn(w: Work, projectId: string, resource: string): Promise<void> {
  const limit = (await projectFacts(w, projectId)).limits[resource];
  if (limit === undefined || limit < 0) return;
  const used = await quotaUsage(w.trx, projectId, resource);
  if (used + 1 > limit) throw conflict('OverQuota', `Quota exceeded for resources: ['${resource}'].`);
}

/** Refuse a create that would take the project past its limit (inside the creating transaction). */
export async function checkQuota(trx: Tx, projectId: string, resource: string, adding = 1): Promise<void> {
  const limits = await quotaLimits(trx, projectId);
  const limit = limits[resource];
  if (limit === undefined || limit < 0) return;
  const used = await quotaUsage(trx, projectId, resource);
  if (used + adding > limit) throw conflict('OverQuota', `Quota exceeded for resources: ['${resource}'].`);
}

// ---------------------------------------------------------------- the quotas API

/** GET/PUT/DELETE /v2.0/quotas…: Neutron's QuotaSetsController with the DB quota driver. */
export const quotaApi = {
  /** Projects with any non-default limit (admin only). */
  async list(q: Q, ctx: RequestContext): Promise<Array<Record<string, unknown>>> {
    if (!ctx.isAdmin) throw policyError('get_quota');
    const rows = await q.selectFrom('quotas').select(['project_id', 'resource', 'hard_limit']).orderBy('project_id').execute();
    const byProject = new Map<string, Record<string, unknown>>();
    for (const r of rows) {
      let entry = byProject.get(r.project_id);
      if (!entry) {
        entry = { ...defaultQuotas(), project_id: r.project_id, tenant_id: r.project_id };
        byProject.set(r.project_id, entry);
      }
      if (Object.hasOwn(entry, r.resource)) entry[r.resource] = r.hard_limit;
    }
    return [...byProject.values()];
  },

  async show(q: Q, ctx: RequestContext, projectId: string): Promise<Record<string, number>> {
    if (projectId !== ctx.projectId && !ctx.isAdmin) throw policyError('get_quota');
    return quotaLimits(q, projectId);
  },

  async defaults(ctx: RequestContext, projectId: string): Promise<Record<string, number>> {
    if (projectId !== ctx.projectId && !ctx.isAdmin) throw policyError('get_quota');
    return defaultQuotas();
  },

  async details(q: Q, ctx: RequestContext, projectId: string): Promise<Record<string, { limit: number; used: number; reserved: number }>> {
    if (projectId !== ctx.projectId && !ctx.isAdmin) {
      throw new DomainError(
        'forbidden',
        'AdminRequired',
        'User does not have admin privileges: Only admin is authorized to access quotas for another project.',
      );
    }
    const limits = await quotaLimits(q, projectId);
    const out: Record<string, { limit: number; used: number; reserved: number }> = {};
    for (const [resource, limit] of Object.entries(limits)) {
      out[resource] = { limit, used: await quotaUsage(q, projectId, resource), reserved: 0 };
    }
    return out;
  },

  async update(trx: Tx, ctx: RequestContext, projectId: string, body: unknown): Promise<Record<string, number>> {
    if (!ctx.isAdmin) throw policyError('update_quota');
    const item = parseQuotaBody(body);
    const checkLimit = item.check_limit;
    delete item.force;
    delete item.check_limit;
    const unknown = Object.keys(item).filter((k) => !Object.hasOwn(DEFAULT_QUOTAS, k));
    if (unknown.length) throw httpBadRequest(`Unrecognized attribute(s) '${unknown.join(', ')}'`);
    const limits: Record<string, number> = {};
    for (const [resource, raw] of Object.entries(item)) {
      const value = toInt(raw) as number;
      const reason = range(-1, MAX_LIMIT)(value);
      if (reason) throw httpBadRequest(`Invalid input for ${resource}. Reason: ${reason}.`);
      limits[resource] = value;
    }
    if (checkLimit !== undefined && checkLimit !== null && checkLimit !== false && checkLimit !== 'false' && checkLimit !== 'False') {
      for (const [resource, limit] of Object.entries(limits)) {
        const used = await quotaUsage(trx, projectId, resource);
        if (limit >= 0 && used > limit) {
          throw httpBadRequest(`Quota limit ${limit} for ${resource} must be greater than or equal to already used ${used}`);
        }
      }
    }
    for (const [resource, limit] of Object.entries(limits)) {
      await trx
        .insertInto('quotas')
        .values({ project_id: projectId, resource, hard_limit: limit })
        .onConflict((oc) => oc.columns(['project_id', 'resource']).doUpdateSet({ hard_limit: limit }))
        .execute();
    }
    return quotaLimits(trx, projectId);
  },

  /** Back to the defaults; a project that never had its own limits is a 404. */
  async reset(trx: Tx, ctx: RequestContext, projectId: string): Promise<void> {
    if (!ctx.isAdmin) throw policyError('delete_quota');
    const res = await trx.deleteFrom('quotas').where('project_id', '=', projectId).executeTakeFirst();
    if (Number(res.numDeletedRows) < 1) throw notFound('TenantQuotaNotFound', `Quota for tenant ${projectId} could not be found.`);
  },
};

function parseQuotaBody(body: unknown): Record<string, unknown> {
  if (body === undefined || body === null) throw httpBadRequest('Resource body required');
  if (typeof body !== 'object' || Array.isArray(body)) throw httpBadRequest('Body contains invalid data');
  const item = (body as Record<string, unknown>).quota;
  if (item === undefined) throw httpBadRequest("Unable to find 'quota' in request body");
  if (!item || typeof item !== 'object' || Array.isArray(item)) throw httpBadRequest("Object 'quota' contains invalid data");
  return { ...(item as Record<string, unknown>) };
}
