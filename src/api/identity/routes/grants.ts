import type { FastifyRequest } from 'fastify';
import { type Actor, type ActorType, type Assignment, SYSTEM_ALL, type TargetType } from '../../../core/identity/assignments.js';
import { DomainError } from '../../../core/errors.js';
import { validationError } from '../../../core/identity/errors.js';
import type { Role } from '../../../core/identity/model.js';
import { enforce, type PolicyTarget, readerDomain } from '../../../core/identity/policy.js';
import { IdentityEdge } from '../edge.js';
import { type AssignmentNames, assignmentView, roleView } from '../views.js';

type GrantParams = { target?: string; actor: string; role?: string };

/** Keystone's DomainSpecificRoleMismatch (a Forbidden with its own words). */
const roleDomainMismatch = (projectId: string, roleId: string) =>
  new DomainError('forbidden', 'DomainSpecificRoleMismatch', `Project ${projectId} must be in the same domain as the role ${roleId} being assigned.`);

/** Role grants (project, domain, system; to users and groups), the role assignment list and implied-role rules. */
export function grantRoutes(edge: IdentityEdge): void {
  const { identity } = edge;

  /**
   * Resolve a grant's role, actor and target as Keystone builds its policy target: each unknown
   * id is a 404, in that order, before the policy check. A revoke may name an actor that is gone.
   */
  const resolve = async (
    type: TargetType,
    actorType: ActorType,
    p: GrantParams,
    allowMissingActor = false,
  ): Promise<PolicyTarget & { roleDomain?: string | null }> => {
    const role = p.role !== undefined ? await identity.roles.get(p.role) : undefined;
    const target: PolicyTarget & { roleDomain?: string | null } = { roleDomain: role?.domain_id };
    if (actorType === 'user') {
      const user = allowMissingActor ? await identity.users.find(p.actor) : await identity.users.get(p.actor);
      target.userId = p.actor;
      target.userDomainId = user?.domain_id;
    } else {
      const group = allowMissingActor ? await identity.groups.find(p.actor) : await identity.groups.get(p.actor);
      target.groupDomainId = group?.domain_id;
    }
    if (type === 'project') {
      const project = await identity.projects.get(p.target!);
      target.projectId = project.id;
      target.projectDomainId = project.domain_id;
    } else if (type === 'domain') {
      target.domainId = (await identity.domains.get(p.target!)).id;
    }
    return target;
  };

  for (const actorType of ['user', 'group'] as const) {
    const grantPaths: Array<[TargetType, string]> = [
      ['project', `/v3/projects/:target/${actorType}s/:actor/roles`],
      ['domain', `/v3/domains/:target/${actorType}s/:actor/roles`],
      ['system', `/v3/system/${actorType}s/:actor/roles`],
    ];
    for (const [type, path] of grantPaths) {
      const action = (verb: 'check' | 'list' | 'create' | 'revoke') =>
        type === 'system'
          ? `identity:${verb === 'list' ? 'list' : verb}_system_grant${verb === 'list' ? 's' : ''}_for_${actorType}`
          : `identity:${verb}_grant${verb === 'list' ? 's' : ''}`;
      const targetId = (p: GrantParams) => (type === 'system' ? SYSTEM_ALL : p.target!);
      const actor = (p: GrantParams): Actor => ({ type: actorType, id: p.actor });

      edge.route('GET', path, async (req) => {
        const caller = edge.caller(req);
        const p = req.params as GrantParams;
        enforce(action('list'), caller, await resolve(type, actorType, p));
        const roles = await identity.assignments.grants(actor(p), type, targetId(p));
        return edge.collection(
          req,
          'roles',
          roles.map((r: Role) => roleView(edge.base(req), r)),
        );
      });
      edge.route(['GET'], `${path}/:role`, async (req, reply) => {
        const caller = edge.caller(req);
        const p = req.params as GrantParams;
        enforce(action('check'), caller, await resolve(type, actorType, p));
        await identity.assignments.check(actor(p), type, targetId(p), p.role!);
        return IdentityEdge.noContent(reply);
      });
      edge.route('PUT', `${path}/:role`, async (req, reply) => {
        const caller = edge.caller(req);
        const p = req.params as GrantParams;
        const target = await resolve(type, actorType, p);
        enforce(action('create'), caller, target);
        if (type === 'project' && target.roleDomain && target.roleDomain !== target.projectDomainId) throw roleDomainMismatch(p.target!, p.role!);
        await identity.assignments.grant(actor(p), type, targetId(p), p.role!);
        return IdentityEdge.noContent(reply);
      });
      edge.route('DELETE', `${path}/:role`, async (req, reply) => {
        const caller = edge.caller(req);
        const p = req.params as GrantParams;
        enforce(action('revoke'), caller, await resolve(type, actorType, p, true));
        await identity.assignments.revoke(actor(p), type, targetId(p), p.role!);
        return IdentityEdge.noContent(reply);
      });
    }
  }

  // ------------------------------------------------------------ OS-INHERIT

  /**
   * Grants the projects below a domain or project inherit (keystone/api/os_inherit.py). Keystone
   * builds their policy target leniently (an unknown entity is an empty one, so a caller the policy
   * refuses gets 403 whatever the ids), then finds each entity (404) as it grants, checks or revokes.
   */
  const lenient = async (type: 'domain' | 'project', actorType: ActorType, p: GrantParams): Promise<PolicyTarget> => {
    const found = async <T>(get: () => Promise<T>): Promise<T | undefined> => {
      try {
        return await get();
      } catch (e) {
        if (e instanceof DomainError && e.kind === 'not_found') return undefined;
        throw e;
      }
    };
    const target: PolicyTarget = {};
    if (actorType === 'user') {
      target.userId = p.actor;
      target.userDomainId = (await found(() => identity.users.get(p.actor)))?.domain_id;
    } else {
      target.groupDomainId = (await found(() => identity.groups.get(p.actor)))?.domain_id;
    }
    if (type === 'project') {
      const project = await found(() => identity.projects.get(p.target!));
      target.projectId = project?.id;
      target.projectDomainId = project?.domain_id;
    } else {
      target.domainId = (await found(() => identity.domains.get(p.target!)))?.id;
    }
    return target;
  };
  for (const actorType of ['user', 'group'] as const) {
    for (const type of ['domain', 'project'] as const) {
      const path = `/v3/OS-INHERIT/${type}s/:target/${actorType}s/:actor/roles/:role/inherited_to_projects`;
      const actor = (p: GrantParams): Actor => ({ type: actorType, id: p.actor });
      edge.route(['GET'], path, async (req, reply) => {
        const p = req.params as GrantParams;
        enforce('identity:check_grant', edge.caller(req), await lenient(type, actorType, p));
        await resolve(type, actorType, p);
        await identity.assignments.check(actor(p), type, p.target!, p.role!, true);
        return IdentityEdge.noContent(reply);
      });
      edge.route('PUT', path, async (req, reply) => {
        const p = req.params as GrantParams;
        enforce('identity:create_grant', edge.caller(req), await lenient(type, actorType, p));
        const target = await resolve(type, actorType, p);
        if (type === 'project' && target.roleDomain && target.roleDomain !== target.projectDomainId) throw roleDomainMismatch(p.target!, p.role!);
        await identity.assignments.grant(actor(p), type, p.target!, p.role!, undefined, true);
        return IdentityEdge.noContent(reply);
      });
      edge.route('DELETE', path, async (req, reply) => {
        const p = req.params as GrantParams;
        enforce('identity:revoke_grant', edge.caller(req), await lenient(type, actorType, p));
        await resolve(type, actorType, p, true);
        await identity.assignments.revoke(actor(p), type, p.target!, p.role!, true);
        return IdentityEdge.noContent(reply);
      });
    }
    // Only a domain's inherited grants are listed (Keystone has no list on a project).
    edge.route('GET', `/v3/OS-INHERIT/domains/:target/${actorType}s/:actor/roles/inherited_to_projects`, async (req) => {
      const p = req.params as GrantParams;
      enforce('identity:list_grants', edge.caller(req), await lenient('domain', actorType, p));
      await resolve('domain', actorType, p);
      const roles = await identity.assignments.grants({ type: actorType, id: p.actor }, 'domain', p.target!, true);
      return edge.collection(
        req,
        'roles',
        roles.map((r: Role) => roleView(edge.base(req), r)),
      );
    });
  }

  // ------------------------------------------------------------ GET /v3/role_assignments

  edge.route('GET', '/v3/role_assignments', async (req) => {
    const caller = edge.caller(req);
    const q = (n: string) => edge.query(req, n);
    const confined = readerDomain(caller);
    enforce('identity:list_role_assignments', caller, { domainId: confined });
    if (q('include_subtree') !== undefined && edge.flag(req, 'include_subtree') && !q('scope.project.id')) {
      throw validationError('scope.project.id must be specified if include_subtree is also specified');
    }
    if (q('scope.domain.id') && q('scope.project.id')) throw validationError('Specify a domain or project, not both');
    if (q('scope.domain.id') && q('scope.system')) throw validationError('Specify system or domain, not both');
    if (q('scope.project.id') && q('scope.system')) throw validationError('Specify system or project, not both');
    if (q('user.id') && q('group.id')) throw validationError('Specify a user or group, not both');
    const effective = edge.flag(req, 'effective');
    if (effective && q('group.id')) throw validationError('Combining effective and group filter will always result in an empty list.');
    // keystone/api/role_assignments.py _inherited_filter: `projects` selects inherited grants, any other value the others.
    const inheritedTo = q('scope.OS-INHERIT:inherited_to');

    let list = await identity.assignments.list({
      userId: q('user.id'),
      groupId: q('group.id'),
      roleId: q('role.id'),
      projectId: q('scope.project.id'),
      includeSubtree: edge.flag(req, 'include_subtree'),
      domainId: q('scope.domain.id'),
      system: q('scope.system') !== undefined,
      effective,
      ...(inheritedTo !== undefined ? { inherited: inheritedTo === 'projects' } : {}),
    });
    if (confined) {
      // A domain reader sees the assignments on its domain and on that domain's projects.
      const projects = new Set((await identity.projects.list({ domain_id: confined })).map((p) => p.id));
      list = list.filter((a) => (a.targetType === 'domain' && a.targetId === confined) || (a.targetType === 'project' && projects.has(a.targetId)));
    }
    const names = edge.flag(req, 'include_names') ? await namesFor(list) : undefined;
    return edge.collection(
      req,
      'role_assignments',
      list.map((a) => assignmentView(edge.base(req), a, names)),
    );
  });

  const namesFor = async (list: Assignment[]): Promise<AssignmentNames> => {
    const domains = new Map((await identity.domains.list()).map((d) => [d.id, d.name]));
    const users = await identity.users.list({ ids: [...new Set(list.flatMap((a) => (a.userId ? [a.userId] : [])))] });
    const groups = await identity.groups.list({ ids: [...new Set(list.flatMap((a) => (a.groupId ? [a.groupId] : [])))] });
    const projects = await identity.projects.list({ ids: [...new Set(list.filter((a) => a.targetType === 'project').map((a) => a.targetId))] });
    const roles = await identity.roles.list({ ids: [...new Set(list.map((a) => a.roleId))] });
    const ref = (domainId: string) => ({ id: domainId, name: domains.get(domainId) ?? '' });
    return {
      users: new Map(users.map((u) => [u.id, { name: u.name, domain: ref(u.domain_id) }])),
      groups: new Map(groups.map((g) => [g.id, { name: g.name, domain: ref(g.domain_id) }])),
      projects: new Map(projects.map((p) => [p.id, { name: p.name, domain: ref(p.domain_id) }])),
      domains,
      roles: new Map(roles.map((r) => [r.id, { name: r.name, ...(r.domain_id ? { domain: ref(r.domain_id) } : {}) }])),
    };
  };

  // ------------------------------------------------------------ implied roles

  const roleRef = (req: FastifyRequest, r: Role) => ({ id: r.id, links: { self: `${edge.base(req)}/v3/roles/${r.id}` }, name: r.name });
  type RuleParams = { prior: string; implied?: string };
  /** Keystone resolves both roles (404) before the policy check. */
  const ruleTarget = async (p: RuleParams) => {
    await identity.roles.get(p.prior);
    if (p.implied !== undefined) await identity.roles.get(p.implied);
  };
  const ruleView = async (req: FastifyRequest, priorId: string, impliedId: string) => {
    const { prior, implied } = await identity.roles.getRule(priorId, impliedId);
    return {
      role_inference: { prior_role: roleRef(req, prior), implies: roleRef(req, implied) },
      links: { self: `${edge.base(req)}/v3/roles/${priorId}/implies/${impliedId}` },
    };
  };

  edge.route('GET', '/v3/roles/:prior/implies', async (req) => {
    const caller = edge.caller(req);
    const p = req.params as RuleParams;
    await ruleTarget(p);
    enforce('identity:list_implied_roles', caller);
    const prior = await identity.roles.get(p.prior);
    const rules = (await identity.roles.rules()).filter((r) => r.prior_role_id === p.prior);
    const implied = await identity.roles.list({ ids: rules.map((r) => r.implied_role_id) });
    return {
      role_inference: { prior_role: roleRef(req, prior), implies: implied.map((r) => roleRef(req, r)) },
      links: { self: `${edge.base(req)}/v3/roles/${p.prior}/implies` },
    };
  });
  edge.route('GET', '/v3/roles/:prior/implies/:implied', async (req, reply) => {
    const caller = edge.caller(req);
    const p = req.params as Required<RuleParams>;
    await ruleTarget(p);
    if (req.method === 'HEAD') {
      enforce('identity:check_implied_role', caller);
      enforce('identity:get_implied_role', caller);
      await identity.roles.getRule(p.prior, p.implied);
      return IdentityEdge.noContent(reply);
    }
    enforce('identity:get_implied_role', caller);
    return ruleView(req, p.prior, p.implied);
  });
  edge.route('PUT', '/v3/roles/:prior/implies/:implied', async (req, reply) => {
    const caller = edge.caller(req);
    const p = req.params as Required<RuleParams>;
    await ruleTarget(p);
    enforce('identity:create_implied_role', caller);
    await identity.roles.createRule(p.prior, p.implied);
    reply.status(201);
    return ruleView(req, p.prior, p.implied);
  });
  edge.route('DELETE', '/v3/roles/:prior/implies/:implied', async (req, reply) => {
    const caller = edge.caller(req);
    const p = req.params as Required<RuleParams>;
    await ruleTarget(p);
    enforce('identity:delete_implied_role', caller);
    await identity.roles.deleteRule(p.prior, p.implied);
    return IdentityEdge.noContent(reply);
  });
  edge.route('GET', '/v3/role_inferences', async (req) => {
    enforce('identity:list_role_inference_rules', edge.caller(req));
    const roles = new Map((await identity.roles.list()).map((r) => [r.id, r]));
    const byPrior = new Map<string, Role[]>();
    for (const r of await identity.roles.rules()) byPrior.set(r.prior_role_id, [...(byPrior.get(r.prior_role_id) ?? []), roles.get(r.implied_role_id)!]);
    return {
      role_inferences: [...byPrior].map(([prior, implied]) => ({
        prior_role: roleRef(req, roles.get(prior)!),
        implies: implied.map((r) => roleRef(req, r)),
      })),
    };
  });
}
