import type { FastifyRequest } from 'fastify';
import { LIMIT_MODEL } from '../../../core/identity/limits.js';
import { enforce } from '../../../core/identity/policy.js';
import { IdentityEdge } from '../edge.js';
import * as S from '../schemas.js';
import { validator } from '../validate.js';
import { limitView, registeredLimitView } from '../views.js';

type Params = { id: string };
const validRegistered = validator(S.registeredLimitsCreate);
const validLimits = validator(S.limitsCreate);

/** Unified limits: registered limits and project/domain limits (keystone/api/limits.py, registered_limits.py). */
export function limitRoutes(edge: IdentityEdge): void {
  const { identity } = edge;
  const base = (req: FastifyRequest) => edge.base(req);

  edge.route('GET', '/v3/registered_limits', async (req) => {
    enforce('identity:list_registered_limits', edge.caller(req));
    const list = (await identity.limits.registered()).map((r) => registeredLimitView(base(req), r));
    return edge.filtered(req, 'registered_limits', list, ['service_id', 'region_id', 'resource_name']);
  });
  edge.route('POST', '/v3/registered_limits', async (req, reply) => {
    enforce('identity:create_registered_limits', edge.caller(req));
    const body = edge.json(req).registered_limits ?? {};
    validRegistered(body);
    const created = await identity.limits.createRegistered(body as Array<Record<string, unknown>>);
    reply.status(201);
    return { registered_limits: created.map((r) => registeredLimitView(base(req), r)) };
  });
  edge.route('GET', '/v3/registered_limits/:id', async (req) => {
    enforce('identity:get_registered_limit', edge.caller(req));
    return { registered_limit: registeredLimitView(base(req), await identity.limits.registeredLimit((req.params as Params).id)) };
  });
  edge.route('PATCH', '/v3/registered_limits/:id', async (req) => {
    enforce('identity:update_registered_limit', edge.caller(req));
    const patch = edge.member(req, 'registered_limit', S.registeredLimitUpdate);
    return { registered_limit: registeredLimitView(base(req), await identity.limits.updateRegistered((req.params as Params).id, patch)) };
  });
  edge.route('DELETE', '/v3/registered_limits/:id', async (req, reply) => {
    enforce('identity:delete_registered_limit', edge.caller(req));
    await identity.limits.deleteRegistered((req.params as Params).id);
    return IdentityEdge.noContent(reply);
  });

  edge.route('GET', '/v3/limits/model', async (req) => {
    enforce('identity:get_limit_model', edge.caller(req));
    return { model: LIMIT_MODEL };
  });
  edge.route('GET', '/v3/limits', async (req) => {
    const caller = edge.caller(req);
    enforce('identity:list_limits', caller);
    let list = await identity.limits.limits();
    // A system token sees every limit; a domain token its domain's and its projects'; a project token its project's.
    if (caller.scope.kind === 'domain') {
      const projects = new Set((await identity.projects.list({ domain_id: caller.scope.domainId })).map((p) => p.id));
      const domainId = caller.scope.domainId;
      list = list.filter((l) => (l.project_id ? projects.has(l.project_id) : l.domain_id === domainId));
    } else if (caller.scope.kind === 'project') {
      const projectId = caller.scope.projectId;
      list = list.filter((l) => l.project_id === projectId);
    } else if (caller.scope.kind !== 'system') {
      list = [];
    }
    return edge.filtered(
      req,
      'limits',
      list.map((l) => limitView(base(req), l)),
      ['service_id', 'region_id', 'resource_name', 'project_id', 'domain_id'],
    );
  });
  edge.route('POST', '/v3/limits', async (req, reply) => {
    enforce('identity:create_limits', edge.caller(req));
    const body = edge.json(req).limits ?? {};
    validLimits(body);
    const created = await identity.limits.createLimits(body as Array<Record<string, unknown>>);
    reply.status(201);
    return { limits: created.map((l) => limitView(base(req), l)) };
  });
  edge.route('GET', '/v3/limits/:id', async (req) => {
    const caller = edge.caller(req);
    const l = await identity.limits.limit((req.params as Params).id);
    enforce('identity:get_limit', caller, { projectId: l.project_id ?? undefined, domainId: l.domain_id ?? undefined });
    return { limit: limitView(base(req), l) };
  });
  edge.route('PATCH', '/v3/limits/:id', async (req) => {
    enforce('identity:update_limit', edge.caller(req));
    const patch = edge.member(req, 'limit', S.limitUpdate);
    return { limit: limitView(base(req), await identity.limits.updateLimit((req.params as Params).id, patch)) };
  });
  edge.route('DELETE', '/v3/limits/:id', async (req, reply) => {
    enforce('identity:delete_limit', edge.caller(req));
    await identity.limits.deleteLimit((req.params as Params).id);
    return IdentityEdge.noContent(reply);
  });
}
