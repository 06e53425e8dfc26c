/**
 * Address groups (Neutron's `address-group`, `rbac-address-group`): named sets of CIDRs that
 * security group rules name as their remote (`remote_address_group_id`). Enforcing such rules is
 * the data plane's (it reads the groups' addresses through the snapshot).
 */
import type { Q, Tx } from '../../store/db.js';
import { IN_CHUNK, chunks } from '../../store/db.js';
import type { AddressGroupsTable } from '../../store/schema.js';
import { uuid as newUuid } from '../../util/ids.js';
import { cidrToString, parseCidr, parseIp } from '../../util/ip.js';
import { pyRepr } from '../../util/pyrepr.js';
import type { RequestContext } from '../context.js';
import { DomainError, conflict, httpBadRequest, notFound } from '../errors.js';
import type { Work } from '../work.js';
import { NOT_SPECIFIED, type Validator, noneToEmptyList, string, subnetCidr, uuid } from './attributes.js';
import { ACCESS_SHARED, type RbacObjectType, deleteObjectPolicies, sharedIds, sharedWith } from './rbac.js';
import { type ResourceOps, actionMap } from './registry.js';
import { type ResourceDef, bumpRevision, insertRow, renderRows, standardAttrs, toColumns, updateRow } from './resource.js';

const agNotFound = (id: string) => notFound('AddressGroupNotFound', `Address group ${id} could not be found.`);

/** type:subnet_list. */
const subnetList: Validator = (v) => {
  if (!Array.isArray(v)) return `'${String(v)}' is not a list`;
  for (const item of v) {
    const e = subnetCidr(item);
    if (e) return e;
  }
  return undefined;
};

/** Address groups in the RBAC engine: rules naming a group depend on access to it. */
export const addressGroupRbacType: RbacObjectType = {
  type: 'address_group',
  kind: 'address_group',
  table: 'address_groups',
  actions: [ACCESS_SHARED],
  notFound: agNotFound,
  callback: 'neutron.objects.address_group.RbacNeutronDbObjectMixin.validate_rbac_policy_change',
  async boundProjects(q, id) {
    const rows = await q.selectFrom('security_group_rules').select('project_id').where('remote_address_group_id', '=', id).execute();
    return new Set(rows.map((r) => r.project_id));
  },
};

interface GroupComputed {
  addresses: string[];
  shared: boolean;
}

export const addressGroupDef: ResourceDef<'address_groups', GroupComputed> = {
  name: 'address_group',
  collection: 'address_groups',
  path: 'address-groups',
  table: 'address_groups',
  label: 'Address group',
  notFound: agNotFound,
  bulk: true,
  attrs: {
    id: { filter: true, sort: true, column: 'id', validate: uuid },
    name: { post: true, put: true, default: '', filter: true, sort: true, column: 'name', validate: string(255) },
    project_id: standardAttrs().project_id,
    // Invisible in the API's answers; the group's own dict (an action's answer) has it.
    shared: { visible: false },
    addresses: { post: true, default: NOT_SPECIFIED, convert: noneToEmptyList, validate: subnetList },
    description: { post: true, put: true, default: '', filter: true, sort: true, column: 'description', validate: string(1024) },
    tenant_id: standardAttrs().tenant_id,
  },
  sharedWhere: (eb, ctx) => sharedWith(eb, 'address_group', 'address_groups.id', ctx),
  sharedHiddenOnUpdate: true,
  async load(q, rows) {
    const byId = new Map<string, string[]>();
    for (const r of rows) {
      const list: string[] = [];
      r.__addresses = list;
      byId.set(r.id, list);
    }
    for (const chunk of chunks([...byId.keys()], IN_CHUNK)) {
      const addrs = await q.selectFrom('address_group_addresses').select(['address_group_id', 'address']).where('address_group_id', 'in', chunk).execute();
      for (const a of addrs) byId.get(a.address_group_id)?.push(a.address);
    }
    // Neutron reads them in its primary key's order.
    for (const list of byId.values()) list.sort();
  },
};

/** "%s/%s" % (net.network, net.prefixlen): netaddr accepts a bare address as a host network. */
function normalise(addr: unknown): string {
  const text = typeof addr === 'string' ? addr : String(addr);
  const ip = text.includes('/') ? null : parseIp(text);
  const c = parseCidr(ip ? `${text}/${ip.version === 4 ? 32 : 128}` : text);
  if (!c) throw new DomainError('bad_request', 'AddrFormatError', `invalid IPNetwork ${text}`);
  return cidrToString(c);
}

async function addressesOf(q: Q, id: string): Promise<Set<string>> {
  return new Set((await q.selectFrom('address_group_addresses').select('address').where('address_group_id', '=', id).execute()).map((a) => a.address));
}

/** Each address association revises its group (AddressAssociation's revises_on_change). */
async function addAddresses(trx: Tx, id: string, addresses: unknown[]): Promise<void> {
  const have = await addressesOf(trx, id);
  const wanted = [...new Set(addresses.map(normalise))];
  const already = wanted.filter((a) => have.has(a));
  if (already.length) {
    throw new DomainError('bad_request', 'AddressesAlreadyExist', `Addresses ${pyRepr(already)} already exist in the address group ${id}.`);
  }
  for (const address of wanted) {
    await trx.insertInto('address_group_addresses').values({ address_group_id: id, address }).execute();
    await bumpRevision(trx, 'address_groups', id);
  }
}

async function removeAddresses(trx: Tx, id: string, addresses: unknown[]): Promise<void> {
  const have = await addressesOf(trx, id);
  const wanted = [...new Set(addresses.map(normalise))];
  const missing = wanted.filter((a) => !have.has(a));
  if (missing.length) throw notFound('AddressesNotFound', `Addresses ${pyRepr(missing)} not found in the address group ${id}.`);
  for (const address of wanted) {
    await trx.deleteFrom('address_group_addresses').where('address_group_id', '=', id).where('address', '=', address).execute();
    await bumpRevision(trx, 'address_groups', id);
  }
}

/** The group's own dict (AddressGroup.to_dict), as add_addresses and remove_addresses answer it. */
async function groupDict(trx: Tx, ctx: RequestContext, id: string): Promise<Record<string, unknown>> {
  const row = (await trx.selectFrom('address_groups').selectAll().where('id', '=', id).executeTakeFirstOrThrow()) as AddressGroupsTable;
  const [out] = await renderRows(trx, addressGroupDef, ctx, [row]);
  const shared = (await sharedIds(trx, 'address_group', [id], ctx)).has(id);
  return {
    id: row.id,
    name: row.name,
    project_id: row.project_id,
    shared,
    addresses: out.addresses,
    revision_number: row.revision_number,
    description: row.description,
    created_at: row.created_at,
    updated_at: row.updated_at,
    tenant_id: row.project_id,
  };
}

function addressesFromBody(body: unknown): unknown[] {
  const addresses = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as { addresses?: unknown }).addresses : undefined;
  if (!Array.isArray(addresses)) throw httpBadRequest("Unable to find 'addresses' in request body");
  return addresses;
}

export function addressGroupOps(): ResourceOps<'address_groups', GroupComputed> {
  const action =
    (fn: (trx: Tx, id: string, addresses: unknown[]) => Promise<void>) => async (w: Work, ctx: RequestContext, row: AddressGroupsTable, body: unknown) => {
      await fn(w.trx, row.id, addressesFromBody(body));
      return { address_group: await groupDict(w.trx, ctx, row.id) };
    };
  return {
    def: addressGroupDef,
    async create(w, _ctx, p) {
      const v = p.values;
      const id = newUuid();
      await insertRow(w.trx, addressGroupDef, id, { project_id: v.project_id as string, name: v.name as string, description: v.description as string });
      if (Array.isArray(v.addresses)) await addAddresses(w.trx, id, v.addresses);
      return id;
    },
    async update(w, _ctx, row, p) {
      await updateRow(w.trx, addressGroupDef, row, toColumns(addressGroupDef, p.values));
    },
    async delete(w, _ctx, row) {
      const rule = await w.trx.selectFrom('security_group_rules').select('id').where('remote_address_group_id', '=', row.id).executeTakeFirst();
      if (rule) throw conflict('AddressGroupInUse', `Address group ${row.id} is in use on one or more security group rules.`);
      await w.trx.deleteFrom('address_group_addresses').where('address_group_id', '=', row.id).execute();
      await deleteObjectPolicies(w.trx, 'address_group', row.id);
      await w.trx.deleteFrom('address_groups').where('id', '=', row.id).execute();
    },
    actions: actionMap({ add_addresses: action(addAddresses), remove_addresses: action(removeAddresses) }),
  };
}
