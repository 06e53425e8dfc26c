import type { Q, Store } from '../../store/db.js';
import type { RequestContext } from '../context.js';
import type { UnitOfWork } from '../work.js';
import { novaBadRequest, novaForbidden, policyDenied } from './errors.js';
import { type AfterPolicy, adminOnly } from './policy.js';

/** Nova's quota resources in its engine's order, with nova.conf's [quota] defaults. */
export const COMPUTE_QUOTA_DEFAULTS: Record<string, number> = {
  instances: 10,
  cores: 20,
  ram: 51200,
  metadata_items: 128,
  injected_files: 5,
  injected_file_content_bytes: 10240,
  injected_file_path_bytes: 255,
  key_pairs: 100,
  server_groups: 10,
  server_group_members: 10,
  // Left over from nova-network; kept in responses before 2.36 as Nova keeps them.
  fixed_ips: -1,
  floating_ips: 10,
  security_groups: 10,
  security_group_rules: 20,
};

/** Resources microversions hide from os-quota-sets. */
export const HIDDEN_FROM_2_36 = ['fixed_ips', 'floating_ips', 'security_group_rules', 'security_groups'];
/** 2.57 removed personality, and with it its quotas. */
export const HIDDEN_FROM_2_57 = ['injected_files', 'injected_file_content_bytes', 'injected_file_path_bytes'];

/** The cores and RAM a server holds: during a resize, the larger of its two flavors (a revert must fit). */
export function heldResources(s: { flavor: string; old_flavor?: string | null; new_flavor?: string | null }): { vcpus: number; ram: number } {
  const f = JSON.parse(s.flavor) as { vcpus: number; ram: number };
  let { vcpus, ram } = f;
  for (const other of [s.old_flavor, s.new_flavor]) {
    if (!other) continue;
    const o = JSON.parse(other) as { vcpus: number; ram: number };
    vcpus = Math.max(vcpus, o.vcpus);
    ram = Math.max(ram, o.ram);
  }
  return { vcpus, ram };
}

/** A personality file as a create or rebuild request sends it. */
export interface PersonalityFile {
  path: string;
  /** Base64, as sent. */
  contents: string;
}

/**
 * _check_injected_file_quota: the number of files, then the longest path and the largest content
 * (decoded bytes) against injected_files, injected_file_path_bytes and …_content_bytes (403).
 */
export function checkPersonality(limits: Record<string, number>, files: PersonalityFile[]): void {
  if (!files.length) return;
  const over = (limit: number, n: number) => limit >= 0 && n > limit;
  if (over(limits.injected_files, files.length)) throw novaForbidden('Personality file limit exceeded');
  const maxPath = Math.max(...files.map((f) => [...f.path].length));
  const maxContent = Math.max(...files.map((f) => Buffer.from(f.contents, 'base64').length));
  if (over(limits.injected_file_path_bytes, maxPath)) throw novaForbidden(`Personality file path exceeds maximum ${limits.injected_file_path_bytes}`);
  if (over(limits.injected_file_content_bytes, maxContent)) {
    throw novaForbidden(`Personality file content exceeds maximum ${limits.injected_file_content_bytes}`);
  }
}

/** A quota class's limits: nova.conf's defaults with the class's own values over them. */
export async function quotaClassLimits(q: Q, className: string): Promise<Record<string, number>> {
  const rows = await q.selectFrom('compute_quota_classes').select(['resource', 'hard_limit']).where('class_name', '=', className).execute();
  const out = { ...COMPUTE_QUOTA_DEFAULTS };
  for (const r of rows) if (Object.hasOwn(out, r.resource)) out[r.resource] = r.hard_limit;
  return out;
}

/** A project's limits: its own, else the `default` quota class's (DbQuotaDriver.get_project_quotas). */
export async function computeQuotaLimits(q: Q, projectId: string): Promise<Record<string, number>> {
  const rows = await q.selectFrom('compute_quotas').select(['resource', 'hard_limit']).where('project_id', '=', projectId).execute();
  const out = await quotaClassLimits(q, 'default');
  for (const r of rows) if (Object.hasOwn(out, r.resource)) out[r.resource] = r.hard_limit;
  return out;
}

/**
 * What a project uses of the countable resources. Counted by the database per flavor (as Nova's
 * `_instances_cores_ram_count` sums instances.vcpus and memory_mb in SQL): every server create
 * counts, and reading each server's row made a create's cost grow with the project.
 */
export async function computeQuotaUsage(q: Q, projectId: string, userId?: string): Promise<Record<string, number>> {
  const byFlavor = await q
    .selectFrom('servers')
    .select((eb) => ['flavor', 'old_flavor', 'new_flavor', eb.fn.countAll<number>().as('n')])
    .where('project_id', '=', projectId)
    .groupBy(['flavor', 'old_flavor', 'new_flavor'])
    .execute();
  let instances = 0;
  let cores = 0;
  let ram = 0;
  for (const s of byFlavor) {
    const n = Number(s.n);
    const f = heldResources(s);
    instances += n;
    cores += f.vcpus * n;
    ram += f.ram * n;
  }
  const groups = await q
    .selectFrom('server_groups')
    .select(({ fn }) => fn.countAll<number>().as('n'))
    .where('project_id', '=', projectId)
    .executeTakeFirst();
  let keyPairs = 0;
  if (userId !== undefined) {
    const k = await q
      .selectFrom('keypairs')
      .select(({ fn }) => fn.countAll<number>().as('n'))
      .where('user_id', '=', userId)
      .executeTakeFirst();
    keyPairs = Number(k?.n ?? 0);
  }
  return { instances, cores, ram, key_pairs: keyPairs, server_groups: Number(groups?.n ?? 0) };
}

/**
 * Nova's check_num_instances_quota: how many of [min, max] instances of this flavor fit; refuses
 * with TooManyInstances (403 on server create) when not even `min` fit.
 */
export async function instancesAllowed(q: Q, projectId: string, flavor: { vcpus: number; ram: number }, min: number, max: number): Promise<number> {
  const quotas = await computeQuotaLimits(q, projectId);
  const usage = await computeQuotaUsage(q, projectId);
  const deltas: Record<string, number> = { instances: max, cores: max * flavor.vcpus, ram: max * flavor.ram };
  const overs = Object.keys(deltas)
    .filter((k) => quotas[k] >= 0 && usage[k] + deltas[k] > quotas[k])
    .sort();
  if (overs.length === 0) return max;
  const headroom: Record<string, number> = {};
  for (const k of Object.keys(deltas)) headroom[k] = quotas[k] < 0 ? Number.POSITIVE_INFINITY : quotas[k] - usage[k];
  let allowed = headroom.instances;
  if (flavor.vcpus) allowed = Math.min(allowed, Math.floor(headroom.cores / flavor.vcpus));
  if (flavor.ram) allowed = Math.min(allowed, Math.floor(headroom.ram / flavor.ram));
  if (allowed >= min && allowed <= max) return instancesAllowed(q, projectId, flavor, min, allowed);
  const requested: Record<string, string> = {
    instances: min === max ? String(min) : `${min}-${max}`,
    cores: String(max * flavor.vcpus),
    ram: String(max * flavor.ram),
  };
  const reqs = overs.map((k) => requested[k]).join(', ');
  const used = overs.map((k) => String(quotas[k] - headroom[k])).join(', ');
  const total = overs.map((k) => String(quotas[k])).join(', ');
  const names = overs.join(', ');
  throw novaForbidden(`Quota exceeded for ${names}: Requested ${reqs}, but already used ${used} of ${total} ${names}`);
}

export interface QuotaUpdate {
  values: Record<string, number>;
  /** Set limits below what is in use. */
  force: boolean;
}

/** os-quota-sets: show (own project, or any for admins), update and revert to defaults (admins). */
export class ComputeQuotas {
  constructor(private readonly uow: UnitOfWork) {}

  private get store(): Store {
    return this.uow.store;
  }

  private mayRead(ctx: RequestContext, projectId: string, action: string): void {
    if (!ctx.isAdmin && ctx.projectId !== projectId) throw policyDenied(`os_compute_api:os-quota-sets:${action}`);
  }

  async show(ctx: RequestContext, projectId: string): Promise<Record<string, number>> {
    this.mayRead(ctx, projectId, 'show');
    return computeQuotaLimits(this.store.db, projectId);
  }

  async detail(ctx: RequestContext, projectId: string): Promise<Record<string, { limit: number; in_use: number; reserved: number }>> {
    this.mayRead(ctx, projectId, 'detail');
    const limits = await computeQuotaLimits(this.store.db, projectId);
    const usage = await computeQuotaUsage(this.store.db, projectId, ctx.projectId === projectId ? ctx.userId : undefined);
    return Object.fromEntries(Object.entries(limits).map(([k, limit]) => [k, { limit, in_use: usage[k] ?? 0, reserved: 0 }]));
  }

  /** GET /limits: the caller's project's limits and what it uses of them (another project's for admins, `tenant_id`). */
  async limits(
    ctx: RequestContext,
    tenantId?: string,
  ): Promise<{ limits: Record<string, number>; usage: Record<string, { limit: number; in_use: number; reserved: number }> }> {
    if (tenantId !== undefined) adminOnly(ctx, 'os_compute_api:limits:other_project');
    const project = tenantId ?? ctx.projectId ?? '';
    return { limits: await this.show(ctx, project), usage: await this.detail(ctx, project) };
  }

  /** os-quota-sets/{project}/defaults: the default class's. */
  async defaults(): Promise<Record<string, number>> {
    return quotaClassLimits(this.store.db, 'default');
  }

  /** os-quota-class-sets/{class} (admins). */
  async showClass(ctx: RequestContext, className: string): Promise<Record<string, number>> {
    adminOnly(ctx, 'os_compute_api:os-quota-class-sets:show');
    return quotaClassLimits(this.store.db, className);
  }

  async updateClass(ctx: RequestContext, className: string, input: AfterPolicy<Record<string, number>>): Promise<Record<string, number>> {
    adminOnly(ctx, 'os_compute_api:os-quota-class-sets:update');
    const values = input();
    if (className.length < 1 || className.length > 255) {
      throw novaBadRequest(`Invalid input received: quota_class_name has a length of ${className.length} characters, which is longer than 255.`);
    }
    await this.uow.run(async ({ trx }) => {
      for (const [k, v] of Object.entries(values)) {
        await trx.deleteFrom('compute_quota_classes').where('class_name', '=', className).where('resource', '=', k).execute();
        await trx.insertInto('compute_quota_classes').values({ class_name: className, resource: k, hard_limit: v }).execute();
      }
    }, ctx);
    return quotaClassLimits(this.store.db, className);
  }

  /** Set limits; each must be ≥ what is in use unless `force`. */
  async update(ctx: RequestContext, projectId: string, input: AfterPolicy<QuotaUpdate>): Promise<Record<string, number>> {
    adminOnly(ctx, 'os_compute_api:os-quota-sets:update');
    const { values, force } = input();
    await this.uow.run(async ({ trx }) => {
      const usage = await computeQuotaUsage(trx, projectId);
      for (const [k, v] of Object.entries(values)) {
        const used = usage[k] ?? 0;
        if (!force && v !== -1 && v < used) {
          throw novaBadRequest(`Quota limit ${v} for ${k} must be greater than or equal to already used and reserved ${used}.`);
        }
      }
      for (const [k, v] of Object.entries(values)) {
        await trx.deleteFrom('compute_quotas').where('project_id', '=', projectId).where('resource', '=', k).execute();
        await trx.insertInto('compute_quotas').values({ project_id: projectId, resource: k, hard_limit: v }).execute();
      }
    }, ctx);
    return computeQuotaLimits(this.store.db, projectId);
  }

  async revert(ctx: RequestContext, projectId: string): Promise<void> {
    adminOnly(ctx, 'os_compute_api:os-quota-sets:delete');
    await this.uow.run(({ trx }) => trx.deleteFrom('compute_quotas').where('project_id', '=', projectId).execute(), ctx);
  }
}
