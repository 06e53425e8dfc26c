/**
 * Neutron's DHCP agent's dnsmasq (neutron/agent/linux/dhcp.py, Zed), as data: the command line,
 * the hosts file (a static lease per port's MAC and address), the additional hosts file (names
 * for DNS) and the options file (router, classless routes with the metadata route, DNS servers,
 * each port's extra_dhcp_opts), from the network's subnets and ports. Pure; dhcp/servers.ts
 * writes the files and runs the process in the network's DHCP namespace.
 *
 * Configuration mirrored: DevStack's DHCP agent (`enable_isolated_metadata = True`,
 * `force_metadata = False`, `dns_domain = openstacklocal`, `dhcp_lease_duration = 86400`,
 * `dnsmasq_local_resolv = False`, dnsmasq ≥ 2.81 so IPv6 host entries carry `tag:dhcpv6`).
 */
import { ipToString, parseCidr } from '../../../util/ip.js';

export const DNS_DOMAIN = 'openstacklocal';
const LEASE = '86400s';
const LEASE_MAX = 2 ** 24;
/** Neutron's constants.METADATA_CIDR. */
export const METADATA_CIDR = '169.254.169.254/32';
export const METADATA_ADDRESS = '169.254.169.254';
const HOST_DHCPV6_TAG = 'tag:dhcpv6,';
const WIN2K3_STATIC_DNS = 249;

const ROUTER_INTERFACE_OWNERS = ['network:router_interface', 'network:router_interface_distributed', 'network:ha_router_replicated_interface'];
/** Ports dnsmasq gives no lease (port_requires_dhcp_configuration). */
const NO_DHCP_OWNERS = ['network:router_ha_interface', 'network:floatingip', 'network:dhcp', 'network:distributed'];

export interface DhcpSubnet {
  id: string;
  ipVersion: 4 | 6;
  cidr: string;
  gatewayIp: string | null;
  enableDhcp: boolean;
  ipv6AddressMode: string | null;
  ipv6RaMode: string | null;
  dnsNameservers: string[];
  hostRoutes: Array<{ destination: string; nexthop: string }>;
}

export interface DhcpPort {
  id: string;
  mac: string;
  deviceOwner: string;
  fixedIps: Array<{ subnetId: string; ipAddress: string }>;
  extraDhcpOpts: Array<{ optName: string; optValue: string; ipVersion: 4 | 6 }>;
}

export interface DhcpNetwork {
  id: string;
  mtu: number;
  subnets: DhcpSubnet[];
  ports: DhcpPort[];
}

export interface DnsmasqFiles {
  host: string;
  addnHosts: string;
  opts: string;
}

export interface DnsmasqConfig {
  files: DnsmasqFiles;
  /** Arguments after `dnsmasq`; file paths are `<dir>/<name>`. */
  args: string[];
  /** The network has an isolated subnet: the metadata proxy listens in the DHCP namespace. */
  metadata: boolean;
}

const subnetTag = (id: string) => `subnet-${id}`;
const portTag = (id: string) => `port-${id}`;

function netOf(cidr: string): { network: string; prefix: number; netmask: string; size: bigint } | null {
  const c = parseCidr(cidr);
  if (!c) return null;
  const bits = c.version === 4 ? 32 : 128;
  const mask = ((1n << BigInt(c.prefix)) - 1n) << BigInt(bits - c.prefix);
  return {
    network: ipToString({ version: c.version, value: c.network }),
    prefix: c.prefix,
    netmask: ipToString({ version: c.version, value: mask }),
    size: 1n << BigInt(bits - c.prefix),
  };
}

/** get_isolated_subnets: a subnet is isolated unless a router interface holds its gateway address. */
export function isolatedSubnets(n: DhcpNetwork): Map<string, boolean> {
  const out = new Map(n.subnets.map((s) => [s.id, true]));
  for (const p of n.ports) {
    if (!ROUTER_INTERFACE_OWNERS.includes(p.deviceOwner)) continue;
    for (const f of p.fixedIps) {
      const s = n.subnets.find((x) => x.id === f.subnetId);
      if (s && s.gatewayIp === f.ipAddress) out.set(s.id, false);
    }
  }
  return out;
}

/** should_enable_metadata with enable_isolated_metadata: some DHCP subnet is isolated. */
export function needsMetadata(n: DhcpNetwork): boolean {
  const iso = isolatedSubnets(n);
  return n.subnets.some((s) => s.enableDhcp && iso.get(s.id));
}

const v6 = (ip: string) => ip.includes(':');
const literal = (ip: string) => (v6(ip) ? `[${ip}]` : ip);

function formatOption(ipVersion: 4 | 6, tag: string, option: string, ...args: string[]): string {
  let opt = String(option).split('\n')[0];
  const m = /^(tag:(.*),)?(.*)$/.exec(opt)!;
  const extra = m[1];
  opt = m[3];
  if (ipVersion === 6) opt = `option6:${opt}`;
  else if (!/^\d+$/.test(opt)) opt = `option:${opt}`;
  const tags = extra ? [`tag:${tag}`, extra.slice(0, -1), opt] : [`tag:${tag}`, opt];
  return [...tags, ...args.map((a) => a.split('\n')[0])].join(',');
}

/** The hosts entries' name: Neutron without a dns_assignment names a host after its first address. */
const hostName = (ip: string) => `host-${ip.replace(/[.:]/g, '-')}`;

function hostsFile(n: DhcpNetwork): string {
  const dhcpSubnets = new Set(n.subnets.filter((s) => s.enableDhcp).map((s) => s.id));
  const v6nets = new Map(n.subnets.filter((s) => s.ipVersion === 6).map((s) => [s.id, s]));
  let out = '';
  for (const p of n.ports) {
    if (NO_DHCP_OWNERS.includes(p.deviceOwner)) continue;
    // Stateless IPv6 entries first (dnsmasq reads the file from its end).
    const ips = [...p.fixedIps].sort(
      (a, b) => Number(v6nets.get(b.subnetId)?.ipv6AddressMode === 'dhcpv6-stateless') - Number(v6nets.get(a.subnetId)?.ipv6AddressMode === 'dhcpv6-stateless'),
    );
    for (const f of ips) {
      const sub6 = v6nets.get(f.subnetId);
      const mode = sub6?.ipv6AddressMode ?? null;
      const noDhcp = sub6 !== undefined && (mode === 'slaac' || mode === 'dhcpv6-stateless');
      const noOpts = sub6 !== undefined && mode === 'slaac';
      const tag = sub6 ? HOST_DHCPV6_TAG : '';
      if (noDhcp) {
        if (!noOpts && p.extraDhcpOpts.length) out += `${p.mac},${tag}set:${portTag(p.id)}\n`;
        continue;
      }
      if (!dhcpSubnets.has(f.subnetId)) continue;
      const name = `${hostName(f.ipAddress)}.${DNS_DOMAIN}`;
      const addr = literal(f.ipAddress);
      const clientId = p.extraDhcpOpts.find((o) => o.optName === 'client-id' || o.optName === '61')?.optValue;
      if (p.extraDhcpOpts.length) {
        if (clientId && p.extraDhcpOpts.length > 1) out += `${p.mac},${tag}id:${clientId},${name},${addr},set:${portTag(p.id)}\n`;
        else if (clientId) out += `${p.mac},${tag}id:${clientId},${name},${addr}\n`;
        else out += `${p.mac},${tag}${name},${addr},set:${portTag(p.id)}\n`;
      } else out += `${p.mac},${tag}${name},${addr}\n`;
    }
  }
  return out;
}

function addnHostsFile(n: DhcpNetwork): string {
  let out = '';
  for (const p of n.ports) {
    if (NO_DHCP_OWNERS.includes(p.deviceOwner)) continue;
    for (const f of p.fixedIps) {
      const name = hostName(f.ipAddress);
      out += `${f.ipAddress}\t${name}.${DNS_DOMAIN} ${name}\n`;
    }
  }
  return out;
}

function optsFile(n: DhcpNetwork): string {
  const options: string[] = [];
  const withoutNameservers = new Set<string>();
  const iso = isolatedSubnets(n);
  const dhcpPort = n.ports.find((p) => p.deviceOwner === 'network:dhcp');
  const dhcpIp = (subnetId: string) => dhcpPort?.fixedIps.find((f) => f.subnetId === subnetId)?.ipAddress;
  for (const s of n.subnets) {
    if (!s.enableDhcp || (s.ipVersion === 6 && s.ipv6AddressMode === 'slaac')) continue;
    const tag = subnetTag(s.id);
    if (s.dnsNameservers.length) {
      const any = s.dnsNameservers.length === 1 && (s.dnsNameservers[0] === '0.0.0.0' || s.dnsNameservers[0] === '::');
      if (any) options.push(formatOption(s.ipVersion, tag, 'dns-server'));
      else options.push(formatOption(s.ipVersion, tag, 'dns-server', (s.ipVersion === 6 ? s.dnsNameservers.map(literal) : s.dnsNameservers).join(',')));
    } else withoutNameservers.add(s.id);
    if (s.ipVersion === 6) {
      options.push(formatOption(6, tag, 'domain-search', DNS_DOMAIN));
      continue;
    }
    let gateway = s.gatewayIp;
    const routes: string[] = [];
    for (const hr of s.hostRoutes) {
      if (hr.destination === '0.0.0.0/0') {
        if (!gateway) gateway = hr.nexthop;
      } else routes.push(`${hr.destination},${hr.nexthop}`);
    }
    let metadataVia: string | undefined;
    if (iso.get(s.id)) metadataVia = dhcpIp(s.id);
    else if (gateway) metadataVia = gateway;
    if (metadataVia) routes.push(`${METADATA_CIDR},${metadataVia}`);
    for (const other of n.subnets) if (other.ipVersion === 4 && other.cidr !== s.cidr) routes.unshift(`${other.cidr},0.0.0.0`);
    if (routes.length) {
      if (gateway) routes.push(`0.0.0.0/0,${gateway}`);
      options.push(formatOption(4, tag, 'classless-static-route', routes.join(',')));
      options.push(formatOption(4, tag, String(WIN2K3_STATIC_DNS), routes.join(',')));
    }
    options.push(gateway ? formatOption(4, tag, 'router', gateway) : formatOption(4, tag, 'router'));
  }
  const dhcpIps = new Map<string, string[]>();
  for (const p of n.ports) {
    const versions = new Set(p.fixedIps.map((f) => (v6(f.ipAddress) ? 6 : 4)));
    for (const o of p.extraDhcpOpts) {
      if (o.optName === 'client-id' || o.optName === '61') continue;
      if (versions.has(o.ipVersion)) options.push(formatOption(o.ipVersion, portTag(p.id), o.optName, o.optValue));
    }
    if (p.deviceOwner === 'network:dhcp') {
      for (const f of p.fixedIps) {
        if (!withoutNameservers.has(f.subnetId)) continue;
        dhcpIps.set(f.subnetId, [...(dhcpIps.get(f.subnetId) ?? []), f.ipAddress]);
      }
    }
  }
  for (const [subnetId, ips] of dhcpIps) {
    for (const version of [4, 6] as const) {
      const vx = ips.filter((ip) => (v6(ip) ? 6 : 4) === version);
      if (vx.length > 1) options.push(formatOption(version, subnetTag(subnetId), 'dns-server', (version === 6 ? vx.map(literal) : vx).join(',')));
    }
  }
  return options.join('\n');
}

/** The whole configuration for network `n`, its files under `dir`. */
export function dnsmasqConfig(n: DhcpNetwork, dir: string): DnsmasqConfig {
  const file = (kind: string) => `${dir}/${kind}`;
  const args = [
    '--no-hosts',
    '--no-resolv',
    `--pid-file=${file('pid')}`,
    `--dhcp-hostsfile=${file('host')}`,
    `--addn-hosts=${file('addn_hosts')}`,
    `--dhcp-optsfile=${file('opts')}`,
    `--dhcp-leasefile=${file('leases')}`,
    '--dhcp-match=set:ipxe,175',
    '--dhcp-userclass=set:ipxe6,iPXE',
    '--local-service',
    '--bind-dynamic',
  ];
  let possible = 0n;
  for (const s of n.subnets) {
    if (!s.enableDhcp) continue;
    let mode: string | null = null;
    if (s.ipVersion === 4) mode = 'static';
    else if (s.ipv6AddressMode === 'dhcpv6-stateful' || s.ipv6AddressMode === 'dhcpv6-stateless' || (!s.ipv6AddressMode && !s.ipv6RaMode)) mode = 'static';
    const net = netOf(s.cidr);
    if (!mode || !net) continue;
    if (s.ipVersion === 4) args.push(`--dhcp-range=set:${subnetTag(s.id)},${net.network},${mode},${net.netmask},${LEASE}`);
    else {
      if (net.prefix < 64) continue;
      args.push(`--dhcp-range=set:${subnetTag(s.id)},${net.network},${mode},${net.prefix},${LEASE}`);
    }
    possible += net.size;
  }
  if (n.mtu > 0) args.push(`--dhcp-option-force=option:mtu,${n.mtu}`);
  args.push(`--dhcp-lease-max=${possible < BigInt(LEASE_MAX) ? possible : LEASE_MAX}`);
  args.push('--conf-file=/dev/null', `--domain=${DNS_DOMAIN}`);
  return { files: { host: hostsFile(n), addnHosts: addnHostsFile(n), opts: optsFile(n) }, args, metadata: needsMetadata(n) };
}
