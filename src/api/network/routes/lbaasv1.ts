import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { LoadBalancerService } from '../../../core/loadbalancer/service.js';
import * as v1 from '../../../core/loadbalancer/v1.js';
import { caller } from '../../http.js';
import { body, fieldsOf as fields, methodNotAllowed, query, requestUrl, resourceNotFound as notFound } from '../request.js';

const COLLECTIONS = ['pools', 'members', 'health_monitors', 'vips'] as const;
type Coll = (typeof COLLECTIONS)[number];
const SINGULAR: Record<Coll, string> = { pools: 'pool', members: 'member', health_monitors: 'health_monitor', vips: 'vip' };

/**
 * Neutron LBaaS v1 (`lbaas` extension) on the network endpoint: `/v2.0/lb/{pools,members,
 * health_monitors,vips}`, pool stats and monitor association. Mounted by buildNetworkApi when
 * LBaaS v1 is enabled, as is the `lbaas` alias it advertises.
 */
export function lbaasV1Routes(app: FastifyInstance, svc: LoadBalancerService): void {
  const deps = svc.deps;
  const coll = (req: FastifyRequest): Coll => {
    const c = (req.params as { collection: string }).collection as Coll;
    if (!COLLECTIONS.includes(c)) throw notFound();
    return c;
  };
  const ALL = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD'] as const;

  app.route({
    method: [...ALL],
    url: '/v2.0/lb/:collection',
    handler: async (req: FastifyRequest, reply: FastifyReply) => {
      const c = coll(req);
      const ctx = caller(req);
      if (req.method === 'GET' || req.method === 'HEAD') {
        const res = await v1.listV1(deps, ctx, c, query(req), requestUrl(req));
        return res.links ? { [c]: res.items, [`${c}_links`]: res.links } : { [c]: res.items };
      }
      if (req.method !== 'POST') throw methodNotAllowed();
      const create = { pools: v1.createPoolV1, members: v1.createMemberV1, health_monitors: v1.createMonitorV1, vips: v1.createVipV1 }[c];
      const out = await create(deps, ctx, body(req));
      reply.status(201);
      return { [SINGULAR[c]]: out };
    },
  });

  app.route({
    method: [...ALL],
    url: '/v2.0/lb/:collection/:id',
    handler: async (req: FastifyRequest, reply: FastifyReply) => {
      const c = coll(req);
      const { id } = req.params as { id: string };
      const ctx = caller(req);
      switch (req.method) {
        case 'GET':
        case 'HEAD':
          return { [SINGULAR[c]]: await v1.showV1(deps, ctx, c, id, fields(req)) };
        case 'PUT': {
          const update = { pools: v1.updatePoolV1, members: v1.updateMemberV1, health_monitors: v1.updateMonitorV1, vips: v1.updateVipV1 }[c];
          return { [SINGULAR[c]]: await update(deps, ctx, id, body(req)) };
        }
        case 'DELETE': {
          const del = { pools: v1.deletePoolV1, members: v1.deleteMemberV1, health_monitors: v1.deleteMonitorV1, vips: v1.deleteVipV1 }[c];
          await del(deps, ctx, id);
          reply.status(204);
          return reply.send();
        }
        default:
          throw methodNotAllowed();
      }
    },
  });

  app.route({
    method: [...ALL],
    url: '/v2.0/lb/pools/:id/stats',
    handler: async (req: FastifyRequest) => {
      if (req.method !== 'GET') throw methodNotAllowed();
      const ctx = caller(req);
      return { stats: await v1.poolStatsV1(deps, ctx, (req.params as { id: string }).id) };
    },
  });

  app.route({
    method: [...ALL],
    url: '/v2.0/lb/pools/:id/health_monitors',
    handler: async (req: FastifyRequest, reply: FastifyReply) => {
      if (req.method !== 'POST') throw methodNotAllowed();
      const ctx = caller(req);
      const out = await v1.associateMonitorV1(deps, ctx, (req.params as { id: string }).id, body(req));
      reply.status(201);
      return { health_monitor: out };
    },
  });

  app.route({
    method: [...ALL],
    url: '/v2.0/lb/pools/:id/health_monitors/:hm',
    handler: async (req: FastifyRequest, reply: FastifyReply) => {
      if (req.method !== 'DELETE') throw methodNotAllowed();
      const ctx = caller(req);
      const { id, hm } = req.params as { id: string; hm: string };
      await v1.disassociateMonitorV1(deps, ctx, id, hm);
      reply.status(204);
      return reply.send();
    },
  });
}
