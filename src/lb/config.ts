/**
 * What an engine runs for one load balancer, derived from the object model: enabled listeners
 * with their pools, members, monitors and L7 policies. Objects being deleted or in ERROR are
 * left out; disabled (admin down) objects are kept but marked, as HAProxy keeps disabled servers.
 * Both engines (HAProxy and built-in) consume exactly this.
 */
import type { LbGraph, MemberRow, MonitorRow } from '../core/loadbalancer/model.js';
import { fromJson } from '../store/db.js';
import { boolFromString } from '../util/bool.js';

export interface RtMember {
  id: string;
  address: string;
  port: number;
  weight: number;
  backup: boolean;
  enabled: boolean;
  /** Where health checks go (monitor_address/monitor_port, else the member itself). */
  checkAddress: string;
  checkPort: number;
}

export interface RtMonitor {
  id: string;
  type: 'HTTP' | 'HTTPS' | 'PING' | 'TCP' | 'TLS-HELLO' | 'UDP-CONNECT';
  /** Seconds between checks (HAProxy `inter`). */
  delay: number;
  /** Seconds a check may take (HAProxy `timeout check`). */
  timeout: number;
  /** Consecutive successes to come up (`rise` = max_retries). */
  rise: number;
  /** Consecutive failures to go down (`fall` = max_retries_down). */
  fall: number;
  httpMethod: string;
  urlPath: string;
  expectedCodes: string;
  httpVersion: '1.0' | '1.1';
  domainName: string | null;
}

/** A certificate an engine serves: the leaf with its intermediates, and its unencrypted key (PEM). */
export interface RtCertificate {
  /** Octavia's TLSContainer id: the SHA-1 of the certificate (a stable file name). */
  id: string;
  /** Certificate then intermediates, PEM. */
  chain: string;
  key: string;
  /** The names it answers for (CN and DNS subjectAltNames, lower-cased; `*.x` wildcards kept). */
  names: string[];
}

/** TLS versions and suites an endpoint accepts (Octavia's tls_versions, tls_ciphers, alpn_protocols). */
export interface RtTlsParams {
  versions: string[];
  ciphers: string | null;
  alpn: string[];
}

/** A TERMINATED_HTTPS listener's TLS side. */
export interface RtListenerTls extends RtTlsParams {
  /** The default certificate first (when there is one), then the SNI ones in order. */
  certificates: RtCertificate[];
  clientAuth: 'NONE' | 'OPTIONAL' | 'MANDATORY';
  /** PEM: the CA client certificates must chain to, and its CRL. */
  clientCa: string | null;
  clientCrl: string | null;
}

/** A TLS-enabled pool's side toward its members. */
export interface RtPoolTls extends RtTlsParams {
  /** Presented to members (pool tls_container_ref). */
  clientCertificate: RtCertificate | null;
  /** Members' certificates must chain to this CA (else they are not verified, HAProxy `verify none`). */
  ca: string | null;
  crl: string | null;
}

export interface RtPool {
  id: string;
  protocol: 'HTTP' | 'HTTPS' | 'TCP' | 'PROXY' | 'PROXYV2' | 'UDP';
  algorithm: 'ROUND_ROBIN' | 'LEAST_CONNECTIONS' | 'SOURCE_IP' | 'SOURCE_IP_PORT';
  persistence: { type: 'SOURCE_IP' | 'HTTP_COOKIE' | 'APP_COOKIE'; cookieName: string | null; timeout: number | null } | null;
  /** Re-encrypt to members (pool tls_enabled). */
  tls: boolean;
  /** How, when `tls` (absent: verify nothing, present no certificate, as HAProxy's `verify none`). */
  tlsOptions?: RtPoolTls | null;
  enabled: boolean;
  members: RtMember[];
  monitor: RtMonitor | null;
}

export interface RtRule {
  type: string;
  compareType: string;
  key: string | null;
  value: string;
  invert: boolean;
}

export interface RtPolicy {
  id: string;
  action: 'REJECT' | 'REDIRECT_TO_URL' | 'REDIRECT_PREFIX' | 'REDIRECT_TO_POOL';
  redirectUrl: string | null;
  redirectPrefix: string | null;
  redirectHttpCode: number;
  redirectPoolId: string | null;
  rules: RtRule[];
}

export interface RtListener {
  id: string;
  protocol: 'HTTP' | 'HTTPS' | 'TCP' | 'UDP' | 'TERMINATED_HTTPS';
  port: number;
  /** -1: unlimited. */
  connectionLimit: number;
  timeoutClientData: number;
  timeoutMemberConnect: number;
  timeoutMemberData: number;
  timeoutTcpInspect: number;
  insertHeaders: { forwardedFor: boolean; forwardedPort: boolean; forwardedProto: boolean };
  allowedCidrs: string[];
  defaultPoolId: string | null;
  policies: RtPolicy[];
  /** TERMINATED_HTTPS only. */
  tls?: RtListenerTls | null;
  /** X-SSL-* headers to insert (TERMINATED_HTTPS only). */
  sslHeaders?: string[];
}

export interface RtLoadBalancer {
  id: string;
  vipAddress: string | null;
  listeners: RtListener[];
  pools: RtPool[];
}

const live = (s: string) => s !== 'PENDING_DELETE' && s !== 'ERROR' && s !== 'DELETED';

/** Certificates and PEM secrets by reference, as the engine read them from the key manager. */
export interface TlsMaterial {
  certificate(ref: string): RtCertificate;
  pem(ref: string): string;
}

const NO_TLS: TlsMaterial = {
  certificate: (ref) => {
    throw new Error(`certificate ${ref} is not available`);
  },
  pem: (ref) => {
    throw new Error(`secret ${ref} is not available`);
  },
};

const listOf = (v: string | null, d: string[]) => fromJson<string[] | null>(v, null) ?? d;

/** The TLS listeners and pools of `g` that an engine serves: what to read from the key manager. */
export function tlsReferences(g: LbGraph): { certificates: string[]; pems: string[] } {
  const certificates = new Set<string>();
  const pems = new Set<string>();
  for (const l of g.listeners) {
    if (l.protocol !== 'TERMINATED_HTTPS' || !live(l.provisioning_status) || l.admin_state_up !== 1) continue;
    if (l.default_tls_container_ref) certificates.add(l.default_tls_container_ref);
    for (const r of fromJson<string[]>(l.sni_container_refs, [])) certificates.add(r);
    if (l.client_ca_tls_container_ref) pems.add(l.client_ca_tls_container_ref);
    if (l.client_crl_container_ref) pems.add(l.client_crl_container_ref);
  }
  for (const p of g.pools) {
    if (p.tls_enabled !== 1 || !live(p.provisioning_status)) continue;
    if (p.tls_container_ref) certificates.add(p.tls_container_ref);
    if (p.ca_tls_container_ref) pems.add(p.ca_tls_container_ref);
    if (p.crl_container_ref) pems.add(p.crl_container_ref);
  }
  return { certificates: [...certificates], pems: [...pems] };
}

function monitorOf(m: MonitorRow | undefined): RtMonitor | null {
  if (!m || !live(m.provisioning_status) || m.admin_state_up !== 1) return null;
  if (m.type === 'SCTP') return null;
  return {
    id: m.id,
    type: m.type as RtMonitor['type'],
    delay: m.delay,
    timeout: m.timeout,
    rise: m.max_retries,
    fall: m.max_retries_down,
    httpMethod: m.http_method ?? 'GET',
    urlPath: m.url_path ?? '/',
    expectedCodes: m.expected_codes ?? '200',
    httpVersion: m.http_version === '1.1' ? '1.1' : '1.0',
    domainName: m.domain_name,
  };
}

/**
 * A member row as engines see it, made once per row object: the engine's model keeps the rows a
 * change did not touch (model.ts, patchMembers), so at 1,000 members a member add converts one
 * row, not 1,000 (issue 17). Rows are never changed in place (a write makes a new row), so the
 * member made from a row stays right for as long as the row is alive.
 */
const rtMembers = new WeakMap<MemberRow, RtMember>();
function rtMember(m: MemberRow): RtMember {
  let r = rtMembers.get(m);
  if (!r) {
    r = {
      id: m.id,
      address: m.address,
      port: m.protocol_port,
      weight: m.weight,
      backup: m.backup === 1,
      enabled: m.admin_state_up === 1,
      checkAddress: m.monitor_address ?? m.address,
      checkPort: m.monitor_port ?? m.protocol_port,
    };
    rtMembers.set(m, r);
  }
  return r;
}

/** The configuration of one load balancer, or null when nothing should run. */
export function runtimeConfig(g: LbGraph, material: TlsMaterial = NO_TLS): RtLoadBalancer | null {
  if (!live(g.lb.provisioning_status) || g.lb.admin_state_up !== 1) return null;
  const pools: RtPool[] = g.pools
    .filter((p) => live(p.provisioning_status) && p.protocol !== 'SCTP')
    .map((p) => ({
      id: p.id,
      protocol: p.protocol as RtPool['protocol'],
      algorithm: p.lb_algorithm as RtPool['algorithm'],
      persistence: p.sp_type
        ? { type: p.sp_type as 'SOURCE_IP' | 'HTTP_COOKIE' | 'APP_COOKIE', cookieName: p.sp_cookie_name, timeout: p.sp_persistence_timeout }
        : null,
      tls: p.tls_enabled === 1,
      tlsOptions:
        p.tls_enabled === 1
          ? {
              clientCertificate: p.tls_container_ref ? material.certificate(p.tls_container_ref) : null,
              ca: p.ca_tls_container_ref ? material.pem(p.ca_tls_container_ref) : null,
              crl: p.crl_container_ref ? material.pem(p.crl_container_ref) : null,
              versions: listOf(p.tls_versions, []),
              ciphers: p.tls_ciphers,
              alpn: listOf(p.alpn_protocols, []),
            }
          : null,
      enabled: p.admin_state_up === 1,
      members: g.members.filter((m) => m.pool_id === p.id && live(m.provisioning_status)).map(rtMember),
      monitor: monitorOf(g.monitorOf.get(p.id)),
    }));
  const poolIds = new Set(pools.map((p) => p.id));
  const listeners: RtListener[] = g.listeners
    .filter((l) => live(l.provisioning_status) && l.admin_state_up === 1 && ['HTTP', 'HTTPS', 'TCP', 'UDP', 'TERMINATED_HTTPS'].includes(l.protocol))
    .map((l) => {
      const headers = fromJson<Record<string, string>>(l.insert_headers, {});
      const terminated = l.protocol === 'TERMINATED_HTTPS';
      const refs = [...(l.default_tls_container_ref ? [l.default_tls_container_ref] : []), ...fromJson<string[]>(l.sni_container_refs, [])];
      return {
        id: l.id,
        protocol: l.protocol as RtListener['protocol'],
        port: l.protocol_port,
        connectionLimit: l.connection_limit,
        timeoutClientData: l.timeout_client_data,
        timeoutMemberConnect: l.timeout_member_connect,
        timeoutMemberData: l.timeout_member_data,
        timeoutTcpInspect: l.timeout_tcp_inspect,
        insertHeaders: {
          forwardedFor: boolFromString(headers['X-Forwarded-For']),
          forwardedPort: boolFromString(headers['X-Forwarded-Port']),
          forwardedProto: boolFromString(headers['X-Forwarded-Proto']),
        },
        allowedCidrs: fromJson<string[] | null>(l.allowed_cidrs, null) ?? [],
        defaultPoolId: l.default_pool_id && poolIds.has(l.default_pool_id) ? l.default_pool_id : null,
        policies: g.l7policies
          .filter((p) => p.listener_id === l.id && live(p.provisioning_status) && p.admin_state_up === 1)
          .sort((a, b) => a.position - b.position)
          .map((p) => ({
            id: p.id,
            action: p.action as RtPolicy['action'],
            redirectUrl: p.redirect_url,
            redirectPrefix: p.redirect_prefix,
            redirectHttpCode: p.redirect_http_code ?? 302,
            redirectPoolId: p.redirect_pool_id && poolIds.has(p.redirect_pool_id) ? p.redirect_pool_id : null,
            rules: g.l7rules
              .filter((r) => r.l7policy_id === p.id && live(r.provisioning_status) && r.admin_state_up === 1)
              .map((r) => ({ type: r.type, compareType: r.compare_type, key: r.key, value: r.value, invert: r.invert === 1 })),
          }))
          // Octavia: a policy without rules never matches.
          .filter((p) => p.rules.length > 0),
        tls: terminated
          ? {
              certificates: refs.map((r) => material.certificate(r)),
              clientAuth: (l.client_authentication ?? 'NONE') as RtListenerTls['clientAuth'],
              clientCa: l.client_ca_tls_container_ref ? material.pem(l.client_ca_tls_container_ref) : null,
              clientCrl: l.client_crl_container_ref ? material.pem(l.client_crl_container_ref) : null,
              versions: listOf(l.tls_versions, []),
              ciphers: l.tls_ciphers,
              alpn: listOf(l.alpn_protocols, []),
            }
          : null,
        sslHeaders: terminated ? Object.keys(headers).filter((h) => h.startsWith('X-SSL-') && boolFromString(headers[h])) : [],
      };
    });
  return { id: g.lb.id, vipAddress: g.lb.vip_address, listeners, pools };
}

/** Does an HTTP status match Octavia's expected_codes ("200", "200,202", "200-204")? */
export function codeMatches(expected: string, code: number): boolean {
  const range = /^(\d{3})-(\d{3})$/.exec(expected.trim());
  if (range) return code >= Number(range[1]) && code <= Number(range[2]);
  return expected.split(',').some((c) => Number(c.trim()) === code);
}
