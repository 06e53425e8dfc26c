import { createHash } from 'node:crypto';
import type { ScopeWall } from './model.js';

/**
 * Address scopes as a wall inside a router, as Neutron's L3 agent builds it (router_info.py,
 * `_initialize_address_scope_iptables`, `_add_address_scope_mark`,
 * `process_external_port_address_scope_routing`, `process_floating_ip_address_scope_rules`):
 *
 *   mangle PREROUTING  a packet takes the scope mark of the leg it enters by (chain `scope`,
 *                      `-i <dev> -j MARK --set-xmark <mark>/0xffff0000`, per family); a
 *                      connection that saved a scope restores it (`CONNMARK --restore-mark`);
 *                      a packet for a floating IP whose fixed address is in another scope than
 *                      the gateway's takes the fixed address's scope (chain `floatingip`).
 *   mangle FORWARD     from such a fixed address: the connection saves its scope if it has none,
 *                      and leaving by a leg of the gateway's scope it takes that scope
 *                      (chain `float-snat`).
 *   mangle POSTROUTING with SNAT, a new connection leaving by the gateway saves its scope, so
 *                      the replies go back into the scope they came from.
 *   filter FORWARD     leaving by a leg whose scope is not the packet's: dropped (chain `scope`,
 *                      `-o <dev> -m mark ! --mark <mark> -j DROP`); for IPv4 with SNAT the
 *                      gateway leg is exempt (SNAT is the way between scopes there).
 *
 * Subnets without a scope are one scope of their own ("noscope"). A leg's scope per family is its
 * subnets' (Neutron keeps every subnet of a network and family in one pool, so in one scope).
 * Marks live in the upper 16 bits of the packet and connection marks, as the agent's do; nothing
 * else marks packets in a router's namespace.
 *
 * Here the rules are loaded only when the router's legs are in more than one scope of a family:
 * with one scope per family every packet carries the mark of every leg, and the agent's rules
 * drop nothing (the NAT table's same-scope exception covers the gateway; see nat.ts).
 */

/** One leg of a router in one family, with its scope (null: none). */
export interface ScopeLeg {
  dev: string;
  family: 4 | 6;
  scope: string | null;
}

/** What the wall needs: every leg, the gateway leg and SNAT, and the router's IPv4 floating IPs. */
export interface ScopeInput {
  legs: ScopeLeg[];
  gateway: { dev: string; enableSnat: boolean } | null;
  fips: Array<{ floating: string; fixed: string; fixedScope: string | null }>;
}

/** Mark ids the agent draws from (ADDRESS_SCOPE_MARK_ID_MIN/MAX); the first is "noscope"'s. */
const MARK_ID_MIN = 1024;
const MARK_ID_SPAN = 1024;
const NOSCOPE = '';

/**
 * Each scope's mark id. The agent hands ids out in the order it meets scopes and keeps them for
 * its lifetime; a pure planner cannot remember, so the id comes from the scope's id (stable as
 * scopes come and go, so saved connection marks stay meaningful), probing on the rare clash.
 */
function markIds(scopes: Iterable<string>): Map<string, number> {
  const out = new Map<string, number>([[NOSCOPE, MARK_ID_MIN]]);
  const used = new Set<number>([MARK_ID_MIN]);
  for (const scope of [...new Set(scopes)].filter((x) => x !== NOSCOPE).sort()) {
    let id = MARK_ID_MIN + 1 + (createHash('sha256').update(scope).digest().readUInt32BE(0) % (MARK_ID_SPAN - 1));
    while (used.has(id)) id = id + 1 < MARK_ID_MIN + MARK_ID_SPAN ? id + 1 : MARK_ID_MIN + 1;
    used.add(id);
    out.set(scope, id);
  }
  return out;
}

/** Whether a router's legs are in more than one scope of a family (else it needs no wall). */
export const dividedByScope = (legs: ScopeLeg[]): boolean =>
  ([4, 6] as const).some((family) => new Set(legs.filter((l) => l.family === family).map((l) => l.scope ?? NOSCOPE)).size > 1);

/** The wall for a router, or null when its legs are in one scope per family (nothing to drop). */
export function scopeWall(input: ScopeInput): ScopeWall | null {
  if (!dividedByScope(input.legs)) return null;
  const ids = markIds([...input.legs.map((l) => l.scope ?? NOSCOPE), ...input.fips.map((f) => f.fixedScope ?? NOSCOPE)]);
  const mark = (scope: string | null) => ids.get(scope ?? NOSCOPE)! << 16;
  const gw = input.gateway;
  const extScope = (gw && input.legs.find((l) => l.dev === gw.dev && l.family === 4)?.scope) ?? null;
  const legs = input.legs.map((l) => ({
    dev: l.dev,
    family: l.family,
    mark: mark(l.scope),
    checked: !(l.family === 4 && gw?.enableSnat && l.dev === gw.dev),
  }));
  const extMark = mark(extScope);
  return {
    legs,
    saveOn: gw?.enableSnat ? gw.dev : null,
    fips: gw
      ? input.fips.filter((f) => (f.fixedScope ?? null) !== extScope).map((f) => ({ floating: f.floating, fixed: f.fixed, mark: mark(f.fixedScope) }))
      : [],
    external: { mark: extMark, legs: legs.filter((l) => l.family === 4 && l.mark === extMark).map((l) => l.dev) },
  };
}

const hex = (mark: number) => `0x${mark.toString(16).padStart(8, '0')}`;
const nfproto = (family: 4 | 6) => (family === 4 ? 'ipv4' : 'ipv6');
/** `--set-xmark <mark>/0xffff0000`: the scope bits replaced, the rest kept. */
const setMark = (mark: number) => `meta mark set meta mark & 0x0000ffff | ${hex(mark)}`;
/** `-m connmark --mark 0x0/0xffff0000 -j CONNMARK --save-mark --nfmask 0xffff0000 --ctmask 0xffff0000`. */
const SAVE = 'ct mark & 0xffff0000 == 0 ct mark set meta mark & 0xffff0000';

/** The chains of the wall, for the router's L3 table (l3ext.ts), each a list of rules. */
export function scopeChains(wall: ScopeWall): Array<{ name: string; hook: string; rules: string[] }> {
  const ifname = (dev: string) => JSON.stringify(dev);
  const mark = [
    ...wall.legs.map((l) => `iifname ${ifname(l.dev)} meta nfproto ${nfproto(l.family)} ${setMark(l.mark)}`),
    // `-m connmark ! --mark 0x0/0xffff0000 -j CONNMARK --restore-mark`: after the leg's mark, before
    // the floating IPs' (which must win to cross scopes).
    'ct mark & 0xffff0000 != 0 meta mark set ct mark & 0xffff0000',
    ...wall.fips.map((f) => `ip daddr ${f.floating} ${setMark(f.mark)}`),
  ];
  const float = wall.fips.length
    ? wall.fips.flatMap((f) => [
        `ip saddr ${f.fixed} ${SAVE}`,
        ...(wall.external.legs.length ? [`ip saddr ${f.fixed} oifname { ${wall.external.legs.map(ifname).join(', ')} } ${setMark(wall.external.mark)}`] : []),
      ])
    : [];
  const save = wall.saveOn ? [`oifname ${ifname(wall.saveOn)} meta nfproto ipv4 ${SAVE}`] : [];
  const check = wall.legs
    .filter((l) => l.checked)
    .map((l) => `oifname ${ifname(l.dev)} meta nfproto ${nfproto(l.family)} meta mark & 0xffff0000 != ${hex(l.mark)} drop`);
  return [
    { name: 'scope_mark', hook: 'prerouting priority mangle', rules: mark },
    { name: 'scope_float', hook: 'forward priority mangle', rules: float },
    { name: 'scope_save', hook: 'postrouting priority mangle', rules: save },
    { name: 'scope', hook: 'forward priority filter', rules: check },
  ].filter((c) => c.rules.length > 0);
}
