import type { FastifyRequest } from 'fastify';
import { expiryOf } from '../../../core/identity/appcreds.js';
import { forbidden, forbiddenAction, notFound, validationError } from '../../../core/identity/errors.js';
import type { TokenInfo } from '../../../core/identity/model.js';
import { enforce } from '../../../core/identity/policy.js';
import { IdentityEdge } from '../edge.js';
import * as S from '../schemas.js';
import { accessRuleView, appCredView } from '../views.js';

type UserParams = { user: string };
type ItemParams = { user: string; id: string };

/** keystone/api/users.py _block_delegated_token_app_creds: trust-scoped tokens manage none. */
function blockDelegated(caller: TokenInfo): void {
  if (caller.appCred) return;
  if (caller.trust) throw forbidden();
}

/** _check_unrestricted_application_credential: a restricted credential's token makes or deletes none. */
function requireUnrestricted(caller: TokenInfo): void {
  if (caller.appCred?.restricted) {
    throw forbiddenAction("Using method 'application_credential' is not allowed for managing additional application credentials.");
  }
}

/** Application credentials and access rules under /v3/users/{id}. */
export function appCredRoutes(edge: IdentityEdge): void {
  const { identity } = edge;
  const base = (req: FastifyRequest) => edge.base(req);
  const P = '/v3/users/:user/application_credentials';

  edge.route('GET', P, async (req) => {
    const caller = edge.caller(req);
    const { user } = req.params as UserParams;
    enforce('identity:list_application_credentials', caller, { ownerId: user });
    blockDelegated(caller);
    const list = (await identity.appCreds.list(user)).map((a) => appCredView(base(req), a));
    return edge.filtered(req, 'application_credentials', list, ['name']);
  });

  edge.route('POST', P, async (req, reply) => {
    const caller = edge.caller(req);
    const { user } = req.params as UserParams;
    enforce('identity:create_application_credential', caller, { ownerId: user });
    const input = edge.member(req, 'application_credential', S.appCredCreate);
    blockDelegated(caller);
    requireUnrestricted(caller);
    if (caller.user.id !== user) throw forbiddenAction('Cannot create an application credential for another user.');
    if (!caller.project) throw validationError('Invalid application credential: a project-scoped token is required.');
    const tokenRoles = caller.roles.map((r) => r.id);
    let roleIds = tokenRoles;
    const asked = input.roles as Array<{ id?: string; name?: string }> | undefined;
    if (asked?.length) {
      roleIds = [];
      for (const r of asked) {
        let id = r.id;
        if (!id) {
          const found = (await identity.roles.list({ name: String(r.name), domain_id: null }))[0];
          if (!found) throw notFound('role', String(r.name));
          id = found.id;
        }
        if (!tokenRoles.includes(id)) throw validationError('Invalid application credential: Cannot create an application credential with unassigned role');
        roleIds.push(id);
      }
    }
    const created = await identity.appCreds.create({
      userId: user,
      projectId: caller.project.id,
      name: String(input.name),
      description: (input.description as string | null | undefined) ?? null,
      secret: input.secret as string | null | undefined,
      expiresAt: expiryOf(input.expires_at),
      unrestricted: input.unrestricted === undefined ? null : input.unrestricted === true,
      roleIds,
      accessRules: input.access_rules as Array<{ id?: string; service?: string; path?: string; method?: string }> | undefined,
    });
    reply.status(201);
    return { application_credential: appCredView(base(req), created, created.secret) };
  });

  /** Keystone takes the owner from the credential itself, not from the path. */
  const ownerOf = async (id: string) => (await identity.appCreds.row(id))?.user_id;

  edge.route('GET', `${P}/:id`, async (req) => {
    const caller = edge.caller(req);
    const { user, id } = req.params as ItemParams;
    enforce('identity:get_application_credential', caller, { ownerId: (await ownerOf(id)) ?? user });
    blockDelegated(caller);
    return { application_credential: appCredView(base(req), await identity.appCreds.get(id)) };
  });
  edge.route('DELETE', `${P}/:id`, async (req, reply) => {
    const caller = edge.caller(req);
    const { user, id } = req.params as ItemParams;
    enforce('identity:delete_application_credential', caller, { ownerId: (await ownerOf(id)) ?? user });
    blockDelegated(caller);
    requireUnrestricted(caller);
    await identity.appCreds.delete(id);
    return IdentityEdge.noContent(reply);
  });

  const R = '/v3/users/:user/access_rules';
  const ruleView = (req: FastifyRequest, r: Parameters<typeof accessRuleView>[0]) => ({
    ...accessRuleView(r),
    links: { self: `${base(req)}/v3/access_rules/${r.id}` },
  });
  edge.route('GET', R, async (req) => {
    const caller = edge.caller(req);
    const { user } = req.params as UserParams;
    await identity.users.get(user);
    enforce('identity:list_access_rules', caller, { ownerId: user });
    blockDelegated(caller);
    const list = (await identity.appCreds.rules(user)).map((r) => ruleView(req, r));
    return edge.filtered(req, 'access_rules', list, ['service', 'path', 'method']);
  });
  edge.route('GET', `${R}/:id`, async (req) => {
    const caller = edge.caller(req);
    const { user, id } = req.params as ItemParams;
    await identity.users.get(user);
    enforce('identity:get_access_rule', caller, { ownerId: user });
    blockDelegated(caller);
    return { access_rule: ruleView(req, await identity.appCreds.rule(user, id)) };
  });
  edge.route('DELETE', `${R}/:id`, async (req, reply) => {
    const caller = edge.caller(req);
    const { user, id } = req.params as ItemParams;
    await identity.users.get(user);
    enforce('identity:delete_access_rule', caller, { ownerId: user });
    blockDelegated(caller);
    await identity.appCreds.deleteRule(user, id);
    return IdentityEdge.noContent(reply);
  });
}
