/**
 * network-ip-availability: per network and subnet, how many addresses the allocation pools hold
 * and how many are allocated. IPv6 totals exceed 2^53, so counts are bigints end to end.
 */
import type { Q } from '../../store/db.js';
import { fromJson } from '../../store/db.js';
import { cidrSize, parseCidr, parseIp } from '../../util/ip.js';
import type { RequestContext } from '../context.js';
import { httpBadRequest, notFound, resourceNotFound } from '../errors.js';
import { pyRepr } from '../../util/pyrepr.js';

export interface SubnetAvailability {
  subnet_id: string;
  ip_version: number;
  cidr: string;
  subnet_name: string;
  used_ips: bigint;
  total_ips: bigint;
}

export interface NetworkAvailability {
  network_id: string;
  network_name: string;
  tenant_id: string;
  project_id: string;
  subnet_ip_availability: SubnetAvailability[];
  used_ips: bigint;
  total_ips: bigint;
}

const FILTERS = ['network_id', 'network_name', 'tenant_id', 'project_id', 'ip_version'];
const NOT_FILTERS = new Set(['fields', 'sort_key', 'sort_dir', 'limit', 'marker', 'page_reverse']);

function poolTotal(subnet: { cidr: string; allocation_pools: string }): bigint {
  const pools = fromJson<Array<{ start: string; end: string }>>(subnet.allocation_pools, []);
  if (pools.length === 0) return cidrSize(parseCidr(subnet.cidr)!);
  let n = 0n;
  for (const p of pools) n += parseIp(p.end)!.value - parseIp(p.start)!.value + 1n;
  return n;
}

/** Admin only, as Neutron's policy: members list nothing and find nothing. */
export async function listAvailability(q: Q, ctx: RequestContext, query: Map<string, string[]>): Promise<NetworkAvailability[]> {
  const invalid = [...query.keys()].filter((k) => !NOT_FILTERS.has(k) && !FILTERS.includes(k));
  if (invalid.length) throw httpBadRequest(`${pyRepr(invalid)} is invalid attribute for filtering`);
  if (!ctx.isAdmin) return [];
  const values = (k: string) => (query.get(k) ?? []).filter((v) => v !== '');
  let nets = q.selectFrom('networks').select(['id', 'name', 'project_id']).orderBy('id');
  if (values('network_id').length) nets = nets.where('id', 'in', values('network_id'));
  if (values('network_name').length) nets = nets.where('name', 'in', values('network_name'));
  const projects = [...values('tenant_id'), ...values('project_id')];
  if (projects.length) nets = nets.where('project_id', 'in', projects);
  const versions = values('ip_version').map(Number);
  const out: NetworkAvailability[] = [];
  for (const n of await nets.execute()) {
    let subs = q
      .selectFrom('subnets')
      .select(['id', 'name', 'cidr', 'ip_version', 'allocation_pools'])
      .where('network_id', '=', n.id)
      .orderBy('created_at')
      .orderBy('id');
    if (versions.length) subs = subs.where('ip_version', 'in', versions);
    const subnets = await subs.execute();
    // Filtering on ip_version joins subnets: networks without a matching subnet drop out.
    if (versions.length && subnets.length === 0) continue;
    const entry: NetworkAvailability = {
      network_id: n.id,
      network_name: n.name,
      tenant_id: n.project_id,
      project_id: n.project_id,
      subnet_ip_availability: [],
      used_ips: 0n,
      total_ips: 0n,
    };
    for (const s of subnets) {
      const used = await q
        .selectFrom('ip_allocations')
        .select(({ fn }) => fn.countAll<number>().as('n'))
        .where('subnet_id', '=', s.id)
        .executeTakeFirst();
      const sub: SubnetAvailability = {
        subnet_id: s.id,
        ip_version: s.ip_version,
        cidr: s.cidr,
        subnet_name: s.name,
        used_ips: BigInt(Number(used?.n ?? 0)),
        total_ips: poolTotal(s),
      };
      entry.subnet_ip_availability.push(sub);
      entry.used_ips += sub.used_ips;
      entry.total_ips += sub.total_ips;
    }
    out.push(entry);
  }
  return out;
}

export async function showAvailability(q: Q, ctx: RequestContext, networkId: string): Promise<NetworkAvailability> {
  if (!ctx.isAdmin) throw notFound('HTTPNotFound', 'The resource could not be found.');
  const [one] = await listAvailability(q, ctx, new Map([['network_id', [networkId]]]));
  if (!one) throw resourceNotFound('Network', networkId);
  return one;
}
