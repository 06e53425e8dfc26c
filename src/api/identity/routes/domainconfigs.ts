import type { FastifyRequest } from 'fastify';
import { enforce } from '../../../core/identity/policy.js';
import { IdentityEdge } from '../edge.js';

type Params = { id: string; group?: string; option?: string };

/** Domain-specific configuration (keystone/api/domains.py's DomainConfig* resources). */
export function domainConfigRoutes(edge: IdentityEdge): void {
  const { identity } = edge;
  const configs = identity.domainConfigs;

  for (const path of ['/v3/domains/config/default', '/v3/domains/config/:group/default', '/v3/domains/config/:group/:option/default']) {
    edge.route('GET', path, async (req) => {
      enforce('identity:get_domain_config_default', edge.caller(req));
      const p = req.params as Params;
      return { config: configs.defaults(p.group, p.option) };
    });
  }

  /** Policy first, then the domain (404), as Keystone orders them. */
  const target = async (req: FastifyRequest, action: string): Promise<Params> => {
    enforce(action, edge.caller(req));
    const p = req.params as Params;
    await identity.domains.get(p.id);
    return p;
  };
  const body = (req: FastifyRequest) => edge.json(req).config ?? {};

  edge.route('PUT', '/v3/domains/:id/config', async (req, reply) => {
    const p = await target(req, 'identity:create_domain_config');
    const { config, created } = await configs.create(p.id, body(req));
    if (created) reply.status(201);
    return { config };
  });
  for (const path of ['/v3/domains/:id/config', '/v3/domains/:id/config/:group', '/v3/domains/:id/config/:group/:option']) {
    edge.route('GET', path, async (req) => {
      const p = await target(req, 'identity:get_domain_config');
      return { config: await configs.get(p.id, p.group, p.option) };
    });
    edge.route('PATCH', path, async (req) => {
      const p = await target(req, 'identity:update_domain_config');
      return { config: await configs.update(p.id, body(req), p.group, p.option) };
    });
    edge.route('DELETE', path, async (req, reply) => {
      const p = await target(req, 'identity:delete_domain_config');
      await configs.delete(p.id, p.group, p.option);
      return IdentityEdge.noContent(reply);
    });
  }
}
