import type { FastifyInstance, FastifyReply } from 'fastify';
import { systemContext } from '../../../core/context.js';
import type { RequestContext } from '../../../core/context.js';
import type { Agents, AgentView } from '../../../core/network/agents.js';
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
  // The two schedulers' resources have one shape: an agent's hosted collection (GET lists, POST
  // adds, DELETE on a member removes) and the agents hosting one object.
  const schedulers: SchedulerRoutes[] = [
    {
      hosted: 'dhcp-networks',
      collection: 'networks',
      hostedBy: '/v2.0/networks/:id/dhcp-agents',
      hostedOn: (ctx, id) => agents.networksOn(ctx, id),
      add: (ctx, id, b) => agents.addNetwork(ctx, id, b),
      remove: (ctx, id, member) => agents.removeNetwork(ctx, id, member),
      hosting: (ctx, id) => agents.agentsHosting(ctx, id),
    },
    {
      hosted: 'l3-routers',
      collection: 'routers',
      hostedBy: '/v2.0/routers/:id/l3-agents',
      hostedOn: (ctx, id) => agents.routersOn(ctx, id),
      add: (ctx, id, b) => agents.addRouter(ctx, id, b),
      remove: (ctx, id, member) => agents.removeRouter(ctx, id, member),
      hosting: (ctx, id) => agents.agentsHostingRouter(ctx, id),
    },
  ];
  for (const s of schedulers) {
    app.route({
      method: [...ALL],
      url: `/v2.0/agents/:id/${s.hosted}`,
      handler: async (req, reply: FastifyReply) => {
        const { id } = req.params as { id: string };
        const ctx = caller(req);
        if (req.method === 'GET') {
          const ids = await s.hostedOn(ctx, id);
          const items = ids.length ? (await network.list(systemContext(ctx.requestId), s.collection, new Map([['id', ids]]))).items : [];
          return { [s.collection]: items };
        }
        if (req.method === 'POST') {
          await s.add(ctx, id, body(req));
          return reply.code(201).header('content-type', 'application/json').send('null');
        }
        throw methodNotAllowed();
      },
    });
    app.route({
      method: [...ALL],
      url: `/v2.0/agents/:id/${s.hosted}/:member`,
      handler: async (req, reply: FastifyReply) => {
        const { id, member } = req.params as { id: string; member: string };
        if (req.method !== 'DELETE') throw methodNotAllowed();
        await s.remove(caller(req), id, member);
        return reply.code(204).send();
      },
    });
    app.route({
      method: [...ALL],
      url: s.hostedBy,
      handler: async (req) => {
        const { id } = req.params as { id: string };
        if (req.method !== 'GET') throw methodNotAllowed();
        return { agents: await s.hosting(caller(req), id) };
      },
    });
  }
  app.route({
    method: [...ALL],
    url: '/v2.0/availability_zones',
    handler: async (req) => {
      if (req.method !== 'GET') throw methodNotAllowed();
      return { availability_zones: await agents.availabilityZones(query(req)) };
    },
  });
}

interface SchedulerRoutes {
  /** The agent's sub-collection: /v2.0/agents/{id}/<hosted>[/{member}]. */
  hosted: string;
  /** The resource it holds, as NetworkService lists and renders it. */
  collection: 'networks' | 'routers';
  /** The object's own list of the agents hosting it. */
  hostedBy: string;
  hostedOn(ctx: RequestContext, agentId: string): Promise<string[]>;
  add(ctx: RequestContext, agentId: string, body: unknown): Promise<void>;
  remove(ctx: RequestContext, agentId: string, memberId: string): Promise<void>;
  hosting(ctx: RequestContext, objectId: string): Promise<AgentView[]>;
}
