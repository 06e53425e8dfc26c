import * as S from '../../../core/loadbalancer/schemas.js';
import { boolFromString } from '../../../util/bool.js';
import { caller } from '../../http.js';
import type { OctaviaEdge } from '../edge.js';

/** Load balancers, their status tree, statistics and failover. */
export function loadBalancerRoutes(edge: OctaviaEdge): void {
  const lbs = edge.service.loadbalancers;

  edge.route('/lbaas/loadbalancers', {
    GET: async (req) => edge.list('loadbalancers', await lbs.list(caller(req), edge.query(req), edge.url(req))),
    POST: async (req, reply) =>
      edge.created(reply, { loadbalancer: await lbs.create(caller(req), edge.body(req, 'load_balancer', 'loadbalancer', S.loadBalancerPost)) }),
  });
  edge.route('/lbaas/loadbalancers/:id', {
    GET: async (req) => ({ loadbalancer: await lbs.show(caller(req), edge.param(req, 'id'), edge.fields(req)) }),
    PUT: async (req) => ({
      loadbalancer: await lbs.update(caller(req), edge.param(req, 'id'), edge.body(req, 'load_balancer', 'loadbalancer', S.loadBalancerPut)),
    }),
    DELETE: async (req, reply) => {
      await lbs.delete(caller(req), edge.param(req, 'id'), boolFromString(edge.query(req).get('cascade')?.[0]));
      return edge.noContent(reply);
    },
  });
  for (const sub of ['status', 'statuses']) {
    edge.route(`/lbaas/loadbalancers/:id/${sub}`, { GET: async (req) => ({ statuses: await lbs.statusTree(caller(req), edge.param(req, 'id')) }) });
  }
  edge.route('/lbaas/loadbalancers/:id/stats', { GET: async (req) => ({ stats: await lbs.stats(caller(req), edge.param(req, 'id')) }) });
  edge.route('/lbaas/loadbalancers/:id/failover', {
    PUT: async (req, reply) => {
      await lbs.failover(caller(req), edge.param(req, 'id'));
      return edge.noContent(reply, 202);
    },
  });
}
