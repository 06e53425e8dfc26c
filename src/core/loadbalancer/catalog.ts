/**
 * What operators configure around load balancers: providers and their capabilities, flavor
 * profiles and flavors, availability zone profiles and zones. Profiles and capabilities are
 * admin-only; flavors and zones are readable by everyone, as in Octavia.
 */
import { uuid as newUuid } from '../../util/ids.js';
import type { Q } from '../../store/db.js';
import type { RequestContext } from '../context.js';
import { isLbAdmin } from './access.js';
import { AZ_CAPABILITIES, FLAVOR_CAPABILITIES, PROVIDERS } from './constants.js';
import { type LbDeps, checkProvider } from './deps.js';
import { lbErrors } from './errors.js';
import { octaviaTime } from './model.js';
import { type ListSpec, fieldsParam, listPage } from './query.js';
import { pyStrOf } from '../../util/pyrepr.js';

type Dict = Record<string, any>;

const NIL_UUID = '00000000-0000-0000-0000-000000000000';

function requireAdmin(ctx: RequestContext): void {
  if (!isLbAdmin(ctx)) throw lbErrors.policyForbidden();
}

function pick(out: Dict, fields?: string[]): Dict {
  if (!fields) return out;
  const r: Dict = {};
  for (const f of fields) if (f in out) r[f] = out[f];
  return r;
}

// ------------------------------------------------------------ providers

export function listProviders(params: Map<string, string[]>): Dict[] {
  const fields = fieldsParam(params);
  return PROVIDERS.map((p) => pick({ name: p.name, description: p.description }, fields));
}

export function flavorCapabilities(ctx: RequestContext, provider: string, params: Map<string, string[]>): Dict[] {
  requireAdmin(ctx);
  checkProvider(provider);
  return filterCapabilities(FLAVOR_CAPABILITIES, params);
}

export function azCapabilities(ctx: RequestContext, provider: string, params: Map<string, string[]>): Dict[] {
  requireAdmin(ctx);
  checkProvider(provider);
  return filterCapabilities(AZ_CAPABILITIES, params);
}

function filterCapabilities(caps: Array<{ name: string; description: string }>, params: Map<string, string[]>): Dict[] {
  const fields = fieldsParam(params);
  let out = caps.map((c) => ({ ...c }));
  const name = params.get('name')?.[0];
  const description = params.get('description')?.[0];
  if (name !== undefined) out = out.filter((c) => c.name === name);
  if (description !== undefined) out = out.filter((c) => c.description === description);
  return out.map((c) => pick(c, fields));
}

/**
 * A profile's data must be a JSON object naming only the provider's capabilities (jsonschema
 * with additionalProperties false, as Octavia's amphora driver validates).
 */
function checkProfileData(providerName: string, raw: string, option: string, caps: Array<{ name: string }>, enums: Record<string, string[]> = {}): void {
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch {
    throw lbErrors.invalidOption(raw, option);
  }
  const provider = checkProvider(providerName);
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw lbErrors.unsupportedOption(provider, `${pyStrOf(data)} is not of type 'object'`);
  }
  const extra = Object.keys(data).filter((k) => !caps.some((c) => c.name === k));
  if (extra.length) {
    const list = extra.map((k) => `'${k}'`).join(', ');
    throw lbErrors.unsupportedOption(provider, `Additional properties are not allowed (${list} ${extra.length > 1 ? 'were' : 'was'} unexpected)`);
  }
  for (const [k, v] of Object.entries(data as Dict)) {
    if (k === 'valid_vip_networks') {
      if (!Array.isArray(v)) throw lbErrors.unsupportedOption(provider, `${k} ${pyStrOf(v)} is not of type 'array'`);
      continue;
    }
    if (typeof v !== 'string') throw lbErrors.unsupportedOption(provider, `${k} ${pyStrOf(v)} is not of type 'string'`);
    if (enums[k] && !enums[k].includes(v))
      throw lbErrors.unsupportedOption(provider, `${k} '${v}' is not one of [${enums[k].map((x) => `'${x}'`).join(', ')}]`);
  }
}

// ------------------------------------------------------------ flavor profiles

const FP_LIST: ListSpec = {
  table: 'lb_flavor_profiles',
  columns: { id: { column: 'id' }, name: { column: 'name' }, provider_name: { column: 'provider_name' }, flavor_data: { column: 'flavor_data' } },
};
const renderFp = (r: Dict) => ({ id: r.id, name: r.name, provider_name: r.provider_name, flavor_data: r.flavor_data });

async function getFp(q: Q, id: string): Promise<Dict> {
  const row = await q.selectFrom('lb_flavor_profiles').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row || id === NIL_UUID) throw lbErrors.notFound('Flavor Profile', id);
  return row;
}

export async function listFlavorProfiles(deps: LbDeps, ctx: RequestContext, params: Map<string, string[]>, url: URL) {
  requireAdmin(ctx);
  const page = await listPage(deps.store.db, FP_LIST, params, url);
  return { items: page.rows.map((r) => pick(renderFp(r), page.fields)), links: page.links };
}

export async function showFlavorProfile(deps: LbDeps, ctx: RequestContext, id: string, fields?: string[]) {
  requireAdmin(ctx);
  return pick(renderFp(await getFp(deps.store.db, id)), fields);
}

const TOPOLOGIES = { loadbalancer_topology: ['ACTIVE_STANDBY', 'SINGLE'] };

export async function createFlavorProfile(deps: LbDeps, ctx: RequestContext, b: Dict) {
  requireAdmin(ctx);
  return createProfileRow(deps, 'lb_flavor_profiles', b, () =>
    checkProfileData(b.provider_name, b.flavor_data, 'flavor_data', FLAVOR_CAPABILITIES, TOPOLOGIES),
  );
}

async function createProfileRow(deps: LbDeps, table: 'lb_flavor_profiles' | 'lb_az_profiles', b: Dict, validate: () => void) {
  validate();
  const id = newUuid();
  if (table === 'lb_flavor_profiles') {
    await deps.uow.run(({ trx }) =>
      trx
        .insertInto('lb_flavor_profiles')
        .values({ id, name: b.name, provider_name: b.provider_name, flavor_data: b.flavor_data, created_at: octaviaTime() })
        .execute(),
    );
    return renderFp(await getFp(deps.store.db, id));
  }
  await deps.uow.run(({ trx }) =>
    trx
      .insertInto('lb_az_profiles')
      .values({ id, name: b.name, provider_name: b.provider_name, availability_zone_data: b.availability_zone_data, created_at: octaviaTime() })
      .execute(),
  );
  return renderAzp(await getAzp(deps.store.db, id));
}

export async function updateFlavorProfile(deps: LbDeps, ctx: RequestContext, id: string, b: Dict) {
  requireAdmin(ctx);
  for (const f of ['name', 'provider_name', 'flavor_data']) if (f in b && b[f] === null) throw lbErrors.invalidOption(null, f);
  if ('flavor_data' in b || 'provider_name' in b) {
    const used = await deps.store.db.selectFrom('lb_flavors').select('id').where('flavor_profile_id', '=', id).executeTakeFirst();
    if (used) throw lbErrors.objectInUse('Flavor profile', id);
  }
  const cur = await getFp(deps.store.db, id);
  if ('flavor_data' in b || 'provider_name' in b) {
    checkProfileData(b.provider_name ?? cur.provider_name, b.flavor_data ?? cur.flavor_data, 'flavor_data', FLAVOR_CAPABILITIES, TOPOLOGIES);
  }
  const set: Dict = {};
  for (const f of ['name', 'provider_name', 'flavor_data']) if (f in b) set[f] = b[f];
  if (Object.keys(set).length) await deps.uow.run(({ trx }) => trx.updateTable('lb_flavor_profiles').set(set).where('id', '=', id).execute());
  return renderFp(await getFp(deps.store.db, id));
}

export async function deleteFlavorProfile(deps: LbDeps, ctx: RequestContext, id: string): Promise<void> {
  requireAdmin(ctx);
  await getFp(deps.store.db, id);
  const used = await deps.store.db.selectFrom('lb_flavors').select('id').where('flavor_profile_id', '=', id).executeTakeFirst();
  if (used) throw lbErrors.objectInUse('Flavor profile', id);
  await deps.uow.run(({ trx }) => trx.deleteFrom('lb_flavor_profiles').where('id', '=', id).execute());
}

// ------------------------------------------------------------ flavors

const FLAVOR_LIST: ListSpec = {
  table: 'lb_flavors',
  columns: {
    id: { column: 'id' },
    name: { column: 'name' },
    description: { column: 'description' },
    enabled: { column: 'enabled', type: 'bool' },
    flavor_profile_id: { column: 'flavor_profile_id' },
  },
};
const renderFlavor = (r: Dict) => ({
  id: r.id,
  name: r.name,
  description: r.description ?? '',
  enabled: r.enabled === 1,
  flavor_profile_id: r.flavor_profile_id,
});

async function getFlavor(q: Q, id: string): Promise<Dict> {
  const row = await q.selectFrom('lb_flavors').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row || id === NIL_UUID) throw lbErrors.notFound('Flavor', id);
  return row;
}

export async function listFlavors(deps: LbDeps, _ctx: RequestContext, params: Map<string, string[]>, url: URL) {
  const page = await listPage(deps.store.db, FLAVOR_LIST, params, url);
  return { items: page.rows.map((r) => pick(renderFlavor(r), page.fields)), links: page.links };
}

export async function showFlavor(deps: LbDeps, _ctx: RequestContext, id: string, fields?: string[]) {
  return pick(renderFlavor(await getFlavor(deps.store.db, id)), fields);
}

export async function createFlavor(deps: LbDeps, ctx: RequestContext, b: Dict) {
  requireAdmin(ctx);
  const fp = await deps.store.db.selectFrom('lb_flavor_profiles').select('id').where('id', '=', b.flavor_profile_id).executeTakeFirst();
  if (!fp) throw lbErrors.invalidOption(b.flavor_profile_id, 'flavor_profile_id');
  const dup = await deps.store.db.selectFrom('lb_flavors').select('id').where('name', '=', b.name).executeTakeFirst();
  if (dup) throw lbErrors.recordExists('flavor', b.name);
  const id = newUuid();
  await deps.uow.run(({ trx }) =>
    trx
      .insertInto('lb_flavors')
      .values({
        id,
        name: b.name,
        description: b.description ?? '',
        enabled: b.enabled === false ? 0 : 1,
        flavor_profile_id: b.flavor_profile_id,
        created_at: octaviaTime(),
      })
      .execute(),
  );
  return renderFlavor(await getFlavor(deps.store.db, id));
}

export async function updateFlavor(deps: LbDeps, ctx: RequestContext, id: string, b: Dict) {
  requireAdmin(ctx);
  await getFlavor(deps.store.db, id);
  const set: Dict = {};
  if ('name' in b) {
    if (b.name === null) throw lbErrors.invalidOption(null, 'name');
    set.name = b.name;
  }
  if ('description' in b) set.description = b.description ?? '';
  if ('enabled' in b) set.enabled = b.enabled === false ? 0 : 1;
  if (Object.keys(set).length) await deps.uow.run(({ trx }) => trx.updateTable('lb_flavors').set(set).where('id', '=', id).execute());
  return renderFlavor(await getFlavor(deps.store.db, id));
}

export async function deleteFlavor(deps: LbDeps, ctx: RequestContext, id: string): Promise<void> {
  requireAdmin(ctx);
  await getFlavor(deps.store.db, id);
  const used = await deps.store.db.selectFrom('lb_loadbalancers').select('id').where('flavor_id', '=', id).executeTakeFirst();
  if (used) throw lbErrors.objectInUse('Flavor', id);
  await deps.uow.run(({ trx }) => trx.deleteFrom('lb_flavors').where('id', '=', id).execute());
}

// ------------------------------------------------------------ availability zone profiles

const AZP_LIST: ListSpec = {
  table: 'lb_az_profiles',
  columns: {
    id: { column: 'id' },
    name: { column: 'name' },
    provider_name: { column: 'provider_name' },
    availability_zone_data: { column: 'availability_zone_data' },
  },
};
const renderAzp = (r: Dict) => ({ id: r.id, name: r.name, provider_name: r.provider_name, availability_zone_data: r.availability_zone_data });

async function getAzp(q: Q, id: string): Promise<Dict> {
  const row = await q.selectFrom('lb_az_profiles').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row || id === NIL_UUID) throw lbErrors.notFound('Availability Zone Profile', id);
  return row;
}

export async function listAzProfiles(deps: LbDeps, ctx: RequestContext, params: Map<string, string[]>, url: URL) {
  requireAdmin(ctx);
  const page = await listPage(deps.store.db, AZP_LIST, params, url);
  return { items: page.rows.map((r) => pick(renderAzp(r), page.fields)), links: page.links };
}

export async function showAzProfile(deps: LbDeps, ctx: RequestContext, id: string, fields?: string[]) {
  requireAdmin(ctx);
  return pick(renderAzp(await getAzp(deps.store.db, id)), fields);
}

export async function createAzProfile(deps: LbDeps, ctx: RequestContext, b: Dict) {
  requireAdmin(ctx);
  return createProfileRow(deps, 'lb_az_profiles', b, () =>
    checkProfileData(b.provider_name, b.availability_zone_data, 'availability_zone_data', AZ_CAPABILITIES),
  );
}

export async function updateAzProfile(deps: LbDeps, ctx: RequestContext, id: string, b: Dict) {
  requireAdmin(ctx);
  for (const f of ['name', 'provider_name', 'availability_zone_data']) if (f in b && b[f] === null) throw lbErrors.invalidOption(null, f);
  if ('availability_zone_data' in b || 'provider_name' in b) {
    const used = await deps.store.db.selectFrom('lb_availability_zones').select('name').where('availability_zone_profile_id', '=', id).executeTakeFirst();
    if (used) throw lbErrors.objectInUse('Availability Zone Profile', id);
  }
  const cur = await getAzp(deps.store.db, id);
  if ('availability_zone_data' in b || 'provider_name' in b) {
    checkProfileData(b.provider_name ?? cur.provider_name, b.availability_zone_data ?? cur.availability_zone_data, 'availability_zone_data', AZ_CAPABILITIES);
  }
  const set: Dict = {};
  for (const f of ['name', 'provider_name', 'availability_zone_data']) if (f in b) set[f] = b[f];
  if (Object.keys(set).length) await deps.uow.run(({ trx }) => trx.updateTable('lb_az_profiles').set(set).where('id', '=', id).execute());
  return renderAzp(await getAzp(deps.store.db, id));
}

export async function deleteAzProfile(deps: LbDeps, ctx: RequestContext, id: string): Promise<void> {
  requireAdmin(ctx);
  await getAzp(deps.store.db, id);
  const used = await deps.store.db.selectFrom('lb_availability_zones').select('name').where('availability_zone_profile_id', '=', id).executeTakeFirst();
  if (used) throw lbErrors.objectInUse('Availability Zone Profile', id);
  await deps.uow.run(({ trx }) => trx.deleteFrom('lb_az_profiles').where('id', '=', id).execute());
}

// ------------------------------------------------------------ availability zones

const AZ_LIST: ListSpec = {
  table: 'lb_availability_zones',
  columns: {
    name: { column: 'name' },
    description: { column: 'description' },
    enabled: { column: 'enabled', type: 'bool' },
    availability_zone_profile_id: { column: 'availability_zone_profile_id' },
  },
};
const renderAz = (r: Dict) => ({
  name: r.name,
  description: r.description ?? '',
  enabled: r.enabled === 1,
  availability_zone_profile_id: r.availability_zone_profile_id,
});

async function getAz(q: Q, name: string): Promise<Dict> {
  const row = await q.selectFrom('lb_availability_zones').selectAll().where('name', '=', name).executeTakeFirst();
  if (!row) throw lbErrors.notFound('Availability Zone', name);
  return row;
}

export async function listAzs(deps: LbDeps, _ctx: RequestContext, params: Map<string, string[]>, url: URL) {
  // Zones have no id: Octavia pages them by name.
  const page = await listPage(deps.store.db, { ...AZ_LIST, idColumn: 'name' }, params, url);
  return { items: page.rows.map((r) => pick(renderAz(r), page.fields)), links: page.links };
}

export async function showAz(deps: LbDeps, _ctx: RequestContext, name: string, fields?: string[]) {
  return pick(renderAz(await getAz(deps.store.db, name)), fields);
}

export async function createAz(deps: LbDeps, ctx: RequestContext, b: Dict) {
  requireAdmin(ctx);
  const p = await deps.store.db.selectFrom('lb_az_profiles').select('id').where('id', '=', b.availability_zone_profile_id).executeTakeFirst();
  if (!p) throw lbErrors.invalidOption(b.availability_zone_profile_id, 'availability_zone_profile_id');
  const dup = await deps.store.db.selectFrom('lb_availability_zones').select('name').where('name', '=', b.name).executeTakeFirst();
  if (dup) throw lbErrors.recordExists('availability zone', b.name);
  await deps.uow.run(({ trx }) =>
    trx
      .insertInto('lb_availability_zones')
      .values({
        name: b.name,
        description: b.description ?? '',
        enabled: b.enabled === false ? 0 : 1,
        availability_zone_profile_id: b.availability_zone_profile_id,
        created_at: octaviaTime(),
      })
      .execute(),
  );
  return renderAz(await getAz(deps.store.db, b.name));
}

export async function updateAz(deps: LbDeps, ctx: RequestContext, name: string, b: Dict) {
  requireAdmin(ctx);
  await getAz(deps.store.db, name);
  const set: Dict = {};
  if ('description' in b) set.description = b.description ?? '';
  if ('enabled' in b) set.enabled = b.enabled === false ? 0 : 1;
  if (Object.keys(set).length) await deps.uow.run(({ trx }) => trx.updateTable('lb_availability_zones').set(set).where('name', '=', name).execute());
  return renderAz(await getAz(deps.store.db, name));
}

export async function deleteAz(deps: LbDeps, ctx: RequestContext, name: string): Promise<void> {
  requireAdmin(ctx);
  await getAz(deps.store.db, name);
  const used = await deps.store.db.selectFrom('lb_loadbalancers').select('id').where('availability_zone', '=', name).executeTakeFirst();
  if (used) throw lbErrors.objectInUse('Availability Zone', name);
  await deps.uow.run(({ trx }) => trx.deleteFrom('lb_availability_zones').where('name', '=', name).execute());
}
