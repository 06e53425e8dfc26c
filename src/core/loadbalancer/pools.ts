/**
 * Octavia pools: a protocol, a balancing algorithm and session persistence, attached to a load
 * balancer and optionally made a listener's default pool.
 */
import type { Updateable } from 'kysely';
import type { Q, Tx } from '../../store/db.js';
import type { LbPoolsTable } from '../../store/schema.js';
import { uuid as newUuid } from '../../util/ids.js';
import type { RequestContext } from '../context.js';
import { authorize, getLb, getListener, getPool } from './access.js';
import * as C from './constants.js';
import type { LbDeps } from './deps.js';
import { lbErrors } from './errors.js';
import { checkProtocolPair } from './listeners.js';
import { type LbRow, type ListenerRow, type PoolRow, octaviaTime, poolListenerIds } from './model.js';
import { type ListSpec, type Listing, OBJECT_COLUMNS, listV2Page } from './query.js';
import { checkQuota } from './quotas.js';
import { type Rendered, renderPools } from './render.js';
import type { PoolPost, PoolPut, PoolSingle, SessionPersistence } from './schemas.js';
import { lockLoadBalancer, writeTags } from './status.js';
import { DEFAULT_ALPN, DEFAULT_CIPHERS, DEFAULT_TLS_VERSIONS, TlsChecks, checkAlpn, checkTlsVersions } from './tls.js';

const POOL_LIST: ListSpec<'lb_pools'> = {
  table: 'lb_pools',
  tagType: 'lb_pool',
  columns: {
    ...OBJECT_COLUMNS,
    name: { column: 'name' },
    description: { column: 'description' },
    protocol: { column: 'protocol' },
    lb_algorithm: { column: 'lb_algorithm' },
    loadbalancer_id: { column: 'loadbalancer_id' },
    tls_enabled: { column: 'tls_enabled', type: 'bool' },
    tls_container_ref: { column: 'tls_container_ref' },
    ca_tls_container_ref: { column: 'ca_tls_container_ref' },
    crl_container_ref: { column: 'crl_container_ref' },
    tls_ciphers: { column: 'tls_ciphers' },
  },
};

const isDatagram = (protocol: string) => protocol === 'UDP' || protocol === 'SCTP';

/** Session persistence rules (Octavia's UDP/SCTP checks and check_session_persistence). */
export function checkSessionPersistence(protocol: string, sp: SessionPersistence | null | undefined): void {
  if (!sp) return;
  if (isDatagram(protocol)) {
    if (sp.type === 'SOURCE_IP' && sp.cookie_name) {
      throw lbErrors.validation(
        'session_persistence SOURCE_IP type for UDP and SCTP protocols only accepts: type, persistence_timeout, persistence_granularity.',
      );
    }
    if (sp.cookie_name) throw lbErrors.validation('Cookie names are not supported for UDP/SCTP pools.');
    if (sp.type === 'HTTP_COOKIE' || sp.type === 'APP_COOKIE') {
      throw lbErrors.validation(`Session persistence of type ${sp.type} is not supported for UDP/SCTP protocol pools.`);
    }
  } else if (sp.persistence_timeout || sp.persistence_granularity) {
    throw lbErrors.validation('persistence_timeout and persistence_granularity is only for UDP and SCTP protocol pools.');
  }
  if (sp.cookie_name) {
    if (sp.type !== 'APP_COOKIE') throw lbErrors.validation('Field "cookie_name" can only be specified with session persistence of type "APP_COOKIE".');
    // biome-ignore lint/suspicious/noControlCharactersInRegex: a cookie name may not hold control characters (RFC 6265 token), the set Octavia refuses
    if (/[\x00-\x20\x22\x28-\x29\x2c\x2f\x3a-\x40\x5b-\x5d\x7b\x7d\x7f]/.test(sp.cookie_name)) throw lbErrors.validation('Supplied "cookie_name" is invalid.');
  }
  if (sp.type === 'APP_COOKIE' && !sp.cookie_name) {
    throw lbErrors.validation('Field "cookie_name" must be specified when using the "APP_COOKIE" session persistence type.');
  }
}

/**
 * A pool's TLS references (Octavia's _validate_create_pool and pool PUT): the client certificate
 * it presents to members, the CA members' certificates must chain to and that CA's CRL, each
 * readable by the caller; the TLS versions and ALPN protocols of a TLS-enabled pool.
 */
async function checkPoolTls(deps: LbDeps, ctx: RequestContext, b: PoolPut, current?: PoolRow, trx?: Q): Promise<void> {
  const ca = b.ca_tls_container_ref === undefined ? current?.ca_tls_container_ref : b.ca_tls_container_ref;
  const crl = b.crl_container_ref === undefined ? current?.crl_container_ref : b.crl_container_ref;
  if (crl && !ca) throw lbErrors.validation('A CA certificate reference is required to specify a revocation list.');
  const checks = new TlsChecks(deps.keyManager, ctx, trx);
  if (b.tls_container_ref) {
    await checks.refs([b.tls_container_ref]);
    await checks.certificates([b.tls_container_ref]);
  }
  if (b.ca_tls_container_ref || (b.crl_container_ref && ca)) await checks.caAndCrl(ca!, crl);
  const enabled = b.tls_enabled ?? current?.tls_enabled === 1;
  if (enabled && b.tls_versions !== undefined) checkTlsVersions(b.tls_versions);
  if (enabled && b.alpn_protocols !== undefined) checkAlpn(b.alpn_protocols);
}

const json = (v: unknown[] | null | undefined) => (v === null || v === undefined ? null : JSON.stringify(v));

function checkPoolServed(provider: string, protocol: string): void {
  if (protocol === 'SCTP') throw lbErrors.unsupportedOption(provider, 'SCTP protocol is not supported by the PocketStack load-balancer engine.');
  if (protocol === 'TERMINATED_HTTPS' || protocol === 'PROMETHEUS') {
    throw lbErrors.unsupportedOption(provider, `${protocol} is not a pool protocol this engine can forward.`);
  }
}

/** Listeners a pool change touches (they go PENDING_UPDATE with the load balancer). */
async function affectedListeners(q: Q, pool: Pick<PoolRow, 'id' | 'loadbalancer_id'>): Promise<string[]> {
  if (!pool.loadbalancer_id) return [];
  const listeners = await q.selectFrom('lb_listeners').selectAll().where('loadbalancer_id', '=', pool.loadbalancer_id).execute();
  const lIds = listeners.map((l) => l.id);
  const policies = lIds.length ? await q.selectFrom('lb_l7policies').selectAll().where('listener_id', 'in', lIds).execute() : [];
  const pIds = policies.map((p) => p.id);
  const rules = pIds.length ? await q.selectFrom('lb_l7rules').selectAll().where('l7policy_id', 'in', pIds).execute() : [];
  return poolListenerIds(pool.id, listeners, policies, rules);
}

export async function lockForPool(trx: Tx, pool: Pick<PoolRow, 'id' | 'loadbalancer_id'>): Promise<void> {
  await lockLoadBalancer(trx, pool.loadbalancer_id!, 'PENDING_UPDATE', 'immutable');
  const listeners = await affectedListeners(trx, pool);
  if (listeners.length)
    await trx.updateTable('lb_listeners').set({ provisioning_status: C.PROVISIONING.PENDING_UPDATE }).where('id', 'in', listeners).execute();
}

/** What a pool insert reads: a pool POST's attributes, or a fully populated create's pool. */
export type PoolInsert = Omit<PoolSingle, 'protocol' | 'lb_algorithm' | 'members' | 'healthmonitor'> & { protocol: string; lb_algorithm: string };

/**
 * _validate_create_pool, once the load balancer is locked (or created in this transaction):
 * the TLS references the caller must be able to read, what the engine serves, then the row and
 * its tags. The key manager is read within this transaction.
 */
export async function insertPool(deps: LbDeps, ctx: RequestContext, trx: Tx, lb: LbRow, b: PoolInsert, id: string): Promise<void> {
  await checkPoolTls(deps, ctx, b, undefined, trx);
  checkPoolServed(lb.provider, b.protocol);
  const sp = b.session_persistence;
  await trx
    .insertInto('lb_pools')
    .values({
      id,
      project_id: lb.project_id,
      name: b.name ?? '',
      description: b.description ?? '',
      provisioning_status: C.PROVISIONING.PENDING_CREATE,
      operating_status: C.OPERATING.OFFLINE,
      admin_state_up: b.admin_state_up === false ? 0 : 1,
      api: 'v2',
      loadbalancer_id: lb.id,
      protocol: b.protocol,
      lb_algorithm: b.lb_algorithm,
      sp_type: sp?.type ?? null,
      sp_cookie_name: sp?.cookie_name ?? null,
      sp_persistence_timeout: sp?.persistence_timeout ?? null,
      sp_persistence_granularity: sp?.persistence_granularity ?? null,
      tls_enabled: b.tls_enabled ? 1 : 0,
      tls_container_ref: b.tls_container_ref ?? null,
      ca_tls_container_ref: b.ca_tls_container_ref ?? null,
      crl_container_ref: b.crl_container_ref ?? null,
      // db_prepare.create_pool: a TLS-enabled pool gets the configured defaults.
      tls_ciphers: b.tls_ciphers ?? (b.tls_enabled ? DEFAULT_CIPHERS : null),
      tls_versions: json(b.tls_versions ?? (b.tls_enabled ? DEFAULT_TLS_VERSIONS : null)),
      alpn_protocols: json(b.alpn_protocols ?? (b.tls_enabled ? DEFAULT_ALPN : null)),
      subnet_id: null,
      status_description: null,
      created_at: octaviaTime(),
      updated_at: null,
    })
    .execute();
  await writeTags(trx, 'pool', id, b.tags);
}

export class Pools {
  constructor(private readonly deps: LbDeps) {}

  async list(ctx: RequestContext, params: Map<string, string[]>, url: URL): Promise<Listing<Rendered>> {
    const page = await listV2Page(this.deps.store.db, ctx, POOL_LIST, params, url);
    return { items: await renderPools(this.deps.store.db, page.rows, page.fields), links: page.links };
  }

  async show(ctx: RequestContext, id: string, fields?: string[]): Promise<Rendered> {
    const p = await getPool(this.deps.store.db, id);
    authorize(ctx, p.project_id);
    return (await renderPools(this.deps.store.db, [p], fields))[0];
  }

  /** (A null protocol or algorithm goes on as sent: see BodyOf.) */
  async create(ctx: RequestContext, b: PoolPost): Promise<Rendered> {
    const db = this.deps.store.db;
    const protocol = b.protocol!;
    let lbId: string;
    let listener: ListenerRow | undefined;
    if (b.loadbalancer_id) {
      lbId = (await getLb(db, b.loadbalancer_id)).id;
      if (b.listener_id) {
        listener = await getListener(db, b.listener_id);
        if (listener.loadbalancer_id !== lbId) throw lbErrors.validation('The listener is not on the specified load balancer.');
      }
    } else if (b.listener_id) {
      listener = await getListener(db, b.listener_id);
      lbId = listener.loadbalancer_id;
    } else {
      throw lbErrors.validation('Must provide at least one of: loadbalancer_id, listener_id');
    }
    const lb = await getLb(db, lbId);
    authorize(ctx, lb.project_id);
    if (listener) {
      if (listener.protocol === 'PROMETHEUS') throw lbErrors.listenerNoChildren('PROMETHEUS');
      checkProtocolPair(listener.protocol, protocol);
    }
    checkSessionPersistence(protocol, b.session_persistence);
    if (b.healthmonitor || (b.members?.length ?? 0) > 0) {
      throw lbErrors.notImplementedAction(lb.provider, 'Creating a pool with its members or health monitor in one call is not implemented by this engine.');
    }
    const id = newUuid();
    await this.deps.uow.run(async (w) => {
      const { trx } = w;
      await checkQuota(trx, lb.project_id, 'pool');
      if (listener) {
        const cur = await trx.selectFrom('lb_listeners').select('default_pool_id').where('id', '=', listener.id).executeTakeFirst();
        if (cur?.default_pool_id) throw lbErrors.duplicatePool();
      }
      await lockLoadBalancer(trx, lb.id, 'PENDING_UPDATE', 'immutable');
      if (listener) await trx.updateTable('lb_listeners').set({ provisioning_status: C.PROVISIONING.PENDING_UPDATE }).where('id', '=', listener.id).execute();
      await insertPool(this.deps, ctx, trx, lb, { ...b, protocol, lb_algorithm: b.lb_algorithm! }, id);
      if (listener) await trx.updateTable('lb_listeners').set({ default_pool_id: id }).where('id', '=', listener.id).execute();
      w.changed('loadbalancer', lb.id, lb.project_id, 'update');
    }, ctx);
    return this.show(ctx, id);
  }

  async update(ctx: RequestContext, id: string, b: PoolPut): Promise<Rendered> {
    const p = await getPool(this.deps.store.db, id);
    const lb = await getLb(this.deps.store.db, p.loadbalancer_id!);
    authorize(ctx, lb.project_id);
    if (b.session_persistence && !b.session_persistence.type && p.sp_type) b.session_persistence.type = p.sp_type;
    checkSessionPersistence(p.protocol, b.session_persistence);
    if (b.ca_tls_container_ref === null && p.ca_tls_container_ref && (b.crl_container_ref ?? p.crl_container_ref)) {
      throw lbErrors.validation('A CA reference cannot be removed when a certificate revocation list is present.');
    }
    await checkPoolTls(this.deps, ctx, b, p);
    await this.deps.uow.run(async (w) => {
      const { trx } = w;
      await lockForPool(trx, p);
      const set: Updateable<LbPoolsTable> = { provisioning_status: C.PROVISIONING.PENDING_UPDATE };
      if ('name' in b) set.name = b.name ?? '';
      if ('description' in b) set.description = b.description ?? '';
      if ('admin_state_up' in b && b.admin_state_up !== null) set.admin_state_up = b.admin_state_up ? 1 : 0;
      if ('lb_algorithm' in b && b.lb_algorithm !== null) set.lb_algorithm = b.lb_algorithm;
      if ('session_persistence' in b) {
        const sp = b.session_persistence;
        set.sp_type = sp?.type ?? null;
        set.sp_cookie_name = sp?.cookie_name ?? null;
        set.sp_persistence_timeout = sp?.persistence_timeout ?? null;
        set.sp_persistence_granularity = sp?.persistence_granularity ?? null;
      }
      if ('tls_enabled' in b && b.tls_enabled !== null) set.tls_enabled = b.tls_enabled ? 1 : 0;
      // _set_default_on_none: null puts the configured default back.
      if ('tls_ciphers' in b) set.tls_ciphers = b.tls_ciphers ?? DEFAULT_CIPHERS;
      if ('tls_versions' in b) set.tls_versions = json(b.tls_versions ?? DEFAULT_TLS_VERSIONS);
      if ('alpn_protocols' in b) set.alpn_protocols = json(b.alpn_protocols ?? DEFAULT_ALPN);
      if ('tls_container_ref' in b) set.tls_container_ref = b.tls_container_ref ?? null;
      if ('ca_tls_container_ref' in b) set.ca_tls_container_ref = b.ca_tls_container_ref ?? null;
      if ('crl_container_ref' in b) set.crl_container_ref = b.crl_container_ref ?? null;
      await trx.updateTable('lb_pools').set(set).where('id', '=', p.id).execute();
      await writeTags(trx, 'pool', p.id, b.tags);
      w.changed('loadbalancer', lb.id, lb.project_id, 'update');
    }, ctx);
    return this.show(ctx, p.id);
  }

  async delete(ctx: RequestContext, id: string): Promise<void> {
    const p = await getPool(this.deps.store.db, id);
    const lb = await getLb(this.deps.store.db, p.loadbalancer_id!);
    authorize(ctx, lb.project_id);
    const policy = await this.deps.store.db.selectFrom('lb_l7policies').select('id').where('redirect_pool_id', '=', p.id).executeTakeFirst();
    if (policy) throw lbErrors.poolInUseByL7Policy(p.id, policy.id);
    await this.deps.uow.run(async (w) => {
      const { trx } = w;
      await lockForPool(trx, p);
      await trx.updateTable('lb_pools').set({ provisioning_status: C.PROVISIONING.PENDING_DELETE }).where('id', '=', p.id).execute();
      w.changed('loadbalancer', lb.id, lb.project_id, 'update');
    }, ctx);
  }
}
