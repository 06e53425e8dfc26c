import { ComputeEdge } from '../edge.js';
import { keypairCreateSchema, validateBody } from '../schemas.js';
import { keypairView } from '../views.js';

/** os-keypairs: the caller's key pairs (admins, from 2.10, another user's with user_id). */
export function keypairRoutes(edge: ComputeEdge): void {
  const { app, compute } = edge;

  app.get('/v2.1/os-keypairs', async (req) => {
    const ctx = edge.caller(req);
    const v = edge.view(req);
    const q = edge.query(req);
    const paged = v.version.gte('2.35');
    const { limit, marker } = paged ? edge.limitAndMarker(q) : { limit: undefined, marker: undefined };
    const keys = await compute.keypairs.list(ctx, { userId: v.version.gte('2.10') ? q.get('user_id')?.[0] : undefined, limit, marker });
    const out: Record<string, unknown> = { keypairs: keys.map((k) => ({ keypair: keypairView(v, k, 'list') })) };
    const next =
      limit === undefined
        ? undefined
        : edge.nextLinks(
            v,
            'os-keypairs',
            q,
            keys.map((k) => k.name),
            limit,
          );
    if (next) out.keypairs_links = next;
    return out;
  });
  app.post('/v2.1/os-keypairs', async (req, reply) => {
    const ctx = edge.caller(req);
    const v = edge.view(req);
    const b = edge.body(req);
    validateBody(keypairCreateSchema(v.version), b);
    const k = (b as { keypair: Record<string, string> }).keypair;
    const created = await compute.keypairs.create(ctx, {
      name: k.name,
      type: (k.type as 'ssh' | 'x509' | undefined) ?? 'ssh',
      publicKey: k.public_key,
      userId: k.user_id,
    });
    if (v.version.gte('2.2')) reply.status(201);
    return { keypair: keypairView(v, created, 'create') };
  });
  app.get('/v2.1/os-keypairs/:name', async (req) => {
    const ctx = edge.caller(req);
    const v = edge.view(req);
    const userId = v.version.gte('2.10') ? edge.query(req).get('user_id')?.[0] : undefined;
    return { keypair: keypairView(v, await compute.keypairs.get(ctx, edge.params(req).name, userId), 'show') };
  });
  app.delete('/v2.1/os-keypairs/:name', async (req, reply) => {
    const ctx = edge.caller(req);
    const v = edge.view(req);
    const userId = v.version.gte('2.10') ? edge.query(req).get('user_id')?.[0] : undefined;
    await compute.keypairs.delete(ctx, edge.params(req).name, userId);
    return ComputeEdge.noContent(reply, v.version.gte('2.2') ? 204 : 202);
  });
}
