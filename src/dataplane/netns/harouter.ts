/**
 * An HA router on a host, as neutron/agent/l3/ha_router.py builds it on every agent that hosts
 * it: the same namespace with the same legs (same MACs) everywhere, plus the router's `ha-`
 * device on its HA network carrying the HA port's own address; the legs' addresses, the floating
 * IPs and the routes are not configured by the agent but given to keepalived
 * (virtual_ipaddress_excluded, virtual_routes), so only the VRRP master holds them. Pure: a
 * router's desired namespace as desired.ts builds it in, the same namespace with its addresses
 * and routes moved into its keepalived instance out.
 */
import { parseIp } from '../../util/ip.js';
import { type KeepalivedRoute, type KeepalivedVip, primaryVip } from './keepalivedconf.js';
import type { DesiredNs, DesiredRoute, VrrpSpec } from './model.js';
import type { Owner } from './owners.js';

/** The L3 agent's `ha_vrrp_advert_int` and `ha_vrrp_auth_type` / `ha_vrrp_auth_password`. */
export interface VrrpOptions {
  /** Seconds between VRRP advertisements (Neutron's default 2; fractions with VRRPv3 only). */
  advertInt: number;
  auth?: { type: 'AH' | 'PASS'; password: string };
  /**
   * The VRRP version keepalived speaks: 2 (Neutron's: it renders none, and keepalived's default
   * is 2) or 3, an extension of ours (POCKETSTACK_HA_VRRP_VERSION) for sub-second advertisements
   * — VRRPv3 (RFC 5798) counts the interval in centiseconds, so the master-down interval (3
   * advertisements plus skew) can be well under Neutron's minimum of 3.8 s.
   */
  version?: 2 | 3;
  /** `ha_vrrp_health_check_interval` (s, Neutron's default 0: no health check). */
  healthCheckInterval?: number;
}

/**
 * The agent refuses options keepalived would not take as given: an advertisement interval outside
 * 1..255 whole seconds (VRRPv2's field) or, with VRRPv3, outside 0.01..40.95 s in centiseconds
 * (its 12-bit field), authentication with VRRPv3 (RFC 5798 removed it; keepalived ignores it),
 * or a password keepalived.conf cannot carry as one word (it goes into the file, which root's
 * keepalived reads: no spaces, quotes, braces or line breaks), or PASS's longer than its 8.
 */
export function checkVrrpOptions(opts: VrrpOptions): void {
  const version = opts.version ?? 2;
  if (version !== 2 && version !== 3) throw new Error(`ha_vrrp_version ${version} is not valid: it must be 2 or 3.`);
  if (version === 2 && (!Number.isInteger(opts.advertInt) || opts.advertInt < 1 || opts.advertInt > 255)) {
    throw new Error(`ha_vrrp_advert_int ${opts.advertInt} is not valid: it must be a whole number of seconds from 1 to 255.`);
  }
  const cs = opts.advertInt * 100;
  if (version === 3 && (!Number.isFinite(cs) || Math.abs(cs - Math.round(cs)) > 1e-6 || cs < 1 || cs > 4095)) {
    throw new Error(`ha_vrrp_advert_int ${opts.advertInt} is not valid with VRRP version 3: it must be from 0.01 to 40.95 seconds, in hundredths.`);
  }
  const hc = opts.healthCheckInterval ?? 0;
  if (!Number.isInteger(hc) || hc < 0) throw new Error(`ha_vrrp_health_check_interval ${hc} is not valid: it must be a whole number of seconds, 0 or more.`);
  if (version === 3 && opts.auth) throw new Error('ha_vrrp_auth_password is not valid with VRRP version 3, which has no authentication.');
  const pw = opts.auth?.password;
  if (pw !== undefined && (!/^[!#-z|~]+$/.test(pw) || (opts.auth?.type === 'PASS' && pw.length > 8))) {
    throw new Error('ha_vrrp_auth_password is not valid: printable characters without spaces, quotes or braces, at most 8 for PASS.');
  }
}

/**
 * KeepalivedVirtualRoute per route: a default route on-link to a gateway outside its subnet gets
 * the gateway's link-scope route first, as _add_default_gw_virtual_route writes it.
 */
export function virtualRoutes(routes: readonly DesiredRoute[]): KeepalivedRoute[] {
  const out: KeepalivedRoute[] = [];
  for (const r of routes) {
    const family = parseIp(r.via)?.version ?? 4;
    const destination = r.dst === 'default' ? (family === 4 ? '0.0.0.0/0' : '::/0') : r.dst;
    // The gateway's default route is the one with the gateway leg as device (an extra route to
    // 0.0.0.0/0 has none): gateway_routes, which the health check pings.
    const gateway = r.dst === 'default' && !!r.dev;
    if (r.onlink && r.dev) out.push({ destination: r.via, nexthop: null, dev: r.dev, scope: 'link', ...(gateway ? { gateway } : {}) });
    out.push({ destination, nexthop: r.via, ...(r.dev ? { dev: r.dev } : {}), ...(gateway ? { gateway } : {}) });
  }
  return out;
}

/** ip_lib.get_ipv6_lladdr: the EUI-64 link-local address of a MAC. */
export function ipv6LinkLocal(mac: string): string {
  const b = mac.split(':').map((x) => Number.parseInt(x, 16));
  const words = [((b[0] ^ 2) << 8) | b[1], (b[2] << 8) | 0xff, 0xfe00 | b[3], (b[4] << 8) | b[5]];
  return `fe80::${words.map((w) => w.toString(16)).join(':')}`;
}

/**
 * Make `ns` (a router namespace, its HA port already wired as `haIf` with its address) an HA
 * router's: every address on another leg than `lo` and `haIf` becomes a VIP, every route a
 * virtual route. The instance is BACKUP with `nopreempt` at the default priority on every agent
 * (_init_keepalived_manager), tracking its `ha-` device.
 */
export function makeHaRouter(ns: DesiredNs, routerId: string, vrid: number, haIf: string, haCidrs: string[], opts: VrrpOptions, owner: Owner): VrrpSpec {
  const vips: KeepalivedVip[] = [];
  const kept = [];
  for (const a of ns.addrs) {
    if (a.dev === 'lo' || a.dev === haIf) kept.push(a);
    // add_vip: tracked only on a tracked interface (the ha- device alone is).
    else vips.push({ cidr: a.cidr, dev: a.dev, track: false });
  }
  ns.addrs = kept;
  // _disable_ipv6_addressing_on_interface: a leg's IPv6 link-local address is a VIP too, so a
  // backup's legs (the master's MACs) stay silent — no neighbour discovery or MLD from a backup
  // to teach the switches that the router's MAC lives on its host. The namespace's devices get
  // no address of their own (addr_gen_mode none) and the master holds each leg's EUI-64 one.
  ns.sysctls = [...ns.sysctls, ['net.ipv6.conf.default.addr_gen_mode', '1']];
  for (const l of ns.links) {
    if (l.kind === 'loopback' || l.name === haIf || !l.mac) continue;
    vips.push({ cidr: `${ipv6LinkLocal(l.mac)}/64`, dev: l.name, scope: 'link', track: false });
  }
  const routes = virtualRoutes(ns.routes);
  ns.routes = [];
  const spec: VrrpSpec = {
    routerId,
    haIf,
    primaryVip: primaryVip(vrid, haCidrs),
    instance: {
      state: 'BACKUP',
      interface: haIf,
      vrid,
      haCidrs,
      nopreempt: true,
      advertInt: opts.advertInt,
      ...(opts.version === 3 ? { version: 3 as const } : {}),
      ...(opts.healthCheckInterval ? { healthCheckInterval: opts.healthCheckInterval } : {}),
      ...(opts.auth ? { auth: opts.auth } : {}),
      trackInterfaces: [haIf],
      vips,
      routes,
    },
    owner,
  };
  ns.vrrp = spec;
  return spec;
}
