import type { FastifyInstance } from 'fastify';
import type { ImageService } from '../../../core/image/service.js';
import { caller } from '../../http.js';

/** Image tags: add and remove one (the list is the image's `tags`). */
export function tagRoutes(app: FastifyInstance, service: ImageService): void {
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
}
