import type { FastifyRequest } from 'fastify';
import { novaBadRequest } from '../../../core/compute/errors.js';
import { ComputeEdge } from '../edge.js';
import { METADATA_SCHEMA, META_ITEM_SCHEMA, TAGS_SCHEMA, TAG_SCHEMA, validateBody, validator } from '../schemas.js';

/** What users keep on a server: metadata (key/value) and tags (2.26). */
export function metadataRoutes(edge: ComputeEdge): void {
  const { app, compute } = edge;

  app.get('/v2.1/servers/:id/metadata', async (req) => {
    return { metadata: await compute.metadata.get(edge.caller(req), edge.params(req).id) };
  });
  const setMetadata = (replace: boolean) => async (req: FastifyRequest) => {
    const ctx = edge.caller(req);
    const b = edge.body(req);
    validateBody(METADATA_SCHEMA, b);
    return { metadata: await compute.metadata.set(ctx, edge.params(req).id, (b as { metadata: Record<string, string> }).metadata, replace) };
  };
  app.put('/v2.1/servers/:id/metadata', setMetadata(true));
  app.post('/v2.1/servers/:id/metadata', setMetadata(false));
  app.get('/v2.1/servers/:id/metadata/:key', async (req) => {
    const { id, key } = edge.params(req);
    return { meta: { [key]: await compute.metadata.item(edge.caller(req), id, key) } };
  });
  app.put('/v2.1/servers/:id/metadata/:key', async (req) => {
    const ctx = edge.caller(req);
    const { id, key } = edge.params(req);
    const b = edge.body(req);
    validateBody(META_ITEM_SCHEMA, b);
    const meta = (b as { meta: Record<string, string> }).meta;
    if (!Object.hasOwn(meta, key)) throw novaBadRequest('Request body and URI mismatch');
    await compute.metadata.set(ctx, id, meta, false);
    return { meta };
  });
  app.delete('/v2.1/servers/:id/metadata/:key', async (req, reply) => {
    const { id, key } = edge.params(req);
    await compute.metadata.delete(edge.caller(req), id, key);
    return ComputeEdge.noContent(reply);
  });

  // tags (2.26)
  app.get('/v2.1/servers/:id/tags', async (req) => {
    edge.needs(req, '2.26');
    return { tags: await compute.tags.list(edge.caller(req), edge.params(req).id) };
  });
  app.put('/v2.1/servers/:id/tags', async (req) => {
    edge.needs(req, '2.26');
    const ctx = edge.caller(req);
    const b = edge.body(req);
    validateBody(TAGS_SCHEMA, b);
    return { tags: await compute.tags.replace(ctx, edge.params(req).id, (b as { tags: string[] }).tags) };
  });
  app.delete('/v2.1/servers/:id/tags', async (req, reply) => {
    edge.needs(req, '2.26');
    await compute.tags.replace(edge.caller(req), edge.params(req).id, []);
    return ComputeEdge.noContent(reply);
  });
  app.get('/v2.1/servers/:id/tags/:tag', async (req, reply) => {
    edge.needs(req, '2.26');
    const { id, tag } = edge.params(req);
    await compute.tags.get(edge.caller(req), id, tag);
    return ComputeEdge.noContent(reply);
  });
  app.put('/v2.1/servers/:id/tags/:tag', async (req, reply) => {
    edge.needs(req, '2.26');
    const ctx = edge.caller(req);
    const { id, tag } = edge.params(req);
    const e = validator.validate(TAG_SCHEMA, tag);
    if (e) throw novaBadRequest(`Tag '${tag}' is invalid. It must be a non empty string without characters '/' and ','`);
    const created = await compute.tags.add(ctx, id, tag);
    reply.status(created ? 201 : 204).header('location', `${edge.base(req)}/v2.1/servers/${id}/tags/${tag}`);
    return reply.send();
  });
  app.delete('/v2.1/servers/:id/tags/:tag', async (req, reply) => {
    edge.needs(req, '2.26');
    const { id, tag } = edge.params(req);
    await compute.tags.remove(edge.caller(req), id, tag);
    return ComputeEdge.noContent(reply);
  });
}
