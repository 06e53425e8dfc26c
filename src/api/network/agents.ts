import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Agents } from '../../core/network/agents.js';
import { DomainError } from '../../core/errors.js';
import type { NetworkService } from '../../core/network/service.js';
import { systemContext } from '../../core/context.js';
import { caller } from '../http.js';
import type { NetworkHelpers } from './app.js';

const methodNotAllowed = () =>
  new DomainError(
    'method_not_allowed',
    'HTTPMethodNotAllowed',
    'The server could not comply with the request since it is either malformed or otherwise incorrect.',
  );

/**
 * Neutron's `agent` and `dhcp_agent_scheduler` extensions: /v2.0/agents[/{id}],
 * /v2.0/agents/{id}/dhcp-networks[/{network}], /v2.0/networks/{id}/dhcp-agents.
 */
export function agentRoutes(agents: Agents, network: NetworkService) {
  return (app: FastifyInstance, h: NetworkHelpers): void => {
    const ALL = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'] as const;
    app.route({
      method: [...ALL],
      url: '/v2.0/agents',
      handler: async (req) => {
        if (req.method !== 'GET') throw methodNotAllowed();
        return { agents: await agents.list(caller(req), h.query(req)) };
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
            return { agent: await agents.update(ctx, id, h.body(req)) };
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
          await agents.addNetwork(ctx, id, h.body(req));
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
  };
}
