import type { Q, Store } from '../../store/db.js';
import { fromJson } from '../../store/db.js';
import type { FlavorsTable } from '../../store/schema.js';
import { uuid } from '../../util/ids.js';
import type { RequestContext } from '../context.js';
import { strictBoolFromString } from '../../util/bool.js';
import type { UnitOfWork } from '../work.js';
import { DomainError } from '../errors.js';
import { novaBadRequest, novaConflict, novaNotFound } from './errors.js';
import { validateExtraSpec } from './extraspecs.js';
import { type AfterPolicy, adminOnly } from './policy.js';

export interface Flavor {
  id: string;
  name: string;
  ram: number;
  vcpus: number;
  disk: number;
  ephemeral: number;
  swap: number;
  rxtxFactor: number;
  isPublic: boolean;
  disabled: boolean;
  description: string | null;
  extraSpecs: Record<string, string>;
}

/** DevStack's flavors (lib/nova `create_flavors`), ids included: Tempest and the seed use them. */
export const DEVSTACK_FLAVORS: Array<Pick<Flavor, 'id' | 'name' | 'ram' | 'disk' | 'vcpus'>> = [
  { id: '1', name: 'm1.tiny', ram: 512, disk: 1, vcpus: 1 },
  { id: '2', name: 'm1.small', ram: 2048, disk: 20, vcpus: 1 },
  { id: '3', name: 'm1.medium', ram: 4096, disk: 40, vcpus: 2 },
  { id: '4', name: 'm1.large', ram: 8192, disk: 80, vcpus: 4 },
  { id: '5', name: 'm1.xlarge', ram: 16384, disk: 160, vcpus: 8 },
  { id: '42', name: 'm1.nano', ram: 128, disk: 1, vcpus: 1 },
  { id: '84', name: 'm1.micro', ram: 192, disk: 1, vcpus: 1 },
];

export function flavorOf(row: FlavorsTable): Flavor {
  return {
    id: row.id,
    name: row.name,
    ram: row.memory_mb,
    vcpus: row.vcpus,
    disk: row.root_gb,
    ephemeral: row.ephemeral_gb,
    swap: row.swap,
    rxtxFactor: Number(row.rxtx_factor),
    isPublic: row.is_public === 1,
    disabled: row.disabled === 1,
    description: row.description,
    extraSpecs: fromJson(row.extra_specs, {}),
  };
}

export interface FlavorListOptions {
  /**
   * The is_public filter as sent. Admins get public flavors without it, private ones with a false
   * value and all with `none`; anyone else always gets public + shared ones, whatever it says.
   */
  isPublic?: string;
  minRam?: number;
  minDisk?: number;
  sortKey: string;
  sortDir: 'asc' | 'desc';
  limit?: number;
  marker?: string;
}

const SORT_COLUMNS: Record<string, keyof FlavorsTable> = {
  flavorid: 'id',
  id: 'id',
  name: 'name',
  memory_mb: 'memory_mb',
  root_gb: 'root_gb',
  vcpus: 'vcpus',
  ephemeral_gb: 'ephemeral_gb',
  swap: 'swap',
  rxtx_factor: 'rxtx_factor',
  created_at: 'created_at',
  // Nova's keys without a column of their own here: its integer id and updated_at follow creation,
  // vcpu_weight is never set.
  updated_at: 'created_at',
  vcpu_weight: 'id',
  description: 'description',
  disabled: 'disabled',
  is_public: 'is_public',
};

/** Nova's VALID_SORT_KEYS for flavor lists (the query schema's enum). */
export const FLAVOR_SORT_KEYS = [
  'created_at',
  'description',
  'disabled',
  'ephemeral_gb',
  'flavorid',
  'id',
  'is_public',
  'memory_mb',
  'name',
  'root_gb',
  'rxtx_factor',
  'swap',
  'updated_at',
  'vcpu_weight',
  'vcpus',
];

export interface FlavorCreate {
  id?: string | null;
  name: string;
  ram: number;
  vcpus: number;
  disk: number;
  ephemeral?: number;
  swap?: number;
  rxtxFactor?: number;
  isPublic?: boolean;
  description?: string | null;
  extraSpecs?: Record<string, string>;
}

/** Nova's _parse_is_public: absent is public only, `none` both; else strutils.bool_from_string(strict=True). */
function isPublicFilter(raw: string | undefined): boolean | null {
  if (raw === undefined) return true;
  if (raw.toLowerCase() === 'none') return null;
  const parsed = strictBoolFromString(raw);
  if (parsed === undefined) throw novaBadRequest(`Invalid is_public filter [${raw}]`);
  return parsed;
}

/** Flavors: what Nova's flavor APIs and server create read. */
export class Flavors {
  constructor(private readonly uow: UnitOfWork) {}

  private get store(): Store {
    return this.uow.store;
  }

  /** Nova's read_deleted="no" visibility: public flavors, or private ones the project was given. */
  private async canSee(q: Q, ctx: RequestContext, row: FlavorsTable): Promise<boolean> {
    if (ctx.isAdmin || row.is_public === 1) return true;
    const access = await q
      .selectFrom('flavor_projects')
      .select('project_id')
      .where('flavor_id', '=', row.id)
      .where('project_id', '=', ctx.projectId ?? '')
      .executeTakeFirst();
    return access !== undefined;
  }

  async get(ctx: RequestContext, id: string): Promise<Flavor> {
    const row = await this.store.db.selectFrom('flavors').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row || !(await this.canSee(this.store.db, ctx, row))) throw novaNotFound(`Flavor ${id} could not be found.`);
    return flavorOf(row);
  }

  /** Flavors by id regardless of visibility (server views show the flavor a server was booted with). */
  async byIds(ids: string[]): Promise<Map<string, Flavor>> {
    if (!ids.length) return new Map();
    const rows = await this.store.db
      .selectFrom('flavors')
      .selectAll()
      .where('id', 'in', [...new Set(ids)])
      .execute();
    return new Map(rows.map((r) => [r.id, flavorOf(r)]));
  }

  async list(ctx: RequestContext, o: FlavorListOptions): Promise<Flavor[]> {
    const db = this.store.db;
    let qb = db.selectFrom('flavors').selectAll('flavors');
    if (ctx.isAdmin) {
      const isPublic = isPublicFilter(o.isPublic);
      if (isPublic !== null) qb = qb.where('flavors.is_public', '=', isPublic ? 1 : 0);
    } else {
      const project = ctx.projectId ?? '';
      qb = qb
        .where('flavors.disabled', '=', 0)
        .where((eb) =>
          eb.or([
            eb('flavors.is_public', '=', 1),
            eb.exists(
              eb
                .selectFrom('flavor_projects')
                .select('flavor_projects.flavor_id')
                .whereRef('flavor_projects.flavor_id', '=', 'flavors.id')
                .where('flavor_projects.project_id', '=', project),
            ),
          ]),
        );
    }
    if (o.minRam !== undefined) qb = qb.where('flavors.memory_mb', '>=', o.minRam);
    if (o.minDisk !== undefined) qb = qb.where('flavors.root_gb', '>=', o.minDisk);
    // Sort keys come from the client: never one of the object's own prototype names.
    const col = Object.hasOwn(SORT_COLUMNS, o.sortKey) ? SORT_COLUMNS[o.sortKey] : 'id';
    if (o.marker !== undefined) {
      const m = await db.selectFrom('flavors').selectAll().where('id', '=', o.marker).executeTakeFirst();
      if (!m || !(await this.canSee(db, ctx, m))) throw new DomainError('bad_request', 'MarkerNotFound', `marker [${o.marker}] not found`);
      const op = o.sortDir === 'asc' ? '>' : '<';
      qb = qb.where((eb) => eb.or([eb(`flavors.${col}`, op, m[col]), eb.and([eb(`flavors.${col}`, '=', m[col]), eb('flavors.id', op, m.id)])]));
    }
    qb = qb.orderBy(`flavors.${col}`, o.sortDir).orderBy('flavors.id', o.sortDir);
    if (o.limit !== undefined) qb = qb.limit(o.limit);
    return (await qb.execute()).map(flavorOf);
  }

  async create(ctx: RequestContext, input: AfterPolicy<FlavorCreate>): Promise<Flavor> {
    adminOnly(ctx, 'os_compute_api:os-flavor-manage:create');
    const f = input();
    const id = f.id === undefined || f.id === null ? uuid() : String(f.id);
    await this.uow.run(async ({ trx }) => {
      if (await trx.selectFrom('flavors').select('id').where('name', '=', f.name).executeTakeFirst()) {
        throw novaConflict(`Flavor with name ${f.name} already exists.`);
      }
      if (await trx.selectFrom('flavors').select('id').where('id', '=', id).executeTakeFirst()) {
        throw novaConflict(`Flavor with ID ${id} already exists.`);
      }
      await trx
        .insertInto('flavors')
        .values({
          id,
          name: f.name,
          memory_mb: f.ram,
          vcpus: f.vcpus,
          root_gb: f.disk,
          ephemeral_gb: f.ephemeral ?? 0,
          swap: f.swap ?? 0,
          rxtx_factor: f.rxtxFactor ?? 1,
          is_public: f.isPublic === false ? 0 : 1,
          disabled: 0,
          description: f.description ?? null,
          extra_specs: JSON.stringify(f.extraSpecs ?? {}),
          created_at: new Date().toISOString(),
        })
        .execute();
    }, ctx);
    return this.get(ctx, id);
  }

  /** PUT /flavors/{id} (2.55): only the description changes. */
  async update(ctx: RequestContext, id: string, description: string | null): Promise<Flavor> {
    adminOnly(ctx, 'os_compute_api:os-flavor-manage:update');
    await this.uow.run(async ({ trx }) => {
      const res = await trx.updateTable('flavors').set({ description }).where('id', '=', id).executeTakeFirst();
      if (Number(res.numUpdatedRows) === 0) throw novaNotFound(`Flavor ${id} could not be found.`);
    }, ctx);
    return this.get(ctx, id);
  }

  async delete(ctx: RequestContext, id: string): Promise<void> {
    adminOnly(ctx, 'os_compute_api:os-flavor-manage:delete');
    const res = await this.uow.run(({ trx }) => trx.deleteFrom('flavors').where('id', '=', id).executeTakeFirst(), ctx);
    if (Number(res.numDeletedRows) === 0) throw novaNotFound(`Flavor ${id} could not be found.`);
  }

  // ------------------------------------------------------------ extra specs and access

  /** One extra spec, or Nova's 404. */
  async extraSpec(ctx: RequestContext, id: string, key: string): Promise<string> {
    const specs = (await this.get(ctx, id)).extraSpecs;
    if (!Object.hasOwn(specs, key)) throw novaNotFound(`Flavor ${id} has no extra specs with key ${key}.`);
    return specs[key];
  }

  /** Set extra specs; from 2.86 (`validate`) each known one is checked (validateExtraSpec). */
  async setExtraSpecs(ctx: RequestContext, id: string, specs: Record<string, string>, replaceKey?: string, validate = false): Promise<Record<string, string>> {
    adminOnly(ctx, `os_compute_api:os-flavor-extra-specs:${replaceKey ? 'update' : 'create'}`);
    if (validate) for (const [k, v] of Object.entries(specs)) validateExtraSpec(k, v);
    return this.uow.run(async ({ trx }) => {
      const row = await trx.selectFrom('flavors').selectAll().where('id', '=', id).executeTakeFirst();
      if (!row) throw novaNotFound(`Flavor ${id} could not be found.`);
      const merged = { ...fromJson<Record<string, string>>(row.extra_specs, {}), ...specs };
      await trx
        .updateTable('flavors')
        .set({ extra_specs: JSON.stringify(merged) })
        .where('id', '=', id)
        .execute();
      return specs;
    }, ctx);
  }

  async deleteExtraSpec(ctx: RequestContext, id: string, key: string): Promise<void> {
    adminOnly(ctx, 'os_compute_api:os-flavor-extra-specs:delete');
    await this.uow.run(async ({ trx }) => {
      const row = await trx.selectFrom('flavors').selectAll().where('id', '=', id).executeTakeFirst();
      if (!row) throw novaNotFound(`Flavor ${id} could not be found.`);
      const specs = fromJson<Record<string, string>>(row.extra_specs, {});
      if (!Object.hasOwn(specs, key)) throw novaNotFound(`Flavor ${id} has no extra specs with key ${key}.`);
      delete specs[key];
      await trx
        .updateTable('flavors')
        .set({ extra_specs: JSON.stringify(specs) })
        .where('id', '=', id)
        .execute();
    }, ctx);
  }

  async access(ctx: RequestContext, id: string): Promise<string[]> {
    adminOnly(ctx, 'os_compute_api:os-flavor-access');
    const row = await this.store.db.selectFrom('flavors').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw novaNotFound(`Flavor ${id} could not be found.`);
    if (row.is_public === 1) throw novaNotFound('Access list not available for public flavors.');
    const rows = await this.store.db.selectFrom('flavor_projects').select('project_id').where('flavor_id', '=', id).orderBy('project_id').execute();
    return rows.map((r) => r.project_id);
  }

  async grant(ctx: RequestContext, id: string, project: string, grant: boolean): Promise<string[]> {
    adminOnly(ctx, `os_compute_api:os-flavor-access:${grant ? 'add_tenant_access' : 'remove_tenant_access'}`);
    await this.uow.run(async ({ trx }) => {
      const row = await trx.selectFrom('flavors').selectAll().where('id', '=', id).executeTakeFirst();
      if (!row) throw novaNotFound(`Flavor ${id} could not be found.`);
      if (grant && row.is_public === 1) throw novaConflict('Can not add access to a public flavor.');
      const has = await trx.selectFrom('flavor_projects').select('project_id').where('flavor_id', '=', id).where('project_id', '=', project).executeTakeFirst();
      if (grant) {
        if (has) throw novaConflict(`Flavor access already exists for flavor ${id} and project ${project} combination.`);
        await trx.insertInto('flavor_projects').values({ flavor_id: id, project_id: project }).execute();
      } else {
        if (!has) throw novaNotFound(`Flavor access not found for ${id} / ${project} combination.`);
        await trx.deleteFrom('flavor_projects').where('flavor_id', '=', id).where('project_id', '=', project).execute();
      }
    }, ctx);
    const rows = await this.store.db.selectFrom('flavor_projects').select('project_id').where('flavor_id', '=', id).orderBy('project_id').execute();
    return rows.map((r) => r.project_id);
  }

  /** First start: DevStack's flavor set. */
  async bootstrap(): Promise<void> {
    const now = new Date().toISOString();
    await this.uow.run(async ({ trx }) => {
      for (const f of DEVSTACK_FLAVORS) {
        const exists = await trx.selectFrom('flavors').select('id').where('id', '=', f.id).executeTakeFirst();
        if (exists) continue;
        await trx
          .insertInto('flavors')
          .values({
            id: f.id,
            name: f.name,
            memory_mb: f.ram,
            vcpus: f.vcpus,
            root_gb: f.disk,
            ephemeral_gb: 0,
            swap: 0,
            rxtx_factor: 1,
            is_public: 1,
            disabled: 0,
            description: null,
            extra_specs: JSON.stringify({ 'hw_rng:allowed': 'True' }),
            created_at: now,
          })
          .execute();
      }
    });
  }
}
