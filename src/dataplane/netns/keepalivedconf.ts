/**
 * keepalived.conf for an HA router, rendered as Neutron's neutron/agent/linux/keepalived.py
 * (KeepalivedConf, KeepalivedInstance, KeepalivedVipAddress, KeepalivedVirtualRoute) renders it
 * for ha_router.py: one vrrp_instance per router, BACKUP with `nopreempt` at one priority on every
 * agent (the first to come up stays master), advertising on the router's `ha-` device with the
 * router's VRID, the primary VIP 169.254.0.<VRID>/24 on it (what the state is read from), and
 * the router's real addresses — interfaces, gateway, floating IPs — as virtual_ipaddress_excluded
 * (held by the master only, not carried in the adverts), its gateway's default route as a
 * virtual route. Pure: a spec in, the file's text out.
 */
import { type Cidr, parseCidr } from '../../util/ip.js';

/** keepalived.py's HA_DEFAULT_PRIORITY (the router's `priority`: Neutron never sets another). */
export const HA_DEFAULT_PRIORITY = 50;
/** keepalived.py's GARP_PRIMARY_DELAY: a new master repeats its gratuitous ARPs after 60 s. */
const GARP_PRIMARY_DELAY = 60;
/** constants.PRIVATE_CIDR_RANGE, METADATA_CIDR and DVR_FIP_LL_CIDR: where the primary VIP range is found. */
const PRIVATE_CIDR_RANGE = '169.254.0.0/16';
const EXCLUDED_RANGES = ['169.254.169.254/32', '169.254.64.0/18'];
/** keepalived.py's PRIMARY_VIP_RANGE_SIZE. */
const PRIMARY_VIP_RANGE_SIZE = 24;

export interface KeepalivedVip {
  /** `ip/prefix`. */
  cidr: string;
  dev: string;
  scope?: 'link' | 'host';
  /** Tracked (no `no_track`) when on a tracked interface, as KeepalivedInstance.add_vip decides. */
  track?: boolean;
}

export interface KeepalivedRoute {
  destination: string;
  nexthop: string | null;
  dev?: string;
  scope?: 'link';
  /** One of the gateway's routes (KeepalivedInstanceRoutes.gateway_routes): what the health check pings. */
  gateway?: boolean;
}

/** keepalived.py's HEALTH_CHECK_NAME. */
const HEALTH_CHECK_NAME = 'ha_health_check';

export interface KeepalivedInstanceSpec {
  state: 'MASTER' | 'BACKUP';
  interface: string;
  vrid: number;
  /** The HA network's subnet CIDRs: the primary VIP's /24 is chosen outside them. */
  haCidrs: string[];
  priority?: number;
  /** `ha_vrrp_advert_int` (s). */
  advertInt?: number;
  /** VRRPv3 (our extension for sub-second advertisements); absent: keepalived's default, VRRPv2, as Neutron runs it. */
  version?: 3;
  nopreempt?: boolean;
  garpPrimaryDelay?: number;
  mcastSrcIp?: string;
  /** `ha_vrrp_auth_type` and `ha_vrrp_auth_password` (both, or neither). */
  auth?: { type: 'AH' | 'PASS'; password: string };
  trackInterfaces: string[];
  vips: KeepalivedVip[];
  /** gateway_routes, extra_routes and extra_subnets, in that order. */
  routes: KeepalivedRoute[];
  /** `ha_vrrp_health_check_interval` (s) when above 0: the instance's KeepalivedTrackScript. */
  healthCheckInterval?: number;
}

/**
 * get_free_range: the first /24 of 169.254.0.0/16 outside the metadata address, the DVR range
 * and the HA network's subnets. Throws as Neutron does when there is none.
 */
export function freeRange(parent: string, excluded: string[], size = PRIMARY_VIP_RANGE_SIZE): string {
  const p = parseCidr(parent);
  if (p?.version !== 4) throw new Error(`invalid range ${parent}`);
  const notFound = new Error(`Network of size ${size}, from IP range ${parent} excluding IP ranges ${excluded.join(', ')} was not found.`);
  if (size < p.prefix) throw notFound;
  const ex = excluded.map((c) => parseCidr(c)).filter((c): c is Cidr => c !== null && c.version === 4);
  const block = 2n ** BigInt(32 - size);
  const start = p.network;
  const end = p.network + 2n ** BigInt(32 - p.prefix);
  for (let net = start; net < end; net += block) {
    const last = net + block - 1n;
    const clash = ex.some((e) => {
      const eEnd = e.network + 2n ** BigInt(32 - e.prefix) - 1n;
      return e.network <= last && eEnd >= net;
    });
    if (!clash) return `${v4(net)}/${size}`;
  }
  throw notFound;
}

const v4 = (n: bigint): string => [24n, 16n, 8n, 0n].map((s) => String((n >> s) & 255n)).join('.');

/** get_primary_vip: the range's network plus the VRID, /24 — the same on every agent of the router. */
export function primaryVip(vrid: number, haCidrs: string[]): string {
  const range = freeRange(PRIVATE_CIDR_RANGE, [...EXCLUDED_RANGES, ...haCidrs]);
  const net = parseCidr(range)!;
  return `${v4(net.network + BigInt(vrid))}/${PRIMARY_VIP_RANGE_SIZE}`;
}

function vipLine(v: KeepalivedVip, noTrack: boolean): string {
  let out = `${v.cidr} dev ${v.dev}`;
  if (v.scope) out += ` scope ${v.scope}`;
  if (v.track === false && noTrack) out += ' no_track';
  return out;
}

function routeLine(r: KeepalivedRoute, noTrack: boolean): string {
  let out = r.destination;
  if (r.nexthop) out += ` via ${r.nexthop}`;
  if (r.dev) out += ` dev ${r.dev}`;
  if (r.scope) out += ` scope ${r.scope}`;
  if (noTrack) out += ' no_track';
  return `${out} protocol static`;
}

/** KeepalivedTrackScript._get_script_location: `<conf dir>/ha_check_script_<VRID>.sh`. */
export function checkScriptPath(confDir: string, vrid: number): string {
  return `${confDir}/ha_check_script_${vrid}.sh`;
}

const gatewayRoutes = (i: KeepalivedInstanceSpec) => i.routes.filter((r) => r.gateway);

/**
 * KeepalivedTrackScript._get_script_str: exit 0 where this router does not hold its first VIP
 * (a backup is healthy), else ping each gateway route's next hop once (ping6 for IPv6), failing
 * on the first that does not answer within a second. Null where the instance has no gateway
 * route (_is_needed: no script is written, and no track_script rendered).
 */
export function renderCheckScript(i: KeepalivedInstanceSpec): string | null {
  const routes = gatewayRoutes(i);
  if (!i.healthCheckInterval || !routes.length) return null;
  const first = i.vips[0]?.cidr.split('/')[0];
  const lines = ['#!/bin/bash -eu', first ? `ip a | grep ${first} || exit 0` : ''];
  for (const r of routes) if (r.nexthop) lines.push(`${r.nexthop.includes(':') ? 'ping6' : 'ping'} -c 1 -w 1 ${r.nexthop} 1>/dev/null || exit 1`);
  return lines.join('\n');
}

/** KeepalivedInstance.build_config. `noTrack`: the keepalived knows `no_track` (2.0.3 and later). */
function instanceLines(i: KeepalivedInstanceSpec, noTrack: boolean, confDir: string): string[] {
  // KeepalivedTrackScript.build_config_preamble, before the instance whenever health checks are on.
  const preamble = i.healthCheckInterval
    ? [
        '',
        `vrrp_script ${HEALTH_CHECK_NAME}_${i.vrid} {`,
        `    script "${checkScriptPath(confDir, i.vrid)}"`,
        `    interval ${i.healthCheckInterval}`,
        '    fall 2',
        '    rise 2',
        '}',
        '',
      ]
    : [];
  const out = [
    ...preamble,
    `vrrp_instance VR_${i.vrid} {`,
    `    state ${i.state}`,
    `    interface ${i.interface}`,
    `    virtual_router_id ${i.vrid}`,
    `    priority ${i.priority ?? HA_DEFAULT_PRIORITY}`,
    `    garp_master_delay ${i.garpPrimaryDelay ?? GARP_PRIMARY_DELAY}`,
  ];
  if (i.nopreempt) out.push('    nopreempt');
  if (i.advertInt) out.push(`    advert_int ${i.advertInt}`);
  if (i.version) out.push(`    version ${i.version}`);
  if (i.auth) out.push('    authentication {', `        auth_type ${i.auth.type}`, `        auth_pass ${i.auth.password}`, '    }');
  if (i.mcastSrcIp) out.push(`    mcast_src_ip ${i.mcastSrcIp}`);
  if (i.trackInterfaces.length) out.push('    track_interface {', ...i.trackInterfaces.map((t) => `        ${t}`), '    }');
  out.push('    virtual_ipaddress {', `        ${vipLine({ cidr: primaryVip(i.vrid, i.haCidrs), dev: i.interface }, noTrack)}`, '    }');
  if (i.vips.length) {
    // Sorted by address text, as Neutron sorts them (sorted(key=ip_address)).
    const sorted = [...i.vips].sort((a, b) => (a.cidr < b.cidr ? -1 : a.cidr > b.cidr ? 1 : 0));
    out.push('    virtual_ipaddress_excluded {', ...sorted.map((v) => `        ${vipLine(v, noTrack)}`), '    }');
  }
  if (i.routes.length) out.push('    virtual_routes {', ...i.routes.map((r) => `        ${routeLine(r, noTrack)}`), '    }');
  // KeepalivedTrackScript.build_config: only where there is a gateway route to check.
  if (i.healthCheckInterval && gatewayRoutes(i).length) out.push('    track_script {', `        ${HEALTH_CHECK_NAME}_${i.vrid}`, '    }');
  out.push('}');
  return out;
}

/**
 * KeepalivedConf.get_config_str: global_defs, then each instance. `confDir`: the router's
 * directory (KeepalivedManager.get_conf_dir), where its health check script is.
 */
export function renderKeepalivedConf(instances: KeepalivedInstanceSpec[], noTrack = true, confDir = ''): string {
  const lines = ['global_defs {', '    notification_email_from neutron@openstack.local', '    router_id neutron', '}'];
  for (const i of instances) lines.push(...instanceLines(i, noTrack, confDir));
  return lines.join('\n');
}
