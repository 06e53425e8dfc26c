import * as S from '../../../core/loadbalancer/schemas.js';
import { caller } from '../../http.js';
import type { OctaviaEdge } from '../edge.js';

/** Quotas per project, and the defaults. */
export function quotaRoutes(edge: OctaviaEdge): void {
  const quotas = edge.service.quotas;

  edge.route('/lbaas/quotas', {
    GET: async (req) => ({ quotas: await quotas.list(caller(req), edge.query(req).get('project_id')?.[0]), quotas_links: [] }),
  });
  edge.route('/lbaas/quotas/defaults', {
    GET: async () => ({ quota: quotas.defaults() }),
  });
  edge.route('/lbaas/quotas/:project', {
    GET: async (req) => ({ quota: await quotas.show(caller(req), edge.param(req, 'project')) }),
    PUT: async (req, reply) => {
      const quota = await quotas.update(caller(req), edge.param(req, 'project'), edge.body(req, 'quotas', 'quota', S.quotaPut));
      reply.status(202);
      return { quota };
    },
    DELETE: async (req, reply) => {
      await quotas.reset(caller(req), edge.param(req, 'project'));
      return edge.noContent(reply, 202);
    },
  });
}
