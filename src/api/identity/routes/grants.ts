import type { FastifyRequest } from 'fastify';
import { SYSTEM_ALL, type TargetType } from '../../../core/identity/assignments.js';
import { validationError } from '../../../core/identity/errors.js';
import type { Role } from '../../../core/identity/model.js';
import { enforce, type PolicyTarget, readerDomain } from '../../../core/identity/policy.js';
import { IdentityEdge } from '../edge.js';
import { type AssignmentNames, assignmentView, roleView } from '../views.js';

type GrantParams = { target?: string; user: string; role?: string };

/** Role grants (project, domain, system), the role assignment list and implied-role rules. */
export function grantRoutes(edge: IdentityEdge): void {
  const { identity } = edge;

  /**
   * Resolve a grant's role, user and target as Keystone builds its policy target: each unknown
   * id is a 404, in that order, before the policy check. A revoke may name a user that is gone.
   */
  const resolve = async (type: TargetType, p: GrantParams, allowMissingUser = false): Promise<PolicyTarget> => {
    if (p.role !== undefined) await identity.roles.get(p.role);
    const user = allowMissingUser ? await identity.users.find(p.user) : await identity.users.get(p.user);
    const target: PolicyTarget = { userId: p.user, userDomainId: user?.domain_id };
    if (type === 'project') {
      const project = await identity.projects.get(p.target!);
      target.projectId = project.id;
      target.projectDomainId = project.domain_id;
    } else if (type === 'domain') {
      target.domainId = (await identity.domains.get(p.target!)).id;
    }
    return target;
  };

  const grantPaths: Array<[TargetType, string]> = [
    ['project', '/v3/projects/:target/users/:user/roles'],
    ['domain', '/v3/domains/:target/users/:user/roles'],
    ['system', '/v3/system/users/:user/roles'],
  ];
  for (const [type, path] of grantPaths) {
    const action = (verb: 'check' | 'list' | 'create' | 'revoke') =>
      type === 'system'
        ? `identity:${verb === 'list' ? 'list' : verb}_system_grant${verb === 'list' ? 's' : ''}_for_user`
        : `identity:${verb}_grant${verb === 'list' ? 's' : ''}`;
    const targetId = (p: GrantParams) => (type === 'system' ? SYSTEM_ALL : p.target!);

    edge.route('GET', path, async (req) => {
      const caller = edge.caller(req);
      const p = req.params as GrantParams;
      enforce(action('list'), caller, await resolve(type, p));
      const roles = await identity.assignments.grants(p.user, type, targetId(p));
      return edge.collection(
        req,
        'roles',
        roles.map((r: Role) => roleView(edge.base(req), r)),
      );
    });
    edge.route(['GET'], `${path}/:role`, async (req, reply) => {
      const caller = edge.caller(req);
      const p = req.params as GrantParams;
      enforce(action('check'), caller, await resolve(type, p));
      await identity.assignments.check(p.user, type, targetId(p), p.role!);
      return IdentityEdge.noContent(reply);
    });
    edge.route('PUT', `${path}/:role`, async (req, reply) => {
      const caller = edge.caller(req);
      const p = req.params as GrantParams;
      enforce(action('create'), caller, await resolve(type, p));
      await identity.assignments.grant(p.user, type, targetId(p), p.role!);
      return IdentityEdge.noContent(reply);
    });
    edge.route('DELETE', `${path}/:role`, async (req, reply) => {
      const caller = edge.caller(req);
      const p = req.params as GrantParams;
      enforce(action('revoke'), caller, await resolve(type, p, true));
      await identity.assignments.revoke(p.user, type, targetId(p), p.role!);
      return IdentityEdge.noContent(reply);
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
    // Groups and inherited grants are not built: such filters match nothing.
    if (q('group.id') || q('scope.OS-INHERIT:inherited_to')) return edge.collection(req, 'role_assignments', []);

    let list = await identity.assignments.list({
      userId: q('user.id'),
      roleId: q('role.id'),
      projectId: q('scope.project.id'),
      domainId: q('scope.domain.id'),
      system: q('scope.system') !== undefined,
      effective,
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

  const namesFor = async (list: Array<{ userId: string; targetType: TargetType; targetId: string; roleId: string }>): Promise<AssignmentNames> => {
    const domains = new Map((await identity.domains.list()).map((d) => [d.id, d.name]));
    const users = await identity.users.list({ ids: [...new Set(list.map((a) => a.userId))] });
    const projects = await identity.projects.list({ ids: [...new Set(list.filter((a) => a.targetType === 'project').map((a) => a.targetId))] });
    const roles = await identity.roles.list({ ids: [...new Set(list.map((a) => a.roleId))] });
    const ref = (domainId: string) => ({ id: domainId, name: domains.get(domainId) ?? '' });
    return {
      users: new Map(users.map((u) => [u.id, { name: u.name, domain: ref(u.domain_id) }])),
      projects: new Map(projects.map((p) => [p.id, { name: p.name, domain: ref(p.domain_id) }])),
      domains,
      roles: new Map(roles.map((r) => [r.id, r.name])),
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
