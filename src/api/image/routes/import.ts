import type { FastifyInstance } from 'fastify';
import type { ImageService } from '../../../core/image/service.js';
import { caller } from '../../http.js';
import { body } from '../request.js';
import { imageTaskView } from '../views.js';

/** The interoperable import call, and the tasks an image has had. */
export function importRoutes(app: FastifyInstance, service: ImageService): void {
  app.post('/v2/images/:id/import', async (req, reply) => {
    const ctx = caller(req);
    const parsed = service.imports.parseBody(body(req));
    const header = req.headers['x-image-meta-store'];
    // glance-download calls the remote Glance with the caller's token, as Glance does.
    const token = req.headers['x-auth-token'];
    await service.imports.importImage(
      ctx,
      (req.params as { id: string }).id,
      parsed,
      typeof header === 'string' ? header : undefined,
      typeof token === 'string' ? token : undefined,
    );
    reply.status(202);
    return reply.send();
  });

  app.get('/v2/images/:id/tasks', async (req) => {
    const ctx = caller(req);
    return { tasks: (await service.tasksOfImage(ctx, (req.params as { id: string }).id)).map(imageTaskView) };
  });
}
