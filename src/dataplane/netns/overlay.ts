/**
 * The overlay between hosts (issue 18): each tenant network of type vxlan that has something of
 * this host on it gets a kernel VXLAN device on its bridge, with the network's VNI (Neutron's
 * segmentation_id), as Neutron's Linux bridge agent makes `vxlan-<VNI>` on `brq<net>`. Its
 * forwarding entries are Neutron's l2population: for every port of the network bound to another
 * host, its MAC → that host's tunnel endpoint; and one all-zeros entry per other host with ports
 * on the network, so broadcasts (ARP, DHCP) reach every host that needs them. No learning: the
 * entries come from the ports' bindings only (`nolearning`, l2pop's premise).
 *
 * With the ARP responder (`[vxlan] arp_responder`, off by default as in Neutron), the device is
 * made with `proxy` and holds a permanent neighbour entry for each fixed IP of those remote ports
 * (the Linux bridge agent's ensure_vxlan `proxy=arp_responder`, add_fdb_ip_entry /
 * remove_fdb_ip_entry): the kernel's vxlan answers an ARP request or IPv6 neighbour solicitation
 * from its entries and sends none into the overlay (vxlan_xmit → arp_reduce / neigh_reduce
 * consume them all, answered or not), so an address that is no remote port's fixed IP — an
 * allowed address pair — is not resolved across hosts, Neutron's caveat for the option.
 *
 * The device's UDP socket lives in the underlay namespace (the host's own, or a lab host's: see
 * src/lab/): it is created there with `local <tunnel ip>` and then moved into the switch, where
 * it keeps its underlay namespace (the kernel's vxlan binds in the namespace it was created in).
 *
 * Pure: desired overlay from a snapshot, and the lines that take the switch from what it holds to
 * it. A pass runs them (pass.ts `overlay`, through kernel.ts `readOverlay`, `ipBatch`, `bridgeBatch`).
 */
import { ipToString, parseIp, parseMac } from '../../util/ip.js';
import type { DesiredNs, FdbSpec, NeighSpec, OverlaySpec, Snapshot, VxlanSpec } from './model.js';
import type { Names } from './names.js';
import { ownerKey } from './owners.js';
import type { Line } from './plan.js';

/** IANA's VXLAN port (Neutron's `[vxlan] udp_dstport` default is the kernel's 0 → 4789 too). */
export const VXLAN_PORT = 4789;
/** The all-zeros MAC: the VXLAN device's default (flooding) destinations. */
export const FLOOD_MAC = '00:00:00:00:00:00';

/** This host's tunnel endpoint (the OVS agent's `local_ip`) and the namespace that holds it. */
export interface TunnelConfig {
  ip: string;
  /** The namespace whose interface has `ip` (ROOT_NS: the host's own, as on a real host). */
  underlayNs: string;
  /** The Linux bridge agent's `[vxlan] arp_responder` (with l2_population; Neutron's default false). */
  arpResponder?: boolean;
}

/** A VXLAN device of the switch as read back. */
export interface VxlanState {
  name: string;
  vni: number | null;
  local: string | null;
  port: number | null;
  learning: boolean;
  proxy: boolean;
  mtu: number;
  master: string | null;
  up: boolean;
}

export interface OverlayState {
  devices: Map<string, VxlanState>;
  /** The devices' own entries (`self`, with a remote): dev, MAC, destination. */
  fdb: Array<{ dev: string; mac: string; dst: string }>;
  /** The devices' permanent neighbour entries (the ARP responder's): dev, canonical IP, MAC. */
  neigh: Array<{ dev: string; ip: string; mac: string }>;
}

/** Neutron's Linux bridge agent's name for a VNI's device (`vxlan-<segmentation_id>`). */
export const vxlanDevice = (vni: number): string => `vxlan-${vni}`;

/**
 * The overlay this host's switch should have. `desiredSwitch` says which networks have a bridge
 * here; `tunnels` is every host's tunnel endpoint (their L2 agents' `tunneling_ip`).
 */
export function desiredOverlay(s: Snapshot, desiredSwitch: DesiredNs, names: Names, host: string, tunnel: TunnelConfig): OverlaySpec {
  const bridges = new Set(desiredSwitch.links.filter((l) => l.kind === 'bridge').map((l) => l.name));
  const tunnels = s.placement?.tunnels ?? new Map<string, string>();
  const devices: VxlanSpec[] = [];
  const fdb: FdbSpec[] = [];
  const neigh: NeighSpec[] = [];
  const proxy = tunnel.arpResponder === true;
  for (const net of s.networks) {
    if (net.networkType !== 'vxlan' || net.segmentationId === null) continue;
    const bridge = names.bridge(net.id);
    if (!bridges.has(bridge)) continue;
    const dev = vxlanDevice(net.segmentationId);
    const owner = ownerKey.network(net.id);
    devices.push({ dev, vni: net.segmentationId, bridge, mtu: net.mtu, proxy, owner });
    const floods = new Set<string>();
    const seen = new Set<string>();
    const ips = new Set<string>();
    for (const p of s.remotePorts ?? []) {
      if (p.networkId !== net.id || !p.bindingHost || p.bindingHost === host || p.bindingFailed) continue;
      // l2population's entries are per segment: a port bound on its host to another segment of
      // the network (a VLAN one there) is not behind this VNI (l2pop's _get_agent_fdb).
      if (net.segmentId && p.bindingSegment && p.bindingSegment !== net.segmentId) continue;
      const dst = tunnels.get(p.bindingHost);
      const mac = parseMac(p.mac) ? p.mac.toLowerCase() : null;
      if (!dst || dst === tunnel.ip || !mac) continue;
      floods.add(dst);
      // Two ports cannot share a MAC on one network (Neutron refuses it); the first one wins.
      if (seen.has(mac)) continue;
      seen.add(mac);
      fdb.push({ dev, mac, dst, owner });
      if (!proxy) continue;
      // l2pop's PortInfo per fixed IP (both families: the kernel's proxy answers IPv6 NS too).
      for (const f of p.fixedIps) {
        const parsed = parseIp(f.ipAddress);
        const ip = parsed ? ipToString(parsed) : null;
        if (!ip || ips.has(ip)) continue;
        ips.add(ip);
        neigh.push({ dev, ip, mac, owner });
      }
    }
    for (const dst of [...floods].sort()) fdb.push({ dev, mac: FLOOD_MAC, dst, owner });
  }
  return { local: tunnel.ip, underlayNs: tunnel.underlayNs, devices, fdb, neigh };
}

export interface OverlayPlan {
  /** In the switch, first: devices nobody wants, or of the wrong VNI, endpoint or port. */
  cleanup: Line[];
  /** In the underlay namespace: create the missing devices there and move them into the switch. */
  underlay: Line[];
  /** In the switch: MTU, bridge and up of each device. */
  apply: Line[];
  /** `bridge -batch` in the switch: forwarding entries removed, then added. */
  fdb: Line[];
  /** In the switch: the ARP responder's neighbour entries removed, then added or changed. */
  neigh: Line[];
}

// `proxy` is fixed when the device is made: a device of the other setting is made again (Neutron's
// agent leaves an existing device as it is until it is removed; a reconciler converges it).
const sameDevice = (w: VxlanSpec, l: VxlanState, local: string) =>
  l.vni === w.vni && l.local === local && (l.port ?? VXLAN_PORT) === VXLAN_PORT && !l.learning && l.proxy === w.proxy;

export function planOverlay(spec: OverlaySpec, actual: OverlayState, switchNs: string): OverlayPlan {
  const plan: OverlayPlan = { cleanup: [], underlay: [], apply: [], fdb: [], neigh: [] };
  const wanted = new Map(spec.devices.map((d) => [d.dev, d]));
  const fresh = new Set<string>();
  for (const [name, l] of actual.devices) {
    const w = wanted.get(name);
    if (w && sameDevice(w, l, spec.local)) continue;
    plan.cleanup.push({ cmd: `link del ${name}`, owner: w?.owner ?? ownerKey.stale(name), tolerant: true });
  }
  for (const w of spec.devices) {
    const l = actual.devices.get(w.dev);
    const ok = l && sameDevice(w, l, spec.local);
    if (!ok) {
      fresh.add(w.dev);
      // One left behind by a move that failed would block the name.
      plan.underlay.push({ cmd: `link del ${w.dev}`, owner: w.owner, tolerant: true });
      plan.underlay.push({
        cmd: `link add ${w.dev} mtu ${w.mtu} type vxlan id ${w.vni} local ${spec.local} dstport ${VXLAN_PORT} nolearning${w.proxy ? ' proxy' : ''}`,
        owner: w.owner,
      });
      plan.underlay.push({ cmd: `link set ${w.dev} netns ${switchNs}`, owner: w.owner });
    }
    const have = ok ? l : undefined;
    if (have && have.mtu !== w.mtu) plan.apply.push({ cmd: `link set ${w.dev} mtu ${w.mtu}`, owner: w.owner });
    if (have?.master !== w.bridge) plan.apply.push({ cmd: `link set ${w.dev} master ${w.bridge}`, owner: w.owner });
    if (!have?.up) plan.apply.push({ cmd: `link set ${w.dev} up`, owner: w.owner });
  }
  // Forwarding entries: those of devices made again are gone with them.
  const key = (e: { dev: string; mac: string; dst: string }) => `${e.dev} ${e.mac} ${e.dst}`;
  const want = new Set(spec.fdb.map(key));
  const have = new Set(actual.fdb.filter((e) => wanted.has(e.dev) && !fresh.has(e.dev)).map(key));
  for (const e of actual.fdb) {
    if (!wanted.has(e.dev) || fresh.has(e.dev) || want.has(key(e))) continue;
    plan.fdb.push({ cmd: `fdb del ${e.mac} dev ${e.dev} dst ${e.dst}`, owner: wanted.get(e.dev)!.owner, tolerant: true });
  }
  for (const e of spec.fdb) {
    if (have.has(key(e))) continue;
    // Flooding entries are a list per device (append); a unicast MAC has one endpoint (replace).
    const verb = e.mac === FLOOD_MAC ? 'append' : 'replace';
    plan.fdb.push({ cmd: `fdb ${verb} ${e.mac} dev ${e.dev} dst ${e.dst} self permanent`, owner: e.owner });
  }
  // The ARP responder's entries (add_fdb_ip_entry: `ip neigh replace … nud permanent`), as the
  // forwarding entries: those of devices made again are gone with them.
  const nkey = (e: { dev: string; ip: string; mac: string }) => `${e.dev} ${e.ip} ${e.mac}`;
  const wantN = new Set(spec.neigh.map(nkey));
  const haveN = new Set(actual.neigh.filter((e) => wanted.has(e.dev) && !fresh.has(e.dev)).map(nkey));
  const replaced = new Set(spec.neigh.map((e) => `${e.dev} ${e.ip}`));
  for (const e of actual.neigh) {
    if (!wanted.has(e.dev) || fresh.has(e.dev) || wantN.has(nkey(e))) continue;
    // One whose IP moved to another MAC is replaced below, not deleted.
    if (replaced.has(`${e.dev} ${e.ip}`)) continue;
    plan.neigh.push({ cmd: `neigh del ${e.ip} dev ${e.dev}`, owner: wanted.get(e.dev)!.owner, tolerant: true });
  }
  for (const e of spec.neigh) {
    if (haveN.has(nkey(e))) continue;
    plan.neigh.push({ cmd: `neigh replace ${e.ip} lladdr ${e.mac} dev ${e.dev} nud permanent`, owner: e.owner });
  }
  return plan;
}

/** The state an overlay holds right after `spec` was applied without error (incremental passes). */
export function predictOverlay(spec: OverlaySpec): OverlayState {
  return {
    devices: new Map(
      spec.devices.map((d) => [
        d.dev,
        { name: d.dev, vni: d.vni, local: spec.local, port: VXLAN_PORT, learning: false, proxy: d.proxy, mtu: d.mtu, master: d.bridge, up: true },
      ]),
    ),
    fdb: spec.fdb.map((e) => ({ dev: e.dev, mac: e.mac, dst: e.dst })),
    neigh: spec.neigh.map((e) => ({ dev: e.dev, ip: e.ip, mac: e.mac })),
  };
}

// What `ip -d -j link show type vxlan` and `bridge -j fdb show` print, as far as we read it.
interface VxlanLinkJson {
  ifname: string;
  mtu: number;
  flags?: string[];
  master?: string;
  linkinfo?: { info_kind?: string; info_data?: { id?: unknown; local?: unknown; port?: unknown; learning?: unknown; proxy?: unknown } };
}

interface NeighJson {
  dst?: unknown;
  dev?: unknown;
  lladdr?: unknown;
  state?: unknown;
}

interface FdbJson {
  mac?: unknown;
  ifname?: unknown;
  dst?: unknown;
}

/**
 * Parse the switch's VXLAN devices, their forwarding entries (those with a remote only) and their
 * permanent neighbour entries (`ip -j neigh show nud permanent`).
 */
export function parseOverlayState(linksJson: string, fdbJson: string, neighJson = '[]'): OverlayState {
  const devices = new Map<string, VxlanState>();
  for (const l of JSON.parse(linksJson || '[]') as VxlanLinkJson[]) {
    if (l.linkinfo?.info_kind !== 'vxlan') continue;
    const d = l.linkinfo.info_data ?? {};
    devices.set(l.ifname, {
      name: l.ifname,
      vni: typeof d.id === 'number' ? d.id : null,
      local: typeof d.local === 'string' ? d.local : null,
      port: typeof d.port === 'number' ? d.port : null,
      learning: d.learning !== false,
      // iproute2 prints `proxy` only when it is set.
      proxy: d.proxy === true,
      mtu: l.mtu,
      master: l.master ?? null,
      up: Array.isArray(l.flags) && l.flags.includes('UP'),
    });
  }
  const fdb: OverlayState['fdb'] = [];
  for (const e of JSON.parse(fdbJson || '[]') as FdbJson[]) {
    if (typeof e.dst !== 'string' || typeof e.mac !== 'string' || typeof e.ifname !== 'string') continue;
    if (!devices.has(e.ifname)) continue;
    fdb.push({ dev: e.ifname, mac: e.mac.toLowerCase(), dst: e.dst });
  }
  const neigh: OverlayState['neigh'] = [];
  for (const e of JSON.parse(neighJson || '[]') as NeighJson[]) {
    if (typeof e.dev !== 'string' || !devices.has(e.dev) || typeof e.lladdr !== 'string') continue;
    if (!Array.isArray(e.state) || !e.state.includes('PERMANENT')) continue;
    const ip = parseIp(e.dst);
    if (ip) neigh.push({ dev: e.dev, ip: ipToString(ip), mac: e.lladdr.toLowerCase() });
  }
  return { devices, fdb, neigh };
}
