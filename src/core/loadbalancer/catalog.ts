/**
 * What operators configure around load balancers: providers and their capabilities, flavor
 * profiles and flavors, availability zone profiles and zones. Profiles and capabilities are
 * admin-only; flavors and zones are readable by everyone, as in Octavia.
 */
import type { Updateable } from 'kysely';
import type { Q } from '../../store/db.js';
import type { LbAvailabilityZonesTable, LbAzProfilesTable, LbFlavorProfilesTable, LbFlavorsTable } from '../../store/schema.js';
import { uuid as newUuid } from '../../util/ids.js';
import { isDict, parseJson } from '../../util/json.js';
import { pyStrOf } from '../../util/pyrepr.js';
import type { RequestContext } from '../context.js';
import { isLbAdmin } from './access.js';
import { AZ_CAPABILITIES, FLAVOR_CAPABILITIES, PROVIDERS } from './constants.js';
import { type LbDeps, checkProvider } from './deps.js';
import { lbErrors } from './errors.js';
import { octaviaTime } from './model.js';
import { type ListSpec, type Listing, fieldsParam, listPage } from './query.js';
import { type Rendered, fieldsOf } from './render.js';
import type { AzPost, AzProfilePost, AzProfilePut, AzPut, FlavorPost, FlavorProfilePost, FlavorProfilePut, FlavorPut } from './schemas.js';

const NIL_UUID = '00000000-0000-0000-0000-000000000000';

function requireAdmin(ctx: RequestContext): void {
  if (!isLbAdmin(ctx)) throw lbErrors.policyForbidden();
}

// ------------------------------------------------------------ providers

function filterCapabilities(caps: Array<{ name: string; description: string }>, params: Map<string, string[]>): Rendered[] {
  const fields = fieldsParam(params);
  let out = caps.map((c) => ({ ...c }));
  const name = params.get('name')?.[0];
  const description = params.get('description')?.[0];
  if (name !== undefined) out = out.filter((c) => c.name === name);
  if (description !== undefined) out = out.filter((c) => c.description === description);
  return out.map((c) => fieldsOf(c, fields));
}

/** The providers this build serves and what their flavors and zones may set (fixed, not stored). */
export class Providers {
  list(params: Map<string, string[]>): Rendered[] {
    const fields = fieldsParam(params);
    return PROVIDERS.map((p) => fieldsOf({ name: p.name, description: p.description }, fields));
  }

  flavorCapabilities(ctx: RequestContext, provider: string, params: Map<string, string[]>): Rendered[] {
    requireAdmin(ctx);
    checkProvider(provider);
    return filterCapabilities(FLAVOR_CAPABILITIES, params);
  }

  azCapabilities(ctx: RequestContext, provider: string, params: Map<string, string[]>): Rendered[] {
    requireAdmin(ctx);
    checkProvider(provider);
    return filterCapabilities(AZ_CAPABILITIES, params);
  }
}

/**
 * A profile's data must be a JSON object naming only the provider's capabilities (jsonschema
 * with additionalProperties false, as Octavia's amphora driver validates).
 */
function checkProfileData(
  providerName: string | null,
  raw: string | null,
  option: string,
  caps: Array<{ name: string }>,
  enums: ReadonlyMap<string, string[]> = new Map(),
): void {
  let data: unknown;
  try {
    // Sent as null (WSME lets it through), the data is refused below as not an object.
    data = raw === null ? null : parseJson(raw);
  } catch {
    throw lbErrors.invalidOption(raw, option);
  }
  const provider = checkProvider(providerName);
  if (!isDict(data)) {
    throw lbErrors.unsupportedOption(provider, `${pyStrOf(data)} is not of type 'object'`);
  }
  const extra = Object.keys(data).filter((k) => !caps.some((c) => c.name === k));
  if (extra.length) {
    const list = extra.map((k) => `'${k}'`).join(', ');
    throw lbErrors.unsupportedOption(provider, `Additional properties are not allowed (${list} ${extra.length > 1 ? 'were' : 'was'} unexpected)`);
  }
  for (const [k, v] of Object.entries(data)) {
    if (k === 'valid_vip_networks') {
      if (!Array.isArray(v)) throw lbErrors.unsupportedOption(provider, `${k} ${pyStrOf(v)} is not of type 'array'`);
      continue;
    }
    if (typeof v !== 'string') throw lbErrors.unsupportedOption(provider, `${k} ${pyStrOf(v)} is not of type 'string'`);
    const allowed = enums.get(k);
    if (allowed && !allowed.includes(v)) throw lbErrors.unsupportedOption(provider, `${k} '${v}' is not one of [${allowed.map((x) => `'${x}'`).join(', ')}]`);
  }
}

// ------------------------------------------------------------ flavor profiles

const FP_LIST: ListSpec<'lb_flavor_profiles'> = {
  table: 'lb_flavor_profiles',
  columns: { id: { column: 'id' }, name: { column: 'name' }, provider_name: { column: 'provider_name' }, flavor_data: { column: 'flavor_data' } },
};
const renderFp = (r: LbFlavorProfilesTable): Rendered => ({ id: r.id, name: r.name, provider_name: r.provider_name, flavor_data: r.flavor_data });

async function getFp(q: Q, id: string): Promise<LbFlavorProfilesTable> {
  const row = await q.selectFrom('lb_flavor_profiles').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row || id === NIL_UUID) throw lbErrors.notFound('Flavor Profile', id);
  return row;
}

const TOPOLOGIES = new Map([['loadbalancer_topology', ['ACTIVE_STANDBY', 'SINGLE']]]);

/** (Here and below, a null mandatory attribute goes on as sent: see BodyOf.) */
export class FlavorProfiles {
  constructor(private readonly deps: LbDeps) {}

  async list(ctx: RequestContext, params: Map<string, string[]>, url: URL): Promise<Listing<Rendered>> {
    requireAdmin(ctx);
    const page = await listPage(this.deps.store.db, FP_LIST, params, url);
    return { items: page.rows.map((r) => fieldsOf(renderFp(r), page.fields)), links: page.links };
  }

  async show(ctx: RequestContext, id: string, fields?: string[]): Promise<Rendered> {
    requireAdmin(ctx);
    return fieldsOf(renderFp(await getFp(this.deps.store.db, id)), fields);
  }

  async create(ctx: RequestContext, b: FlavorProfilePost): Promise<Rendered> {
    requireAdmin(ctx);
    checkProfileData(b.provider_name, b.flavor_data, 'flavor_data', FLAVOR_CAPABILITIES, TOPOLOGIES);
    const id = newUuid();
    await this.deps.uow.run(
      ({ trx }) =>
        trx
          .insertInto('lb_flavor_profiles')
          .values({ id, name: b.name!, provider_name: b.provider_name!, flavor_data: b.flavor_data!, created_at: octaviaTime() })
          .execute(),
      ctx,
    );
    return renderFp(await getFp(this.deps.store.db, id));
  }

  async update(ctx: RequestContext, id: string, b: FlavorProfilePut): Promise<Rendered> {
    requireAdmin(ctx);
    const { db } = this.deps.store;
    if (b.name === null) throw lbErrors.invalidOption(null, 'name');
    if (b.provider_name === null) throw lbErrors.invalidOption(null, 'provider_name');
    if (b.flavor_data === null) throw lbErrors.invalidOption(null, 'flavor_data');
    if ('flavor_data' in b || 'provider_name' in b) {
      const used = await db.selectFrom('lb_flavors').select('id').where('flavor_profile_id', '=', id).executeTakeFirst();
      if (used) throw lbErrors.objectInUse('Flavor profile', id);
    }
    const cur = await getFp(db, id);
    if ('flavor_data' in b || 'provider_name' in b) {
      checkProfileData(b.provider_name ?? cur.provider_name, b.flavor_data ?? cur.flavor_data, 'flavor_data', FLAVOR_CAPABILITIES, TOPOLOGIES);
    }
    const set: Updateable<LbFlavorProfilesTable> = {};
    if ('name' in b) set.name = b.name;
    if ('provider_name' in b) set.provider_name = b.provider_name;
    if ('flavor_data' in b) set.flavor_data = b.flavor_data;
    if (Object.keys(set).length) await this.deps.uow.run(({ trx }) => trx.updateTable('lb_flavor_profiles').set(set).where('id', '=', id).execute(), ctx);
    return renderFp(await getFp(db, id));
  }

  async delete(ctx: RequestContext, id: string): Promise<void> {
    requireAdmin(ctx);
    const { db } = this.deps.store;
    await getFp(db, id);
    const used = await db.selectFrom('lb_flavors').select('id').where('flavor_profile_id', '=', id).executeTakeFirst();
    if (used) throw lbErrors.objectInUse('Flavor profile', id);
    await this.deps.uow.run(({ trx }) => trx.deleteFrom('lb_flavor_profiles').where('id', '=', id).execute(), ctx);
  }
}

// ------------------------------------------------------------ flavors

const FLAVOR_LIST: ListSpec<'lb_flavors'> = {
  table: 'lb_flavors',
  columns: {
    id: { column: 'id' },
    name: { column: 'name' },
    description: { column: 'description' },
    enabled: { column: 'enabled', type: 'bool' },
    flavor_profile_id: { column: 'flavor_profile_id' },
  },
};
const renderFlavor = (r: LbFlavorsTable): Rendered => ({
  id: r.id,
  name: r.name,
  description: r.description ?? '',
  enabled: r.enabled === 1,
  flavor_profile_id: r.flavor_profile_id,
});

async function getFlavor(q: Q, id: string): Promise<LbFlavorsTable> {
  const row = await q.selectFrom('lb_flavors').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row || id === NIL_UUID) throw lbErrors.notFound('Flavor', id);
  return row;
}

export class Flavors {
  constructor(private readonly deps: LbDeps) {}

  async list(_ctx: RequestContext, params: Map<string, string[]>, url: URL): Promise<Listing<Rendered>> {
    const page = await listPage(this.deps.store.db, FLAVOR_LIST, params, url);
    return { items: page.rows.map((r) => fieldsOf(renderFlavor(r), page.fields)), links: page.links };
  }

  async show(_ctx: RequestContext, id: string, fields?: string[]): Promise<Rendered> {
    return fieldsOf(renderFlavor(await getFlavor(this.deps.store.db, id)), fields);
  }

  async create(ctx: RequestContext, b: FlavorPost): Promise<Rendered> {
    requireAdmin(ctx);
    const { db } = this.deps.store;
    const fp = await db.selectFrom('lb_flavor_profiles').select('id').where('id', '=', b.flavor_profile_id!).executeTakeFirst();
    if (!fp) throw lbErrors.invalidOption(b.flavor_profile_id, 'flavor_profile_id');
    const dup = await db.selectFrom('lb_flavors').select('id').where('name', '=', b.name!).executeTakeFirst();
    if (dup) throw lbErrors.recordExists('flavor', b.name!);
    const id = newUuid();
    await this.deps.uow.run(
      ({ trx }) =>
        trx
          .insertInto('lb_flavors')
          .values({
            id,
            name: b.name!,
            description: b.description ?? '',
            enabled: b.enabled === false ? 0 : 1,
            flavor_profile_id: b.flavor_profile_id!,
            created_at: octaviaTime(),
          })
          .execute(),
      ctx,
    );
    return renderFlavor(await getFlavor(db, id));
  }

  async update(ctx: RequestContext, id: string, b: FlavorPut): Promise<Rendered> {
    requireAdmin(ctx);
    const { db } = this.deps.store;
    await getFlavor(db, id);
    const set: Updateable<LbFlavorsTable> = {};
    if ('name' in b) {
      if (b.name === null) throw lbErrors.invalidOption(null, 'name');
      set.name = b.name;
    }
    if ('description' in b) set.description = b.description ?? '';
    if ('enabled' in b) set.enabled = b.enabled === false ? 0 : 1;
    if (Object.keys(set).length) await this.deps.uow.run(({ trx }) => trx.updateTable('lb_flavors').set(set).where('id', '=', id).execute(), ctx);
    return renderFlavor(await getFlavor(db, id));
  }

  async delete(ctx: RequestContext, id: string): Promise<void> {
    requireAdmin(ctx);
    const { db } = this.deps.store;
    await getFlavor(db, id);
    const used = await db.selectFrom('lb_loadbalancers').select('id').where('flavor_id', '=', id).executeTakeFirst();
    if (used) throw lbErrors.objectInUse('Flavor', id);
    await this.deps.uow.run(({ trx }) => trx.deleteFrom('lb_flavors').where('id', '=', id).execute(), ctx);
  }
}

// ------------------------------------------------------------ availability zone profiles

const AZP_LIST: ListSpec<'lb_az_profiles'> = {
  table: 'lb_az_profiles',
  columns: {
    id: { column: 'id' },
    name: { column: 'name' },
    provider_name: { column: 'provider_name' },
    availability_zone_data: { column: 'availability_zone_data' },
  },
};
const renderAzp = (r: LbAzProfilesTable): Rendered => ({
  id: r.id,
  name: r.name,
  provider_name: r.provider_name,
  availability_zone_data: r.availability_zone_data,
});

async function getAzp(q: Q, id: string): Promise<LbAzProfilesTable> {
  const row = await q.selectFrom('lb_az_profiles').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row || id === NIL_UUID) throw lbErrors.notFound('Availability Zone Profile', id);
  return row;
}

export class AzProfiles {
  constructor(private readonly deps: LbDeps) {}

  async list(ctx: RequestContext, params: Map<string, string[]>, url: URL): Promise<Listing<Rendered>> {
    requireAdmin(ctx);
    const page = await listPage(this.deps.store.db, AZP_LIST, params, url);
    return { items: page.rows.map((r) => fieldsOf(renderAzp(r), page.fields)), links: page.links };
  }

  async show(ctx: RequestContext, id: string, fields?: string[]): Promise<Rendered> {
    requireAdmin(ctx);
    return fieldsOf(renderAzp(await getAzp(this.deps.store.db, id)), fields);
  }

  async create(ctx: RequestContext, b: AzProfilePost): Promise<Rendered> {
    requireAdmin(ctx);
    checkProfileData(b.provider_name, b.availability_zone_data, 'availability_zone_data', AZ_CAPABILITIES);
    const id = newUuid();
    await this.deps.uow.run(
      ({ trx }) =>
        trx
          .insertInto('lb_az_profiles')
          .values({ id, name: b.name!, provider_name: b.provider_name!, availability_zone_data: b.availability_zone_data!, created_at: octaviaTime() })
          .execute(),
      ctx,
    );
    return renderAzp(await getAzp(this.deps.store.db, id));
  }

  async update(ctx: RequestContext, id: string, b: AzProfilePut): Promise<Rendered> {
    requireAdmin(ctx);
    const { db } = this.deps.store;
    if (b.name === null) throw lbErrors.invalidOption(null, 'name');
    if (b.provider_name === null) throw lbErrors.invalidOption(null, 'provider_name');
    if (b.availability_zone_data === null) throw lbErrors.invalidOption(null, 'availability_zone_data');
    if ('availability_zone_data' in b || 'provider_name' in b) {
      const used = await db.selectFrom('lb_availability_zones').select('name').where('availability_zone_profile_id', '=', id).executeTakeFirst();
      if (used) throw lbErrors.objectInUse('Availability Zone Profile', id);
    }
    const cur = await getAzp(db, id);
    if ('availability_zone_data' in b || 'provider_name' in b) {
      checkProfileData(b.provider_name ?? cur.provider_name, b.availability_zone_data ?? cur.availability_zone_data, 'availability_zone_data', AZ_CAPABILITIES);
    }
    const set: Updateable<LbAzProfilesTable> = {};
    if ('name' in b) set.name = b.name;
    if ('provider_name' in b) set.provider_name = b.provider_name;
    if ('availability_zone_data' in b) set.availability_zone_data = b.availability_zone_data;
    if (Object.keys(set).length) await this.deps.uow.run(({ trx }) => trx.updateTable('lb_az_profiles').set(set).where('id', '=', id).execute(), ctx);
    return renderAzp(await getAzp(db, id));
  }

  async delete(ctx: RequestContext, id: string): Promise<void> {
    requireAdmin(ctx);
    const { db } = this.deps.store;
    await getAzp(db, id);
    const used = await db.selectFrom('lb_availability_zones').select('name').where('availability_zone_profile_id', '=', id).executeTakeFirst();
    if (used) throw lbErrors.objectInUse('Availability Zone Profile', id);
    await this.deps.uow.run(({ trx }) => trx.deleteFrom('lb_az_profiles').where('id', '=', id).execute(), ctx);
  }
}

// ------------------------------------------------------------ availability zones

const AZ_LIST: ListSpec<'lb_availability_zones'> = {
  table: 'lb_availability_zones',
  columns: {
    name: { column: 'name' },
    description: { column: 'description' },
    enabled: { column: 'enabled', type: 'bool' },
    availability_zone_profile_id: { column: 'availability_zone_profile_id' },
  },
  // Zones have no id: Octavia pages them by name.
  idColumn: 'name',
};
const renderAz = (r: LbAvailabilityZonesTable): Rendered => ({
  name: r.name,
  description: r.description ?? '',
  enabled: r.enabled === 1,
  availability_zone_profile_id: r.availability_zone_profile_id,
});

async function getAz(q: Q, name: string): Promise<LbAvailabilityZonesTable> {
  const row = await q.selectFrom('lb_availability_zones').selectAll().where('name', '=', name).executeTakeFirst();
  if (!row) throw lbErrors.notFound('Availability Zone', name);
  return row;
}

export class AvailabilityZones {
  constructor(private readonly deps: LbDeps) {}

  async list(_ctx: RequestContext, params: Map<string, string[]>, url: URL): Promise<Listing<Rendered>> {
    const page = await listPage(this.deps.store.db, AZ_LIST, params, url);
    return { items: page.rows.map((r) => fieldsOf(renderAz(r), page.fields)), links: page.links };
  }

  async show(_ctx: RequestContext, name: string, fields?: string[]): Promise<Rendered> {
    return fieldsOf(renderAz(await getAz(this.deps.store.db, name)), fields);
  }

  async create(ctx: RequestContext, b: AzPost): Promise<Rendered> {
    requireAdmin(ctx);
    const { db } = this.deps.store;
    const name = b.name!;
    const p = await db.selectFrom('lb_az_profiles').select('id').where('id', '=', b.availability_zone_profile_id!).executeTakeFirst();
    if (!p) throw lbErrors.invalidOption(b.availability_zone_profile_id, 'availability_zone_profile_id');
    const dup = await db.selectFrom('lb_availability_zones').select('name').where('name', '=', name).executeTakeFirst();
    if (dup) throw lbErrors.recordExists('availability zone', name);
    await this.deps.uow.run(
      ({ trx }) =>
        trx
          .insertInto('lb_availability_zones')
          .values({
            name,
            description: b.description ?? '',
            enabled: b.enabled === false ? 0 : 1,
            availability_zone_profile_id: b.availability_zone_profile_id!,
            created_at: octaviaTime(),
          })
          .execute(),
      ctx,
    );
    return renderAz(await getAz(db, name));
  }

  async update(ctx: RequestContext, name: string, b: AzPut): Promise<Rendered> {
    requireAdmin(ctx);
    const { db } = this.deps.store;
    await getAz(db, name);
    const set: Updateable<LbAvailabilityZonesTable> = {};
    if ('description' in b) set.description = b.description ?? '';
    if ('enabled' in b) set.enabled = b.enabled === false ? 0 : 1;
    if (Object.keys(set).length)
      await this.deps.uow.run(({ trx }) => trx.updateTable('lb_availability_zones').set(set).where('name', '=', name).execute(), ctx);
    return renderAz(await getAz(db, name));
  }

  async delete(ctx: RequestContext, name: string): Promise<void> {
    requireAdmin(ctx);
    const { db } = this.deps.store;
    await getAz(db, name);
    const used = await db.selectFrom('lb_loadbalancers').select('id').where('availability_zone', '=', name).executeTakeFirst();
    if (used) throw lbErrors.objectInUse('Availability Zone', name);
    await this.deps.uow.run(({ trx }) => trx.deleteFrom('lb_availability_zones').where('name', '=', name).execute(), ctx);
  }
}
