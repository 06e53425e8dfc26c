/**
 * Sets of addresses as sorted, disjoint [first, last] ranges (bigints, so IPv6 works): union,
 * difference, and the largest aligned CIDR blocks covering a set (netaddr's IPSet.iter_cidrs).
 */
import { type Cidr, type IpVersion, bitsOf, cidrToString, parseCidr } from './ip.js';

export interface Range {
  first: bigint;
  last: bigint;
}

export function cidrRange(c: Cidr): Range {
  return { first: c.first, last: c.last };
}

/** Sorted, merged (touching ranges join). */
function compact(ranges: Range[]): Range[] {
  const sorted = [...ranges].sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
  const out: Range[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.first <= last.last + 1n) {
      if (r.last > last.last) last.last = r.last;
    } else out.push({ ...r });
  }
  return out;
}

export function subtract(from: Range[], remove: Range[]): Range[] {
  let out = compact(from);
  for (const r of compact(remove)) {
    const next: Range[] = [];
    for (const a of out) {
      if (r.last < a.first || r.first > a.last) {
        next.push(a);
        continue;
      }
      if (r.first > a.first) next.push({ first: a.first, last: r.first - 1n });
      if (r.last < a.last) next.push({ first: r.last + 1n, last: a.last });
    }
    out = next;
  }
  return out;
}

export function intersects(a: Range[], b: Range[]): boolean {
  return a.some((x) => b.some((y) => x.first <= y.last && y.first <= x.last));
}

/** Every address of `inner` lies in `outer`. */
export function isSubset(inner: Range[], outer: Range[]): boolean {
  return subtract(inner, outer).length === 0;
}

/** The largest aligned CIDR blocks that exactly cover `ranges`, in address order. */
export function toCidrs(version: IpVersion, ranges: Range[]): Cidr[] {
  const bits = bitsOf(version);
  const out: Cidr[] = [];
  for (const r of compact(ranges)) {
    let start = r.first;
    while (start <= r.last) {
      // Grow the block while it stays aligned and inside the range.
      let size = 0;
      while (size < bits) {
        const next = 1n << BigInt(size + 1);
        if (start % next !== 0n || start + next - 1n > r.last) break;
        size++;
      }
      const prefix = bits - size;
      const last = start + (1n << BigInt(size)) - 1n;
      out.push({ version, network: start, prefix, first: start, last });
      start = last + 1n;
    }
  }
  return out;
}

/** Parse CIDR texts into ranges of one version. */
export function rangesOf(cidrs: string[]): Range[] {
  return cidrs.map((c) => cidrRange(parseCidr(c)!));
}

export function cidrTexts(version: IpVersion, ranges: Range[]): string[] {
  return toCidrs(version, ranges).map(cidrToString);
}
