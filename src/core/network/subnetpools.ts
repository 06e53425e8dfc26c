import { chunks } from '../../store/db.js';
/**
 * Subnet pools (Neutron's `subnet_allocation`, `subnetpool-prefix-ops`): a set of prefixes from
 * which subnets are carved, either a requested CIDR or the first free block of a prefix length.
 * Like Neutron, a pool stores its prefixes compacted and reports prefix lengths as strings.
 */
import type { Q, Tx } from '../../store/db.js';
import type { SubnetpoolsTable } from '../../store/schema.js';
import { uuid as newUuid } from '../../util/ids.js';
import { type Cidr, type IpVersion, bitsOf, cidrToString, parseCidr } from '../../util/ip.js';
import { type Range, cidrRange, cidrTexts, intersects, isSubset, rangesOf, subtract, toCidrs } from '../../util/ipset.js';
import type { RequestContext } from '../context.js';
import type { Work } from '../work.js';
import { DomainError, conflict, invalidInput, neutronBadRequest, notFound, resourceNotFound } from '../errors.js';
import { type Validator, NOT_SPECIFIED, nonNegative, notEmptyString, subnetCidr, toBoolean, toInt, uuid, uuidOrNone } from './attributes.js';
import { ACCESS_SHARED, type RbacObjectType, RbacRefused, WILDCARD, deleteObjectPolicies, insertPolicy, isSharedWith, sharedIds, sharedWith } from './rbac.js';
import { type ResourceOps, actionMap } from './registry.js';
import { type ResourceDef, omitted, bumpRevision, insertRow, renderRows, standardAttrs, updateRow } from './resource.js';

/** type:subnet_list, worded as neutron-lib words it. */
const subnetList: Validator = (v) => {
  if (!Array.isArray(v)) return `'${String(v)}' is not a list`;
  if (new Set(v.map((x) => JSON.stringify(x))).size !== v.length) return `Duplicate items in the list: '${v.join(', ')}'`;
  for (const item of v) {
    const e = subnetCidr(item);
    if (e) return e;
  }
  return undefined;
};

/** Attributes computed for rendering: prefixes, and prefix lengths as the strings Neutron answers. */
interface SubnetpoolComputed {
  prefixes: string[];
  default_prefixlen: string | number;
  min_prefixlen: string | number;
  max_prefixlen: string | number;
  default_quota: number | null;
  address_scope_id: string | null;
  shared: boolean;
}

/**
 * A pool's update answer is the object's own dict (SubnetPool.to_dict): another order, prefix
 * lengths as numbers, and no default_quota or address_scope_id while they are unset.
 */
const UPDATE_ORDER = [
  'id',
  'project_id',
  'name',
  'ip_version',
  'default_prefixlen',
  'min_prefixlen',
  'max_prefixlen',
  'shared',
  'is_default',
  'default_quota',
  'address_scope_id',
  'revision_number',
  'description',
  'created_at',
  'updated_at',
  'tenant_id',
  'prefixes',
  'tags',
];

export const subnetpoolDef: ResourceDef<'subnetpools', SubnetpoolComputed> = {
  name: 'subnetpool',
  collection: 'subnetpools',
  table: 'subnetpools',
  label: 'Subnet pool',
  notFoundType: 'SubnetPoolNotFound',
  bulk: true,
  taggable: true,
  attrs: {
    id: { filter: true, sort: true, column: 'id', validate: uuid },
    name: { post: true, put: true, filter: true, sort: true, column: 'name', validate: notEmptyString(255) },
    tenant_id: standardAttrs().tenant_id,
    default_prefixlen: {
      post: true,
      put: true,
      default: NOT_SPECIFIED,
      filter: true,
      sort: true,
      column: 'default_prefixlen',
      convert: toInt,
      validate: nonNegative,
    },
    min_prefixlen: { post: true, put: true, default: NOT_SPECIFIED, filter: true, sort: true, column: 'min_prefixlen', convert: toInt, validate: nonNegative },
    max_prefixlen: { post: true, put: true, default: NOT_SPECIFIED, filter: true, sort: true, column: 'max_prefixlen', convert: toInt, validate: nonNegative },
    is_default: { post: true, put: true, default: false, filter: true, sort: true, adminOnly: true, column: 'is_default', codec: 'bool', convert: toBoolean },
    // Derived from RBAC policies (rbac-subnetpool); the column caches the wildcard policy.
    shared: { post: true, default: false, sort: true, adminOnly: true, column: 'shared', codec: 'bool', convert: toBoolean },
    prefixes: { post: true, put: true, validate: subnetList },
    ip_version: { filter: true, sort: true, column: 'ip_version', codec: 'int', convert: toInt },
    default_quota: {
      post: true,
      put: true,
      default: NOT_SPECIFIED,
      filter: true,
      sort: true,
      column: 'default_quota',
      codec: 'int',
      convert: toInt,
      validate: nonNegative,
    },
    address_scope_id: { post: true, put: true, default: NOT_SPECIFIED, filter: true, sort: true, column: 'address_scope_id', validate: uuidOrNone },
    ...(({ tenant_id: _t, project_id: _p, ...rest }) => rest)(standardAttrs()),
    project_id: standardAttrs().project_id,
  },
  order: { update: UPDATE_ORDER },
  // Pools shared with the caller (or everyone) are readable.
  sharedWhere: (eb, ctx) => eb.or([eb('subnetpools.shared', '=', 1), sharedWith(eb, 'subnetpool', 'subnetpools.id', ctx)]),
  specialFilters: {
    shared: (eb, values, ctx) => {
      const shared = sharedWith(eb, 'subnetpool', 'subnetpools.id', ctx);
      return toBoolean(values[0]) ? shared : eb.not(shared);
    },
  },
  async load(q, rows, ctx, view) {
    const prefixesOf = new Map<string, string[]>();
    const update = view === 'update';
    for (const r of rows) {
      r.__prefixes = [];
      // Neutron answers prefix lengths as strings (numbers in an update's answer).
      r.__default_prefixlen = update ? r.default_prefixlen : String(r.default_prefixlen);
      r.__min_prefixlen = update ? r.min_prefixlen : String(r.min_prefixlen);
      r.__max_prefixlen = update ? r.max_prefixlen : String(r.max_prefixlen);
      r.__default_quota = update && r.default_quota === null ? omitted() : r.default_quota;
      r.__address_scope_id = update && r.address_scope_id === null ? omitted() : r.address_scope_id;
      r.__shared = r.shared === 1;
      prefixesOf.set(r.id, []);
    }
    const shared = await sharedIds(
      q,
      'subnetpool',
      rows.filter((r) => r.shared !== 1).map((r) => r.id),
      ctx,
    );
    for (const r of rows) if (shared.has(r.id)) r.__shared = true;
    for (const chunk of chunks([...prefixesOf.keys()], 500)) {
      const prefixes = await q.selectFrom('subnetpool_prefixes').select(['subnetpool_id', 'cidr']).where('subnetpool_id', 'in', chunk).execute();
      for (const p of prefixes) prefixesOf.get(p.subnetpool_id)?.push(p.cidr);
    }
    for (const r of rows) r.__prefixes = sortCidrs(prefixesOf.get(r.id) ?? []);
  },
};

function sortCidrs(cidrs: string[]): string[] {
  return cidrs
    .map((c) => parseCidr(c)!)
    .sort((a, b) => (a.network < b.network ? -1 : a.network > b.network ? 1 : a.prefix - b.prefix))
    .map(cidrToString);
}

const versionOf = (pool: { ip_version: number }): IpVersion => (pool.ip_version === 6 ? 6 : 4);

const badRequest = (type: string, message: string) => new DomainError('bad_request', type, message);

const bounds = (version: IpVersion) => ({ min: version === 4 ? 8 : 64, max: bitsOf(version) });

function illegalBounds(type: string, len: number, baseType: string, baseLen: number) {
  return badRequest('IllegalSubnetPoolPrefixBounds', `Illegal prefix bounds: ${type}=${len}, ${baseType}=${baseLen}.`);
}

interface PoolSpec {
  ipVersion: IpVersion;
  prefixes: string[];
  min: number;
  max: number;
  def: number;
}

/** Neutron's SubnetPoolReader: version from the prefixes, compaction, prefix-length bounds. */
function readPool(prefixes: string[], given: { min?: number; max?: number; def?: number }): PoolSpec {
  if (prefixes.length === 0) throw badRequest('EmptySubnetPoolPrefixList', 'Empty subnet pool prefix list.');
  const parsed = prefixes.map((p) => parseCidr(p)!);
  const ipVersion = parsed[0].version;
  if (parsed.some((p) => p.version !== ipVersion)) throw badRequest('PrefixVersionMismatch', 'Cannot mix IPv4 and IPv6 prefixes in a subnet pool.');
  const b = bounds(ipVersion);
  const min = given.min ?? b.min;
  const max = given.max ?? b.max;
  const def = given.def ?? min;
  if (min < 0) throw badRequest('UnsupportedMinSubnetPoolPrefix', `Prefix '${min}' not supported in IPv4 pool.`);
  if (min > max) throw illegalBounds('min_prefixlen', min, 'max_prefixlen', max);
  if (max > b.max) throw illegalBounds('max_prefixlen', max, 'ip_version_max', b.max);
  if (def < min) throw illegalBounds('default_prefixlen', def, 'min_prefixlen', min);
  if (def > max) throw illegalBounds('default_prefixlen', def, 'max_prefixlen', max);
  return { ipVersion, prefixes: cidrTexts(ipVersion, parsed.map(cidrRange)), min, max, def };
}

async function checkNoOtherDefault(trx: Tx, ipVersion: number, exceptId?: string): Promise<void> {
  let q = trx.selectFrom('subnetpools').select('id').where('is_default', '=', 1).where('ip_version', '=', ipVersion);
  if (exceptId) q = q.where('id', '!=', exceptId);
  if (await q.executeTakeFirst()) {
    throw invalidInput('A default subnetpool for this IP family has already been set. Only one default may exist per IP family');
  }
}

async function poolPrefixes(q: Q, poolId: string): Promise<string[]> {
  return (await q.selectFrom('subnetpool_prefixes').select('cidr').where('subnetpool_id', '=', poolId).execute()).map((r) => r.cidr);
}

async function writePrefixes(trx: Tx, poolId: string, prefixes: string[]): Promise<void> {
  await trx.deleteFrom('subnetpool_prefixes').where('subnetpool_id', '=', poolId).execute();
  for (const cidr of prefixes) await trx.insertInto('subnetpool_prefixes').values({ subnetpool_id: poolId, cidr }).execute();
}

async function allocatedRanges(q: Q, poolId: string): Promise<Range[]> {
  const subnets = await q.selectFrom('subnets').select('cidr').where('subnetpool_id', '=', poolId).execute();
  return rangesOf(subnets.map((s) => s.cidr));
}

function prefixesFromBody(body: unknown): string[] {
  const prefixes = typeof body === 'object' && body !== null ? (body as { prefixes?: unknown }).prefixes : undefined;
  const err = subnetList(prefixes);
  if (err) throw new DomainError('bad_request', 'HTTPBadRequest', `Invalid input for prefixes. Reason: ${err}.`);
  return prefixes as string[];
}

export function subnetpoolOps(): ResourceOps<'subnetpools', SubnetpoolComputed> {
  const rendered = async (trx: Tx, ctx: RequestContext, id: string) => {
    const row = await trx.selectFrom('subnetpools').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    const [out] = await renderRows(trx, subnetpoolDef, ctx, [row]);
    return out;
  };

  /** Apply a new prefix list (superset of the old one, unless `allowShrink`) and bounds. */
  const applyUpdate = async (trx: Tx, ctx: RequestContext, row: SubnetpoolsTable, values: Record<string, unknown>) => {
    const oldPrefixes = await poolPrefixes(trx, row.id);
    let prefixes = oldPrefixes;
    if ('prefixes' in values) {
      const wanted = values.prefixes as string[];
      if (!isSubset(rangesOf(oldPrefixes), rangesOf(wanted))) {
        throw badRequest('IllegalSubnetPoolPrefixUpdate', 'Illegal update to prefixes: Existing prefixes must be a subset of the new prefixes.');
      }
      prefixes = wanted;
    }
    const spec = readPool(prefixes, {
      min: (values.min_prefixlen as number | undefined) ?? row.min_prefixlen,
      max: (values.max_prefixlen as number | undefined) ?? row.max_prefixlen,
      def: (values.default_prefixlen as number | undefined) ?? row.default_prefixlen,
    });
    if (spec.ipVersion !== row.ip_version) throw badRequest('PrefixVersionMismatch', 'Cannot mix IPv4 and IPv6 prefixes in a subnet pool.');
    if (values.is_default === true && row.is_default !== 1) await checkNoOtherDefault(trx, spec.ipVersion, row.id);
    // _check_subnetpool_update_allowed: a pool in a (shared) scope another project owns is not
    // the pool owner's to change.
    if (row.address_scope_id && !ctx.isAdmin) {
      const owner = await trx.selectFrom('address_scopes').select('project_id').where('id', '=', row.address_scope_id).executeTakeFirst();
      if (owner && owner.project_id !== ctx.projectId) {
        throw badRequest(
          'IllegalSubnetPoolUpdate',
          `Illegal subnetpool update : subnetpool ${row.id} cannot be updated when associated with shared address scope ${row.address_scope_id}.`,
        );
      }
    }
    const scope = 'address_scope_id' in values ? (values.address_scope_id as string | null) : row.address_scope_id;
    if (scope && (scope !== row.address_scope_id || 'prefixes' in values)) await checkAddressScope(trx, ctx, scope, row.id, spec.prefixes, spec.ipVersion);
    await writePrefixes(trx, row.id, spec.prefixes);
    const cols: Partial<SubnetpoolsTable> = { min_prefixlen: spec.min, max_prefixlen: spec.max, default_prefixlen: spec.def };
    if ('name' in values) cols.name = values.name as string;
    if ('description' in values) cols.description = values.description as string;
    if ('default_quota' in values) cols.default_quota = values.default_quota as number | null;
    if ('is_default' in values) cols.is_default = values.is_default ? 1 : 0;
    if ('address_scope_id' in values) cols.address_scope_id = scope;
    await updateRow(trx, subnetpoolDef, row, cols);
  };

  return {
    def: subnetpoolDef,
    quota: 'subnetpool',
    async create(w, ctx, p) {
      const { trx } = w;
      const v = p.values;
      const spec = readPool(v.prefixes as string[], {
        min: v.min_prefixlen as number | undefined,
        max: v.max_prefixlen as number | undefined,
        def: v.default_prefixlen as number | undefined,
      });
      if (v.is_default) await checkNoOtherDefault(trx, spec.ipVersion);
      const id = newUuid();
      const scope = (v.address_scope_id as string | null | undefined) ?? null;
      if (scope) await checkAddressScope(trx, ctx, scope, id, spec.prefixes, spec.ipVersion);
      await insertRow(trx, subnetpoolDef, id, {
        project_id: v.project_id as string,
        name: v.name as string,
        description: v.description as string,
        ip_version: spec.ipVersion,
        default_prefixlen: spec.def,
        min_prefixlen: spec.min,
        max_prefixlen: spec.max,
        default_quota: (v.default_quota as number | undefined) ?? null,
        is_default: v.is_default ? 1 : 0,
        shared: v.shared ? 1 : 0,
        address_scope_id: scope,
      });
      await writePrefixes(trx, id, spec.prefixes);
      if (v.shared)
        await insertPolicy(trx, {
          project_id: v.project_id as string,
          object_type: 'subnetpool',
          object_id: id,
          action: ACCESS_SHARED,
          target_tenant: WILDCARD,
        });
      return id;
    },

    async update(w, ctx, row, p) {
      const { trx } = w;
      await applyUpdate(trx, ctx, row, p.values);
      // The answer names the address scope when the request set it, even to null.
      if ('address_scope_id' in p.values) return { inPlace: { address_scope_id: p.values.address_scope_id } };
    },

    async delete(w, _ctx, row) {
      const { trx } = w;
      const used = await trx.selectFrom('subnets').select('id').where('subnetpool_id', '=', row.id).executeTakeFirst();
      if (used) throw badRequest('SubnetPoolDeleteError', 'Unable to delete subnet pool: Subnet pool has existing allocations.');
      await trx.deleteFrom('subnetpool_prefixes').where('subnetpool_id', '=', row.id).execute();
      await deleteObjectPolicies(trx, 'subnetpool', row.id);
      await trx.deleteFrom('subnetpools').where('id', '=', row.id).execute();
    },

    actions: actionMap({
      async add_prefixes(w, ctx, row, body) {
        const { trx } = w;
        const add = prefixesFromBody(body);
        if (add.length) await applyUpdate(trx, ctx, row, { prefixes: [...(await poolPrefixes(trx, row.id)), ...add] });
        return { prefixes: (await rendered(trx, ctx, row.id)).prefixes };
      },
      async remove_prefixes(w, ctx, row, body) {
        const { trx } = w;
        const remove = rangesOf(prefixesFromBody(body));
        const current = rangesOf(await poolPrefixes(trx, row.id));
        if (remove.length && intersects(current, remove)) {
          if (intersects(await allocatedRanges(trx, row.id), remove)) {
            throw badRequest('IllegalSubnetPoolPrefixUpdate', 'Illegal update to prefixes: One or more the prefixes to be removed is in use by a subnet..');
          }
          const left = subtract(current, remove);
          if (left.length === 0) throw badRequest('EmptySubnetPoolPrefixList', 'Empty subnet pool prefix list.');
          await writePrefixes(trx, row.id, cidrTexts(versionOf(row), left));
          await bumpRevision(trx, 'subnetpools', row.id);
        }
        return { prefixes: (await rendered(trx, ctx, row.id)).prefixes };
      },
    }),
  };
}

// ---------------------------------------------------------------- address scopes

/**
 * Neutron's _validate_address_scope_id: the scope must be the caller's own or shared with it, of
 * the pool's IP version, and its pools' prefixes must not overlap.
 */
async function checkAddressScope(trx: Tx, ctx: RequestContext, scopeId: string, poolId: string, prefixes: string[], ipVersion: number): Promise<void> {
  const scope = await trx.selectFrom('address_scopes').selectAll().where('id', '=', scopeId).executeTakeFirst();
  const visible = scope && (ctx.isAdmin || scope.project_id === ctx.projectId || (await isSharedWith(trx, 'address_scope', scopeId, ctx.projectId)));
  if (!scope || !visible) throw notFound('AddressScopeNotFound', `Address scope ${scopeId} could not be found.`);
  if (scope.ip_version !== ipVersion) {
    throw badRequest(
      'IllegalSubnetPoolIpVersionAssociationToAddressScope',
      `Illegal subnetpool association: subnetpool ${poolId} cannot associate with address scope ${scopeId} because subnetpool ip_version is not ${scope.ip_version}.`,
    );
  }
  const others = await trx.selectFrom('subnetpools').select('id').where('address_scope_id', '=', scopeId).where('id', '!=', poolId).execute();
  const mine = rangesOf(prefixes);
  for (const o of others) {
    if (intersects(rangesOf(await poolPrefixes(trx, o.id)), mine)) {
      throw conflict('AddressScopePrefixConflict', 'Failed to associate address scope: subnetpools within an address scope must have unique prefixes.');
    }
  }
}

/** Subnet pools in the RBAC engine (rbac-subnetpool): subnets from a pool depend on access to it. */
export const subnetpoolRbacType: RbacObjectType = {
  type: 'subnetpool',
  kind: 'subnetpool',
  table: 'subnetpools',
  actions: [ACCESS_SHARED],
  notFound: (id) => resourceNotFound('Subnet pool', id, 'SubnetPool'),
  callback: 'neutron.objects.subnetpool.RbacNeutronDbObjectMixin.validate_rbac_policy_change',
  async boundProjects(q, id) {
    const rows = await q.selectFrom('subnets').select('project_id').where('subnetpool_id', '=', id).execute();
    return new Set(rows.map((r) => r.project_id));
  },
  // A pool in an address scope may only be shared where its scope reaches (SubnetPool.validate_rbac_policy_create).
  async validateCreate(w, _ctx, policy) {
    const pool = await w.trx.selectFrom('subnetpools').select('address_scope_id').where('id', '=', policy.object_id).executeTakeFirst();
    if (!pool?.address_scope_id) return;
    const reach = await w.trx
      .selectFrom('rbac_policies')
      .select('id')
      .where('object_type', '=', 'address_scope')
      .where('object_id', '=', pool.address_scope_id)
      .where('target_tenant', 'in', [WILDCARD, policy.target_tenant])
      .executeTakeFirst();
    if (!reach) {
      throw new RbacRefused([
        {
          callback: 'neutron.objects.subnetpool.RbacNeutronDbObjectMixin.validate_rbac_policy_change',
          message: `Failed to create RBAC policy on object ${policy.object_id} because target project doesn't have access to associated address scope..`,
        },
      ]);
    }
  },
  async changed(w, policy) {
    const wildcard = await w.trx
      .selectFrom('rbac_policies')
      .select('id')
      .where('object_type', '=', 'subnetpool')
      .where('object_id', '=', policy.object_id)
      .where('action', '=', ACCESS_SHARED)
      .where('target_tenant', '=', WILDCARD)
      .executeTakeFirst();
    await w.trx
      .updateTable('subnetpools')
      .set({ shared: wildcard ? 1 : 0 })
      .where('id', '=', policy.object_id)
      .execute();
  },
};

// ---------------------------------------------------------------- allocating subnets

export interface PoolRequest {
  poolId: string;
  ipVersion: number;
  networkId: string;
  projectId: string;
  /** A specific CIDR, or else a prefix length (the pool's default when absent). */
  cidr?: string;
  prefixlen?: number;
  allocationPools: boolean;
}

const subnetsBadRequest = (msg: string) => neutronBadRequest('subnets', msg);
const allocationError = (reason: string) => new DomainError('internal', 'SubnetAllocationError', `Failed to allocate subnet: ${reason}.`);

/**
 * Neutron's SubnetAllocator: check the request against the pool (version, network affinity,
 * prefix bounds, per-project quota) and return the CIDR to create. Runs in the subnet's
 * transaction; the pool row is locked on PostgreSQL so two allocations cannot take one block.
 */
export async function allocateFromPool(w: Work, ctx: RequestContext, req: PoolRequest): Promise<{ cidr: string; picked: boolean }> {
  const { trx } = w;
  const pool = await w.forUpdate(trx.selectFrom('subnetpools').selectAll().where('id', '=', req.poolId)).executeTakeFirst();
  if (!pool || (!ctx.isAdmin && pool.project_id !== ctx.projectId && pool.shared !== 1 && !(await isSharedWith(trx, 'subnetpool', pool.id, ctx.projectId)))) {
    throw resourceNotFound('Subnet pool', req.poolId);
  }
  if (req.ipVersion !== pool.ip_version) {
    throw subnetsBadRequest(`Cannot allocate IPv${req.ipVersion} subnet from IPv${pool.ip_version} subnet pool`);
  }
  if (req.cidr === undefined && req.allocationPools) throw subnetsBadRequest('allocation_pools allowed only for specific subnet requests.');
  const siblings = await trx
    .selectFrom('subnets')
    .select('subnetpool_id')
    .where('network_id', '=', req.networkId)
    .where('ip_version', '=', req.ipVersion)
    .execute();
  if (siblings.some((s) => s.subnetpool_id !== req.poolId)) {
    throw badRequest('NetworkSubnetPoolAffinityError', 'Subnets hosted on the same network must be allocated from the same subnet pool.');
  }
  const wanted: Cidr | null = req.cidr ? parseCidr(req.cidr) : null;
  const prefixlen = wanted ? wanted.prefix : (req.prefixlen ?? pool.default_prefixlen);
  if (prefixlen > pool.max_prefixlen) {
    throw badRequest(
      'MaxPrefixSubnetAllocationError',
      `Unable to allocate subnet with prefix length ${prefixlen}, maximum allowed prefix is ${pool.max_prefixlen}.`,
    );
  }
  if (prefixlen < pool.min_prefixlen) {
    throw badRequest(
      'MinPrefixSubnetAllocationError',
      `Unable to allocate subnet with prefix length ${prefixlen}, minimum allowed prefix is ${pool.min_prefixlen}.`,
    );
  }
  if (pool.default_quota !== null) {
    // Quota in units of /32 (IPv4) or /64 (IPv6) per project.
    const unit = pool.ip_version === 4 ? 32 : 64;
    const own = await trx.selectFrom('subnets').select('cidr').where('subnetpool_id', '=', pool.id).where('project_id', '=', req.projectId).execute();
    const units = (len: number) => 2 ** (unit - len);
    const used = own.reduce((n, s) => n + units(parseCidr(s.cidr)!.prefix), 0);
    if (used + units(prefixlen) > pool.default_quota) throw conflict('SubnetPoolQuotaExceeded', 'Per-tenant subnet pool prefix quota exceeded.');
  }
  const available = subtract(rangesOf(await poolPrefixes(trx, pool.id)), await allocatedRanges(trx, pool.id));
  if (wanted) {
    if (!isSubset([cidrRange(wanted)], available)) throw allocationError('Cannot allocate requested subnet from the available set of prefixes');
    return { cidr: cidrToString(wanted), picked: false };
  }
  // Smallest free blocks first, so large blocks stay whole (Neutron's order).
  const blocks = toCidrs(versionOf(pool), available).sort((a, b) => b.prefix - a.prefix);
  const block = blocks.find((b) => b.prefix <= prefixlen);
  if (!block) throw allocationError(`Insufficient prefix space to allocate subnet size /${prefixlen}`);
  return { cidr: cidrToString({ ...block, prefix: prefixlen }), picked: true };
}
