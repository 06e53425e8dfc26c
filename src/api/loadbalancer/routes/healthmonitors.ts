import * as S from '../../../core/loadbalancer/schemas.js';
import { caller } from '../../http.js';
import type { OctaviaEdge } from '../edge.js';

/** Health monitors. */
export function healthMonitorRoutes(edge: OctaviaEdge): void {
  const monitors = edge.service.healthmonitors;

  edge.route('/lbaas/healthmonitors', {
    GET: async (req) => edge.list('healthmonitors', await monitors.list(caller(req), edge.query(req), edge.url(req))),
    POST: async (req, reply) =>
      edge.created(reply, { healthmonitor: await monitors.create(caller(req), edge.body(req, 'health_monitor_', 'healthmonitor', S.monitorPost)) }),
  });
  edge.route('/lbaas/healthmonitors/:id', {
    GET: async (req) => ({ healthmonitor: await monitors.show(caller(req), edge.param(req, 'id'), edge.fields(req)) }),
    PUT: async (req) => ({
      healthmonitor: await monitors.update(caller(req), edge.param(req, 'id'), edge.body(req, 'health_monitor_', 'healthmonitor', S.monitorPut)),
    }),
    DELETE: async (req, reply) => {
      await monitors.delete(caller(req), edge.param(req, 'id'));
      return edge.noContent(reply);
    },
  });
}
