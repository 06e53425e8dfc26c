import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DomainError } from '../../../core/errors.js';
import type { ImageService } from '../../../core/image/service.js';
import { boolFromString } from '../../../util/bool.js';
import { baseUrl, caller } from '../../http.js';
import { associationView, namespaceView, objectView, propertiesView, propertyView, resourceTypeView, tagView } from '../metadef-views.js';
import { bad, body } from '../request.js';

type P = { ns: string; name: string };
const params = (req: FastifyRequest) => req.params as P;

const noContent = (reply: FastifyReply) => {
  reply.status(204);
  return reply.send();
};

/** Glance's metadef deserializers read `sort_dir` the same way everywhere. */
function sortDir(url: URL): 'asc' | 'desc' {
  const dir = url.searchParams.get('sort_dir') ?? 'desc';
  if (dir !== 'asc' && dir !== 'desc') throw bad(`Invalid sort direction: ${dir}`);
  return dir;
}

/** `limit` as _validate_limit reads it. */
function limitOf(raw: string): number {
  if (!/^\s*[-+]?\d+\s*$/.test(raw)) throw bad('limit param must be an integer');
  const n = Number(raw);
  if (n < 0) throw bad('limit param must be positive');
  return n;
}

/** The metadata definitions catalog: namespaces and their resource types, properties, objects and tags. */
export function metadefRoutes(app: FastifyInstance, service: ImageService): void {
  const md = service.metadefs;

  app.get('/v2/metadefs/resource_types', async () => ({ resource_types: (await md.listResourceTypes()).map(resourceTypeView) }));

  // ------------------------------------------------------------ namespaces
  app.get('/v2/metadefs/namespaces', async (req) => {
    const url = new URL(req.url, baseUrl(req));
    const q = url.searchParams;
    const dir = sortDir(url);
    // Glance's index deserializer takes int(limit) before checking it: not a number is its 500.
    const raw = q.get('limit');
    if (raw !== null && !/^\s*[-+]?\d+\s*$/.test(raw)) {
      throw new DomainError('internal', 'HTTPInternalServerError', 'The server has either erred or is incapable of performing the requested operation.');
    }
    const limit = Math.min(1000, raw === null ? 25 : Number(raw));
    if (limit < 0) throw bad('limit param must be positive');
    const visibility = q.get('visibility');
    if (visibility && !['public', 'private'].includes(visibility)) throw bad(`Invalid visibility value: ${visibility}`);
    const rt = q.get('resource_types');
    const res = await md.listNamespaces(caller(req), {
      limit,
      marker: q.get('marker') ?? undefined,
      sortKey: q.get('sort_key') ?? 'created_at',
      sortDir: dir,
      visibility: visibility || undefined,
      resourceTypes: rt === null ? undefined : rt.split(','),
    });
    const rest = [...q.entries()].filter(([k]) => k !== 'marker');
    const query = new URLSearchParams(rest).toString();
    const out: Record<string, unknown> = {
      namespaces: res.namespaces.map((n) => namespaceView(n)),
      first: query ? `/v2/metadefs/namespaces?${query}` : '/v2/metadefs/namespaces',
      schema: '/v2/schemas/metadefs/namespaces',
    };
    if (res.next) out.next = `/v2/metadefs/namespaces?${new URLSearchParams([...rest, ['marker', res.next]]).toString()}`;
    return out;
  });
  app.post('/v2/metadefs/namespaces', async (req, reply) => {
    const n = await md.createNamespace(caller(req), body(req));
    reply.status(201).header('location', `/v2/metadefs/namespaces/${n.namespace}`);
    // The contents are echoed as sent: objects without links or times.
    return namespaceView(n, false);
  });
  app.get('/v2/metadefs/namespaces/:ns', async (req) => {
    const rt = new URL(req.url, baseUrl(req)).searchParams.get('resource_type');
    return namespaceView(await md.showNamespace(caller(req), params(req).ns, rt || undefined));
  });
  app.put('/v2/metadefs/namespaces/:ns', async (req) => namespaceView(await md.updateNamespace(caller(req), params(req).ns, body(req))));
  app.delete('/v2/metadefs/namespaces/:ns', async (req, reply) => {
    await md.deleteNamespace(caller(req), params(req).ns);
    return noContent(reply);
  });

  // ------------------------------------------------------------ resource type associations
  app.get('/v2/metadefs/namespaces/:ns/resource_types', async (req) => ({
    resource_type_associations: (await md.listAssociations(caller(req), params(req).ns)).map(associationView),
  }));
  app.post('/v2/metadefs/namespaces/:ns/resource_types', async (req, reply) => {
    reply.status(201);
    return associationView(await md.associate(caller(req), params(req).ns, body(req)));
  });
  app.delete('/v2/metadefs/namespaces/:ns/resource_types/:name', async (req, reply) => {
    await md.dissociate(caller(req), params(req).ns, params(req).name);
    return noContent(reply);
  });

  // ------------------------------------------------------------ properties
  app.get('/v2/metadefs/namespaces/:ns/properties', async (req) => ({ properties: propertiesView(await md.listProperties(caller(req), params(req).ns)) }));
  app.post('/v2/metadefs/namespaces/:ns/properties', async (req, reply) => {
    const p = await md.createProperty(caller(req), params(req).ns, body(req));
    reply.status(201);
    return propertyView(p);
  });
  app.delete('/v2/metadefs/namespaces/:ns/properties', async (req, reply) => {
    await md.deleteNamespaceContent(caller(req), params(req).ns, 'properties');
    return noContent(reply);
  });
  app.get('/v2/metadefs/namespaces/:ns/properties/:name', async (req) => {
    const rt = new URL(req.url, baseUrl(req)).searchParams.get('resource_type');
    return propertyView(await md.showProperty(caller(req), params(req).ns, params(req).name, rt || undefined));
  });
  app.put('/v2/metadefs/namespaces/:ns/properties/:name', async (req) =>
    propertyView(await md.updateProperty(caller(req), params(req).ns, params(req).name, body(req))),
  );
  app.delete('/v2/metadefs/namespaces/:ns/properties/:name', async (req, reply) => {
    await md.deleteProperty(caller(req), params(req).ns, params(req).name);
    return noContent(reply);
  });

  // ------------------------------------------------------------ objects
  app.get('/v2/metadefs/namespaces/:ns/objects', async (req) => {
    const { ns } = params(req);
    return { objects: (await md.listObjects(caller(req), ns)).map((o) => objectView(o, ns)), schema: '/v2/schemas/metadefs/objects' };
  });
  app.post('/v2/metadefs/namespaces/:ns/objects', async (req, reply) => {
    const { ns } = params(req);
    const o = await md.createObject(caller(req), ns, body(req));
    reply.status(201);
    return objectView(o, ns);
  });
  app.delete('/v2/metadefs/namespaces/:ns/objects', async (req, reply) => {
    await md.deleteNamespaceContent(caller(req), params(req).ns, 'objects');
    return noContent(reply);
  });
  app.get('/v2/metadefs/namespaces/:ns/objects/:name', async (req) =>
    objectView(await md.showObject(caller(req), params(req).ns, params(req).name), params(req).ns),
  );
  app.put('/v2/metadefs/namespaces/:ns/objects/:name', async (req) =>
    objectView(await md.updateObject(caller(req), params(req).ns, params(req).name, body(req)), params(req).ns),
  );
  app.delete('/v2/metadefs/namespaces/:ns/objects/:name', async (req, reply) => {
    await md.deleteObject(caller(req), params(req).ns, params(req).name);
    return noContent(reply);
  });

  // ------------------------------------------------------------ tags
  app.get('/v2/metadefs/namespaces/:ns/tags', async (req) => {
    const url = new URL(req.url, baseUrl(req));
    const q = url.searchParams;
    const dir = sortDir(url);
    const raw = q.get('limit');
    const names = await md.listTags(caller(req), params(req).ns, {
      limit: raw ? limitOf(raw) : undefined,
      marker: q.get('marker') || undefined,
      sortKey: q.get('sort_key') ?? 'created_at',
      sortDir: dir,
    });
    return { tags: names.map((name) => ({ name })) };
  });
  app.post('/v2/metadefs/namespaces/:ns/tags', async (req, reply) => {
    const append = boolFromString(typeof req.headers['x-openstack-append'] === 'string' ? req.headers['x-openstack-append'] : undefined);
    const names = await md.createTags(caller(req), params(req).ns, body(req), append);
    reply.status(201);
    return { tags: names.map((name) => ({ name })) };
  });
  app.delete('/v2/metadefs/namespaces/:ns/tags', async (req, reply) => {
    await md.deleteNamespaceContent(caller(req), params(req).ns, 'tags');
    return noContent(reply);
  });
  app.get('/v2/metadefs/namespaces/:ns/tags/:name', async (req) => tagView(await md.showTag(caller(req), params(req).ns, params(req).name)));
  app.post('/v2/metadefs/namespaces/:ns/tags/:name', async (req, reply) => {
    const t = await md.createTag(caller(req), params(req).ns, params(req).name);
    reply.status(201);
    return tagView(t);
  });
  app.put('/v2/metadefs/namespaces/:ns/tags/:name', async (req) => tagView(await md.updateTag(caller(req), params(req).ns, params(req).name, body(req))));
  app.delete('/v2/metadefs/namespaces/:ns/tags/:name', async (req, reply) => {
    await md.deleteTag(caller(req), params(req).ns, params(req).name);
    return noContent(reply);
  });
}
