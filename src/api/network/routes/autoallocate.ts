import type { FastifyInstance } from 'fastify';
import { AutoAllocation } from '../../../core/network/autoallocate.js';
import type { NetworkService } from '../../../core/network/service.js';
import { caller } from '../../http.js';
import { ALL_METHODS as ALL, fieldList, methodNotAllowed } from '../request.js';

/** auto-allocated-topology: GET (with `?fields=dry-run`) and DELETE /v2.0/auto-allocated-topology/{project}. */
export function autoAllocateRoutes(app: FastifyInstance, service: NetworkService): void {
  const auto = new AutoAllocation(service);
  app.route({
    method: [...ALL],
    url: '/v2.0/auto-allocated-topology/:project',
    handler: async (req, reply) => {
      const { project } = req.params as { project: string };
      const ctx = caller(req);
      if (req.method === 'GET') return { auto_allocated_topology: await auto.get(ctx, project, fieldList(req)) };
      if (req.method === 'DELETE') {
        await auto.delete(ctx, project);
        reply.status(204);
        return reply.send();
      }
      throw methodNotAllowed();
    },
  });
}
