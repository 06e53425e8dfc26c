import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Readable } from 'node:stream';
import { DomainError } from '../../core/errors.js';
import type { Image, ImageChange, ImageMember, ImageService } from '../../core/image/service.js';
import { imageSchema, imagesSchema, memberSchema, membersSchema } from '../../core/image/schema.js';
import { type TokenAuthenticator, keystoneMiddleware401, tokenAuth } from '../auth.js';
import type { UnitOfWork } from '../../core/work.js';
import { REASON_PHRASES, baseUrl, caller, createApp, jsonBody } from '../http.js';

export interface ImageApiOptions {
  logger: Logger;
  service: ImageService;
  uow: UnitOfWork;
  auth: TokenAuthenticator;
  identityUrl: () => string;
}

/**
 * Glance's errors are webob's: the explanation rendered as HTML, JSON or plain text depending on
 * what the client accepts (HTML when it does not say).
 */
function glanceError(err: DomainError, req: FastifyRequest, reply: FastifyReply): unknown {
  const status = `${err.status} ${REASON_PHRASES[err.status] ?? 'Error'}`;
  const extra = (err as { headers?: Record<string, string> }).headers;
  if (extra) reply.headers(extra);
  const explanation = err.message;
  const kind = negotiate(req.headers.accept);
  if (kind === 'json') {
    reply.type('application/json');
    return { message: `${explanation}<br /><br />\n\n\n`, code: status, title: REASON_PHRASES[err.status] ?? 'Error' };
  }
  if (kind === 'html') {
    reply.type('text/html; charset=UTF-8');
    return `<html>\n <head>\n  <title>${status}</title>\n </head>\n <body>\n  <h1>${status}</h1>\n  ${escapeHtml(explanation)}<br /><br />\n\n\n\n </body>\n</html>`;
  }
  reply.type('text/plain; charset=UTF-8');
  return `${status}\n\n${explanation}\n\n\n`;
}

const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** webob's acceptable_offers over [text/html, application/json]: the best q wins, html on a tie. */
function negotiate(accept: string | undefined): 'html' | 'json' | 'plain' {
  if (!accept || accept.trim() === '') return 'html';
  let html = 0;
  let json = 0;
  for (const part of accept.split(',')) {
    const [type, ...params] = part.trim().toLowerCase().split(';');
    const qp = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const q = qp ? Number(qp.slice(2)) : 1;
    const t = type.trim();
    if (t === 'text/html' || t === 'text/*' || t === '*/*') html = Math.max(html, q);
    if (t === 'application/json' || t === 'application/*' || t === '*/*') json = Math.max(json, q);
  }
  if (html === 0 && json === 0) return 'plain';
  return html >= json ? 'html' : 'json';
}

/** Glance renders times with seconds precision ("2016-11-06T23:23:29Z"). */
const seconds = (iso: string) => iso.replace(/\.\d+Z$/, 'Z');

export function imageView(img: Image): Record<string, unknown> {
  return {
    ...img.properties,
    name: img.name,
    disk_format: img.disk_format,
    container_format: img.container_format,
    visibility: img.visibility,
    size: img.size,
    virtual_size: img.virtual_size,
    status: img.status,
    checksum: img.checksum,
    protected: img.protected === 1,
    min_ram: img.min_ram,
    min_disk: img.min_disk,
    owner: img.owner,
    os_hidden: img.os_hidden === 1,
    os_hash_algo: img.os_hash_algo,
    os_hash_value: img.os_hash_value,
    id: img.id,
    created_at: seconds(img.created_at),
    updated_at: seconds(img.updated_at),
    tags: img.tags,
    self: `/v2/images/${img.id}`,
    file: `/v2/images/${img.id}/file`,
    schema: '/v2/schemas/image',
  };
}

const memberView = (m: ImageMember) => ({
  created_at: seconds(m.created_at),
  image_id: m.image_id,
  member_id: m.member,
  schema: '/v2/schemas/member',
  status: m.status,
  updated_at: seconds(m.updated_at),
});

const bad = (msg: string) => new DomainError('bad_request', 'HTTPBadRequest', msg);
const NOT_FOUND = () => new DomainError('not_found', 'HTTPNotFound', 'The resource could not be found.');
const PATCH_TYPES: Record<string, 4 | 10> = {
  'application/openstack-images-v2.0-json-patch': 4,
  'application/openstack-images-v2.1-json-patch': 10,
};
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
    if (path.length !== 1) throw bad(`Invalid JSON pointer for this resource: '/${path.join('/')}'`);
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

/** Read-only and reserved attributes a PATCH may not touch (checked before anything else). */
const PATCH_READ_ONLY = [
  'created_at',
  'updated_at',
  'status',
  'checksum',
  'size',
  'virtual_size',
  'direct_url',
  'self',
  'file',
  'schema',
  'id',
  'os_hash_algo',
  'os_hash_value',
];

function checkChangeAllowed(c: ImageChange): void {
  const root = c.path[0];
  if (PATCH_READ_ONLY.includes(root)) throw new DomainError('forbidden', 'HTTPForbidden', `Attribute '${root}' is read-only.`);
  if (['location', 'deleted', 'deleted_at'].includes(root) || root.startsWith('os_glance')) {
    throw new DomainError('forbidden', 'HTTPForbidden', `Attribute '${root}' is reserved.`);
  }
}

/** Parse `Range: bytes=a-b` into an inclusive range of a file of `size` bytes; null when absent. */
function parseRange(header: string | undefined, size: number): { start: number; end: number } | null {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) throw new DomainError('range_not_satisfiable', 'HTTPRequestRangeNotSatisfiable', 'Requested Range Not Satisfiable');
  let start: number;
  let end: number;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start > end || start >= size) throw new DomainError('range_not_satisfiable', 'HTTPRequestRangeNotSatisfiable', 'Requested Range Not Satisfiable');
  return { start, end };
}

export function buildImageApi(opts: ImageApiOptions): FastifyInstance {
  const { service } = opts;
  const app = createApp({
    name: 'image',
    logger: opts.logger,
    uow: opts.uow,
    // Glance's version documents are open; the rest sits behind auth_token.
    auth: { publicRoutes: ['GET /', 'GET /versions'], unmatched: 'authenticated', authenticate: tokenAuth(opts.auth) },
    errors: {
      render(err, req, reply) {
        if (err.kind === 'unauthorized') return keystoneMiddleware401(reply, opts.identityUrl(), err.message);
        return glanceError(err, req, reply);
      },
    },
  });
  // Glance's routes are exact: `/v2/images/` (an empty id) is not the collection.
  app.addHook('onRequest', async (req) => {
    const path = req.url.split('?')[0];
    if (path.length > 1 && path.endsWith('/') && path !== '/v2/') throw NOT_FOUND();
  });
  // Image data is streamed to disk as it arrives, never buffered; its size cap is the service's.
  app.addContentTypeParser('application/octet-stream', (_req, payload, done) => done(null, payload));

  const body = (req: FastifyRequest) => jsonBody(req, () => bad('Malformed JSON in request body.'));

  const versions = (req: FastifyRequest) => {
    const href = `${baseUrl(req)}/v2/`;
    const ids = ['2.15', '2.9', '2.7', '2.6', '2.5', '2.4', '2.3', '2.2', '2.1', '2.0'];
    return { versions: ids.map((v, i) => ({ id: `v${v}`, status: i === 0 ? 'CURRENT' : 'SUPPORTED', links: [{ rel: 'self', href }] })) };
  };
  app.get('/', async (req, reply) => {
    reply.status(300);
    return versions(req);
  });
  app.get('/versions', async (req) => versions(req));

  for (const [name, schema] of Object.entries({ image: imageSchema, images: imagesSchema, member: memberSchema, members: membersSchema })) {
    app.get(`/v2/schemas/${name}`, async (req) => {
      return schema();
    });
  }
  app.get('/v2/info/import', async (req) => {
    return { 'import-methods': { description: 'Import methods available.', type: 'array', value: [] } };
  });

  app.get('/v2/images', async (req) => {
    const ctx = caller(req);
    const url = new URL(req.url, baseUrl(req));
    const params = [...url.searchParams.entries()];
    const res = await service.list(ctx, { params });
    const rest = params.filter(([k]) => k !== 'marker');
    const query = new URLSearchParams(rest).toString();
    const out: Record<string, unknown> = {
      images: res.images.map(imageView),
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
    return imageView(img);
  });

  app.get('/v2/images/:id', async (req) => {
    const ctx = caller(req);
    return imageView(await service.show(ctx, (req.params as { id: string }).id));
  });

  app.patch('/v2/images/:id', async (req) => {
    const ctx = caller(req);
    const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    const draft = PATCH_TYPES[type];
    if (!draft) {
      throw Object.assign(new DomainError('unsupported_media_type', 'HTTPUnsupportedMediaType', 'The request media type is not supported by this server.'), {
        headers: { 'accept-patch': Object.keys(PATCH_TYPES).sort().join(', ') },
      });
    }
    const raw = body(req);
    if (raw === undefined) throw bad('Body expected in request.');
    const changes = parseChanges(raw, draft);
    changes.forEach(checkChangeAllowed);
    return imageView(await service.update(ctx, (req.params as { id: string }).id, changes));
  });

  app.delete('/v2/images/:id', async (req, reply) => {
    const ctx = caller(req);
    await service.delete(ctx, (req.params as { id: string }).id);
    reply.status(204);
    return reply.send();
  });

  app.put('/v2/images/:id/file', async (req, reply) => {
    const ctx = caller(req);
    const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (type !== 'application/octet-stream') {
      throw new DomainError('unsupported_media_type', 'HTTPUnsupportedMediaType', `Invalid content type ${req.headers['content-type'] ?? ''}`);
    }
    await service.upload(ctx, (req.params as { id: string }).id, req.body as Readable);
    reply.status(204);
    return reply.send();
  });

  app.get('/v2/images/:id/file', async (req, reply) => {
    const ctx = caller(req);
    const id = (req.params as { id: string }).id;
    const data = await service.download(ctx, id);
    if (!data) {
      reply.status(204);
      return reply.send();
    }
    const range = parseRange(req.headers.range, data.size);
    reply.type('application/octet-stream');
    if (data.image.checksum) reply.header('content-md5', data.image.checksum);
    if (range) {
      reply.status(206).header('content-range', `bytes ${range.start}-${range.end}/${data.size}`);
      reply.header('content-length', String(range.end - range.start + 1));
    } else {
      reply.header('content-length', String(data.size));
    }
    return reply.send(service.files.read(id, range ?? undefined));
  });

  app.post('/v2/images/:id/actions/:action', async (req, reply) => {
    const ctx = caller(req);
    const { id, action } = req.params as { id: string; action: string };
    if (action === 'deactivate') await service.deactivate(ctx, id);
    else if (action === 'reactivate') await service.reactivate(ctx, id);
    else throw NOT_FOUND();
    reply.status(204);
    return reply.send();
  });

  app.put('/v2/images/:id/tags/:tag', async (req, reply) => {
    const ctx = caller(req);
    const { id, tag } = req.params as { id: string; tag: string };
    await service.addTag(ctx, id, tag);
    reply.status(204);
    return reply.send();
  });
  app.delete('/v2/images/:id/tags/:tag', async (req, reply) => {
    const ctx = caller(req);
    const { id, tag } = req.params as { id: string; tag: string };
    await service.deleteTag(ctx, id, tag);
    reply.status(204);
    return reply.send();
  });

  app.get('/v2/images/:id/members', async (req) => {
    const ctx = caller(req);
    const members = await service.listMembers(ctx, (req.params as { id: string }).id);
    return { members: members.map(memberView), schema: '/v2/schemas/members' };
  });
  app.post('/v2/images/:id/members', async (req) => {
    const ctx = caller(req);
    return memberView(await service.addMember(ctx, (req.params as { id: string }).id, body(req)));
  });
  app.get('/v2/images/:id/members/:member', async (req) => {
    const ctx = caller(req);
    const { id, member } = req.params as { id: string; member: string };
    return memberView(await service.showMember(ctx, id, member));
  });
  app.put('/v2/images/:id/members/:member', async (req) => {
    const ctx = caller(req);
    const { id, member } = req.params as { id: string; member: string };
    return memberView(await service.updateMember(ctx, id, member, body(req)));
  });
  app.delete('/v2/images/:id/members/:member', async (req, reply) => {
    const ctx = caller(req);
    const { id, member } = req.params as { id: string; member: string };
    await service.deleteMember(ctx, id, member);
    reply.status(204);
    return reply.send();
  });

  app.setNotFoundHandler(async () => {
    throw NOT_FOUND();
  });
  return app;
}
