import type { FastifyRequest } from 'fastify';
import { notFound, notImplemented } from '../../../core/identity/errors.js';
import { enforce } from '../../../core/identity/policy.js';
import type { IdentityEdge } from '../edge.js';

/**
 * The catalog as Keystone's admin API shows it: services, endpoints and regions, read-only.
 * They come from the services this PocketStack serves (src/core/catalog.ts); changing them is
 * not built and answers Keystone's 501.
 */
export function catalogRoutes(edge: IdentityEdge): void {
  const { identity } = edge;

  const serviceView = (req: FastifyRequest, s: { id: string; name: string; type: string }) => ({
    name: s.name,
    id: s.id,
    type: s.type,
    enabled: true,
    links: { self: `${edge.base(req)}/v3/services/${s.id}` },
  });
  const endpoints = () => identity.catalog.flatMap((s) => s.endpoints.map((e) => ({ ...e, service_id: s.id })));
  const endpointView = (req: FastifyRequest, e: ReturnType<typeof endpoints>[number]) => ({
    id: e.id,
    interface: e.interface,
    region_id: e.region_id,
    service_id: e.service_id,
    url: e.url,
    enabled: true,
    region: e.region,
    links: { self: `${edge.base(req)}/v3/endpoints/${e.id}` },
  });
  const regions = () => [...new Set(endpoints().map((e) => e.region_id))];
  const regionView = (req: FastifyRequest, id: string) => ({
    id,
    description: '',
    parent_region_id: null,
    links: { self: `${edge.base(req)}/v3/regions/${id}` },
  });

  edge.route('GET', '/v3/services', async (req) => {
    enforce('identity:list_services', edge.caller(req));
    const type = edge.query(req, 'type');
    const name = edge.query(req, 'name');
    const list = identity.catalog.filter((s) => (type === undefined || s.type === type) && (name === undefined || s.name === name));
    return edge.collection(
      req,
      'services',
      list.map((s) => serviceView(req, s)),
    );
  });
  edge.route('GET', '/v3/services/:id', async (req) => {
    enforce('identity:get_service', edge.caller(req));
    const { id } = req.params as { id: string };
    const s = identity.catalog.find((x) => x.id === id);
    if (!s) throw notFound('service', id);
    return { service: serviceView(req, s) };
  });

  edge.route('GET', '/v3/endpoints', async (req) => {
    enforce('identity:list_endpoints', edge.caller(req));
    const iface = edge.query(req, 'interface');
    const service = edge.query(req, 'service_id');
    const region = edge.query(req, 'region_id');
    const list = endpoints().filter(
      (e) =>
        (iface === undefined || e.interface === iface) &&
        (service === undefined || e.service_id === service) &&
        (region === undefined || e.region_id === region),
    );
    return edge.collection(
      req,
      'endpoints',
      list.map((e) => endpointView(req, e)),
    );
  });
  edge.route('GET', '/v3/endpoints/:id', async (req) => {
    enforce('identity:get_endpoint', edge.caller(req));
    const { id } = req.params as { id: string };
    const e = endpoints().find((x) => x.id === id);
    if (!e) throw notFound('endpoint', id);
    return { endpoint: endpointView(req, e) };
  });

  edge.route('GET', '/v3/regions', async (req) => {
    enforce('identity:list_regions', edge.caller(req));
    return edge.collection(
      req,
      'regions',
      regions().map((r) => regionView(req, r)),
    );
  });
  edge.route('GET', '/v3/regions/:id', async (req) => {
    enforce('identity:get_region', edge.caller(req));
    const { id } = req.params as { id: string };
    if (!regions().includes(id)) throw notFound('region', id);
    return { region: regionView(req, id) };
  });

  // Writes: authenticated and authorised as Keystone would, then "not implemented".
  for (const [path, action] of [
    ['/v3/services', 'create_service'],
    ['/v3/endpoints', 'create_endpoint'],
    ['/v3/regions', 'create_region'],
  ] as const) {
    edge.route('POST', path, async (req) => {
      enforce(`identity:${action}`, edge.caller(req));
      throw notImplemented();
    });
  }
  for (const [path, kind] of [
    ['/v3/services/:id', 'service'],
    ['/v3/endpoints/:id', 'endpoint'],
    ['/v3/regions/:id', 'region'],
  ] as const) {
    edge.route(['PATCH', 'DELETE'], path, async (req) => {
      enforce(`identity:${req.method === 'PATCH' ? 'update' : 'delete'}_${kind}`, edge.caller(req));
      throw notImplemented();
    });
  }
}
