/**
 * Octavia v2 response bodies, keys in the order real Octavia returns them. Relations (child ids,
 * tags) are loaded for a whole page at once.
 */
import type { Q } from '../../store/db.js';
import { fromJson } from '../../store/db.js';
import {
  type L7PolicyRow,
  type L7RuleRow,
  type LbRow,
  type ListenerRow,
  type MemberRow,
  type MonitorRow,
  type PoolRow,
  loadTagMap,
  poolListenerIds,
  withStatus,
} from './model.js';

/** A response object, keys in the order Octavia writes them. */
export type Rendered = Record<string, unknown>;

const ids = (xs: string[]) => xs.map((id) => ({ id }));
const bool = (v: number) => v === 1;
const str = (v: string | null) => v ?? '';

/** Only the attributes `fields` names (client input: looked up as own keys only). */
export function fieldsOf(out: Rendered, fields?: string[]): Rendered {
  if (!fields || fields.length === 0) return out;
  const r: Rendered = {};
  for (const f of fields) if (Object.hasOwn(out, f)) r[f] = out[f];
  return r;
}

/** http_version is stored as text to keep 1.0 distinct from 1; the API shows a float. */
const httpVersion = (v: string | null) => (v === null ? null : Number(v));

export async function renderLoadBalancers(q: Q, rows: LbRow[], opts: { fields?: string[]; createShape?: boolean } = {}): Promise<Rendered[]> {
  if (!rows.length) return [];
  const lbIds = rows.map((r) => r.id);
  const tags = await loadTagMap(q, 'loadbalancer', lbIds);
  const listeners = await q
    .selectFrom('lb_listeners')
    .select(['id', 'loadbalancer_id'])
    .where('loadbalancer_id', 'in', lbIds)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  const pools = await q
    .selectFrom('lb_pools')
    .select(['id', 'loadbalancer_id'])
    .where('loadbalancer_id', 'in', lbIds)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  return rows.map((r) => {
    const lst = ids(listeners.filter((l) => l.loadbalancer_id === r.id).map((l) => l.id));
    const pls = ids(pools.filter((p) => p.loadbalancer_id === r.id).map((p) => p.id));
    const head: Rendered = opts.createShape ? { listeners: lst, pools: pls } : {};
    const out: Rendered = {
      ...head,
      id: r.id,
      name: str(r.name),
      description: str(r.description),
      provisioning_status: r.provisioning_status,
      operating_status: r.operating_status,
      admin_state_up: bool(r.admin_state_up),
      project_id: r.project_id,
      created_at: r.created_at,
      updated_at: r.updated_at,
      vip_address: r.vip_address,
      vip_port_id: r.vip_port_id,
      vip_subnet_id: r.vip_subnet_id,
      vip_network_id: r.vip_network_id,
      additional_vips: [],
      listeners: lst,
      pools: pls,
      provider: r.provider,
      flavor_id: r.flavor_id,
      vip_qos_policy_id: r.vip_qos_policy_id,
      tags: tags.get(r.id) ?? [],
      availability_zone: r.availability_zone,
      tenant_id: r.project_id,
    };
    return fieldsOf(out, opts.fields);
  });
}

export async function renderListeners(q: Q, rows: ListenerRow[], fields?: string[]): Promise<Rendered[]> {
  if (!rows.length) return [];
  const lIds = rows.map((r) => r.id);
  const tags = await loadTagMap(q, 'listener', lIds);
  const policies = await q.selectFrom('lb_l7policies').select(['id', 'listener_id']).where('listener_id', 'in', lIds).orderBy('position').execute();
  return rows.map((r) => {
    const out: Rendered = {
      id: r.id,
      name: str(r.name),
      description: str(r.description),
      provisioning_status: r.provisioning_status,
      operating_status: r.operating_status,
      admin_state_up: bool(r.admin_state_up),
      protocol: r.protocol,
      protocol_port: r.protocol_port,
      connection_limit: r.connection_limit,
      default_tls_container_ref: r.default_tls_container_ref,
      sni_container_refs: fromJson<string[]>(r.sni_container_refs, []),
      project_id: r.project_id,
      default_pool_id: r.default_pool_id,
      l7policies: ids(policies.filter((p) => p.listener_id === r.id).map((p) => p.id)),
      insert_headers: fromJson<Record<string, string>>(r.insert_headers, {}),
      created_at: r.created_at,
      updated_at: r.updated_at,
      loadbalancers: ids([r.loadbalancer_id]),
      timeout_client_data: r.timeout_client_data,
      timeout_member_connect: r.timeout_member_connect,
      timeout_member_data: r.timeout_member_data,
      timeout_tcp_inspect: r.timeout_tcp_inspect,
      tags: tags.get(r.id) ?? [],
      client_ca_tls_container_ref: r.client_ca_tls_container_ref,
      client_authentication: r.client_authentication,
      client_crl_container_ref: r.client_crl_container_ref,
      allowed_cidrs: fromJson<string[] | null>(r.allowed_cidrs, null),
      tls_ciphers: r.tls_ciphers,
      tls_versions: fromJson<string[] | null>(r.tls_versions, null),
      alpn_protocols: fromJson<string[] | null>(r.alpn_protocols, null),
      tenant_id: r.project_id,
    };
    return fieldsOf(out, fields);
  });
}

export function sessionPersistence(r: PoolRow): Rendered | null {
  if (!r.sp_type) return null;
  return {
    type: r.sp_type,
    cookie_name: r.sp_cookie_name,
    persistence_timeout: r.sp_persistence_timeout,
    persistence_granularity: r.sp_persistence_granularity,
  };
}

export async function renderPools(q: Q, rows: PoolRow[], fields?: string[]): Promise<Rendered[]> {
  if (!rows.length) return [];
  const pIds = rows.map((r) => r.id);
  const tags = await loadTagMap(q, 'pool', pIds);
  const lbIds = [...new Set(rows.map((r) => r.loadbalancer_id).filter((x): x is string => !!x))];
  const listeners = lbIds.length
    ? await q.selectFrom('lb_listeners').selectAll().where('loadbalancer_id', 'in', lbIds).orderBy('created_at').orderBy('id').execute()
    : [];
  const lIds = listeners.map((l) => l.id);
  const policies = lIds.length ? await q.selectFrom('lb_l7policies').selectAll().where('listener_id', 'in', lIds).execute() : [];
  const pIdsOfPolicies = policies.map((p) => p.id);
  const rules = pIdsOfPolicies.length ? await q.selectFrom('lb_l7rules').selectAll().where('l7policy_id', 'in', pIdsOfPolicies).execute() : [];
  const members = await q.selectFrom('lb_members').select(['id', 'pool_id']).where('pool_id', 'in', pIds).orderBy('created_at').orderBy('id').execute();
  const monitors = await q.selectFrom('lb_healthmonitors').select(['id', 'pool_id']).where('pool_id', 'in', pIds).execute();
  return rows.map((r) => {
    const hm = monitors.find((m) => m.pool_id === r.id);
    const out: Rendered = {
      id: r.id,
      name: str(r.name),
      description: str(r.description),
      provisioning_status: r.provisioning_status,
      operating_status: r.operating_status,
      admin_state_up: bool(r.admin_state_up),
      protocol: r.protocol,
      lb_algorithm: r.lb_algorithm,
      session_persistence: sessionPersistence(r),
      project_id: r.project_id,
      loadbalancers: r.loadbalancer_id ? ids([r.loadbalancer_id]) : [],
      listeners: ids(poolListenerIds(r.id, listeners, policies, rules)),
      created_at: r.created_at,
      updated_at: r.updated_at,
      // Octavia leaves the key out entirely when the pool has no monitor.
      ...(hm ? { healthmonitor_id: hm.id } : {}),
      members: ids(members.filter((m) => m.pool_id === r.id).map((m) => m.id)),
      tags: tags.get(r.id) ?? [],
      tls_container_ref: r.tls_container_ref,
      ca_tls_container_ref: r.ca_tls_container_ref,
      crl_container_ref: r.crl_container_ref,
      tls_enabled: bool(r.tls_enabled),
      tls_ciphers: r.tls_ciphers,
      tls_versions: fromJson<string[] | null>(r.tls_versions, null),
      alpn_protocols: fromJson<string[] | null>(r.alpn_protocols, null),
      tenant_id: r.project_id,
    };
    return fieldsOf(out, fields);
  });
}

export async function renderMembers(q: Q, rows: MemberRow[], fields?: string[]): Promise<Rendered[]> {
  if (!rows.length) return [];
  const tags = await loadTagMap(
    q,
    'member',
    rows.map((r) => r.id),
  );
  return rows.map((r) =>
    fieldsOf(
      {
        id: r.id,
        name: str(r.name),
        operating_status: r.operating_status,
        provisioning_status: r.provisioning_status,
        admin_state_up: bool(r.admin_state_up),
        address: r.address,
        protocol_port: r.protocol_port,
        weight: r.weight,
        backup: bool(r.backup),
        subnet_id: r.subnet_id,
        project_id: r.project_id,
        created_at: r.created_at,
        updated_at: r.updated_at,
        monitor_address: r.monitor_address,
        monitor_port: r.monitor_port,
        tags: tags.get(r.id) ?? [],
        tenant_id: r.project_id,
      },
      fields,
    ),
  );
}

export async function renderMonitors(q: Q, rows: MonitorRow[], fields?: string[]): Promise<Rendered[]> {
  if (!rows.length) return [];
  const tags = await loadTagMap(
    q,
    'healthmonitor',
    rows.map((r) => r.id),
  );
  return rows.map((r) =>
    fieldsOf(
      {
        id: r.id,
        name: str(r.name),
        type: r.type,
        delay: r.delay,
        timeout: r.timeout,
        max_retries: r.max_retries,
        max_retries_down: r.max_retries_down,
        http_method: r.http_method,
        url_path: r.url_path,
        expected_codes: r.expected_codes,
        admin_state_up: bool(r.admin_state_up),
        project_id: r.project_id,
        pools: r.pool_id ? ids([r.pool_id]) : [],
        provisioning_status: r.provisioning_status,
        operating_status: r.operating_status,
        created_at: r.created_at,
        updated_at: r.updated_at,
        tags: tags.get(r.id) ?? [],
        http_version: httpVersion(r.http_version),
        domain_name: r.domain_name,
        tenant_id: r.project_id,
      },
      fields,
    ),
  );
}

export async function renderL7Policies(q: Q, rows: L7PolicyRow[], fields?: string[]): Promise<Rendered[]> {
  if (!rows.length) return [];
  const pIds = rows.map((r) => r.id);
  const tags = await loadTagMap(q, 'l7policy', pIds);
  const rules = await q.selectFrom('lb_l7rules').select(['id', 'l7policy_id']).where('l7policy_id', 'in', pIds).orderBy('created_at').orderBy('id').execute();
  return rows.map((r) =>
    fieldsOf(
      {
        id: r.id,
        name: str(r.name),
        description: str(r.description),
        provisioning_status: r.provisioning_status,
        operating_status: r.operating_status,
        admin_state_up: bool(r.admin_state_up),
        project_id: r.project_id,
        action: r.action,
        listener_id: r.listener_id,
        redirect_pool_id: r.redirect_pool_id,
        redirect_url: r.redirect_url,
        redirect_prefix: r.redirect_prefix,
        position: r.position,
        rules: ids(rules.filter((x) => x.l7policy_id === r.id).map((x) => x.id)),
        created_at: r.created_at,
        updated_at: r.updated_at,
        tags: tags.get(r.id) ?? [],
        redirect_http_code: r.redirect_http_code,
        tenant_id: r.project_id,
      },
      fields,
    ),
  );
}

export async function renderL7Rules(q: Q, rows: L7RuleRow[], fields?: string[]): Promise<Rendered[]> {
  if (!rows.length) return [];
  const tags = await loadTagMap(
    q,
    'l7rule',
    rows.map((r) => r.id),
  );
  return rows.map((r) =>
    fieldsOf(
      {
        id: r.id,
        type: r.type,
        compare_type: r.compare_type,
        key: r.key,
        value: r.value,
        invert: bool(r.invert),
        provisioning_status: r.provisioning_status,
        operating_status: r.operating_status,
        created_at: r.created_at,
        updated_at: r.updated_at,
        project_id: r.project_id,
        admin_state_up: bool(r.admin_state_up),
        tags: tags.get(r.id) ?? [],
        tenant_id: r.project_id,
      },
      fields,
    ),
  );
}

/** `out` without the named keys (the full shapes move or drop them). */
function without(out: Rendered, keys: string[]): Rendered {
  const r: Rendered = {};
  for (const [k, v] of Object.entries(out)) if (!keys.includes(k)) r[k] = v;
  return r;
}

/**
 * The answer to a fully populated create (Octavia's LoadBalancerFullResponse): listeners and
 * pools as whole objects, listed first; a listener's L7 policies, a policy's rules and a pool's
 * members as whole objects too, without the links back to the load balancer. Objects are in the
 * order the create made them (`order`). Octavia's PoolFullResponse fills `healthmonitor` only
 * from an attribute its from_data_model never sets, so a pool's monitor shows as null in this
 * answer (Zed; the pool and the monitor themselves show it); shown the same here.
 */
export async function renderFullLoadBalancer(q: Q, lb: LbRow, order: string[]): Promise<Rendered> {
  const rank = new Map(order.map((id, i) => [id, i]));
  const byOrder = <T extends { id: string }>(rows: T[]) => [...rows].sort((a, b) => (rank.get(a.id) ?? 0) - (rank.get(b.id) ?? 0));
  const listenerRows = byOrder(withStatus(await q.selectFrom('lb_listeners').selectAll().where('loadbalancer_id', '=', lb.id).execute()));
  const poolRows = byOrder(withStatus(await q.selectFrom('lb_pools').selectAll().where('loadbalancer_id', '=', lb.id).execute()));
  const lIds = listenerRows.map((l) => l.id);
  const pIds = poolRows.map((p) => p.id);
  const policyRows = lIds.length
    ? withStatus(await q.selectFrom('lb_l7policies').selectAll().where('listener_id', 'in', lIds).orderBy('position').execute())
    : [];
  const ruleRows = policyRows.length
    ? byOrder(
        withStatus(
          await q
            .selectFrom('lb_l7rules')
            .selectAll()
            .where(
              'l7policy_id',
              'in',
              policyRows.map((p) => p.id),
            )
            .execute(),
        ),
      )
    : [];
  const memberRows = pIds.length ? byOrder(withStatus(await q.selectFrom('lb_members').selectAll().where('pool_id', 'in', pIds).execute())) : [];
  const rules = await renderL7Rules(q, ruleRows);
  const policies = (await renderL7Policies(q, policyRows)).map((p, i) => ({
    rules: rules.filter((_r, j) => ruleRows[j].l7policy_id === policyRows[i].id),
    ...without(p, ['rules']),
  }));
  const listeners = (await renderListeners(q, listenerRows)).map((l, i) => ({
    l7policies: policies.filter((_p, j) => policyRows[j].listener_id === listenerRows[i].id),
    ...without(l, ['l7policies', 'loadbalancers']),
  }));
  const members = await renderMembers(q, memberRows);
  const pools = (await renderPools(q, poolRows)).map((p, i) => ({
    members: members.filter((_m, j) => memberRows[j].pool_id === poolRows[i].id),
    healthmonitor: null,
    ...without(p, ['members', 'healthmonitor_id', 'loadbalancers']),
  }));
  const [out] = await renderLoadBalancers(q, [lb]);
  return { listeners, pools, ...without(out, ['listeners', 'pools']) };
}
