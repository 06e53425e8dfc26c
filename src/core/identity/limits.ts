import type { Q, Tx } from '../../store/db.js';
import type { LimitsTable, RegisteredLimitsTable } from '../../store/schema.js';
import { hexId } from '../../util/ids.js';
import { DomainError } from '../errors.js';
import { conflict, forbiddenNotSecurity, limitNotFound, notFound, registeredLimitNotFound, validationError } from './errors.js';
import type { Attrs, IdentityEnv } from './model.js';

export type RegisteredLimit = RegisteredLimitsTable;
export type Limit = LimitsTable;

/** Keystone's enforcement model (the default, `flat`). */
export const LIMIT_MODEL = { name: 'flat', description: 'Limit enforcement and validation does not take project hierarchy into consideration.' };

const noReference = () => new DomainError('forbidden', 'NoLimitReference', 'Unable to create a limit that has no corresponding registered limit.');
const inUse = (id: string) => forbiddenNotSecurity(`Unable to update or delete registered limit ${id} because there are project limits associated with it.`);
const duplicate = (type: string) => conflict(type, 'Duplicate entry');

/**
 * Unified limits: registered (default) limits per service, region and resource, and project or
 * domain limits overriding them, with Keystone's flat model (no hierarchy checks). Each POST
 * takes a list and is all-or-nothing.
 */
export class Limits {
  constructor(private readonly env: IdentityEnv) {}

  private get db() {
    return this.env.store.db;
  }

  private async assertService(id: string, q: Q): Promise<void> {
    if (!(await q.selectFrom('catalog_services').select('id').where('id', '=', id).executeTakeFirst())) throw validationError(`Invalid service_id ${id}`);
  }

  private async assertRegion(id: string | null | undefined, q: Q): Promise<void> {
    if (id && !(await q.selectFrom('catalog_regions').select('id').where('id', '=', id).executeTakeFirst())) throw validationError(`Invalid region_id ${id}`);
  }

  // ------------------------------------------------------------ registered limits

  async registered(): Promise<RegisteredLimit[]> {
    return this.db.selectFrom('registered_limits').selectAll().orderBy('service_id').orderBy('resource_name').orderBy('id').execute();
  }

  async registeredLimit(id: string, q: Q = this.db): Promise<RegisteredLimit> {
    const r = await q.selectFrom('registered_limits').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) throw registeredLimitNotFound(id);
    return r;
  }

  private async sameRegistered(q: Q, serviceId: string, regionId: string | null, resource: string, except?: string) {
    let qb = q.selectFrom('registered_limits').select('id').where('service_id', '=', serviceId).where('resource_name', '=', resource);
    qb = regionId === null ? qb.where('region_id', 'is', null) : qb.where('region_id', '=', regionId);
    if (except) qb = qb.where('id', '!=', except);
    return qb.executeTakeFirst();
  }

  async createRegistered(list: Attrs[]): Promise<RegisteredLimit[]> {
    return this.env.write({ id: 'registered_limits', op: 'create' }, async (trx) => {
      const ids: string[] = [];
      for (const r of list) {
        const serviceId = String(r.service_id);
        const regionId = (r.region_id as string | null | undefined) ?? null;
        await this.assertService(serviceId, trx);
        await this.assertRegion(regionId, trx);
        if (await this.sameRegistered(trx, serviceId, regionId, String(r.resource_name))) throw duplicate('registered_limit');
        const id = hexId();
        await trx
          .insertInto('registered_limits')
          .values({
            id,
            service_id: serviceId,
            region_id: regionId,
            resource_name: String(r.resource_name),
            default_limit: Number(r.default_limit),
            description: (r.description as string | null | undefined) ?? null,
          })
          .execute();
        ids.push(id);
      }
      return Promise.all(ids.map((id) => this.registeredLimit(id, trx)));
    });
  }

  async updateRegistered(id: string, patch: Attrs): Promise<RegisteredLimit> {
    return this.env.write({ id, op: 'update' }, async (trx) => {
      const old = await this.registeredLimit(id, trx);
      const next = {
        service_id: patch.service_id !== undefined ? String(patch.service_id) : old.service_id,
        region_id: patch.region_id !== undefined ? ((patch.region_id as string | null) ?? null) : old.region_id,
        resource_name: patch.resource_name !== undefined ? String(patch.resource_name) : old.resource_name,
      };
      const keyChanges = next.service_id !== old.service_id || next.region_id !== old.region_id || next.resource_name !== old.resource_name;
      if (keyChanges && (await this.referencing(old, trx))) throw inUse(id);
      if (patch.service_id !== undefined) await this.assertService(next.service_id, trx);
      if (patch.region_id !== undefined) await this.assertRegion(next.region_id, trx);
      if (await this.sameRegistered(trx, next.service_id, next.region_id, next.resource_name, id)) throw duplicate('registered_limit');
      await trx
        .updateTable('registered_limits')
        .set({
          ...next,
          default_limit: patch.default_limit !== undefined ? Number(patch.default_limit) : old.default_limit,
          description: patch.description !== undefined ? ((patch.description as string | null) ?? null) : old.description,
        })
        .where('id', '=', id)
        .execute();
      return this.registeredLimit(id, trx);
    });
  }

  private async referencing(r: RegisteredLimit, q: Q) {
    let qb = q.selectFrom('limits').select('id').where('service_id', '=', r.service_id).where('resource_name', '=', r.resource_name);
    qb = r.region_id === null ? qb.where('region_id', 'is', null) : qb.where('region_id', '=', r.region_id);
    return qb.executeTakeFirst();
  }

  async deleteRegistered(id: string): Promise<void> {
    await this.env.write({ id, op: 'delete' }, async (trx) => {
      const r = await this.registeredLimit(id, trx);
      if (await this.referencing(r, trx)) throw inUse(id);
      await trx.deleteFrom('registered_limits').where('id', '=', id).execute();
    });
  }

  // ------------------------------------------------------------ limits

  async limits(): Promise<Limit[]> {
    return this.db.selectFrom('limits').selectAll().orderBy('service_id').orderBy('resource_name').orderBy('id').execute();
  }

  async limit(id: string, q: Q = this.db): Promise<Limit> {
    const r = await q.selectFrom('limits').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) throw limitNotFound(id);
    return r;
  }

  private async assertTarget(l: Attrs, trx: Tx): Promise<void> {
    if (l.project_id !== undefined) {
      if (!(await trx.selectFrom('projects').select('id').where('id', '=', String(l.project_id)).executeTakeFirst()))
        throw notFound('project', String(l.project_id));
    } else if (!(await trx.selectFrom('domains').select('id').where('id', '=', String(l.domain_id)).executeTakeFirst())) {
      throw notFound('domain', String(l.domain_id));
    }
  }

  async createLimits(list: Attrs[]): Promise<Limit[]> {
    return this.env.write({ id: 'limits', op: 'create' }, async (trx) => {
      const ids: string[] = [];
      for (const l of list) {
        const serviceId = String(l.service_id);
        const regionId = (l.region_id as string | undefined) ?? null;
        await this.assertTarget(l, trx);
        if (!(await this.sameRegistered(trx, serviceId, regionId, String(l.resource_name)))) throw noReference();
        let dup = trx.selectFrom('limits').select('id').where('service_id', '=', serviceId).where('resource_name', '=', String(l.resource_name));
        dup = regionId === null ? dup.where('region_id', 'is', null) : dup.where('region_id', '=', regionId);
        dup = l.project_id !== undefined ? dup.where('project_id', '=', String(l.project_id)) : dup.where('domain_id', '=', String(l.domain_id));
        if (await dup.executeTakeFirst()) throw duplicate('limit');
        const id = hexId();
        await trx
          .insertInto('limits')
          .values({
            id,
            project_id: (l.project_id as string | undefined) ?? null,
            domain_id: (l.domain_id as string | undefined) ?? null,
            service_id: serviceId,
            region_id: regionId,
            resource_name: String(l.resource_name),
            resource_limit: Number(l.resource_limit),
            description: (l.description as string | null | undefined) ?? null,
          })
          .execute();
        ids.push(id);
      }
      return Promise.all(ids.map((id) => this.limit(id, trx)));
    });
  }

  async updateLimit(id: string, patch: Attrs): Promise<Limit> {
    return this.env.write({ id, op: 'update' }, async (trx) => {
      const old = await this.limit(id, trx);
      await trx
        .updateTable('limits')
        .set({
          resource_limit: patch.resource_limit !== undefined ? Number(patch.resource_limit) : old.resource_limit,
          description: patch.description !== undefined ? ((patch.description as string | null) ?? null) : old.description,
        })
        .where('id', '=', id)
        .execute();
      return this.limit(id, trx);
    });
  }

  async deleteLimit(id: string): Promise<void> {
    await this.env.write({ id, op: 'delete' }, async (trx) => {
      await this.limit(id, trx);
      await trx.deleteFrom('limits').where('id', '=', id).execute();
    });
  }
}
