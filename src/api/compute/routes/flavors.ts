import type { FastifyRequest } from 'fastify';
import { novaBadRequest } from '../../../core/compute/errors.js';
import { ComputeEdge } from '../edge.js';
import { isDict } from '../../../util/json.js';
import { EXTRA_SPECS_SCHEMA, FLAVOR_UPDATE_SCHEMA, flavorCreateSchema, flavorQuerySchema, truthy, validateBody, validateQuery } from '../schemas.js';
import { flavorBasic, flavorView } from '../views.js';

/** Flavors, their extra specs (os-extra_specs) and who may use a private one (os-flavor-access). */
export function flavorRoutes(edge: ComputeEdge): void {
  const { app, compute } = edge;

  const listFlavors = async (req: FastifyRequest, detail: boolean) => {
    const ctx = edge.caller(req);
    const v = edge.view(req);
    const q = edge.query(req);
    validateQuery(flavorQuerySchema(v.version), Object.fromEntries(q));
    const one = (k: string) => q.get(k)?.[0];
    const num = (k: string, label: string) => {
      const raw = one(k);
      if (raw === undefined) return undefined;
      if (!/^\s*-?\d+\s*$/.test(raw)) throw novaBadRequest(`Invalid ${label} filter [${raw}]`);
      return Number(raw);
    };
    const { limit, marker } = edge.limitAndMarker(q);
    const flavors = await compute.flavors.list(ctx, {
      isPublic: one('is_public'),
      minRam: num('minRam', 'minRam'),
      minDisk: num('minDisk', 'minDisk'),
      sortKey: one('sort_key') || 'flavorid',
      sortDir: one('sort_dir') === 'desc' ? 'desc' : 'asc',
      limit,
      marker,
    });
    const out: Record<string, unknown> = { flavors: flavors.map((f) => (detail ? flavorView(v, f) : flavorBasic(v, f))) };
    const next = edge.nextLinks(
      v,
      detail ? 'flavors/detail' : 'flavors',
      q,
      flavors.map((f) => f.id),
      limit,
    );
    if (next) out.flavors_links = next;
    return out;
  };
  app.get('/v2.1/flavors', (req) => listFlavors(req, false));
  app.get('/v2.1/flavors/detail', (req) => listFlavors(req, true));
  app.get('/v2.1/flavors/:id', async (req) => {
    return { flavor: flavorView(edge.view(req), await compute.flavors.get(edge.caller(req), edge.params(req).id)) };
  });
  app.post('/v2.1/flavors', async (req) => {
    const version = edge.version(req);
    const flavor = await compute.flavors.create(edge.caller(req), () => {
      const b = edge.body(req);
      validateBody(flavorCreateSchema(version), b);
      const f = (b as { flavor: Record<string, unknown> }).flavor;
      return {
        id: f.id === undefined || f.id === null ? null : String(f.id),
        name: String(f.name),
        ram: Number(f.ram),
        vcpus: Number(f.vcpus),
        disk: Number(f.disk),
        ephemeral: f['OS-FLV-EXT-DATA:ephemeral'] === undefined ? 0 : Number(f['OS-FLV-EXT-DATA:ephemeral']),
        swap: f.swap === undefined ? 0 : Number(f.swap),
        rxtxFactor: f.rxtx_factor === undefined ? 1 : Number(f.rxtx_factor),
        isPublic: f['os-flavor-access:is_public'] === undefined ? true : truthy(f['os-flavor-access:is_public']),
        description: version.gte('2.55') ? ((f.description as string | null | undefined) ?? null) : null,
      };
    });
    return { flavor: flavorView(edge.view(req), flavor) };
  });
  app.put('/v2.1/flavors/:id', async (req) => {
    edge.needs(req, '2.55');
    const b = edge.body(req);
    validateBody(FLAVOR_UPDATE_SCHEMA, b);
    const description = (b as { flavor: { description: string | null } }).flavor.description;
    return { flavor: flavorView(edge.view(req), await compute.flavors.update(edge.caller(req), edge.params(req).id, description)) };
  });
  app.delete('/v2.1/flavors/:id', async (req, reply) => {
    await compute.flavors.delete(edge.caller(req), edge.params(req).id);
    return ComputeEdge.noContent(reply, 202);
  });

  // os-extra_specs
  app.get('/v2.1/flavors/:id/os-extra_specs', async (req) => {
    return { extra_specs: (await compute.flavors.get(edge.caller(req), edge.params(req).id)).extraSpecs };
  });
  app.post('/v2.1/flavors/:id/os-extra_specs', async (req) => {
    const ctx = edge.caller(req);
    const b = edge.body(req);
    validateBody(EXTRA_SPECS_SCHEMA, b);
    const specs = Object.fromEntries(Object.entries((b as { extra_specs: Record<string, unknown> }).extra_specs).map(([k, x]) => [k, String(x)]));
    return { extra_specs: await compute.flavors.setExtraSpecs(ctx, edge.params(req).id, specs, undefined, edge.version(req).gte('2.86')) };
  });
  app.get('/v2.1/flavors/:id/os-extra_specs/:key', async (req) => {
    const { id, key } = edge.params(req);
    return { [key]: await compute.flavors.extraSpec(edge.caller(req), id, key) };
  });
  app.put('/v2.1/flavors/:id/os-extra_specs/:key', async (req) => {
    const ctx = edge.caller(req);
    const { id, key } = edge.params(req);
    const b = edge.body(req) as Record<string, unknown> | undefined;
    if (!b || typeof b !== 'object' || Object.keys(b).length !== 1) throw novaBadRequest('Request body contains too many items');
    if (!Object.hasOwn(b, key)) throw novaBadRequest('Request body and URI mismatch');
    return compute.flavors.setExtraSpecs(ctx, id, { [key]: String(b[key]) }, key, edge.version(req).gte('2.86'));
  });
  app.delete('/v2.1/flavors/:id/os-extra_specs/:key', async (req, reply) => {
    const { id, key } = edge.params(req);
    await compute.flavors.deleteExtraSpec(edge.caller(req), id, key);
    return ComputeEdge.noContent(reply, 200);
  });

  // os-flavor-access
  app.get('/v2.1/flavors/:id/os-flavor-access', async (req) => {
    const id = edge.params(req).id;
    return { flavor_access: (await compute.flavors.access(edge.caller(req), id)).map((p) => ({ flavor_id: id, tenant_id: p })) };
  });
  app.post('/v2.1/flavors/:id/action', async (req) => {
    const ctx = edge.caller(req);
    const id = edge.params(req).id;
    const [name, b] = edge.actionBody(req);
    const grant = name === 'addTenantAccess';
    if (!grant && name !== 'removeTenantAccess') throw novaBadRequest(`There is no such action: ${name}`);
    const args = b[name];
    const tenant = isDict(args) ? args.tenant : undefined;
    if (typeof tenant !== 'string') throw novaBadRequest("Invalid input for field/attribute tenant. Value: None. 'tenant' is a required property");
    const list = await compute.flavors.grant(ctx, id, tenant, grant);
    return { flavor_access: list.map((p) => ({ flavor_id: id, tenant_id: p })) };
  });
}
