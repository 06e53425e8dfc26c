/**
 * One host's part of the cloud (issue 18): what `pocketstack agent --host NAME` reconciles, as
 * Neutron's agents on a host are handed only their own — the L2 agent the ports bound to the host
 * (binding:host_id), the DHCP agent the networks scheduled to it, the L3 agent the routers
 * scheduled to it — and nova-compute the servers whose host it is.
 *
 * Pure: a snapshot in, a narrower snapshot out. What another host holds is left out of everything
 * this host wires and reports status on (two agents never configure, nor report, the same port),
 * and kept as `remotePorts` where its addresses still matter here.
 */
import { DHCP_OWNER, ROUTER_GATEWAY_OWNER, ROUTER_INTERFACE_OWNERS, isInstancePort } from './desired.js';
import type { InstanceRec, NetworkRec, PortRec, SegmentRec, Snapshot } from './model.js';

const isRouterPort = (p: PortRec) => p.deviceOwner === ROUTER_GATEWAY_OWNER || ROUTER_INTERFACE_OWNERS.includes(p.deviceOwner);

/**
 * `keepPhysnet`: flat networks of that physical network are this host's even with no port of its
 * own on them — `serve`'s one machine is the cloud's gateway to its public network (DevStack's
 * br-ex, up before any router is), so that network keeps its bridge and host leg there.
 */
export function hostPart(s: Snapshot, host: string, keepPhysnet?: string, reachable?: (seg: SegmentRec) => boolean): Snapshot {
  const on = (hosts: string[] | undefined) => hosts?.includes(host) ?? false;
  const routers = s.routers.filter((r) => on(s.placement?.l3.get(r.id)));
  const routerIds = new Set(routers.map((r) => r.id));
  // A machine being handed over is neither host's until the handover commits (its source's agent
  // hands it over before its pass; its NICs are plugged in by the destination's afterwards).
  const handovers = (s.handovers ?? []).filter((h) => h.source === host || h.dest === host);
  const moving = new Set(handovers.map((h) => h.instanceId));
  const instances: InstanceRec[] | null = s.instances ? s.instances.filter((i) => i.host === host && !moving.has(i.id)) : null;
  const instanceIds = new Set(instances?.map((i) => i.id) ?? []);

  // A trunk runs with its parent port: its subports are wired (and bound) on the parent's host.
  const subports = new Set((s.trunks ?? []).flatMap((t) => t.subports.map((sp) => sp.portId)));
  const mine = (p: PortRec): boolean => {
    if (subports.has(p.id)) return false;
    // A router's legs go where the router runs, whatever their binding says: an HA router's on
    // every host hosting it (each reports them alike; keepalived gives the master their addresses).
    if (isRouterPort(p)) return routerIds.has(p.deviceId);
    // A port whose binding failed is wired nowhere (no segment of its network reaches its host).
    if (p.bindingFailed) return false;
    // A DHCP port is this host's while its network is scheduled to this host's DHCP agent (a
    // network moved to another agent leaves its port reserved, still bound here until taken).
    if (p.deviceOwner === DHCP_OWNER) return p.bindingHost === host && on(s.placement?.dhcp.get(p.networkId));
    // A server's NIC runs with the server (compute's tables), else where it is bound.
    if (instances && isInstancePort(p)) return instanceIds.has(p.deviceId) && p.bindingHost === host;
    return p.bindingHost !== '' && p.bindingHost === host;
  };
  const local = new Set(s.ports.filter(mine).map((p) => p.id));
  const trunks = (s.trunks ?? []).filter((t) => local.has(t.portId));
  for (const t of trunks) for (const sp of t.subports) local.add(sp.portId);

  const ports = s.ports.filter((p) => local.has(p.id));
  const remotePorts = [...(s.remotePorts ?? []), ...s.ports.filter((p) => !local.has(p.id))];
  // Only networks with something of this host on them get a bridge here (and, for the public
  // network, the host leg): a host joins a network when it has a port on it.
  const used = new Set(ports.map((p) => p.networkId));
  const kept = (n: NetworkRec) => keepPhysnet !== undefined && n.networkType === 'flat' && n.physicalNetwork === keepPhysnet;
  return {
    ...s,
    networks: s.networks.filter((n) => used.has(n.id) || kept(n)).map((n) => segmentOnHost(n, ports, host, reachable)),
    ports,
    remotePorts,
    routers,
    // A floating IP's NAT is its router's; an unassociated one is DOWN wherever it is asked.
    floatingIps: s.floatingIps.filter((f) => f.routerId === null || routerIds.has(f.routerId)),
    trunks,
    instances,
    handovers,
  };
}

/**
 * The segment a network is on this host, as the Linux bridge agent takes it from the ports bound
 * here (get_device_details hands it each port's bound segment, and the network's bridge is made
 * from it: ensure_flat_bridge, ensure_vlan_bridge, ensure_vxlan): the earliest of the network's
 * segments one of this host's ports is bound to; with none named (ports bound before segments
 * were kept, another host's router legs on an HA backup) the first this host reaches, as binding
 * would choose (`reachable`); else the network's first. A network of one segment is as read.
 */
export function segmentOnHost(n: NetworkRec, local: PortRec[], host: string, reachable?: (seg: SegmentRec) => boolean): NetworkRec {
  const segs = n.segments ?? [];
  if (segs.length < 2) return n;
  const bound = new Set(local.filter((p) => p.networkId === n.id && p.bindingHost === host && p.bindingSegment).map((p) => p.bindingSegment));
  const seg = segs.find((x) => bound.has(x.id)) ?? (reachable ? segs.find(reachable) : undefined);
  if (!seg) return n;
  return { ...n, networkType: seg.networkType, physicalNetwork: seg.physicalNetwork, segmentationId: seg.segmentationId, segmentId: seg.id };
}
