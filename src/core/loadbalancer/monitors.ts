/**
 * Health monitors: how the engine checks a pool's members (HTTP/HTTPS requests, TCP connects,
 * TLS handshakes, pings, UDP probes) and how many results flip a member up or down.
 */
import type { Updateable } from 'kysely';
import type { Tx } from '../../store/db.js';
import type { LbHealthMonitorsTable } from '../../store/schema.js';
import { uuid as newUuid } from '../../util/ids.js';
import type { RequestContext } from '../context.js';
import { authorize, getLb, getMonitor, getPool } from './access.js';
import * as C from './constants.js';
import type { LbDeps } from './deps.js';
import { lbErrors } from './errors.js';
import { type LbRow, type PoolRow, octaviaTime } from './model.js';
import { lockForPool } from './pools.js';
import { type ListSpec, type Listing, OBJECT_COLUMNS, listV2Page } from './query.js';
import { checkQuota } from './quotas.js';
import { type Rendered, renderMonitors } from './render.js';
import type { MonitorPost, MonitorPut, MonitorSingle } from './schemas.js';
import { writeTags } from './status.js';

const MONITOR_LIST: ListSpec<'lb_healthmonitors'> = {
  table: 'lb_healthmonitors',
  tagType: 'lb_healthmonitor',
  columns: {
    ...OBJECT_COLUMNS,
    name: { column: 'name' },
    type: { column: 'type' },
    delay: { column: 'delay', type: 'int' },
    timeout: { column: 'timeout', type: 'int' },
    max_retries: { column: 'max_retries', type: 'int' },
    max_retries_down: { column: 'max_retries_down', type: 'int' },
    http_method: { column: 'http_method' },
    url_path: { column: 'url_path' },
    expected_codes: { column: 'expected_codes' },
    pool_id: { column: 'pool_id' },
    http_version: { column: 'http_version' },
    domain_name: { column: 'domain_name' },
  },
};

const HTTP_TYPES = ['HTTP', 'HTTPS'];

/** Octavia's UDP/SCTP pool rules: only connect-style monitors, and UDP probes not too often. */
export function checkForDatagramPool(pool: PoolRow, type: string, delay: number | undefined): void {
  if (pool.protocol === 'UDP' || pool.protocol === 'SCTP') {
    if (!['UDP-CONNECT', 'SCTP', 'TCP', 'HTTP'].includes(type)) {
      throw lbErrors.validation(`The associated pool protocol is ${pool.protocol}, so only a UDP-CONNECT/SCTP/TCP/HTTP health monitor is supported.`);
    }
    if (type === 'UDP-CONNECT' && delay !== undefined && delay < C.UDP_CONNECT_MIN_INTERVAL) {
      throw lbErrors.validation(`The request delay value ${delay} should be larger than ${C.UDP_CONNECT_MIN_INTERVAL} for UDP-CONNECT health monitor type.`);
    }
  } else if (type === 'UDP-CONNECT' || type === 'SCTP') {
    throw lbErrors.validation(`The ${type} type is only supported for pools of type UDP/SCTP.`);
  }
}

async function lockPool(trx: Tx, pool: PoolRow): Promise<void> {
  const cur = await trx.selectFrom('lb_pools').select('provisioning_status').where('id', '=', pool.id).executeTakeFirst();
  if (cur?.provisioning_status !== C.PROVISIONING.ACTIVE) throw lbErrors.immutable('Pool', pool.id);
  await lockForPool(trx, pool);
  await trx.updateTable('lb_pools').set({ provisioning_status: C.PROVISIONING.PENDING_UPDATE }).where('id', '=', pool.id).execute();
}

const HTTP_FIELDS = ['http_method', 'url_path', 'expected_codes'] as const;

/**
 * _validate_create_hm once the pool is locked (or created in this transaction): the mandatory
 * values sent as null, the HTTP defaults and checks, one monitor per pool; then the row.
 */
export async function insertMonitor(trx: Tx, lb: LbRow, pool: PoolRow, b: MonitorSingle, id: string): Promise<void> {
  // Mandatory, so sent; refused when sent as null, in this order.
  if (b.type === null) throw lbErrors.invalidOption('None', 'type');
  if (b.delay === null) throw lbErrors.invalidOption('None', 'delay');
  if (b.timeout === null) throw lbErrors.invalidOption('None', 'timeout');
  if (b.max_retries === null) throw lbErrors.invalidOption('None', 'max_retries');
  const v = { ...b, type: b.type, delay: b.delay, timeout: b.timeout, max_retries: b.max_retries };
  if (!HTTP_TYPES.includes(v.type)) {
    for (const f of HTTP_FIELDS) if (v[f]) throw lbErrors.invalidOption(f, `health monitors of type ${v.type}`);
  } else {
    v.http_method ||= 'GET';
    v.url_path ||= '/';
    v.expected_codes ||= '200';
  }
  if (v.domain_name && !v.http_version) throw lbErrors.validation("'http_version' must be specified when 'domain_name' is provided.");
  if (v.http_version && v.domain_name && v.http_version < 1.1) {
    throw lbErrors.invalidOption(`http_version ${v.http_version === 1 ? '1.0' : v.http_version}`, 'health monitors HTTP 1.1 domain name health check');
  }
  if (v.type === 'SCTP') throw lbErrors.unsupportedOption(lb.provider, 'SCTP health monitors are not supported by the PocketStack load-balancer engine.');
  const exists = await trx.selectFrom('lb_healthmonitors').select('id').where('pool_id', '=', pool.id).executeTakeFirst();
  if (exists) throw lbErrors.duplicateMonitor();
  await trx
    .insertInto('lb_healthmonitors')
    .values({
      id,
      project_id: lb.project_id,
      name: v.name ?? '',
      provisioning_status: C.PROVISIONING.PENDING_CREATE,
      operating_status: C.OPERATING.OFFLINE,
      admin_state_up: v.admin_state_up === false ? 0 : 1,
      api: 'v2',
      pool_id: pool.id,
      type: v.type,
      delay: v.delay,
      timeout: v.timeout,
      max_retries: v.max_retries,
      max_retries_down: v.max_retries_down ?? C.DEFAULT_MAX_RETRIES_DOWN,
      http_method: v.http_method ?? null,
      url_path: v.url_path ?? null,
      expected_codes: v.expected_codes ?? null,
      http_version: v.http_version === undefined || v.http_version === null ? null : Number(v.http_version).toFixed(1),
      domain_name: v.domain_name ?? null,
      created_at: octaviaTime(),
      updated_at: null,
    })
    .execute();
  await writeTags(trx, 'healthmonitor', id, v.tags);
}

export class HealthMonitors {
  constructor(private readonly deps: LbDeps) {}

  async list(ctx: RequestContext, params: Map<string, string[]>, url: URL): Promise<Listing<Rendered>> {
    const page = await listV2Page(this.deps.store.db, ctx, MONITOR_LIST, params, url);
    return { items: await renderMonitors(this.deps.store.db, page.rows, page.fields), links: page.links };
  }

  async show(ctx: RequestContext, id: string, fields?: string[]): Promise<Rendered> {
    const hm = await getMonitor(this.deps.store.db, id);
    authorize(ctx, hm.project_id);
    return (await renderMonitors(this.deps.store.db, [hm], fields))[0];
  }

  /** (Before its null checks, a null pool id or type goes on as sent: see BodyOf.) */
  async create(ctx: RequestContext, b: MonitorPost): Promise<Rendered> {
    const pool = await getPool(this.deps.store.db, b.pool_id!);
    const lb = await getLb(this.deps.store.db, pool.loadbalancer_id!);
    authorize(ctx, lb.project_id);
    checkForDatagramPool(pool, b.type!, b.delay ?? undefined);
    const id = newUuid();
    await this.deps.uow.run(async (w) => {
      const { trx } = w;
      await checkQuota(trx, lb.project_id, 'health_monitor');
      await lockPool(trx, pool);
      if (b.pool_id === null) throw lbErrors.invalidOption('None', 'pool_id');
      await insertMonitor(trx, lb, pool, b, id);
      w.changed('loadbalancer', lb.id, lb.project_id, 'update');
    }, ctx);
    return this.show(ctx, id);
  }

  async update(ctx: RequestContext, id: string, b: MonitorPut): Promise<Rendered> {
    const { db } = this.deps.store;
    const hm = await getMonitor(db, id);
    const pool = await getPool(db, hm.pool_id!);
    const lb = await getLb(db, pool.loadbalancer_id!);
    authorize(ctx, lb.project_id);
    if (!HTTP_TYPES.includes(hm.type)) {
      for (const f of HTTP_FIELDS) if (f in b) throw lbErrors.invalidOption(f, `health monitors of type ${hm.type}`);
    }
    // These may not be reset.
    if (b.delay === null) throw lbErrors.invalidOption(null, 'delay');
    if (b.max_retries === null) throw lbErrors.invalidOption(null, 'max_retries');
    if (b.timeout === null) throw lbErrors.invalidOption(null, 'timeout');
    const { delay, timeout, max_retries } = b;
    const httpVersion = b.http_version ?? (hm.http_version === null ? null : Number(hm.http_version));
    if (b.domain_name && !httpVersion) throw lbErrors.validation("'http_version' must be specified when 'domain_name' is provided.");
    if (httpVersion && (b.domain_name || hm.domain_name) && httpVersion < 1.1) {
      throw lbErrors.invalidOption(`http_version ${httpVersion === 1 ? '1.0' : httpVersion}`, 'health monitors HTTP 1.1 domain name health check');
    }
    if (pool.protocol === 'UDP' || pool.protocol === 'SCTP') checkForDatagramPool(pool, hm.type, delay ?? hm.delay);
    await this.deps.uow.run(async (w) => {
      const { trx } = w;
      await lockPool(trx, pool);
      const set: Updateable<LbHealthMonitorsTable> = { provisioning_status: C.PROVISIONING.PENDING_UPDATE };
      if ('name' in b) set.name = b.name ?? '';
      if ('delay' in b) set.delay = delay;
      if ('timeout' in b) set.timeout = timeout;
      if ('max_retries' in b) set.max_retries = max_retries;
      if ('max_retries_down' in b) set.max_retries_down = b.max_retries_down ?? C.DEFAULT_MAX_RETRIES_DOWN;
      if ('http_method' in b) set.http_method = b.http_method ?? 'GET';
      if ('url_path' in b) set.url_path = b.url_path ?? '/';
      if ('expected_codes' in b) set.expected_codes = b.expected_codes ?? '200';
      if ('admin_state_up' in b && b.admin_state_up !== null) set.admin_state_up = b.admin_state_up ? 1 : 0;
      if ('http_version' in b) set.http_version = b.http_version === null || b.http_version === undefined ? null : Number(b.http_version).toFixed(1);
      if ('domain_name' in b) set.domain_name = b.domain_name ?? null;
      await trx.updateTable('lb_healthmonitors').set(set).where('id', '=', hm.id).execute();
      await writeTags(trx, 'healthmonitor', hm.id, b.tags);
      w.changed('loadbalancer', lb.id, lb.project_id, 'update');
    }, ctx);
    return this.show(ctx, hm.id);
  }

  async delete(ctx: RequestContext, id: string): Promise<void> {
    const { db } = this.deps.store;
    const hm = await getMonitor(db, id);
    const pool = await getPool(db, hm.pool_id!);
    const lb = await getLb(db, pool.loadbalancer_id!);
    authorize(ctx, lb.project_id);
    await this.deps.uow.run(async (w) => {
      const { trx } = w;
      await lockPool(trx, pool);
      await trx.updateTable('lb_healthmonitors').set({ provisioning_status: C.PROVISIONING.PENDING_DELETE }).where('id', '=', hm.id).execute();
      w.changed('loadbalancer', lb.id, lb.project_id, 'update');
    }, ctx);
  }
}
