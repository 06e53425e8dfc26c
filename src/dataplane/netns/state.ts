import { cidrToString, ipToString, parseCidr, parseIp } from '../../util/ip.js';

/**
 * What a namespace holds, read from `ip -d -j addr show` and `ip -j route show table all`
 * (JSON only: the text form prints a veth as `eth0@if13`, resolved against the wrong namespace).
 */
export interface LinkState {
  ifindex: number;
  name: string;
  /** `veth`, `bridge`… (`linkinfo.info_kind`); null for loopback and kinds without one. */
  kind: string | null;
  mtu: number;
  mac: string;
  up: boolean;
  master: string | null;
  /** For a veth: the peer's ifindex (in the namespace `linkNetnsid` names, or here). */
  linkIndex: number | null;
  linkNetnsid: number | null;
  /** For a VLAN: its 802.1Q id and the link it is on (by name: iproute2 names a parent in the same namespace). */
  vlan?: { id: number; parent: string | null };
  /** Global-scope addresses, canonical `address/prefix`. */
  addrs: string[];
}

export interface RouteState {
  family: 4 | 6;
  /** `default` or canonical CIDR. */
  dst: string;
  via: string | null;
  dev: string | null;
  protocol: string;
}

export interface NeighbourState {
  ip: string;
  dev: string;
  mac: string | null;
  /** `REACHABLE`, `STALE`, `FAILED`, `INCOMPLETE`… */
  state: string[];
}

export interface NsState {
  links: Map<string, LinkState>;
  routes: RouteState[];
  neighbours?: NeighbourState[];
}

export const READ_BATCH = 'addr show\nroute show table all\nneigh show\n';

// What `ip -d -j` prints, as far as we read it (iproute2's JSON; fields absent when not set).
interface IpAddrJson {
  scope?: string;
  local?: unknown;
  prefixlen: number;
}

interface IpLinkJson {
  ifindex: number;
  ifname: string;
  mtu: number;
  address?: string;
  flags?: string[];
  master?: string;
  link_index?: unknown;
  link_netnsid?: unknown;
  link?: unknown;
  linkinfo?: { info_kind?: string; info_data?: { id?: unknown } };
  addr_info?: IpAddrJson[];
}

interface IpRouteJson {
  table?: string;
  type?: string;
  protocol?: string;
  dst: unknown;
  gateway?: unknown;
  dev?: string;
}

interface IpNeighJson {
  dst: string;
  dev: string;
  lladdr?: unknown;
  state?: string[];
}

function canonicalAddr(local: string, prefix: number): string | null {
  const c = parseCidr(`${local}/${prefix}`);
  const ip = parseIp(local);
  if (!c || !ip) return null;
  return `${ipToString(ip)}/${prefix}`;
}

function canonicalDst(dst: string, family: 4 | 6): string | null {
  if (dst === 'default') return 'default';
  const c = parseCidr(dst.includes('/') ? dst : `${dst}/${family === 4 ? 32 : 128}`);
  return c ? cidrToString(c) : null;
}

export function parseLinks(json: string): Map<string, LinkState> {
  const out = new Map<string, LinkState>();
  const rows = JSON.parse(json) as IpLinkJson[];
  for (const l of rows) {
    const addrs: string[] = [];
    for (const a of l.addr_info ?? []) {
      if (a.scope !== 'global' || typeof a.local !== 'string') continue;
      const c = canonicalAddr(a.local, a.prefixlen);
      if (c) addrs.push(c);
    }
    out.set(l.ifname, {
      ifindex: l.ifindex,
      name: l.ifname,
      kind: l.linkinfo?.info_kind ?? null,
      mtu: l.mtu,
      mac: String(l.address ?? '').toLowerCase(),
      up: Array.isArray(l.flags) && l.flags.includes('UP'),
      master: l.master ?? null,
      linkIndex: typeof l.link_index === 'number' ? l.link_index : null,
      linkNetnsid: typeof l.link_netnsid === 'number' ? l.link_netnsid : null,
      ...(l.linkinfo?.info_kind === 'vlan' && typeof l.linkinfo.info_data?.id === 'number'
        ? { vlan: { id: l.linkinfo.info_data.id, parent: typeof l.link === 'string' ? l.link : null } }
        : {}),
      addrs,
    });
  }
  // A veth whose other end is in the same namespace is printed with that end's name (`link`)
  // instead of its index (a VLAN subinterface's pair without 802.1Q: vlantag.ts).
  for (const l of rows) {
    const peer = typeof l.link === 'string' ? out.get(l.link) : undefined;
    const self = out.get(l.ifname)!;
    if (self.kind === 'veth' && self.linkIndex === null && peer) self.linkIndex = peer.ifindex;
  }
  return out;
}

/** Routes we may manage: main table, unicast, not the kernel's own (connected) routes. */
export function parseRoutes(json: string): RouteState[] {
  const out: RouteState[] = [];
  for (const r of JSON.parse(json) as IpRouteJson[]) {
    if (r.table !== undefined && r.table !== 'main') continue;
    if (r.type !== undefined && r.type !== 'unicast') continue;
    if (r.protocol === 'kernel') continue;
    const gw = typeof r.gateway === 'string' ? parseIp(r.gateway) : null;
    const dstIp = r.dst === 'default' ? null : parseCidr(String(r.dst).includes('/') ? r.dst : `${r.dst}/${String(r.dst).includes(':') ? 128 : 32}`);
    const family = (gw?.version ?? dstIp?.version ?? (String(r.dst).includes(':') ? 6 : 4)) as 4 | 6;
    const dst = canonicalDst(String(r.dst), family);
    if (!dst) continue;
    out.push({ family, dst, via: gw ? ipToString(gw) : null, dev: r.dev ?? null, protocol: r.protocol ?? 'boot' });
  }
  return out;
}

export function parseNeighbours(json: string): NeighbourState[] {
  return (JSON.parse(json) as IpNeighJson[]).map((n) => ({
    ip: ipToString(parseIp(n.dst) ?? { version: 4, value: 0n }),
    dev: n.dev,
    mac: typeof n.lladdr === 'string' ? n.lladdr.toLowerCase() : null,
    state: Array.isArray(n.state) ? n.state : [],
  }));
}

/** Output of `ip -j -batch -` with READ_BATCH: one JSON document per line. */
export function parseNsRead(stdout: string): NsState {
  const docs = stdout.split('\n').filter((l) => l.trim().startsWith('['));
  if (docs.length < 3) throw new Error(`unexpected ip output: ${stdout.slice(0, 200)}`);
  return { links: parseLinks(docs[0]), routes: parseRoutes(docs[1]), neighbours: parseNeighbours(docs[2]) };
}

/** `iptables-save` text → table → chain → rules (each without `-A <chain> `). */
export function parseIptablesSave(text: string): Map<string, Map<string, string[]>> {
  const tables = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | null = null;
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) {
      current = new Map();
      tables.set(line.slice(1).trim(), current);
    } else if (line.startsWith(':') && current) {
      current.set(line.slice(1).split(' ')[0], []);
    } else if (line.startsWith('-A ') && current) {
      const rest = line.slice(3);
      const sp = rest.indexOf(' ');
      const chain = sp < 0 ? rest : rest.slice(0, sp);
      const rule = sp < 0 ? '' : rest.slice(sp + 1);
      if (!current.has(chain)) current.set(chain, []);
      current.get(chain)!.push(rule);
    }
  }
  return tables;
}
