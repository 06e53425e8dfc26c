import { IP_PROTOCOLS } from '../../core/network/securitygroups.js';
import { cidrToString, eui64, ipToString, parseCidr, parseMac } from '../../util/ip.js';
import type { FilterTables, PortRec, RuleRec, SecurityGroupRec } from './model.js';
import { type Names, SG_CHAIN } from './names.js';
import { ownerKey } from './owners.js';
import { type PortLogging, SG_LOG_LIMIT, SG_LOG_NFLOG_GROUP, sgLogPrefix } from './sglog.js';

/**
 * Security groups as Neutron's iptables_hybrid driver enforces them, in the switch namespace:
 * br_netfilter hands bridged packets to iptables, `-m physdev` picks the port, conntrack makes
 * it stateful. Per port: an ingress chain (packets to the port), an egress chain (from it) and
 * an anti-spoofing chain; per group one chain per direction holding the group's rules. A group
 * rule that matches sets mark bit 0x1 (so several groups on one port OR together); the port chain
 * returns (accepts) when the bit is set and drops otherwise.
 *
 * Everything is rendered exactly as `iptables-save` prints it, so the reconciler can compare
 * chains with what the kernel holds and rewrite only the ones that differ.
 */

export interface FilterInput {
  /** Wired ports whose traffic is filtered (port security on, not a network:* port). */
  filtered: PortRec[];
  /** All ports, for remote-group membership. */
  allPorts: PortRec[];
  groups: Map<string, SecurityGroupRec>;
  /** Conntrack zone per network (overlapping tenant CIDRs stay apart). */
  zones: Map<string, number>;
  /** Bridge name per network with wired ports (raw table zone rules). */
  bridges: Map<string, string>;
  /** number → name as iptables-save prints protocols (/etc/protocols). */
  protocolNames: Map<number, string>;
  /** Ports whose events security-group logs name (sglog.ts). */
  logging?: Map<string, PortLogging>;
}

const MARK_SET = '-j MARK --set-xmark 0x1/0x1';
const MARK_CLEAR = '-j MARK --set-xmark 0x0/0x1';
const MARKED = '-m mark --mark 0x1/0x1 -j RETURN';
const ESTABLISHED = '-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN';
const INVALID = '-m conntrack --ctstate INVALID -j DROP';
/** ICMPv6 a port must always receive: MLD query/report/done, neighbour solicitation/advertisement. */
const ICMP6_ALWAYS_IN = [130, 131, 132, 135, 136];

type Family = 4 | 6;

/** Protocol number of a rule, or null for "any". */
export function protocolNumber(p: string | null): number | null {
  if (p === null || p === '' || p === 'any') return null;
  const n = /^\d+$/.test(p) ? Number(p) : IP_PROTOCOLS[p];
  if (n === undefined) throw new Error(`unknown protocol ${p}`);
  return n === 0 ? null : n;
}

/** Parse /etc/protocols into number → first name (what iptables-save prints). */
export function parseProtocols(text: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const line of text.split('\n')) {
    const [name, num] = line.replace(/#.*/, '').trim().split(/\s+/);
    if (!name || num === undefined || !/^\d+$/.test(num)) continue;
    if (!out.has(Number(num))) out.set(Number(num), name);
  }
  return out;
}

function protoArg(num: number, family: Family, names: Map<number, string>): string {
  // iptables prints its built-in names for these whatever /etc/protocols says.
  const builtin: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'ipv6-icmp', 132: 'sctp', 136: 'udplite', 50: 'esp', 51: 'ah' };
  if (family === 6 && num === 1) num = 58;
  return `-p ${builtin[num] ?? names.get(num) ?? String(num)}`;
}

function range(min: number | null, max: number | null): string {
  const lo = min ?? max;
  const hi = max ?? min;
  return lo === hi ? String(lo) : `${lo}:${hi}`;
}

/** The match part of a rule (protocol, ports, ICMP type/code), after any address. */
export function ruleMatch(r: RuleRec, family: Family, names: Map<number, string>): string {
  const num = protocolNumber(r.protocol);
  if (num === null) return '';
  const parts = [protoArg(num, family, names)];
  const icmp = num === 1 || num === 58;
  if (icmp) {
    if (r.portMin !== null) {
      const typeCode = r.portMax !== null ? `${r.portMin}/${r.portMax}` : `${r.portMin}`;
      parts.push(family === 4 ? `-m icmp --icmp-type ${typeCode}` : `-m icmp6 --icmpv6-type ${typeCode}`);
    }
  } else if (r.portMin !== null || r.portMax !== null) {
    const mod: Record<number, string> = { 6: 'tcp', 17: 'udp', 132: 'sctp', 33: 'dccp' };
    parts.push(mod[num] ? `-m ${mod[num]} --dport ${range(r.portMin, r.portMax)}` : `-m multiport --dports ${range(r.portMin, r.portMax)}`);
  }
  return parts.join(' ');
}

/** `-s`/`-d` value as iptables-save prints it (network address, prefix always given). */
function addrArg(cidrOrIp: string, family: Family): string | null {
  const c = parseCidr(cidrOrIp.includes('/') ? cidrOrIp : `${cidrOrIp}/${family === 4 ? 32 : 128}`);
  if (!c || c.version !== family) return null;
  if (c.prefix === 0) return '';
  return cidrToString(c);
}

const join = (...parts: string[]) => parts.filter((p) => p !== '').join(' ');

/** Addresses (as /32 or /128 or pair CIDRs) a port may use, of one family. */
function portAddresses(p: PortRec, family: Family): string[] {
  const out: string[] = [];
  for (const f of p.fixedIps) {
    const a = addrArg(f.ipAddress, family);
    if (a) out.push(a);
  }
  for (const pair of p.allowedAddressPairs) {
    const a = addrArg(pair.ipAddress, family);
    if (a !== null) out.push(a === '' ? (family === 4 ? '0.0.0.0/0' : '::/0') : a);
  }
  return [...new Set(out)];
}

function groupChains(
  g: SecurityGroupRec,
  family: Family,
  names: Names,
  members: Map<string, string[]>,
  protocolNames: Map<number, string>,
): Array<[string, string[]]> {
  const out: Array<[string, string[]]> = [];
  for (const direction of ['ingress', 'egress'] as const) {
    const lines: string[] = [];
    for (const r of g.rules) {
      if (r.direction !== direction || r.ethertype !== `IPv${family}`) continue;
      const match = ruleMatch(r, family, protocolNames);
      const flag = direction === 'ingress' ? '-s' : '-d';
      if (r.remoteGroupId) {
        for (const a of members.get(r.remoteGroupId) ?? []) {
          const arg = addrArg(a, family);
          if (arg === null) continue;
          lines.push(join(arg ? `${flag} ${arg}` : '', match, MARK_SET));
        }
      } else if (r.remoteIpPrefix) {
        const arg = addrArg(r.remoteIpPrefix, family);
        if (arg === null) continue;
        lines.push(join(arg ? `${flag} ${arg}` : '', match, MARK_SET));
      } else {
        lines.push(join(match, MARK_SET));
      }
    }
    out.push([names.groupChain(g.id, direction), [...new Set(lines)]]);
  }
  return out;
}

function spoofChain(p: PortRec, family: Family): string[] {
  const lines: string[] = [];
  const pairs: Array<[string, string]> = [];
  for (const f of p.fixedIps) pairs.push([f.ipAddress, p.mac]);
  for (const pair of p.allowedAddressPairs) pairs.push([pair.ipAddress, pair.macAddress]);
  if (family === 6) {
    // The link-local address the kernel derives from each MAC (neighbour discovery needs it).
    for (const mac of new Set([p.mac, ...p.allowedAddressPairs.map((x) => x.macAddress)])) {
      if (parseMac(mac)) pairs.push([ipToString(eui64(parseCidr('fe80::/64')!, mac)), mac]);
    }
  }
  for (const [ip, mac] of pairs) {
    const arg = addrArg(ip, family);
    const m = parseMac(mac);
    // Only parsed values reach a rule: nothing from the API is copied into iptables input.
    if (arg === null || m === null) continue;
    lines.push(join(arg ? `-s ${arg}` : '', `-m mac --mac-source ${m}`, '-j RETURN'));
  }
  lines.push('-j DROP');
  return [...new Set(lines)];
}

/**
 * DHCP answers a port always receives (Neutron's _add_ingress_dhcp_rule): from the DHCP server's
 * port to its own addresses and to broadcast (IPv4), or to its addresses and link-local (IPv6).
 */
function dhcpReplies(p: PortRec, family: Family): string[] {
  const dests = p.fixedIps.map((f) => addrArg(f.ipAddress, family)).filter((a): a is string => !!a);
  dests.push(family === 4 ? '255.255.255.255/32' : 'fe80::/64');
  const ports = family === 4 ? '--sport 67 --dport 68' : '--sport 547 --dport 546';
  return [...new Set(dests)].map((d) => `-d ${d} -p udp -m udp ${ports} -j RETURN`);
}

const nflog = (event: 'ACCEPT' | 'DROP', portId: string) =>
  `${SG_LOG_LIMIT} -j NFLOG --nflog-prefix "${sgLogPrefix(event, portId)}" --nflog-group ${SG_LOG_NFLOG_GROUP}`;

/**
 * The end of a port chain: its groups' chains, then return when one matched, else drop. With
 * security-group logging (Neutron's OVS log driver's flows, as iptables): the groups whose
 * accepts are logged come first, each followed by an NFLOG of a new connection it just admitted
 * (ct_state +new-est, as _log_accept_flow) and its return, so an accept by a group the log does
 * not name is never logged; what no group admits is logged before the drop.
 */
function verdict(portId: string, groups: string[], dir: 'ingress' | 'egress', names: Names, log: PortLogging | undefined): string[] {
  const jump = (g: string) => `-j ${names.groupChain(g, dir)}`;
  if (!log) return [MARK_CLEAR, ...groups.map(jump), MARKED, '-j DROP'];
  const logged = groups.filter((g) => log.accept?.groups.has(g));
  const out = [MARK_CLEAR];
  for (const g of logged) out.push(jump(g), `-m mark --mark 0x1/0x1 -m conntrack --ctstate NEW ${nflog('ACCEPT', portId)}`, MARKED);
  const rest = groups.filter((g) => !logged.includes(g));
  if (rest.length || !logged.length) out.push(...rest.map(jump), MARKED);
  if (log.drop) out.push(nflog('DROP', portId));
  out.push('-j DROP');
  return out;
}

function familyTables(input: FilterInput, family: Family, names: Names, out: FilterTables): void {
  const filter = new Map<string, string[]>();
  const raw = new Map<string, string[]>();
  const tables = family === 4 ? out.v4 : out.v6;
  tables.filter = filter;
  tables.raw = raw;

  // Remote-group members: every port of the group (with port security), fixed IPs and pairs.
  const members = new Map<string, string[]>();
  for (const p of input.allPorts) {
    if (!p.portSecurity) continue;
    for (const g of p.securityGroups) {
      const list = members.get(g) ?? [];
      list.push(...portAddresses(p, family));
      members.set(g, list);
    }
  }
  for (const [g, list] of members) members.set(g, [...new Set(list)].sort());

  const used = new Set<string>();
  const sg: string[] = [];
  for (const p of input.filtered) {
    const tap = names.tap(p.id);
    const inChain = names.portIngressChain(p.id);
    const outChain = names.portEgressChain(p.id);
    const spoof = names.portSpoofChain(p.id);
    sg.push(`-m physdev --physdev-out ${tap} --physdev-is-bridged -j ${inChain}`);
    sg.push(`-m physdev --physdev-in ${tap} --physdev-is-bridged -j ${outChain}`);
    const groups = p.securityGroups.filter((g) => input.groups.has(g)).sort();
    const stateful = groups.length === 0 || groups.every((g) => input.groups.get(g)!.stateful);
    for (const g of groups) used.add(g);

    const ingress: string[] = [];
    if (stateful) ingress.push(ESTABLISHED);
    if (family === 6) for (const t of ICMP6_ALWAYS_IN) ingress.push(`-p ipv6-icmp -m icmp6 --icmpv6-type ${t} -j RETURN`);
    ingress.push(...dhcpReplies(p, family));
    if (stateful) ingress.push(INVALID);
    ingress.push(...verdict(p.id, groups, 'ingress', names, input.logging?.get(p.id)));

    const egress: string[] = [];
    // A DHCP client asks before it has an address (Neutron's _spoofing_rule).
    if (family === 4) egress.push('-s 0.0.0.0/32 -d 255.255.255.255/32 -p udp -m udp --sport 68 --dport 67 -j RETURN');
    if (family === 6) egress.push('-s ::/128 -d ff02::/16 -p ipv6-icmp -j RETURN');
    egress.push(`-j ${spoof}`);
    if (family === 4) egress.push('-p udp -m udp --sport 68 --dport 67 -j RETURN', '-p udp -m udp --sport 67 --dport 68 -j DROP');
    else {
      egress.push('-p ipv6-icmp -m icmp6 --icmpv6-type 134 -j DROP', '-p ipv6-icmp -j RETURN');
      egress.push('-p udp -m udp --sport 546 --dport 547 -j RETURN', '-p udp -m udp --sport 547 --dport 546 -j DROP');
    }
    if (stateful) egress.push(ESTABLISHED, INVALID);
    egress.push(...verdict(p.id, groups, 'egress', names, input.logging?.get(p.id)));

    filter.set(inChain, ingress);
    filter.set(outChain, egress);
    filter.set(spoof, spoofChain(p, family));
    for (const c of [inChain, outChain, spoof]) out.chainOwner.set(c, ownerKey.port(p.id));
  }
  sg.push('-j ACCEPT');
  filter.set('FORWARD', [`-j ${SG_CHAIN}`]);
  filter.set(SG_CHAIN, sg);
  for (const g of [...used].sort()) {
    for (const [chain, lines] of groupChains(input.groups.get(g)!, family, names, members, input.protocolNames)) filter.set(chain, lines);
  }

  // One conntrack zone per network: identical tuples on two tenant networks never mix.
  const pre: string[] = [];
  for (const [net, bridge] of [...input.bridges].sort(([a], [b]) => a.localeCompare(b))) {
    const zone = input.zones.get(net);
    if (zone !== undefined) pre.push(`-i ${bridge} -j CT --zone ${zone}`);
  }
  raw.set('PREROUTING', pre);

  // What each port currently admits: a rule that disappears must also cut its connections.
  for (const p of input.filtered) {
    const rules = new Set<string>();
    for (const g of p.securityGroups) {
      const grp = input.groups.get(g);
      if (!grp) continue;
      for (const dir of ['ingress', 'egress'] as const) {
        for (const line of filter.get(names.groupChain(g, dir)) ?? []) rules.add(`${family}/${dir}/${line}`);
      }
    }
    const entry = out.portRuleSets.get(p.id) ?? { zone: input.zones.get(p.networkId) ?? 0, ips: [], rules: new Set<string>() };
    for (const r of rules) entry.rules.add(r);
    for (const f of p.fixedIps) if (!entry.ips.includes(f.ipAddress)) entry.ips.push(f.ipAddress);
    out.portRuleSets.set(p.id, entry);
  }
}

export function renderFilter(input: FilterInput, names: Names): FilterTables {
  const out: FilterTables = {
    v4: { filter: new Map(), raw: new Map() },
    v6: { filter: new Map(), raw: new Map() },
    chainOwner: new Map(),
    portRuleSets: new Map(),
  };
  familyTables(input, 4, names, out);
  familyTables(input, 6, names, out);
  return out;
}

/**
 * Conntrack zones: a network's segmentation id when it is free and below 60000 (stable across
 * restarts), otherwise the lowest free zone from 60000 up, in network-id order.
 */
export function assignZones(networks: Array<{ id: string; segmentationId: number | null }>): Map<string, number> {
  const zones = new Map<string, number>();
  const taken = new Set<number>();
  const rest: string[] = [];
  for (const n of [...networks].sort((a, b) => a.id.localeCompare(b.id))) {
    const s = n.segmentationId;
    if (s !== null && s >= 1 && s < 60000 && !taken.has(s)) {
      zones.set(n.id, s);
      taken.add(s);
    } else rest.push(n.id);
  }
  let next = 60000;
  for (const id of rest) {
    while (taken.has(next)) next++;
    zones.set(id, next);
    taken.add(next++);
  }
  return zones;
}
