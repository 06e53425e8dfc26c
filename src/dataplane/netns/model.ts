/**
 * The two sides of a reconcile pass as plain data: what the store says (Snapshot) and what the
 * kernel should hold (Desired). Both are built without touching the machine, so the logic that
 * turns one into the other is unit-tested.
 */

import type { KeepalivedInstanceSpec } from './keepalivedconf.js';
import type { DhcpNetwork } from './dhcp/dnsmasq.js';
import type { Owner } from './owners.js';
import type { Handover } from '../../core/compute/host.js';

// ------------------------------------------------------------------ the store, as read

/** One of a network's segments (network_segments), as ports bind to it. */
export interface SegmentRec {
  id: string;
  networkType: string;
  physicalNetwork: string | null;
  segmentationId: number | null;
}

export interface NetworkRec {
  id: string;
  mtu: number;
  adminUp: boolean;
  /**
   * The segment the network is on this host: its first as read (the network's own columns), and
   * in a host's part the one its ports there are bound to (hostpart.ts segmentOnHost).
   */
  networkType: string;
  physicalNetwork: string | null;
  segmentationId: number | null;
  /** All its segments in order (absent or empty: the columns above are its one segment). */
  segments?: SegmentRec[];
  /** In a host's part of a network of several segments: the one chosen there. */
  segmentId?: string;
  /** Its QoS policy (applies to its ports that have none of their own). */
  qosPolicyId?: string | null;
}

export interface HostRoute {
  destination: string;
  nexthop: string;
}

export interface SubnetRec {
  id: string;
  networkId: string;
  ipVersion: 4 | 6;
  cidr: string;
  gatewayIp: string | null;
  hostRoutes: HostRoute[];
  /** DHCP (Neutron's DHCP agent's dnsmasq) serves it. */
  enableDhcp: boolean;
  dnsNameservers: string[];
  ipv6AddressMode: string | null;
  ipv6RaMode: string | null;
  /** The address scope of its subnet pool (null: none). */
  addressScopeId?: string | null;
}

export interface AddressPair {
  ipAddress: string;
  macAddress: string;
}

export interface PortRec {
  id: string;
  networkId: string;
  mac: string;
  adminUp: boolean;
  status: string;
  deviceId: string;
  deviceOwner: string;
  bindingHost: string;
  /** The segment its binding chose (binding_segment_id; null or absent: unknown, the first). */
  bindingSegment?: string | null;
  /** binding:vif_type binding_failed: no segment of its network reachable on its host. */
  bindingFailed?: boolean;
  portSecurity: boolean;
  fixedIps: Array<{ subnetId: string; ipAddress: string }>;
  allowedAddressPairs: AddressPair[];
  securityGroups: string[];
  createdAt: string;
  /** extra_dhcp_opts (given to the port's host by dnsmasq). */
  extraDhcpOpts: Array<{ optName: string; optValue: string; ipVersion: 4 | 6 }>;
  /** Its own QoS policy (over its network's). */
  qosPolicyId?: string | null;
}

export interface RuleRec {
  id: string;
  direction: 'ingress' | 'egress';
  ethertype: 'IPv4' | 'IPv6';
  protocol: string | null;
  portMin: number | null;
  portMax: number | null;
  remoteIpPrefix: string | null;
  remoteGroupId: string | null;
}

export interface SecurityGroupRec {
  id: string;
  stateful: boolean;
  rules: RuleRec[];
  /** Its project (a security-group log naming no group logs the ports of its project's groups). */
  projectId?: string;
}

/** An enabled security-group log object (Neutron's `logging`). */
export interface SgLogRec {
  id: string;
  projectId: string;
  resourceId: string | null;
  targetId: string | null;
  event: 'ALL' | 'ACCEPT' | 'DROP';
}

export interface RouterRec {
  id: string;
  adminUp: boolean;
  status: string;
  enableSnat: boolean;
  gatewayPortId: string | null;
  routes: HostRoute[];
  /** `l3-ndp-proxy`: its NDP proxies are answered on the gateway leg. */
  enableNdpProxy?: boolean;
  /** An HA router's VRRP id (l3-ha): keepalived holds its addresses where the data plane runs it. */
  haVrid?: number;
}

export interface FloatingIpRec {
  id: string;
  floatingIp: string;
  fixedIp: string | null;
  portId: string | null;
  routerId: string | null;
  status: string;
}

/**
 * What an instance should be doing: running, stopped, or running but frozen — `paused` (Nova's
 * pause) or `suspended` (Nova's suspend): a machine's control group is frozen for both.
 */
export type DesiredPower = 'running' | 'stopped' | 'paused' | 'suspended';

/** An image as the data plane boots it: its data file and what Glance says of it. */
export interface ImageRef {
  id: string;
  /** Glance's MD5 checksum of the data (null: no data). */
  checksum: string | null;
  diskFormat: string | null;
  containerFormat: string | null;
  /** The data file. */
  path: string;
}

/** A server's machine: what it boots and the resources its flavor gives it. */
export interface MachineSpec {
  /** The server's hostname (Nova's sanitized name). */
  hostname: string;
  /** The image its root file system comes from (null: the image is gone or has no data). */
  image: ImageRef | null;
  flavor: { name: string; vcpus: number; ramMb: number; diskGb: number };
  /** Bumped by a rebuild: a different value than the one booted means a fresh root file system. */
  rootGeneration: number;
  configDrive: boolean;
  /**
   * Nova's rescue: the machine boots this image's tree (with writes of its own, thrown away at
   * unrescue) and its own root file system is mounted at /mnt/disk, as a rescued server's disk
   * is attached beside the rescue disk. `image` null: the rescue image is gone.
   */
  rescue: { image: ImageRef | null } | null;
  /** Personality files (Nova ≤ 2.56): the init writes them into the root file system before anything runs. */
  files: InstanceFile[];
}

/** A personality file: its absolute path in the guest and its contents (base64). */
export interface InstanceFile {
  path: string;
  contents: string;
}

/**
 * A QoS rule the data plane enforces on a port: a bandwidth limit (kbit/s and kbit of burst), a
 * packet rate limit (kpps and kpackets) or a DSCP mark. Directions are Neutron's, seen from the
 * instance: egress leaves it, ingress reaches it. Minimum rules are placement's, not the kernel's.
 */
export type QosRuleRec =
  | { type: 'bandwidth_limit' | 'packet_rate_limit'; direction: 'ingress' | 'egress'; max: number; burst: number }
  | { type: 'dscp_marking'; mark: number };

/** A floating IP's port (or range) forwarded to an internal address and port (or range). */
export interface PortForwardingRec {
  id: string;
  floatingIpId: string;
  protocol: string;
  internalIp: string;
  /** First and last port (a single port is a range of one). */
  internal: [number, number];
  external: [number, number];
}

/**
 * A trunk (Neutron's `trunk` plugin): its parent port and the subports carried on it, each as a
 * VLAN (802.1Q, its segmentation id) of the parent's interface.
 */
export interface TrunkRec {
  id: string;
  portId: string;
  adminUp: boolean;
  status: string;
  subports: Array<{ portId: string; segmentationId: number }>;
}

/** A server as the data plane needs it (compute's tables, or ports grouped by device when absent). */
export interface InstanceRec {
  id: string;
  power: DesiredPower;
  /** Bumped by every start/reboot: a different value than the one booted means boot again. */
  bootGeneration: number;
  /** Port ids in NIC order (eth0, eth1 …) when compute records it; else by creation time. */
  nics?: string[];
  /** The machine (compute's servers); absent for a bare namespace (ports grouped by device). */
  machine?: MachineSpec;
  /** The host Nova scheduled it to (servers.host); absent for ports grouped by device. */
  host?: string;
}

export interface Snapshot {
  networks: NetworkRec[];
  subnets: SubnetRec[];
  ports: PortRec[];
  securityGroups: SecurityGroupRec[];
  routers: RouterRec[];
  floatingIps: FloatingIpRec[];
  /** Compute's servers; null when this build has no compute tables (then: ports grouped by device). */
  instances: InstanceRec[] | null;
  /**
   * Live migrations handing a running machine from one host to another on this kernel
   * (core/compute/host.ts Handover): the source's agent hands it over; neither host's pass builds
   * or removes the machine meanwhile.
   */
  handovers?: Handover[];
  /** QoS policies' enforceable rules, by policy id. */
  qosPolicies?: Map<string, QosRuleRec[]>;
  portForwardings?: PortForwardingRec[];
  trunks?: TrunkRec[];
  /** `l3-conntrack-helper`: a router's helpers. */
  conntrackHelpers?: Array<{ id: string; routerId: string; protocol: string; port: number; helper: string }>;
  /** `l3-ndp-proxy`: IPv6 addresses a router answers neighbour solicitations for on its gateway. */
  ndpProxies?: Array<{ id: string; routerId: string; ip: string }>;
  /** Enabled security-group logs. */
  sgLogs?: SgLogRec[];
  /** Local IPs (`local_ip`) with their associated ports. */
  localIps?: LocalIpRec[];
  /**
   * Which hosts' agents hold what is scheduled (agents administratively up, as the server hands
   * an agent its networks and routers): network → its DHCP agents' hosts, router → its L3 agents' hosts;
   * and host → its tunnel endpoint (its L2 agent's `tunneling_ip`: where l2population sends its ports).
   */
  placement?: { dhcp: Map<string, string[]>; l3: Map<string, string[]>; tunnels?: Map<string, string> };
  /**
   * Ports other hosts wire (hostPart.ts): never wired or reported on here, but their addresses
   * still count — remote security groups' members, dnsmasq's hosts, a router's neighbours.
   */
  remotePorts?: PortRec[];
}

// ------------------------------------------------------------------ the kernel, as wanted

/** The root (host) namespace. */
export const ROOT_NS = '';

export interface DesiredLink {
  name: string;
  kind: 'bridge' | 'veth' | 'vlan' | 'loopback';
  mtu?: number;
  mac?: string;
  /** Bridge this link is enslaved to (same namespace). */
  master?: string;
  up: boolean;
  /** For a veth: where its other end lives. */
  peer?: { ns: string; name: string };
  /** For a veth: this side creates the pair (`link add … type veth peer … netns …`). */
  creates?: boolean;
  /** For a VLAN: the link it is on (same namespace) and its 802.1Q id. */
  vlan?: { parent: string; id: number };
  owner: Owner;
}

export interface DesiredAddr {
  dev: string;
  /** Canonical `address/prefix`. */
  cidr: string;
  owner: Owner;
}

export interface DesiredRoute {
  /** `default` or a canonical CIDR. */
  dst: string;
  via: string;
  dev?: string;
  onlink?: boolean;
  owner: Owner;
}

export interface NatSpec {
  gatewayIf: string;
  /** The router's external IPv4 address (SNAT and hairpin source), if it has one. */
  gatewayIp: string | null;
  enableSnat: boolean;
  /** floating → fixed, IPv4. */
  fips: Array<{ floating: string; fixed: string; owner: Owner }>;
  /** Port forwardings, one per forwarded port (ranges unrolled, as Neutron's L3 agent does). */
  forwards?: ForwardSpec[];
  /**
   * The router's internal IPv4 subnets in the gateway subnet's address scope: routed out of the
   * gateway leg with their own source addresses, never SNATed (Neutron's address scopes).
   */
  sameScope?: string[];
}

export interface ForwardSpec {
  floating: string;
  protocol: 'tcp' | 'udp' | 'sctp' | 'dccp';
  port: number;
  fixed: string;
  fixedPort: number;
  owner: Owner;
}

/**
 * A port's QoS on its switch-side veth (the tap): what leaves the instance enters the tap, what
 * reaches it leaves the tap. Rates in bits or packets per second, bursts in bytes or packets.
 */
export interface PortQosSpec {
  portId: string;
  owner: Owner;
  /** The tap in the switch namespace. */
  dev: string;
  /** Traffic to the instance, shaped (tbf on the tap's root). */
  ingressBw?: { rate: number; burst: number };
  /** Traffic from the instance, policed. */
  egressBw?: { rate: number; burst: number };
  egressPps?: { rate: number; burst: number };
  ingressPps?: { rate: number; burst: number };
  /** DSCP mark set on what the instance sends. */
  dscp?: number;
}

export interface DesiredNs {
  name: string;
  kind: 'switch' | 'instance' | 'router' | 'loadbalancer' | 'dhcp' | 'root';
  /** The id this namespace is for (server, router or network id, a load balancer's VIP port id); the switch and root use ''. */
  objectId: string;
  sysctls: Array<[string, string]>;
  links: DesiredLink[];
  addrs: DesiredAddr[];
  routes: DesiredRoute[];
  nat?: NatSpec;
  /** A router's conntrack helpers and NDP proxies. */
  l3?: L3ExtrasSpec;
  /**
   * The namespace's own root configures its addresses and routes (a machine, by DHCP or from
   * network_data.json): the data plane only wires its links and leaves the rest alone.
   */
  selfConfigured?: boolean;
  /**
   * Neighbour entries to correct when the kernel holds a failed or outdated one: a router's
   * instances, known before they answer ARP.
   */
  neighbours?: DesiredNeighbour[];
  /**
   * An HA router's keepalived (harouter.ts): its addresses and routes on the router's legs are
   * keepalived's (held by the VRRP master only), so the reconciler leaves them alone.
   */
  vrrp?: VrrpSpec;
}

/** One HA router's keepalived: what keepalived.conf says and what it owns in the namespace. */
export interface VrrpSpec {
  routerId: string;
  /** The router's `ha-` device (its HA port), where VRRP advertises. */
  haIf: string;
  /** The primary VIP (`169.254.0.<VRID>/24` on haIf): the master holds it; the state is read from it. */
  primaryVip: string;
  instance: KeepalivedInstanceSpec;
  owner: Owner;
}

/** A router's L3-agent extras (l3ext.ts): conntrack helpers, NDP proxies, the address-scope wall. */
export interface L3ExtrasSpec {
  helpers: Array<{ protocol: 'tcp' | 'udp'; port: number; helper: string }>;
  ndp: {
    gatewayIf: string;
    /** Internal IPv6 subnets of the gateway's address scope: closed from outside but for proxied addresses. */
    subnets: string[];
    proxies: Array<{ ip: string; owner: Owner }>;
  } | null;
  /** Address scopes as a wall between the router's legs (null: its legs are in one scope per family). */
  scopes?: ScopeWall | null;
}

/**
 * A router's address-scope wall (scopes.ts): each leg's scope mark, the connections that save
 * their scope, and the floating IPs that cross scopes.
 */
export interface ScopeWall {
  /** Each leg's mark per family, and whether leaving by it is checked. */
  legs: Array<{ dev: string; family: 4 | 6; mark: number; checked: boolean }>;
  /** With SNAT, the gateway leg: new connections leaving by it save their scope. */
  saveOn: string | null;
  /** Floating IPs whose fixed address is in another scope than the gateway's (IPv4). */
  fips: Array<{ floating: string; fixed: string; mark: number }>;
  /** The gateway's IPv4 scope mark and the legs in that scope (floating IPs' way out). */
  external: { mark: number; legs: string[] };
}

/** A tenant network's VXLAN device on its bridge (overlay.ts). */
export interface VxlanSpec {
  dev: string;
  vni: number;
  /** The network's bridge it is enslaved to. */
  bridge: string;
  mtu: number;
  /** Made with `proxy`: the kernel answers ARP and neighbour solicitations from its neighbour entries (l2pop's ARP responder). */
  proxy: boolean;
  owner: Owner;
}

/** A permanent neighbour entry on a VXLAN device (l2pop's ARP responder: a remote port's fixed IP → its MAC). */
export interface NeighSpec {
  dev: string;
  ip: string;
  /** Lower case. */
  mac: string;
  owner: Owner;
}

export interface FdbSpec {
  dev: string;
  /** Lower case; FLOOD_MAC for a flooding entry. */
  mac: string;
  dst: string;
  owner: Owner;
}

export interface OverlaySpec {
  local: string;
  /** Where devices are created (their UDP socket's namespace) before they move into the switch. */
  underlayNs: string;
  devices: VxlanSpec[];
  fdb: FdbSpec[];
  /** Empty unless the ARP responder is on. */
  neigh: NeighSpec[];
}

/** A mapped interface enslaved to its flat network's bridge in the switch (physnets.ts). */
export interface PhysnetPort {
  dev: string;
  bridge: string;
  owner: Owner;
}

export interface PhysnetSpec {
  /** Where the mapped interfaces live while no network here takes them (the host's own, a lab host's). */
  home: string;
  /** Every mapped interface, taken or not: the switch never deletes one. */
  mapped: string[];
  ports: PhysnetPort[];
  /**
   * Mapped interfaces that parent the VLAN devices of VLAN networks here (`eth1.100`, links of
   * the switch's own spec): in the switch while one does, enslaved to no bridge unless a flat
   * network has them too. `owner`: the first of those networks (who fails if it cannot move in).
   */
  vlanParents: Array<{ dev: string; owner: Owner }>;
}

export interface DesiredNeighbour {
  dev: string;
  ip: string;
  mac: string;
  owner: Owner;
}

export type SgLogEvent = 'ACCEPT' | 'DROP';

/** The log objects one event of one port is written for, and the project named in its lines. */
export interface PortEventLog {
  logIds: string[];
  projectId: string;
}

/** What the switch's log reader turns packets into: NFLOG prefix → the event, port and logs. */
export interface SgLogSpec {
  ns: string;
  group: number;
  events: Map<string, { event: SgLogEvent; portId: string } & PortEventLog>;
}

/** iptables content we own, rendered as `iptables-save` prints it. */
export interface FilterTables {
  /** table → chain → rules (each without the leading `-A <chain>`). Builtin chains included. */
  v4: Record<'filter' | 'raw', Map<string, string[]>>;
  v6: Record<'filter' | 'raw', Map<string, string[]>>;
  /** chain → the port it belongs to (errors land on that port). */
  chainOwner: Map<string, Owner>;
  /** port → the rules that currently admit its traffic (to find removed ones: conntrack). */
  portRuleSets: Map<string, { zone: number; ips: string[]; rules: Set<string> }>;
}

export interface WiredPort {
  portId: string;
  ns: string;
  ifname: string;
  /** Traffic may pass: port and network administratively up. */
  up: boolean;
  /** A trunk's subport (its failure degrades the trunk, not the instance). */
  subport?: boolean;
}

/** A local IP as the store holds it, with its associations (the associated port, its fixed IP). */
export interface LocalIpRec {
  id: string;
  address: string;
  associations: Array<{ portId: string; fixedIp: string }>;
}

/** One local IP a client's programs handle: the local IP, the associated port's fixed IP and MAC. */
export interface LocalIpEntry {
  localIp: string;
  fixedIp: string;
  mac: string;
}

/** One client tap's local IP programs (localip.ts): the client port and the local IPs it reaches. */
export interface LocalIpTapSpec {
  dev: string;
  portId: string;
  /** Errors are the first local IP's (Neutron shows no status for local IPs: they are logged). */
  owner: Owner;
  entries: LocalIpEntry[];
}

/** A local IP the gratuitous-ARP blocker guards, and the fixed IPs ARP from it may still ask for. */
export interface LocalIpBlockEntry {
  localIp: string;
  /** The associated ports' fixed IPs (install_garp_blocker_exception's `except_ip`). */
  except: string[];
}

/**
 * A network's gratuitous-ARP blocker (localip.ts): on its VXLAN device, what comes from other
 * hosts' ARP claiming a local IP associated with a port of the network on this host is dropped.
 */
export interface LocalIpBlockerSpec {
  dev: string;
  networkId: string;
  /** Errors are the first local IP's, as for the taps' programs. */
  owner: Owner;
  entries: LocalIpBlockEntry[];
}

export interface InstanceSpec {
  id: string;
  ns: string;
  power: DesiredPower;
  bootGeneration: number;
  /** A machine (its own root, init, DHCP); absent: a bare namespace the data plane configures. */
  machine?: MachineSpec;
}

/** A network's DHCP server: its namespace and what dnsmasq serves. */
export interface DhcpServerSpec {
  networkId: string;
  ns: string;
  network: DhcpNetwork;
}

/** Where a metadata proxy listens: a router's namespace, or a DHCP namespace of an isolated network. */
export interface MetadataProxySpec {
  ns: string;
  via: { routerId: string } | { networkId: string };
}

export interface Desired {
  /** Namespaces of machines being handed over (Snapshot.handovers): neither built nor removed. */
  reserved?: Set<string>;
  root: DesiredNs;
  switch: DesiredNs;
  /** Instances, routers, load balancers and DHCP servers. */
  namespaces: DesiredNs[];
  filter: FilterTables;
  wired: Map<string, WiredPort>;
  instances: InstanceSpec[];
  dhcp: DhcpServerSpec[];
  metadata: MetadataProxySpec[];
  /** Problems found while building (bad data, name collisions): owner → reason. */
  errors: Map<Owner, string>;
  /** QoS of ports on their taps (only ports with an enforceable rule). */
  qos?: PortQosSpec[];
  /** Local IPs' programs on their clients' taps (localip.ts). */
  localIps?: LocalIpTapSpec[];
  /** Local IPs' gratuitous-ARP blockers on their networks' VXLAN devices (localip.ts). */
  localIpBlockers?: LocalIpBlockerSpec[];
  /** Security-group logging: what the switch's log reader writes (no events: no reader). */
  sgLog?: SgLogSpec;
  /** The VXLAN overlay to other hosts (only with a tunnel endpoint: `pocketstack agent --tunnel-ip`). */
  overlay?: OverlaySpec;
  /** Flat networks' bridges with their mapped interfaces (only with `physical_interface_mappings`). */
  physnets?: PhysnetSpec;
}
