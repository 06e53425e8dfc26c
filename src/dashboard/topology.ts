import type { Lists, Obj } from './collect.js';

/**
 * The topology as the page draws it: nodes and edges built from the API lists, nothing else.
 * Layers, top to bottom: external networks, routers, tenant networks, ports (with their addresses
 * and security groups), then what owns each port (instances, load balancers with their listeners,
 * pools and members) and the floating IPs NATed onto ports. A cloud with thousands of ports is
 * drawn up to a budget per network and in total; what does not fit becomes one summary node per
 * network with the counts, so the page stays usable and says what it left out.
 */
export type NodeKind = 'network' | 'router' | 'port' | 'server' | 'floatingip' | 'loadbalancer' | 'listener' | 'pool' | 'member' | 'summary';

export interface TopoNode {
  id: string;
  kind: NodeKind;
  label: string;
  /** Status as the API reports it (operating status for load-balancing objects). */
  status: string;
  /** Layer for the layered layout (0 = external networks). */
  layer: number;
  project: string | null;
  /** The object as the API rendered it, for the details panel (ids included). */
  detail: Obj;
  external?: boolean;
}

export interface TopoEdge {
  id: string;
  source: string;
  target: string;
  kind: 'gateway' | 'interface' | 'port' | 'device' | 'nat' | 'vip' | 'listener' | 'pool' | 'member' | 'backend' | 'summary';
  label?: string;
}

export interface Topology {
  nodes: TopoNode[];
  edges: TopoEdge[];
  summary: { ports: number; portsDrawn: number; servers: number; serversDrawn: number; hidden: number };
}

export interface TopologyOptions {
  /** Draw only this project's objects (plus external and shared networks); null: everything listed. */
  project: string | null;
  /** Ports drawn per network before the rest is summarised. */
  portsPerNetwork: number;
  /** Nodes drawn in total. */
  maxNodes: number;
}

export const DEFAULT_TOPOLOGY_OPTIONS: TopologyOptions = { project: null, portsPerNetwork: 30, maxNodes: 400 };

const s = (v: unknown): string => (typeof v === 'string' ? v : v === null || v === undefined ? '' : String(v));
const ROUTER_INTERFACE = /^network:router_interface/;
const HIDDEN_OWNERS = new Set(['network:router_gateway', 'network:floatingip', 'network:dhcp']);

function fixedIps(p: Obj): string[] {
  const f = p.fixed_ips;
  return Array.isArray(f) ? f.map((x) => s((x as Obj).ip_address)).filter(Boolean) : [];
}

export function buildTopology(lists: Lists, opts: TopologyOptions = DEFAULT_TOPOLOGY_OPTIONS): Topology {
  const mine = (o: Obj) => opts.project === null || s(o.project_id ?? o.tenant_id) === opts.project;
  const nodes: TopoNode[] = [];
  const edges: TopoEdge[] = [];
  const have = new Set<string>();
  const add = (n: TopoNode) => {
    if (have.has(n.id)) return false;
    have.add(n.id);
    nodes.push(n);
    return true;
  };
  const link = (source: string, target: string, kind: TopoEdge['kind'], label?: string) => {
    if (!have.has(source) || !have.has(target)) return;
    edges.push({ id: `${kind}:${source}:${target}`, source, target, kind, ...(label ? { label } : {}) });
  };
  const project = (o: Obj) => s(o.project_id ?? o.tenant_id) || null;

  const sgName = new Map(lists.securityGroups.map((g) => [s(g.id), s(g.name) || s(g.id).slice(0, 8)]));
  const subnetsOf = new Map<string, Obj[]>();
  for (const sn of lists.subnets) {
    const list = subnetsOf.get(s(sn.network_id)) ?? [];
    list.push(sn);
    subnetsOf.set(s(sn.network_id), list);
  }

  // ------------------------------------------------------------ networks
  const routers = lists.routers.filter(mine);
  const routerIds = new Set(routers.map((r) => s(r.id)));
  const gatewayNets = new Set(routers.map((r) => s((r.external_gateway_info as Obj | null)?.network_id)).filter(Boolean));
  const networks = lists.networks.filter((n) => mine(n) || n['router:external'] === true || gatewayNets.has(s(n.id)));
  for (const n of networks) {
    const ext = n['router:external'] === true;
    const subnets = subnetsOf.get(s(n.id)) ?? [];
    const cidrs = subnets.map((x) => s(x.cidr)).filter((c) => !ext || !c.includes(':'));
    add({
      id: s(n.id),
      kind: 'network',
      label: [s(n.name) || s(n.id).slice(0, 8), ...cidrs].join('\n'),
      status: s(n.status),
      layer: ext ? 0 : 2,
      project: project(n),
      external: ext,
      detail: { ...n, subnets_detail: subnets },
    });
  }

  // ------------------------------------------------------------ routers
  const ports = lists.ports;
  for (const r of routers) {
    add({ id: s(r.id), kind: 'router', label: s(r.name) || s(r.id).slice(0, 8), status: s(r.status), layer: 1, project: project(r), detail: r });
    const gw = r.external_gateway_info as Obj | null;
    if (gw?.network_id) {
      const ips = Array.isArray(gw.external_fixed_ips) ? gw.external_fixed_ips.map((x) => s((x as Obj).ip_address)).filter((a) => !a.includes(':')) : [];
      link(s(gw.network_id), s(r.id), 'gateway', ips.join(', '));
    }
  }
  for (const p of ports) {
    if (!ROUTER_INTERFACE.test(s(p.device_owner)) || !routerIds.has(s(p.device_id))) continue;
    link(s(p.device_id), s(p.network_id), 'interface', fixedIps(p).join(', '));
  }

  // ------------------------------------------------------------ ports, within a budget
  const summary = { ports: 0, portsDrawn: 0, servers: 0, serversDrawn: 0, hidden: 0 };
  const drawnPorts = new Set<string>();
  const portsByNet = new Map<string, Obj[]>();
  for (const p of ports) {
    if (ROUTER_INTERFACE.test(s(p.device_owner)) || HIDDEN_OWNERS.has(s(p.device_owner)) || !mine(p)) continue;
    if (!have.has(s(p.network_id))) continue;
    summary.ports++;
    const list = portsByNet.get(s(p.network_id)) ?? [];
    list.push(p);
    portsByNet.set(s(p.network_id), list);
  }
  const servers = new Map(lists.servers.filter(mine).map((x) => [s(x.id), x]));
  summary.servers = servers.size;
  const lbByVipPort = new Map(lists.loadbalancers.filter(mine).map((lb) => [s(lb.vip_port_id), lb]));
  // Load balancers' ports first (few, and they carry the listeners), then by device and age.
  const rank = (p: Obj) => (lbByVipPort.has(s(p.id)) ? 0 : servers.has(s(p.device_id)) ? 1 : 2);
  for (const [netId, list] of portsByNet) {
    list.sort((a, b) => rank(a) - rank(b) || s(a.created_at).localeCompare(s(b.created_at)) || s(a.id).localeCompare(s(b.id)));
    let drawn = 0;
    const left: Obj[] = [];
    for (const p of list) {
      if (drawn >= opts.portsPerNetwork || nodes.length >= opts.maxNodes) {
        left.push(p);
        continue;
      }
      drawn++;
      drawnPorts.add(s(p.id));
      const groups = Array.isArray(p.security_groups) ? p.security_groups.map((g) => sgName.get(s(g)) ?? s(g).slice(0, 8)) : [];
      const ips = fixedIps(p).filter((a) => !a.includes(':'));
      add({
        id: s(p.id),
        kind: 'port',
        label: [ips.join(', ') || s(p.mac_address), groups.length ? `sg: ${groups.join(', ')}` : p.port_security_enabled === false ? 'no port security' : '']
          .filter(Boolean)
          .join('\n'),
        status: s(p.status),
        layer: 3,
        project: project(p),
        detail: { ...p, security_group_names: groups },
      });
      link(netId, s(p.id), 'port');
    }
    summary.portsDrawn += drawn;
    if (left.length) {
      summary.hidden += left.length;
      const byOwner = new Map<string, number>();
      for (const p of left) byOwner.set(s(p.device_owner) || '(unbound)', (byOwner.get(s(p.device_owner) || '(unbound)') ?? 0) + 1);
      const id = `summary:${netId}`;
      add({
        id,
        kind: 'summary',
        label: `+ ${left.length.toLocaleString('en-US')} more ports`,
        status: '',
        layer: 3,
        project: null,
        detail: {
          network_id: netId,
          hidden_ports: left.length,
          by_device_owner: Object.fromEntries(byOwner),
          first_hidden_port_ids: left.slice(0, 20).map((p) => s(p.id)),
        },
      });
      link(netId, id, 'summary');
    }
  }

  // ------------------------------------------------------------ instances
  for (const p of ports) {
    if (!drawnPorts.has(s(p.id))) continue;
    const srv = servers.get(s(p.device_id));
    if (!srv) continue;
    if (
      add({ id: s(srv.id), kind: 'server', label: s(srv.name) || s(srv.id).slice(0, 8), status: s(srv.status), layer: 4, project: project(srv), detail: srv })
    )
      summary.serversDrawn++;
    link(s(p.id), s(srv.id), 'device');
  }

  // ------------------------------------------------------------ floating IPs
  const extNet = networks.find((n) => n['router:external'] === true);
  for (const f of lists.floatingips.filter(mine)) {
    const id = s(f.id);
    const port = s(f.port_id);
    if (port && !drawnPorts.has(port)) continue;
    add({ id, kind: 'floatingip', label: s(f.floating_ip_address), status: s(f.status), layer: port ? 4 : 1, project: project(f), detail: f });
    if (port) link(port, id, 'nat', s(f.fixed_ip_address));
    else link(s(f.floating_network_id) || s(extNet?.id), id, 'nat');
  }

  // ------------------------------------------------------------ load balancers
  const lbs = lists.loadbalancers.filter(mine);
  const lbIds = new Set(lbs.map((lb) => s(lb.id)));
  for (const lb of lbs) {
    if (!drawnPorts.has(s(lb.vip_port_id))) continue;
    add({
      id: s(lb.id),
      kind: 'loadbalancer',
      label: `${s(lb.name) || s(lb.id).slice(0, 8)}\nVIP ${s(lb.vip_address)}`,
      status: s(lb.operating_status),
      layer: 4,
      project: project(lb),
      detail: lb,
    });
    link(s(lb.vip_port_id), s(lb.id), 'vip');
  }
  const monitorOf = new Map(lists.healthmonitors.map((m) => [s((m.pools as Obj[] | undefined)?.[0]?.id), m]));
  for (const l of lists.listeners) {
    const lb = s((l.loadbalancers as Obj[] | undefined)?.[0]?.id);
    if (!lbIds.has(lb) || !have.has(lb)) continue;
    add({
      id: s(l.id),
      kind: 'listener',
      label: `${s(l.protocol)}:${s(l.protocol_port)}`,
      status: s(l.operating_status),
      layer: 5,
      project: project(l),
      detail: l,
    });
    link(lb, s(l.id), 'listener');
  }
  for (const p of lists.pools) {
    const lb = s((p.loadbalancers as Obj[] | undefined)?.[0]?.id);
    if (!have.has(lb)) continue;
    const mon = monitorOf.get(s(p.id));
    add({
      id: s(p.id),
      kind: 'pool',
      label: [s(p.name) || 'pool', s(p.lb_algorithm), mon ? `monitor ${s(mon.type)}` : ''].filter(Boolean).join('\n'),
      status: s(p.operating_status),
      layer: 6,
      project: project(p),
      detail: { ...p, healthmonitor: mon ?? null },
    });
    const listeners = Array.isArray(p.listeners) ? p.listeners.map((x) => s((x as Obj).id)) : [];
    if (listeners.some((x) => have.has(x))) for (const l of listeners) link(l, s(p.id), 'pool');
    else link(lb, s(p.id), 'pool');
  }
  // A member points at the port that holds its address (an instance's, on the member's subnet).
  const portByIp = new Map<string, string>();
  for (const p of ports)
    for (const f of Array.isArray(p.fixed_ips) ? (p.fixed_ips as Obj[]) : []) portByIp.set(`${s(f.subnet_id)}/${s(f.ip_address)}`, s(p.id));
  for (const m of lists.members) {
    if (!have.has(s(m.pool_id))) continue;
    add({
      id: s(m.id),
      kind: 'member',
      label: `${s(m.address)}:${s(m.protocol_port)}`,
      status: s(m.operating_status),
      layer: 7,
      project: project(m),
      detail: m,
    });
    link(s(m.pool_id), s(m.id), 'member');
    const port = portByIp.get(`${s(m.subnet_id)}/${s(m.address)}`) ?? [...portByIp].find(([k]) => k.endsWith(`/${s(m.address)}`))?.[1];
    if (port) link(s(m.id), port, 'backend');
  }
  return { nodes, edges, summary };
}
