import type { RequestContext } from '../../core/context.js';
import { DomainError, badRequest } from '../../core/errors.js';
import { loadGraph } from '../../core/loadbalancer/model.js';
import { buildDesired } from '../../dataplane/netns/desired.js';
import type { Snapshot } from '../../dataplane/netns/model.js';
import type { Names } from '../../dataplane/netns/names.js';
import { runtimeConfig } from '../../lb/config.js';
import type { Store } from '../../store/db.js';
import { parseIp } from '../../util/ip.js';
import type { InProcessApis } from '../apis.js';
import { type Lists, type Obj, apiFailure, collect } from '../collect.js';
import type { Endpoint, Explanation, World } from './model.js';
import { probe } from './probe.js';
import type { ExplainQuery } from './query.js';
import { explainPath } from './walk.js';

export interface ExplainSources {
  /** The store as the data plane reads it (the netns driver's own snapshot when it runs). */
  snapshot(): Promise<Snapshot>;
  names: Names;
  protocolNames: Map<number, string>;
  store: Store;
  /** Send real probes (the netns data plane runs on this host). */
  netns: boolean;
  /** The physical network bridged to the host (`public`). */
  publicPhysnet: string;
}

const s = (v: unknown): string => (typeof v === 'string' ? v : '');
const notVisible = (what: string, kinds: string) => new DomainError('not_found', 'NotFound', `No ${kinds} "${what}" that you can see.`);

/**
 * explain, behind the dashboard's API: the two ends are resolved among what the caller can GET
 * (ids, names, addresses; anything else is "not found", whether it exists or not), the path is
 * reasoned over the data plane's state (walk.ts), and on netns a real probe is sent and compared.
 */
export class Explainer {
  constructor(
    private readonly apis: InProcessApis,
    private readonly sources: ExplainSources,
  ) {}

  canProbe(): boolean {
    return this.sources.netns;
  }

  async explain(ctx: RequestContext, token: string, q: ExplainQuery): Promise<Explanation & { from: Obj; to: Obj }> {
    const lists = await collect(this.apis, token, { allProjects: ctx.isAdmin });
    const l7 = await this.apis.get<{ l7policies?: Obj[] }>('load-balancer', '/v2/lbaas/l7policies', token);
    if (l7.status !== 200) throw apiFailure(l7, 'GET /v2/lbaas/l7policies');
    const world = await this.world(lists, l7.body.l7policies ?? []);
    const from = this.source(lists, world, q.from);
    const to = this.destination(lists, world, q.to);
    const out = explainPath(world, {
      from: from.endpoint,
      to: to.endpoint,
      protocol: q.protocol,
      port: q.port,
      ...(q.path !== undefined ? { path: q.path } : {}),
    });
    if (q.probe && this.sources.netns && out.probeFrom !== null && out.packet.dst) {
      const r = await probe(out.probeFrom, q.protocol, out.packet.dst, q.port);
      const agrees = out.expect ? out.expect.includes(r.outcome) : null;
      out.probe = {
        outcome: r.outcome,
        agrees,
        detail:
          agrees === false
            ? `${r.detail}; the model expected ${out.expect!.join(' or ')}. The kernel disagrees with the model: this is a PocketStack bug (a pass not yet applied, or a rule rendered differently from the one explained).`
            : r.detail,
      };
    } else if (q.probe) {
      out.probe = {
        outcome: 'not sent',
        agrees: null,
        detail: !this.sources.netns
          ? 'no probe: this cloud runs the noop data plane (no kernel state to ask)'
          : out.probeFrom === null
            ? 'no probe: it would leave this machine (the host has no route into PocketStack for this address)'
            : 'no probe: the model did not get as far as an address',
      };
    }
    return { ...out, from: from.view, to: to.view };
  }

  private async world(lists: Lists, l7policies: Obj[]): Promise<World> {
    const snap = await this.sources.snapshot();
    const desired = buildDesired(snap, this.sources.names, { publicPhysnet: this.sources.publicPhysnet, protocolNames: this.sources.protocolNames });
    const ids = await this.sources.store.db.selectFrom('lb_loadbalancers').select('id').execute();
    const lbs: World['lbs'] = [];
    for (const { id } of ids) {
      const graph = await loadGraph(this.sources.store.db, id);
      if (graph) lbs.push({ graph, rt: runtimeConfig(graph) });
    }
    const labels: World['labels'] = new Map();
    const label = (kind: string, items: Obj[], name: (o: Obj) => string) => {
      for (const o of items) labels.set(s(o.id), { kind, name: name(o) || s(o.id) });
    };
    const firstIp = (o: Obj) => s(((o.fixed_ips as Obj[] | undefined) ?? [])[0]?.ip_address);
    label('network', lists.networks, (o) => s(o.name));
    label('subnet', lists.subnets, (o) => s(o.name) || s(o.cidr));
    label('port', lists.ports, (o) => s(o.name) || firstIp(o));
    label('router', lists.routers, (o) => s(o.name));
    label('floatingip', lists.floatingips, (o) => s(o.floating_ip_address));
    label('security_group', lists.securityGroups, (o) => s(o.name));
    for (const g of lists.securityGroups) label('security_group_rule', (g.security_group_rules as Obj[] | undefined) ?? [], (o) => s(o.id));
    label('server', lists.servers, (o) => s(o.name));
    label('loadbalancer', lists.loadbalancers, (o) => s(o.name));
    label('listener', lists.listeners, (o) => s(o.name) || `${s(o.protocol)}:${String(o.protocol_port)}`);
    label('pool', lists.pools, (o) => s(o.name));
    label('member', lists.members, (o) => s(o.name) || `${s(o.address)}:${String(o.protocol_port)}`);
    label('l7policy', l7policies, (o) => s(o.name));
    const serverStatus = new Map(lists.servers.map((x) => [s(x.id), s(x.status)]));
    return { snap, desired, names: this.sources.names, protocolNames: this.sources.protocolNames, lbs, labels, serverStatus };
  }

  /** A server's first NIC, in Nova's interface order as the data plane wires it. */
  private serverPort(lists: Lists, world: World, serverId: string): string {
    const nics = world.snap.instances?.find((i) => i.id === serverId)?.nics;
    const ports = lists.ports.filter((p) => s(p.device_id) === serverId).map((p) => s(p.id));
    const first = nics?.find((id) => ports.includes(id)) ?? ports.sort()[0];
    if (!first) throw badRequest('BadRequest', `Instance ${serverId} has no port.`);
    return first;
  }

  private byName(items: Obj[], what: string, kind: string): Obj | undefined {
    const hits = items.filter((o) => s(o.name) === what);
    if (hits.length > 1) throw badRequest('BadRequest', `${hits.length} ${kind}s are named "${what}": give an id.`);
    return hits[0];
  }

  private source(lists: Lists, world: World, what: string): { endpoint: Endpoint; view: Obj } {
    if (['internet', 'host', 'external'].includes(what.toLowerCase())) return { endpoint: { kind: 'internet' }, view: { kind: 'internet' } };
    const server = lists.servers.find((x) => s(x.id) === what) ?? this.byName(lists.servers, what, 'instance');
    if (server) {
      const portId = this.serverPort(lists, world, s(server.id));
      return { endpoint: { kind: 'port', portId }, view: { kind: 'server', id: server.id, name: server.name, port_id: portId } };
    }
    const port = lists.ports.find((p) => s(p.id) === what);
    if (port) return { endpoint: { kind: 'port', portId: s(port.id) }, view: { kind: 'port', id: port.id, name: port.name } };
    throw notVisible(what, 'instance or port (or "internet")');
  }

  private destination(lists: Lists, world: World, what: string): { endpoint: Endpoint; view: Obj } {
    const server = lists.servers.find((x) => s(x.id) === what) ?? this.byName(lists.servers, what, 'instance');
    if (server) {
      const portId = this.serverPort(lists, world, s(server.id));
      return { endpoint: { kind: 'port', portId }, view: { kind: 'server', id: server.id, name: server.name, port_id: portId } };
    }
    const port = lists.ports.find((p) => s(p.id) === what);
    if (port) return { endpoint: { kind: 'port', portId: s(port.id) }, view: { kind: 'port', id: port.id, name: port.name } };
    const isIp = parseIp(what) !== null;
    const fip = lists.floatingips.find((f) => s(f.id) === what || (isIp && s(f.floating_ip_address) === what));
    if (fip)
      return { endpoint: { kind: 'floatingip', fipId: s(fip.id) }, view: { kind: 'floatingip', id: fip.id, floating_ip_address: fip.floating_ip_address } };
    const lb =
      lists.loadbalancers.find((x) => s(x.id) === what || (isIp && s(x.vip_address) === what)) ?? this.byName(lists.loadbalancers, what, 'load balancer');
    if (lb)
      return { endpoint: { kind: 'loadbalancer', lbId: s(lb.id) }, view: { kind: 'loadbalancer', id: lb.id, name: lb.name, vip_address: lb.vip_address } };
    throw notVisible(what, 'instance, port, floating IP or load balancer');
  }
}
