import type { FastifyInstance, FastifyReply } from 'fastify';
import { systemContext } from '../../../core/context.js';
import type { Agents } from '../../../core/network/agents.js';
import type { NetworkService } from '../../../core/network/service.js';
import { caller } from '../../http.js';
import { ALL_METHODS as ALL, body, methodNotAllowed, query } from '../request.js';

/**
 * Neutron's `agent`, `dhcp_agent_scheduler`, `l3_agent_scheduler` and `availability_zone`
 * extensions: /v2.0/agents[/{id}], /v2.0/agents/{id}/dhcp-networks[/{network}],
 * /v2.0/networks/{id}/dhcp-agents, /v2.0/agents/{id}/l3-routers[/{router}],
 * /v2.0/routers/{id}/l3-agents, /v2.0/availability_zones.
 */
export function agentRoutes(app: FastifyInstance, agents: Agents, network: NetworkService): void {
  app.route({
    method: [...ALL],
    url: '/v2.0/agents',
    handler: async (req) => {
      if (req.method !== 'GET') throw methodNotAllowed();
      return { agents: await agents.list(caller(req), query(req)) };
    },
  });
  app.route({
    method: [...ALL],
    url: '/v2.0/agents/:id',
    handler: async (req, reply: FastifyReply) => {
      const { id } = req.params as { id: string };
      const ctx = caller(req);
      switch (req.method) {
        case 'GET':
          return { agent: await agents.show(ctx, id) };
        case 'PUT':
          return { agent: await agents.update(ctx, id, body(req)) };
        case 'DELETE':
          await agents.delete(ctx, id);
          return reply.code(204).send();
        default:
          throw methodNotAllowed();
      }
    },
  });
  app.route({
    method: [...ALL],
    url: '/v2.0/agents/:id/dhcp-networks',
    handler: async (req, reply: FastifyReply) => {
      const { id } = req.params as { id: string };
      const ctx = caller(req);
      if (req.method === 'GET') {
        const ids = await agents.networksOn(ctx, id);
        const networks = ids.length ? (await network.list(systemContext(ctx.requestId), 'networks', new Map([['id', ids]]))).items : [];
        return { networks };
      }
      if (req.method === 'POST') {
        await agents.addNetwork(ctx, id, body(req));
        return reply.code(201).header('content-type', 'application/json').send('null');
      }
      throw methodNotAllowed();
    },
  });
  app.route({
    method: [...ALL],
    url: '/v2.0/agents/:id/dhcp-networks/:network',
    handler: async (req, reply: FastifyReply) => {
      const { id, network: networkId } = req.params as { id: string; network: string };
      if (req.method !== 'DELETE') throw methodNotAllowed();
      await agents.removeNetwork(caller(req), id, networkId);
      return reply.code(204).send();
    },
  });
  app.route({
    method: [...ALL],
    url: '/v2.0/networks/:id/dhcp-agents',
    handler: async (req) => {
      const { id } = req.params as { id: string };
      if (req.method !== 'GET') throw methodNotAllowed();
      return { agents: await agents.agentsHosting(caller(req), id) };
    },
  });
  app.route({
    method: [...ALL],
    url: '/v2.0/agents/:id/l3-routers',
    handler: async (req, reply: FastifyReply) => {
      const { id } = req.params as { id: string };
      const ctx = caller(req);
      if (req.method === 'GET') {
        const ids = await agents.routersOn(ctx, id);
        const routers = ids.length ? (await network.list(systemContext(ctx.requestId), 'routers', new Map([['id', ids]]))).items : [];
        return { routers };
      }
      if (req.method === 'POST') {
        await agents.addRouter(ctx, id, body(req));
        return reply.code(201).header('content-type', 'application/json').send('null');
      }
      throw methodNotAllowed();
    },
  });
  app.route({
    method: [...ALL],
    url: '/v2.0/agents/:id/l3-routers/:router',
    handler: async (req, reply: FastifyReply) => {
      const { id, router } = req.params as { id: string; router: string };
      if (req.method !== 'DELETE') throw methodNotAllowed();
      await agents.removeRouter(caller(req), id, router);
      return reply.code(204).send();
    },
  });
  app.route({
    method: [...ALL],
    url: '/v2.0/routers/:id/l3-agents',
    handler: async (req) => {
      const { id } = req.params as { id: string };
      if (req.method !== 'GET') throw methodNotAllowed();
      return { agents: await agents.agentsHostingRouter(caller(req), id) };
    },
  });
  app.route({
    method: [...ALL],
    url: '/v2.0/availability_zones',
    handler: async (req) => {
      if (req.method !== 'GET') throw methodNotAllowed();
      return { availability_zones: await agents.availabilityZones(query(req)) };
    },
  });
}
