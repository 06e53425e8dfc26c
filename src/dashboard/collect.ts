import { DomainError, unauthorized } from '../core/errors.js';
import { isDict } from '../util/json.js';
import type { ApiAnswer, InProcessApis, ServiceName } from './apis.js';

/** An API object as the API rendered it (JSON). */
export type Obj = Record<string, unknown>;

/** Everything the topology is drawn from: the lists any client of the same token could GET. */
export interface Lists {
  networks: Obj[];
  subnets: Obj[];
  ports: Obj[];
  routers: Obj[];
  floatingips: Obj[];
  securityGroups: Obj[];
  servers: Obj[];
  loadbalancers: Obj[];
  listeners: Obj[];
  pools: Obj[];
  members: Obj[];
  healthmonitors: Obj[];
}

/** An answer other than 200, as the dashboard's own error: 401 sends the browser back to login. */
export function apiFailure(res: ApiAnswer, what: string): DomainError {
  if (res.status === 401) return unauthorized('Your token is no longer valid: log in again.');
  const b = res.body;
  let msg = `${what}: HTTP ${res.status}`;
  if (isDict(b)) {
    const inner = isDict(b.NeutronError) ? b.NeutronError : isDict(b.error) ? b.error : isDict(b.itemNotFound) ? b.itemNotFound : b;
    const m = inner.message ?? inner.faultstring;
    if (typeof m === 'string') msg = `${what}: ${m}`;
  }
  if (res.status === 403) return new DomainError('forbidden', 'Forbidden', msg);
  if (res.status === 404) return new DomainError('not_found', 'NotFound', msg);
  return new DomainError('unavailable', 'ServiceUnavailable', msg);
}

async function list(apis: InProcessApis, token: string, service: ServiceName, url: string, key: string): Promise<Obj[]> {
  const res = await apis.get<Record<string, unknown>>(service, url, token);
  if (res.status !== 200) throw apiFailure(res, `GET ${url}`);
  const items = res.body?.[key];
  return Array.isArray(items) ? items.filter(isDict) : [];
}

/** Nova pages its lists (max_limit 1000): follow `servers_links` until the end. */
async function allServers(apis: InProcessApis, token: string, allProjects: boolean): Promise<Obj[]> {
  const out: Obj[] = [];
  let url = `/v2.1/servers/detail?limit=1000${allProjects ? '&all_tenants=1' : ''}`;
  for (let page = 0; page < 50; page++) {
    const res = await apis.get<{ servers?: Obj[]; servers_links?: Array<{ rel?: string; href?: string }> }>('compute', url, token);
    if (res.status !== 200) throw apiFailure(res, 'GET /v2.1/servers/detail');
    out.push(...(res.body.servers ?? []));
    const next = res.body.servers_links?.find((l) => l.rel === 'next')?.href;
    if (!next) break;
    const u = new URL(next);
    url = `${u.pathname.replace(/^.*?\/v2\.1/, '/v2.1')}${u.search}`;
  }
  return out;
}

/**
 * The lists, read with the viewer's token. An admin reads every project's objects (Neutron and
 * Octavia show them to admins; Nova needs `all_tenants`); the dashboard may then narrow to one.
 */
export async function collect(apis: InProcessApis, token: string, opts: { allProjects: boolean }): Promise<Lists> {
  const [networks, subnets, ports, routers, floatingips, securityGroups, servers, loadbalancers, listeners, pools, healthmonitors] = await Promise.all([
    list(apis, token, 'network', '/v2.0/networks', 'networks'),
    list(apis, token, 'network', '/v2.0/subnets', 'subnets'),
    list(apis, token, 'network', '/v2.0/ports', 'ports'),
    list(apis, token, 'network', '/v2.0/routers', 'routers'),
    list(apis, token, 'network', '/v2.0/floatingips', 'floatingips'),
    list(apis, token, 'network', '/v2.0/security-groups', 'security_groups'),
    allServers(apis, token, opts.allProjects),
    list(apis, token, 'load-balancer', '/v2/lbaas/loadbalancers', 'loadbalancers'),
    list(apis, token, 'load-balancer', '/v2/lbaas/listeners', 'listeners'),
    list(apis, token, 'load-balancer', '/v2/lbaas/pools', 'pools'),
    list(apis, token, 'load-balancer', '/v2/lbaas/healthmonitors', 'healthmonitors'),
  ]);
  const members: Obj[] = [];
  for (const p of pools) {
    const ms = await list(apis, token, 'load-balancer', `/v2/lbaas/pools/${encodeURIComponent(String(p.id))}/members`, 'members');
    for (const m of ms) members.push({ ...m, pool_id: p.id });
  }
  return { networks, subnets, ports, routers, floatingips, securityGroups, servers, loadbalancers, listeners, pools, members, healthmonitors };
}
