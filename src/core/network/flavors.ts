/**
 * The flavors framework (Neutron's `flavors`, and `l3-flavors` for routers): flavors of a service
 * type, service profiles naming a provider driver, and their bindings (a sub-resource of flavors).
 * A router created with a flavor takes the driver of the flavor's first bound profile; the only
 * L3 provider here is the single-node one (service-providers lists it).
 */
import type { Tx } from '../../store/db.js';
import { uuid as newUuid } from '../../util/ids.js';
import { DomainError, conflict, invalidInput, notFound } from '../errors.js';
import { string, toBoolean, uuid } from './attributes.js';
import type { ResourceOps } from './registry.js';
import { type ResourceDef, policyError } from './resource.js';

/** Service plugins loaded here, by type (a flavor's service_type must name one). */
const SERVICE_TYPES = ['L3_ROUTER_NAT', 'FLAVORS', 'METERING', 'LOGGING', 'NETWORK_SEGMENT_RANGE', 'SEGMENTS'];
/**
 * The L3 service providers, as Neutron's driver_controller registers them
 * (_LegacyPlusProviderConfiguration) and `GET /v2.0/service-providers` lists them, with what each
 * driver supports of the `ha` flag (its ha_support). Neutron registers `dvrha` and `dvr` before
 * these; they are left out because distributed routers are not built here.
 */
export const L3_PROVIDERS = [
  { name: 'ha', driver: 'neutron.services.l3_router.service_providers.ha.HaDriver', ha: 'required' },
  { name: 'single_node', driver: 'neutron.services.l3_router.service_providers.single_node.SingleNodeDriver', ha: 'unsupported' },
] as const;
type L3Provider = (typeof L3_PROVIDERS)[number];

/** Provider drivers a service profile may name (service-providers' drivers). */
export const PROVIDER_DRIVERS: readonly string[] = L3_PROVIDERS.map((p) => p.driver);

/**
 * driver_controller._ensure_driver_supports_request: an `ha` flag given in the body must suit the
 * flavor's provider (an HA driver makes no router without HA, a single-node one none with it).
 */
export function checkProviderSupportsHa(driver: string, ha: unknown): void {
  if (ha !== true && ha !== false) return;
  const provider: L3Provider | undefined = L3_PROVIDERS.find((p) => p.driver === driver);
  if (!provider) return;
  if ((provider.ha === 'required' && !ha) || (provider.ha === 'unsupported' && ha)) {
    throw invalidInput(`Provider ${provider.name} does not support ha=${ha ? 'True' : 'False'}`);
  }
}

const flavorNotFound = (id: string) => notFound('FlavorNotFound', `Flavor ${id} could not be found.`);
const profileNotFound = (id: string) => notFound('ServiceProfileNotFound', `Service Profile ${id} could not be found.`);
const driverNotFound = (driver: string) => notFound('ServiceProfileDriverNotFound', `Service Profile driver ${driver} could not be found.`);
const stringOrNone = (max: number) => (v: unknown) => (v === null ? undefined : string(max)(v));
const boolOrNone = (v: unknown) => (v === null ? null : toBoolean(v));

interface FlavorComputed {
  service_profiles: string[];
}

export const flavorDef: ResourceDef<'network_flavors', FlavorComputed> = {
  name: 'flavor',
  collection: 'flavors',
  table: 'network_flavors',
  label: 'Flavor',
  notFound: flavorNotFound,
  attrs: {
    id: { filter: true, sort: true, column: 'id', validate: uuid },
    name: { post: true, put: true, default: '', filter: true, sort: true, column: 'name', validate: string(255) },
    description: { post: true, put: true, default: '', filter: true, sort: true, column: 'description', validate: stringOrNone(1024) },
    service_type: {
      post: true,
      filter: true,
      sort: true,
      column: 'service_type',
      validate: (v) => {
        if (typeof v === 'string' && SERVICE_TYPES.includes(v)) return undefined;
        throw new DomainError('bad_request', 'InvalidServiceType', `Invalid service type: ${String(v)}.`);
      },
    },
    enabled: { post: true, put: true, default: true, filter: true, sort: true, column: 'enabled', codec: 'bool', convert: boolOrNone },
    service_profiles: { post: true, put: true, default: [] },
    tenant_id: { post: true, visible: false, column: 'project_id', validate: string(255) },
    project_id: { post: true, visible: false, column: 'project_id', validate: string(255) },
  },
  // Flavors are everyone's to read (get_flavor: any).
  sharedWhere: (eb) => eb('network_flavors.id', 'is not', null),
  async load(q, rows) {
    for (const r of rows) r.__service_profiles = [];
    if (rows.length === 0) return;
    const bindings = await q
      .selectFrom('flavor_service_profiles')
      .select(['flavor_id', 'id'])
      .where(
        'flavor_id',
        'in',
        rows.map((r) => r.id),
      )
      .execute();
    for (const r of rows) r.__service_profiles = bindings.filter((b) => b.flavor_id === r.id).map((b) => b.id);
  },
};

export const serviceProfileDef: ResourceDef<'service_profiles'> = {
  name: 'service_profile',
  collection: 'service_profiles',
  table: 'service_profiles',
  label: 'Service Profile',
  notFound: profileNotFound,
  adminOnly: true,
  attrs: {
    id: { filter: true, sort: true, column: 'id', validate: uuid },
    description: { post: true, put: true, default: '', filter: true, sort: true, column: 'description', validate: stringOrNone(1024) },
    driver: { post: true, put: true, default: '', filter: true, sort: true, column: 'driver', validate: string(1024) },
    enabled: { post: true, put: true, default: true, filter: true, sort: true, column: 'enabled', codec: 'bool', convert: boolOrNone },
    metainfo: { post: true, put: true, default: '', filter: true, sort: true, column: 'metainfo', validate: string(4096) },
    tenant_id: { post: true, visible: false, column: 'project_id', validate: string(255) },
    project_id: { post: true, visible: false, column: 'project_id', validate: string(255) },
  },
};

/** A flavor's binding to a profile: `POST /v2.0/flavors/{id}/service_profiles {"service_profile": {"id": …}}`. */
export const flavorProfileDef: ResourceDef<'flavor_service_profiles', { id: string }> = {
  name: 'service_profile',
  collection: 'service_profiles',
  table: 'flavor_service_profiles',
  label: 'Service Profile',
  notFound: profileNotFound,
  parent: { path: 'flavors', column: 'flavor_id' },
  adminOnly: true,
  attrs: {
    // Neutron answers a new binding with the flavor's dict filtered to this map: the flavor's id.
    id: { post: true, validate: uuid },
    tenant_id: { post: true, visible: false, column: 'project_id', validate: string(255) },
    project_id: { post: true, visible: false, column: 'project_id', validate: string(255) },
  },
  async load(_q, rows, _ctx, view) {
    for (const r of rows) r.__id = view === 'create' ? r.flavor_id : undefined;
  },
};

function checkDriver(driver: string): void {
  if (!PROVIDER_DRIVERS.includes(driver)) throw driverNotFound(driver);
}

export function flavorOps(): ResourceOps<'network_flavors', FlavorComputed> {
  return {
    def: flavorDef,
    async create(w, ctx, p) {
      if (!ctx.isAdmin) throw policyError('create_flavor');
      const v = p.values;
      const id = newUuid();
      await w.trx
        .insertInto('network_flavors')
        .values({
          id,
          project_id: '',
          name: v.name as string,
          description: (v.description as string | null) ?? '',
          service_type: v.service_type as string,
          enabled: v.enabled === false ? 0 : 1,
        })
        .execute();
      return id;
    },
    async update(w, ctx, row, p) {
      if (!ctx.isAdmin) throw policyError('update_flavor');
      const v = p.values;
      const cols: Record<string, string | number> = {};
      if ('name' in v) cols.name = v.name as string;
      if ('description' in v) cols.description = (v.description as string | null) ?? '';
      if ('enabled' in v && v.enabled !== null) cols.enabled = v.enabled ? 1 : 0;
      if (Object.keys(cols).length) await w.trx.updateTable('network_flavors').set(cols).where('id', '=', row.id).execute();
    },
    async delete(w, ctx, row) {
      if (!ctx.isAdmin) throw policyError('delete_flavor');
      if (await w.trx.selectFrom('routers').select('id').where('flavor_id', '=', row.id).executeTakeFirst()) {
        throw conflict('FlavorInUse', `Flavor ${row.id} is used by some service instance.`);
      }
      await w.trx.deleteFrom('flavor_service_profiles').where('flavor_id', '=', row.id).execute();
      await w.trx.deleteFrom('network_flavors').where('id', '=', row.id).execute();
    },
  };
}

export function serviceProfileOps(): ResourceOps<'service_profiles'> {
  const inUse = async (trx: Tx, id: string) => {
    if (await trx.selectFrom('flavor_service_profiles').select('id').where('id', '=', id).executeTakeFirst()) {
      throw conflict('ServiceProfileInUse', `Service Profile ${id} is used by some service instance.`);
    }
  };
  return {
    def: serviceProfileDef,
    async create(w, ctx, p) {
      if (!ctx.isAdmin) throw policyError('create_service_profile');
      const v = p.values;
      const driver = v.driver as string;
      if (driver) checkDriver(driver);
      else if (!v.metainfo) throw new DomainError('bad_request', 'ServiceProfileEmpty', 'Service Profile needs either a driver or metainfo.');
      const id = newUuid();
      await w.trx
        .insertInto('service_profiles')
        .values({
          id,
          project_id: '',
          description: (v.description as string | null) ?? '',
          driver,
          enabled: v.enabled === false ? 0 : 1,
          metainfo: v.metainfo as string,
        })
        .execute();
      return id;
    },
    async update(w, ctx, row, p) {
      if (!ctx.isAdmin) throw policyError('update_service_profile');
      const v = p.values;
      if (v.driver) checkDriver(v.driver as string);
      await inUse(w.trx, row.id);
      const cols: Record<string, string | number> = {};
      for (const k of ['description', 'driver', 'metainfo'] as const) if (k in v) cols[k] = (v[k] as string | null) ?? '';
      if ('enabled' in v && v.enabled !== null) cols.enabled = v.enabled ? 1 : 0;
      if (Object.keys(cols).length) await w.trx.updateTable('service_profiles').set(cols).where('id', '=', row.id).execute();
    },
    async delete(w, ctx, row) {
      if (!ctx.isAdmin) throw policyError('delete_service_profile');
      await inUse(w.trx, row.id);
      await w.trx.deleteFrom('service_profiles').where('id', '=', row.id).execute();
    },
  };
}

export function flavorProfileOps(): ResourceOps<'flavor_service_profiles', { id: string }> {
  return {
    def: flavorProfileDef,
    async create(w, ctx, p) {
      if (!ctx.isAdmin) throw policyError('create_flavor_service_profile');
      const flavorId = p.parent!;
      const id = p.values.id as string;
      const profile = await w.trx.selectFrom('service_profiles').select('id').where('id', '=', id).executeTakeFirst();
      if (!profile) throw profileNotFound(id);
      const bound = await w.trx.selectFrom('flavor_service_profiles').select('id').where('flavor_id', '=', flavorId).where('id', '=', id).executeTakeFirst();
      if (bound) throw conflict('FlavorServiceProfileBindingExists', `Service Profile ${id} is already associated with flavor ${flavorId}.`);
      await w.trx.insertInto('flavor_service_profiles').values({ id, project_id: '', flavor_id: flavorId }).execute();
      return id;
    },
    async delete(w, ctx, row) {
      if (!ctx.isAdmin) throw policyError('delete_flavor_service_profile');
      await w.trx.deleteFrom('flavor_service_profiles').where('flavor_id', '=', row.flavor_id).where('id', '=', row.id).execute();
    },
  };
}

/** FlavorsPlugin.get_flavor_next_provider: the driver of a router flavor's first bound profile. */
export async function routerFlavorDriver(trx: Tx, flavorId: string): Promise<string> {
  const flavor = await trx.selectFrom('network_flavors').select('id').where('id', '=', flavorId).executeTakeFirst();
  if (!flavor) throw flavorNotFound(flavorId);
  const binding = await trx.selectFrom('flavor_service_profiles').select('id').where('flavor_id', '=', flavorId).executeTakeFirst();
  if (!binding) throw notFound('FlavorServiceProfileBindingNotFound', `Service Profile  is not associated with flavor ${flavorId}.`);
  const profile = await trx.selectFrom('service_profiles').selectAll().where('id', '=', binding.id).executeTakeFirstOrThrow();
  if (profile.enabled !== 1) throw new DomainError('unavailable', 'ServiceProfileDisabled', 'Service Profile is not enabled.');
  checkDriver(profile.driver);
  return profile.driver;
}
