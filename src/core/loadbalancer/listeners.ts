/**
 * Octavia listeners: a protocol and port on the VIP, timeouts, connection limit, header
 * insertion and allowed source CIDRs, forwarding to a default pool.
 */
import type { Updateable } from 'kysely';
import type { Q } from '../../store/db.js';
import type { LbListenersTable } from '../../store/schema.js';
import { uuid as newUuid } from '../../util/ids.js';
import { parseCidr, parseIp } from '../../util/ip.js';
import type { RequestContext } from '../context.js';
import { authorize, getLb, getListener } from './access.js';
import * as C from './constants.js';
import type { LbDeps } from './deps.js';
import { lbErrors } from './errors.js';
import { octaviaTime } from './model.js';
import { type ListSpec, type Listing, OBJECT_COLUMNS, listV2Page } from './query.js';
import { checkQuota } from './quotas.js';
import { type Rendered, renderListeners } from './render.js';
import type { ListenerPost, ListenerPut } from './schemas.js';
import { type ListenerCounters, listenerStats } from './stats.js';
import { lockLoadBalancer, writeTags } from './status.js';

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
    client_authentication: { column: 'client_authentication' },
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

function checkCidrsMatchVip(vip: string | null, cidrs: ReadonlyArray<string | null>): void {
  const v = vip ? parseIp(vip)?.version : undefined;
  for (const c of cidrs) {
    const cv = parseCidr(c)?.version;
    if (v !== undefined && cv !== v) throw lbErrors.validation(`CIDR ${c} IP version incompatible with VIP ${vip} IP version.`);
  }
}

/** What this engine can serve (checked where Octavia's provider driver validates). */
function checkListenerProtocolServed(provider: string, protocol: string): void {
  if (protocol === 'TERMINATED_HTTPS') throw lbErrors.disabledOption('protocol', protocol);
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

async function checkDefaultPool(trx: Q, lbId: string, poolId: string, listenerProtocol: string): Promise<void> {
  const pool = await trx.selectFrom('lb_pools').select(['protocol']).where('id', '=', poolId).where('loadbalancer_id', '=', lbId).executeTakeFirst();
  if (!pool) throw lbErrors.notFound('Pool', poolId);
  checkProtocolPair(listenerProtocol, pool.protocol);
}

export function checkProtocolPair(listenerProtocol: string, poolProtocol: string): void {
  if (!(C.LISTENER_POOL_PROTOCOLS[listenerProtocol] ?? []).includes(poolProtocol)) {
    throw lbErrors.validation(`The pool protocol '${poolProtocol}' is invalid while the listener protocol is '${listenerProtocol}'.`);
  }
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
      const headers = b.insert_headers ?? {};
      if (Object.keys(headers).length) validateInsertHeaders(Object.keys(headers), protocol, true);
      if ((protocol === 'UDP' || protocol === 'SCTP') && (hasTlsRefs(b) || Object.keys(headers).length)) {
        throw lbErrors.validation(`${protocol} protocol listener does not support TLS.`);
      }
      checkListenerProtocolServed(lb.provider, protocol);
      if (hasTlsRefs(b)) throw lbErrors.validation(`Certificate container references are not allowed on ${protocol} protocol listeners.`);
      if (b.client_authentication && b.client_authentication !== 'NONE') {
        throw lbErrors.validation(`Client authentication setting ${b.client_authentication} requires a client CA container reference.`);
      }
      if (b.client_crl_container_ref)
        throw lbErrors.validation('A client authentication CA reference is required to specify a client authentication revocation list.');
      await checkPortFree(trx, lb.id, protocol, b.protocol_port!);
      const cidrs = b.allowed_cidrs ?? null;
      checkCidrsMatchVip(lb.vip_address, cidrs ?? []);
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
          default_tls_container_ref: null,
          sni_container_refs: '[]',
          client_ca_tls_container_ref: null,
          client_authentication: b.client_authentication ?? 'NONE',
          client_crl_container_ref: null,
          tls_ciphers: null,
          tls_versions: null,
          alpn_protocols: null,
          created_at: octaviaTime(),
          updated_at: null,
        })
        .execute();
      await writeTags(trx, 'listener', id, b.tags);
      w.changed('loadbalancer', lb.id, lb.project_id, 'update');
    });
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
    if (hasTlsRefs(b)) throw lbErrors.validation(`Certificate container references are not allowed on ${l.protocol} protocol listeners.`);
    if (b.client_authentication !== undefined && b.client_authentication !== null && b.client_authentication !== 'NONE') {
      throw lbErrors.validation(`Client authentication setting ${b.client_authentication} requires a client CA container reference.`);
    }
    if (b.insert_headers && Object.keys(b.insert_headers).length) validateInsertHeaders(Object.keys(b.insert_headers), l.protocol, false);
    if (b.client_crl_container_ref)
      throw lbErrors.validation('A client authentication CA reference is required to specify a client authentication revocation list.');
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
      await trx.updateTable('lb_listeners').set(set).where('id', '=', l.id).execute();
      await writeTags(trx, 'listener', l.id, b.tags);
      w.changed('loadbalancer', lb.id, lb.project_id, 'update');
    });
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
    });
  }

  async stats(ctx: RequestContext, id: string): Promise<ListenerCounters> {
    const l = await getListener(this.deps.store.db, id);
    authorize(ctx, l.project_id);
    return listenerStats(this.deps.store.db, [l.id]);
  }
}
