import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { REPORT_INTERVAL_S } from './core/network/agents.js';
import { AGENT_DOWN_TIME_S } from './core/network/liveness.js';
import { type ImageOptions, imageOptionsFromEnv } from './core/image/options.js';
import { L3_HA_DEFAULTS, type L3HaOptions } from './core/network/l3ha.js';
import { SCHEDULER_DEFAULTS, type SchedulerOptions } from './core/compute/scheduler.js';
import { boolFromString } from './util/bool.js';
import type { ServicePorts } from './util/ports.js';

export interface Config {
  /** Address the API servers bind to. */
  host: string;
  /** Host name put into the catalog and discovery documents (defaults to `host`). */
  publicHost: string;
  ports: ServicePorts;
  /**
   * The dashboard's port (on `host`): the topology, `explain` and their live updates. 0 picks a
   * free port (tests); it is printed at start-up either way.
   */
  dashboardPort: number;
  dataDir: string;
  /** `sqlite:<file>` (default `<dataDir>/pocketstack.db`) or `postgres://…`. */
  databaseUrl: string;
  region: string;
  tokenTtlSeconds: number;
  /** VXLAN VNI range for tenant networks, like Neutron's `vni_ranges`. */
  vxlanRange: [number, number];
  /**
   * VLAN ranges by physical network, like ML2's `network_vlan_ranges` (`physnet1:100:199`; a
   * physical network without a range takes provider VLANs only).
   */
  vlanRanges: Array<{ physicalNetwork: string; minimum?: number; maximum?: number }>;
  /** neutron.conf's `dns_domain`: with Neutron's default `openstacklocal` ports' dns_name is not used. */
  dnsDomain: string;
  /** Passwords for the bootstrap users; generated on first start when not given. */
  adminPassword?: string;
  demoPassword?: string;
  logLevel: string;
  /** Which data plane reconciles the store into the machine. */
  dataplane: 'noop' | 'netns';
  /** Load-balancer engine: HAProxy when installed (`auto`), or the built-in proxy. */
  lbEngine: 'auto' | 'haproxy' | 'builtin';
  /**
   * `noop` accepts VIP and member subnets Neutron does not know, as Octavia's noop network driver
   * does (Octavia's own API tests run that way); such load balancers are never served.
   */
  lbNetworkDriver: 'neutron' | 'noop';
  /** Serve Neutron LBaaS v1 (`/v2.0/lb/...`, the `lbaas` extension) on the network endpoint. */
  lbaasV1: boolean;
  /**
   * netns: the unprivileged user load balancers' proxies run as — not the instances' user, so
   * tenants' user_data can never signal or trace another tenant's load balancer.
   */
  lbUser: string;
  /** netns: two characters starting every namespace and host link the data plane owns. */
  dataplanePrefix: string;
  /** netns: a full read-back of the kernel at least this often (ms). */
  dataplaneResyncMs: number;
  /**
   * The host this process's agents report as (Neutron's `host` option; this machine's name by
   * default): `pocketstack agent --host NAME` sets it (POCKETSTACK_AGENT_HOST).
   */
  agentHost: string;
  /**
   * `serve` runs this host's agents (L2, DHCP, L3, metadata: the data plane) in-process, so one
   * machine is one command; false (`--no-local-agent`, POCKETSTACK_LOCAL_AGENT=false) makes it
   * API-only, for clouds whose hosts run `pocketstack agent`.
   */
  localAgent: boolean;
  /**
   * This host's tunnel endpoint (the OVS agent's `[ovs] local_ip`, the Linux bridge agent's
   * `[vxlan] local_ip`; POCKETSTACK_TUNNEL_IP): with it, tenant vxlan networks reach the other
   * hosts' parts over kernel VXLAN (dataplane/netns/overlay.ts), and the L2 agent reports it as
   * `tunneling_ip`. Null: no overlay (one machine).
   */
  tunnelIp: string | null;
  /**
   * The network namespace that holds `tunnelIp` (POCKETSTACK_UNDERLAY_NETNS): null is this
   * process's own, a real host's; `pocketstack lab` gives each simulated host its namespace.
   */
  underlayNetns: string | null;
  /**
   * The Linux bridge agent's `[vxlan] arp_responder` (with l2_population; Neutron's default
   * false; `--arp-responder`, POCKETSTACK_VXLAN_ARP_RESPONDER): each VXLAN device is made with
   * `proxy` and holds a permanent neighbour entry per remote port's fixed IP, so the kernel
   * answers ARP (and IPv6 neighbour solicitations) for remote ports itself and sends none into
   * the overlay (dataplane/netns/overlay.ts). As in Neutron, not fully compatible with
   * allowed-address-pairs: an address that is no port's fixed IP is not answered across hosts.
   */
  vxlanArpResponder: boolean;
  /**
   * The Linux bridge agent's `physical_interface_mappings` (physnet → an interface of this host;
   * `--physical-interface-mappings public:eth1`, POCKETSTACK_PHYSICAL_INTERFACE_MAPPINGS): a flat
   * network on a mapped physical network is its bridge with that interface enslaved, the same L2
   * segment on every host so mapped, instead of this host's own bridge with a routed host leg. The
   * interface lives in `underlayNetns` (or this process's namespace) until a network takes it.
   */
  interfaceMappings: Map<string, string>;
  /**
   * The Linux bridge agent's `bridge_mappings` (physnet → an existing bridge of this host's own
   * namespace; `--bridge-mappings physnet1:br-phys`, POCKETSTACK_BRIDGE_MAPPINGS): a flat network
   * on a mapped physical network is joined to that bridge, taking precedence over
   * `interfaceMappings` as in the agent's ensure_physical_in_bridge.
   */
  bridgeMappings: Map<string, string>;
  /** Neutron's `agent_down_time` (s): an agent not heard from for longer is shown dead (POCKETSTACK_AGENT_DOWN_TIME). */
  agentDownTime: number;
  /** Neutron's `report_interval` (s): how often agents report their state (POCKETSTACK_REPORT_INTERVAL). */
  reportInterval: number;
  /**
   * Neutron's `allow_automatic_l3agent_failover` (POCKETSTACK_ALLOW_AUTOMATIC_L3AGENT_FAILOVER,
   * false as there): legacy routers leave an L3 agent silent for twice agent_down_time for a live
   * one. Off, a dead agent's routers wait for an admin (or an HA router's keepalived).
   */
  allowAutomaticL3agentFailover: boolean;
  /**
   * What this host's nova-compute reports of it (os-hypervisors; what the scheduler places by):
   * this machine's CPUs, memory and data directory's disk where unset. `pocketstack agent
   * --vcpus N --memory-mb M --disk-gb G` (simulated lab hosts can be small), or
   * POCKETSTACK_HOST_VCPUS, POCKETSTACK_HOST_MEMORY_MB, POCKETSTACK_HOST_DISK_GB.
   */
  hostCapacity: { vcpus?: number; memoryMb?: number; diskGb?: number };
  /**
   * Neutron's `l3_ha` (POCKETSTACK_L3_HA, false), `max_l3_agents_per_router`
   * (POCKETSTACK_MAX_L3_AGENTS_PER_ROUTER, 3) and `l3_ha_net_cidr` (POCKETSTACK_L3_HA_NET_CIDR,
   * 169.254.192.0/18).
   */
  l3Ha: L3HaOptions;
  /**
   * The L3 agent's VRRP for HA routers where keepalived runs them (`pocketstack agent` on netns):
   * `ha_vrrp_advert_int` (POCKETSTACK_HA_VRRP_ADVERT_INT, 2 s) and, when
   * POCKETSTACK_HA_VRRP_AUTH_PASSWORD is set, `ha_vrrp_auth_type` (POCKETSTACK_HA_VRRP_AUTH_TYPE,
   * PASS or AH; Neutron's default PASS) with that password; POCKETSTACK_HA_VRRP_VERSION 3 (an
   * extension: Neutron runs keepalived's default, 2) for VRRPv3, whose advertisement interval
   * may be a fraction of a second (hundredths); `ha_vrrp_health_check_interval`
   * (POCKETSTACK_HA_VRRP_HEALTH_CHECK_INTERVAL, 0: off).
   */
  /**
   * The agent's [AGENT] `check_child_processes_interval` (POCKETSTACK_CHECK_CHILD_PROCESSES_INTERVAL,
   * 60 s, 0: off) and `check_child_processes_action` (POCKETSTACK_CHECK_CHILD_PROCESSES_ACTION,
   * respawn or exit): how often a `pocketstack agent` looks for its HA routers' keepalived, and
   * what it does when one died.
   */
  checkChildProcesses: { intervalS: number; action: 'respawn' | 'exit' };
  haVrrp: { advertInt: number; auth?: { type: 'AH' | 'PASS'; password: string }; version?: 2 | 3; healthCheckInterval?: number };
  /**
   * First start: also DevStack's shared default subnet pools (`shared-default-subnetpool`,
   * 10.0.0.0/8 by /24 and 2001:db8:8000::/48 by /64, `shared`, `is_default`) and `is_default` on
   * `public`, as DevStack's create_neutron_initial_network makes them where auto-allocated-topology
   * is served (`--default-subnetpools`, POCKETSTACK_DEFAULT_SUBNETPOOLS). Off by default: a cloud
   * without them is a Neutron as installed, and what Tempest and the golden replays expect.
   */
  defaultSubnetpools: boolean;
  /**
   * First start: also the demo project's `private` network (`private-subnet` 10.0.0.0/22 and
   * `ipv6-private-subnet`, a random fd00::/8 /64 in SLAAC) and its `router1`, with public as its
   * gateway and both subnets as interfaces, as DevStack's create_neutron_initial_network makes
   * them (NEUTRON_CREATE_INITIAL_NETWORKS, True there) (`--initial-networks`,
   * POCKETSTACK_INITIAL_NETWORKS). Off by default: the First App tutorial has its user make their
   * own, and Tempest and the golden replays expect a cloud with `public` alone.
   */
  initialNetworks: boolean;
  /**
   * The L3 agent's `send_arp_for_ha` (POCKETSTACK_SEND_ARP_FOR_HA, 3; 0: none): rounds of
   * gratuitous ARPs a router sends for each IPv4 address it adds (its gateway's, interfaces',
   * floating IPs), on the netns data plane.
   */
  sendArpForHa: number;
  /**
   * Accepted and ignored (`--run-user-data` of earlier versions): user_data now always runs, as
   * root inside the instance's own namespaces, never on the host.
   */
  runUserData: boolean;
  /** netns: the first host id of the range instances' user namespaces map their ids 0…65535 to. */
  instanceIdBase: number;
  /** Largest image upload accepted, in bytes (Glance's image_size_cap; 1 TiB by default). */
  imageSizeCap: number;
  /**
   * Without an instance host (noop data plane), how long a server action stays in its
   * transitional status (REBOOT, RESIZE …) before it completes (POCKETSTACK_COMPUTE_ACTION_MS).
   */
  computeActionMs: number;
  /**
   * How often the compute manager passes over the servers in flight unprompted
   * (POCKETSTACK_COMPUTE_RESYNC_MS, 5 s): changes wake it at once; this catches what none
   * announced.
   */
  computeResyncMs: number;
  /**
   * Nova's [scheduler] max_attempts (POCKETSTACK_SCHEDULER_MAX_ATTEMPTS, 3, at least 1),
   * [filter_scheduler] build_failure_weight_multiplier
   * (POCKETSTACK_BUILD_FAILURE_WEIGHT_MULTIPLIER, 1000000.0) and [compute]
   * consecutive_build_service_disable_threshold
   * (POCKETSTACK_CONSECUTIVE_BUILD_SERVICE_DISABLE_THRESHOLD, 10; 0: failed builds not counted).
   */
  scheduler: SchedulerOptions;
  /** Glance's stores, import methods, web-download filter and location display (POCKETSTACK_IMAGE_*). */
  image: ImageOptions;
  /** Default quota overrides, like neutron.conf's [quotas] quota_port = -1 (POCKETSTACK_QUOTA_PORT). */
  quotas: Record<string, number>;
}

const int = (v: string | undefined, d: number): number => (v === undefined || v === '' ? d : Number.parseInt(v, 10));
const optInt = (v: string | undefined): number | undefined => (v === undefined || v === '' ? undefined : Number.parseInt(v, 10));

/** Nova's scheduling options; a value oslo.config would refuse stops the start, as it stops Nova's. */
function schedulerOptionsFromEnv(env: NodeJS.ProcessEnv): SchedulerOptions {
  const number = (name: string, d: number, integer: boolean, min?: number): number => {
    const v = env[name];
    if (v === undefined || v === '') return d;
    const n = Number(v);
    if (!Number.isFinite(n) || (integer && !Number.isInteger(n)) || (min !== undefined && n < min)) {
      throw new Error(`${name}: ${JSON.stringify(v)} is not ${integer ? 'an integer' : 'a number'}${min !== undefined ? ` of at least ${min}` : ''}`);
    }
    return n;
  };
  return {
    maxAttempts: number('POCKETSTACK_SCHEDULER_MAX_ATTEMPTS', SCHEDULER_DEFAULTS.maxAttempts, true, 1),
    buildFailureWeightMultiplier: number('POCKETSTACK_BUILD_FAILURE_WEIGHT_MULTIPLIER', SCHEDULER_DEFAULTS.buildFailureWeightMultiplier, false),
    consecutiveBuildServiceDisableThreshold: number(
      'POCKETSTACK_CONSECUTIVE_BUILD_SERVICE_DISABLE_THRESHOLD',
      SCHEDULER_DEFAULTS.consecutiveBuildServiceDisableThreshold,
      true,
    ),
  };
}

/** `physnet1:100:199,physnet2` as ML2's network_vlan_ranges. */
function parseVlanRanges(text: string): Config['vlanRanges'] {
  return text
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)
    .map((e) => {
      const [physicalNetwork, lo, hi] = e.split(':');
      return lo === undefined ? { physicalNetwork } : { physicalNetwork, minimum: Number.parseInt(lo, 10), maximum: Number.parseInt(hi ?? lo, 10) };
    });
}

/** Defaults, overridden by `POCKETSTACK_*` environment variables, overridden by explicit options. */
export function loadConfig(overrides: Partial<Config> = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const dataDir = resolve(overrides.dataDir ?? env.POCKETSTACK_DATA_DIR ?? '.pocketstack');
  const host = overrides.host ?? env.POCKETSTACK_HOST ?? '127.0.0.1';
  const range = (env.POCKETSTACK_VXLAN_RANGE ?? '1:1000').split(':').map((x) => Number.parseInt(x, 10));
  const base: Config = {
    host,
    publicHost: env.POCKETSTACK_PUBLIC_HOST ?? (host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host),
    ports: {
      identity: int(env.POCKETSTACK_IDENTITY_PORT, 5000),
      network: int(env.POCKETSTACK_NETWORK_PORT, 9696),
      compute: int(env.POCKETSTACK_COMPUTE_PORT, 8774),
      image: int(env.POCKETSTACK_IMAGE_PORT, 9292),
      loadBalancer: int(env.POCKETSTACK_LOAD_BALANCER_PORT, 9876),
      keyManager: int(env.POCKETSTACK_KEY_MANAGER_PORT, 9311),
    },
    dashboardPort: int(env.POCKETSTACK_DASHBOARD_PORT, 8080),
    dataDir,
    databaseUrl: env.POCKETSTACK_DATABASE_URL ?? `sqlite:${resolve(dataDir, 'pocketstack.db')}`,
    region: env.POCKETSTACK_REGION ?? 'RegionOne',
    tokenTtlSeconds: int(env.POCKETSTACK_TOKEN_TTL, 3600),
    vxlanRange: [range[0] ?? 1, range[1] ?? 1000],
    vlanRanges: parseVlanRanges(env.POCKETSTACK_VLAN_RANGES ?? 'physnet1:100:199'),
    dnsDomain: env.POCKETSTACK_DNS_DOMAIN ?? 'openstacklocal',
    adminPassword: env.POCKETSTACK_ADMIN_PASSWORD || undefined,
    demoPassword: env.POCKETSTACK_DEMO_PASSWORD || undefined,
    logLevel: env.POCKETSTACK_LOG_LEVEL ?? 'info',
    dataplane: (env.POCKETSTACK_DATAPLANE as Config['dataplane']) ?? 'noop',
    lbEngine: (env.POCKETSTACK_LB_ENGINE as Config['lbEngine']) || 'auto',
    lbNetworkDriver: (env.POCKETSTACK_LB_NETWORK_DRIVER as Config['lbNetworkDriver']) || 'neutron',
    lbaasV1: env.POCKETSTACK_LBAAS_V1 !== 'false',
    lbUser: env.POCKETSTACK_LB_USER ?? 'haproxy',
    dataplanePrefix: env.POCKETSTACK_DATAPLANE_PREFIX ?? 'ps',
    dataplaneResyncMs: int(env.POCKETSTACK_DATAPLANE_RESYNC_MS, 10_000),
    agentHost: env.POCKETSTACK_AGENT_HOST || hostname(),
    localAgent: env.POCKETSTACK_LOCAL_AGENT === undefined || env.POCKETSTACK_LOCAL_AGENT === '' || boolFromString(env.POCKETSTACK_LOCAL_AGENT),
    tunnelIp: env.POCKETSTACK_TUNNEL_IP || null,
    underlayNetns: env.POCKETSTACK_UNDERLAY_NETNS || null,
    vxlanArpResponder: !!env.POCKETSTACK_VXLAN_ARP_RESPONDER && boolFromString(env.POCKETSTACK_VXLAN_ARP_RESPONDER),
    interfaceMappings: parseInterfaceMappings(env.POCKETSTACK_PHYSICAL_INTERFACE_MAPPINGS ?? ''),
    bridgeMappings: parseInterfaceMappings(env.POCKETSTACK_BRIDGE_MAPPINGS ?? '', 'bridge'),
    agentDownTime: int(env.POCKETSTACK_AGENT_DOWN_TIME, AGENT_DOWN_TIME_S),
    reportInterval: int(env.POCKETSTACK_REPORT_INTERVAL, REPORT_INTERVAL_S),
    allowAutomaticL3agentFailover: boolFromString(env.POCKETSTACK_ALLOW_AUTOMATIC_L3AGENT_FAILOVER),
    hostCapacity: {
      vcpus: optInt(env.POCKETSTACK_HOST_VCPUS),
      memoryMb: optInt(env.POCKETSTACK_HOST_MEMORY_MB),
      diskGb: optInt(env.POCKETSTACK_HOST_DISK_GB),
    },
    l3Ha: {
      defaultHa: boolFromString(env.POCKETSTACK_L3_HA),
      maxAgentsPerRouter: int(env.POCKETSTACK_MAX_L3_AGENTS_PER_ROUTER, L3_HA_DEFAULTS.maxAgentsPerRouter),
      netCidr: env.POCKETSTACK_L3_HA_NET_CIDR || L3_HA_DEFAULTS.netCidr,
    },
    checkChildProcesses: {
      intervalS: int(env.POCKETSTACK_CHECK_CHILD_PROCESSES_INTERVAL, 60),
      action: env.POCKETSTACK_CHECK_CHILD_PROCESSES_ACTION === 'exit' ? 'exit' : 'respawn',
    },
    haVrrp: {
      advertInt: env.POCKETSTACK_HA_VRRP_ADVERT_INT ? Number(env.POCKETSTACK_HA_VRRP_ADVERT_INT) : 2,
      ...(env.POCKETSTACK_HA_VRRP_VERSION ? { version: Number(env.POCKETSTACK_HA_VRRP_VERSION) as 2 | 3 } : {}),
      ...(env.POCKETSTACK_HA_VRRP_HEALTH_CHECK_INTERVAL ? { healthCheckInterval: Number(env.POCKETSTACK_HA_VRRP_HEALTH_CHECK_INTERVAL) } : {}),
      ...(env.POCKETSTACK_HA_VRRP_AUTH_PASSWORD
        ? { auth: { type: env.POCKETSTACK_HA_VRRP_AUTH_TYPE === 'AH' ? 'AH' : 'PASS', password: env.POCKETSTACK_HA_VRRP_AUTH_PASSWORD } }
        : {}),
    },
    sendArpForHa: int(env.POCKETSTACK_SEND_ARP_FOR_HA, 3),
    runUserData: boolFromString(env.POCKETSTACK_RUN_USER_DATA),
    defaultSubnetpools: boolFromString(env.POCKETSTACK_DEFAULT_SUBNETPOOLS),
    initialNetworks: boolFromString(env.POCKETSTACK_INITIAL_NETWORKS),
    instanceIdBase: int(env.POCKETSTACK_INSTANCE_ID_BASE, 1_000_000_000),
    imageSizeCap: int(env.POCKETSTACK_IMAGE_SIZE_CAP, 1024 ** 4),
    computeActionMs: int(env.POCKETSTACK_COMPUTE_ACTION_MS, 250),
    computeResyncMs: int(env.POCKETSTACK_COMPUTE_RESYNC_MS, 5_000),
    scheduler: schedulerOptionsFromEnv(env),
    image: imageOptionsFromEnv(env),
    quotas: Object.fromEntries(
      Object.entries(env)
        .filter(([k, v]) => k.startsWith('POCKETSTACK_QUOTA_') && v !== undefined && /^-?\d+$/.test(v))
        .map(([k, v]) => [k.slice('POCKETSTACK_QUOTA_'.length).toLowerCase(), Number(v)]),
    ),
  };
  return { ...base, ...overrides, ports: { ...base.ports, ...(overrides.ports ?? {}) } };
}

/** Interface names the kernel takes (IFNAMSIZ: 15 characters) and `ip` reads as a name. */
const IFNAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/;

/**
 * `physnet:interface[,physnet:interface…]`, as neutron's `helpers.parse_mappings` reads
 * physical_interface_mappings (and bridge_mappings, `what` 'bridge'): each key and each value
 * once (unique_values), blanks ignored.
 */
export function parseInterfaceMappings(text: string, what: 'interface' | 'bridge' = 'interface'): Map<string, string> {
  const out = new Map<string, string>();
  const used = new Set<string>();
  for (const item of text.split(',').map((x) => x.trim())) {
    if (!item) continue;
    const i = item.lastIndexOf(':');
    const physnet = i > 0 ? item.slice(0, i).trim() : '';
    const dev = i > 0 ? item.slice(i + 1).trim() : '';
    if (!physnet || !dev) throw new Error(`Invalid mapping: '${item}' (physnet:${what})`);
    if (!IFNAME.test(dev)) throw new Error(`Invalid mapping: '${item}': '${dev}' is not an interface name`);
    if (out.has(physnet)) throw new Error(`Key ${physnet} in mapping: '${item}' not unique`);
    if (used.has(dev)) throw new Error(`Value ${dev} in mapping: '${item}' not unique`);
    out.set(physnet, dev);
    used.add(dev);
  }
  return out;
}
