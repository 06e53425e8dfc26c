import { type Q, TransactionConflict, type Tx, binaryOrder, fromJson, jsonRowsOf, prepared } from '../../store/db.js';
import { type Ip, type IpVersion, ipKey, keyToIp, parseIp } from '../../util/ip.js';
import { conflict } from '../errors.js';

export interface PoolRange {
  start: string;
  end: string;
}

/** Neutron picks at random among the first MAX_WIN free addresses, so concurrent ports rarely collide. */
const MAX_WIN = 1000n;
const RANGE_PAGE = 64;

// The statements every address allocation runs, built and compiled once (see `prepared`).
// The first ranges as one JSON array in one row: on a fragmented subnet every allocation reads
// all RANGE_PAGE of them, and 64 rows handed to JavaScript one by one cost about twice what one
// array does (issue 17's port-create profile: this read was the largest single statement).
// The array has no ORDER BY of its own: the rows come ordered from the subquery, and takeAny
// sorts what it reads (already in order: 63 comparisons). An aggregate's ORDER BY is a temporary
// b-tree SQLite sets up and tears down on every run: 27 µs against 19 without, in a loop.
const firstRanges = prepared(['subnet'], (q, a, dialect) =>
  q.selectNoFrom(
    jsonRowsOf(
      dialect,
      q.selectFrom('ipam_ranges').select(['first_key', 'last_key']).where('subnet_id', '=', a.subnet).orderBy('first_key').limit(RANGE_PAGE),
      ['first_key', 'last_key'],
    ).as('ranges'),
  ),
);
const rangeArgs = ['subnet', 'first', 'last'] as const;
const deleteRange = prepared(rangeArgs, (q, a) =>
  q.deleteFrom('ipam_ranges').where('subnet_id', '=', a.subnet).where('first_key', '=', a.first).where('last_key', '=', a.last),
);
const shrinkRangeTop = prepared([...rangeArgs, 'to'], (q, a) =>
  q.updateTable('ipam_ranges').set({ last_key: a.to }).where('subnet_id', '=', a.subnet).where('first_key', '=', a.first).where('last_key', '=', a.last),
);
const shrinkRangeBottom = prepared([...rangeArgs, 'to'], (q, a) =>
  q.updateTable('ipam_ranges').set({ first_key: a.to }).where('subnet_id', '=', a.subnet).where('first_key', '=', a.first).where('last_key', '=', a.last),
);
const addRange = prepared(rangeArgs, (q, a) => q.insertInto('ipam_ranges').values({ subnet_id: a.subnet, first_key: a.first, last_key: a.last }));

/**
 * Address management without reading a subnet's allocations: each subnet keeps its free
 * addresses as ranges (fixed-width hex keys, so IPv6 works and SQL orders them). Allocating takes
 * one address out of a range; releasing puts it back and merges neighbours. A /8 costs what a /24
 * does. The primary key of `ip_allocations` (subnet, address) is the final guard against handing
 * one address out twice.
 */
export const ipam = {
  /** Record a new subnet's pools as free ranges. */
  async addPools(trx: Tx, subnetId: string, pools: PoolRange[]): Promise<void> {
    for (const p of pools) {
      const a = parseIp(p.start)!;
      const b = parseIp(p.end)!;
      await trx
        .insertInto('ipam_ranges')
        .values({ subnet_id: subnetId, first_key: ipKey(a), last_key: ipKey(b) })
        .execute();
    }
  },

  /**
   * Pools changed (subnet update): free = new pools minus what is allocated inside them. This is
   * the one operation that reads allocations, and only those inside the new pools.
   */
  async replacePools(trx: Tx, subnetId: string, version: IpVersion, pools: PoolRange[]): Promise<void> {
    await trx.deleteFrom('ipam_ranges').where('subnet_id', '=', subnetId).execute();
    for (const p of pools) {
      const a = ipKey(parseIp(p.start)!);
      const b = ipKey(parseIp(p.end)!);
      const used = await trx
        .selectFrom('ip_allocations')
        .select('ip_key')
        .where('subnet_id', '=', subnetId)
        .where('ip_key', '>=', a)
        .where('ip_key', '<=', b)
        .orderBy('ip_key')
        .execute();
      let cursor = keyToIp(version, a).value;
      const end = keyToIp(version, b).value;
      for (const u of used) {
        const k = keyToIp(version, u.ip_key).value;
        if (k > cursor) await insertRange(trx, subnetId, version, cursor, k - 1n);
        cursor = k + 1n;
      }
      if (cursor <= end) await insertRange(trx, subnetId, version, cursor, end);
    }
  },

  /** Take a random address among the first free ones; null when the pools are exhausted. */
  async takeAny(trx: Tx, subnetId: string, version: IpVersion, rand: () => number = Math.random): Promise<Ip | null> {
    const [page] = await firstRanges.execute(trx, { subnet: subnetId });
    // Keys are fixed-width hex: their string order is address order.
    const ranges = fromJson<Array<[string, string]>>(page?.ranges, [])
      .sort((x, y) => binaryOrder(x[0], y[0]))
      .map(([first_key, last_key]) => ({ first_key, last_key }));
    if (ranges.length === 0) return null;
    const spans = ranges.map((r) => {
      const first = keyToIp(version, r.first_key).value;
      const last = keyToIp(version, r.last_key).value;
      return { r, first, size: last - first + 1n };
    });
    let window = 0n;
    for (const s of spans) {
      window += s.size;
      if (window >= MAX_WIN) break;
    }
    if (window > MAX_WIN) window = MAX_WIN;
    let pick = BigInt(Math.floor(rand() * Number(window)));
    for (const s of spans) {
      if (pick < s.size) {
        const ip: Ip = { version, value: s.first + pick };
        await takeFromRange(trx, subnetId, version, s.r.first_key, s.r.last_key, ip);
        return ip;
      }
      pick -= s.size;
    }
    return null;
  },

  /**
   * Take a specific address. Returns false when it is not free in the pools (it may still be a
   * legal address outside them: the caller decides).
   */
  async takeSpecific(trx: Tx, subnetId: string, ip: Ip): Promise<boolean> {
    const key = ipKey(ip);
    const r = await trx
      .selectFrom('ipam_ranges')
      .select(['first_key', 'last_key'])
      .where('subnet_id', '=', subnetId)
      .where('first_key', '<=', key)
      .orderBy('first_key', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (!r || r.last_key < key) return false;
    await takeFromRange(trx, subnetId, ip.version, r.first_key, r.last_key, ip);
    return true;
  },

  /** Put an address back into the free ranges if it lies inside the subnet's pools. */
  async giveBack(trx: Tx, subnetId: string, ip: Ip, pools: PoolRange[]): Promise<void> {
    const inPool = pools.some((p) => {
      const a = parseIp(p.start)!;
      const b = parseIp(p.end)!;
      return a.version === ip.version && ip.value >= a.value && ip.value <= b.value;
    });
    if (!inPool) return;
    const version = ip.version;
    let first = ip.value;
    let last = ip.value;
    const prevKey = ipKey({ version, value: ip.value - 1n });
    const nextKey = ipKey({ version, value: ip.value + 1n });
    // Merge with the range that ends just below and the one that starts just above.
    const below = await trx
      .selectFrom('ipam_ranges')
      .select(['first_key'])
      .where('subnet_id', '=', subnetId)
      .where('last_key', '=', prevKey)
      .executeTakeFirst();
    if (below) {
      first = keyToIp(version, below.first_key).value;
      await trx.deleteFrom('ipam_ranges').where('subnet_id', '=', subnetId).where('first_key', '=', below.first_key).execute();
    }
    const above = await trx
      .selectFrom('ipam_ranges')
      .select(['last_key'])
      .where('subnet_id', '=', subnetId)
      .where('first_key', '=', nextKey)
      .executeTakeFirst();
    if (above) {
      last = keyToIp(version, above.last_key).value;
      await trx.deleteFrom('ipam_ranges').where('subnet_id', '=', subnetId).where('first_key', '=', nextKey).execute();
    }
    await insertRange(trx, subnetId, version, first, last);
  },

  /** Number of free addresses in the pools (network-ip-availability). */
  async freeCount(q: Q, subnetId: string, version: IpVersion): Promise<bigint> {
    const rows = await q.selectFrom('ipam_ranges').select(['first_key', 'last_key']).where('subnet_id', '=', subnetId).execute();
    let n = 0n;
    for (const r of rows) n += keyToIp(version, r.last_key).value - keyToIp(version, r.first_key).value + 1n;
    return n;
  },
};

async function insertRange(trx: Tx, subnetId: string, version: IpVersion, first: bigint, last: bigint): Promise<void> {
  await addRange.run(trx, { subnet: subnetId, first: ipKey({ version, value: first }), last: ipKey({ version, value: last }) });
}

/** Remove `ip` from the free range [firstKey, lastKey], splitting it when needed. */
async function takeFromRange(trx: Tx, subnetId: string, version: IpVersion, firstKey: string, lastKey: string, ip: Ip) {
  const first = keyToIp(version, firstKey).value;
  const last = keyToIp(version, lastKey).value;
  // Guarded by the range's old bounds: if another transaction changed it, nothing matches. The
  // range shrinks in place (one statement where a delete and two inserts did the same): it keeps
  // what lies below the address, and what lies above becomes a range of its own.
  const range = { subnet: subnetId, first: firstKey, last: lastKey };
  const done =
    ip.value === first && ip.value === last
      ? await deleteRange.run(trx, range)
      : ip.value === first
        ? await shrinkRangeBottom.run(trx, { ...range, to: ipKey({ version, value: first + 1n }) })
        : await shrinkRangeTop.run(trx, { ...range, to: ipKey({ version, value: ip.value - 1n }) });
  const changed = done.numAffectedRows ?? 0n;
  if (Number(changed) !== 1) throw new TransactionConflict('free range changed concurrently');
  if (ip.value > first && ip.value < last) await insertRange(trx, subnetId, version, ip.value + 1n, last);
}

export function ipAlreadyAllocated(ip: string, subnetId: string) {
  return conflict('IpAddressAlreadyAllocated', `IP address ${ip} already allocated in subnet ${subnetId}`);
}

export function ipGenerationFailure(networkId: string) {
  return conflict('IpAddressGenerationFailure', `No more IP addresses available on network ${networkId}.`);
}
