import { VIP_PORT_OWNERS } from '../../core/loadbalancer/hosts.js';
import { type Cidr, cidrContains, cidrToString, ipToString, parseCidr, parseIp, parseMac } from '../../util/ip.js';
import { type DhcpNetwork, METADATA_CIDR, needsMetadata } from './dhcp/dnsmasq.js';
import type {
  Desired,
  DhcpServerSpec,
  FloatingIpRec,
  DesiredNs,
  DesiredRoute,
  InstanceRec,
  InstanceSpec,
  L3ExtrasSpec,
  MetadataProxySpec,
  ForwardSpec,
  NatSpec,
  NetworkRec,
  PhysnetSpec,
  PortRec,
  RouterRec,
  Snapshot,
  SubnetRec,
  TrunkRec,
  WiredPort,
} from './model.js';
import { ROOT_NS } from './model.js';
import { type VrrpOptions, makeHaRouter } from './harouter.js';
import { type Names, vlanDeviceName } from './names.js';
import { type Owner, ownerKey } from './owners.js';
import { type TunnelConfig, desiredOverlay } from './overlay.js';
import { buildLocalIpBlockers, buildLocalIps } from './localip.js';
import { buildQos } from './qos.js';
import { type ScopeLeg, dividedByScope, scopeWall } from './scopes.js';
import { assignZones, renderFilter } from './secgroups.js';
import { planSgLogging, sgLogSpec } from './sglog.js';

export interface BuildOptions {
  /** Physical network whose flat network gets the host leg (DevStack's br-ex): `public`. */
  publicPhysnet: string;
  /** number → name as iptables-save prints protocols. */
  protocolNames: Map<number, string>;
  /** This host and its tunnel endpoint: tenant vxlan networks reach other hosts (overlay.ts). */
  overlay?: { host: string; tunnel: TunnelConfig };
  /**
   * HA routers run keepalived here (a `pocketstack agent`'s part, where several hosts build the
   * same router): its HA port plugged in, its addresses and routes keepalived's (harouter.ts).
   * Absent (`serve`'s one machine): an HA router is built as any router, on its one agent.
   */
  vrrp?: VrrpOptions;
  /**
   * physical_interface_mappings (physnet → interface) and the namespace the interfaces live in:
   * a flat network on a mapped physical network takes its interface (physnets.ts), with no host leg.
   */
  interfaceMappings?: { mappings: ReadonlyMap<string, string>; home: string };
  /**
   * bridge_mappings (physnet → an existing bridge of the host's own namespace): a flat network on
   * a mapped physical network is joined to it, before any interface mapping of that network.
   */
  bridgeMappings?: ReadonlyMap<string, string>;
}

/** neutron_lib's DEVICE_OWNER_ROUTER_HA_INTF: an HA router's port on its HA network, one per agent. */
const HA_INTF = 'network:router_ha_interface';
export const ROUTER_INTERFACE_OWNERS = ['network:router_interface', 'network:router_interface_distributed', 'network:ha_router_replicated_interface'];
export const ROUTER_GATEWAY_OWNER = 'network:router_gateway';
/** A server's NIC: a compute-owned port of a device, bound to a host. */
export const isInstancePort = (p: PortRec) => p.deviceOwner.startsWith('compute:') && p.deviceId !== '' && p.bindingHost !== '';
/** VIP ports of load balancers (Octavia's and Neutron LBaaS v1's owners, as core places them). */
const isLoadBalancerPort = (p: PortRec) => VIP_PORT_OWNERS.includes(p.deviceOwner) && p.deviceId !== '';

const INSTANCE_SYSCTLS: Array<[string, string]> = [
  // user_data runs unprivileged and may serve on :80, and ping, as on a VM.
  ['net.ipv4.ip_unprivileged_port_start', '0'],
  ['net.ipv4.ping_group_range', '0 2147483647'],
];
// The load-balancer engine runs unprivileged inside: listeners on low ports, PING health checks;
// an IPv6 VIP is bound as soon as it is configured (no duplicate address detection wait).
const LOAD_BALANCER_SYSCTLS: Array<[string, string]> = [...INSTANCE_SYSCTLS, ['net.ipv6.conf.default.accept_dad', '0']];
/** Neutron's DHCP ports, wired into a DHCP namespace per network (its dnsmasq serves them). */
export const DHCP_OWNER = 'network:dhcp';
const isDhcpPort = (p: PortRec) => p.deviceOwner === DHCP_OWNER && p.bindingHost !== '';
const DHCP_SYSCTLS: Array<[string, string]> = [['net.ipv6.conf.default.accept_dad', '0']];
const ROUTER_SYSCTLS: Array<[string, string]> = [
  ['net.ipv4.ip_forward', '1'],
  ['net.ipv6.conf.all.forwarding', '1'],
  // NDP proxy entries are answered only where proxy_ndp is on (the L3 agent sets it on its qg-
  // when the router enables NDP proxies); `all` covers the leg whenever it is made, and without
  // proxy entries it answers nothing.
  ['net.ipv6.conf.all.proxy_ndp', '1'],
];
const SWITCH_SYSCTLS: Array<[string, string]> = [
  ['net.bridge.bridge-nf-call-iptables', '1'],
  ['net.bridge.bridge-nf-call-ip6tables', '1'],
];

const emptyNs = (name: string, kind: DesiredNs['kind'], objectId: string, sysctls: Array<[string, string]>): DesiredNs => ({
  name,
  kind,
  objectId,
  sysctls,
  links: [],
  addrs: [],
  routes: [],
});

/** An instance or router address: `ip/prefix` of the subnet it is on. */
interface PortAddr {
  subnet: SubnetRec;
  cidr: Cidr;
  ip: string;
}

/**
 * The whole desired kernel state from one snapshot of the store. Pure: bad data (an unknown
 * subnet, a name collision) becomes an error on the object it belongs to and that object is left
 * out; everything else is still built.
 */
export function buildDesired(s: Snapshot, names: Names, opts: BuildOptions): Desired {
  const errors = new Map<Owner, string>();
  const networks = new Map(s.networks.map((n) => [n.id, n]));
  const subnets = new Map(s.subnets.map((x) => [x.id, x]));
  // Every port's addresses count (a floating IP's fixed port may run on another host); only
  // s.ports are wired here (hostpart.ts puts other hosts' in remotePorts).
  const everyPort = s.remotePorts?.length ? [...s.ports, ...s.remotePorts] : s.ports;
  const ports = new Map(everyPort.map((p) => [p.id, p]));

  const root = emptyNs(ROOT_NS, 'root', '', []);
  const sw = emptyNs(names.switchNs, 'switch', '', SWITCH_SYSCTLS);
  const namespaces: DesiredNs[] = [];
  const wired = new Map<string, WiredPort>();
  const bridges = new Map<string, string>();
  const usedNs = new Map<string, string>();
  const usedTaps = new Map<string, string>();
  const instances: InstanceSpec[] = [];

  const claimNs = (name: string, id: string, owner: Owner): boolean => {
    const other = usedNs.get(name);
    if (other !== undefined && other !== id) {
      errors.set(owner, `namespace name ${name} is already used for ${other}`);
      return false;
    }
    usedNs.set(name, id);
    return true;
  };

  const ensureBridge = (net: NetworkRec) => {
    const name = names.bridge(net.id);
    if (bridges.has(net.id)) return name;
    bridges.set(net.id, name);
    sw.links.push({ name, kind: 'bridge', mtu: net.mtu, up: net.adminUp, owner: ownerKey.network(net.id) });
    return name;
  };

  /** Validate a port's data; null (and an error) when the kernel could not be given it. */
  const portAddrs = (p: PortRec): PortAddr[] | null => {
    const owner = ownerKey.port(p.id);
    if (!networks.has(p.networkId)) {
      errors.set(owner, `network ${p.networkId} not found`);
      return null;
    }
    if (!parseMac(p.mac)) {
      errors.set(owner, `invalid MAC address ${p.mac}`);
      return null;
    }
    const out: PortAddr[] = [];
    for (const f of p.fixedIps) {
      const subnet = subnets.get(f.subnetId);
      const cidr = subnet ? parseCidr(subnet.cidr) : null;
      const ip = parseIp(f.ipAddress);
      if (!subnet || !cidr || !ip || ip.version !== cidr.version) {
        errors.set(owner, `fixed IP ${f.ipAddress} is not on a known subnet`);
        return null;
      }
      out.push({ subnet, cidr, ip: ipToString(ip) });
    }
    return out;
  };

  /** The veth for a port: `tap…` on the network's bridge, `ifname` in namespace `ns`. */
  const wire = (p: PortRec, target: DesiredNs, ifname: string, addrs: PortAddr[], extra: string[] = []): boolean => {
    const owner = ownerKey.port(p.id);
    const tap = names.tap(p.id);
    const other = usedTaps.get(tap);
    if (other !== undefined) {
      errors.set(owner, `interface name ${tap} is already used for port ${other}`);
      return false;
    }
    usedTaps.set(tap, p.id);
    const net = networks.get(p.networkId)!;
    const bridge = ensureBridge(net);
    const up = p.adminUp && net.adminUp;
    sw.links.push({ name: tap, kind: 'veth', mtu: net.mtu, master: bridge, up, peer: { ns: target.name, name: ifname }, creates: true, owner });
    target.links.push({ name: ifname, kind: 'veth', mtu: net.mtu, mac: parseMac(p.mac)!, up: true, peer: { ns: sw.name, name: tap }, owner });
    // A machine configures its own addresses (DHCP, network_data.json): only the link is ours.
    if (!target.selfConfigured) {
      for (const a of addrs) target.addrs.push({ dev: ifname, cidr: `${a.ip}/${a.cidr.prefix}`, owner });
      for (const cidr of extra) target.addrs.push({ dev: ifname, cidr, owner });
    }
    wired.set(p.id, { portId: p.id, ns: target.name, ifname, up });
    return true;
  };

  /**
   * A trunk's subports on its parent's interface, as Neutron's Linux bridge trunk driver wires
   * them: on the switch side a VLAN of the parent's tap per subport (`tap<subport id>`, its
   * segmentation id) on the subport's network bridge, so security groups see it as the subport's
   * own port; inside the instance the same VLAN of the parent's NIC (`eth0.<vid>`) with the
   * subport's MAC, as a guest configures it (the guest gives it its addresses: Nova's
   * network_data.json of this era has no subports). A trunk administratively down carries nothing
   * new (Neutron refuses changes to it) but keeps what is wired.
   */
  const wireSubports = (trunk: TrunkRec, parent: PortRec, ns: DesiredNs, parentIf: string) => {
    const parentTap = names.tap(parent.id);
    const parentNet = networks.get(parent.networkId)!;
    for (const sub of trunk.subports) {
      const sp = ports.get(sub.portId);
      if (!sp) continue;
      const addrs = portAddrs(sp);
      if (!addrs) continue;
      const owner = ownerKey.port(sp.id);
      const tap = names.tap(sp.id);
      const other = usedTaps.get(tap);
      if (other !== undefined) {
        errors.set(owner, `interface name ${tap} is already used for port ${other}`);
        continue;
      }
      usedTaps.set(tap, sp.id);
      const net = networks.get(sp.networkId)!;
      const bridge = ensureBridge(net);
      const up = sp.adminUp && net.adminUp && parent.adminUp && parentNet.adminUp;
      // A VLAN carries at most its parent's MTU (the API refuses a subport network with a larger one).
      const mtu = Math.min(net.mtu, parentNet.mtu);
      const vlan = (parentLink: string) => ({ parent: parentLink, id: sub.segmentationId });
      sw.links.push({ name: tap, kind: 'vlan', mtu, master: bridge, up, vlan: vlan(parentTap), owner });
      const ifname = `${parentIf}.${sub.segmentationId}`;
      ns.links.push({ name: ifname, kind: 'vlan', mtu, mac: parseMac(sp.mac)!, up: true, vlan: vlan(parentIf), owner });
      if (!ns.selfConfigured) for (const a of addrs) ns.addrs.push({ dev: ifname, cidr: `${a.ip}/${a.cidr.prefix}`, owner });
      wired.set(sp.id, { portId: sp.id, ns: ns.name, ifname, up, subport: true });
    }
  };
  const trunkOf = new Map((s.trunks ?? []).map((t) => [t.portId, t]));
  /** Subports are wired through their trunk, never as a device's own NIC. */
  const subportIds = new Set((s.trunks ?? []).flatMap((t) => t.subports.map((x) => x.portId)));

  // ---------------------------------------------------------------- instances
  const byDevice = new Map<string, PortRec[]>();
  for (const p of s.ports) {
    if (!isInstancePort(p) || subportIds.has(p.id)) continue;
    const list = byDevice.get(p.deviceId) ?? [];
    list.push(p);
    byDevice.set(p.deviceId, list);
  }
  const instanceRecs: InstanceRec[] = s.instances ?? [...byDevice.keys()].map((id) => ({ id, power: 'running' as const, bootGeneration: 1 }));
  for (const inst of [...instanceRecs].sort((a, b) => a.id.localeCompare(b.id))) {
    const nsName = names.instanceNs(inst.id);
    if (!claimNs(nsName, inst.id, ownerKey.instance(inst.id))) continue;
    const ns = emptyNs(nsName, 'instance', inst.id, INSTANCE_SYSCTLS);
    if (inst.machine) ns.selfConfigured = true;
    ns.links.push({ name: 'lo', kind: 'loopback', up: true, owner: ownerKey.instance(inst.id) });
    const order = new Map((inst.nics ?? []).map((id, i) => [id, i]));
    const pos = (p: PortRec) => order.get(p.id) ?? Number.MAX_SAFE_INTEGER;
    const nics = (byDevice.get(inst.id) ?? []).sort((a, b) => pos(a) - pos(b) || a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
    const connected: Array<{ cidr: Cidr; ifname: string }> = [];
    const gateways: Array<{ subnet: SubnetRec; ifname: string }> = [];
    let index = 0;
    for (const p of nics) {
      const addrs = portAddrs(p);
      if (!addrs) continue;
      const ifname = `eth${index}`;
      if (!wire(p, ns, ifname, addrs)) continue;
      index++;
      for (const a of addrs) {
        connected.push({ cidr: a.cidr, ifname });
        gateways.push({ subnet: a.subnet, ifname });
      }
      const trunk = trunkOf.get(p.id);
      if (trunk) wireSubports(trunk, p, ns, ifname);
    }
    if (!ns.selfConfigured) ns.routes.push(...instanceRoutes(gateways, connected, ownerKey.instance(inst.id)));
    namespaces.push(ns);
    instances.push({ id: inst.id, ns: nsName, power: inst.power, bootGeneration: inst.bootGeneration, ...(inst.machine ? { machine: inst.machine } : {}) });
  }

  // ---------------------------------------------------------------- routers
  const metadata: MetadataProxySpec[] = [];
  for (const r of [...s.routers].sort((a, b) => a.id.localeCompare(b.id))) {
    if (!r.adminUp || !claimNs(names.routerNs(r.id), r.id, ownerKey.router(r.id))) continue;
    // An HA router with keepalived needs its HA port on this host (ha_router.py: an HA router
    // without one is not processed).
    const haPort = opts.vrrp && r.haVrid ? s.ports.find((p) => p.deviceId === r.id && p.deviceOwner === HA_INTF) : undefined;
    const haAddrs = haPort ? portAddrs(haPort) : null;
    if (opts.vrrp && r.haVrid && !haAddrs) {
      if (!haPort) errors.set(ownerKey.router(r.id), `HA router ${r.id} has no HA port on this host`);
      continue;
    }
    const ns = buildRouter(r, s, names, { ports, wired, networks, subnets, errors, wire, portAddrs });
    if (opts.vrrp && r.haVrid && haPort && haAddrs) {
      const haIf = names.haInterface(haPort.id);
      if (wire(haPort, ns, haIf, haAddrs)) {
        makeHaRouter(
          ns,
          r.id,
          r.haVrid,
          haIf,
          haAddrs.map((a) => cidrToString(a.cidr)),
          opts.vrrp,
          ownerKey.router(r.id),
        );
      } else continue;
    }
    // The metadata proxy listens on 169.254.169.254 in the router (Neutron's redirects there).
    ns.addrs.push({ dev: 'lo', cidr: METADATA_CIDR, owner: ownerKey.router(r.id) });
    metadata.push({ ns: ns.name, via: { routerId: r.id } });
    namespaces.push(ns);
  }

  // ---------------------------------------------------------------- load balancers
  // One namespace per VIP port (the engine runs the load balancer in it), wired like an
  // instance with one NIC: the VIP's addresses, routes via the subnet's gateway to the members.
  for (const p of s.ports.filter(isLoadBalancerPort).sort((a, b) => a.id.localeCompare(b.id))) {
    const owner = ownerKey.loadbalancer(p.id);
    const nsName = names.loadBalancerNs(p.id);
    if (!claimNs(nsName, p.id, owner)) continue;
    const addrs = portAddrs(p);
    if (!addrs) continue;
    const ns = emptyNs(nsName, 'loadbalancer', p.id, LOAD_BALANCER_SYSCTLS);
    ns.links.push({ name: 'lo', kind: 'loopback', up: true, owner });
    if (!wire(p, ns, 'eth0', addrs)) continue;
    ns.routes.push(
      ...instanceRoutes(
        addrs.map((a) => ({ subnet: a.subnet, ifname: 'eth0' })),
        addrs.map((a) => ({ cidr: a.cidr, ifname: 'eth0' })),
        owner,
      ),
    );
    namespaces.push(ns);
  }

  // ---------------------------------------------------------------- DHCP servers
  // One namespace per network with a DHCP port (Neutron's qdhcp-), the port as `ns-…` with its
  // addresses, and 169.254.169.254 too when the network has an isolated subnet: its instances
  // reach the metadata service through it (Neutron's enable_isolated_metadata).
  const dhcp: DhcpServerSpec[] = [];
  for (const p of s.ports.filter(isDhcpPort).sort((a, b) => a.networkId.localeCompare(b.networkId) || a.id.localeCompare(b.id))) {
    const net = networks.get(p.networkId);
    const owner = ownerKey.dhcp(p.networkId);
    const nsName = names.dhcpNs(p.networkId);
    if (!net || dhcp.some((d) => d.networkId === net.id) || !claimNs(nsName, net.id, owner)) continue;
    const addrs = portAddrs(p);
    if (!addrs) continue;
    const dn = dhcpNetwork(net, s, everyPort);
    const meta = needsMetadata(dn);
    const ns = emptyNs(nsName, 'dhcp', net.id, DHCP_SYSCTLS);
    ns.links.push({ name: 'lo', kind: 'loopback', up: true, owner });
    const ifname = names.dhcpInterface(p.id);
    if (!wire(p, ns, ifname, addrs, meta ? [METADATA_CIDR] : [])) continue;
    ns.routes.push(
      ...instanceRoutes(
        addrs.map((a) => ({ subnet: { ...a.subnet, hostRoutes: [] }, ifname })),
        addrs.map((a) => ({ cidr: a.cidr, ifname })),
        owner,
      ),
    );
    namespaces.push(ns);
    dhcp.push({ networkId: net.id, ns: nsName, network: dn });
    if (meta) metadata.push({ ns: nsName, via: { networkId: net.id } });
  }

  // ---------------------------------------------------------------- mapped interfaces, else the host leg (br-ex)
  const mappings = opts.interfaceMappings?.mappings ?? new Map<string, string>();
  const physnets: PhysnetSpec | undefined = opts.interfaceMappings
    ? { home: opts.interfaceMappings.home, mapped: [...mappings.values()], ports: [], vlanParents: [] }
    : undefined;
  for (const net of [...s.networks].sort((a, b) => a.id.localeCompare(b.id))) {
    const mappedBridge = net.networkType === 'flat' && net.physicalNetwork ? opts.bridgeMappings?.get(net.physicalNetwork) : undefined;
    if (mappedBridge !== undefined) {
      // bridge_mappings before interface mappings (the Linux bridge agent's
      // ensure_physical_in_bridge → ensure_flat_bridge with a bridge: the existing bridge is the
      // network's). The taps live in the switch namespace and the kernel moves no bridge between
      // namespaces, so the network's bridge is joined to the host's by a veth pair: the host leg,
      // without addresses, enslaved to the mapped bridge instead of routed.
      const owner = ownerKey.hostleg(net.id);
      const leg = names.hostLeg(net.id);
      const end = names.hostLegSwitchEnd(net.id);
      root.links.push({ name: leg, kind: 'veth', mtu: net.mtu, master: mappedBridge, up: true, peer: { ns: sw.name, name: end }, creates: true, owner });
      sw.links.push({ name: end, kind: 'veth', mtu: net.mtu, master: ensureBridge(net), up: true, peer: { ns: ROOT_NS, name: leg }, owner });
      continue;
    }
    const parent = net.networkType === 'vlan' && net.physicalNetwork ? mappings.get(net.physicalNetwork) : undefined;
    if (parent !== undefined && physnets && net.segmentationId !== null) {
      // The Linux bridge agent's ensure_vlan_bridge: the interface's VLAN device on the bridge,
      // so the network's frames leave every mapped host tagged with its segmentation id.
      const owner = ownerKey.hostleg(net.id);
      const name = vlanDeviceName(parent, net.segmentationId);
      if (sw.links.some((l) => l.name === name)) {
        errors.set(owner, `interface name ${name} is already used in the switch namespace`);
        continue;
      }
      sw.links.push({ name, kind: 'vlan', mtu: net.mtu, master: ensureBridge(net), up: true, vlan: { parent, id: net.segmentationId }, owner });
      if (!physnets.vlanParents.some((p) => p.dev === parent)) physnets.vlanParents.push({ dev: parent, owner });
      continue;
    }
    const dev = net.networkType === 'flat' && net.physicalNetwork ? mappings.get(net.physicalNetwork) : undefined;
    if (dev !== undefined && physnets) {
      // One flat network per physical network (Neutron's FlatNetworkInUse); a second gets none.
      if (physnets.ports.some((p) => p.dev === dev)) errors.set(ownerKey.hostleg(net.id), `interface ${dev} already carries another flat network`);
      else physnets.ports.push({ dev, bridge: ensureBridge(net), owner: ownerKey.hostleg(net.id) });
      continue;
    }
    if (net.networkType !== 'flat' || net.physicalNetwork !== opts.publicPhysnet) continue;
    const gws = s.subnets.filter((x) => x.networkId === net.id && x.gatewayIp);
    if (!gws.length) continue;
    const owner = ownerKey.hostleg(net.id);
    const bridge = ensureBridge(net);
    const leg = names.hostLeg(net.id);
    const end = names.hostLegSwitchEnd(net.id);
    root.links.push({ name: leg, kind: 'veth', mtu: net.mtu, up: true, peer: { ns: sw.name, name: end }, creates: true, owner });
    sw.links.push({ name: end, kind: 'veth', mtu: net.mtu, master: bridge, up: true, peer: { ns: ROOT_NS, name: leg }, owner });
    for (const x of gws) {
      const c = parseCidr(x.cidr);
      const gw = parseIp(x.gatewayIp);
      if (c && gw && gw.version === c.version) root.addrs.push({ dev: leg, cidr: `${ipToString(gw)}/${c.prefix}`, owner });
    }
  }

  // ---------------------------------------------------------------- security groups
  const zones = assignZones([...bridges.keys()].map((id) => networks.get(id)!));
  const filtered = s.ports.filter((p) => wired.has(p.id) && p.portSecurity && !p.deviceOwner.startsWith('network:')).sort((a, b) => a.id.localeCompare(b.id));
  const groupProjects = new Map<string, string>();
  for (const g of s.securityGroups) if (g.projectId) groupProjects.set(g.id, g.projectId);
  const logging = planSgLogging(s.sgLogs ?? [], filtered, groupProjects);
  const filter = renderFilter(
    {
      filtered,
      allPorts: everyPort,
      groups: new Map(s.securityGroups.map((g) => [g.id, g])),
      zones,
      bridges,
      protocolNames: opts.protocolNames,
      logging,
    },
    names,
  );
  const sgLog = sgLogSpec(sw.name, logging);

  const overlay = opts.overlay ? desiredOverlay(s, sw, names, opts.overlay.host, opts.overlay.tunnel) : undefined;
  return {
    ...(s.handovers?.length ? { reserved: new Set(s.handovers.map((h) => names.instanceNs(h.instanceId))) } : {}),
    root,
    switch: sw,
    namespaces,
    filter,
    wired,
    instances,
    dhcp,
    metadata,
    errors,
    qos: buildQos(s, names, wired),
    localIps: buildLocalIps(s, names, wired),
    localIpBlockers: buildLocalIpBlockers(s, names, wired, overlay?.devices ?? []),
    sgLog,
    ...(overlay ? { overlay } : {}),
    ...(physnets ? { physnets } : {}),
  };
}

/** What a network's dnsmasq serves: its subnets and its ports' MACs, addresses and DHCP options. */
function dhcpNetwork(net: NetworkRec, s: Snapshot, everyPort: PortRec[]): DhcpNetwork {
  return {
    id: net.id,
    mtu: net.mtu,
    subnets: s.subnets
      .filter((x) => x.networkId === net.id)
      .map((x) => ({
        id: x.id,
        ipVersion: x.ipVersion,
        cidr: x.cidr,
        gatewayIp: x.gatewayIp,
        enableDhcp: x.enableDhcp,
        ipv6AddressMode: x.ipv6AddressMode,
        ipv6RaMode: x.ipv6RaMode,
        dnsNameservers: x.dnsNameservers,
        hostRoutes: x.hostRoutes,
      })),
    ports: everyPort
      .filter((p) => p.networkId === net.id)
      .map((p) => ({ id: p.id, mac: p.mac, deviceOwner: p.deviceOwner, fixedIps: p.fixedIps, extraDhcpOpts: p.extraDhcpOpts })),
  };
}

/** Default routes via the first subnet (per family) with a gateway, then the subnets' host_routes. */
function instanceRoutes(
  gateways: Array<{ subnet: SubnetRec; ifname: string }>,
  connected: Array<{ cidr: Cidr; ifname: string }>,
  owner: Owner,
): DesiredRoute[] {
  const routes = new Map<string, DesiredRoute>();
  const add = (dst: string, via: string, viaIf: string | null) => {
    const gw = parseIp(via);
    const d = dst === 'default' ? 'default' : parseCidr(dst);
    if (!gw || d === null) return;
    const key = `${gw.version}/${d === 'default' ? 'default' : cidrToString(d)}`;
    const dstText = d === 'default' ? 'default' : cidrToString(d);
    if (dstText === '0.0.0.0/0' || dstText === '::/0') return add('default', via, viaIf);
    const onLink = connected.find((c) => cidrContains(c.cidr, gw));
    const route: DesiredRoute = { dst: dstText, via: ipToString(gw), owner };
    if (!onLink && viaIf) {
      route.dev = viaIf;
      route.onlink = true;
    } else if (!onLink) return;
    routes.set(key, route);
  };
  const seen = new Set<number>();
  for (const g of gateways) {
    if (!g.subnet.gatewayIp || seen.has(g.subnet.ipVersion)) continue;
    seen.add(g.subnet.ipVersion);
    add('default', g.subnet.gatewayIp, g.ifname);
  }
  const done = new Set<string>();
  for (const g of gateways) {
    if (done.has(g.subnet.id)) continue;
    done.add(g.subnet.id);
    for (const hr of g.subnet.hostRoutes) add(hr.destination, hr.nexthop, null);
  }
  return [...routes.values()];
}

interface RouterCtx {
  /** This host's ports and other hosts' (a router's neighbours may run anywhere). */
  ports: Map<string, PortRec>;
  wired: Map<string, WiredPort>;
  networks: Map<string, NetworkRec>;
  subnets: Map<string, SubnetRec>;
  errors: Map<Owner, string>;
  wire: (p: PortRec, target: DesiredNs, ifname: string, addrs: Array<{ ip: string; cidr: Cidr; subnet: SubnetRec }>, extra?: string[]) => boolean;
  portAddrs: (p: PortRec) => Array<{ ip: string; cidr: Cidr; subnet: SubnetRec }> | null;
}

/** A router: `qr-` per interface, `qg-` on the external network with floating IPs, NAT, routes. */
function buildRouter(r: RouterRec, s: Snapshot, names: Names, c: RouterCtx): DesiredNs {
  const ns = emptyNs(names.routerNs(r.id), 'router', r.id, ROUTER_SYSCTLS);
  const owner = ownerKey.router(r.id);
  ns.links.push({ name: 'lo', kind: 'loopback', up: true, owner });
  const connected: Cidr[] = [];
  const interfaces = s.ports.filter((p) => p.deviceId === r.id && ROUTER_INTERFACE_OWNERS.includes(p.deviceOwner)).sort((a, b) => a.id.localeCompare(b.id));
  for (const p of interfaces) {
    const addrs = c.portAddrs(p);
    if (!addrs) continue;
    if (c.wire(p, ns, names.routerInterface(p.id), addrs)) connected.push(...addrs.map((a) => a.cidr));
  }
  // The router knows its neighbours before they answer ARP (as Neutron's DVR pre-populates):
  // an instance that boots while someone pings its floating IP answers at once, not after the
  // router's next ARP retry (a second later).
  const legOf = new Map<string, string>();
  for (const p of interfaces) if (c.wired.has(p.id)) for (const f of p.fixedIps) legOf.set(f.subnetId, names.routerInterface(p.id));
  for (const p of c.ports.values()) {
    if (ROUTER_INTERFACE_OWNERS.includes(p.deviceOwner) || p.deviceOwner === ROUTER_GATEWAY_OWNER) continue;
    const mac = parseMac(p.mac);
    // Only unicast addresses can be a neighbour's.
    if (!mac || (Number.parseInt(mac.slice(0, 2), 16) & 1) === 1) continue;
    for (const f of p.fixedIps) {
      const dev = legOf.get(f.subnetId);
      const ip = parseIp(f.ipAddress);
      if (!dev || !ip) continue;
      ns.neighbours ??= [];
      ns.neighbours.push({ dev, ip: ipToString(ip), mac, owner: ownerKey.port(p.id) });
    }
  }

  const gwPort = r.gatewayPortId ? c.ports.get(r.gatewayPortId) : undefined;
  if (gwPort) {
    const addrs = c.portAddrs(gwPort);
    const qg = names.routerGateway(gwPort.id);
    const fips: NatSpec['fips'] = [];
    for (const f of [...s.floatingIps].sort((a, b) => a.id.localeCompare(b.id))) {
      if (f.routerId !== r.id || !f.portId || !f.fixedIp) continue;
      const floating = parseIp(f.floatingIp);
      const fixed = parseIp(f.fixedIp);
      if (!floating || !fixed || floating.version !== 4 || fixed.version !== 4) {
        c.errors.set(ownerKey.floatingip(f.id), `floating IP ${f.floatingIp} → ${f.fixedIp} is not an IPv4 pair`);
        continue;
      }
      fips.push({ floating: ipToString(floating), fixed: ipToString(fixed), owner: ownerKey.floatingip(f.id) });
    }
    const forwards = forwardsOf(r.id, s, c.errors);
    // The gateway leg holds every floating IP it serves, forwarded ones too (as the L3 agent's qg- does).
    const held = [...new Set([...fips.map((f) => f.floating), ...forwards.map((f) => f.floating)])];
    if (
      addrs &&
      c.wire(
        gwPort,
        ns,
        qg,
        addrs,
        held.map((ip) => `${ip}/32`),
      )
    ) {
      connected.push(...addrs.map((a) => a.cidr));
      const v4 = addrs.find((a) => a.cidr.version === 4);
      ns.nat = { gatewayIf: qg, gatewayIp: v4 ? v4.ip : null, enableSnat: r.enableSnat, fips, forwards };
      // Internal subnets sharing the external subnet's address scope are routed, not SNATed.
      const scope = v4?.subnet.addressScopeId;
      if (scope) {
        const same = interfaces
          .filter((p) => c.wired.has(p.id))
          .flatMap((p) => p.fixedIps.map((f) => c.subnets.get(f.subnetId)))
          .filter((x): x is SubnetRec => x?.ipVersion === 4 && x.addressScopeId === scope)
          .map((x) => cidrToString(parseCidr(x.cidr)!));
        if (same.length) ns.nat.sameScope = [...new Set(same)].sort();
      }
      const seen = new Set<number>();
      for (const a of addrs) {
        const gw = a.subnet.gatewayIp ? parseIp(a.subnet.gatewayIp) : null;
        if (!gw || seen.has(gw.version)) continue;
        seen.add(gw.version);
        ns.routes.push({ dst: 'default', via: ipToString(gw), dev: qg, onlink: !cidrContains(a.cidr, gw) || undefined, owner });
      }
    }
  }
  const l3 = l3Extras(r, s, ns, interfaces, gwPort, c, names);
  if (l3) ns.l3 = l3;
  for (const hr of r.routes) {
    const gw = parseIp(hr.nexthop);
    const d = parseCidr(hr.destination);
    if (!gw || !d || !connected.some((x) => cidrContains(x, gw))) continue;
    const dst = cidrToString(d);
    ns.routes = ns.routes.filter((x) => !(x.dst === (d.prefix === 0 ? 'default' : dst) && parseIp(x.via)?.version === gw.version));
    ns.routes.push({ dst: d.prefix === 0 ? 'default' : dst, via: ipToString(gw), owner });
  }
  return ns;
}

/**
 * A router's conntrack helpers (any router) and, with `enable_ndp_proxy` and a wired gateway, its
 * NDP proxies and the internal IPv6 subnets they open: those whose address scope is the gateway's
 * IPv6 scope (none and none match, as NDPProxyAgentExtension compares them). Null: nothing to load.
 */
function l3Extras(
  r: RouterRec,
  s: Snapshot,
  ns: DesiredNs,
  interfaces: PortRec[],
  gwPort: PortRec | undefined,
  c: RouterCtx,
  names: Names,
): L3ExtrasSpec | null {
  const helpers: L3ExtrasSpec['helpers'] = [];
  for (const h of s.conntrackHelpers ?? []) {
    if (h.routerId !== r.id) continue;
    if (h.protocol === 'tcp' || h.protocol === 'udp') helpers.push({ protocol: h.protocol, port: h.port, helper: h.helper });
  }
  let ndp: L3ExtrasSpec['ndp'] = null;
  const qg = gwPort && ns.nat ? ns.nat.gatewayIf : null;
  if (r.enableNdpProxy && gwPort && qg) {
    const gwScope = gwPort.fixedIps.map((f) => c.subnets.get(f.subnetId)).find((x) => x?.ipVersion === 6)?.addressScopeId ?? null;
    const subnets = interfaces
      .filter((p) => c.wired.has(p.id))
      .flatMap((p) => p.fixedIps.map((f) => c.subnets.get(f.subnetId)))
      .filter((x): x is SubnetRec => x?.ipVersion === 6 && (x.addressScopeId ?? null) === gwScope)
      .map((x) => cidrToString(parseCidr(x.cidr)!));
    const proxies: Array<{ ip: string; owner: Owner }> = [];
    for (const p of s.ndpProxies ?? []) {
      const ip = p.routerId === r.id ? parseIp(p.ip) : null;
      if (ip?.version === 6) proxies.push({ ip: ipToString(ip), owner: ownerKey.router(r.id) });
    }
    ndp = { gatewayIf: qg, subnets: [...new Set(subnets)].sort(), proxies };
  }
  const scopes = routerScopes(r, s, ns, interfaces, gwPort, c, names);
  return helpers.length || ndp || scopes ? { helpers, ndp, ...(scopes ? { scopes } : {}) } : null;
}

/**
 * The address-scope wall of a router (scopes.ts): each wired leg with the scope of its subnets
 * per family (the `address_scopes` Neutron's server gives the agent for each router port), and
 * its IPv4 floating IPs with their fixed address's scope (`fixed_ip_address_scope`).
 */
function routerScopes(r: RouterRec, s: Snapshot, ns: DesiredNs, interfaces: PortRec[], gwPort: PortRec | undefined, c: RouterCtx, names: Names) {
  const legs: ScopeLeg[] = [];
  const legOf = (p: PortRec, dev: string) => {
    for (const family of [4, 6] as const) {
      const subnet = p.fixedIps.map((f) => c.subnets.get(f.subnetId)).find((x) => x?.ipVersion === family);
      if (subnet) legs.push({ dev, family, scope: subnet.addressScopeId ?? null });
    }
  };
  for (const p of interfaces) if (c.wired.has(p.id)) legOf(p, names.routerInterface(p.id));
  const gateway = gwPort && ns.nat ? { dev: ns.nat.gatewayIf, enableSnat: r.enableSnat } : null;
  if (gwPort && gateway) legOf(gwPort, gateway.dev);
  if (!dividedByScope(legs)) return null;
  const fips: Array<{ floating: string; fixed: string; fixedScope: string | null }> = [];
  const fipOf = new Map<Owner, FloatingIpRec>(s.floatingIps.map((x) => [ownerKey.floatingip(x.id), x]));
  for (const f of ns.nat?.fips ?? []) {
    const rec = fipOf.get(f.owner);
    const port = rec?.portId ? c.ports.get(rec.portId) : undefined;
    const at = port?.fixedIps.find((x) => parseIp(x.ipAddress) !== null && ipToString(parseIp(x.ipAddress)!) === f.fixed);
    fips.push({ floating: f.floating, fixed: f.fixed, fixedScope: (at && c.subnets.get(at.subnetId)?.addressScopeId) ?? null });
  }
  return scopeWall({ legs, gateway, fips });
}

/** Protocols a forwarding's ports mean something for (nft's `th dport`); icmp has none. */
const FORWARDED_PROTOCOLS: ReadonlySet<string> = new Set(['tcp', 'udp', 'sctp', 'dccp']);

/**
 * A router's port forwardings, one element per external port: N-N ranges map port to port,
 * 1-N ranges map every external port to the one internal port (PortForwardingPlugin's relations).
 * Neutron accepts icmp forwardings, which match no port: they forward nothing here either.
 */
function forwardsOf(routerId: string, s: Snapshot, errors: Map<Owner, string>): ForwardSpec[] {
  const out: ForwardSpec[] = [];
  const fipOf = new Map(s.floatingIps.map((f) => [f.id, f]));
  for (const pf of s.portForwardings ?? []) {
    const fip = fipOf.get(pf.floatingIpId);
    if (!fip || fip.routerId !== routerId || !FORWARDED_PROTOCOLS.has(pf.protocol)) continue;
    const floating = parseIp(fip.floatingIp);
    const fixed = parseIp(pf.internalIp);
    const owner = ownerKey.floatingip(fip.id);
    if (!floating || !fixed || floating.version !== 4 || fixed.version !== 4) {
      errors.set(owner, `port forwarding ${pf.id}: ${fip.floatingIp} → ${pf.internalIp} is not an IPv4 pair`);
      continue;
    }
    const [extFirst, extLast] = pf.external;
    const [intFirst, intLast] = pf.internal;
    const single = intFirst === intLast;
    for (let port = extFirst; port <= extLast; port++) {
      out.push({
        floating: ipToString(floating),
        protocol: pf.protocol as ForwardSpec['protocol'],
        port,
        fixed: ipToString(fixed),
        fixedPort: single ? intFirst : intFirst + (port - extFirst),
        owner,
      });
    }
  }
  return out;
}
