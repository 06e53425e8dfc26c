import type { FastifyInstance, FastifyReply, RouteOptions } from 'fastify';
import { httpBadRequest } from '../../../core/errors.js';
import { floatingIpPools } from '../../../core/network/floatingips.js';
import { LOGGABLE_RESOURCES } from '../../../core/network/logs.js';
import { pyRepr } from '../../../util/pyrepr.js';
import { listAvailability, showAvailability } from '../../../core/network/ipavailability.js';
import type { Store } from '../../../store/db.js';
import { stringifyExact } from '../../../util/json.js';
import { caller } from '../../http.js';
import { ALL_METHODS as ALL, fieldList as fields, methodNotAllowed, query } from '../request.js';

/** Query parameters that are never filters. */
const NOT_FILTERS = new Set(['fields', 'sort_key', 'sort_dir', 'limit', 'marker', 'page_reverse']);

/** `?fields=a&fields=b` on computed resources. */
function pick<T extends object>(item: T, fields: string[]): Partial<T> {
  if (fields.length === 0) return item;
  return Object.fromEntries(Object.entries(item).filter(([k]) => fields.includes(k))) as Partial<T>;
}

/** Exact JSON: address totals of IPv6 subnets do not fit a double. */
function sendExact(reply: FastifyReply, body: unknown) {
  return reply.type('application/json; charset=utf-8').send(stringifyExact(body));
}

export interface ServiceProvider {
  service_type: string;
  name: string;
  default: boolean;
}

/**
 * Both spellings of a collection's URL: Neutron looks a collection up by its name with `_` made
 * `-`, then with `-` made `_` (NeutronManager.get_controller_for_resource), so
 * `/v2.0/floatingip-pools` is `/v2.0/floatingip_pools`.
 */
function spellings(url: string): string[] {
  const [, top, rest] = /^\/v2\.0\/([^/]+)(.*)$/.exec(url) ?? [];
  if (!top) return [url];
  return [...new Set([url, `/v2.0/${top.replaceAll('_', '-')}${rest}`, `/v2.0/${top.replaceAll('-', '_')}${rest}`])];
}

/** Read-only views: network-ip-availabilities, floatingip_pools, service-providers. */
export function viewRoutes(server: FastifyInstance, store: Store, providers: () => ServiceProvider[]): void {
  const app = {
    route(opts: RouteOptions): void {
      for (const url of spellings(opts.url)) server.route({ ...opts, url });
    },
  };
  app.route({
    method: [...ALL],
    url: '/v2.0/network-ip-availabilities',
    handler: async (req, reply) => {
      const ctx = caller(req);
      if (req.method !== 'GET') throw methodNotAllowed();
      const items = await listAvailability(store.db, ctx, query(req));
      return sendExact(reply, { network_ip_availabilities: items.map((i) => pick(i, fields(req))) });
    },
  });
  app.route({
    method: [...ALL],
    url: '/v2.0/network-ip-availabilities/:network',
    handler: async (req, reply) => {
      const ctx = caller(req);
      if (req.method !== 'GET') throw methodNotAllowed();
      const { network } = req.params as { network: string };
      const item = await showAvailability(store.db, ctx, network);
      return sendExact(reply, { network_ip_availability: pick(item, fields(req)) });
    },
  });

  // service-type: the drivers behind the advanced services (routers here: one node, no HA/DVR).
  app.route({
    method: [...ALL],
    url: '/v2.0/service-providers',
    handler: async (req) => {
      if (req.method !== 'GET') throw methodNotAllowed();
      const q = query(req);
      const want = (k: string) => (q.get(k) ?? []).filter(Boolean);
      const items = providers().filter(
        (p) =>
          (!want('service_type').length || want('service_type').includes(p.service_type)) &&
          (!want('name').length || want('name').includes(p.name)) &&
          (!want('default').length ||
            want('default')
              .map((d) => d.toLowerCase() === 'true')
              .includes(p.default)),
      );
      return { service_providers: items.map((p) => pick(p, fields(req))) };
    },
  });

  app.route({
    method: [...ALL],
    url: '/v2.0/floatingip_pools',
    handler: async (req) => {
      const ctx = caller(req);
      if (req.method !== 'GET') throw methodNotAllowed();
      // No attribute of a pool is a filter (floatingip-pools' map has none).
      const invalid = [...query(req).keys()].filter((k) => !NOT_FILTERS.has(k));
      if (invalid.length) throw httpBadRequest(`${pyRepr(invalid)} is invalid attribute for filtering`);
      const pools = await floatingIpPools(store.db, ctx);
      return { floatingip_pools: pools.map((p) => pick(p, fields(req))) };
    },
  });

  // logging: what a log may name.
  app.route({
    method: [...ALL],
    url: '/v2.0/log/loggable-resources',
    handler: async (req) => {
      if (req.method !== 'GET') throw methodNotAllowed();
      return { loggable_resources: LOGGABLE_RESOURCES.map((type) => pick({ type }, fields(req))) };
    },
  });
}
