import type { Updateable } from 'kysely';
import { isUniqueViolation, type Q } from '../../store/db.js';
import type { RolesTable } from '../../store/schema.js';
import { hexId } from '../../util/ids.js';
import { DomainError } from '../errors.js';
import { conflict, immutableDelete, immutableUpdate, impliedRoleNotFound, notFound } from './errors.js';
import { type Attrs, type IdentityEnv, type Role, roleOf, mergedExtra, splitExtra, updateRow } from './model.js';
import { mergeOptions } from './projects.js';

const KNOWN = ['id', 'name', 'domain_id', 'description', 'options', 'links'];

export interface RoleFilters {
  name?: string;
  domain_id?: string | null;
  ids?: string[];
}

const duplicate = (name: string, domainId?: string | null) =>
  conflict('role', domainId ? `Duplicate entry found with name ${name} at domain ID ${domainId}` : `Duplicate entry found with name ${name}`);

/**
 * Keystone's roles — global ones, and roles owned by a domain (which only carry the roles they
 * imply) — and the inference rules between them (admin → member → reader).
 */
export class Roles {
  constructor(private readonly env: IdentityEnv) {}

  async list(f: RoleFilters = {}, q: Q = this.env.store.db): Promise<Role[]> {
    if (f.ids && f.ids.length === 0) return [];
    let qb = q.selectFrom('roles').selectAll();
    // Without a domain, Keystone lists the global roles only (its hint domain_id=None).
    if (f.domain_id !== undefined) qb = f.domain_id === null ? qb.where('domain_id', 'is', null) : qb.where('domain_id', '=', f.domain_id);
    if (f.name !== undefined) qb = qb.where('name', '=', f.name);
    if (f.ids) qb = qb.where('id', 'in', f.ids);
    return (await qb.orderBy('name').execute()).map(roleOf);
  }

  async find(id: string, q: Q = this.env.store.db): Promise<Role | undefined> {
    const row = await q.selectFrom('roles').selectAll().where('id', '=', id).executeTakeFirst();
    return row && roleOf(row);
  }

  async get(id: string, q: Q = this.env.store.db): Promise<Role> {
    const r = await this.find(id, q);
    if (!r) throw notFound('role', id);
    return r;
  }

  async create(input: Attrs): Promise<Role> {
    const id = hexId();
    const name = String(input.name).trim();
    const domainId = (input.domain_id as string | null | undefined) ?? null;
    return this.env.write({ id, op: 'create' }, async (trx) => {
      // Keystone does not check that the domain exists.
      try {
        await trx
          .insertInto('roles')
          .values({
            id,
            name,
            domain_id: domainId,
            description: (input.description as string | undefined) ?? null,
            extra: JSON.stringify(splitExtra(input, KNOWN)),
            options: JSON.stringify(mergeOptions({}, (input.options as Attrs | undefined) ?? {})),
          })
          .execute();
      } catch (e) {
        if (isUniqueViolation(e)) throw duplicate(name, domainId);
        throw e;
      }
      return this.get(id, trx);
    });
  }

  async update(id: string, patch: Attrs): Promise<Role> {
    return this.env.write({ id, op: 'update' }, async (trx) => {
      const old = await this.get(id, trx);
      const options = patch.options !== undefined ? mergeOptions(old.options, patch.options as Attrs) : old.options;
      // An immutable role may only be changed to drop its immutability.
      if (old.options.immutable === true && options.immutable === true) throw immutableUpdate('role', id);
      const set: Updateable<RolesTable> = {};
      if (patch.name !== undefined) set.name = String(patch.name).trim();
      if (patch.description !== undefined) set.description = (patch.description as string | null) ?? null;
      if (patch.options !== undefined) set.options = JSON.stringify(options);
      set.extra = mergedExtra(old.extra, patch, KNOWN);
      await updateRow(trx, 'roles', id, set, () => duplicate(String(set.name), old.domain_id));
      return this.get(id, trx);
    });
  }

  /** Delete a role with every grant of it and every rule it takes part in. */
  async delete(id: string): Promise<void> {
    await this.env.write({ id, op: 'delete' }, async (trx) => {
      const role = await this.get(id, trx);
      if (role.options.immutable === true) throw immutableDelete('role', id);
      // Keystone deletes the application credentials of every user who held the role on a project.
      const holders = await trx
        .selectFrom('role_assignments')
        .select(['actor_id', 'target_id'])
        .where('role_id', '=', id)
        .where('actor_type', '=', 'user')
        .where('target_type', '=', 'project')
        .execute();
      for (const h of holders)
        await trx.deleteFrom('application_credentials').where('user_id', '=', h.actor_id).where('project_id', '=', h.target_id).execute();
      await trx.deleteFrom('role_assignments').where('role_id', '=', id).execute();
      await trx
        .deleteFrom('implied_roles')
        .where((eb) => eb.or([eb('prior_role_id', '=', id), eb('implied_role_id', '=', id)]))
        .execute();
      await trx.deleteFrom('roles').where('id', '=', id).execute();
    });
  }

  // ------------------------------------------------------------ implied roles

  /** All inference rules (prior → implied). */
  async rules(q: Q = this.env.store.db): Promise<Array<{ prior_role_id: string; implied_role_id: string }>> {
    return q.selectFrom('implied_roles').selectAll().orderBy('prior_role_id').orderBy('implied_role_id').execute();
  }

  async implies(priorId: string, impliedId: string, q: Q = this.env.store.db): Promise<boolean> {
    const r = await q
      .selectFrom('implied_roles')
      .select('prior_role_id')
      .where('prior_role_id', '=', priorId)
      .where('implied_role_id', '=', impliedId)
      .executeTakeFirst();
    return !!r;
  }

  async getRule(priorId: string, impliedId: string): Promise<{ prior: Role; implied: Role }> {
    const prior = await this.get(priorId);
    const implied = await this.get(impliedId);
    if (!(await this.implies(priorId, impliedId))) throw impliedRoleNotFound(priorId, impliedId);
    return { prior, implied };
  }

  async createRule(priorId: string, impliedId: string): Promise<{ prior: Role; implied: Role }> {
    return this.env.write({ id: priorId, op: 'update' }, async (trx) => {
      const prior = await this.get(priorId, trx);
      const implied = await this.get(impliedId, trx);
      // Keystone's `prohibited_implied_role` (default: admin); worded as its InvalidImpliedRole.
      if (implied.name === 'admin') throw new DomainError('forbidden', 'InvalidImpliedRole', `${impliedId} cannot be an implied roles.`);
      // "Global role cannot imply a domain-specific role" (shown with InvalidImpliedRole's own words).
      if (prior.domain_id === null && implied.domain_id !== null) {
        throw new DomainError('forbidden', 'InvalidImpliedRole', `${impliedId} cannot be an implied roles.`);
      }
      if (!(await this.implies(priorId, impliedId, trx))) {
        await trx.insertInto('implied_roles').values({ prior_role_id: priorId, implied_role_id: impliedId }).execute();
      }
      return { prior, implied };
    });
  }

  async deleteRule(priorId: string, impliedId: string): Promise<void> {
    await this.env.write({ id: priorId, op: 'update' }, async (trx) => {
      await this.get(priorId, trx);
      await this.get(impliedId, trx);
      const res = await trx.deleteFrom('implied_roles').where('prior_role_id', '=', priorId).where('implied_role_id', '=', impliedId).executeTakeFirst();
      if (Number(res.numDeletedRows) === 0) throw impliedRoleNotFound(priorId, impliedId);
    });
  }
}
