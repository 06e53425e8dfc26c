/**
 * Barbican's quotas (barbican/common/quota.py, api/controllers/quotas.py): per-project limits on
 * secrets, orders, containers, consumers and CAs. A project without its own row, or a resource its
 * row leaves null, gets the default (Barbican's `[quotas] quota_*`, -1: unlimited). A negative
 * limit is unlimited, 0 forbids creating any, n allows n. QuotaEnforcer.enforce counts what the
 * project has inside the creating transaction and refuses the n+1st with QuotaReached (403).
 */
import type { Q } from '../../store/db.js';
import type { KmProjectQuotasTable } from '../../store/schema.js';
import type { RequestContext } from '../context.js';
import type { UnitOfWork } from '../work.js';
import { type Json, isoNow, paging } from './common.js';
import { kmErrors } from './errors.js';
import { mayManageQuotas, mayReadQuotas } from './policy.js';
import { QUOTA_RESOURCES, validateProjectQuotas } from './validators.js';

export type QuotaResource = 'secrets' | 'orders' | 'containers' | 'consumers';

/** Barbican's defaults: every `quota_*` option is -1. */
const DEFAULT_QUOTA = -1;

const resourcesOf = (row: KmProjectQuotasTable | undefined): Json => {
  const out: Json = {};
  for (const r of QUOTA_RESOURCES) out[r] = row ? (row[r as keyof KmProjectQuotasTable] ?? null) : null;
  return out;
};

/** How many of `resource` the project has now (each repository's get_count). */
async function countOf(q: Q, projectId: string, resource: QuotaResource): Promise<number> {
  const n = (r: { n: number | string | bigint } | undefined) => Number(r?.n ?? 0);
  switch (resource) {
    case 'secrets':
      return n(
        await q
          .selectFrom('km_secrets')
          .select((eb) => eb.fn.countAll().as('n'))
          .where('project_id', '=', projectId)
          .executeTakeFirst(),
      );
    case 'orders':
      return n(
        await q
          .selectFrom('km_orders')
          .select((eb) => eb.fn.countAll().as('n'))
          .where('project_id', '=', projectId)
          .executeTakeFirst(),
      );
    case 'containers':
      return n(
        await q
          .selectFrom('km_containers')
          .select((eb) => eb.fn.countAll().as('n'))
          .where('project_id', '=', projectId)
          .executeTakeFirst(),
      );
    case 'consumers':
      // SecretConsumerRepo and ContainerConsumerRepo count apart, each its own table.
      return n(
        await q
          .selectFrom('km_secret_consumers')
          .select((eb) => eb.fn.countAll().as('n'))
          .where('project_id', '=', projectId)
          .executeTakeFirst(),
      );
  }
}

async function countContainerConsumers(q: Q, projectId: string): Promise<number> {
  const r = await q
    .selectFrom('km_container_consumers')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('project_id', '=', projectId)
    .executeTakeFirst();
  return Number(r?.n ?? 0);
}

/** The project's effective limit for one resource. */
async function effective(q: Q, projectId: string, resource: QuotaResource): Promise<number> {
  const row = await q.selectFrom('km_project_quotas').select(resource).where('project_id', '=', projectId).executeTakeFirst();
  return row?.[resource] ?? DEFAULT_QUOTA;
}

/**
 * QuotaEnforcer.enforce inside the creating transaction `q`: `operation` words the refusal
 * ("Secret creation issue seen - Creation not allowed because a quota has been reached.").
 * `containerConsumers`: count container consumers rather than secret consumers.
 */
export async function enforceQuota(q: Q, projectId: string, resource: QuotaResource, operation: string, containerConsumers = false): Promise<void> {
  const limit = await effective(q, projectId, resource);
  if (limit < 0) return;
  const count = limit === 0 ? 0 : containerConsumers ? await countContainerConsumers(q, projectId) : await countOf(q, projectId, resource);
  if (limit === 0 || count >= limit) throw kmErrors.quotaReached(operation);
}

export class KeyManagerQuotas {
  constructor(private readonly uow: UnitOfWork) {}

  private get db() {
    return this.uow.store.db;
  }

  /** GET /v1/quotas: the caller's project's effective quotas. */
  async effective(ctx: RequestContext): Promise<Json> {
    if (!mayReadQuotas(ctx)) throw kmErrors.forbidden('Quotas');
    const row = await this.db.selectFrom('km_project_quotas').selectAll().where('project_id', '=', ctx.projectId!).executeTakeFirst();
    const quotas = resourcesOf(row);
    for (const r of QUOTA_RESOURCES) if (quotas[r] === null) quotas[r] = DEFAULT_QUOTA;
    return { quotas };
  }

  /** GET /v1/project-quotas: every project's configured quotas, oldest first. */
  async list(ctx: RequestContext, base: string, params: Map<string, string>): Promise<Json> {
    if (!mayManageQuotas(ctx)) throw kmErrors.forbidden('Project Quotas');
    const { offset, limit } = paging(params);
    const all = await this.db.selectFrom('km_project_quotas').selectAll().orderBy('created_at').orderBy('project_id').execute();
    const page = all.slice(offset, offset + limit).map((r) => ({ project_id: r.project_id, project_quotas: resourcesOf(r) }));
    // hrefs.add_nav_hrefs('project_quotas', …): the links name the collection with an underscore.
    const out: Json = { project_quotas: page };
    if (offset > 0) out.previous = `${base}/v1/project_quotas?limit=${limit}&offset=${Math.max(0, offset - limit)}`;
    if (all.length > offset + limit) out.next = `${base}/v1/project_quotas?limit=${limit}&offset=${offset + limit}`;
    out.total = all.length;
    return out;
  }

  async get(ctx: RequestContext, projectId: string): Promise<Json> {
    if (!mayManageQuotas(ctx)) throw kmErrors.forbidden('Project Quotas');
    const row = await this.db.selectFrom('km_project_quotas').selectAll().where('project_id', '=', projectId).executeTakeFirst();
    if (!row) throw kmErrors.projectQuotasNotFound();
    return { project_quotas: resourcesOf(row) };
  }

  /**
   * PUT: creates the row, or sets the resources the body names (the others keep their value).
   * `read` gives the request's text and its JSON once the caller's rights are known.
   */
  async set(ctx: RequestContext, projectId: string, read: () => { raw: string; body: () => unknown }): Promise<void> {
    if (!mayManageQuotas(ctx)) throw kmErrors.forbidden('Project Quotas');
    const { raw, body } = read();
    // NoDataToProcess's client message ends with a period of its own, kept as Barbican keeps it.
    if (raw === '') throw kmErrors.issue('bad_request', 'Project Quotas', 'No data supplied to process.');
    const values = validateProjectQuotas(body());
    await this.uow.run(async ({ trx }) => {
      const now = isoNow();
      const cur = await trx.selectFrom('km_project_quotas').select('project_id').where('project_id', '=', projectId).executeTakeFirst();
      const set = Object.fromEntries(values) as Partial<KmProjectQuotasTable>;
      if (cur) {
        if (values.size)
          await trx
            .updateTable('km_project_quotas')
            .set({ ...set, updated_at: now })
            .where('project_id', '=', projectId)
            .execute();
      } else {
        await trx
          .insertInto('km_project_quotas')
          .values({
            project_id: projectId,
            secrets: null,
            orders: null,
            containers: null,
            consumers: null,
            cas: null,
            ...set,
            created_at: now,
            updated_at: now,
          })
          .execute();
      }
    }, ctx);
  }

  async delete(ctx: RequestContext, projectId: string): Promise<void> {
    if (!mayManageQuotas(ctx)) throw kmErrors.forbidden('Project Quotas');
    await this.uow.run(async ({ trx }) => {
      const r = await trx.deleteFrom('km_project_quotas').where('project_id', '=', projectId).executeTakeFirst();
      if (Number(r.numDeletedRows) === 0) throw kmErrors.projectQuotasNotFound();
    }, ctx);
  }
}
