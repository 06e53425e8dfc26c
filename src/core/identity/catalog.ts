import { fromJson, isUniqueViolation, type Q, type Tx } from '../../store/db.js';
import type { CatalogEndpointsTable, CatalogServicesTable } from '../../store/schema.js';
import { hexId } from '../../util/ids.js';
import type { CatalogService } from '../catalog.js';
import { DomainError } from '../errors.js';
import { conflict, endpointGroupNotFound, expecting, forbiddenNotSecurity, notFound, notFoundTarget, validationError } from './errors.js';
import type { Attrs, IdentityEnv } from './model.js';

export interface Service {
  id: string;
  type: string;
  enabled: boolean;
  /** name, description and anything else given, in the order given. */
  extra: Attrs;
}

export interface Endpoint {
  id: string;
  service_id: string;
  interface: string;
  region_id: string | null;
  url: string;
  enabled: boolean;
  extra: Attrs;
}

export interface Region {
  id: string;
  description: string;
  parent_region_id: string | null;
  extra: Attrs;
}

export interface EndpointGroup {
  id: string;
  name: string;
  description: string | null;
  filters: Attrs;
}

const serviceOf = (r: CatalogServicesTable): Service => ({ id: r.id, type: r.type, enabled: !!r.enabled, extra: fromJson<Attrs>(r.extra, {}) });
const endpointOf = (r: CatalogEndpointsTable): Endpoint => ({
  id: r.id,
  service_id: r.service_id,
  interface: r.interface,
  region_id: r.region_id,
  url: r.url,
  enabled: !!r.enabled,
  extra: fromJson<Attrs>(r.extra, {}),
});

const only = (input: Attrs, drop: readonly string[]) => Object.fromEntries(Object.entries(input).filter(([k]) => !drop.includes(k)));

/** Keystone's format_url: `$(name)s` or `%(name)s`, from the token's user and project. */
function formatUrl(url: string, vars: ReadonlyMap<string, string>): string | null {
  let ok = true;
  const out = url.replace(/[$%]\(([^)]+)\)s/g, (_m, name: string) => {
    const v = vars.get(name);
    if (v === undefined) ok = false;
    return v ?? '';
  });
  return ok ? out : null;
}

/** The project-scoped view of the catalog a token carries. */
export interface CatalogScope {
  userId: string;
  projectId: string | null;
}

/**
 * The service catalog as data, as Keystone keeps it: services, endpoints, regions, endpoint
 * groups and project–endpoint associations (OS-EP-FILTER). It starts with PocketStack's own
 * services (seed()); an administrator may change or remove them — the APIs keep serving, only
 * the catalog changes. Tokens and /v3/auth/catalog read it on every call, so a change shows at
 * once.
 */
export class Catalog {
  constructor(private readonly env: IdentityEnv) {}

  private get db() {
    return this.env.store.db;
  }

  // ------------------------------------------------------------ seed

  /**
   * Put PocketStack's own services in the catalog: each service type the first time it is
   * served (not again once an administrator deleted it), and on every start the current URLs
   * of their endpoints (ports change between starts).
   */
  async seed(builtin: CatalogService[], trx: Tx): Promise<void> {
    const seeded = new Set((await trx.selectFrom('catalog_seeded').select('type').execute()).map((r) => r.type));
    let position = 0;
    for (const s of builtin) {
      position++;
      const have = await trx.selectFrom('catalog_services').select('id').where('id', '=', s.id).executeTakeFirst();
      if (!seeded.has(s.type)) {
        await trx.insertInto('catalog_seeded').values({ type: s.type }).execute();
        if (!have) {
          await trx
            .insertInto('catalog_services')
            .values({ id: s.id, type: s.type, enabled: 1, extra: JSON.stringify({ name: s.name }), position })
            .execute();
        }
      } else if (!have) continue;
      for (const [i, e] of s.endpoints.entries()) {
        const region = await trx.selectFrom('catalog_regions').select('id').where('id', '=', e.region_id).executeTakeFirst();
        const ep = await trx.selectFrom('catalog_endpoints').select(['id', 'url']).where('id', '=', e.id).executeTakeFirst();
        if (ep) {
          if (ep.url !== e.url) await trx.updateTable('catalog_endpoints').set({ url: e.url }).where('id', '=', e.id).execute();
        } else if (!seeded.has(s.type)) {
          if (!region) await trx.insertInto('catalog_regions').values({ id: e.region_id, description: '', parent_region_id: null, extra: '{}' }).execute();
          await trx
            .insertInto('catalog_endpoints')
            .values({ id: e.id, service_id: s.id, interface: e.interface, region_id: e.region_id, url: e.url, enabled: 1, extra: '{}', position: i })
            .execute();
        }
      }
    }
  }

  // ------------------------------------------------------------ what tokens carry

  /** Keystone's v3 catalog for a token: enabled services and endpoints, filtered by the project's associations. */
  async forToken(scope: CatalogScope): Promise<CatalogService[]> {
    const services = await this.db.selectFrom('catalog_services').selectAll().where('enabled', '=', 1).orderBy('position').orderBy('id').execute();
    const endpoints = await this.db.selectFrom('catalog_endpoints').selectAll().where('enabled', '=', 1).orderBy('position').orderBy('id').execute();
    const vars = new Map<string, string>([['user_id', scope.userId]]);
    if (scope.projectId) {
      vars.set('project_id', scope.projectId);
      vars.set('tenant_id', scope.projectId);
    }
    const filtered = scope.projectId ? await this.endpointIdsForProject(scope.projectId) : null;
    const out: CatalogService[] = [];
    for (const s of services) {
      const eps = endpoints
        .filter((e) => e.service_id === s.id && (!filtered?.size || filtered.has(e.id)))
        .flatMap((e) => {
          const url = formatUrl(e.url, vars);
          return url === null
            ? []
            : [{ id: e.id, interface: e.interface as 'public' | 'internal' | 'admin', region_id: e.region_id ?? '', region: e.region_id ?? '', url }];
        });
      if (filtered?.size && eps.length === 0) continue;
      out.push({ id: s.id, type: s.type, name: String(fromJson<Attrs>(s.extra, {}).name ?? ''), endpoints: eps });
    }
    return out;
  }

  // ------------------------------------------------------------ services

  async services(): Promise<Service[]> {
    return (await this.db.selectFrom('catalog_services').selectAll().orderBy('position').orderBy('id').execute()).map(serviceOf);
  }

  async service(id: string, q: Q = this.db): Promise<Service> {
    const r = await q.selectFrom('catalog_services').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) throw notFound('service', id);
    return serviceOf(r);
  }

  private async nextPosition(q: Q, table: 'catalog_services' | 'catalog_endpoints'): Promise<number> {
    const r = await q
      .selectFrom(table)
      .select((eb) => eb.fn.max('position').as('p'))
      .executeTakeFirst();
    return Number(r?.p ?? 0) + 1;
  }

  async createService(input: Attrs): Promise<Service> {
    const id = hexId();
    const extra = { ...(Object.hasOwn(input, 'name') ? {} : { name: '' }), ...only(input, ['id', 'type', 'enabled', 'links']) };
    return this.env.write({ id, op: 'create' }, async (trx) => {
      await trx
        .insertInto('catalog_services')
        .values({
          id,
          type: String(input.type),
          enabled: input.enabled === false ? 0 : 1,
          extra: JSON.stringify(extra),
          position: await this.nextPosition(trx, 'catalog_services'),
        })
        .execute();
      return this.service(id, trx);
    });
  }

  async updateService(id: string, patch: Attrs): Promise<Service> {
    return this.env.write({ id, op: 'update' }, async (trx) => {
      const old = await this.service(id, trx);
      await trx
        .updateTable('catalog_services')
        .set({
          type: patch.type !== undefined ? String(patch.type) : old.type,
          enabled: patch.enabled !== undefined ? (patch.enabled ? 1 : 0) : old.enabled ? 1 : 0,
          extra: JSON.stringify({ ...old.extra, ...only(patch, ['id', 'type', 'enabled', 'links']) }),
        })
        .where('id', '=', id)
        .execute();
      return this.service(id, trx);
    });
  }

  /** Delete a service and its endpoints. If it is one of PocketStack's, the API behind it keeps running. */
  async deleteService(id: string): Promise<void> {
    await this.env.write({ id, op: 'delete' }, async (trx) => {
      await this.service(id, trx);
      const eps = (await trx.selectFrom('catalog_endpoints').select('id').where('service_id', '=', id).execute()).map((e) => e.id);
      if (eps.length) await trx.deleteFrom('project_endpoints').where('endpoint_id', 'in', eps).execute();
      await trx.deleteFrom('catalog_endpoints').where('service_id', '=', id).execute();
      await trx.deleteFrom('catalog_services').where('id', '=', id).execute();
    });
  }

  // ------------------------------------------------------------ endpoints

  async endpoints(): Promise<Endpoint[]> {
    const rows = await this.db
      .selectFrom('catalog_endpoints as e')
      .leftJoin('catalog_services as s', 's.id', 'e.service_id')
      .selectAll('e')
      .orderBy('s.position')
      .orderBy('e.service_id')
      .orderBy('e.position')
      .orderBy('e.id')
      .execute();
    return rows.map(endpointOf);
  }

  async endpoint(id: string, q: Q = this.db): Promise<Endpoint> {
    const r = await q.selectFrom('catalog_endpoints').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) throw notFound('endpoint', id);
    return endpointOf(r);
  }

  /** Keystone's `region` (legacy) names a region that is made when missing; `region_id` must exist. */
  private async regionFor(input: Attrs, trx: Tx): Promise<string | null | undefined> {
    if ((input.region_id === undefined || input.region_id === null) && input.region !== undefined && input.region !== null) {
      const id = String(input.region);
      const have = await trx.selectFrom('catalog_regions').select('id').where('id', '=', id).executeTakeFirst();
      if (!have) await trx.insertInto('catalog_regions').values({ id, description: '', parent_region_id: null, extra: '{}' }).execute();
      return id;
    }
    if (input.region_id === undefined) return undefined;
    if (input.region_id === null) return null;
    const id = String(input.region_id);
    const have = await trx.selectFrom('catalog_regions').select('id').where('id', '=', id).executeTakeFirst();
    if (!have) throw expecting('endpoint region_id', 'region table');
    return id;
  }

  private async assertService(id: string, trx: Tx): Promise<void> {
    const s = await trx.selectFrom('catalog_services').select('id').where('id', '=', id).executeTakeFirst();
    if (!s) throw expecting('endpoint service_id', 'service table');
  }

  async createEndpoint(input: Attrs): Promise<Endpoint> {
    const id = hexId();
    return this.env.write({ id, op: 'create' }, async (trx) => {
      const region = await this.regionFor(input, trx);
      await this.assertService(String(input.service_id), trx);
      await trx
        .insertInto('catalog_endpoints')
        .values({
          id,
          service_id: String(input.service_id),
          interface: String(input.interface),
          region_id: region ?? null,
          url: String(input.url),
          enabled: input.enabled === false ? 0 : 1,
          extra: JSON.stringify(only(input, ['id', 'service_id', 'interface', 'region_id', 'region', 'url', 'enabled', 'links', 'legacy_endpoint_id'])),
          position: await this.nextPosition(trx, 'catalog_endpoints'),
        })
        .execute();
      return this.endpoint(id, trx);
    });
  }

  async updateEndpoint(id: string, patch: Attrs): Promise<Endpoint> {
    return this.env.write({ id, op: 'update' }, async (trx) => {
      const old = await this.endpoint(id, trx);
      const region = await this.regionFor(patch, trx);
      if (patch.service_id !== undefined) await this.assertService(String(patch.service_id), trx);
      await trx
        .updateTable('catalog_endpoints')
        .set({
          service_id: patch.service_id !== undefined ? String(patch.service_id) : old.service_id,
          interface: patch.interface !== undefined ? String(patch.interface) : old.interface,
          region_id: region === undefined ? old.region_id : region,
          url: patch.url !== undefined ? String(patch.url) : old.url,
          enabled: patch.enabled !== undefined ? (patch.enabled ? 1 : 0) : old.enabled ? 1 : 0,
          extra: JSON.stringify({
            ...old.extra,
            ...only(patch, ['id', 'service_id', 'interface', 'region_id', 'region', 'url', 'enabled', 'links', 'legacy_endpoint_id']),
          }),
        })
        .where('id', '=', id)
        .execute();
      return this.endpoint(id, trx);
    });
  }

  async deleteEndpoint(id: string): Promise<void> {
    await this.env.write({ id, op: 'delete' }, async (trx) => {
      await this.endpoint(id, trx);
      await trx.deleteFrom('project_endpoints').where('endpoint_id', '=', id).execute();
      await trx.deleteFrom('catalog_endpoints').where('id', '=', id).execute();
    });
  }

  // ------------------------------------------------------------ regions

  async regions(): Promise<Region[]> {
    const rows = await this.db.selectFrom('catalog_regions').selectAll().orderBy('id').execute();
    return rows.map((r) => ({ ...r, extra: fromJson<Attrs>(r.extra, {}) }));
  }

  async region(id: string, q: Q = this.db): Promise<Region> {
    const r = await q.selectFrom('catalog_regions').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) throw notFound('region', id);
    return { ...r, extra: fromJson<Attrs>(r.extra, {}) };
  }

  private async assertNoCycle(id: string, parent: string | null, trx: Tx): Promise<void> {
    for (let p = parent, depth = 0; p && depth < 1000; depth++) {
      if (p === id) throw validationError(`The specified parent region ${parent} would create a circular region hierarchy.`);
      const row = await trx.selectFrom('catalog_regions').select('parent_region_id').where('id', '=', p).executeTakeFirst();
      p = row?.parent_region_id ?? null;
    }
  }

  async createRegion(input: Attrs): Promise<Region> {
    const id = input.id !== undefined && input.id !== null ? String(input.id) : hexId();
    return this.env.write({ id, op: 'create' }, async (trx) => {
      if (await trx.selectFrom('catalog_regions').select('id').where('id', '=', id).executeTakeFirst()) {
        throw conflict('region', `Duplicate ID, ${id}.`);
      }
      const parent = (input.parent_region_id as string | null | undefined) ?? null;
      if (parent && !(await trx.selectFrom('catalog_regions').select('id').where('id', '=', parent).executeTakeFirst())) throw notFound('region', parent);
      try {
        await trx
          .insertInto('catalog_regions')
          .values({
            id,
            description: (input.description as string | null | undefined) ?? '',
            parent_region_id: parent,
            extra: JSON.stringify(only(input, ['id', 'description', 'parent_region_id', 'links'])),
          })
          .execute();
      } catch (e) {
        if (isUniqueViolation(e)) throw conflict('region', `Duplicate ID, ${id}.`);
        throw e;
      }
      return this.region(id, trx);
    });
  }

  async updateRegion(id: string, patch: Attrs): Promise<Region> {
    return this.env.write({ id, op: 'update' }, async (trx) => {
      const old = await this.region(id, trx);
      let parent = old.parent_region_id;
      if (patch.parent_region_id !== undefined) {
        parent = (patch.parent_region_id as string | null) ?? null;
        if (parent && !(await trx.selectFrom('catalog_regions').select('id').where('id', '=', parent).executeTakeFirst())) throw notFound('region', parent);
        await this.assertNoCycle(id, parent, trx);
      }
      await trx
        .updateTable('catalog_regions')
        .set({
          description: patch.description !== undefined ? ((patch.description as string | null) ?? '') : old.description,
          parent_region_id: parent,
          extra: JSON.stringify({ ...old.extra, ...only(patch, ['id', 'description', 'parent_region_id', 'links']) }),
        })
        .where('id', '=', id)
        .execute();
      return this.region(id, trx);
    });
  }

  /** Delete a region and its children, refused while any of them has endpoints. */
  async deleteRegion(id: string): Promise<void> {
    await this.env.write({ id, op: 'delete' }, async (trx) => {
      await this.region(id, trx);
      const all: string[] = [];
      for (let todo = [id]; todo.length; ) {
        const r = todo.shift()!;
        if (all.includes(r)) continue;
        all.push(r);
        todo.push(...(await trx.selectFrom('catalog_regions').select('id').where('parent_region_id', '=', r).execute()).map((c) => c.id));
      }
      const used = await trx.selectFrom('catalog_endpoints').select('id').where('region_id', 'in', all).executeTakeFirst();
      if (used) throw forbiddenNotSecurity(`Unable to delete region ${id} because it or its child regions have associated endpoints.`);
      await trx.deleteFrom('catalog_regions').where('id', 'in', all).execute();
    });
  }

  // ------------------------------------------------------------ endpoint groups (OS-EP-FILTER)

  async endpointGroups(): Promise<EndpointGroup[]> {
    const rows = await this.db.selectFrom('endpoint_groups').selectAll().orderBy('name').orderBy('id').execute();
    return rows.map((r) => ({ ...r, filters: fromJson<Attrs>(r.filters, {}) }));
  }

  async endpointGroup(id: string, q: Q = this.db): Promise<EndpointGroup> {
    const r = await q.selectFrom('endpoint_groups').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) throw endpointGroupNotFound(id);
    return { ...r, filters: fromJson<Attrs>(r.filters, {}) };
  }

  /** Keystone accepts only these endpoint attributes as filters. */
  private checkFilters(filters: unknown): void {
    const valid = ['interface', 'service_id', 'region_id'];
    if (!filters || typeof filters !== 'object' || Object.keys(filters).length === 0 || Object.keys(filters).some((k) => !valid.includes(k))) {
      throw expecting('service_id or region_id or interface', 'endpoint_group');
    }
  }

  async createEndpointGroup(input: Attrs): Promise<EndpointGroup> {
    this.checkFilters(input.filters);
    const id = hexId();
    return this.env.write({ id, op: 'create' }, async (trx) => {
      await trx
        .insertInto('endpoint_groups')
        .values({ id, name: String(input.name), description: (input.description as string | null | undefined) ?? null, filters: JSON.stringify(input.filters) })
        .execute();
      return this.endpointGroup(id, trx);
    });
  }

  async updateEndpointGroup(id: string, patch: Attrs): Promise<EndpointGroup> {
    if (patch.filters !== undefined) this.checkFilters(patch.filters);
    return this.env.write({ id, op: 'update' }, async (trx) => {
      const old = await this.endpointGroup(id, trx);
      await trx
        .updateTable('endpoint_groups')
        .set({
          name: patch.name !== undefined ? String(patch.name) : old.name,
          description: patch.description !== undefined ? ((patch.description as string | null) ?? null) : old.description,
          filters: JSON.stringify(patch.filters ?? old.filters),
        })
        .where('id', '=', id)
        .execute();
      return this.endpointGroup(id, trx);
    });
  }

  async deleteEndpointGroup(id: string): Promise<void> {
    await this.env.write({ id, op: 'delete' }, async (trx) => {
      await this.endpointGroup(id, trx);
      await trx.deleteFrom('project_endpoint_groups').where('endpoint_group_id', '=', id).execute();
      await trx.deleteFrom('endpoint_groups').where('id', '=', id).execute();
    });
  }

  /** Endpoints an endpoint group's filters select. */
  async endpointsInGroup(id: string): Promise<Endpoint[]> {
    const g = await this.endpointGroup(id);
    return (await this.endpoints()).filter((e) => Object.entries(g.filters).every(([k, v]) => (e as unknown as Attrs)[k] === v));
  }

  // ------------------------------------------------------------ project associations

  async addProjectEndpoint(projectId: string, endpointId: string): Promise<void> {
    await this.env.write({ id: endpointId, projectId, op: 'update' }, async (trx) => {
      await this.endpoint(endpointId, trx);
      const have = await trx
        .selectFrom('project_endpoints')
        .select('project_id')
        .where('project_id', '=', projectId)
        .where('endpoint_id', '=', endpointId)
        .executeTakeFirst();
      if (!have) await trx.insertInto('project_endpoints').values({ project_id: projectId, endpoint_id: endpointId }).execute();
    });
  }

  async checkProjectEndpoint(projectId: string, endpointId: string): Promise<void> {
    const have = await this.db
      .selectFrom('project_endpoints')
      .select('project_id')
      .where('project_id', '=', projectId)
      .where('endpoint_id', '=', endpointId)
      .executeTakeFirst();
    if (!have) throw notFoundTarget(`Endpoint ${endpointId} not found in project ${projectId}`);
  }

  async removeProjectEndpoint(projectId: string, endpointId: string): Promise<void> {
    await this.env.write({ id: endpointId, projectId, op: 'update' }, async (trx) => {
      const res = await trx.deleteFrom('project_endpoints').where('project_id', '=', projectId).where('endpoint_id', '=', endpointId).executeTakeFirst();
      if (Number(res.numDeletedRows) === 0) throw notFoundTarget(`Endpoint ${endpointId} not found in project ${projectId}`);
    });
  }

  /** Endpoints associated with a project, directly or through its endpoint groups (Keystone's list_endpoints_for_project). */
  async endpointIdsForProject(projectId: string): Promise<Set<string>> {
    const ids = new Set(
      (await this.db.selectFrom('project_endpoints').select('endpoint_id').where('project_id', '=', projectId).execute()).map((r) => r.endpoint_id),
    );
    const groups = await this.db.selectFrom('project_endpoint_groups').select('endpoint_group_id').where('project_id', '=', projectId).execute();
    for (const g of groups) {
      try {
        for (const e of await this.endpointsInGroup(g.endpoint_group_id)) ids.add(e.id);
      } catch (e) {
        if (!(e instanceof DomainError)) throw e;
      }
    }
    return ids;
  }

  async projectIdsForEndpoint(endpointId: string): Promise<string[]> {
    await this.endpoint(endpointId);
    return (await this.db.selectFrom('project_endpoints').select('project_id').where('endpoint_id', '=', endpointId).execute()).map((r) => r.project_id);
  }

  async addProjectEndpointGroup(projectId: string, groupId: string): Promise<void> {
    await this.env.write({ id: groupId, projectId, op: 'update' }, async (trx) => {
      await this.endpointGroup(groupId, trx);
      const have = await trx
        .selectFrom('project_endpoint_groups')
        .select('project_id')
        .where('project_id', '=', projectId)
        .where('endpoint_group_id', '=', groupId)
        .executeTakeFirst();
      if (!have) await trx.insertInto('project_endpoint_groups').values({ project_id: projectId, endpoint_group_id: groupId }).execute();
    });
  }

  async checkProjectEndpointGroup(projectId: string, groupId: string): Promise<void> {
    await this.endpointGroup(groupId);
    const have = await this.db
      .selectFrom('project_endpoint_groups')
      .select('project_id')
      .where('project_id', '=', projectId)
      .where('endpoint_group_id', '=', groupId)
      .executeTakeFirst();
    if (!have) throw notFoundTarget('Endpoint Group Project Association not found');
  }

  async removeProjectEndpointGroup(projectId: string, groupId: string): Promise<void> {
    await this.env.write({ id: groupId, projectId, op: 'update' }, async (trx) => {
      const res = await trx
        .deleteFrom('project_endpoint_groups')
        .where('project_id', '=', projectId)
        .where('endpoint_group_id', '=', groupId)
        .executeTakeFirst();
      if (Number(res.numDeletedRows) === 0) throw notFoundTarget('Endpoint Group Project Association not found');
    });
  }

  async projectIdsForEndpointGroup(groupId: string): Promise<string[]> {
    await this.endpointGroup(groupId);
    return (await this.db.selectFrom('project_endpoint_groups').select('project_id').where('endpoint_group_id', '=', groupId).execute()).map(
      (r) => r.project_id,
    );
  }

  async endpointGroupIdsForProject(projectId: string): Promise<string[]> {
    return (await this.db.selectFrom('project_endpoint_groups').select('endpoint_group_id').where('project_id', '=', projectId).execute()).map(
      (r) => r.endpoint_group_id,
    );
  }

  /** Drop a deleted project's associations. */
  async forgetProject(projectId: string, trx: Tx): Promise<void> {
    await trx.deleteFrom('project_endpoints').where('project_id', '=', projectId).execute();
    await trx.deleteFrom('project_endpoint_groups').where('project_id', '=', projectId).execute();
  }
}
