import type { FastifyRequest } from 'fastify';
import { forbidden, notFound } from '../../../core/identity/errors.js';
import type { TokenInfo } from '../../../core/identity/model.js';
import { enforce } from '../../../core/identity/policy.js';
import type { Trust } from '../../../core/identity/trusts.js';
import { IdentityEdge } from '../edge.js';
import * as S from '../schemas.js';
import { roleView, trustView } from '../views.js';

type Params = { id: string };
type RoleParams = { id: string; role: string };

/**
 * keystone/api/trusts.py _check_delegated_token: a token from a restricted application
 * credential may not manage trusts.
 */
function checkDelegated(caller: TokenInfo): void {
  if (caller.appCred?.restricted) throw forbidden();
}

/** OS-TRUST: create, list, show, delete trusts and read their roles. */
export function trustRoutes(edge: IdentityEdge): void {
  const { identity } = edge;
  const base = (req: FastifyRequest) => edge.base(req);
  const T = '/v3/OS-TRUST/trusts';
  const parties = (t: Trust) => ({ trustorId: t.trustor_user_id, trusteeId: t.trustee_user_id });

  edge.route('POST', T, async (req, reply) => {
    const caller = edge.caller(req);
    const body = edge.json(req).trust;
    const trustor = body && typeof body === 'object' ? (body as Record<string, unknown>).trustor_user_id : undefined;
    enforce('identity:create_trust', caller, { trustorId: typeof trustor === 'string' ? trustor : undefined });
    const input = edge.member(req, 'trust', S.trustCreate);
    checkDelegated(caller);
    const trust = await identity.trusts.create(caller.user.id, input, caller.trust?.id);
    reply.status(201);
    return { trust: trustView(base(req), trust, { withRoles: true }) };
  });

  edge.route('GET', T, async (req) => {
    const caller = edge.caller(req);
    const trustorId = edge.query(req, 'trustor_user_id');
    const trusteeId = edge.query(req, 'trustee_user_id');
    if (trustorId) enforce('identity:list_trusts_for_trustor', caller, { trustorId });
    else if (trusteeId) enforce('identity:list_trusts_for_trustee', caller, { trusteeId });
    else enforce('identity:list_trusts', caller);
    checkDelegated(caller);
    const list = await identity.trusts.list({ trustorId: trustorId || undefined, trusteeId: trustorId ? undefined : trusteeId || undefined });
    return edge.collection(
      req,
      'trusts',
      list.map((t) => trustView(base(req), t, { withRoles: false })),
    );
  });

  /** Keystone builds the policy target from the trust (404 first when it does not exist). */
  const target = async (req: FastifyRequest, action: string): Promise<Trust> => {
    const caller = edge.caller(req);
    const t = await identity.trusts.get((req.params as Params).id);
    enforce(action, caller, parties(t));
    checkDelegated(caller);
    return t;
  };

  edge.route('GET', `${T}/:id`, async (req) => ({ trust: trustView(base(req), await target(req, 'identity:get_trust'), { withRoles: true }) }));
  edge.route('DELETE', `${T}/:id`, async (req, reply) => {
    const t = await target(req, 'identity:delete_trust');
    await identity.trusts.delete(t.id);
    return IdentityEdge.noContent(reply);
  });
  edge.route('GET', `${T}/:id/roles`, async (req) => {
    const t = await target(req, 'identity:list_roles_for_trust');
    return { roles: t.roles.map((r) => roleView(base(req), r)), links: { self: `${base(req)}/v3/${t.id}/roles`, next: null, previous: null } };
  });
  edge.route('GET', `${T}/:id/roles/:role`, async (req) => {
    const t = await target(req, 'identity:get_role_for_trust');
    const { role } = req.params as RoleParams;
    const r = t.roles.find((x) => x.id === role);
    if (!r) throw notFound('role', role);
    return { role: roleView(base(req), r) };
  });
}
