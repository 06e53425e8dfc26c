/**
 * Which host a load balancer runs on (issue 18). Octavia's amphora driver boots each amphora as
 * a Nova server (octavia/controller/worker/v2/tasks/compute_tasks.py ComputeCreate, with the
 * availability zone's `compute_zone` from its profile), and nova-scheduler puts it on a compute
 * host; the amphora then plugs the VIP port, which Neutron binds to that host. Here the
 * "amphora" is the load-balancer engine of a host's agent (`pocketstack agent`, or `serve`'s
 * local agent), serving the load balancer in a namespace on the VIP network: a load balancer
 * runs on a host whose Linux bridge agent is alive, administratively up and reaches a segment of
 * the VIP network (the binding ML2 would make there, binding.ts), in the compute zone asked for
 * (the Nova zone of the host, from the aggregates: compute/aggregates.ts hostZones). Among
 * those, the host serving the fewest load balancers, ties to the agent registered first (as
 * Neutron's LeastRoutersScheduler spreads routers). The VIP port is bound to that host, so its
 * `binding:host_id` is where the load balancer runs, which is what l2population sends the VIP's
 * traffic to, and what the engines and the failover below read.
 *
 * Octavia's health manager fails over an amphora that stopped sending heartbeats
 * (octavia/controller/healthmanager/health_manager.py → failover_amphora): here an engine's
 * heartbeat is its host's L2 agent's, so a load balancer whose host's agent is no longer alive
 * (agent_down_time) is rebuilt on another live host (`lostHostLoadBalancers` and `moveVip`).
 */
import { fromJson } from '../../store/db.js';
import type { Q } from '../../store/db.js';
import { DEFAULT_AZ, hostZones } from '../compute/aggregates.js';
import { VIF_TYPE_BINDING_FAILED, bindPort } from '../network/binding.js';
import { agentAlive } from '../network/liveness.js';
import { L2_AGENT_TYPE } from '../network/zones.js';

/** Device owners of VIP ports: Octavia's (v2) and Neutron LBaaS v1's. */
export const VIP_PORT_OWNERS = ['Octavia', 'neutron:LOADBALANCER'];

export interface HostRequest {
  networkId: string;
  /** The VIP's subnets (a binding must reach a segment they are on). */
  subnetIds: string[];
  /** The Nova zone asked for (the Octavia availability zone's `compute_zone`), or null. */
  zone: string | null;
  /** Hosts not to choose (a failover leaves its lost host). */
  exclude?: ReadonlySet<string>;
}

/**
 * The hosts whose L2 agent is alive, in registration order; `schedulable`: administratively up
 * too (the schedulers hand nothing new to a disabled agent; one that is only disabled still runs
 * what it has).
 */
async function liveHosts(q: Q, schedulable: boolean, now = Date.now()): Promise<string[]> {
  const rows = await q
    .selectFrom('agents')
    .select(['host', 'heartbeat_timestamp', 'admin_state_up'])
    .where('agent_type', '=', L2_AGENT_TYPE)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  const out: string[] = [];
  for (const r of rows) if ((!schedulable || r.admin_state_up === 1) && agentAlive(r.heartbeat_timestamp, now) && !out.includes(r.host)) out.push(r.host);
  return out;
}

/** Whether `host` has a live L2 agent (an engine's heartbeat). */
export async function hostAlive(q: Q, host: string): Promise<boolean> {
  if (!host) return false;
  const rows = await q.selectFrom('agents').select('heartbeat_timestamp').where('agent_type', '=', L2_AGENT_TYPE).where('host', '=', host).execute();
  return rows.some((r) => agentAlive(r.heartbeat_timestamp));
}

/**
 * The host a load balancer with this VIP goes to, or null when no live host qualifies (the
 * caller decides: a create keeps its server's own host, a failover waits for one).
 */
export async function chooseLoadBalancerHost(q: Q, req: HostRequest): Promise<string | null> {
  let hosts = (await liveHosts(q, true)).filter((h) => !req.exclude?.has(h));
  if (req.zone !== null) {
    const zones = await hostZones(q);
    hosts = hosts.filter((h) => (zones.get(h) ?? DEFAULT_AZ) === req.zone);
  }
  const reaching: string[] = [];
  for (const h of hosts) {
    const b = await bindPort(q, req.networkId, h, req.subnetIds);
    if (b.vif_type !== VIF_TYPE_BINDING_FAILED) reaching.push(h);
  }
  if (!reaching.length) return null;
  const load = new Map<string, number>();
  const rows = await q
    .selectFrom('ports')
    .select(['binding_host_id'])
    .where('device_owner', 'in', VIP_PORT_OWNERS)
    .where('binding_host_id', 'in', reaching)
    .execute();
  for (const r of rows) load.set(r.binding_host_id, (load.get(r.binding_host_id) ?? 0) + 1);
  let best = reaching[0];
  for (const h of reaching) if ((load.get(h) ?? 0) < (load.get(best) ?? 0)) best = h;
  return best;
}

/**
 * The Nova zone an Octavia availability zone puts amphorae in: its profile's `compute_zone`
 * (the amphora driver's AZ capability), null when it names none (any zone).
 */
export async function computeZoneOf(q: Q, availabilityZone: string | null | undefined): Promise<string | null> {
  if (!availabilityZone) return null;
  const row = await q
    .selectFrom('lb_availability_zones as az')
    .innerJoin('lb_az_profiles as p', 'p.id', 'az.availability_zone_profile_id')
    .select('p.availability_zone_data')
    .where('az.name', '=', availabilityZone)
    .executeTakeFirst();
  const data = fromJson<unknown>(row?.availability_zone_data, {});
  if (!data || typeof data !== 'object' || Array.isArray(data) || !Object.hasOwn(data, 'compute_zone')) return null;
  const zone = (data as { compute_zone?: unknown }).compute_zone;
  return typeof zone === 'string' && zone !== '' ? zone : null;
}

/** Where a load balancer is served: its VIP's kind and the host its VIP port is bound to. */
export interface Served {
  vipKind: string;
  /** The VIP port's binding:host_id ('' when unbound or there is no port). */
  host: string;
}

export async function servedAt(q: Q, lbId: string): Promise<Served | undefined> {
  const row = await q
    .selectFrom('lb_loadbalancers as lb')
    .leftJoin('ports as p', 'p.id', 'lb.vip_port_id')
    .select(['lb.vip_kind', 'p.binding_host_id'])
    .where('lb.id', '=', lbId)
    .executeTakeFirst();
  return row ? { vipKind: row.vip_kind, host: row.binding_host_id ?? '' } : undefined;
}

/** Load balancers with a real VIP whose port is bound to a host without a live L2 agent. */
export async function lostHostLoadBalancers(q: Q): Promise<Array<{ id: string; host: string }>> {
  const rows = await q
    .selectFrom('lb_loadbalancers as lb')
    .innerJoin('ports as p', 'p.id', 'lb.vip_port_id')
    .select(['lb.id', 'p.binding_host_id'])
    .where('lb.vip_kind', '!=', 'noop')
    .execute();
  const live = new Set(await liveHosts(q, false));
  return rows.filter((r) => !live.has(r.binding_host_id)).map((r) => ({ id: r.id, host: r.binding_host_id }));
}
