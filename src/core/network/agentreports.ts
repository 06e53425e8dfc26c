/**
 * What a host's agents report of themselves at each heartbeat (report_state's configurations),
 * counted from the store as Neutron's agents count what they run: the Linux bridge agent its
 * devices (ports bound to the host), the DHCP agent its networks, subnets and ports, the L3
 * agent its routers, gateways, interfaces and floating IPs. On the noop data plane the agents
 * exist and are scheduled to, and name `noop` as their driver: nothing is configured.
 */
import type { Q } from '../../store/db.js';
import type { AgentReport, Agents } from './agents.js';
import { HA_REPLICATED_INTF } from './l3ha.js';

/** The zone this host's DHCP and L3 agents report ([AGENT] availability_zone's default). */
const DEFAULT_ZONE = 'nova';

async function countOn(q: Q, table: 'subnets' | 'ports', networkIds: string[]): Promise<number> {
  if (!networkIds.length) return 0;
  const row = await q
    .selectFrom(table)
    .select(({ fn }) => fn.countAll<number>().as('n'))
    .where('network_id', 'in', networkIds)
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

/** What the L2 agent reports of its configuration beyond its devices. */
export interface L2Configuration {
  /**
   * This host's VXLAN endpoint, reported as the Linux bridge agent does with `[vxlan] local_ip`
   * set (get_agent_configurations: tunneling_ip, tunnel_types, l2_population); the other hosts'
   * data planes read it to reach this host's ports (overlay.ts).
   */
  tunnelIp?: string | null;
  /** physical_interface_mappings, reported as the agent's `interface_mappings`. */
  interfaceMappings?: ReadonlyMap<string, string>;
  /** bridge_mappings (physnet → an existing bridge of the host's), reported as `bridge_mappings`. */
  bridgeMappings?: ReadonlyMap<string, string>;
}

export async function hostAgentReports(q: Q, agents: Agents, host: string, dataplane: 'noop' | 'netns', l2: L2Configuration = {}): Promise<AgentReport[]> {
  const tunnelIp = l2.tunnelIp ?? null;
  const real = dataplane === 'netns';
  const served = [...(await agents.servedNetworks(host))];
  const routers = [...(await agents.hostedRouters(host))];
  const devices = await q
    .selectFrom('ports')
    .select(({ fn }) => fn.countAll<number>().as('n'))
    .where('binding_host_id', '=', host)
    .executeTakeFirst();
  const routerPorts = routers.length ? await q.selectFrom('router_ports').select(['router_id', 'port_type']).where('router_id', 'in', routers).execute() : [];
  const floatingIps = routers.length
    ? await q
        .selectFrom('floating_ips')
        .select(({ fn }) => fn.countAll<number>().as('n'))
        .where('router_id', 'in', routers)
        .executeTakeFirst()
    : undefined;
  return [
    {
      kind: 'l2',
      availabilityZone: null,
      configurations: {
        // A flat network on a physical network of bridge_mappings is joined to that existing
        // bridge; on one of interface_mappings its bridge has the interface enslaved; else the
        // public one reaches the host through a routed leg.
        bridge_mappings: Object.fromEntries(l2.bridgeMappings ?? []),
        devices: Number(devices?.n ?? 0),
        extensions: [],
        interface_mappings: Object.fromEntries(l2.interfaceMappings ?? []),
        // Every agent here builds vxlan networks, so ML2 binds their ports here (binding.ts reads
        // tunnel_types as LinuxbridgeMechanismDriver.get_allowed_network_types does): with a
        // tunnel endpoint across hosts, without one (`serve`'s one machine) as this host's own
        // bridges, which a cloud of one host needs nothing more for.
        tunnel_types: ['vxlan'],
        ...(tunnelIp ? { tunneling_ip: tunnelIp, l2_population: true } : {}),
      },
    },
    {
      kind: 'dhcp',
      availabilityZone: DEFAULT_ZONE,
      configurations: {
        dhcp_driver: real ? 'neutron.agent.linux.dhcp.Dnsmasq' : 'noop',
        dhcp_lease_duration: 86400,
        log_agent_heartbeats: false,
        networks: served.length,
        notifies_port_ready: true,
        ports: await countOn(q, 'ports', served),
        subnets: await countOn(q, 'subnets', served),
      },
    },
    {
      kind: 'l3',
      availabilityZone: DEFAULT_ZONE,
      configurations: {
        agent_mode: 'legacy',
        ex_gw_ports: routerPorts.filter((p) => p.port_type === 'network:router_gateway').length,
        extensions: [],
        floating_ips: Number(floatingIps?.n ?? 0),
        handle_internal_only_routers: true,
        interface_driver: real ? 'linuxbridge' : 'noop',
        // An HA router's interfaces are replicated ones (every agent of the router counts them).
        interfaces: routerPorts.filter((p) => p.port_type === 'network:router_interface' || p.port_type === HA_REPLICATED_INTF).length,
        log_agent_heartbeats: false,
        routers: routers.length,
      },
    },
    {
      kind: 'metadata',
      availabilityZone: null,
      configurations: {
        log_agent_heartbeats: false,
        // Neutron's agent listens on a socket its haproxies forward to; here the proxies'
        // listeners are answered in-process.
        metadata_proxy: real ? 'in-process' : 'noop',
      },
    },
  ];
}
