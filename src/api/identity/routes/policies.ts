import type { FastifyRequest } from 'fastify';
import type { PolicyBlob } from '../../../core/identity/policies.js';
import { enforce } from '../../../core/identity/policy.js';
import { IdentityEdge } from '../edge.js';
import * as S from '../schemas.js';

type Params = { id: string };

/** /v3/policies: Keystone's (deprecated) policy-blob store. */
export function policyRoutes(edge: IdentityEdge): void {
  const { identity } = edge;
  const view = (req: FastifyRequest, p: PolicyBlob) => ({
    ...p.extra,
    id: p.id,
    blob: p.blob,
    type: p.type,
    links: { self: `${edge.base(req)}/v3/policies/${p.id}` },
  });

  edge.route('GET', '/v3/policies', async (req) => {
    enforce('identity:list_policies', edge.caller(req));
    return edge.filtered(
      req,
      'policies',
      (await identity.policies.list()).map((p) => view(req, p)),
      ['type'],
    );
  });
  edge.route('POST', '/v3/policies', async (req, reply) => {
    enforce('identity:create_policy', edge.caller(req));
    const input = edge.member(req, 'policy', S.policyCreate);
    reply.status(201);
    return { policy: view(req, await identity.policies.create(input)) };
  });
  edge.route('GET', '/v3/policies/:id', async (req) => {
    enforce('identity:get_policy', edge.caller(req));
    return { policy: view(req, await identity.policies.get((req.params as Params).id)) };
  });
  edge.route('PATCH', '/v3/policies/:id', async (req) => {
    enforce('identity:update_policy', edge.caller(req));
    const patch = edge.member(req, 'policy', S.policyUpdate);
    return { policy: view(req, await identity.policies.update((req.params as Params).id, patch)) };
  });
  edge.route('DELETE', '/v3/policies/:id', async (req, reply) => {
    enforce('identity:delete_policy', edge.caller(req));
    await identity.policies.delete((req.params as Params).id);
    return IdentityEdge.noContent(reply);
  });
}
