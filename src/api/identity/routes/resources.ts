import type { FastifyRequest } from 'fastify';
import { unauthorized } from '../../../core/errors.js';
import { DEFAULT_DOMAIN_ID, queryBool, type TokenInfo } from '../../../core/identity/model.js';
import { enforce, readerDomain } from '../../../core/identity/policy.js';
import { notFound, validationError } from '../../../core/identity/errors.js';
import type { Project } from '../../../core/identity/model.js';
import { IdentityEdge } from '../edge.js';
import * as S from '../schemas.js';
import { validator } from '../validate.js';
import { domainAsProjectView, domainView, projectView, roleView, userView } from '../views.js';

const validTag = validator(S.projectTag);
const validTags = validator(S.projectTags);

/** Keystone's tag filters on project lists: tags (all), tags-any, not-tags (not all), not-tags-any (none). */
function tagFilter(req: FastifyRequest): (p: { tags: string[] }) => boolean {
  const q = req.query as Record<string, string | string[] | undefined>;
  const list = (name: string) => {
    const v = q[name];
    if (v === undefined) return undefined;
    return (Array.isArray(v) ? v.join(',') : v).split(',').filter((t) => t !== '');
  };
  const all = list('tags');
  const any = list('tags-any');
  const notAll = list('not-tags');
  const notAny = list('not-tags-any');
  return (p) => {
    const have = new Set(p.tags);
    if (all && !all.every((t) => have.has(t))) return false;
    if (any && !any.some((t) => have.has(t))) return false;
    if (notAll?.length && notAll.every((t) => have.has(t))) return false;
    if (notAny?.some((t) => have.has(t))) return false;
    return true;
  };
}

/** Domain names compare without case, as DevStack's MySQL does. */
const DOMAIN_NAME = new Set(['name']);

type Params = { id: string };

/** Where a create without `domain_id` goes: the token's domain, else the default domain. */
const defaultDomain = (caller: TokenInfo) => (caller.scope.kind === 'domain' ? caller.scope.domainId : DEFAULT_DOMAIN_ID);

/** Domains, projects, users and roles: Keystone's admin CRUD, with its policy and wording. */
export function resourceRoutes(edge: IdentityEdge): void {
  const { identity } = edge;
  const base = (req: FastifyRequest) => edge.base(req);

  // ------------------------------------------------------------ domains

  edge.route('GET', '/v3/domains', async (req) => {
    enforce('identity:list_domains', edge.caller(req));
    const list = await identity.domains.list();
    return edge.filtered(
      req,
      'domains',
      list.map((d) => domainView(base(req), d)),
      ['name', 'enabled'],
      DOMAIN_NAME,
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
    const isDomain = edge.query(req, 'is_domain');
    const tagged = tagFilter(req);
    const supported = ['domain_id', 'enabled', 'name', 'parent_id'];
    // Projects acting as domains are the domains; others are the projects (Keystone's default is_domain=0).
    if (isDomain !== undefined && queryBool(isDomain)) {
      const domains = (await identity.domains.list()).filter(tagged).map((d) => domainAsProjectView(base(req), d));
      return edge.filtered(req, 'projects', domains, supported);
    }
    const list = await identity.projects.list({ domain_id: confined });
    return edge.filtered(
      req,
      'projects',
      list.filter(tagged).map((p) => projectView(base(req), p)),
      supported,
    );
  });
  edge.route('POST', '/v3/projects', async (req, reply) => {
    const caller = edge.caller(req);
    enforce('identity:create_project', caller);
    const input = edge.member(req, 'project', S.projectCreate);
    reply.status(201);
    if (input.is_domain === true) {
      // A project acting as a domain is a domain (Keystone keeps both in one table).
      if (input.domain_id) throw validationError('Only root projects are allowed to act as domains.');
      const { is_domain: _i, domain_id: _d, parent_id: _p, options: _o, ...rest } = input;
      return { project: domainAsProjectView(base(req), await identity.domains.create(rest)) };
    }
    const domain_id = (input.domain_id as string | null | undefined) || defaultDomain(caller);
    return { project: projectView(base(req), await identity.projects.create({ ...input, domain_id })) };
  });
  /** A project, or a domain seen as a project (is_domain); Keystone's 404 names the project. */
  const projectOrDomain = async (id: string) => {
    const p = await identity.projects.find(id);
    if (p) return { project: p };
    const d = await identity.domains.find(id);
    if (d) return { domain: d };
    throw notFound('project', id);
  };
  edge.route('GET', '/v3/projects/:id', async (req) => {
    const caller = edge.caller(req);
    const found = await projectOrDomain((req.params as Params).id);
    if (found.domain) {
      enforce('identity:get_project', caller, { projectId: found.domain.id, projectDomainId: found.domain.id });
      return { project: domainAsProjectView(base(req), found.domain) };
    }
    const p = found.project!;
    enforce('identity:get_project', caller, { projectId: p.id, projectDomainId: p.domain_id });
    return { project: projectView(base(req), p) };
  });
  edge.route('PATCH', '/v3/projects/:id', async (req) => {
    const caller = edge.caller(req);
    const found = await projectOrDomain((req.params as Params).id);
    if (found.domain) {
      enforce('identity:update_project', caller, { projectId: found.domain.id, projectDomainId: found.domain.id });
      const { is_domain: _i, domain_id: _d, parent_id: _p, options: _o, ...patch } = edge.member(req, 'project', S.projectUpdate);
      return { project: domainAsProjectView(base(req), await identity.domains.update(found.domain.id, patch)) };
    }
    const p = found.project!;
    enforce('identity:update_project', caller, { projectId: p.id, projectDomainId: p.domain_id });
    const patch = edge.member(req, 'project', S.projectUpdate);
    return { project: projectView(base(req), await identity.projects.update(p.id, patch), { withExtra: true }) };
  });
  edge.route('DELETE', '/v3/projects/:id', async (req, reply) => {
    const caller = edge.caller(req);
    const found = await projectOrDomain((req.params as Params).id);
    if (found.domain) {
      enforce('identity:delete_project', caller, { projectId: found.domain.id, projectDomainId: found.domain.id });
      await identity.domains.delete(found.domain.id);
      return IdentityEdge.noContent(reply);
    }
    const p = found.project!;
    enforce('identity:delete_project', caller, { projectId: p.id, projectDomainId: p.domain_id });
    await identity.projects.delete(p.id);
    return IdentityEdge.noContent(reply);
  });

  // ------------------------------------------------------------ project tags

  type TagParams = { id: string; tag: string };
  const tagTarget = async (req: FastifyRequest, action: string): Promise<Project> => {
    const caller = edge.caller(req);
    const p = await identity.projects.get((req.params as TagParams).id);
    enforce(action, caller, { projectId: p.id, projectDomainId: p.domain_id });
    return p;
  };
  const tagsBody = (req: FastifyRequest, tags: string[]) => ({ tags, links: { self: edge.selfUrl(req) } });
  edge.route('GET', '/v3/projects/:id/tags', async (req) => {
    const p = await tagTarget(req, 'identity:list_project_tags');
    return tagsBody(req, p.tags);
  });
  edge.route('PUT', '/v3/projects/:id/tags', async (req) => {
    const p = await tagTarget(req, 'identity:update_project_tags');
    const tags = edge.json(req).tags ?? {};
    validTags(tags);
    const list = (tags as string[]).map((t) => t.trim());
    await identity.projects.update(p.id, { tags: list });
    return tagsBody(req, list);
  });
  edge.route('DELETE', '/v3/projects/:id/tags', async (req, reply) => {
    const p = await tagTarget(req, 'identity:delete_project_tags');
    await identity.projects.update(p.id, { tags: [] });
    return IdentityEdge.noContent(reply);
  });
  edge.route('GET', '/v3/projects/:id/tags/:tag', async (req, reply) => {
    const p = await tagTarget(req, 'identity:get_project_tag');
    const { tag } = req.params as TagParams;
    if (!p.tags.includes(tag)) throw notFound('project tag', tag);
    return IdentityEdge.noContent(reply);
  });
  edge.route('PUT', '/v3/projects/:id/tags/:tag', async (req, reply) => {
    const p = await tagTarget(req, 'identity:create_project_tag');
    const { tag } = req.params as TagParams;
    validTag(tag);
    validTags([...p.tags, tag]);
    await identity.projects.update(p.id, { tags: [...p.tags, tag.trim()] });
    reply.status(201).header('location', `${base(req)}/v3/projects/${p.id}/tags/${tag}`);
    return reply.send();
  });
  edge.route('DELETE', '/v3/projects/:id/tags/:tag', async (req, reply) => {
    const p = await tagTarget(req, 'identity:delete_project_tag');
    const { tag } = req.params as TagParams;
    if (!p.tags.includes(tag)) throw notFound('project tag', tag);
    await identity.projects.update(p.id, { tags: p.tags.filter((t) => t !== tag) });
    return IdentityEdge.noContent(reply);
  });

  // ------------------------------------------------------------ users

  edge.route('GET', '/v3/users', async (req) => {
    const caller = edge.caller(req);
    const confined = readerDomain(caller);
    const domainId = edge.query(req, 'domain_id') ?? confined;
    enforce('identity:list_users', caller, { domainId });
    const list = await identity.users.list({ domain_id: confined });
    return edge.filtered(
      req,
      'users',
      list.map((u) => userView(base(req), u)),
      ['domain_id', 'enabled', 'name', 'password_expires_at'],
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
    const list = await identity.projects.list({ ids });
    return edge.filtered(
      req,
      'projects',
      list.map((p) => projectView(base(req), p)),
      ['domain_id', 'enabled', 'name'],
    );
  });

  // ------------------------------------------------------------ roles

  // Roles owned by a domain are checked with Keystone's *_domain_role rules.
  const roleAction = (verb: string, domainRole: boolean) => `identity:${verb}_${domainRole ? 'domain_role' : 'role'}`;
  edge.route('GET', '/v3/roles', async (req) => {
    const domainId = edge.query(req, 'domain_id');
    enforce(domainId ? 'identity:list_domain_roles' : 'identity:list_roles', edge.caller(req));
    const list = await identity.roles.list({ domain_id: domainId || null });
    return edge.filtered(
      req,
      'roles',
      list.map((r) => roleView(base(req), r)),
      ['name'],
    );
  });
  edge.route('POST', '/v3/roles', async (req, reply) => {
    const body = edge.json(req).role;
    const domainRole = !!body && typeof body === 'object' && !!(body as Record<string, unknown>).domain_id;
    enforce(roleAction('create', domainRole), edge.caller(req));
    const input = edge.member(req, 'role', S.roleCreate);
    reply.status(201);
    return { role: roleView(base(req), await identity.roles.create(input)) };
  });
  // Keystone looks the role up first but checks policy (the global rule when it is missing) before its 404.
  edge.route('GET', '/v3/roles/:id', async (req) => {
    const { id } = req.params as Params;
    const role = await identity.roles.find(id);
    enforce(roleAction('get', !!role?.domain_id), edge.caller(req));
    return { role: roleView(base(req), role ?? (await identity.roles.get(id))) };
  });
  edge.route('PATCH', '/v3/roles/:id', async (req) => {
    const caller = edge.caller(req);
    const { id } = req.params as Params;
    const role = await identity.roles.find(id);
    enforce(roleAction('update', !!role?.domain_id), caller);
    await identity.roles.get(id);
    const patch = edge.member(req, 'role', S.roleUpdate);
    return { role: roleView(base(req), await identity.roles.update(id, patch)) };
  });
  edge.route('DELETE', '/v3/roles/:id', async (req, reply) => {
    const caller = edge.caller(req);
    const role = await identity.roles.find((req.params as Params).id);
    enforce(roleAction('delete', !!role?.domain_id), caller);
    await identity.roles.delete((req.params as Params).id);
    return IdentityEdge.noContent(reply);
  });
}
