import type { FastifyInstance } from 'fastify';
import { DomainError } from '../../../core/errors.js';
import { type ImageChange, type ImageService, READ_ONLY } from '../../../core/image/service.js';
import { baseUrl, caller } from '../../http.js';
import { bad, body, notFound } from '../request.js';
import { imageView } from '../views.js';

/** JSON-patch media types and the draft each speaks (a Map: the type is the client's). */
const PATCH_TYPES = new Map<string, 4 | 10>([
  ['application/openstack-images-v2.0-json-patch', 4],
  ['application/openstack-images-v2.1-json-patch', 10],
]);
const PATH_OPS = ['add', 'remove', 'replace'] as const;

/** Parse a JSON-patch body the way Glance's deserializer does (draft 4 and draft 10 forms). */
function parseChanges(body: unknown, draft: 4 | 10): ImageChange[] {
  if (!Array.isArray(body)) throw bad('Request body must be a JSON array of operation objects.');
  return body.map((raw) => {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad('Operations must be JSON objects.');
    const r = raw as Record<string, unknown>;
    let op: ImageChange['op'];
    let pointer: unknown;
    if (draft === 10) {
      if (r.op === undefined) throw bad(`Unable to find \`op\` in JSON Schema change. It must be one of the following: ${PATH_OPS.join(', ')}.`);
      if (!PATH_OPS.includes(r.op as 'add')) throw bad(`Invalid operation: \`${String(r.op)}\`. It must be one of the following: ${PATH_OPS.join(', ')}.`);
      op = r.op as ImageChange['op'];
      if (!('path' in r)) throw bad("Unable to find 'path' in JSON Schema change");
      pointer = r.path;
    } else {
      const present = PATH_OPS.filter((k) => k in r);
      if (present.length > 1) throw bad('Operation objects must contain only one member named "add", "remove", or "replace".');
      if (present.length === 0) throw bad('Operation objects must contain exactly one member named "add", "remove", or "replace".');
      op = present[0];
      pointer = r[op];
    }
    const path = decodePointer(String(pointer));
    // _validate_path: `locations` takes a position to add or remove at; everything else is one deep.
    const depth = path[0] === 'locations' ? { add: 2, remove: 2, replace: 1 }[op] : 1;
    if (path.length !== depth) throw bad(`Invalid JSON pointer for this resource: '/${path.join('/')}'`);
    const change: ImageChange = { op, path, draft };
    if (op !== 'remove') {
      if (!('value' in r)) throw bad(`Operation "${op}" requires a member named "value".`);
      change.value = r.value;
    }
    return change;
  });
}

function decodePointer(p: string): string[] {
  if (!p.startsWith('/')) throw bad(`Pointer \`${p}\` does not start with "/".`);
  if (/\/\s*?\//.test(p.slice(1))) throw bad(`Pointer \`${p}\` contains adjacent "/".`);
  if (p.length > 1 && p.endsWith('/')) throw bad(`Pointer \`${p}\` end with "/".`);
  if (p.slice(1).trim() === '/') throw bad(`Pointer \`${p}\` does not contains valid token.`);
  if (/~[^01]/.test(p) || p.endsWith('~')) throw bad(`Pointer \`${p}\` contains "~" not part of a recognized escape sequence.`);
  return p
    .replace(/^\/+/, '')
    .split('/')
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~').trim());
}

function checkChangeAllowed(c: ImageChange): void {
  const root = c.path[0];
  // Read-only attributes are refused before anything else in a PATCH.
  if (READ_ONLY.includes(root)) throw new DomainError('forbidden', 'HTTPForbidden', `Attribute '${root}' is read-only.`);
  if (['location', 'deleted', 'deleted_at'].includes(root) || root.startsWith('os_glance')) {
    throw new DomainError('forbidden', 'HTTPForbidden', `Attribute '${root}' is reserved.`);
  }
}

/** Images: list (filters, sorting, `next` links), create, show, JSON-patch update, delete, deactivate/reactivate. */
export function imageRoutes(app: FastifyInstance, service: ImageService): void {
  app.get('/v2/images', async (req) => {
    const ctx = caller(req);
    const url = new URL(req.url, baseUrl(req));
    const params = [...url.searchParams.entries()];
    const res = await service.list(ctx, { params });
    const rest = params.filter(([k]) => k !== 'marker');
    const query = new URLSearchParams(rest).toString();
    const out: Record<string, unknown> = {
      images: res.images.map((i) => imageView(i, service.options)),
      first: query ? `/v2/images?${query}` : '/v2/images',
      schema: '/v2/schemas/images',
    };
    if (res.nextMarker) out.next = `/v2/images?${new URLSearchParams([...rest, ['marker', res.nextMarker]]).toString()}`;
    return out;
  });

  app.post('/v2/images', async (req, reply) => {
    const ctx = caller(req);
    const img = await service.create(ctx, body(req));
    reply.status(201).header('location', `${baseUrl(req)}/v2/images/${img.id}`);
    // What the cloud offers for the data: import methods and (multiple stores) the store ids.
    if (service.options.importMethods.length) reply.header('openstack-image-import-methods', service.options.importMethods.join(','));
    reply.header('openstack-image-store-ids', service.options.stores.map((s) => s.id).join(','));
    return imageView(img, service.options);
  });

  app.get('/v2/images/:id', async (req) => {
    const ctx = caller(req);
    return imageView(await service.show(ctx, (req.params as { id: string }).id), service.options);
  });

  app.patch('/v2/images/:id', async (req) => {
    const ctx = caller(req);
    const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    const draft = PATCH_TYPES.get(type);
    if (!draft) {
      throw Object.assign(new DomainError('unsupported_media_type', 'HTTPUnsupportedMediaType', 'The request media type is not supported by this server.'), {
        headers: { 'accept-patch': [...PATCH_TYPES.keys()].sort().join(', ') },
      });
    }
    const raw = body(req);
    if (raw === undefined) throw bad('Body expected in request.');
    const changes = parseChanges(raw, draft);
    changes.forEach(checkChangeAllowed);
    return imageView(await service.update(ctx, (req.params as { id: string }).id, changes), service.options);
  });

  app.delete('/v2/images/:id', async (req, reply) => {
    const ctx = caller(req);
    await service.delete(ctx, (req.params as { id: string }).id);
    reply.status(204);
    return reply.send();
  });

  app.post('/v2/images/:id/actions/:action', async (req, reply) => {
    const ctx = caller(req);
    const { id, action } = req.params as { id: string; action: string };
    if (action === 'deactivate') await service.deactivate(ctx, id);
    else if (action === 'reactivate') await service.reactivate(ctx, id);
    else throw notFound();
    reply.status(204);
    return reply.send();
  });
}
