/**
 * RBAC policies (Neutron's `rbac-policies` and the `rbac-<type>` extensions): who besides its owner
 * may use an object. One engine for every object type: a type says which table holds its objects,
 * which actions it takes and which projects depend on access to an object (so removing that access
 * is refused while they do); networks add ML2's own checks and `router:external`. Object modules
 * read sharing through the helpers here (`sharedWith` in list conditions, `sharedIds` when
 * rendering `shared`), which makes `shared` the derived attribute it is in Neutron: true when a
 * policy shares the object with everyone or with the caller's project.
 *
 * A module serving another object type (QoS policies: `qos_policy`) registers its RbacObjectType
 * with the RbacTypes of the cloud, and the API accepts that object_type from then on.
 */
import { type Expression, type ExpressionBuilder, type Kysely, type SqlBool, sql } from 'kysely';
import type { Q, Tx } from '../../store/db.js';
import { isUniqueViolation } from '../../store/db.js';
import type { DB, RbacPoliciesTable } from '../../store/schema.js';
import { uuid as newUuid } from '../../util/ids.js';
import type { RequestContext } from '../context.js';
import { DomainError, conflict, invalidInput, notFound } from '../errors.js';
import type { NetworkKind, Work } from '../work.js';
import { type Attr, string, uuid } from './attributes.js';
import type { ResourceOps } from './registry.js';
import { type InlineAttr, type ResourceDef, type ResourceTable, policyError, toColumns } from './resource.js';

export const ACCESS_SHARED = 'access_as_shared';
export const ACCESS_EXTERNAL = 'access_as_external';
export const WILDCARD = '*';

export type RbacEvent = 'create' | 'update' | 'delete';

/** A policy as stored and rendered. */
export type RbacPolicy = RbacPoliciesTable;

/** What a callback of Neutron's says when it refuses an RBAC change (RbacPolicyInUse details, InvalidInput). */
export interface CallbackRefusal {
  /** The callback's name as Neutron prints it (`module.Class.method`). */
  callback: string;
  message: string;
}

export interface RbacObjectType {
  /** `object_type` as the API names it. */
  type: string;
  /** The object's own kind: its changes are published under it (a QoS policy's is `policy`). */
  kind: NetworkKind;
  /** The table of the objects (rows with an id and an owning project). */
  table: ResourceTable;
  /** Valid actions, in Neutron's order (InvalidActionForType lists them). */
  actions: readonly string[];
  /** The object's own not-found error (a policy on an object that is gone). */
  notFound(id: string): DomainError;
  /**
   * The callback that validates changes for this type in Neutron (RbacNeutronDbObjectMixin's for
   * the OVO types); it is named in the refusals.
   */
  callback?: string;
  /** Projects whose objects depend on access to the object (get_bound_project_ids). */
  boundProjects?(q: Q, objectId: string): Promise<Set<string>>;
  /**
   * Checks instead of the generic ones (networks keep ML2's): throw a DomainError to refuse (an
   * RbacRefused names Neutron's callbacks). `newTarget` is the update's new target_tenant.
   */
  validate?(w: Work, ctx: RequestContext, event: RbacEvent, policy: RbacPolicy, newTarget?: string): Promise<void>;
  /** Further checks on create (a subnet pool's address scope must reach the target). */
  validateCreate?(w: Work, ctx: RequestContext, policy: RbacPolicy): Promise<void>;
  /** After a policy of this type changed (a network's revision, `router:external`). */
  changed?(w: Work, policy: RbacPolicy, event: RbacEvent, before?: RbacPolicy): Promise<void>;
}

/** Refusals by Neutron callbacks: rendered as InvalidInput on create, RbacPolicyInUse otherwise. */
export class RbacRefused extends Error {
  constructor(readonly refusals: CallbackRefusal[]) {
    super(refusals.map((r) => r.message).join(','));
  }
}

/**
 * A callback's identity as neutron-lib prints it: its name and a hash. Python's hash of the bound
 * method differs from run to run; a fixed one per name is as good.
 */
function callbackId(name: string): string {
  let h = 0x811c9dc5;
  for (const ch of name) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return `${name}-${8_700_000_000_000 + h}`;
}

/** neutron-lib's CallbackFailure text: `Callback <id> failed with "<error>"`, comma-joined. */
function callbackFailure(refusals: CallbackRefusal[]): string {
  return refusals.map((r) => `Callback ${callbackId(r.callback)} failed with "${r.message}"`).join(',');
}

export function rbacPolicyInUse(objectId: string, details: string): DomainError {
  return conflict('RbacPolicyInUse', `RBAC policy on object ${objectId} cannot be removed because other objects depend on it.\nDetails: ${details}`);
}

/** The object types this cloud serves, by name. */
export class RbacTypes {
  private readonly types = new Map<string, RbacObjectType>();

  register(t: RbacObjectType): void {
    this.types.set(t.type, t);
  }

  get(type: string): RbacObjectType | undefined {
    return this.types.get(type);
  }

  get names(): string[] {
    return [...this.types.keys()];
  }
}

// ---------------------------------------------------------------- reading sharing

/** Targets that reach the caller: everyone, or its project. */
function targetsOf(ctx: RequestContext): string[] {
  return ctx.projectId ? [WILDCARD, ctx.projectId] : [WILDCARD];
}

/**
 * A list condition: the object (its id in column `idRef`) has a policy with one of `actions` for
 * everyone or the caller's project.
 */
export function sharedWith<T extends keyof DB>(
  eb: ExpressionBuilder<DB, T>,
  objectType: string,
  idRef: string,
  ctx: RequestContext,
  actions: readonly string[] = [ACCESS_SHARED],
): Expression<SqlBool> {
  const b = eb as unknown as ExpressionBuilder<DB, 'rbac_policies'>;
  return b.exists(
    b
      .selectFrom('rbac_policies')
      .select(sql`1`.as('one'))
      .where('rbac_policies.object_type', '=', objectType)
      .whereRef('rbac_policies.object_id', '=', sql.ref(idRef) as never)
      .where('rbac_policies.action', 'in', [...actions])
      .where('rbac_policies.target_tenant', 'in', targetsOf(ctx)),
  );
}

/** Of `ids`, those shared (access_as_shared) with everyone or the caller's project. */
export async function sharedIds(q: Q, objectType: string, ids: string[], ctx: RequestContext): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await q
    .selectFrom('rbac_policies')
    .select('object_id')
    .where('object_type', '=', objectType)
    .where('action', '=', ACCESS_SHARED)
    .where('target_tenant', 'in', targetsOf(ctx))
    .where('object_id', 'in', ids)
    .execute();
  return new Set(rows.map((r) => r.object_id));
}

/**
 * sharedIds for one object read with it by a show (`ResourceDef.inline`): is it shared with
 * everyone or the caller's project? (An unscoped caller's project is `''`, which no policy names.)
 */
export function sharedInline<T extends ResourceTable>(objectType: string, table: T): InlineAttr<T> {
  return {
    rows: (eb, caller) =>
      (eb as unknown as ExpressionBuilder<DB, 'rbac_policies'>)
        .selectFrom('rbac_policies')
        .select('rbac_policies.object_id')
        .where('rbac_policies.object_type', '=', objectType)
        .where('rbac_policies.action', '=', ACCESS_SHARED)
        .where('rbac_policies.target_tenant', 'in', [WILDCARD, caller.project])
        .whereRef('rbac_policies.object_id', '=', sql.ref<string>(`${table}.id`)),
    columns: ['object_id'],
    value: (rows) => rows.length > 0,
  };
}

/** Is the object shared (access_as_shared) with everyone or `projectId`? */
export async function isSharedWith(q: Q, objectType: string, objectId: string, projectId: string | null): Promise<boolean> {
  const row = await q
    .selectFrom('rbac_policies')
    .select('id')
    .where('object_type', '=', objectType)
    .where('object_id', '=', objectId)
    .where('action', '=', ACCESS_SHARED)
    .where('target_tenant', 'in', projectId ? [WILDCARD, projectId] : [WILDCARD])
    .executeTakeFirst();
  return !!row;
}

/** Has the object a wildcard policy of `action`? */
export async function hasWildcard(q: Q, objectType: string, objectId: string, action = ACCESS_SHARED): Promise<boolean> {
  const row = await q
    .selectFrom('rbac_policies')
    .select('id')
    .where('object_type', '=', objectType)
    .where('object_id', '=', objectId)
    .where('action', '=', action)
    .where('target_tenant', '=', WILDCARD)
    .executeTakeFirst();
  return !!row;
}

// ---------------------------------------------------------------- writing sharing

/**
 * The `shared` attribute of an object written as policies (RbacNeutronDbObjectMixin.update_shared):
 * true adds the wildcard policy in `projectId`'s name, false removes it after the in-use check the
 * type asks for. Returns whether anything changed.
 */
export async function setWildcardShared(w: Work, t: RbacObjectType, objectId: string, projectId: string, shared: boolean): Promise<boolean> {
  const had = await w.trx
    .selectFrom('rbac_policies')
    .selectAll()
    .where('object_type', '=', t.type)
    .where('object_id', '=', objectId)
    .where('action', '=', ACCESS_SHARED)
    .where('target_tenant', '=', WILDCARD)
    .executeTakeFirst();
  if (!!had === shared) return false;
  if (shared) {
    await insertPolicy(w.trx, { project_id: projectId, object_type: t.type, object_id: objectId, action: ACCESS_SHARED, target_tenant: WILDCARD });
    return true;
  }
  await checkRemoval(w.trx, t, objectId, WILDCARD);
  await w.trx.deleteFrom('rbac_policies').where('id', '=', had!.id).execute();
  return true;
}

export async function insertPolicy(trx: Tx, p: Omit<RbacPolicy, 'id'>): Promise<RbacPolicy> {
  const row: RbacPolicy = { id: newUuid(), ...p };
  await trx.insertInto('rbac_policies').values(row).execute();
  return row;
}

/** Policies go with their object (Neutron's foreign key cascade). */
export async function deleteObjectPolicies(trx: Tx, objectType: string, objectId: string): Promise<void> {
  await trx.deleteFrom('rbac_policies').where('object_type', '=', objectType).where('object_id', '=', objectId).execute();
}

// ---------------------------------------------------------------- the generic checks

type OwnedRow = { id: string; project_id: string };

async function objectRow(q: Q, t: RbacObjectType, id: string): Promise<OwnedRow | undefined> {
  const db = q as unknown as Kysely<Record<string, OwnedRow>>;
  const table: string = t.table;
  return db.selectFrom(table).select(['id', 'project_id']).where('id', '=', id).executeTakeFirst();
}

/**
 * RbacNeutronDbObjectMixin._validate_rbac_policy_delete: access of `target` may go unless a
 * project using the object depends on it (for the wildcard: unless every such project keeps a
 * policy of its own).
 */
async function checkRemoval(q: Q, t: RbacObjectType, objectId: string, target: string): Promise<void> {
  const bound = t.boundProjects ? await t.boundProjects(q, objectId) : new Set<string>();
  const inUse = () => new RbacRefused([{ callback: t.callback ?? '', message: rbacPolicyInUse(objectId, `project_id=${target}`).message }]);
  const direct = () => rbacPolicyInUse(objectId, `project_id=${target}`);
  if (target !== WILDCARD) {
    if (await hasWildcard(q, t.type, objectId)) return;
    if (bound.has(target)) throw t.callback ? inUse() : direct();
    return;
  }
  const others = await q
    .selectFrom('rbac_policies')
    .select('target_tenant')
    .where('object_type', '=', t.type)
    .where('object_id', '=', objectId)
    .where('action', '=', ACCESS_SHARED)
    .where('target_tenant', '!=', WILDCARD)
    .execute();
  const kept = new Set(others.map((o) => o.target_tenant));
  if ([...bound].some((p) => !kept.has(p))) throw t.callback ? inUse() : direct();
}

/** RbacNeutronDbObjectMixin.validate_rbac_policy_change for the OVO types. */
async function genericValidate(w: Work, ctx: RequestContext, t: RbacObjectType, event: RbacEvent, policy: RbacPolicy, newTarget?: string): Promise<void> {
  const obj = await objectRow(w.trx, t, policy.object_id);
  if (!obj) throw new RbacRefused([{ callback: t.callback ?? '', message: "'NoneType' object is not subscriptable" }]);
  if ((event === 'create' || event === 'update') && !ctx.isAdmin && obj.project_id !== ctx.projectId) {
    throw new RbacRefused([{ callback: t.callback ?? '', message: invalidInput('Only admins can manipulate policies on objects they do not own').message }]);
  }
  if (policy.action !== ACCESS_SHARED) return;
  if (event === 'create') return;
  if (event === 'update' && (newTarget === policy.target_tenant || newTarget === WILDCARD)) return;
  if (obj.project_id === policy.target_tenant) return;
  await checkRemoval(w.trx, t, policy.object_id, policy.target_tenant);
}

async function validateChange(w: Work, ctx: RequestContext, t: RbacObjectType, event: RbacEvent, policy: RbacPolicy, newTarget?: string): Promise<void> {
  if (t.validate) await t.validate(w, ctx, event, policy, newTarget);
  else await genericValidate(w, ctx, t, event, policy, newTarget);
}

// ---------------------------------------------------------------- the API resource

const policyNotFound = (id: string, type = 'unknown') => notFound('RbacPolicyNotFound', `RBAC policy of type ${type} with ID ${id} not found`);

/** Attributes that enforce policy, in the attribute map's order (the refusal names those set). */
const ENFORCED = ['object_type', 'object_id', 'target_tenant', 'action'];

/** Python's repr of a tuple of strings (InvalidActionForType lists the valid actions so). */
const tupleRepr = (xs: readonly string[]) => (xs.length === 1 ? `('${xs[0]}',)` : `(${xs.map((x) => `'${x}'`).join(', ')})`);

export function rbacPolicyDef(types: RbacTypes): ResourceDef<'rbac_policies'> {
  const objectType: Attr['convert'] = (v) => {
    const normalized = typeof v === 'string' ? v.trim().toLowerCase() : v;
    if (typeof normalized === 'string' && types.get(normalized)) return normalized;
    throw invalidInput(`'${String(v)}' is not a valid RBAC object type`);
  };
  const order = ['id', 'project_id', 'action', 'object_id', 'target_tenant', 'object_type', 'tenant_id'];
  return {
    name: 'rbac_policy',
    collection: 'rbac_policies',
    path: 'rbac-policies',
    table: 'rbac_policies',
    label: 'RBAC policy',
    notFound: (id) => policyNotFound(id),
    bulk: true,
    // neutron/extensions/rbac.py's map, in its order (requests are checked in it).
    attrs: {
      id: { filter: true, sort: true, column: 'id', validate: uuid },
      object_type: { post: true, default: null, filter: true, sort: true, column: 'object_type', convert: objectType },
      object_id: { post: true, filter: true, sort: true, column: 'object_id', validate: uuid },
      target_tenant: { post: true, put: true, filter: true, sort: true, column: 'target_tenant', validate: string(255) },
      tenant_id: { post: true, filter: true, sort: true, column: 'project_id', validate: string(255) },
      action: { post: true, filter: true, sort: true, column: 'action', validate: string(255) },
      project_id: { post: true, filter: true, sort: true, column: 'project_id', validate: string(255) },
    },
    order: { show: order },
  };
}

/** Neutron's RbacPluginMixin over the registered object types. */
export function rbacPolicyOps(types: RbacTypes): ResourceOps<'rbac_policies'> {
  const def = rbacPolicyDef(types);

  /** Callback refusals become InvalidInput on create and RbacPolicyInUse on update and delete. */
  const guarded = async (event: RbacEvent, objectId: string, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (e) {
      if (!(e instanceof RbacRefused)) throw e;
      if (event === 'create') throw invalidInput(callbackFailure(e.refusals));
      throw rbacPolicyInUse(objectId, callbackFailure(e.refusals));
    }
  };

  /** The object's change is published too: who may see or use it changed. */
  const objectChanged = async (w: Work, t: RbacObjectType, objectId: string) => {
    const obj = await objectRow(w.trx, t, objectId);
    if (obj) w.changed(t.kind, obj.id, obj.project_id, 'update');
  };

  return {
    def,
    quota: 'rbac_policy',
    async create(w, ctx, p) {
      const v = p.values;
      const type = v.object_type as string | null;
      const t = type === null ? undefined : types.get(type);
      if (!t) throw invalidInput(`'${String(type)}' is not a valid RBAC object type`);
      const target = v.target_tenant as string;
      if (!ctx.isAdmin && target === WILDCARD) {
        throw policyError(
          'create_rbac_policy',
          ENFORCED.filter((a) => p.given.has(a)),
        );
      }
      const policy: RbacPolicy = {
        id: newUuid(),
        project_id: v.project_id as string,
        object_type: t.type,
        object_id: v.object_id as string,
        action: v.action as string,
        target_tenant: target,
      };
      await guarded('create', policy.object_id, async () => {
        await validateChange(w, ctx, t, 'create', policy);
        if (t.validateCreate) await t.validateCreate(w, ctx, policy);
      });
      if (!t.actions.includes(policy.action)) {
        throw new DomainError(
          'bad_request',
          'InvalidActionForType',
          `Invalid input for operation: Invalid action '${policy.action}' for object type '${t.type}'. Valid actions: ${tupleRepr(t.actions)}.`,
        );
      }
      try {
        await w.trx.insertInto('rbac_policies').values(policy).execute();
      } catch (e) {
        if (isUniqueViolation(e)) throw conflict('DuplicateRbacPolicy', 'An RBAC policy already exists with those values.');
        throw e;
      }
      if (t.changed) await t.changed(w, policy, 'create');
      await objectChanged(w, t, policy.object_id);
      return policy.id;
    },

    async update(w, ctx, row, p) {
      const t = types.get(row.object_type);
      if (!t) throw policyNotFound(row.id);
      if (!('target_tenant' in p.values)) return;
      const target = p.values.target_tenant as string;
      if (!ctx.isAdmin && target === WILDCARD) throw policyError('update_rbac_policy', ['target_tenant']);
      await guarded('update', row.object_id, () => validateChange(w, ctx, t, 'update', row, target));
      const before = { ...row };
      try {
        await w.trx
          .updateTable('rbac_policies')
          .set(toColumns(def, { target_tenant: target }))
          .where('id', '=', row.id)
          .execute();
      } catch (e) {
        if (isUniqueViolation(e)) throw conflict('DuplicateRbacPolicy', 'An RBAC policy already exists with those values.');
        throw e;
      }
      row.target_tenant = target;
      if (t.changed) await t.changed(w, row, 'update', before);
      await objectChanged(w, t, row.object_id);
    },

    async delete(w, ctx, row) {
      const t = types.get(row.object_type);
      if (!t) throw policyNotFound(row.id);
      await guarded('delete', row.object_id, () => validateChange(w, ctx, t, 'delete', row));
      await w.trx.deleteFrom('rbac_policies').where('id', '=', row.id).execute();
      if (t.changed) await t.changed(w, row, 'delete');
      await objectChanged(w, t, row.object_id);
    },
  };
}
