import type { Updateable } from 'kysely';
import { isUniqueViolation, type Q } from '../../store/db.js';
import type { ProjectsTable } from '../../store/schema.js';
import { hexId } from '../../util/ids.js';
import { isoMicros } from '../../util/time.js';
import { conflict, forbiddenNotSecurity, notFound, validationError } from './errors.js';
import { type Attrs, type IdentityEnv, type Project, projectOf, mergedExtra, splitExtra, updateRow } from './model.js';

const KNOWN = ['id', 'name', 'domain_id', 'description', 'enabled', 'parent_id', 'is_domain', 'tags', 'options', 'links'];

/** Keystone's `max_project_tree_depth` (projects below the domain). */
const MAX_DEPTH = 5;

export interface ProjectFilters {
  name?: string;
  domain_id?: string;
  enabled?: boolean;
  parent_id?: string;
  ids?: string[];
}

const nameConflict = (name: string, id: string) =>
  conflict('project', `it is not permitted to have two projects with either the same name or same id in the same domain: name is ${name}, project id ${id}`);

/** Keystone projects (regular ones; a project acting as a domain is a row in `domains`). */
export class Projects {
  constructor(private readonly env: IdentityEnv) {}

  async list(f: ProjectFilters = {}, q: Q = this.env.store.db): Promise<Project[]> {
    if (f.ids && f.ids.length === 0) return [];
    let qb = q.selectFrom('projects').selectAll();
    if (f.name !== undefined) qb = qb.where('name', '=', f.name);
    if (f.domain_id !== undefined) qb = qb.where('domain_id', '=', f.domain_id);
    if (f.enabled !== undefined) qb = qb.where('enabled', '=', f.enabled ? 1 : 0);
    if (f.parent_id !== undefined) qb = qb.where('parent_id', '=', f.parent_id);
    if (f.ids) qb = qb.where('id', 'in', f.ids);
    return (await qb.orderBy('created_at').orderBy('name').orderBy('id').execute()).map(projectOf);
  }

  async find(id: string, q: Q = this.env.store.db): Promise<Project | undefined> {
    const row = await q.selectFrom('projects').selectAll().where('id', '=', id).executeTakeFirst();
    return row && projectOf(row);
  }

  async get(id: string, q: Q = this.env.store.db): Promise<Project> {
    const p = await this.find(id, q);
    if (!p) throw notFound('project', id);
    return p;
  }

  async findByName(name: string, domainId: string, q: Q = this.env.store.db): Promise<Project | undefined> {
    const row = await q.selectFrom('projects').selectAll().where('name', '=', name).where('domain_id', '=', domainId).executeTakeFirst();
    return row && projectOf(row);
  }

  /** Ancestors from the parent up to (not including) the domain. */
  private async ancestors(parentId: string, domainId: string, q: Q): Promise<Project[]> {
    const out: Project[] = [];
    for (let id = parentId; id !== domainId; ) {
      const p = await this.get(id, q);
      out.push(p);
      id = p.parent_id;
      if (out.length > MAX_DEPTH + 1) break;
    }
    return out;
  }

  /**
   * Create a project. `input.domain_id` is set by the caller (the edge fills in Keystone's
   * default). Unknown domain or parent is a 400 naming what was not found, as Keystone answers.
   */
  async create(input: Attrs & { domain_id: string }): Promise<Project> {
    const id = hexId();
    const name = String(input.name).trim();
    const domainId = input.domain_id;
    const parentId = (input.parent_id as string | null | undefined) || domainId;
    return this.env.write({ id, projectId: id, op: 'create' }, async (trx) => {
      const domain = await trx.selectFrom('domains').select(['id', 'enabled']).where('id', '=', domainId).executeTakeFirst();
      if (!domain) throw validationError(`Could not find domain: ${domainId}.`);
      let parents: Project[] = [];
      if (parentId !== domainId) {
        const parentDomain = await trx.selectFrom('domains').select('id').where('id', '=', parentId).executeTakeFirst();
        if (parentDomain) {
          throw validationError(
            `Cannot create project, the parent (${parentId}) is acting as a domain, but this project's domain id (${domainId}) does not match the parent's id.`,
          );
        }
        const parent = await this.find(parentId, trx);
        if (!parent) throw validationError(`Could not find project: ${parentId}.`);
        if (parent.domain_id !== domainId) {
          throw validationError(
            `Cannot create project, since it specifies its domain_id ${domainId}, but specifies a parent in a different domain (${parent.domain_id}).`,
          );
        }
        parents = await this.ancestors(parentId, domainId, trx);
        const disabled = parents.find((p) => !p.enabled);
        if (disabled) throw validationError(`cannot create a project in a branch containing a disabled project: ${disabled.id}`);
        if (parents.length + 1 > MAX_DEPTH) throw forbiddenNotSecurity(`Max hierarchy depth reached for ${parentId} branch.`);
      }
      if (!domain.enabled) throw validationError(`cannot create a project in a branch containing a disabled project: ${domainId}`);
      try {
        await trx
          .insertInto('projects')
          .values({
            id,
            name,
            domain_id: domainId,
            description: (input.description as string | null | undefined) ?? '',
            enabled: input.enabled === false ? 0 : 1,
            parent_id: parentId,
            tags: JSON.stringify(input.tags ?? []),
            extra: JSON.stringify(splitExtra(input, KNOWN)),
            options: JSON.stringify(input.options ?? {}),
            created_at: isoMicros(),
          })
          .execute();
      } catch (e) {
        if (isUniqueViolation(e)) throw nameConflict(name, id);
        throw e;
      }
      return this.get(id, trx);
    });
  }

  async update(id: string, patch: Attrs): Promise<Project> {
    return this.env.write({ id, projectId: id, op: 'update' }, async (trx) => {
      const old = await this.get(id, trx);
      if (patch.domain_id !== undefined && patch.domain_id !== old.domain_id) throw validationError('Cannot change Domain ID');
      if (patch.parent_id !== undefined && patch.parent_id !== old.parent_id) throw forbiddenNotSecurity('Update of `parent_id` is not allowed.');
      if (patch.is_domain !== undefined && patch.is_domain !== false) throw validationError('Update of `is_domain` is not allowed.');
      const set: Updateable<ProjectsTable> = {};
      if (patch.name !== undefined) set.name = String(patch.name).trim();
      if (patch.description !== undefined) set.description = (patch.description as string | null) ?? '';
      if (patch.enabled !== undefined) {
        if (old.enabled && patch.enabled === false) {
          const child = await trx.selectFrom('projects').select('id').where('parent_id', '=', id).where('enabled', '=', 1).executeTakeFirst();
          if (child) throw forbiddenNotSecurity(`Cannot disable project ${id} since its subtree contains enabled projects.`);
        }
        if (!old.enabled && patch.enabled === true && old.parent_id !== old.domain_id) {
          const disabled = (await this.ancestors(old.parent_id, old.domain_id, trx)).find((p) => !p.enabled);
          if (disabled) throw forbiddenNotSecurity(`Cannot enable project ${id} since it has disabled parents`);
        }
        set.enabled = patch.enabled ? 1 : 0;
      }
      if (patch.tags !== undefined) set.tags = JSON.stringify(patch.tags);
      if (patch.options !== undefined) set.options = JSON.stringify(mergeOptions(old.options, patch.options as Attrs));
      set.extra = mergedExtra(old.extra, patch, KNOWN);
      await updateRow(trx, 'projects', id, set, () => nameConflict(String(set.name), id));
      return this.get(id, trx);
    });
  }

  /** Delete a leaf project and every grant on it; its tokens stop working at once. */
  async delete(id: string): Promise<void> {
    await this.env.write({ id, projectId: id, op: 'delete' }, async (trx) => {
      await this.get(id, trx);
      const child = await trx.selectFrom('projects').select('id').where('parent_id', '=', id).executeTakeFirst();
      if (child) {
        throw forbiddenNotSecurity(
          `Cannot delete the project ${id} since it is not a leaf in the hierarchy. Use the cascade option if you want to delete a whole subtree.`,
        );
      }
      await trx.deleteFrom('role_assignments').where('target_type', '=', 'project').where('target_id', '=', id).execute();
      await trx.updateTable('tokens').set({ revoked: 1 }).where('project_id', '=', id).execute();
      // What belongs to the project goes with it: application credentials, limits, trusts, endpoint associations.
      await trx.deleteFrom('application_credentials').where('project_id', '=', id).execute();
      await trx.deleteFrom('limits').where('project_id', '=', id).execute();
      await trx.updateTable('trusts').set({ deleted_at: isoMicros() }).where('project_id', '=', id).where('deleted_at', 'is', null).execute();
      await trx.deleteFrom('project_endpoints').where('project_id', '=', id).execute();
      await trx.deleteFrom('project_endpoint_groups').where('project_id', '=', id).execute();
      await trx.deleteFrom('projects').where('id', '=', id).execute();
    });
  }
}

/** Resource options: a null value removes the option. */
export function mergeOptions(old: Attrs, patch: Attrs): Attrs {
  const out: Attrs = { ...old };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = v;
  }
  return out;
}
