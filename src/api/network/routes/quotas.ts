import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DomainError } from '../../../core/errors.js';
import { quotaApi } from '../../../core/network/quotas.js';
import type { UnitOfWork } from '../../../core/work.js';
import { caller } from '../../http.js';
import { ALL_METHODS as ALL, body, methodNotAllowed } from '../request.js';

/** Neutron's quotas and quota_details extensions: /v2.0/quotas[/{project}[/default|/details]]. */
export function quotaRoutes(app: FastifyInstance, uow: UnitOfWork): void {
  const { store } = uow;

  app.route({
    method: [...ALL],
    url: '/v2.0/quotas',
    handler: async (req) => {
      const ctx = caller(req);
      if (req.method === 'GET') return { quotas: await quotaApi.list(store.db, ctx) };
      if (req.method === 'POST') throw new DomainError('not_implemented', 'HTTPNotImplemented', 'POST requests are not supported on this resource.');
      throw methodNotAllowed();
    },
  });

  // Who am I, for clients that ask before showing "my" quotas.
  for (const key of ['tenant', 'project'] as const) {
    app.route({
      method: [...ALL],
      url: `/v2.0/quotas/${key}`,
      handler: async (req) => {
        const ctx = caller(req);
        if (req.method !== 'GET') throw methodNotAllowed();
        if (!ctx.projectId) throw new DomainError('bad_request', 'QuotaMissingTenant', 'Tenant-id was missing from quota request.');
        return { [key]: { [`${key}_id`]: ctx.projectId } };
      },
    });
  }

  app.route({
    method: [...ALL],
    url: '/v2.0/quotas/:project',
    handler: async (req: FastifyRequest, reply: FastifyReply) => {
      const { project } = req.params as { project: string };
      const ctx = caller(req);
      switch (req.method) {
        case 'GET':
          return { quota: await quotaApi.show(store.db, ctx, project) };
        case 'PUT': {
          const input = body(req);
          return { quota: await uow.run(({ trx }) => quotaApi.update(trx, ctx, project, input), ctx) };
        }
        case 'DELETE':
          await uow.run(({ trx }) => quotaApi.reset(trx, ctx, project), ctx);
          reply.status(204);
          return reply.send();
        default:
          throw methodNotAllowed();
      }
    },
  });

  app.route({
    method: [...ALL],
    url: '/v2.0/quotas/:project/default',
    handler: async (req) => {
      const { project } = req.params as { project: string };
      const ctx = caller(req);
      if (req.method !== 'GET') throw methodNotAllowed();
      return { quota: await quotaApi.defaults(ctx, project) };
    },
  });

  app.route({
    method: [...ALL],
    url: '/v2.0/quotas/:project/details',
    handler: async (req) => {
      const { project } = req.params as { project: string };
      const ctx = caller(req);
      if (req.method !== 'GET') throw methodNotAllowed();
      return { quota: await quotaApi.details(store.db, ctx, project) };
    },
  });
}
