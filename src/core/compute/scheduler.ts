/**
 * nova-scheduler over the hosts this cloud has (one nova-compute service and compute node per
 * host), in the order Nova's SchedulerManager.select_destinations works:
 *
 * 1. Placement's allocation candidates: the request filters (the availability zone's aggregate,
 *    query_placement_for_availability_zone; compute_status_filter: no disabled compute; a
 *    requested destination, in_tree) and each node's inventory against the flavor (placement.ts).
 *    None left: NoValidHost with an empty reason, as Nova raises it then.
 * 2. The enabled filters (nova/conf/scheduler.py's defaults that apply here): ComputeFilter (the
 *    service is up), ServerGroupAffinity/AntiAffinity (with max_server_per_host), and the hosts a
 *    move must leave (ignore_hosts). None left: NoValidHost, "There are not enough hosts
 *    available." A forced host (force_hosts, admins' `zone:host`) skips the filters, not placement.
 * 3. The weighers Nova enables by default (weight_classes = all_weighers), each normalized over
 *    the hosts (nova.weights.normalize) and multiplied: RAMWeigher, CPUWeigher and DiskWeigher
 *    (free resources, multipliers 1.0: servers spread), IoOpsWeigher (-1.0: busy hosts last) and
 *    the soft affinity/anti-affinity weighers (1.0), and the BuildFailureWeigher: each node's
 *    consecutive failed builds, times −build_failure_weight_multiplier (1000000.0), so a host whose
 *    builds fail goes last. The others weigh nothing here: every host has the same hypervisor
 *    version, no PCI devices, metrics or image-property history, one cell, and num_instances and
 *    image_props multipliers are 0 by default. host_subset_size 1: the best host wins, ties going
 *    to the first registered. A host's aggregates may override each multiplier for it with
 *    metadata of the option's name (`ram_weight_multiplier`…; utils.get_weight_multiplier).
 *
 * Like select_destinations with return_alternates, the hosts come back in that order: the
 * selected one, then up to max_attempts − 1 alternates (_get_alternate_hosts), which a build that
 * fails on its host is retried on (lifecycle.ts).
 */
import type { Q } from '../../store/db.js';
import { fromJson } from '../../store/db.js';
import type { ServerGroupsTable, ServersTable } from '../../store/schema.js';
import { hostZones, DEFAULT_AZ } from './aggregates.js';
import { computeNodes } from './nodes.js';
import { CPU_ALLOCATION_RATIO, type HostUsage, type Resources, RESERVED_HOST_MEMORY_MB, emptyUsage, fits, flavorResources, hostUsage } from './placement.js';
import { serviceIsUp } from './services.js';

/** The scheduler's options, as Nova names them. */
export interface SchedulerOptions {
  /** [scheduler] max_attempts (3, at least 1): a build's attempts, the first host included. */
  maxAttempts: number;
  /** [filter_scheduler] build_failure_weight_multiplier (1000000.0; 0 stops the weigher). */
  buildFailureWeightMultiplier: number;
  /**
   * [compute] consecutive_build_service_disable_threshold (10): nonzero enables counting failed
   * builds per node for the BuildFailureWeigher. Since Rocky Nova no longer disables the service
   * at the threshold (commit 91e29079a0, "Change consecutive build failure limit to a weigher").
   */
  consecutiveBuildServiceDisableThreshold: number;
}

export const SCHEDULER_DEFAULTS: SchedulerOptions = {
  maxAttempts: 3,
  buildFailureWeightMultiplier: 1000000.0,
  consecutiveBuildServiceDisableThreshold: 10,
};

export interface ScheduleRequest {
  serverId: string;
  /** What the flavor asks for (the new flavor of a resize). */
  resources: Resources;
  /** The zone asked for (the request spec's), or null for any. */
  zone: string | null;
  /** A host forced by `zone:host` (admins): filters are skipped, as Nova's force_hosts does. */
  forcedHost?: string | null;
  /** A host asked for with `host` (2.74) or a move's target: filters still apply. */
  requestedHost?: string | null;
  group?: ServerGroupsTable | null;
  /** Hosts a move must not stay on (a migration leaves its source). */
  ignoreHosts?: string[];
  /** How many hosts to return: the selected one and alternates (1 when none are wanted). */
  count?: number;
  buildFailureWeightMultiplier?: number;
}

/** Why no host passed: NoValidHost's reason. */
export class NoValidHost extends Error {
  constructor(readonly reason = 'There are not enough hosts available.') {
    super(`No valid host was found. ${reason}`);
  }
}

/**
 * Python's float() of a string, as Nova casts aggregate metadata (validate_num_values): surrounding
 * whitespace, a sign, digits with single underscores between them, an optional fraction and
 * exponent, or inf/infinity/nan in any case; anything else is its ValueError (null).
 */
export function pythonFloat(text: string): number | null {
  const digits = String.raw`\d(?:_?\d)*`;
  const re = new RegExp(String.raw`^\s*([+-]?)(?:(inf(?:inity)?)|(nan)|((?:${digits})?(?:\.(?:${digits})?)?(?:[eE][+-]?${digits})?))\s*$`, 'i');
  const m = re.exec(text);
  if (!m) return null;
  const sign = m[1] === '-' ? -1 : 1;
  if (m[2]) return sign * Number.POSITIVE_INFINITY;
  if (m[3]) return Number.NaN;
  // The mantissa needs a digit: "", ".", "e5" are not numbers to Python.
  if (!/\d/.test(m[4].split(/[eE]/)[0])) return null;
  return sign * Number(m[4].replaceAll('_', ''));
}

/**
 * Each host's weight multiplier overrides from its aggregates' metadata: for a host, the values
 * its aggregates give the key (a set: the same value twice counts once), the smallest of them
 * (validate_num_values, based_on=min); the configured value where none or one is not a number
 * (Nova logs "Could not decode" and uses the option).
 */
async function aggregateMultipliers(q: Q): Promise<(host: string, name: string, configured: number) => number> {
  const rows = await q
    .selectFrom('aggregate_hosts')
    .innerJoin('aggregate_metadata', 'aggregate_metadata.aggregate_id', 'aggregate_hosts.aggregate_id')
    .select(['aggregate_hosts.host', 'aggregate_metadata.key', 'aggregate_metadata.value'])
    .where('aggregate_metadata.key', 'like', '%_weight_multiplier')
    .execute();
  const byHost = new Map<string, Map<string, Set<string>>>();
  for (const r of rows) {
    const keys = byHost.get(r.host) ?? new Map<string, Set<string>>();
    byHost.set(r.host, keys);
    keys.set(r.key, (keys.get(r.key) ?? new Set<string>()).add(r.value));
  }
  return (host, name, configured) => {
    const values = [...(byHost.get(host)?.get(name) ?? [])].map(pythonFloat);
    if (!values.length || values.some((v) => v === null)) return configured;
    return Math.min(...(values as number[]));
  };
}

/** The empty reason Nova gives when Placement returns no allocation candidate. */
const NO_CANDIDATES = '';

interface Candidate {
  host: string;
  up: boolean;
  failedBuilds: number;
  usage: HostUsage;
  free: { ramMb: number; vcpus: number; diskMb: number };
}

/** nova.weights.normalize: into [0, 1] against minval (0 for the resource weighers) and the list's maximum. */
function normalize(values: number[], minval?: number): number[] {
  const lo = minval ?? Math.min(...values);
  const clamped = minval === undefined ? values : values.map((v) => Math.max(v, minval));
  const hi = Math.max(...clamped);
  if (hi === lo) return clamped.map(() => 0);
  return clamped.map((v) => (v - lo) / (hi - lo));
}

/**
 * The hosts a server may go to, best first: the selected one and then the alternates, at most
 * `count` in all (Nova's host_list). Throws NoValidHost when there is none.
 */
export async function selectHosts(q: Q, r: ScheduleRequest): Promise<string[]> {
  const count = Math.max(1, r.count ?? 1);
  const services = await q.selectFrom('compute_services').selectAll().where('binary', '=', 'nova-compute').orderBy('id').execute();
  const nodes = await computeNodes(q);
  const usage = await hostUsage(q);
  const zones = await hostZones(q);

  // 1. Placement: request filters, then inventories.
  if (r.forcedHost && !services.some((s) => s.host === r.forcedHost)) throw new NoValidHost();
  const target = r.forcedHost ?? r.requestedHost ?? null;
  let candidates: Candidate[] = [];
  for (const s of services) {
    const node = nodes.get(s.host);
    if (!node || s.disabled) continue;
    if (target && s.host !== target) continue;
    if (r.zone && !r.forcedHost && (zones.get(s.host) ?? DEFAULT_AZ) !== r.zone) continue;
    const used = usage.get(s.host) ?? emptyUsage();
    if (!fits(node, used, r.resources)) continue;
    candidates.push({
      host: s.host,
      up: serviceIsUp(s),
      failedBuilds: node.failed_builds,
      usage: used,
      free: {
        ramMb: node.memory_mb - RESERVED_HOST_MEMORY_MB - used.memoryMb,
        vcpus: node.vcpus * CPU_ALLOCATION_RATIO - used.vcpus,
        diskMb: (node.local_gb - used.diskGb) * 1024,
      },
    });
  }
  if (!candidates.length) throw new NoValidHost(NO_CANDIDATES);
  if (r.forcedHost) return [candidates[0].host];

  // 2. Filters.
  if (r.ignoreHosts?.length) candidates = candidates.filter((c) => !r.ignoreHosts!.includes(c.host));
  candidates = candidates.filter((c) => c.up);
  const g = r.group;
  const members = new Map<string, number>();
  if (g) {
    const placed = await q
      .selectFrom('server_group_members')
      .innerJoin('servers', 'servers.id', 'server_group_members.server_id')
      .select('servers.host')
      .where('server_group_members.group_id', '=', g.id)
      .where('servers.id', '!=', r.serverId)
      .where('servers.host', 'is not', null)
      .execute();
    for (const p of placed) members.set(p.host!, (members.get(p.host!) ?? 0) + 1);
  }
  if (g?.policy === 'affinity' && members.size) candidates = candidates.filter((c) => members.has(c.host));
  if (g?.policy === 'anti-affinity') {
    const max = Number((JSON.parse(g.rules) as { max_server_per_host?: number }).max_server_per_host ?? 1);
    candidates = candidates.filter((c) => (members.get(c.host) ?? 0) < max);
  }
  if (!candidates.length) throw new NoValidHost();
  if (candidates.length === 1) return [candidates[0].host];

  // 3. Weighers: each weight normalized over the hosts, times the weigher's multiplier for that
  // host (BaseWeightHandler.get_weighed_objects: weigher.weight_multiplier(host_state)).
  const weights = candidates.map(() => 0);
  const multiplier = await aggregateMultipliers(q);
  const weigh = (raw: number[], name: string, configured: number, minval?: number, sign = 1) => {
    normalize(raw, minval).forEach((w, i) => {
      weights[i] += sign * multiplier(candidates[i].host, name, configured) * w;
    });
  };
  weigh(
    candidates.map((c) => c.free.ramMb),
    'ram_weight_multiplier',
    1.0,
    0,
  );
  weigh(
    candidates.map((c) => c.free.vcpus),
    'cpu_weight_multiplier',
    1.0,
    0,
  );
  weigh(
    candidates.map((c) => c.free.diskMb),
    'disk_weight_multiplier',
    1.0,
    0,
  );
  weigh(
    candidates.map((c) => c.usage.ioOps),
    'io_ops_weight_multiplier',
    -1.0,
    0,
  );
  const onHost = (c: Candidate) => members.get(c.host) ?? 0;
  weigh(
    candidates.map((c) => (g?.policy === 'soft-affinity' ? onHost(c) : 0)),
    'soft_affinity_weight_multiplier',
    1.0,
  );
  weigh(
    candidates.map((c) => (g?.policy === 'soft-anti-affinity' ? -onHost(c) : 0)),
    'soft_anti_affinity_weight_multiplier',
    1.0,
  );
  // BuildFailureWeigher: the raw weight is the node's failed_builds, normalized against the
  // list's own minimum and maximum, its multiplier negated (nova/scheduler/weights/compute.py).
  weigh(
    candidates.map((c) => c.failedBuilds),
    'build_failure_weight_multiplier',
    r.buildFailureWeightMultiplier ?? SCHEDULER_DEFAULTS.buildFailureWeightMultiplier,
    undefined,
    -1,
  );
  // Sorted by weight, highest first; ties keep the registration order (Python's stable sort).
  const order = candidates.map((_, i) => i).sort((a, b) => weights[b] - weights[a] || a - b);
  return order.slice(0, count).map((i) => candidates[i].host);
}

/**
 * Schedule a server by its request spec (its zone, forced or requested host, server group, and
 * its flavor — the new one of a resize), with what a move adds (the hosts it must leave, a
 * requested destination).
 */
export async function scheduleServer(
  q: Q,
  row: ServersTable,
  extra: { ignoreHosts?: string[]; requestedHost?: string | null; options?: SchedulerOptions } = {},
): Promise<string> {
  return (await scheduleServerWithAlternates(q, row, { ...extra, count: 1 }))[0];
}

/** A server's hosts by its request spec: the selected one, then up to `count` − 1 alternates. */
export async function scheduleServerWithAlternates(
  q: Q,
  row: ServersTable,
  extra: { ignoreHosts?: string[]; requestedHost?: string | null; options?: SchedulerOptions; count: number },
): Promise<string[]> {
  const hints = fromJson<Record<string, unknown>>(row.scheduler_hints, {});
  const sys = fromJson<Record<string, string>>(row.system_metadata, {});
  const groupId = typeof hints.group === 'string' ? hints.group : Array.isArray(hints.group) ? String(hints.group[0]) : null;
  const group = groupId ? await q.selectFrom('server_groups').selectAll().where('id', '=', groupId).executeTakeFirst() : null;
  return selectHosts(q, {
    serverId: row.id,
    count: extra.count,
    buildFailureWeightMultiplier: extra.options?.buildFailureWeightMultiplier,
    resources: flavorResources(row.new_flavor ?? row.flavor),
    zone: row.pinned_az,
    // A move is scheduled anew: the host forced at boot binds only the boot (Nova resets force_hosts).
    forcedHost: forcedHostOf(row, extra),
    requestedHost: extra.requestedHost ?? (extra.ignoreHosts ? null : (sys.requested_host ?? null)),
    group: group ?? null,
    ignoreHosts: extra.ignoreHosts,
  });
}

/** The host a schedule is forced to (force_hosts): the boot's `zone:host`, never a move's. */
export function forcedHostOf(row: ServersTable, extra: { ignoreHosts?: string[]; requestedHost?: string | null } = {}): string | null {
  const sys = fromJson<Record<string, string>>(row.system_metadata, {});
  // A move is scheduled anew: the host forced at boot binds only the boot (Nova resets force_hosts).
  return extra.ignoreHosts || extra.requestedHost ? null : (sys.forced_host ?? null);
}
