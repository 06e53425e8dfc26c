/**
 * Address scopes (Neutron's `address-scope`, `rbac-address-scope`): a scope binds subnet pools
 * whose prefixes must not overlap (subnetpools.ts checks the binding); a network's
 * ipv4/ipv6_address_scope is the scope of its subnets' pool. Routing between subnets of one scope
 * without NAT is the data plane's: it reads scopes through the snapshot.
 */
import { uuid as newUuid } from '../../util/ids.js';
import { DomainError, notFound } from '../errors.js';
import { string, toBoolean, toInt, uuid, values as valuesV } from './attributes.js';
import { ACCESS_SHARED, type RbacObjectType, WILDCARD, deleteObjectPolicies, insertPolicy, setWildcardShared, sharedIds, sharedWith } from './rbac.js';
import type { ResourceOps } from './registry.js';
import { type ResourceDef, standardAttrs } from './resource.js';

const scopeNotFound = (id: string) => notFound('AddressScopeNotFound', `Address scope ${id} could not be found.`);

/** Address scopes in the RBAC engine: subnet pools in a scope depend on access to it. */
export const addressScopeRbacType: RbacObjectType = {
  type: 'address_scope',
  kind: 'address_scope',
  table: 'address_scopes',
  actions: [ACCESS_SHARED],
  notFound: scopeNotFound,
  callback: 'neutron.objects.address_scope.RbacNeutronDbObjectMixin.validate_rbac_policy_change',
  async boundProjects(q, id) {
    const rows = await q.selectFrom('subnetpools').select('project_id').where('address_scope_id', '=', id).execute();
    return new Set(rows.map((r) => r.project_id));
  },
};

interface ScopeComputed {
  shared: boolean;
}

export const addressScopeDef: ResourceDef<'address_scopes', ScopeComputed> = {
  name: 'address_scope',
  collection: 'address_scopes',
  path: 'address-scopes',
  table: 'address_scopes',
  label: 'Address scope',
  notFound: scopeNotFound,
  bulk: true,
  // neutron-lib's map (no standard attributes); rendered in the OVO's order.
  attrs: {
    id: { filter: true, sort: true, column: 'id', validate: uuid },
    project_id: standardAttrs().project_id,
    name: { post: true, put: true, default: '', filter: true, sort: true, column: 'name', validate: string(255) },
    shared: { post: true, put: true, default: false, sort: true, adminOnly: true, convert: toBoolean },
    ip_version: { post: true, filter: true, sort: true, column: 'ip_version', codec: 'int', convert: toInt, validate: valuesV([4, 6]) },
    tenant_id: standardAttrs().tenant_id,
  },
  sharedWhere: (eb, ctx) => sharedWith(eb, 'address_scope', 'address_scopes.id', ctx),
  specialFilters: {
    shared: (eb, values, ctx) => {
      const shared = sharedWith(eb, 'address_scope', 'address_scopes.id', ctx);
      return toBoolean(values[0]) ? shared : eb.not(shared);
    },
  },
  async load(q, rows, ctx) {
    const shared = await sharedIds(
      q,
      'address_scope',
      rows.map((r) => r.id),
      ctx,
    );
    for (const r of rows) r.__shared = shared.has(r.id);
  },
};

export function addressScopeOps(): ResourceOps<'address_scopes', ScopeComputed> {
  return {
    def: addressScopeDef,
    async create(w, _ctx, p) {
      const v = p.values;
      const id = newUuid();
      const project = v.project_id as string;
      await w.trx
        .insertInto('address_scopes')
        .values({ id, project_id: project, name: v.name as string, ip_version: v.ip_version as number })
        .execute();
      if (v.shared)
        await insertPolicy(w.trx, { project_id: project, object_type: 'address_scope', object_id: id, action: ACCESS_SHARED, target_tenant: WILDCARD });
      return id;
    },
    async update(w, _ctx, row, p) {
      const v = p.values;
      if ('shared' in v) {
        const wildcard = await w.trx
          .selectFrom('rbac_policies')
          .select('id')
          .where('object_type', '=', 'address_scope')
          .where('object_id', '=', row.id)
          .where('target_tenant', '=', WILDCARD)
          .executeTakeFirst();
        if (wildcard && v.shared === false) {
          throw new DomainError('bad_request', 'AddressScopeUpdateError', `Unable to update address scope ${row.id} : Shared address scope can't be unshared.`);
        }
        await setWildcardShared(w, addressScopeRbacType, row.id, row.project_id, v.shared as boolean);
      }
      if ('name' in v)
        await w.trx
          .updateTable('address_scopes')
          .set({ name: v.name as string })
          .where('id', '=', row.id)
          .execute();
    },
    async delete(w, _ctx, row) {
      const pool = await w.trx.selectFrom('subnetpools').select('id').where('address_scope_id', '=', row.id).executeTakeFirst();
      if (pool) {
        throw new DomainError(
          'conflict',
          'AddressScopeInUse',
          `Unable to complete operation on address scope ${row.id}. There are one or more subnet pools in use on the address scope.`,
        );
      }
      await deleteObjectPolicies(w.trx, 'address_scope', row.id);
      await w.trx.deleteFrom('address_scopes').where('id', '=', row.id).execute();
    },
  };
}
