import ipaddr from 'ipaddr.js';

/**
 * Addresses as (version, bigint) so IPv4 and IPv6 share one arithmetic. ipaddr.js parses and
 * prints (RFC 5952 compact IPv6); the integer form gives ranges, containment and ordering keys.
 */
export type IpVersion = 4 | 6;

export interface Ip {
  version: IpVersion;
  value: bigint;
}

export interface Cidr {
  version: IpVersion;
  /** Network address (host bits cleared). */
  network: bigint;
  prefix: number;
  first: bigint;
  last: bigint;
}

const BITS: Record<IpVersion, number> = { 4: 32, 6: 128 };

export const bitsOf = (v: IpVersion): number => BITS[v];

function bytesToBig(bytes: number[]): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

function bigToBytes(v: bigint, len: number): number[] {
  const out = new Array<number>(len);
  for (let i = len - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** Parse an address; null unless it is a plain dotted-quad IPv4 or a valid IPv6 address. */
export function parseIp(s: unknown): Ip | null {
  if (typeof s !== 'string' || s.trim() !== s || s === '') return null;
  if (s.includes(':')) {
    if (!ipaddr.IPv6.isValid(s) || s.includes('%')) return null;
    const a = ipaddr.IPv6.parse(s);
    return { version: 6, value: bytesToBig(a.toByteArray()) };
  }
  if (!ipaddr.IPv4.isValidFourPartDecimal(s)) return null;
  return { version: 4, value: bytesToBig(ipaddr.IPv4.parse(s).toByteArray()) };
}

export function ipToString(ip: Ip): string {
  if (ip.version === 4) return ipaddr.fromByteArray(bigToBytes(ip.value, 4)).toString();
  return (ipaddr.fromByteArray(bigToBytes(ip.value, 16)) as ipaddr.IPv6).toRFC5952String();
}

/** Fixed-width hex: compares lexically in address order within one IP version. */
export function ipKey(ip: Ip): string {
  return ip.value.toString(16).padStart(ip.version === 4 ? 8 : 32, '0');
}

export function keyToIp(version: IpVersion, key: string): Ip {
  return { version, value: BigInt(`0x${key}`) };
}

/** Parse "a.b.c.d/n" or "x::/n", keeping host bits out of `network`. Null when malformed. */
export function parseCidr(s: unknown): Cidr | null {
  if (typeof s !== 'string') return null;
  const slash = s.indexOf('/');
  if (slash < 0) return null;
  const ip = parseIp(s.slice(0, slash));
  const pfx = s.slice(slash + 1);
  if (!ip || !/^\d{1,3}$/.test(pfx)) return null;
  const prefix = Number(pfx);
  const bits = BITS[ip.version];
  if (prefix > bits) return null;
  const hostBits = BigInt(bits - prefix);
  const mask = ((1n << BigInt(bits)) - 1n) ^ ((1n << hostBits) - 1n);
  const network = ip.value & mask;
  return { version: ip.version, network, prefix, first: network, last: network | ((1n << hostBits) - 1n) };
}

export function cidrToString(c: Cidr): string {
  return `${ipToString({ version: c.version, value: c.network })}/${c.prefix}`;
}

export function cidrContains(c: Cidr, ip: Ip): boolean {
  return c.version === ip.version && ip.value >= c.first && ip.value <= c.last;
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return a.version === b.version && a.first <= b.last && b.first <= a.last;
}

export function cidrSize(c: Cidr): bigint {
  return c.last - c.first + 1n;
}

/** SLAAC address: the /64 prefix plus the modified EUI-64 interface id of the MAC (RFC 4291). */
export function eui64(prefix: Cidr, mac: string): Ip {
  const b = mac.split(':').map((x) => Number.parseInt(x, 16));
  const iid = [b[0] ^ 0x02, b[1], b[2], 0xff, 0xfe, b[3], b[4], b[5]];
  return { version: 6, value: (prefix.network & ~((1n << 64n) - 1n)) | bytesToBig(iid) };
}

/** A random locally administered MAC under a base prefix, Neutron's `fa:16:3e:xx:xx:xx`. */
export function randomMac(base = 'fa:16:3e', rand: () => number = Math.random): string {
  const parts = base.split(':');
  while (parts.length < 6)
    parts.push(
      Math.floor(rand() * 256)
        .toString(16)
        .padStart(2, '0'),
    );
  return parts.join(':');
}

/** Normalise a MAC to lower case, colon separated; null when invalid. */
export function parseMac(s: unknown): string | null {
  if (typeof s !== 'string') return null;
  const m = /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i.exec(s);
  if (!m) return null;
  const mac = m.slice(1).join(':').toLowerCase();
  // neutron-lib refuses only the all-zero and broadcast addresses.
  if (mac === '00:00:00:00:00:00' || mac === 'ff:ff:ff:ff:ff:ff') return null;
  return mac;
}
