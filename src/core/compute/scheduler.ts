/**
 * nova-scheduler over the hosts this cloud has (one nova-compute service per host): the filters
 * that can say no without placement — ComputeFilter (service enabled and up), AvailabilityZone,
 * ServerGroupAffinity/AntiAffinity (with max_server_per_host), the hosts a move must leave — and
 * Nova's NoValidHost when none passes. Soft policies only weigh, so they never fail.
 */
import type { Q } from '../../store/db.js';
import type { ServerGroupsTable } from '../../store/schema.js';
import { hostZones, DEFAULT_AZ } from './aggregates.js';
import { serviceIsUp } from './services.js';

export interface ScheduleRequest {
  serverId: string;
  /** The zone asked for (the request spec's), or null for any. */
  zone: string | null;
  /** A host forced by `zone:host` (admins): filters are skipped, as Nova's force_hosts does. */
  forcedHost?: string | null;
  /** A host asked for with `host` (2.74) or a migrate target: filters still apply. */
  requestedHost?: string | null;
  group?: ServerGroupsTable | null;
  /** Hosts a move must not stay on (a cold migration leaves its source). */
  ignoreHosts?: string[];
}

/** Why no host passed: NoValidHost's reason. */
export class NoValidHost extends Error {
  constructor(readonly reason = 'There are not enough hosts available.') {
    super(`No valid host was found. ${reason}`);
  }
}

/** The host a server goes to; throws NoValidHost. */
export async function selectHost(q: Q, r: ScheduleRequest): Promise<string> {
  const services = await q.selectFrom('compute_services').selectAll().where('binary', '=', 'nova-compute').orderBy('id').execute();
  if (r.forcedHost) {
    if (services.some((s) => s.host === r.forcedHost)) return r.forcedHost;
    throw new NoValidHost();
  }
  const zones = await hostZones(q);
  let hosts = services.filter((s) => !s.disabled && serviceIsUp(s)).map((s) => s.host);
  if (r.requestedHost) hosts = hosts.filter((h) => h === r.requestedHost);
  if (r.ignoreHosts?.length) hosts = hosts.filter((h) => !r.ignoreHosts!.includes(h));
  if (r.zone) hosts = hosts.filter((h) => (zones.get(h) ?? DEFAULT_AZ) === r.zone);
  const g = r.group;
  if (g && (g.policy === 'affinity' || g.policy === 'anti-affinity')) {
    const placed = await q
      .selectFrom('server_group_members')
      .innerJoin('servers', 'servers.id', 'server_group_members.server_id')
      .select('servers.host')
      .where('server_group_members.group_id', '=', g.id)
      .where('servers.id', '!=', r.serverId)
      .where('servers.host', 'is not', null)
      .execute();
    const on = new Map<string, number>();
    for (const p of placed) on.set(p.host!, (on.get(p.host!) ?? 0) + 1);
    if (g.policy === 'affinity') {
      if (on.size) hosts = hosts.filter((h) => on.has(h));
    } else {
      const max = Number((JSON.parse(g.rules) as { max_server_per_host?: number }).max_server_per_host ?? 1);
      hosts = hosts.filter((h) => (on.get(h) ?? 0) < max);
    }
  }
  if (!hosts.length) throw new NoValidHost();
  return hosts[0];
}
