import { caller } from '../../http.js';
import type { OctaviaEdge } from '../edge.js';

/** Amphorae: what serves each load balancer (admin only). */
export function amphoraRoutes(edge: OctaviaEdge): void {
  const amphorae = edge.service.amphorae;

  edge.route('/octavia/amphorae', {
    GET: async (req) => edge.list('amphorae', await amphorae.list(caller(req), edge.query(req), edge.url(req))),
  });
  edge.route('/octavia/amphorae/:id', {
    GET: async (req) => ({ amphora: await amphorae.show(caller(req), edge.param(req, 'id'), edge.fields(req)) }),
  });
  edge.route('/octavia/amphorae/:id/config', {
    PUT: async (req, reply) => {
      await amphorae.configure(caller(req), edge.param(req, 'id'));
      return edge.noContent(reply, 202);
    },
  });
  edge.route('/octavia/amphorae/:id/failover', {
    PUT: async (req, reply) => {
      await amphorae.failover(caller(req), edge.param(req, 'id'));
      return edge.noContent(reply, 202);
    },
  });
  edge.route('/octavia/amphorae/:id/stats', {
    GET: async (req) => ({ amphora_stats: await amphorae.stats(caller(req), edge.param(req, 'id')) }),
  });
}
