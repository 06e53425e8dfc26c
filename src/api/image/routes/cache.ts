import type { FastifyInstance } from 'fastify';
import type { ImageService } from '../../../core/image/service.js';
import { caller } from '../../http.js';

/** The image cache API (Image API 2.14/2.16) as Glance answers it without `image_cache_dir`. */
export function cacheRoutes(app: FastifyInstance, service: ImageService): void {
  app.get('/v2/cache', async (req) => service.cache(caller(req)));
  app.delete('/v2/cache', async (req) => service.cache(caller(req)));
  app.put('/v2/cache/:id', async (req) => service.cache(caller(req), (req.params as { id: string }).id));
  app.delete('/v2/cache/:id', async (req) => service.cache(caller(req), (req.params as { id: string }).id));
  app.get('/v2/cache/nodes/:id', async (req) => service.cache(caller(req)));
  app.post('/v2/cache/clean', async (req) => service.cache(caller(req)));
  app.post('/v2/cache/prune', async (req) => service.cache(caller(req)));
}
