import type { FastifyInstance } from 'fastify';
import type { ImageService } from '../../../core/image/service.js';
import { caller } from '../../http.js';
import { body } from '../request.js';

/**
 * Stores and locations: discovery (/v2/info/stores, /detail, /usage), deleting an image's data
 * from one store, and the location API of Image API 2.17.
 */
export function storeRoutes(app: FastifyInstance, service: ImageService): void {
  app.get('/v2/info/import', async () => service.importInfo());
  app.get('/v2/info/stores', async (req) => service.storesInfo(caller(req), false));
  app.get('/v2/info/stores/detail', async (req) => service.storesInfo(caller(req), true));
  app.get('/v2/info/usage', async () => service.usage());

  app.delete('/v2/stores/:store/:id', async (req, reply) => {
    const { store, id } = req.params as { store: string; id: string };
    await service.deleteFromStore(caller(req), store, id);
    reply.status(204);
    return reply.send();
  });

  app.post('/v2/images/:id/locations', async (req, reply) => {
    await service.addLocation(caller(req), (req.params as { id: string }).id, body(req));
    reply.status(202);
    return reply.send();
  });
  app.get('/v2/images/:id/locations', async (req) => service.getLocations(caller(req), (req.params as { id: string }).id));
}
