import type { DesiredNs, PortRec, RuleRec } from '../../dataplane/netns/model.js';
import { ROOT_NS } from '../../dataplane/netns/model.js';
import { protocolNumber, ruleMatch } from '../../dataplane/netns/secgroups.js';
import { cidrAllowed } from '../../lb/builtin/common.js';
import { policyMatches } from '../../lb/builtin/http.js';
import type { Head } from '../../lb/builtin/http1.js';
import type { RtListener, RtPool } from '../../lb/config.js';
import { type Cidr, cidrContains, cidrToString, parseCidr, parseIp } from '../../util/ip.js';
import { type ChainStep, type Packet, runChain } from './iptables.js';
import type { Endpoint, Explanation, Hop, ProbeOutcome, Protocol, Ref, World } from './model.js';

/**
 * explain's reasoning: a first packet walked through the kernel state the netns data plane builds
 * for the current store (buildDesired: namespaces, addresses, routes, NAT, the rendered iptables
 * chains) and through what the load-balancer engine runs (runtimeConfig), hop by hop, the way the
 * kernel would take it. Pure: the same world and question always give the same answer.
 */

const PROTO: Record<Protocol, number> = { tcp: 6, udp: 17, icmp: 1 };
/** ICMP echo request: what `ping` sends, and the type an ICMP rule's port_range_min names. */
const ECHO_REQUEST = 8;

interface Where {
  ns: DesiredNs;
  /** The interface the packet arrived on (null: it starts here). */
  dev: string | null;
}

interface Ctx {
  w: World;
  hops: Hop[];
  protoNumbers: Map<string, number>;
  ports: Map<string, PortRec>;
  /** Every address configured in a namespace, with where it lives. */
  owners: Map<string, Array<{ ns: DesiredNs; dev: string; cidr: Cidr }>>;
  bridges: Map<string, string>;
}

export interface Question {
  from: Endpoint;
  to: Endpoint;
  protocol: Protocol;
  port: number | null;
  /** HTTP path, to choose among a listener's L7 policies. */
  path?: string;
}

const allNs = (w: World): DesiredNs[] => [w.desired.root, w.desired.switch, ...w.desired.namespaces];

function ref(w: World, kind: string, id: string): Ref {
  const l = w.labels.get(id);
  if (!l) return { kind, id: null, name: `a ${kind.replace('_', ' ')} you cannot see` };
  return { kind: l.kind, id, name: l.name || id };
}

const v4 = (p: PortRec): string | null => p.fixedIps.map((f) => f.ipAddress).find((a) => parseIp(a)?.version === 4) ?? null;

function context(w: World): Ctx {
  const owners = new Map<string, Array<{ ns: DesiredNs; dev: string; cidr: Cidr }>>();
  for (const ns of allNs(w)) {
    for (const a of ns.addrs) {
      const c = parseCidr(a.cidr);
      if (!c) continue;
      const ip = a.cidr.split('/')[0];
      const list = owners.get(ip) ?? [];
      list.push({ ns, dev: a.dev, cidr: c });
      owners.set(ip, list);
    }
  }
  const protoNumbers = new Map<string, number>();
  for (const [n, name] of w.protocolNames) protoNumbers.set(name, n);
  const bridges = new Map(w.snap.networks.map((n) => [w.names.bridge(n.id), n.id]));
  return { w, hops: [], protoNumbers, ports: new Map(w.snap.ports.map((p) => [p.id, p])), owners, bridges };
}

/** The network a namespace's interface is plugged into (through its peer on the switch's bridge). */
function networkOf(c: Ctx, ns: DesiredNs, dev: string): string | null {
  const link = ns.links.find((l) => l.name === dev);
  if (!link?.peer) return null;
  const end = c.w.desired.switch.links.find((l) => l.name === link.peer!.name);
  return end?.master ? (c.bridges.get(end.master) ?? null) : null;
}

/** The Neutron port behind a namespace's interface (the host leg has none). */
function portAt(c: Ctx, ns: DesiredNs, dev: string): PortRec | null {
  for (const wp of c.w.desired.wired.values()) if (wp.ns === ns.name && wp.ifname === dev) return c.ports.get(wp.portId) ?? null;
  return null;
}

const filtered = (c: Ctx, p: PortRec) => c.w.desired.wired.has(p.id) && p.portSecurity && !p.deviceOwner.startsWith('network:');

function describeNs(c: Ctx, ns: DesiredNs): Ref {
  switch (ns.kind) {
    case 'root':
      return { kind: 'host', id: null, name: 'the host' };
    case 'instance':
      return ref(c.w, 'server', ns.objectId);
    case 'router':
      return ref(c.w, 'router', ns.objectId);
    case 'loadbalancer': {
      const lb = c.w.lbs.find((x) => x.graph.lb.vip_port_id === ns.objectId);
      return lb ? ref(c.w, 'loadbalancer', lb.graph.lb.id) : ref(c.w, 'port', ns.objectId);
    }
    default:
      return { kind: 'switch', id: null, name: 'the switch' };
  }
}

interface Route {
  dev: string;
  via: string | null;
  dst: string;
}

/** Longest-prefix match over the namespace's connected subnets and routes. */
function lookup(ns: DesiredNs, dst: string): Route | null {
  const ip = parseIp(dst);
  if (!ip) return null;
  let best: { prefix: number; route: Route } | null = null;
  const consider = (cidr: Cidr, route: Route) => {
    if (cidr.version !== ip.version || !cidrContains(cidr, ip)) return;
    if (!best || cidr.prefix > best.prefix) best = { prefix: cidr.prefix, route };
  };
  for (const a of ns.addrs) {
    const c = parseCidr(a.cidr);
    if (c) consider(c, { dev: a.dev, via: null, dst: cidrToString(c) });
  }
  for (const r of ns.routes) {
    const c = r.dst === 'default' ? parseCidr(ip.version === 4 ? '0.0.0.0/0' : '::/0') : parseCidr(r.dst);
    if (!c) continue;
    const gw = parseIp(r.via);
    const dev = r.dev ?? ns.addrs.find((a) => gw && parseCidr(a.cidr) && cidrContains(parseCidr(a.cidr)!, gw))?.dev;
    if (dev) consider(c, { dev, via: r.via, dst: r.dst });
  }
  return (best as { route: Route } | null)?.route ?? null;
}

/** A rule in words, as `openstack security group rule list` would list it. */
function ruleWords(r: RuleRec): string {
  const proto = r.protocol ?? 'any protocol';
  const ports =
    r.portMin === null ? '' : r.protocol === 'icmp' ? ` type ${r.portMin}` : r.portMin === r.portMax ? `/${r.portMin}` : `/${r.portMin}-${r.portMax}`;
  const remote = r.remoteGroupId ? `members of group ${r.remoteGroupId.slice(0, 8)}` : (r.remoteIpPrefix ?? (r.ethertype === 'IPv4' ? '0.0.0.0/0' : '::/0'));
  return `${r.direction} ${r.ethertype} ${proto}${ports} ${r.direction === 'ingress' ? 'from' : 'to'} ${remote}`;
}

/** The Neutron rule a matched group-chain line was rendered from. */
function ruleOfLine(c: Ctx, step: ChainStep, groups: string[], dir: 'ingress' | 'egress', pkt: Packet): { group: string; rule: RuleRec } | null {
  for (const gid of groups) {
    if (c.w.names.groupChain(gid, dir) !== step.chain) continue;
    const g = c.w.snap.securityGroups.find((x) => x.id === gid);
    for (const r of g?.rules ?? []) {
      if (r.direction !== dir || r.ethertype !== 'IPv4') continue;
      const match = ruleMatch(r, 4, c.w.protocolNames);
      if (match && !step.line.includes(match)) continue;
      if (!match && /-p /.test(step.line)) continue;
      const peer = dir === 'ingress' ? pkt.src : pkt.dst;
      if (r.remoteIpPrefix) {
        const cidr = parseCidr(r.remoteIpPrefix);
        const a = parseIp(peer);
        if (!cidr || !a || !cidrContains(cidr, a)) continue;
      }
      if (r.remoteGroupId) {
        const member = c.w.snap.ports.some(
          (p) => p.portSecurity && p.securityGroups.includes(r.remoteGroupId!) && p.fixedIps.some((f) => f.ipAddress === peer),
        );
        if (!member) continue;
      }
      return { group: gid, rule: r };
    }
  }
  return null;
}

const groupNames = (c: Ctx, ids: string[]) => (ids.length ? ids.map((g) => ref(c.w, 'security_group', g).name).join(', ') : 'none');

function ruleCommand(c: Ctx, dir: 'ingress' | 'egress', groups: string[], q: Question, peer: string): string {
  const group = groups.length ? ref(c.w, 'security_group', groups[0]).name : '<group>';
  const port = q.protocol === 'icmp' ? '' : ` --dst-port ${q.port}`;
  return `openstack security group rule create --${dir} --protocol ${q.protocol}${port} --remote-ip ${peer}/32 ${group}`;
}

/** A port's anti-spoofing and egress chains, as rendered for the kernel. */
function egress(c: Ctx, p: PortRec, pkt: Packet, q: Question): boolean {
  const table = c.w.desired.filter.v4.filter;
  const spoof = runChain(table, c.w.names.portSpoofChain(p.id), pkt, c.protoNumbers);
  const portRef = ref(c.w, 'port', p.id);
  if (spoof.verdict === 'drop') {
    c.hops.push({
      step: 'anti-spoofing',
      verdict: 'drop',
      detail: `${pkt.src} from ${pkt.mac} is not one of port ${portRef.name}'s addresses (fixed IPs and allowed address pairs)`,
      objects: [portRef],
      fix: `openstack port set --allowed-address ip-address=${pkt.src} ${portRef.id ?? '<port>'}`,
    });
    return false;
  }
  c.hops.push({ step: 'anti-spoofing', verdict: 'pass', detail: `${pkt.src} with MAC ${pkt.mac} is port ${portRef.name}'s own address`, objects: [portRef] });
  const res = runChain(table, c.w.names.portEgressChain(p.id), pkt, c.protoNumbers);
  const marked = res.steps.find((s) => s.effect === 'mark');
  if (res.verdict === 'pass' && marked) {
    const r = ruleOfLine(c, marked, p.securityGroups, 'egress', pkt);
    c.hops.push({
      step: 'egress rule',
      verdict: 'pass',
      detail: r
        ? `security group ${ref(c.w, 'security_group', r.group).name} admits it: ${ruleWords(r.rule)}`
        : `admitted by the egress chain (${marked.line})`,
      objects: r ? [ref(c.w, 'security_group', r.group), ref(c.w, 'security_group_rule', r.rule.id)] : [],
    });
    return true;
  }
  if (res.verdict === 'pass') {
    c.hops.push({ step: 'egress rule', verdict: 'pass', detail: 'admitted before the group rules (an always-allowed packet type)' });
    return true;
  }
  c.hops.push({
    step: 'egress rule',
    verdict: 'drop',
    detail: `no egress rule of port ${portRef.name}'s security groups (${groupNames(c, p.securityGroups)}) admits ${q.protocol}${q.port !== null && q.protocol !== 'icmp' ? `/${q.port}` : ''} to ${pkt.dst}`,
    objects: p.securityGroups.map((g) => ref(c.w, 'security_group', g)),
    fix: ruleCommand(c, 'egress', p.securityGroups, q, pkt.dst),
  });
  return false;
}

function ingress(c: Ctx, p: PortRec, pkt: Packet, q: Question): boolean {
  const table = c.w.desired.filter.v4.filter;
  const res = runChain(table, c.w.names.portIngressChain(p.id), pkt, c.protoNumbers);
  const portRef = ref(c.w, 'port', p.id);
  const marked = res.steps.find((s) => s.effect === 'mark');
  if (res.verdict === 'pass' && marked) {
    const r = ruleOfLine(c, marked, p.securityGroups, 'ingress', pkt);
    c.hops.push({
      step: 'ingress rule',
      verdict: 'pass',
      detail: r
        ? `security group ${ref(c.w, 'security_group', r.group).name} on port ${portRef.name} admits it: ${ruleWords(r.rule)}`
        : `admitted by port ${portRef.name}'s ingress chain (${marked.line})`,
      objects: r ? [portRef, ref(c.w, 'security_group', r.group), ref(c.w, 'security_group_rule', r.rule.id)] : [portRef],
    });
    return true;
  }
  if (res.verdict === 'pass') {
    c.hops.push({ step: 'ingress rule', verdict: 'pass', detail: `port ${portRef.name} always admits this packet type`, objects: [portRef] });
    return true;
  }
  c.hops.push({
    step: 'ingress rule',
    verdict: 'drop',
    detail: `no ingress rule of port ${portRef.name}'s security groups (${groupNames(c, p.securityGroups)}) admits ${q.protocol}${q.port !== null && q.protocol !== 'icmp' ? `/${q.port}` : ''} from ${pkt.src}`,
    objects: [portRef, ...p.securityGroups.map((g) => ref(c.w, 'security_group', g))],
    fix: ruleCommand(c, 'ingress', p.securityGroups, q, pkt.src),
  });
  return false;
}

type Outcome = { delivered: true; at: DesiredNs; pkt: Packet; replyProblem: string | null } | { delivered: false; leaves?: boolean };

/** Who answers ARP for `ip` on `networkId`: a namespace with that address on an interface there. */
function neighbour(c: Ctx, networkId: string, ip: string): { ns: DesiredNs; dev: string } | null {
  for (const o of c.owners.get(ip) ?? []) {
    if (networkOf(c, o.ns, o.dev) === networkId) return { ns: o.ns, dev: o.dev };
  }
  return null;
}

function subnetOfGateway(c: Ctx, networkId: string, ip: string) {
  return c.w.snap.subnets.find((s) => s.networkId === networkId && s.gatewayIp === ip);
}

/** Forward `pkt` from `start` until it is delivered to a namespace that holds its destination. */
function forward(c: Ctx, start: Where, pkt0: Packet, q: Question): Outcome {
  let at = start;
  let pkt = { ...pkt0 };
  let dnat = false;
  let replyProblem: string | null = null;
  for (let hop = 0; hop < 10; hop++) {
    const here = describeNs(c, at.ns);
    // A router: DNAT first (prerouting), as its nftables table does.
    if (at.ns.kind === 'router' && at.dev && at.ns.nat) {
      const f = at.ns.nat.fips.find((x) => x.floating === pkt.dst);
      if (f) {
        const fipId = f.owner.split(':').pop() ?? '';
        c.hops.push({
          step: 'DNAT',
          verdict: 'pass',
          detail: `router ${here.name} translates floating IP ${f.floating} to ${f.fixed}`,
          objects: [here, ref(c.w, 'floatingip', fipId)],
        });
        pkt = { ...pkt, dst: f.fixed };
        dnat = true;
      }
    }
    const local = at.ns.addrs.some((a) => a.cidr.split('/')[0] === pkt.dst);
    if (local) {
      if (at.ns.kind === 'router' && at.ns.nat && at.dev === at.ns.nat.gatewayIf && pkt.dst !== at.ns.nat.gatewayIp) {
        c.hops.push({
          step: 'router input',
          verdict: 'drop',
          detail: `router ${here.name} takes nothing from outside at ${pkt.dst} (only its gateway address is its own)`,
          objects: [here],
        });
        return { delivered: false };
      }
      return { delivered: true, at: at.ns, pkt, replyProblem };
    }
    const route = lookup(at.ns, pkt.dst);
    if (!route) {
      if (at.ns.kind === 'root') {
        c.hops.push({
          step: 'route',
          verdict: 'drop',
          detail: `the host has no route into PocketStack for ${pkt.dst}: only the public network (${at.ns.addrs.map((a) => a.cidr).join(', ') || 'none'}) is reachable from outside`,
          fix: 'reach a tenant address through a floating IP: openstack floating ip create public, then openstack server add floating ip <server> <address>',
        });
      } else {
        const sub = c.w.snap.subnets.find((s) => at.ns.addrs.some((a) => a.cidr.startsWith(`${s.gatewayIp}/`)) || false);
        c.hops.push({
          step: 'route',
          verdict: 'drop',
          detail: `${here.name} has no route to ${pkt.dst}${at.ns.kind === 'instance' ? ' (its subnet has no gateway, or no host route covers it)' : ''}`,
          objects: [here],
          fix:
            at.ns.kind === 'router'
              ? `openstack router set --external-gateway public ${here.name}, or add the destination's subnet to the router`
              : sub
                ? undefined
                : 'give the subnet a gateway and add it to a router',
        });
      }
      return { delivered: false };
    }
    const via = route.via ? `via ${route.via} ` : '';
    c.hops.push({
      step: 'route',
      verdict: 'pass',
      detail: `${here.name} routes ${pkt.dst} ${via}out ${route.dev} (${route.dst === 'default' ? 'default route' : route.dst})`,
      objects: [here],
    });

    if (at.ns.kind === 'router' && at.ns.nat) {
      const nat = at.ns.nat;
      const inQg = at.dev === nat.gatewayIf;
      const outQg = route.dev === nat.gatewayIf;
      if (inQg && outQg) {
        c.hops.push({
          step: 'router forward',
          verdict: 'drop',
          detail: `router ${here.name} is no transit between addresses of the external network`,
          objects: [here],
        });
        return { delivered: false };
      }
      // postrouting, in the table's order
      const srcFip = nat.fips.find((f) => f.fixed === pkt.src);
      if (!inQg && !outQg && !dnat) {
        c.hops.push({ step: 'NAT', verdict: 'info', detail: `east-west between the router's subnets: no NAT, ${pkt.src} stays the source`, objects: [here] });
      } else if (srcFip) {
        c.hops.push({
          step: 'SNAT',
          verdict: 'pass',
          detail: `router ${here.name} rewrites the source ${pkt.src} to its floating IP ${srcFip.floating}`,
          objects: [here, ref(c.w, 'floatingip', srcFip.owner.split(':').pop() ?? '')],
        });
        pkt = { ...pkt, src: srcFip.floating };
      } else if (nat.gatewayIp && ((outQg && nat.enableSnat) || (!inQg && dnat))) {
        c.hops.push({
          step: 'SNAT',
          verdict: 'pass',
          detail: `router ${here.name} rewrites the source ${pkt.src} to its gateway address ${nat.gatewayIp}${dnat && !outQg ? ' (hairpin: the reply must come back through the router)' : ''}`,
          objects: [here],
        });
        pkt = { ...pkt, src: nat.gatewayIp };
      } else if (outQg) {
        replyProblem = `router ${here.name} does not SNAT (enable_snat is false) and ${pkt.src} has no floating IP: replies to a private address cannot come back from the external network`;
        c.hops.push({ step: 'SNAT', verdict: 'info', detail: replyProblem, objects: [here] });
      }
    }

    const outPort = portAt(c, at.ns, route.dev);
    const netId = networkOf(c, at.ns, route.dev);
    if (outPort) {
      const wp = c.w.desired.wired.get(outPort.id);
      if (wp && !wp.up) {
        c.hops.push({
          step: 'link',
          verdict: 'drop',
          detail: `port ${ref(c.w, 'port', outPort.id).name} (or its network) is administratively down`,
          objects: [ref(c.w, 'port', outPort.id)],
          fix: `openstack port set --enable ${outPort.id}`,
        });
        return { delivered: false };
      }
      if (filtered(c, outPort) && !egress(c, outPort, pkt, q)) return { delivered: false };
      if (!filtered(c, outPort) && at.ns === start.ns && at.dev === null && at.ns.kind !== 'root') {
        c.hops.push({
          step: 'port security',
          verdict: 'info',
          detail: `port ${ref(c.w, 'port', outPort.id).name} has no port security: nothing filters what it sends`,
        });
      }
    }
    if (!netId) {
      c.hops.push({ step: 'link', verdict: 'drop', detail: `${route.dev} of ${here.name} is plugged into no network` });
      return { delivered: false };
    }
    const nextIp = route.via ?? pkt.dst;
    const nb = neighbour(c, netId, nextIp);
    const netRef = ref(c.w, 'network', netId);
    if (!nb) {
      const gwSubnet = subnetOfGateway(c, netId, nextIp);
      const fip = c.w.snap.floatingIps.find((f) => f.floatingIp === nextIp);
      c.hops.push({
        step: 'next hop',
        verdict: 'drop',
        detail: gwSubnet
          ? `no router has an interface on subnet ${ref(c.w, 'subnet', gwSubnet.id).name}: nothing answers for its gateway ${nextIp}`
          : fip
            ? `floating IP ${nextIp} is not associated with a port: nothing answers for it`
            : `nothing on network ${netRef.name} holds ${nextIp} (no running instance or port is wired with it)`,
        objects: [netRef],
        fix: gwSubnet
          ? `openstack router add subnet <router> ${ref(c.w, 'subnet', gwSubnet.id).name}`
          : fip
            ? `openstack floating ip set --port <port> ${nextIp}`
            : undefined,
      });
      return { delivered: false };
    }
    if (nb.ns.kind === 'root' && !nb.ns.addrs.some((a) => a.cidr.split('/')[0] === pkt.dst)) {
      // Past the host leg a packet is the host's to route: out of its own interfaces, off this machine.
      c.hops.push({
        step: 'next hop',
        verdict: 'drop',
        detail: `${here.name} hands ${pkt.dst} to the host (${nextIp}), which has no route into PocketStack for it: it would leave this machine`,
        objects: [here],
        fix: `add the destination's subnet to ${here.name} (openstack router add subnet ${here.name} <subnet>)`,
      });
      return { delivered: false, leaves: true };
    }
    const inPort = portAt(c, nb.ns, nb.dev);
    c.hops.push({
      step: 'switch',
      verdict: 'pass',
      detail: `network ${netRef.name} carries it to ${describeNs(c, nb.ns).name} (${nextIp} on ${nb.dev})`,
      objects: [netRef],
    });
    if (inPort) {
      const wp = c.w.desired.wired.get(inPort.id);
      if (wp && !wp.up) {
        c.hops.push({
          step: 'link',
          verdict: 'drop',
          detail: `port ${ref(c.w, 'port', inPort.id).name} is administratively down`,
          objects: [ref(c.w, 'port', inPort.id)],
        });
        return { delivered: false };
      }
      if (filtered(c, inPort) && !ingress(c, inPort, pkt, q)) return { delivered: false };
    }
    at = { ns: nb.ns, dev: nb.dev };
  }
  c.hops.push({ step: 'route', verdict: 'drop', detail: 'too many hops (a routing loop)' });
  return { delivered: false };
}

const listenerProto = (l: RtListener): Protocol => (l.protocol === 'UDP' ? 'udp' : 'tcp');

/** The listener, L7 policy, pool and member a connection to a VIP gets; then the member leg. */
function throughLoadBalancer(c: Ctx, lbNs: DesiredNs, pkt: Packet, q: Question): { ok: boolean; reason: string; fix?: string; expect: ProbeOutcome[] } {
  const entry = c.w.lbs.find((x) => x.graph.lb.vip_port_id === lbNs.objectId);
  const lbRef = entry ? ref(c.w, 'loadbalancer', entry.graph.lb.id) : ref(c.w, 'port', lbNs.objectId);
  if (q.protocol === 'icmp') {
    c.hops.push({ step: 'load balancer', verdict: 'pass', detail: `the VIP ${pkt.dst} answers ping itself (load balancer ${lbRef.name})`, objects: [lbRef] });
    return { ok: true, reason: `the VIP of load balancer ${lbRef.name} answers`, expect: ['reply'] };
  }
  const rt = entry?.rt ?? null;
  if (!entry || !rt) {
    const why = entry ? `is ${entry.graph.lb.provisioning_status}${entry.graph.lb.admin_state_up ? '' : ' and administratively down'}` : 'is unknown';
    c.hops.push({ step: 'load balancer', verdict: 'drop', detail: `load balancer ${lbRef.name} ${why}: nothing runs for it`, objects: [lbRef] });
    return { ok: false, reason: `load balancer ${lbRef.name} runs nothing`, expect: ['refused', 'silent'] };
  }
  const l = rt.listeners.find((x) => x.port === q.port && listenerProto(x) === q.protocol);
  if (!l) {
    const have = rt.listeners.map((x) => `${x.protocol}:${x.port}`).join(', ') || 'none';
    c.hops.push({
      step: 'listener',
      verdict: 'drop',
      detail: `load balancer ${lbRef.name} has no listener on ${q.protocol}/${q.port} (its listeners: ${have})`,
      objects: [lbRef],
    });
    return {
      ok: false,
      reason: `no listener on ${q.protocol}/${q.port}`,
      fix: `openstack loadbalancer listener create --protocol ${q.protocol === 'udp' ? 'UDP' : 'TCP'} --protocol-port ${q.port} ${lbRef.name}`,
      expect: q.protocol === 'tcp' ? ['refused'] : ['refused', 'silent'],
    };
  }
  const lRef = ref(c.w, 'listener', l.id);
  if (!cidrAllowed(l.allowedCidrs, pkt.src)) {
    c.hops.push({
      step: 'listener',
      verdict: 'drop',
      detail: `listener ${lRef.name} admits only ${l.allowedCidrs.join(', ')}; ${pkt.src} is not among them`,
      objects: [lRef],
    });
    // The engine accepts the connection and closes it at once: a handshake still succeeds.
    return {
      ok: false,
      reason: `${pkt.src} is not in listener ${lRef.name}'s allowed_cidrs`,
      fix: `openstack loadbalancer listener set --allowed-cidr ${pkt.src}/32 ${lRef.name}`,
      expect: ['connected', 'refused'],
    };
  }
  c.hops.push({
    step: 'listener',
    verdict: 'pass',
    detail: `listener ${lRef.name} (${l.protocol}:${l.port}) of load balancer ${lbRef.name} takes the connection`,
    objects: [lbRef, lRef],
  });
  let poolId = l.defaultPoolId;
  if (l.policies.length) {
    if (l.protocol === 'HTTP' && q.path !== undefined) {
      const head: Head = { method: 'GET', target: q.path, status: 0, reason: '', minor: 1, fields: [['Host', pkt.dst]], names: ['host'], length: 0 };
      const hit = l.policies.find((p) => policyMatches(p, head, q.path!.split('?')[0]));
      if (hit) {
        const pRef = ref(c.w, 'l7policy', hit.id);
        if (hit.action === 'REJECT') {
          c.hops.push({ step: 'L7 policy', verdict: 'drop', detail: `L7 policy ${pRef.name} rejects ${q.path} (403)`, objects: [pRef] });
          return { ok: false, reason: `L7 policy ${pRef.name} rejects the request`, expect: ['connected'] };
        }
        if (hit.action !== 'REDIRECT_TO_POOL') {
          c.hops.push({
            step: 'L7 policy',
            verdict: 'info',
            detail: `L7 policy ${pRef.name} redirects ${q.path} (${hit.redirectUrl ?? hit.redirectPrefix})`,
            objects: [pRef],
          });
          return { ok: true, reason: `L7 policy ${pRef.name} answers with a redirect`, expect: ['connected'] };
        }
        c.hops.push({
          step: 'L7 policy',
          verdict: 'pass',
          detail: `L7 policy ${pRef.name} sends ${q.path} to pool ${ref(c.w, 'pool', hit.redirectPoolId ?? '').name}`,
          objects: [pRef],
        });
        poolId = hit.redirectPoolId;
      } else {
        c.hops.push({ step: 'L7 policy', verdict: 'info', detail: `no L7 policy matches ${q.path}: the default pool serves it` });
      }
    } else {
      c.hops.push({
        step: 'L7 policy',
        verdict: 'info',
        detail: `${l.policies.length} L7 policies may pick another pool by request (give a path to choose): following the default pool`,
      });
    }
  }
  const pool: RtPool | undefined = rt.pools.find((p) => p.id === poolId);
  if (!pool) {
    c.hops.push({
      step: 'pool',
      verdict: 'drop',
      detail: `listener ${lRef.name} has no default pool: ${l.protocol === 'HTTP' ? 'it answers 503' : 'it closes the connection'}`,
      objects: [lRef],
      fix: `openstack loadbalancer pool create --listener ${lRef.name} …`,
    });
    return { ok: false, reason: `listener ${lRef.name} has no pool`, expect: ['connected'] };
  }
  const pRef = ref(c.w, 'pool', pool.id);
  const rows = new Map(entry.graph.members.map((m) => [m.id, m]));
  const healthy = pool.members.filter((m) => m.enabled && m.weight > 0 && ['ONLINE', 'NO_MONITOR'].includes(rows.get(m.id)?.operating_status ?? ''));
  const states = pool.members.map((m) => `${m.address}:${m.port} ${rows.get(m.id)?.operating_status ?? '?'}`).join(', ') || 'no members';
  if (!healthy.length) {
    c.hops.push({
      step: 'pool',
      verdict: 'drop',
      detail: `no member of pool ${pRef.name} can take it (${states})${pool.monitor ? `: the ${pool.monitor.type} health monitor finds them down` : ''}`,
      objects: [pRef],
      fix: pool.members.length
        ? 'start the members’ instances or let them pass the health check'
        : `openstack loadbalancer member create --address <ip> --protocol-port <port> ${pRef.name}`,
    });
    return { ok: false, reason: `pool ${pRef.name} has no healthy member`, expect: ['connected'] };
  }
  const m = healthy[0];
  const how = pool.algorithm === 'ROUND_ROBIN' ? 'round robin' : pool.algorithm === 'LEAST_CONNECTIONS' ? 'least connections' : 'a hash of the source';
  c.hops.push({
    step: 'member',
    verdict: 'pass',
    detail: `pool ${pRef.name} (${how}) picks among ${healthy.map((x) => `${x.address}:${x.port}`).join(', ')}; following ${m.address}:${m.port} (${states})`,
    objects: [pRef, ref(c.w, 'member', m.id)],
  });
  // The member leg: from the load balancer's namespace, as the engine connects.
  const leg: Packet = { src: pkt.dst, dst: m.address, proto: PROTO[q.protocol], dport: m.port, mac: '' };
  const vipPort = c.ports.get(lbNs.objectId);
  if (vipPort) leg.mac = vipPort.mac;
  const out = forward(c, { ns: lbNs, dev: null }, leg, { ...q, port: m.port });
  if (!out.delivered) return { ok: false, reason: `the load balancer cannot reach member ${m.address}:${m.port}`, expect: ['connected'] };
  c.hops.push({
    step: 'member',
    verdict: 'pass',
    detail: `member ${m.address}:${m.port} receives the connection from ${leg.src}`,
    objects: [describeNs(c, out.at)],
  });
  return { ok: true, reason: `listener ${lRef.name} forwards to member ${m.address}:${m.port}`, expect: ['connected'] };
}

/** Where a question starts: the namespace, the source address and port. */
function origin(c: Ctx, from: Endpoint): { where: Where; src: string; mac: string; ns: string } | { error: Hop } {
  if (from.kind === 'internet') {
    const leg = c.w.desired.root.addrs.find((a) => parseIp(a.cidr.split('/')[0])?.version === 4);
    if (!leg) {
      return {
        error: {
          step: 'source',
          verdict: 'drop',
          detail: 'the host has no leg on the public network (netns data plane, and a `public` network with a gateway, are needed)',
        },
      };
    }
    const src = leg.cidr.split('/')[0];
    c.hops.push({ step: 'source', verdict: 'info', detail: `the host, as ${src} on the public network (DevStack's br-ex)` });
    return { where: { ns: c.w.desired.root, dev: null }, src, mac: '', ns: ROOT_NS };
  }
  if (from.kind !== 'port') return { error: { step: 'source', verdict: 'drop', detail: 'a source is an instance, a port or the internet' } };
  const p = c.ports.get(from.portId);
  const pRef = ref(c.w, 'port', from.portId);
  if (!p) return { error: { step: 'source', verdict: 'drop', detail: `port ${pRef.name} does not exist` } };
  const wp = c.w.desired.wired.get(p.id);
  const src = v4(p);
  if (!wp || !src) {
    return {
      error: {
        step: 'source',
        verdict: 'drop',
        detail: `port ${pRef.name} is not wired into the kernel (${p.deviceOwner || 'unbound'}, ${p.status}${src ? '' : ', no IPv4 address'})`,
        objects: [pRef],
        fix: p.deviceOwner ? undefined : 'attach the port to a server: openstack server add port <server> <port>',
      },
    };
  }
  const ns = allNs(c.w).find((n) => n.name === wp.ns)!;
  c.hops.push({
    step: 'source',
    verdict: 'info',
    detail: `${describeNs(c, ns).name}, ${wp.ifname} (port ${pRef.name}, ${src})`,
    objects: [describeNs(c, ns), pRef],
  });
  return { where: { ns, dev: null }, src, mac: p.mac, ns: wp.ns };
}

/** The address a destination is reached at, and what it is. */
function destination(c: Ctx, to: Endpoint): { addr: string; lbNs?: string; portId?: string } | { error: Hop } {
  switch (to.kind) {
    case 'port': {
      const p = c.ports.get(to.portId);
      const a = p ? v4(p) : null;
      if (!p || !a) return { error: { step: 'destination', verdict: 'drop', detail: `port ${ref(c.w, 'port', to.portId).name} has no IPv4 address` } };
      return { addr: a, portId: p.id };
    }
    case 'floatingip': {
      const f = c.w.snap.floatingIps.find((x) => x.id === to.fipId);
      if (!f) return { error: { step: 'destination', verdict: 'drop', detail: 'no such floating IP' } };
      return { addr: f.floatingIp, ...(f.portId ? { portId: f.portId } : {}) };
    }
    case 'loadbalancer': {
      const lb = c.w.lbs.find((x) => x.graph.lb.id === to.lbId)?.graph.lb;
      if (!lb?.vip_address)
        return { error: { step: 'destination', verdict: 'drop', detail: `load balancer ${ref(c.w, 'loadbalancer', to.lbId).name} has no VIP address` } };
      return { addr: lb.vip_address, ...(lb.vip_port_id ? { lbNs: c.w.names.loadBalancerNs(lb.vip_port_id), portId: lb.vip_port_id } : {}) };
    }
    default:
      return { error: { step: 'destination', verdict: 'drop', detail: 'a destination is an instance, a port, a floating IP or a load balancer' } };
  }
}

const deliveredExpect = (p: Protocol): ProbeOutcome[] => (p === 'tcp' ? ['connected', 'refused'] : p === 'udp' ? ['answer', 'refused'] : ['reply']);
const droppedExpect = (p: Protocol): ProbeOutcome[] =>
  p === 'tcp' ? ['timeout', 'unreachable'] : p === 'udp' ? ['silent', 'unreachable'] : ['timeout', 'unreachable'];

export function explainPath(w: World, q: Question): Explanation {
  const c = context(w);
  const packet = { src: null as string | null, dst: null as string | null, protocol: q.protocol, port: q.port };
  const deny = (reason: string, fix?: string, expect: ProbeOutcome[] | null = droppedExpect(q.protocol), probeFrom: string | null = null): Explanation => ({
    verdict: 'denied',
    reason,
    ...(fix ? { fix } : {}),
    hops: c.hops,
    packet,
    expect,
    probeFrom,
  });
  if (protocolNumber(q.protocol) === null) return deny(`unknown protocol ${q.protocol}`);
  const o = origin(c, q.from);
  if ('error' in o) {
    c.hops.push(o.error);
    return deny(o.error.detail, o.error.fix, null);
  }
  const d = destination(c, q.to);
  if ('error' in d) {
    c.hops.push(d.error);
    return deny(d.error.detail, d.error.fix, null);
  }
  packet.src = o.src;
  packet.dst = d.addr;
  const pkt: Packet = { src: o.src, dst: d.addr, proto: PROTO[q.protocol], dport: q.protocol === 'icmp' ? ECHO_REQUEST : q.port, mac: o.mac };
  const out = forward(c, o.where, pkt, q);
  // A probe from the host only where the model keeps it on the public network: anything else
  // would leave this machine through the host's own routes.
  const hostLeaves = (o.ns === ROOT_NS && !lookup(w.desired.root, d.addr)) || (!out.delivered && out.leaves === true);
  const probeFrom = hostLeaves ? null : o.ns;
  if (!out.delivered) {
    const last = [...c.hops].reverse().find((h) => h.verdict === 'drop');
    return deny(last?.detail ?? 'dropped', last?.fix, hostLeaves ? null : droppedExpect(q.protocol), probeFrom);
  }
  const endRef = describeNs(c, out.at);
  if (out.at.kind === 'loadbalancer') {
    const lb = throughLoadBalancer(c, out.at, out.pkt, q);
    if (!lb.ok) {
      const last = [...c.hops].reverse().find((h) => h.verdict === 'drop');
      return deny(last?.detail ?? lb.reason, lb.fix ?? last?.fix, lb.expect, probeFrom);
    }
    if (out.replyProblem)
      return deny(out.replyProblem, 'openstack router set --enable-snat <router>, or give the source a floating IP', droppedExpect(q.protocol), probeFrom);
    return { verdict: 'allowed', reason: lb.reason, hops: c.hops, packet, expect: lb.expect, probeFrom };
  }
  if (out.replyProblem)
    return deny(out.replyProblem, 'openstack router set --enable-snat <router>, or give the source a floating IP', droppedExpect(q.protocol), probeFrom);
  const status = out.at.kind === 'instance' ? w.serverStatus.get(out.at.objectId) : undefined;
  c.hops.push({
    step: 'delivered',
    verdict: 'pass',
    detail: `${endRef.name} receives it at ${out.pkt.dst} from ${out.pkt.src}${status && status !== 'ACTIVE' ? ` (the server is ${status}: nothing may run there to answer)` : ''}${q.protocol === 'tcp' ? `; whether anything listens on ${q.port} is up to it` : ''}`,
    objects: [endRef],
  });
  return {
    verdict: 'allowed',
    reason: `${endRef.name} receives ${q.protocol}${q.protocol === 'icmp' ? '' : `/${q.port}`} from ${out.pkt.src}`,
    hops: c.hops,
    packet,
    expect: deliveredExpect(q.protocol),
    probeFrom,
  };
}
