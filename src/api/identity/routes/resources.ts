import type { FastifyRequest } from 'fastify';
import { unauthorized } from '../../../core/errors.js';
import { DEFAULT_DOMAIN_ID, queryBool, type TokenInfo } from '../../../core/identity/model.js';
import { enforce, readerDomain } from '../../../core/identity/policy.js';
import { IdentityEdge } from '../edge.js';
import * as S from '../schemas.js';
import { domainView, projectView, roleView, userView } from '../views.js';

type Params = { id: string };

/** Where a create without `domain_id` goes: the token's domain, else the default domain. */
const defaultDomain = (caller: TokenInfo) => (caller.scope.kind === 'domain' ? caller.scope.domainId : DEFAULT_DOMAIN_ID);

/** Domains, projects, users and roles: Keystone's admin CRUD, with its policy and wording. */
export function resourceRoutes(edge: IdentityEdge): void {
  const { identity } = edge;
  const base = (req: FastifyRequest) => edge.base(req);
  const optBool = (req: FastifyRequest, name: string) => {
    const v = edge.query(req, name);
    return v === undefined ? undefined : queryBool(v);
  };

  // ------------------------------------------------------------ domains

  edge.route('GET', '/v3/domains', async (req) => {
    enforce('identity:list_domains', edge.caller(req));
    const list = await identity.domains.list({ name: edge.query(req, 'name'), enabled: optBool(req, 'enabled') });
    return edge.collection(
      req,
      'domains',
      list.map((d) => domainView(base(req), d)),
    );
  });
  edge.route('POST', '/v3/domains', async (req, reply) => {
    enforce('identity:create_domain', edge.caller(req));
    const input = edge.member(req, 'domain', S.domainCreate);
    reply.status(201);
    return { domain: domainView(base(req), await identity.domains.create(input)) };
  });
  edge.route('GET', '/v3/domains/:id', async (req) => {
    const caller = edge.caller(req);
    const d = await identity.domains.get((req.params as Params).id);
    enforce('identity:get_domain', caller, { domainId: d.id });
    return { domain: domainView(base(req), d) };
  });
  edge.route('PATCH', '/v3/domains/:id', async (req) => {
    const caller = edge.caller(req);
    const { id } = req.params as Params;
    await identity.domains.get(id);
    enforce('identity:update_domain', caller, { domainId: id });
    const patch = edge.member(req, 'domain', S.domainUpdate);
    return { domain: domainView(base(req), await identity.domains.update(id, patch)) };
  });
  edge.route('DELETE', '/v3/domains/:id', async (req, reply) => {
    const caller = edge.caller(req);
    const { id } = req.params as Params;
    await identity.domains.get(id);
    enforce('identity:delete_domain', caller, { domainId: id });
    await identity.domains.delete(id);
    return IdentityEdge.noContent(reply);
  });

  // ------------------------------------------------------------ projects

  edge.route('GET', '/v3/projects', async (req) => {
    const caller = edge.caller(req);
    const confined = readerDomain(caller);
    const domainId = edge.query(req, 'domain_id') ?? confined;
    enforce('identity:list_projects', caller, { domainId });
    // Projects acting as domains are listed under /v3/domains.
    if (edge.query(req, 'is_domain') !== undefined && queryBool(edge.query(req, 'is_domain')!)) return edge.collection(req, 'projects', []);
    const list = await identity.projects.list({
      name: edge.query(req, 'name'),
      domain_id: domainId,
      enabled: optBool(req, 'enabled'),
      parent_id: edge.query(req, 'parent_id'),
    });
    return edge.collection(
      req,
      'projects',
      list.map((p) => projectView(base(req), p)),
    );
  });
  edge.route('POST', '/v3/projects', async (req, reply) => {
    const caller = edge.caller(req);
    enforce('identity:create_project', caller);
    const input = edge.member(req, 'project', S.projectCreate);
    const domain_id = (input.domain_id as string | null | undefined) || defaultDomain(caller);
    reply.status(201);
    return { project: projectView(base(req), await identity.projects.create({ ...input, domain_id })) };
  });
  edge.route('GET', '/v3/projects/:id', async (req) => {
    const caller = edge.caller(req);
    const p = await identity.projects.get((req.params as Params).id);
    enforce('identity:get_project', caller, { projectId: p.id, projectDomainId: p.domain_id });
    return { project: projectView(base(req), p) };
  });
  edge.route('PATCH', '/v3/projects/:id', async (req) => {
    const caller = edge.caller(req);
    const p = await identity.projects.get((req.params as Params).id);
    enforce('identity:update_project', caller, { projectId: p.id, projectDomainId: p.domain_id });
    const patch = edge.member(req, 'project', S.projectUpdate);
    return { project: projectView(base(req), await identity.projects.update(p.id, patch), { withExtra: true }) };
  });
  edge.route('DELETE', '/v3/projects/:id', async (req, reply) => {
    const caller = edge.caller(req);
    const p = await identity.projects.get((req.params as Params).id);
    enforce('identity:delete_project', caller, { projectId: p.id, projectDomainId: p.domain_id });
    await identity.projects.delete(p.id);
    return IdentityEdge.noContent(reply);
  });

  // ------------------------------------------------------------ users

  edge.route('GET', '/v3/users', async (req) => {
    const caller = edge.caller(req);
    const domainId = edge.query(req, 'domain_id') ?? readerDomain(caller);
    enforce('identity:list_users', caller, { domainId });
    const list = await identity.users.list({ name: edge.query(req, 'name'), domain_id: domainId, enabled: optBool(req, 'enabled') });
    return edge.collection(
      req,
      'users',
      list.map((u) => userView(base(req), u)),
    );
  });
  edge.route('POST', '/v3/users', async (req, reply) => {
    const caller = edge.caller(req);
    enforce('identity:create_user', caller);
    const input = edge.member(req, 'user', S.userCreate);
    const domain_id = (input.domain_id as string | undefined) || defaultDomain(caller);
    reply.status(201);
    return { user: userView(base(req), await identity.users.create({ ...input, domain_id })) };
  });
  edge.route('GET', '/v3/users/:id', async (req) => {
    const caller = edge.caller(req);
    const u = await identity.users.get((req.params as Params).id);
    enforce('identity:get_user', caller, { userId: u.id, userDomainId: u.domain_id });
    return { user: userView(base(req), u) };
  });
  edge.route('PATCH', '/v3/users/:id', async (req) => {
    const caller = edge.caller(req);
    const u = await identity.users.get((req.params as Params).id);
    enforce('identity:update_user', caller, { userId: u.id, userDomainId: u.domain_id });
    const patch = edge.member(req, 'user', S.userUpdate);
    return { user: userView(base(req), await identity.users.update(u.id, patch), { withExtra: true }) };
  });
  edge.route('DELETE', '/v3/users/:id', async (req, reply) => {
    const caller = edge.caller(req);
    const u = await identity.users.get((req.params as Params).id);
    enforce('identity:delete_user', caller, { userId: u.id, userDomainId: u.domain_id });
    await identity.users.delete(u.id);
    return IdentityEdge.noContent(reply);
  });
  // Self-service: no token needed (a user whose password expired must be able to change it).
  edge.route('POST', '/v3/users/:id/password', async (req, reply) => {
    const input = edge.member(req, 'user', S.passwordChange) as { original_password: string; password: string };
    const { id } = req.params as Params;
    if (!(await identity.users.find(id))) throw unauthorized();
    await identity.users.changePassword(id, input.original_password, input.password);
    return IdentityEdge.noContent(reply);
  });
  edge.route('GET', '/v3/users/:id/projects', async (req) => {
    const caller = edge.caller(req);
    const u = await identity.users.get((req.params as Params).id);
    enforce('identity:list_user_projects', caller, { userId: u.id, userDomainId: u.domain_id });
    const ids = await identity.assignments.targetsOf(u.id, 'project');
    const list = await identity.projects.list({
      ids,
      name: edge.query(req, 'name'),
      domain_id: edge.query(req, 'domain_id'),
      enabled: optBool(req, 'enabled'),
    });
    return edge.collection(
      req,
      'projects',
      list.map((p) => projectView(base(req), p)),
    );
  });

  // ------------------------------------------------------------ roles

  edge.route('GET', '/v3/roles', async (req) => {
    enforce('identity:list_roles', edge.caller(req));
    const list = await identity.roles.list({ name: edge.query(req, 'name'), domain_id: edge.query(req, 'domain_id') });
    return edge.collection(
      req,
      'roles',
      list.map((r) => roleView(base(req), r)),
    );
  });
  edge.route('POST', '/v3/roles', async (req, reply) => {
    enforce('identity:create_role', edge.caller(req));
    const input = edge.member(req, 'role', S.roleCreate);
    reply.status(201);
    return { role: roleView(base(req), await identity.roles.create(input)) };
  });
  edge.route('GET', '/v3/roles/:id', async (req) => {
    enforce('identity:get_role', edge.caller(req));
    return { role: roleView(base(req), await identity.roles.get((req.params as Params).id)) };
  });
  edge.route('PATCH', '/v3/roles/:id', async (req) => {
    enforce('identity:update_role', edge.caller(req));
    const { id } = req.params as Params;
    await identity.roles.get(id);
    const patch = edge.member(req, 'role', S.roleUpdate);
    return { role: roleView(base(req), await identity.roles.update(id, patch)) };
  });
  edge.route('DELETE', '/v3/roles/:id', async (req, reply) => {
    enforce('identity:delete_role', edge.caller(req));
    await identity.roles.delete((req.params as Params).id);
    return IdentityEdge.noContent(reply);
  });
}
