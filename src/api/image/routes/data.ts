import type { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { DomainError } from '../../../core/errors.js';
import type { ImageService } from '../../../core/image/service.js';
import { caller } from '../../http.js';

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

/** Image data, streamed to and from the image store: upload (octet-stream only) and download (with `Range`). */
export function imageDataRoutes(app: FastifyInstance, service: ImageService): void {
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
}
