import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { DomainError } from '../../../core/errors.js';
import type { ImageService } from '../../../core/image/service.js';
import { caller } from '../../http.js';
import { bad } from '../request.js';

const rangeError = (msg: string) => new DomainError('range_not_satisfiable', 'HTTPRequestRangeNotSatisfiable', msg);

/**
 * `Range: bytes=a-b` as Glance's get_range_from_request reads it (webob's Range.parse), as an
 * inclusive range of a file of `size` bytes; null when absent.
 */
function parseRange(header: string | undefined, size: number): { start: number; end: number } | null {
  if (header === undefined) return null;
  if (header.includes(',')) {
    throw bad('Requests with multiple ranges are not supported in Glance. You may make multiple single-range requests instead.');
  }
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '') || (m[1] !== '' && m[2] !== '' && Number(m[2]) < Number(m[1]))) throw rangeError('Invalid Range header.');
  let start: number;
  let end: number;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size) throw rangeError(`Invalid start position in Range header. Start position MUST be in the inclusive range [0, ${size - 1}].`);
  return { start, end };
}

/** Glance's upload/stage deserializers accept application/octet-stream only. */
function octetStream(req: FastifyRequest): void {
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type !== 'application/octet-stream') {
    throw new DomainError('unsupported_media_type', 'HTTPUnsupportedMediaType', `Invalid content type ${req.headers['content-type'] ?? ''}`);
  }
}

/** `x-openstack-image-size`, else Content-Length (glance's _get_image_size); null when neither. */
function announcedSize(req: FastifyRequest): number | null {
  const header = req.headers['x-openstack-image-size'];
  const raw = typeof header === 'string' ? header : req.headers['content-length'];
  if (raw === undefined || raw === '') return null;
  if (!/^\s*[-+]?\d+\s*$/.test(raw)) throw bad('Invalid or missing image size in request headers.');
  return Number(raw) || null;
}

const storeHeader = (req: FastifyRequest) => {
  const h = req.headers['x-image-meta-store'];
  return typeof h === 'string' ? h : undefined;
};

/** Image data: upload (to a store), stage (for glance-direct), download (with `Range`). */
export function imageDataRoutes(app: FastifyInstance, service: ImageService): void {
  app.put('/v2/images/:id/file', async (req, reply) => {
    const ctx = caller(req);
    octetStream(req);
    await service.upload(ctx, (req.params as { id: string }).id, req.body as Readable, storeHeader(req), announcedSize(req) ?? undefined);
    reply.status(204);
    return reply.send();
  });

  app.put('/v2/images/:id/stage', async (req, reply) => {
    const ctx = caller(req);
    service.imports.checkStageAvailable();
    octetStream(req);
    await service.imports.stage(ctx, (req.params as { id: string }).id, req.body as Readable, announcedSize(req));
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
    const range = parseRange(typeof req.headers.range === 'string' ? req.headers.range : undefined, data.size);
    reply.type('application/octet-stream');
    if (data.image.checksum) reply.header('content-md5', data.image.checksum);
    if (range) {
      reply.status(206).header('content-range', `bytes ${range.start}-${range.end}/${data.size}`);
      reply.header('content-length', String(range.end - range.start + 1));
    } else {
      reply.header('content-length', String(data.size));
    }
    return reply.send(await data.open(range ?? undefined));
  });
}
