import { type Updateable, sql } from 'kysely';
import { isUniqueViolation, type Q } from '../../store/db.js';
import type { DomainsTable } from '../../store/schema.js';
import { hexId } from '../../util/ids.js';
import { isoMicros } from '../../util/time.js';
import { conflict, forbiddenNotSecurity, notFound } from './errors.js';
import { type Attrs, type Domain, domainOf, type IdentityEnv, mergedExtra, splitExtra, updateRow } from './model.js';

const KNOWN = ['id', 'name', 'description', 'enabled', 'tags', 'options', 'links'];

export interface DomainFilters {
  name?: string;
  enabled?: boolean;
  ids?: string[];
}

/** Keystone domains. Deleting one requires it to be disabled first, and takes its contents along. */
export class Domains {
  constructor(private readonly env: IdentityEnv) {}

  async list(f: DomainFilters = {}, q: Q = this.env.store.db): Promise<Domain[]> {
    if (f.ids && f.ids.length === 0) return [];
    let qb = q.selectFrom('domains').selectAll();
    if (f.name !== undefined) qb = qb.where(sql<string>`lower(name)`, '=', f.name.toLowerCase());
    if (f.enabled !== undefined) qb = qb.where('enabled', '=', f.enabled ? 1 : 0);
    if (f.ids) qb = qb.where('id', 'in', f.ids);
    return (await qb.orderBy('created_at').orderBy('name').orderBy('id').execute()).map(domainOf);
  }

  async find(id: string, q: Q = this.env.store.db): Promise<Domain | undefined> {
    const row = await q.selectFrom('domains').selectAll().where('id', '=', id).executeTakeFirst();
    return row && domainOf(row);
  }

  /** By name, ignoring case: DevStack's Keystone compares names with MySQL's case-insensitive collation. */
  async findByName(name: string, q: Q = this.env.store.db): Promise<Domain | undefined> {
    const row = await q
      .selectFrom('domains')
      .selectAll()
      .where(sql<string>`lower(name)`, '=', name.toLowerCase())
      .orderBy(sql`name = ${name}`, 'desc')
      .executeTakeFirst();
    return row && domainOf(row);
  }

  async get(id: string, q: Q = this.env.store.db): Promise<Domain> {
    const d = await this.find(id, q);
    if (!d) throw notFound('domain', id);
    return d;
  }

  async create(input: Attrs): Promise<Domain> {
    const id = hexId();
    const name = String(input.name).trim();
    return this.env.write({ id, op: 'create' }, async (trx) => {
      try {
        await trx
          .insertInto('domains')
          .values({
            id,
            name,
            description: (input.description as string | null | undefined) ?? '',
            enabled: input.enabled === false ? 0 : 1,
            tags: JSON.stringify(input.tags ?? []),
            extra: JSON.stringify(splitExtra(input, KNOWN)),
            created_at: isoMicros(),
          })
          .execute();
      } catch (e) {
        if (isUniqueViolation(e)) throw conflict('project', `it is not permitted to have two projects acting as domains with the same name: ${name}`);
        throw e;
      }
      return this.get(id, trx);
    });
  }

  async update(id: string, patch: Attrs): Promise<Domain> {
    return this.env.write({ id, op: 'update' }, async (trx) => {
      const old = await this.get(id, trx);
      const set: Updateable<DomainsTable> = {};
      if (patch.name !== undefined) set.name = String(patch.name).trim();
      if (patch.description !== undefined) set.description = (patch.description as string | null) ?? '';
      if (patch.enabled !== undefined) set.enabled = patch.enabled ? 1 : 0;
      if (patch.tags !== undefined) set.tags = JSON.stringify(patch.tags);
      set.extra = mergedExtra(old.extra, patch, KNOWN);
      await updateRow(trx, 'domains', id, set, () =>
        conflict('project', `it is not permitted to have two projects acting as domains with the same name: ${String(set.name)}`),
      );
      return this.get(id, trx);
    });
  }

  /** Delete a disabled domain with its projects, users and every grant on or to them. */
  async delete(id: string): Promise<void> {
    await this.env.write({ id, op: 'delete' }, async (trx) => {
      const d = await this.get(id, trx);
      if (d.enabled) throw forbiddenNotSecurity('Cannot delete a domain that is enabled, please disable it first.');
      const projects = (await trx.selectFrom('projects').select('id').where('domain_id', '=', id).execute()).map((p) => p.id);
      const users = (await trx.selectFrom('users').select('id').where('domain_id', '=', id).execute()).map((u) => u.id);
      const groups = (await trx.selectFrom('groups').select('id').where('domain_id', '=', id).execute()).map((g) => g.id);
      const targets = [id, ...projects];
      await trx.deleteFrom('role_assignments').where('target_type', 'in', ['project', 'domain']).where('target_id', 'in', targets).execute();
      if (users.length) {
        await trx.deleteFrom('role_assignments').where('actor_id', 'in', users).execute();
        await trx.deleteFrom('group_members').where('user_id', 'in', users).execute();
        await trx.deleteFrom('application_credentials').where('user_id', 'in', users).execute();
        await trx.updateTable('tokens').set({ revoked: 1 }).where('user_id', 'in', users).execute();
      }
      if (groups.length) {
        await trx.deleteFrom('role_assignments').where('actor_id', 'in', groups).execute();
        await trx.deleteFrom('group_members').where('group_id', 'in', groups).execute();
        await trx.deleteFrom('groups').where('id', 'in', groups).execute();
      }
      if (projects.length) await trx.deleteFrom('application_credentials').where('project_id', 'in', projects).execute();
      // Roles the domain owns go with it, with their grants and rules.
      const roles = (await trx.selectFrom('roles').select('id').where('domain_id', '=', id).execute()).map((r) => r.id);
      if (roles.length) {
        await trx.deleteFrom('role_assignments').where('role_id', 'in', roles).execute();
        await trx
          .deleteFrom('implied_roles')
          .where((eb) => eb.or([eb('prior_role_id', 'in', roles), eb('implied_role_id', 'in', roles)]))
          .execute();
        await trx.deleteFrom('roles').where('id', 'in', roles).execute();
      }
      await trx.deleteFrom('limits').where('domain_id', '=', id).execute();
      await trx.deleteFrom('domain_configs').where('domain_id', '=', id).execute();
      await trx.deleteFrom('users').where('domain_id', '=', id).execute();
      await trx.deleteFrom('projects').where('domain_id', '=', id).execute();
      await trx.deleteFrom('domains').where('id', '=', id).execute();
    });
  }
}
