/**
 * What an engine runs for one load balancer, derived from the object model: enabled listeners
 * with their pools, members, monitors and L7 policies. Objects being deleted or in ERROR are
 * left out; disabled (admin down) objects are kept but marked, as HAProxy keeps disabled servers.
 * Both engines (HAProxy and built-in) consume exactly this.
 */
import type { LbGraph, MonitorRow } from '../core/loadbalancer/model.js';
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

export interface RtPool {
  id: string;
  protocol: 'HTTP' | 'HTTPS' | 'TCP' | 'PROXY' | 'PROXYV2' | 'UDP';
  algorithm: 'ROUND_ROBIN' | 'LEAST_CONNECTIONS' | 'SOURCE_IP' | 'SOURCE_IP_PORT';
  persistence: { type: 'SOURCE_IP' | 'HTTP_COOKIE' | 'APP_COOKIE'; cookieName: string | null; timeout: number | null } | null;
  /** Re-encrypt to members (pool tls_enabled). */
  tls: boolean;
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
  protocol: 'HTTP' | 'HTTPS' | 'TCP' | 'UDP';
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
}

export interface RtLoadBalancer {
  id: string;
  vipAddress: string | null;
  listeners: RtListener[];
  pools: RtPool[];
}

const live = (s: string) => s !== 'PENDING_DELETE' && s !== 'ERROR' && s !== 'DELETED';

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

/** The configuration of one load balancer, or null when nothing should run. */
export function runtimeConfig(g: LbGraph): RtLoadBalancer | null {
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
      enabled: p.admin_state_up === 1,
      members: g.members
        .filter((m) => m.pool_id === p.id && live(m.provisioning_status))
        .map((m) => ({
          id: m.id,
          address: m.address,
          port: m.protocol_port,
          weight: m.weight,
          backup: m.backup === 1,
          enabled: m.admin_state_up === 1,
          checkAddress: m.monitor_address ?? m.address,
          checkPort: m.monitor_port ?? m.protocol_port,
        })),
      monitor: monitorOf(g.monitorOf.get(p.id)),
    }));
  const poolIds = new Set(pools.map((p) => p.id));
  const listeners: RtListener[] = g.listeners
    .filter((l) => live(l.provisioning_status) && l.admin_state_up === 1 && ['HTTP', 'HTTPS', 'TCP', 'UDP'].includes(l.protocol))
    .map((l) => {
      const headers = fromJson<Record<string, string>>(l.insert_headers, {});
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
