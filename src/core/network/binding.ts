/**
 * Port binding as ML2 with the Linux bridge mechanism driver does it (issue 11 item 7, issue
 * 18): a port bound to a host is bound to the first of its network's segments that host's L2
 * agent reaches (neutron/plugins/ml2/managers.py MechanismManager.bind_port →
 * mech_agent.py AgentMechanismDriverBase.bind_port → try_to_bind_segment_for_agent →
 * check_segment_for_agent): a tunnel segment if the agent reports its type in `tunnel_types`, a
 * flat or VLAN segment if its physical network is in the agent's `interface_mappings` or
 * `bridge_mappings` (LinuxbridgeMechanismDriver.get_mappings). As AgentMechanismDriverBase.bind_port
 * (Zed) refuses: a `binding:vnic_type` the driver does not support (the Linux bridge driver:
 * `normal` only), a host with no agent of the driver's type, and an agent that is not alive
 * (not heard from within agent_down_time, "Refusing to bind port … to dead agent"). An agent that
 * is alive but administratively down still binds: host_agents filters by host and type only
 * (admin_state_up matters only to _possible_agents_for_port, Placement's). A port nothing binds is
 * `binding_failed` with empty details, and stays DOWN (ml2/plugin.py _port_provisioned refuses
 * it); Nova's build then fails with PortBindingFailed. The chosen segment is kept with the port
 * (ML2's bottom binding level) and the host's agent builds the network's bridge from it.
 *
 * One PocketStack convenience is kept: a flat segment of the public physical network is reached
 * on a host without a mapping for it through the routed host leg (DevStack's br-ex, which its
 * Linux bridge agent has in bridge_mappings), so `serve` on one machine binds router gateways
 * as it always has.
 */
import { type Q, UnbindableValue, fromJson } from '../../store/db.js';
import { agentAlive } from './liveness.js';
import { L2_AGENT_TYPE } from './zones.js';

/** portbindings.VIF_TYPE_BINDING_FAILED / VIF_TYPE_UNBOUND / VIF_TYPE_BRIDGE. */
export const VIF_TYPE_BINDING_FAILED = 'binding_failed';
const VIF_TYPE_UNBOUND = 'unbound';
const VIF_TYPE_BRIDGE = 'bridge';
/** portbindings.VNIC_NORMAL: the default, and all the Linux bridge driver supports. */
const VNIC_NORMAL = 'normal';
/** LinuxbridgeMechanismDriver's supported_vnic_types (SimpleAgentMechanismDriverBase's default). */
const SUPPORTED_VNIC_TYPES: ReadonlySet<string> = new Set([VNIC_NORMAL]);

/** The physical network every host reaches, by its interface or else its routed host leg. */
export const HOST_LEG_PHYSNET = 'public';

/** One segment as the binding sees it (network_segments, or the network's own columns). */
export interface BindableSegment {
  /** null: a network kept only in its own columns (before segments were kept). */
  id: string | null;
  networkType: string;
  physicalNetwork: string | null;
}

/** What a host's L2 agent reports that binding reads (its `configurations`). */
export interface L2AgentView {
  tunnelTypes: string[];
  /** interface_mappings and bridge_mappings' physical networks. */
  physnets: Set<string>;
}

export interface Binding {
  vif_type: string;
  vif_details: Record<string, unknown>;
  segmentId: string | null;
}

/** LinuxbridgeMechanismDriver.get_allowed_network_types + check_segment_for_agent, pure. */
export function segmentReachable(seg: BindableSegment, agent: L2AgentView): boolean {
  const type = seg.networkType;
  if (type === 'local') return true;
  if (type === 'flat' || type === 'vlan') {
    const physnet = seg.physicalNetwork ?? '';
    if (agent.physnets.has(physnet)) return true;
    return type === 'flat' && physnet === HOST_LEG_PHYSNET;
  }
  return agent.tunnelTypes.includes(type);
}

/**
 * The segment a port binds to on a host whose agent is `agent`: the first of `segments` (in the
 * network's order) it reaches, among those of the port's subnets when they name segments
 * (AgentMechanismDriverBase.bind_port's allowed_binding_segments); undefined: none.
 */
export function chooseSegment(segments: BindableSegment[], agent: L2AgentView, subnetSegments: Array<string | null> = []): BindableSegment | undefined {
  const allowed = subnetSegments.length === 0 ? segments : segments.filter((s) => subnetSegments.some((id) => id === null || id === s.id));
  return allowed.find((s) => segmentReachable(s, agent));
}

function agentView(configurations: string): L2AgentView {
  const c = fromJson<Record<string, unknown>>(configurations, {});
  const keys = (v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.keys(v) : []);
  const tunnels = Array.isArray(c.tunnel_types) ? c.tunnel_types.filter((t): t is string => typeof t === 'string') : [];
  return { tunnelTypes: tunnels, physnets: new Set([...keys(c.interface_mappings), ...keys(c.bridge_mappings)]) };
}

/** A port row's binding columns for a binding to `host` (every write of a binding goes through here). */
export function bindingColumns(host: string, b: Binding) {
  return { binding_host_id: host, binding_vif_type: b.vif_type, binding_vif_details: JSON.stringify(b.vif_details), binding_segment_id: b.segmentId };
}

const bound = (segmentId: string | null): Binding => ({ vif_type: VIF_TYPE_BRIDGE, vif_details: { connectivity: 'l2', port_filter: true }, segmentId });

const failed = (): Binding => ({ vif_type: VIF_TYPE_BINDING_FAILED, vif_details: {}, segmentId: null });

/**
 * Bind a port of `networkId` (with addresses on `subnetIds`, of `vnicType`) to `host`. '' unbinds.
 * Binds with the first live Linux bridge agent of the host that reaches an allowed segment
 * (AgentMechanismDriverBase.bind_port); anything else is binding_failed.
 */
export async function bindPort(q: Q, networkId: string, host: string, subnetIds: string[] = [], vnicType: string = VNIC_NORMAL): Promise<Binding> {
  if (!host) return { vif_type: VIF_TYPE_UNBOUND, vif_details: {}, segmentId: null };
  // neutron-lib gives binding:host_id no validator: a host that is not a string (a list, an
  // object from a hostile body) is refused as the column would refuse it, before any query uses it.
  if (typeof host !== 'string') throw new UnbindableValue(host);
  // "Refusing to bind due to unsupported vnic_type": the only mechanism driver declines.
  if (!SUPPORTED_VNIC_TYPES.has(vnicType)) return failed();
  const now = Date.now();
  const agents = (
    await q
      .selectFrom('agents')
      .select(['configurations', 'heartbeat_timestamp'])
      .where('host', '=', host)
      .where('agent_type', '=', L2_AGENT_TYPE)
      .orderBy('created_at')
      .orderBy('id')
      .execute()
  ).filter((a) => agentAlive(a.heartbeat_timestamp, now));
  if (!agents.length) return failed();
  const rows = await q
    .selectFrom('network_segments')
    .select(['id', 'network_type', 'physical_network'])
    .where('network_id', '=', networkId)
    .orderBy('segment_index')
    .execute();
  let segments: BindableSegment[] = rows.map((r) => ({ id: r.id, networkType: r.network_type, physicalNetwork: r.physical_network }));
  if (!segments.length) {
    const n = await q.selectFrom('networks').select(['network_type', 'physical_network']).where('id', '=', networkId).executeTakeFirst();
    segments = n ? [{ id: null, networkType: n.network_type, physicalNetwork: n.physical_network }] : [];
  }
  const subnetSegments = subnetIds.length
    ? (await q.selectFrom('subnets').select('segment_id').where('id', 'in', subnetIds).execute()).map((s) => s.segment_id)
    : [];
  for (const a of agents) {
    const seg = chooseSegment(segments, agentView(a.configurations), subnetSegments);
    if (seg) return bound(seg.id);
  }
  return failed();
}

/** The subnets a port has addresses on (what its binding filters segments by). */
export async function portSubnetIds(q: Q, portId: string): Promise<string[]> {
  const rows = await q.selectFrom('ip_allocations').select('subnet_id').where('port_id', '=', portId).execute();
  return [...new Set(rows.map((r) => r.subnet_id))];
}
