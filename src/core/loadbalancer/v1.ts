/**
 * Neutron LBaaS v1 (`/v2.0/lb/...`, the seed's `neutron lb-*` commands) on the same object
 * model and engine as Octavia v2:
 *   v1 pool           → pool (no load balancer until it gets a VIP)
 *   v1 member         → member
 *   v1 health monitor → monitor row without a pool, associated with pools (the first association
 *                       of a pool is the one in effect, as with v1's HAProxy driver)
 *   v1 VIP            → load balancer (id = VIP id, VIP port device_owner neutron:LOADBALANCER)
 *                       + one listener whose default pool is the v1 pool; v1 session persistence
 *                       lives on the pool, as in v2.
 * Requests are read with Neutron's attribute-map rules (numbers may come as strings) and errors
 * are Neutron's.
 */
import type { Updateable } from 'kysely';
import type { Q, Tx } from '../../store/db.js';
import type { LbHealthMonitorsTable, LbListenersTable, LbLoadBalancersTable, LbMembersTable, LbPoolsTable } from '../../store/schema.js';
import { isUuidLike, uuid as newUuid } from '../../util/ids.js';
import { cidrContains, parseCidr, parseIp } from '../../util/ip.js';
import { isDict } from '../../util/json.js';
import type { RequestContext } from '../context.js';
import { DomainError, httpBadRequest, isDomainError } from '../errors.js';
import { NOT_SPECIFIED, ipAddress, nonNegative, range, string, toBoolean, toInt, uuid, uuidList, values } from '../network/attributes.js';
import {
  type ListOptions,
  type ResourceDef,
  listRows,
  pageLinks,
  pageSpan,
  parseListOptions,
  policyError,
  prepareCreate,
  prepareUpdate,
  render,
  unwrapBody,
} from '../network/resource.js';
import type { UnitOfWork, Work } from '../work.js';
import { OPERATING, type OperatingStatus, PROVISIONING, type ProvisioningStatus } from './constants.js';
import type { LbDeps } from './deps.js';
import { type LbRow, type MemberRow, type MonitorRow, type PoolRow, octaviaTime, oneWithStatus } from './model.js';
import { type NeutronSubnet, showNeutron } from './neutron.js';
import { deletePoolRows } from './status.js';
import { allocateVip } from './vip.js';

const V1_PROVIDER = 'pocketstack';

const nf = (type: string, msg: string) => new DomainError('not_found', type, msg);
const cf = (type: string, msg: string) => new DomainError('conflict', type, msg);
const v1Errors = {
  vip: (id: string) => nf('VipNotFound', `Vip ${id} could not be found`),
  pool: (id: string) => nf('PoolNotFound', `Pool ${id} could not be found`),
  member: (id: string) => nf('MemberNotFound', `Member ${id} could not be found`),
  monitor: (id: string) => nf('HealthMonitorNotFound', `Health_monitor ${id} could not be found`),
  assocMissing: (m: string, p: string) => nf('PoolMonitorAssociationNotFound', `Monitor ${m} is not associated with Pool ${p}`),
  assocExists: (m: string, p: string) => cf('PoolMonitorAssociationExists', `health_monitor ${m} is already associated with pool ${p}`),
  vipExists: (p: string) => cf('VipExists', `Another Vip already exists for pool ${p}`),
  poolInUse: (p: string) => cf('PoolInUse', `Pool ${p} is still in use`),
  stateInvalid: (state: string, id: string) => cf('StateInvalid', `Invalid state ${state} of Loadbalancer resource ${id}`),
  protocolMismatch: (vip: string, pool: string) => new DomainError('bad_request', 'ProtocolMismatch', `Protocol ${vip} does not match pool protocol ${pool}`),
  memberExists: (address: string, port: number, pool: string) =>
    cf('MemberExists', `Member with address ${address} and port ${port} already present in pool ${pool}`),
  delayTimeout: () => new DomainError('bad_request', 'DelayOrTimeoutInvalid', 'Delay must be greater than or equal to timeout'),
  subnet: (id: string) => nf('SubnetNotFound', `Subnet ${id} could not be found.`),
};

/** v1's status: provisioning while pending, else ACTIVE or INACTIVE from health. */
type V1Status = ProvisioningStatus | 'INACTIVE';
function v1Status(provisioning: ProvisioningStatus, operating?: OperatingStatus): V1Status {
  if (provisioning !== PROVISIONING.ACTIVE) return provisioning;
  if (operating === OPERATING.ERROR || operating === OPERATING.OFFLINE) return 'INACTIVE';
  return 'ACTIVE';
}

const tenant = { post: true, filter: true, sort: true, column: 'project_id', validate: string(255) };
const idAttr = { filter: true, sort: true, column: 'id', validate: uuid };
const adminStateUp = { post: true, put: true, default: true, filter: true, sort: true, column: 'admin_state_up', codec: 'bool' as const, convert: toBoolean };
const statusDescription = { column: 'status_description' };
const expectedCodes = (v: unknown) =>
  typeof v === 'string' && /^(\d{3}(\s*,\s*\d{3})*)$|^(\d{3}-\d{3})$/.test(v) ? undefined : `'${String(v)}' is not a valid input`;
const sessionPersistence = (v: unknown) => {
  if (v === null || (isDict(v) && Object.keys(v).length === 0)) return undefined;
  if (!isDict(v)) return `'${String(v)}' is not a dictionary`;
  const d = v;
  const extra = Object.keys(d).filter((k) => k !== 'type' && k !== 'cookie_name');
  if (extra.length || !('type' in d))
    return `Validation of dictionary's keys failed. Expected keys: {'type'} Provided keys: {${Object.keys(d)
      .map((k) => `'${k}'`)
      .join(', ')}}`;
  if (!(typeof d.type === 'string' && ['APP_COOKIE', 'HTTP_COOKIE', 'SOURCE_IP'].includes(d.type)))
    return `${d.type} is not in ['APP_COOKIE', 'HTTP_COOKIE', 'SOURCE_IP']`;
  if ('cookie_name' in d && typeof d.cookie_name !== 'string') return `'${d.cookie_name}' is not a valid string`;
  return undefined;
};

const poolV1Def: ResourceDef = {
  name: 'pool',
  collection: 'pools',
  table: 'lb_pools',
  label: 'Pool',
  attrs: {
    id: idAttr,
    tenant_id: tenant,
    vip_id: { filter: true, sort: true, column: 'loadbalancer_id' },
    name: { post: true, put: true, default: '', filter: true, sort: true, column: 'name', validate: string(255) },
    description: { post: true, put: true, default: '', filter: true, sort: true, column: 'description', validate: string(255) },
    subnet_id: { post: true, filter: true, sort: true, column: 'subnet_id', validate: uuid },
    protocol: { post: true, filter: true, sort: true, column: 'protocol', validate: values(['TCP', 'HTTP', 'HTTPS']) },
    provider: { post: true, default: NOT_SPECIFIED, filter: true, validate: string(255) },
    lb_method: { post: true, put: true, filter: true, sort: true, column: 'lb_algorithm', validate: values(['ROUND_ROBIN', 'LEAST_CONNECTIONS', 'SOURCE_IP']) },
    members: {},
    health_monitors: { post: true, put: true, default: null, validate: (v) => (v === null ? undefined : uuidList(v)) },
    health_monitors_status: {},
    admin_state_up: adminStateUp,
    status: {},
    status_description: statusDescription,
  },
};

const memberV1Def: ResourceDef = {
  name: 'member',
  collection: 'members',
  table: 'lb_members',
  label: 'Member',
  attrs: {
    id: idAttr,
    tenant_id: tenant,
    pool_id: { post: true, put: true, filter: true, sort: true, column: 'pool_id', validate: uuid },
    address: { post: true, filter: true, sort: true, column: 'address', validate: ipAddress },
    protocol_port: { post: true, filter: true, sort: true, column: 'protocol_port', codec: 'int', convert: toInt, validate: range(0, 65535) },
    weight: { post: true, put: true, default: 1, filter: true, sort: true, column: 'weight', codec: 'int', convert: toInt, validate: range(0, 256) },
    admin_state_up: adminStateUp,
    status: {},
    status_description: statusDescription,
  },
};

const monitorV1Def: ResourceDef = {
  name: 'health_monitor',
  collection: 'health_monitors',
  table: 'lb_healthmonitors',
  label: 'Health_monitor',
  attrs: {
    id: idAttr,
    tenant_id: tenant,
    type: { post: true, filter: true, sort: true, column: 'type', validate: values(['PING', 'TCP', 'HTTP', 'HTTPS']) },
    delay: { post: true, put: true, filter: true, sort: true, column: 'delay', codec: 'int', convert: toInt, validate: nonNegative },
    timeout: { post: true, put: true, filter: true, sort: true, column: 'timeout', codec: 'int', convert: toInt },
    max_retries: { post: true, put: true, filter: true, sort: true, column: 'max_retries', codec: 'int', convert: toInt, validate: range(1, 10) },
    http_method: { post: true, put: true, default: 'GET', filter: true, sort: true, column: 'http_method', validate: string(16) },
    url_path: { post: true, put: true, default: '/', filter: true, sort: true, column: 'url_path', validate: string(255) },
    expected_codes: { post: true, put: true, default: '200', filter: true, sort: true, column: 'expected_codes', validate: expectedCodes },
    admin_state_up: adminStateUp,
    pools: {},
  },
};

const vipV1Def: ResourceDef = {
  name: 'vip',
  collection: 'vips',
  table: 'lb_loadbalancers',
  label: 'Vip',
  attrs: {
    id: idAttr,
    tenant_id: tenant,
    name: { post: true, put: true, default: '', filter: true, sort: true, column: 'name', validate: string(255) },
    description: { post: true, put: true, default: '', filter: true, sort: true, column: 'description', validate: string(255) },
    subnet_id: { post: true, filter: true, sort: true, column: 'vip_subnet_id', validate: uuid },
    address: { post: true, default: NOT_SPECIFIED, filter: true, sort: true, column: 'vip_address', validate: (v) => (v === null ? undefined : ipAddress(v)) },
    port_id: { filter: true, sort: true, column: 'vip_port_id' },
    protocol_port: { post: true, convert: toInt, validate: range(0, 65535) },
    protocol: { post: true, validate: values(['TCP', 'HTTP', 'HTTPS']) },
    pool_id: { post: true, put: true, validate: uuid },
    session_persistence: { post: true, put: true, default: {}, validate: sessionPersistence },
    connection_limit: { post: true, put: true, default: -1, convert: toInt },
    admin_state_up: adminStateUp,
    status: {},
    status_description: {},
  },
};

// ------------------------------------------------------------ reading

/** The v1 collections and the load-balancing rows each is stored as. */
interface V1Rows {
  pools: PoolRow;
  members: MemberRow;
  health_monitors: MonitorRow;
  vips: LbRow;
}
export type V1Collection = keyof V1Rows;

const V1_DEFS: { [C in V1Collection]: ResourceDef } = { pools: poolV1Def, members: memberV1Def, health_monitors: monitorV1Def, vips: vipV1Def };

/** One v1 object by id (v2 objects share the tables and are not v1's to see). */
const READ: { [C in V1Collection]: (q: Q, id: string) => Promise<V1Rows[C] | undefined> } = {
  pools: async (q, id) => oneWithStatus(await q.selectFrom('lb_pools').selectAll().where('id', '=', id).where('api', '=', 'v1').executeTakeFirst()),
  members: async (q, id) => oneWithStatus(await q.selectFrom('lb_members').selectAll().where('id', '=', id).where('api', '=', 'v1').executeTakeFirst()),
  health_monitors: async (q, id) =>
    oneWithStatus(await q.selectFrom('lb_healthmonitors').selectAll().where('id', '=', id).where('api', '=', 'v1').executeTakeFirst()),
  vips: async (q, id) => oneWithStatus(await q.selectFrom('lb_loadbalancers').selectAll().where('id', '=', id).where('api', '=', 'v1').executeTakeFirst()),
};

const NOT_FOUND: { [C in V1Collection]: (id: string) => DomainError } = {
  pools: v1Errors.pool,
  members: v1Errors.member,
  health_monitors: v1Errors.monitor,
  vips: v1Errors.vip,
};

/**
 * Rows with v1's computed attributes, as the attribute-map renderer reads them (`__<name>`):
 * a pool's provider, members and monitor associations, a VIP's listener and pool settings.
 */
const DECORATE: { [C in V1Collection]: (q: Q, rows: V1Rows[C][]) => Promise<object[]> } = {
  async pools(q, rows) {
    const ids = rows.map((r) => r.id);
    const members = ids.length ? await q.selectFrom('lb_members').select(['id', 'pool_id']).where('pool_id', 'in', ids).orderBy('created_at').execute() : [];
    const assoc = ids.length ? await q.selectFrom('lb_v1_pool_monitors').selectAll().where('pool_id', 'in', ids).orderBy('created_at').execute() : [];
    return rows.map((r) => {
      const a = assoc.filter((x) => x.pool_id === r.id);
      return {
        ...r,
        __provider: V1_PROVIDER,
        __members: members.filter((m) => m.pool_id === r.id).map((m) => m.id),
        __health_monitors: a.map((x) => x.monitor_id),
        __health_monitors_status: a.map((x) => ({ monitor_id: x.monitor_id, status: x.status, status_description: x.status_description })),
        __status: v1Status(r.provisioning_status),
      };
    });
  },
  async members(_q, rows) {
    return rows.map((r) => ({ ...r, __status: v1Status(r.provisioning_status, r.operating_status) }));
  },
  async health_monitors(q, rows) {
    const ids = rows.map((r) => r.id);
    const assoc = ids.length ? await q.selectFrom('lb_v1_pool_monitors').selectAll().where('monitor_id', 'in', ids).orderBy('created_at').execute() : [];
    return rows.map((r) => ({
      ...r,
      __pools: assoc.filter((x) => x.monitor_id === r.id).map((x) => ({ pool_id: x.pool_id, status: x.status, status_description: x.status_description })),
    }));
  },
  async vips(q, rows) {
    const ids = rows.map((r) => r.id);
    const listeners = ids.length ? await q.selectFrom('lb_listeners').selectAll().where('loadbalancer_id', 'in', ids).execute() : [];
    const poolIds = listeners.map((l) => l.default_pool_id).filter((x): x is string => !!x);
    const pools = poolIds.length ? await q.selectFrom('lb_pools').selectAll().where('id', 'in', poolIds).execute() : [];
    return rows.map((r) => {
      const l = listeners.find((x) => x.loadbalancer_id === r.id);
      const p = pools.find((x) => x.id === l?.default_pool_id);
      return {
        ...r,
        __protocol_port: l?.protocol_port ?? null,
        __protocol: l?.protocol ?? null,
        __pool_id: p?.id ?? l?.default_pool_id ?? null,
        __session_persistence: p?.sp_type ? { type: p.sp_type, ...(p.sp_cookie_name ? { cookie_name: p.sp_cookie_name } : {}) } : null,
        __connection_limit: l?.connection_limit ?? -1,
        __status: v1Status(r.provisioning_status),
        __status_description: null,
      };
    });
  },
};

async function renderV1<C extends V1Collection>(deps: LbDeps, ctx: RequestContext, collection: C, rows: V1Rows[C][], fields?: string[]) {
  const decorated = await DECORATE[collection](deps.store.db, rows);
  return decorated.map((r) => render(V1_DEFS[collection], ctx, r, fields));
}

/** The rows Neutron's list engine read: every column of the collection's table. */
async function listV1Rows<C extends V1Collection>(deps: LbDeps, ctx: RequestContext, collection: C, opts: ListOptions): Promise<V1Rows[C][]> {
  const def = V1_DEFS[collection];
  const rows = await listRows(deps.store.db, def, ctx, opts, (eb) => eb(`${def.table}.api`, '=', 'v1'));
  return rows as V1Rows[C][];
}

export async function listV1(deps: LbDeps, ctx: RequestContext, collection: V1Collection, query: Map<string, string[]>, url: URL) {
  const opts = parseListOptions(V1_DEFS[collection], query);
  const rows = await listV1Rows(deps, ctx, collection, opts);
  return { items: await renderV1(deps, ctx, collection, rows, opts.fields), links: pageLinks(url, pageSpan(rows), opts) };
}

async function getV1<C extends V1Collection>(q: Q, ctx: RequestContext, collection: C, id: string): Promise<V1Rows[C]> {
  const row = await READ[collection](q, id);
  if (!row || (!ctx.isAdmin && row.project_id !== ctx.projectId)) throw NOT_FOUND[collection](id);
  return row;
}

export async function showV1(deps: LbDeps, ctx: RequestContext, collection: V1Collection, id: string, fields?: string[]) {
  const row = await getV1(deps.store.db, ctx, collection, id);
  return (await renderV1(deps, ctx, collection, [row], fields))[0];
}

function assertOwner(ctx: RequestContext, row: { project_id: string }, action: string): void {
  if (!ctx.isAdmin && row.project_id !== ctx.projectId) throw policyError(action);
}

function refuseDeleting(row: { id: string; provisioning_status: ProvisioningStatus }): void {
  if (row.provisioning_status === PROVISIONING.PENDING_DELETE) throw v1Errors.stateInvalid(row.provisioning_status, row.id);
}

/** Mark the load balancer a v1 pool belongs to as being updated (if it has a VIP). */
async function touchPool(w: Work, poolId: string): Promise<void> {
  const { trx } = w;
  const p = await trx.selectFrom('lb_pools').select(['loadbalancer_id', 'project_id']).where('id', '=', poolId).executeTakeFirst();
  if (!p) return;
  if (p.loadbalancer_id) {
    await trx
      .updateTable('lb_loadbalancers')
      .set({ provisioning_status: PROVISIONING.PENDING_UPDATE })
      .where('id', '=', p.loadbalancer_id)
      .where('provisioning_status', '=', PROVISIONING.ACTIVE)
      .execute();
    w.changed('loadbalancer', p.loadbalancer_id, p.project_id, 'update');
  } else w.changed('lb_pool', poolId, p.project_id, 'update');
}

// ------------------------------------------------------------ pools

export async function createPoolV1(deps: LbDeps, ctx: RequestContext, body: unknown) {
  const [item] = unwrapBody(poolV1Def, body, false);
  const v = prepareCreate(poolV1Def, ctx, item).values;
  if (v.provider !== undefined && v.provider !== V1_PROVIDER) throw httpBadRequest(`Provider ${v.provider} is not supported`);
  await checkSubnet(deps, ctx, v.subnet_id as string);
  const id = newUuid();
  await deps.uow.run(async (w) => {
    const { trx } = w;
    await trx
      .insertInto('lb_pools')
      .values({
        id,
        project_id: v.tenant_id as string,
        name: v.name as string,
        description: v.description as string,
        provisioning_status: PROVISIONING.PENDING_CREATE,
        operating_status: OPERATING.OFFLINE,
        admin_state_up: v.admin_state_up ? 1 : 0,
        api: 'v1',
        loadbalancer_id: null,
        protocol: v.protocol as string,
        lb_algorithm: v.lb_method as string,
        sp_type: null,
        sp_cookie_name: null,
        sp_persistence_timeout: null,
        sp_persistence_granularity: null,
        tls_enabled: 0,
        tls_container_ref: null,
        ca_tls_container_ref: null,
        crl_container_ref: null,
        tls_ciphers: null,
        tls_versions: null,
        alpn_protocols: null,
        subnet_id: v.subnet_id as string,
        status_description: null,
        created_at: octaviaTime(),
        updated_at: null,
      })
      .execute();
    for (const m of (v.health_monitors as string[] | null) ?? []) await associate(trx, ctx, id, m);
    w.changed('lb_pool', id, v.tenant_id as string, 'create');
  }, ctx);
  return showV1(deps, ctx, 'pools', id);
}

/**
 * A v1 PUT body, checked against the resource's attribute map: each value converted and validated
 * by its attribute, so of the type the attribute's validator admits (read below with that type).
 */
function updateValues(def: ResourceDef, ctx: RequestContext, body: unknown): Record<string, unknown> {
  const [item] = unwrapBody(def, body, false);
  return prepareUpdate(def, ctx, item).values;
}

/** An updated object waits for the engine (one still being created stays PENDING_CREATE). */
const pendingUpdate = (row: { provisioning_status: ProvisioningStatus }): { provisioning_status: ProvisioningStatus; updated_at: string } => ({
  provisioning_status: row.provisioning_status === PROVISIONING.PENDING_CREATE ? PROVISIONING.PENDING_CREATE : PROVISIONING.PENDING_UPDATE,
  updated_at: octaviaTime(),
});

export async function updatePoolV1(deps: LbDeps, ctx: RequestContext, id: string, body: unknown) {
  const v = updateValues(poolV1Def, ctx, body);
  await deps.uow.run(async (w) => {
    const { trx } = w;
    const row = await getV1(trx, ctx, 'pools', id);
    assertOwner(ctx, row, 'update_pool');
    refuseDeleting(row);
    const set: Updateable<LbPoolsTable> = pendingUpdate(row);
    if ('name' in v) set.name = v.name as string;
    if ('description' in v) set.description = v.description as string;
    if ('lb_method' in v) set.lb_algorithm = v.lb_method as string;
    if ('admin_state_up' in v) set.admin_state_up = v.admin_state_up ? 1 : 0;
    await trx.updateTable('lb_pools').set(set).where('id', '=', id).execute();
    if ('health_monitors' in v) {
      const want = (v.health_monitors as string[] | null) ?? [];
      const cur = (await trx.selectFrom('lb_v1_pool_monitors').select('monitor_id').where('pool_id', '=', id).execute()).map((x) => x.monitor_id);
      for (const m of cur) if (!want.includes(m)) await trx.deleteFrom('lb_v1_pool_monitors').where('pool_id', '=', id).where('monitor_id', '=', m).execute();
      for (const m of want) if (!cur.includes(m)) await associate(trx, ctx, id, m);
    }
    await touchPool(w, id);
  }, ctx);
  return showV1(deps, ctx, 'pools', id);
}

export async function deletePoolV1(deps: LbDeps, ctx: RequestContext, id: string): Promise<void> {
  await deps.uow.run(async (w) => {
    const { trx } = w;
    const row = await getV1(trx, ctx, 'pools', id);
    assertOwner(ctx, row, 'delete_pool');
    if (row.loadbalancer_id) throw v1Errors.poolInUse(id);
    await trx.updateTable('lb_pools').set({ provisioning_status: PROVISIONING.PENDING_DELETE }).where('id', '=', id).execute();
    w.changed('lb_pool', id, row.project_id, 'delete');
  }, ctx);
}

export async function poolStatsV1(deps: LbDeps, ctx: RequestContext, id: string) {
  const row = await getV1(deps.store.db, ctx, 'pools', id);
  const listeners = await deps.store.db.selectFrom('lb_listeners').select('id').where('default_pool_id', '=', row.id).execute();
  const ids = listeners.map((l) => l.id);
  const stats = ids.length ? await deps.store.db.selectFrom('lb_listener_stats').selectAll().where('listener_id', 'in', ids).execute() : [];
  const total = (k: 'bytes_in' | 'bytes_out' | 'active_connections' | 'total_connections') => stats.reduce((n, s) => n + Number(s[k]), 0);
  return {
    bytes_in: total('bytes_in'),
    bytes_out: total('bytes_out'),
    active_connections: total('active_connections'),
    total_connections: total('total_connections'),
  };
}

// ------------------------------------------------------------ members

export async function createMemberV1(deps: LbDeps, ctx: RequestContext, body: unknown) {
  const [item] = unwrapBody(memberV1Def, body, false);
  const v = prepareCreate(memberV1Def, ctx, item).values;
  const id = newUuid();
  await deps.uow.run(async (w) => {
    const { trx } = w;
    const pool = await getV1(trx, ctx, 'pools', v.pool_id as string);
    refuseDeleting(pool);
    await checkMemberFree(trx, pool.id, v.address as string, v.protocol_port as number);
    const monitored = await trx.selectFrom('lb_v1_pool_monitors').select('monitor_id').where('pool_id', '=', pool.id).executeTakeFirst();
    await trx
      .insertInto('lb_members')
      .values({
        id,
        project_id: v.tenant_id as string,
        name: '',
        provisioning_status: PROVISIONING.PENDING_CREATE,
        operating_status: monitored ? OPERATING.OFFLINE : OPERATING.NO_MONITOR,
        admin_state_up: v.admin_state_up ? 1 : 0,
        api: 'v1',
        pool_id: pool.id,
        address: v.address as string,
        protocol_port: v.protocol_port as number,
        weight: v.weight as number,
        backup: 0,
        subnet_id: null,
        monitor_address: null,
        monitor_port: null,
        status_description: null,
        created_at: octaviaTime(),
        updated_at: null,
      })
      .execute();
    await touchPool(w, pool.id);
  }, ctx);
  return showV1(deps, ctx, 'members', id);
}

async function checkMemberFree(trx: Tx, poolId: string, address: string, port: number, exceptId?: string): Promise<void> {
  const dup = await trx
    .selectFrom('lb_members')
    .select('id')
    .where('pool_id', '=', poolId)
    .where('address', '=', address)
    .where('protocol_port', '=', port)
    .executeTakeFirst();
  if (dup && dup.id !== exceptId) throw v1Errors.memberExists(address, port, poolId);
}

export async function updateMemberV1(deps: LbDeps, ctx: RequestContext, id: string, body: unknown) {
  const v = updateValues(memberV1Def, ctx, body);
  await deps.uow.run(async (w) => {
    const { trx } = w;
    const row = await getV1(trx, ctx, 'members', id);
    assertOwner(ctx, row, 'update_member');
    refuseDeleting(row);
    const set: Updateable<LbMembersTable> = pendingUpdate(row);
    if ('weight' in v) set.weight = v.weight as number;
    if ('admin_state_up' in v) set.admin_state_up = v.admin_state_up ? 1 : 0;
    if ('pool_id' in v && v.pool_id !== row.pool_id) {
      const pool = await getV1(trx, ctx, 'pools', v.pool_id as string);
      await checkMemberFree(trx, pool.id, row.address, row.protocol_port, row.id);
      set.pool_id = pool.id;
      await touchPool(w, row.pool_id);
    }
    await trx.updateTable('lb_members').set(set).where('id', '=', id).execute();
    await touchPool(w, set.pool_id ?? row.pool_id);
  }, ctx);
  return showV1(deps, ctx, 'members', id);
}

export async function deleteMemberV1(deps: LbDeps, ctx: RequestContext, id: string): Promise<void> {
  await deps.uow.run(async (w) => {
    const { trx } = w;
    const row = await getV1(trx, ctx, 'members', id);
    assertOwner(ctx, row, 'delete_member');
    await trx.updateTable('lb_members').set({ provisioning_status: PROVISIONING.PENDING_DELETE }).where('id', '=', id).execute();
    await touchPool(w, row.pool_id);
  }, ctx);
}

// ------------------------------------------------------------ health monitors

export async function createMonitorV1(deps: LbDeps, ctx: RequestContext, body: unknown) {
  const [item] = unwrapBody(monitorV1Def, body, false);
  const v = prepareCreate(monitorV1Def, ctx, item).values;
  if ((v.timeout as number) > (v.delay as number)) throw v1Errors.delayTimeout();
  const id = newUuid();
  const http = v.type === 'HTTP' || v.type === 'HTTPS';
  await deps.uow.run(
    ({ trx }) =>
      trx
        .insertInto('lb_healthmonitors')
        .values({
          id,
          project_id: v.tenant_id as string,
          name: '',
          provisioning_status: PROVISIONING.ACTIVE,
          operating_status: OPERATING.ONLINE,
          admin_state_up: v.admin_state_up ? 1 : 0,
          api: 'v1',
          pool_id: null,
          type: v.type as string,
          delay: v.delay as number,
          timeout: v.timeout as number,
          max_retries: v.max_retries as number,
          // v1 has one retry count; Octavia's default fall (3) applies on the way down.
          max_retries_down: 3,
          http_method: http ? (v.http_method as string) : (v.http_method as string),
          url_path: v.url_path as string,
          expected_codes: v.expected_codes as string,
          http_version: null,
          domain_name: null,
          created_at: octaviaTime(),
          updated_at: null,
        })
        .execute(),
    ctx,
  );
  return showV1(deps, ctx, 'health_monitors', id);
}

/** Pools (with or without a VIP) a v1 monitor is associated with. */
async function monitorPools(trx: Tx, monitorId: string): Promise<string[]> {
  return (await trx.selectFrom('lb_v1_pool_monitors').select('pool_id').where('monitor_id', '=', monitorId).execute()).map((x) => x.pool_id);
}

export async function updateMonitorV1(deps: LbDeps, ctx: RequestContext, id: string, body: unknown) {
  const v = updateValues(monitorV1Def, ctx, body);
  await deps.uow.run(async (w) => {
    const { trx } = w;
    const row = await getV1(trx, ctx, 'health_monitors', id);
    assertOwner(ctx, row, 'update_health_monitor');
    const delay = (v.delay as number | undefined) ?? row.delay;
    const timeout = (v.timeout as number | undefined) ?? row.timeout;
    if (timeout > delay) throw v1Errors.delayTimeout();
    const set: Updateable<LbHealthMonitorsTable> = { updated_at: octaviaTime() };
    if ('delay' in v) set.delay = v.delay as number;
    if ('timeout' in v) set.timeout = v.timeout as number;
    if ('max_retries' in v) set.max_retries = v.max_retries as number;
    if ('http_method' in v) set.http_method = v.http_method as string;
    if ('url_path' in v) set.url_path = v.url_path as string;
    if ('expected_codes' in v) set.expected_codes = v.expected_codes as string;
    if ('admin_state_up' in v) set.admin_state_up = v.admin_state_up ? 1 : 0;
    await trx.updateTable('lb_healthmonitors').set(set).where('id', '=', id).execute();
    for (const p of await monitorPools(trx, id)) await touchPool(w, p);
  }, ctx);
  return showV1(deps, ctx, 'health_monitors', id);
}

export async function deleteMonitorV1(deps: LbDeps, ctx: RequestContext, id: string): Promise<void> {
  await deps.uow.run(async (w) => {
    const { trx } = w;
    const row = await getV1(trx, ctx, 'health_monitors', id);
    assertOwner(ctx, row, 'delete_health_monitor');
    const pools = await monitorPools(trx, id);
    await trx.deleteFrom('lb_v1_pool_monitors').where('monitor_id', '=', id).execute();
    await trx.deleteFrom('lb_healthmonitors').where('id', '=', id).execute();
    for (const p of pools) {
      await monitorGone(trx, p);
      await touchPool(w, p);
    }
  }, ctx);
}

/** A pool that lost its monitor: its members are no longer measured. */
async function monitorGone(trx: Tx, poolId: string): Promise<void> {
  const left = await trx.selectFrom('lb_v1_pool_monitors').select('monitor_id').where('pool_id', '=', poolId).executeTakeFirst();
  if (!left) await trx.updateTable('lb_members').set({ operating_status: OPERATING.NO_MONITOR }).where('pool_id', '=', poolId).execute();
}

async function associate(trx: Tx, ctx: RequestContext, poolId: string, monitorId: string): Promise<void> {
  await getV1(trx, ctx, 'health_monitors', monitorId);
  const exists = await trx
    .selectFrom('lb_v1_pool_monitors')
    .select('pool_id')
    .where('pool_id', '=', poolId)
    .where('monitor_id', '=', monitorId)
    .executeTakeFirst();
  if (exists) throw v1Errors.assocExists(monitorId, poolId);
  await trx
    .insertInto('lb_v1_pool_monitors')
    .values({ pool_id: poolId, monitor_id: monitorId, status: PROVISIONING.PENDING_CREATE, status_description: null, created_at: octaviaTime() })
    .execute();
}

/** POST /lb/pools/{id}/health_monitors {"health_monitor": {"id": …}} */
export async function associateMonitorV1(deps: LbDeps, ctx: RequestContext, poolId: string, body: unknown) {
  const hm = body && typeof body === 'object' ? (body as { health_monitor?: unknown }).health_monitor : undefined;
  if (!hm || typeof hm !== 'object') throw httpBadRequest("Unable to find 'health_monitor' in request body");
  const monitorId = (hm as { id?: unknown }).id;
  if (!isUuidLike(monitorId)) throw httpBadRequest(`Invalid input for id. Reason: ${uuid(monitorId)}.`);
  await deps.uow.run(async (w) => {
    const { trx } = w;
    const pool = await getV1(trx, ctx, 'pools', poolId);
    assertOwner(ctx, pool, 'create_pool_health_monitor');
    await associate(trx, ctx, pool.id, monitorId);
    await trx
      .updateTable('lb_members')
      .set({ operating_status: OPERATING.OFFLINE })
      .where('pool_id', '=', pool.id)
      .where('operating_status', '=', OPERATING.NO_MONITOR)
      .execute();
    await touchPool(w, pool.id);
  }, ctx);
  return { id: monitorId };
}

export async function disassociateMonitorV1(deps: LbDeps, ctx: RequestContext, poolId: string, monitorId: string): Promise<void> {
  await deps.uow.run(async (w) => {
    const { trx } = w;
    const pool = await getV1(trx, ctx, 'pools', poolId);
    assertOwner(ctx, pool, 'delete_pool_health_monitor');
    const res = await trx.deleteFrom('lb_v1_pool_monitors').where('pool_id', '=', pool.id).where('monitor_id', '=', monitorId).executeTakeFirst();
    if (Number(res.numDeletedRows) === 0) throw v1Errors.assocMissing(monitorId, pool.id);
    await monitorGone(trx, pool.id);
    await touchPool(w, pool.id);
  }, ctx);
}

// ------------------------------------------------------------ VIPs

async function checkSubnet(deps: LbDeps, ctx: RequestContext, subnetId: string): Promise<NeutronSubnet> {
  try {
    return await showNeutron(deps.network, ctx, 'subnets', subnetId);
  } catch (e) {
    if (isDomainError(e) && e.kind === 'not_found') throw v1Errors.subnet(subnetId);
    throw e;
  }
}

/** v1's session persistence, {type, cookie_name?} or {} or null as the VIP's attribute map admits it. */
type V1SessionPersistence = { type?: string; cookie_name?: string } | null;

/** v1's session persistence as pool columns. */
function spColumns(sp: V1SessionPersistence | undefined): Pick<LbPoolsTable, 'sp_type' | 'sp_cookie_name'> {
  if (!sp?.type) return { sp_type: null, sp_cookie_name: null };
  return { sp_type: sp.type, sp_cookie_name: sp.cookie_name ?? null };
}

export async function createVipV1(deps: LbDeps, ctx: RequestContext, body: unknown) {
  const [item] = unwrapBody(vipV1Def, body, false);
  const v = prepareCreate(vipV1Def, ctx, item).values;
  const subnet = await checkSubnet(deps, ctx, v.subnet_id as string);
  if (v.address) {
    const ip = parseIp(v.address as string)!;
    if (!cidrContains(parseCidr(subnet.cidr)!, ip)) {
      throw new DomainError('bad_request', 'InvalidIpForSubnet', `IP address ${v.address} is not a valid IP for the specified subnet.`);
    }
  }
  const id = newUuid();
  await deps.uow.run(async (w) => {
    const { trx } = w;
    const pool = await getV1(trx, ctx, 'pools', v.pool_id as string);
    refuseDeleting(pool);
    if (pool.loadbalancer_id) throw v1Errors.vipExists(pool.id);
    if (pool.protocol !== v.protocol) throw v1Errors.protocolMismatch(v.protocol as string, pool.protocol);
    const project = v.tenant_id as string;
    const now = octaviaTime();
    await trx
      .insertInto('lb_loadbalancers')
      .values({
        id,
        project_id: project,
        name: v.name as string,
        description: v.description as string,
        provisioning_status: PROVISIONING.PENDING_CREATE,
        operating_status: OPERATING.OFFLINE,
        admin_state_up: v.admin_state_up ? 1 : 0,
        api: 'v1',
        provider: V1_PROVIDER,
        flavor_id: null,
        availability_zone: null,
        vip_address: (v.address as string | undefined) ?? null,
        vip_port_id: null,
        vip_subnet_id: subnet.id,
        vip_network_id: subnet.network_id,
        vip_qos_policy_id: null,
        vip_kind: 'neutron',
        created_at: now,
        updated_at: null,
      })
      .execute();
    const vip = await allocateVip(
      w,
      deps.network,
      ctx,
      { kind: 'neutron', subnetId: subnet.id, networkId: subnet.network_id, address: (v.address as string | undefined) ?? null, portId: null },
      { id, projectId: project, deviceOwner: 'neutron:LOADBALANCER', name: `vip-${id}`, fallbackHost: deps.host, zone: null },
    );
    await trx.updateTable('lb_loadbalancers').set({ vip_port_id: vip.portId, vip_address: vip.address }).where('id', '=', id).execute();
    await trx
      .insertInto('lb_listeners')
      .values(v1Listener(id, project, v, pool.id, now))
      .execute();
    await trx
      .updateTable('lb_pools')
      .set({ loadbalancer_id: id, ...spColumns(v.session_persistence as V1SessionPersistence) })
      .where('id', '=', pool.id)
      .execute();
    w.changed('loadbalancer', id, project, 'create');
  }, ctx);
  return showV1(deps, ctx, 'vips', id);
}

function v1Listener(lbId: string, project: string, v: Record<string, unknown>, poolId: string, now: string): LbListenersTable {
  return {
    id: newUuid(),
    project_id: project,
    name: '',
    description: '',
    provisioning_status: PROVISIONING.PENDING_CREATE,
    operating_status: OPERATING.OFFLINE,
    admin_state_up: 1,
    api: 'v1',
    loadbalancer_id: lbId,
    protocol: v.protocol as string,
    transport: 'TCP',
    protocol_port: v.protocol_port as number,
    connection_limit: v.connection_limit as number,
    default_pool_id: poolId,
    timeout_client_data: 50000,
    timeout_member_connect: 5000,
    timeout_member_data: 50000,
    timeout_tcp_inspect: 0,
    // v1's HAProxy driver always added X-Forwarded-For in HTTP mode.
    insert_headers: JSON.stringify(v.protocol === 'HTTP' ? { 'X-Forwarded-For': 'true' } : {}),
    allowed_cidrs: null,
    default_tls_container_ref: null,
    sni_container_refs: '[]',
    client_ca_tls_container_ref: null,
    client_authentication: 'NONE',
    client_crl_container_ref: null,
    tls_ciphers: null,
    tls_versions: null,
    alpn_protocols: null,
    created_at: now,
    updated_at: null,
  };
}

export async function updateVipV1(deps: LbDeps, ctx: RequestContext, id: string, body: unknown) {
  const v = updateValues(vipV1Def, ctx, body);
  await deps.uow.run(async (w) => {
    const { trx } = w;
    const lb = await getV1(trx, ctx, 'vips', id);
    assertOwner(ctx, lb, 'update_vip');
    refuseDeleting(lb);
    const listener = (await trx.selectFrom('lb_listeners').selectAll().where('loadbalancer_id', '=', id).executeTakeFirst())!;
    const lbSet: Updateable<LbLoadBalancersTable> = { updated_at: octaviaTime() };
    if (lb.provisioning_status === PROVISIONING.ACTIVE) lbSet.provisioning_status = PROVISIONING.PENDING_UPDATE;
    if ('name' in v) lbSet.name = v.name as string;
    if ('description' in v) lbSet.description = v.description as string;
    if ('admin_state_up' in v) lbSet.admin_state_up = v.admin_state_up ? 1 : 0;
    await trx.updateTable('lb_loadbalancers').set(lbSet).where('id', '=', id).execute();
    const lSet: Updateable<LbListenersTable> = {};
    if ('connection_limit' in v) lSet.connection_limit = v.connection_limit as number;
    let poolId = listener.default_pool_id!;
    if ('pool_id' in v && v.pool_id !== poolId) {
      const pool = await getV1(trx, ctx, 'pools', v.pool_id as string);
      if (pool.loadbalancer_id) throw v1Errors.vipExists(pool.id);
      if (pool.protocol !== listener.protocol) throw v1Errors.protocolMismatch(listener.protocol, pool.protocol);
      const old = await trx.selectFrom('lb_pools').select(['sp_type', 'sp_cookie_name']).where('id', '=', poolId).executeTakeFirst();
      await trx.updateTable('lb_pools').set({ loadbalancer_id: null, sp_type: null, sp_cookie_name: null }).where('id', '=', poolId).execute();
      w.changed('lb_pool', poolId, lb.project_id, 'update');
      await trx
        .updateTable('lb_pools')
        .set({ loadbalancer_id: id, sp_type: old?.sp_type ?? null, sp_cookie_name: old?.sp_cookie_name ?? null })
        .where('id', '=', pool.id)
        .execute();
      poolId = pool.id;
      lSet.default_pool_id = pool.id;
    }
    if ('session_persistence' in v)
      await trx
        .updateTable('lb_pools')
        .set(spColumns(v.session_persistence as V1SessionPersistence))
        .where('id', '=', poolId)
        .execute();
    if (Object.keys(lSet).length) await trx.updateTable('lb_listeners').set(lSet).where('id', '=', listener.id).execute();
    w.changed('loadbalancer', id, lb.project_id, 'update');
  }, ctx);
  return showV1(deps, ctx, 'vips', id);
}

export async function deleteVipV1(deps: LbDeps, ctx: RequestContext, id: string): Promise<void> {
  await deps.uow.run(async (w) => {
    const { trx } = w;
    const lb = await getV1(trx, ctx, 'vips', id);
    assertOwner(ctx, lb, 'delete_vip');
    await trx.updateTable('lb_loadbalancers').set({ provisioning_status: PROVISIONING.PENDING_DELETE }).where('id', '=', id).execute();
    w.changed('loadbalancer', id, lb.project_id, 'delete');
  }, ctx);
}

// ------------------------------------------------------------ engine side

/**
 * A v1 pool without a VIP has nothing to run: its pending objects are accepted as they are
 * (v1 pools, members and monitor associations go ACTIVE; deleted ones disappear).
 */
export async function completeDetachedPool(uow: UnitOfWork, poolId: string): Promise<void> {
  await uow.run(async ({ trx }) => {
    const pool = await trx.selectFrom('lb_pools').selectAll().where('id', '=', poolId).executeTakeFirst();
    if (!pool || pool.loadbalancer_id) return;
    if (pool.provisioning_status === PROVISIONING.PENDING_DELETE) {
      await deletePoolRows(trx, [pool.id]);
      return;
    }
    const now = octaviaTime();
    await trx.deleteFrom('lb_members').where('pool_id', '=', poolId).where('provisioning_status', '=', PROVISIONING.PENDING_DELETE).execute();
    await trx
      .updateTable('lb_members')
      .set({ provisioning_status: PROVISIONING.ACTIVE, updated_at: now })
      .where('pool_id', '=', poolId)
      .where('provisioning_status', 'in', [PROVISIONING.PENDING_CREATE, PROVISIONING.PENDING_UPDATE])
      .execute();
    await trx
      .updateTable('lb_v1_pool_monitors')
      .set({ status: PROVISIONING.ACTIVE })
      .where('pool_id', '=', poolId)
      .where('status', '!=', PROVISIONING.ACTIVE)
      .execute();
    if (pool.provisioning_status !== PROVISIONING.ACTIVE) {
      await trx.updateTable('lb_pools').set({ provisioning_status: PROVISIONING.ACTIVE, updated_at: now }).where('id', '=', poolId).execute();
    }
  });
}
