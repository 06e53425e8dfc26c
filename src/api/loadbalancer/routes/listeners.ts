import * as S from '../../../core/loadbalancer/schemas.js';
import { caller } from '../../http.js';
import type { OctaviaEdge } from '../edge.js';

/** Listeners and their statistics. */
export function listenerRoutes(edge: OctaviaEdge): void {
  const listeners = edge.service.listeners;

  edge.route('/lbaas/listeners', {
    GET: async (req) => edge.list('listeners', await listeners.list(caller(req), edge.query(req), edge.url(req))),
    POST: async (req, reply) => edge.created(reply, { listener: await listeners.create(caller(req), edge.body(req, 'listener_', 'listener', S.listenerPost)) }),
  });
  edge.route('/lbaas/listeners/:id', {
    GET: async (req) => ({ listener: await listeners.show(caller(req), edge.param(req, 'id'), edge.fields(req)) }),
    PUT: async (req) => ({ listener: await listeners.update(caller(req), edge.param(req, 'id'), edge.body(req, 'listener_', 'listener', S.listenerPut)) }),
    DELETE: async (req, reply) => {
      await listeners.delete(caller(req), edge.param(req, 'id'));
      return edge.noContent(reply);
    },
  });
  edge.route('/lbaas/listeners/:id/stats', { GET: async (req) => ({ stats: await listeners.stats(caller(req), edge.param(req, 'id')) }) });
}
