import type { FastifyInstance } from 'fastify';
import { httpBadRequest } from '../../../core/errors.js';
import type { PortForwardings } from '../../../core/network/portforwardings.js';
import { caller } from '../../http.js';
import { ALL_METHODS, body, fieldsOf, methodNotAllowed, query } from '../request.js';

/** A floating IP's port forwardings: `/floatingips/{id}/port_forwardings[/{forwarding}]`. */
export function portForwardingRoutes(app: FastifyInstance, forwardings: PortForwardings): void {
  app.route({
    method: [...ALL_METHODS],
    url: '/v2.0/floatingips/:fip/port_forwardings',
    handler: async (req, reply) => {
      const ctx = caller(req);
      const { fip } = req.params as { fip: string };
      if (req.method === 'GET' || req.method === 'HEAD') return { port_forwardings: await forwardings.list(ctx, fip, query(req)) };
      if (req.method !== 'POST') throw methodNotAllowed();
      const out = await forwardings.create(ctx, fip, body(req));
      reply.status(201);
      return { port_forwarding: out };
    },
  });
  app.route({
    method: [...ALL_METHODS],
    url: '/v2.0/floatingips/:fip/port_forwardings/:id',
    handler: async (req, reply) => {
      const ctx = caller(req);
      const { fip, id } = req.params as { fip: string; id: string };
      switch (req.method) {
        case 'GET':
        case 'HEAD':
          return { port_forwarding: await forwardings.show(ctx, fip, id, fieldsOf(req)) };
        case 'PUT':
          return { port_forwarding: await forwardings.update(ctx, fip, id, body(req)) };
        case 'DELETE':
          if (req.rawBody && req.rawBody.trim() !== '') throw httpBadRequest('Request body is not supported in DELETE.');
          await forwardings.delete(ctx, fip, id);
          reply.status(204);
          return reply.send();
        default:
          throw methodNotAllowed();
      }
    },
  });
}
