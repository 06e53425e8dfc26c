/**
 * Octavia listeners: a protocol and port on the VIP, timeouts, connection limit, header
 * insertion and allowed source CIDRs, forwarding to a default pool.
 */
import type { Updateable } from 'kysely';
import type { Q, Tx } from '../../store/db.js';
import type { LbListenersTable } from '../../store/schema.js';
import { uuid as newUuid } from '../../util/ids.js';
import { parseCidr, parseIp } from '../../util/ip.js';
import type { RequestContext } from '../context.js';
import { authorize, getLb, getListener } from './access.js';
import * as C from './constants.js';
import type { LbDeps } from './deps.js';
import { lbErrors } from './errors.js';
import { type LbRow, type ListenerRow, octaviaTime } from './model.js';
import { type ListSpec, type Listing, OBJECT_COLUMNS, listV2Page } from './query.js';
import { checkQuota } from './quotas.js';
import { type Rendered, renderListeners } from './render.js';
import type { ListenerPost, ListenerPut, ListenerSingle } from './schemas.js';
import { type ListenerCounters, listenerStats } from './stats.js';
import { lockLoadBalancer, writeTags } from './status.js';
import { DEFAULT_ALPN, DEFAULT_CIPHERS, DEFAULT_TLS_VERSIONS, TlsChecks, checkAlpn, checkTlsVersions } from './tls.js';

const LISTENER_LIST: ListSpec<'lb_listeners'> = {
  table: 'lb_listeners',
  tagType: 'lb_listener',
  columns: {
    ...OBJECT_COLUMNS,
    name: { column: 'name' },
    description: { column: 'description' },
    protocol: { column: 'protocol' },
    protocol_port: { column: 'protocol_port', type: 'int' },
    connection_limit: { column: 'connection_limit', type: 'int' },
    default_pool_id: { column: 'default_pool_id' },
    loadbalancer_id: { column: 'loadbalancer_id' },
    timeout_client_data: { column: 'timeout_client_data', type: 'int' },
    timeout_member_connect: { column: 'timeout_member_connect', type: 'int' },
    timeout_member_data: { column: 'timeout_member_data', type: 'int' },
    timeout_tcp_inspect: { column: 'timeout_tcp_inspect', type: 'int' },
    default_tls_container_ref: { column: 'default_tls_container_ref' },
    client_ca_tls_container_ref: { column: 'client_ca_tls_container_ref' },
    client_crl_container_ref: { column: 'client_crl_container_ref' },
    client_authentication: { column: 'client_authentication' },
    tls_ciphers: { column: 'tls_ciphers' },
  },
};

/** Python's str() of dict_keys / list, as Octavia words header errors. */
const pyList = (xs: string[]) => `[${xs.map((x) => `'${x}'`).join(', ')}]`;

function validateInsertHeaders(headers: string[], protocol: string, asDictKeys: boolean): void {
  if (!C.HEADER_INSERTION_PROTOCOLS.includes(protocol)) throw lbErrors.invalidOption('insert-headers', `a ${protocol} protocol listener.`);
  const unknown = headers.filter((h) => !C.HTTP_HEADERS.includes(h) && !C.SSL_HEADERS.includes(h));
  if (unknown.length) throw lbErrors.invalidOption(asDictKeys ? `dict_keys(${pyList(headers)})` : pyList(headers), 'insert_headers');
  if (protocol !== 'TERMINATED_HTTPS') {
    const ssl = headers.filter((h) => C.SSL_HEADERS.includes(h));
    if (ssl.length) throw lbErrors.invalidOption(pyList(ssl), `${protocol} protocol listener.`);
  }
}

function hasTlsRefs(b: Pick<ListenerPut, 'default_tls_container_ref' | 'client_ca_tls_container_ref' | 'sni_container_refs'>): boolean {
  return !!(b.default_tls_container_ref || b.client_ca_tls_container_ref || b.sni_container_refs?.length);
}

/** The certificate references a body names: SNI ones first, then the default (Octavia's order). */
function certificateRefs(b: Pick<ListenerPut, 'default_tls_container_ref' | 'sni_container_refs'>): string[] {
  const refs = (b.sni_container_refs ?? []).filter((r): r is string => !!r);
  if (b.default_tls_container_ref) refs.push(b.default_tls_container_ref);
  return refs;
}

/**
 * _validate_create_listener's TLS part, before anything is written: what a TLS-terminated listener
 * must name, and that the caller may read all of it and it holds usable certificates.
 */
async function checkListenerTls(deps: LbDeps, ctx: RequestContext, protocol: string, b: ListenerSingle, trx: Q): Promise<void> {
  const tls = protocol === 'TERMINATED_HTTPS';
  if (!tls && hasTlsRefs(b)) throw lbErrors.validation(`Certificate container references are not allowed on ${protocol} protocol listeners.`);
  const hasCert = !!b.default_tls_container_ref || (b.sni_container_refs?.length ?? 0) > 0;
  if (b.client_ca_tls_container_ref && !hasCert) {
    throw lbErrors.validation('An SNI or default certificate container reference must be provided with a client CA container reference.');
  }
  if (tls && !hasCert) throw lbErrors.validation(`An SNI or default certificate container reference must be provided for ${protocol} protocol listeners.`);
  if (b.client_authentication && b.client_authentication !== 'NONE' && !b.client_ca_tls_container_ref) {
    throw lbErrors.validation(`Client authentication setting ${b.client_authentication} requires a client CA container reference.`);
  }
  if (b.client_crl_container_ref && !b.client_ca_tls_container_ref) {
    throw lbErrors.validation('A client authentication CA reference is required to specify a client authentication revocation list.');
  }
  const checks = new TlsChecks(deps.keyManager, ctx, trx);
  await checks.refs(certificateRefs(b));
  if (b.client_ca_tls_container_ref) await checks.caAndCrl(b.client_ca_tls_container_ref, b.client_crl_container_ref);
  if (tls) {
    checkTlsVersions(b.tls_versions);
    checkAlpn(b.alpn_protocols);
    await checks.certificates(certificateRefs(b));
  }
}

/** _validate_listener_PUT's TLS part, against what the listener already has. */
async function checkListenerTlsUpdate(deps: LbDeps, ctx: RequestContext, l: ListenerRow, b: ListenerPut): Promise<void> {
  const tls = l.protocol === 'TERMINATED_HTTPS';
  if (!tls && hasTlsRefs(b)) throw lbErrors.validation(`Certificate container references are not allowed on ${l.protocol} protocol listeners.`);
  if (b.client_authentication !== undefined && b.client_authentication !== null && b.client_authentication !== 'NONE') {
    if (!(l.client_ca_tls_container_ref || b.client_ca_tls_container_ref)) {
      throw lbErrors.validation(`Client authentication setting ${b.client_authentication} requires a client CA container reference.`);
    }
  }
  const checks = new TlsChecks(deps.keyManager, ctx);
  await checks.refs(certificateRefs(b));
  const ca = b.client_ca_tls_container_ref || l.client_ca_tls_container_ref;
  const crl = b.client_crl_container_ref || l.client_crl_container_ref;
  if (crl && !ca) throw lbErrors.validation('A client authentication CA reference is required to specify a client authentication revocation list.');
  if (ca || crl) await checks.caAndCrl(ca!, crl);
  if (b.tls_versions !== undefined) checkTlsVersions(b.tls_versions);
  if (b.alpn_protocols !== undefined) checkAlpn(b.alpn_protocols);
  if (tls) await checks.certificates(certificateRefs(b));
}

const json = (v: unknown[] | null | undefined) => (v === null || v === undefined ? null : JSON.stringify(v));

function checkCidrsMatchVip(vip: string | null, cidrs: ReadonlyArray<string | null>): void {
  const v = vip ? parseIp(vip)?.version : undefined;
  for (const c of cidrs) {
    const cv = parseCidr(c)?.version;
    if (v !== undefined && cv !== v) throw lbErrors.validation(`CIDR ${c} IP version incompatible with VIP ${vip} IP version.`);
  }
}

/** What this engine can serve (checked where Octavia's provider driver validates). */
function checkListenerProtocolServed(provider: string, protocol: string): void {
  if (protocol === 'PROMETHEUS') throw lbErrors.disabledOption('protocol', protocol);
  if (protocol === 'SCTP') throw lbErrors.unsupportedOption(provider, 'SCTP protocol is not supported by the PocketStack load-balancer engine.');
}

/** Listeners of one load balancer share a port only across L4 protocols (TCP vs UDP). */
async function checkPortFree(trx: Q, lbId: string, protocol: string, port: number, exceptId?: string): Promise<void> {
  const same = await trx.selectFrom('lb_listeners').select(['id', 'protocol']).where('loadbalancer_id', '=', lbId).where('protocol_port', '=', port).execute();
  for (const l of same) {
    if (l.id === exceptId) continue;
    if (C.L4_PROTOCOL[l.protocol] === C.L4_PROTOCOL[protocol]) throw lbErrors.duplicateListener(l.protocol, port);
  }
}

export async function checkDefaultPool(trx: Q, lbId: string, poolId: string, listenerProtocol: string): Promise<void> {
  const pool = await trx.selectFrom('lb_pools').select(['protocol']).where('id', '=', poolId).where('loadbalancer_id', '=', lbId).executeTakeFirst();
  if (!pool) throw lbErrors.notFound('Pool', poolId);
  checkProtocolPair(listenerProtocol, pool.protocol);
}

export function checkProtocolPair(listenerProtocol: string, poolProtocol: string): void {
  if (!(C.LISTENER_POOL_PROTOCOLS[listenerProtocol] ?? []).includes(poolProtocol)) {
    throw lbErrors.validation(`The pool protocol '${poolProtocol}' is invalid while the listener protocol is '${listenerProtocol}'.`);
  }
}

/**
 * _validate_create_listener, in its order, once the load balancer is locked (or created in this
 * transaction): headers, TLS, what the engine serves, the port, the CIDRs; then the row and its
 * tags.
 */
export async function insertListener(deps: LbDeps, ctx: RequestContext, trx: Tx, lb: LbRow, b: ListenerSingle, id: string): Promise<void> {
  // (A null protocol goes on as sent: see BodyOf.)
  const protocol = b.protocol!;
  const tls = protocol === 'TERMINATED_HTTPS';
  const headers = b.insert_headers ?? {};
  if (Object.keys(headers).length) validateInsertHeaders(Object.keys(headers), protocol, true);
  if ((protocol === 'UDP' || protocol === 'SCTP') && (hasTlsRefs(b) || Object.keys(headers).length)) {
    throw lbErrors.validation(`${protocol} protocol listener does not support TLS.`);
  }
  // The key manager is read within this transaction (a read on the store's own connection
  // would wait for it to end).
  await checkListenerTls(deps, ctx, protocol, b, trx);
  checkListenerProtocolServed(lb.provider, protocol);
  await checkPortFree(trx, lb.id, protocol, b.protocol_port!);
  const cidrs = b.allowed_cidrs ?? null;
  checkCidrsMatchVip(lb.vip_address, cidrs ?? []);
  const now = octaviaTime();
  await trx
    .insertInto('lb_listeners')
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
      protocol,
      transport: C.L4_PROTOCOL[protocol],
      protocol_port: b.protocol_port!,
      connection_limit: b.connection_limit ?? C.DEFAULT_CONNECTION_LIMIT,
      default_pool_id: b.default_pool_id ?? null,
      timeout_client_data: b.timeout_client_data ?? C.DEFAULT_TIMEOUT_CLIENT_DATA,
      timeout_member_connect: b.timeout_member_connect ?? C.DEFAULT_TIMEOUT_MEMBER_CONNECT,
      timeout_member_data: b.timeout_member_data ?? C.DEFAULT_TIMEOUT_MEMBER_DATA,
      timeout_tcp_inspect: b.timeout_tcp_inspect ?? C.DEFAULT_TIMEOUT_TCP_INSPECT,
      insert_headers: JSON.stringify(headers),
      allowed_cidrs: cidrs === null ? null : JSON.stringify([...new Set(cidrs)]),
      default_tls_container_ref: b.default_tls_container_ref ?? null,
      sni_container_refs: JSON.stringify((b.sni_container_refs ?? []).filter(Boolean)),
      client_ca_tls_container_ref: b.client_ca_tls_container_ref ?? null,
      client_authentication: b.client_authentication ?? 'NONE',
      client_crl_container_ref: b.client_crl_container_ref ?? null,
      // db_prepare.create_listener: TLS-terminated listeners get the configured defaults.
      tls_ciphers: b.tls_ciphers ?? (tls ? DEFAULT_CIPHERS : null),
      tls_versions: json(b.tls_versions ?? (tls ? DEFAULT_TLS_VERSIONS : null)),
      alpn_protocols: json(b.alpn_protocols ?? (tls ? DEFAULT_ALPN : null)),
      created_at: now,
      // Octavia's listener repository links the default pool in a second write, which stamps
      // updated_at: a listener created with one shows both times (measured on Octavia Zed).
      updated_at: b.default_pool_id ? now : null,
    })
    .execute();
  await writeTags(trx, 'listener', id, b.tags);
}

/** (A mandatory attribute sent as null goes on as sent: see BodyOf.) */
export class Listeners {
  constructor(private readonly deps: LbDeps) {}

  async list(ctx: RequestContext, params: Map<string, string[]>, url: URL): Promise<Listing<Rendered>> {
    const page = await listV2Page(this.deps.store.db, ctx, LISTENER_LIST, params, url);
    return { items: await renderListeners(this.deps.store.db, page.rows, page.fields), links: page.links };
  }

  async show(ctx: RequestContext, id: string, fields?: string[]): Promise<Rendered> {
    const l = await getListener(this.deps.store.db, id);
    authorize(ctx, l.project_id);
    return (await renderListeners(this.deps.store.db, [l], fields))[0];
  }

  async create(ctx: RequestContext, b: ListenerPost): Promise<Rendered> {
    const lb = await getLb(this.deps.store.db, b.loadbalancer_id!);
    authorize(ctx, lb.project_id);
    if ((b.l7policies?.length ?? 0) > 0 || b.default_pool) {
      throw lbErrors.notImplementedAction(lb.provider, 'Creating a listener with its pool or L7 policies in one call is not implemented by this engine.');
    }
    const id = newUuid();
    const protocol = b.protocol!;
    await this.deps.uow.run(async (w) => {
      const { trx } = w;
      await checkQuota(trx, lb.project_id, 'listener');
      if (b.default_pool_id) {
        if (protocol === 'PROMETHEUS') throw lbErrors.listenerNoChildren('PROMETHEUS');
        await checkDefaultPool(trx, lb.id, b.default_pool_id, protocol);
      }
      await lockLoadBalancer(trx, lb.id, 'PENDING_UPDATE', 'immutable');
      await insertListener(this.deps, ctx, trx, lb, b, id);
      w.changed('loadbalancer', lb.id, lb.project_id, 'update');
    }, ctx);
    return this.show(ctx, id);
  }

  async update(ctx: RequestContext, id: string, b: ListenerPut): Promise<Rendered> {
    const { db } = this.deps.store;
    const l = await getListener(db, id);
    const lb = await getLb(db, l.loadbalancer_id);
    authorize(ctx, lb.project_id);
    if ((l.protocol === 'UDP' || l.protocol === 'SCTP') && (hasTlsRefs(b) || (b.insert_headers && Object.keys(b.insert_headers).length))) {
      throw lbErrors.validation(`${l.protocol} protocol listener does not support TLS or header insertion.`);
    }
    if (b.insert_headers && Object.keys(b.insert_headers).length) validateInsertHeaders(Object.keys(b.insert_headers), l.protocol, false);
    await checkListenerTlsUpdate(this.deps, ctx, l, b);
    if (b.allowed_cidrs) checkCidrsMatchVip(lb.vip_address, b.allowed_cidrs);
    if (b.default_pool_id) {
      if (l.protocol === 'PROMETHEUS') throw lbErrors.listenerNoChildren('PROMETHEUS');
      await checkDefaultPool(db, lb.id, b.default_pool_id, l.protocol);
    }
    await this.deps.uow.run(async (w) => {
      const { trx } = w;
      await lockLoadBalancer(trx, lb.id, 'PENDING_UPDATE', 'immutable');
      const set: Updateable<LbListenersTable> = { provisioning_status: C.PROVISIONING.PENDING_UPDATE };
      if ('name' in b) set.name = b.name ?? '';
      if ('description' in b) set.description = b.description ?? '';
      if ('admin_state_up' in b && b.admin_state_up !== null) set.admin_state_up = b.admin_state_up ? 1 : 0;
      if ('connection_limit' in b) set.connection_limit = b.connection_limit ?? C.DEFAULT_CONNECTION_LIMIT;
      if ('default_pool_id' in b) set.default_pool_id = b.default_pool_id ?? null;
      if ('insert_headers' in b) set.insert_headers = JSON.stringify(b.insert_headers ?? {});
      if ('timeout_client_data' in b) set.timeout_client_data = b.timeout_client_data ?? C.DEFAULT_TIMEOUT_CLIENT_DATA;
      if ('timeout_member_connect' in b) set.timeout_member_connect = b.timeout_member_connect ?? C.DEFAULT_TIMEOUT_MEMBER_CONNECT;
      if ('timeout_member_data' in b) set.timeout_member_data = b.timeout_member_data ?? C.DEFAULT_TIMEOUT_MEMBER_DATA;
      if ('timeout_tcp_inspect' in b) set.timeout_tcp_inspect = b.timeout_tcp_inspect ?? C.DEFAULT_TIMEOUT_TCP_INSPECT;
      if ('allowed_cidrs' in b)
        set.allowed_cidrs = b.allowed_cidrs === null || b.allowed_cidrs === undefined ? null : JSON.stringify([...new Set(b.allowed_cidrs)]);
      if ('client_authentication' in b) set.client_authentication = b.client_authentication ?? 'NONE';
      if ('default_tls_container_ref' in b) set.default_tls_container_ref = b.default_tls_container_ref ?? null;
      if ('sni_container_refs' in b) set.sni_container_refs = JSON.stringify((b.sni_container_refs ?? []).filter(Boolean));
      if ('client_ca_tls_container_ref' in b) set.client_ca_tls_container_ref = b.client_ca_tls_container_ref ?? null;
      if ('client_crl_container_ref' in b) set.client_crl_container_ref = b.client_crl_container_ref ?? null;
      // _set_default_on_none: null resets a TLS listener's settings to the configured defaults.
      const tls = l.protocol === 'TERMINATED_HTTPS';
      if ('tls_ciphers' in b) set.tls_ciphers = b.tls_ciphers ?? (tls ? DEFAULT_CIPHERS : null);
      if ('tls_versions' in b) set.tls_versions = json(b.tls_versions ?? (tls ? DEFAULT_TLS_VERSIONS : null));
      if ('alpn_protocols' in b) set.alpn_protocols = json(b.alpn_protocols ?? (tls ? DEFAULT_ALPN : null));
      await trx.updateTable('lb_listeners').set(set).where('id', '=', l.id).execute();
      await writeTags(trx, 'listener', l.id, b.tags);
      w.changed('loadbalancer', lb.id, lb.project_id, 'update');
    }, ctx);
    return this.show(ctx, l.id);
  }

  async delete(ctx: RequestContext, id: string): Promise<void> {
    const l = await getListener(this.deps.store.db, id);
    const lb = await getLb(this.deps.store.db, l.loadbalancer_id);
    authorize(ctx, lb.project_id);
    await this.deps.uow.run(async (w) => {
      const { trx } = w;
      await lockLoadBalancer(trx, lb.id, 'PENDING_UPDATE', 'immutable');
      await trx.updateTable('lb_listeners').set({ provisioning_status: C.PROVISIONING.PENDING_DELETE }).where('id', '=', l.id).execute();
      w.changed('loadbalancer', lb.id, lb.project_id, 'update');
    }, ctx);
  }

  async stats(ctx: RequestContext, id: string): Promise<ListenerCounters> {
    const l = await getListener(this.deps.store.db, id);
    authorize(ctx, l.project_id);
    return listenerStats(this.deps.store.db, [l.id]);
  }
}
