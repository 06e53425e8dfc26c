import type { FastifyRequest } from 'fastify';
import { DEFAULT_DOMAIN_ID } from '../../../core/identity/model.js';
import { enforce, readerDomain } from '../../../core/identity/policy.js';
import { IdentityEdge } from '../edge.js';
import * as S from '../schemas.js';
import { groupView, userView } from '../views.js';

type Params = { id: string };
type Member = { id: string; user: string };

/** Groups: CRUD, membership, a user's groups (keystone/api/groups.py, users.py). */
export function groupRoutes(edge: IdentityEdge): void {
  const { identity } = edge;
  const base = (req: FastifyRequest) => edge.base(req);

  edge.route('GET', '/v3/groups', async (req) => {
    const caller = edge.caller(req);
    const confined = readerDomain(caller);
    enforce('identity:list_groups', caller, { domainId: edge.query(req, 'domain_id') ?? confined });
    const list = await identity.groups.list({ domain_id: confined });
    return edge.filtered(
      req,
      'groups',
      list.map((g) => groupView(base(req), g)),
      ['domain_id', 'name'],
    );
  });
  edge.route('POST', '/v3/groups', async (req, reply) => {
    const caller = edge.caller(req);
    enforce('identity:create_group', caller);
    const input = edge.member(req, 'group', S.groupCreate);
    const domain_id = (input.domain_id as string | undefined) || (caller.scope.kind === 'domain' ? caller.scope.domainId : DEFAULT_DOMAIN_ID);
    reply.status(201);
    return { group: groupView(base(req), await identity.groups.create({ ...input, domain_id })) };
  });
  edge.route('GET', '/v3/groups/:id', async (req) => {
    const caller = edge.caller(req);
    const g = await identity.groups.get((req.params as Params).id);
    enforce('identity:get_group', caller, { groupDomainId: g.domain_id });
    return { group: groupView(base(req), g) };
  });
  edge.route('PATCH', '/v3/groups/:id', async (req) => {
    const caller = edge.caller(req);
    const g = await identity.groups.get((req.params as Params).id);
    enforce('identity:update_group', caller, { groupDomainId: g.domain_id });
    const patch = edge.member(req, 'group', S.groupUpdate);
    return { group: groupView(base(req), await identity.groups.update(g.id, patch)) };
  });
  edge.route('DELETE', '/v3/groups/:id', async (req, reply) => {
    enforce('identity:delete_group', edge.caller(req));
    await identity.groups.delete((req.params as Params).id);
    return IdentityEdge.noContent(reply);
  });

  edge.route('GET', '/v3/groups/:id/users', async (req) => {
    const caller = edge.caller(req);
    const g = await identity.groups.find((req.params as Params).id);
    enforce('identity:list_users_in_group', caller, { groupDomainId: g?.domain_id });
    const users = await identity.groups.members((req.params as Params).id);
    return edge.filtered(
      req,
      'users',
      users.map((u) => userView(base(req), u)),
      ['domain_id', 'enabled', 'name', 'password_expires_at'],
    );
  });
  /** Keystone's membership target: the group and user when they exist; unknown ids are 404 after policy. */
  const memberTarget = async (p: Member) => {
    const g = await identity.groups.find(p.id);
    const u = await identity.users.find(p.user);
    return { groupDomainId: g?.domain_id, userId: u?.id, userDomainId: u?.domain_id };
  };
  edge.route('GET', '/v3/groups/:id/users/:user', async (req, reply) => {
    const p = req.params as Member;
    enforce('identity:check_user_in_group', edge.caller(req), await memberTarget(p));
    await identity.groups.checkMember(p.id, p.user);
    return IdentityEdge.noContent(reply);
  });
  edge.route('PUT', '/v3/groups/:id/users/:user', async (req, reply) => {
    const p = req.params as Member;
    enforce('identity:add_user_to_group', edge.caller(req), await memberTarget(p));
    await identity.groups.addMember(p.id, p.user);
    return IdentityEdge.noContent(reply);
  });
  edge.route('DELETE', '/v3/groups/:id/users/:user', async (req, reply) => {
    const p = req.params as Member;
    enforce('identity:remove_user_from_group', edge.caller(req), await memberTarget(p));
    await identity.groups.removeMember(p.id, p.user);
    return IdentityEdge.noContent(reply);
  });

  edge.route('GET', '/v3/users/:id/groups', async (req) => {
    const caller = edge.caller(req);
    const u = await identity.users.get((req.params as Params).id);
    enforce('identity:list_groups_for_user', caller, { userId: u.id, userDomainId: u.domain_id });
    const groups = await identity.groups.ofUser(u.id);
    return edge.filtered(
      req,
      'groups',
      groups.map((g) => {
        const { links, ...rest } = groupView(base(req), g);
        return { ...rest, membership_expires_at: null, links };
      }),
      ['name'],
    );
  });
}
