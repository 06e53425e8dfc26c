import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Credential } from '../../../core/identity/credentials.js';
import { forbiddenAction, notFound } from '../../../core/identity/errors.js';
import type { TokenInfo } from '../../../core/identity/model.js';
import { enforce, isAdmin, isSystemReader } from '../../../core/identity/policy.js';
import { isDict } from '../../../util/json.js';
import { IdentityEdge } from '../edge.js';
import * as S from '../schemas.js';
import { credentialView } from '../views.js';

type Params = { id: string };
type Ec2Params = { user: string; access: string };

/** OS-EC2 and delegated tokens: Keystone refuses them the credential APIs (LP#2159643). */
function requirePrimary(caller: TokenInfo): void {
  if (caller.trust || caller.appCred) throw forbiddenAction('Delegated tokens cannot access credentials directly');
}

/** The OS-EC2 view of an ec2 credential. */
function ec2View(base: string, c: Credential) {
  let blob: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(c.blob);
    if (isDict(parsed)) blob = parsed;
  } catch {
    // A blob that is not JSON has no access key to show.
  }
  return {
    user_id: c.user_id,
    tenant_id: c.project_id,
    access: blob.access,
    secret: blob.secret,
    trust_id: blob.trust_id ?? null,
    links: { self: `${base}/v3/users/${c.user_id}/credentials/OS-EC2/${String(blob.access)}` },
  };
}

/** Credentials (/v3/credentials) and the EC2 key pairs of a user (/v3/users/{id}/credentials/OS-EC2). */
export function credentialRoutes(edge: IdentityEdge): void {
  const { identity } = edge;
  const base = (req: FastifyRequest) => edge.base(req);

  edge.route('GET', '/v3/credentials', async (req) => {
    const caller = edge.caller(req);
    enforce('identity:list_credentials', caller, { ownerId: caller.user.id });
    let list = await identity.credentials.list();
    // Without admin or system reader, a caller sees only its own credentials.
    if (!isAdmin(caller) && !isSystemReader(caller)) list = list.filter((c) => c.user_id === caller.user.id);
    return edge.filtered(
      req,
      'credentials',
      list.map((c) => credentialView(base(req), c)),
      ['user_id', 'type'],
    );
  });
  edge.route('POST', '/v3/credentials', async (req, reply) => {
    const caller = edge.caller(req);
    const body = edge.json(req).credential;
    const owner = isDict(body) && typeof body.user_id === 'string' ? body.user_id : undefined;
    enforce('identity:create_credential', caller, { ownerId: owner });
    const input = edge.member(req, 'credential', S.credentialCreate);
    requirePrimary(caller);
    reply.status(201);
    return { credential: credentialView(base(req), await identity.credentials.create(input)) };
  });
  /** Keystone reads the credential (404) to build the policy target. */
  const owned = async (req: FastifyRequest, action: string) => {
    const caller = edge.caller(req);
    const c = await identity.credentials.get((req.params as Params).id);
    enforce(action, caller, { ownerId: c.user_id });
    return { caller, c };
  };
  edge.route('GET', '/v3/credentials/:id', async (req) => ({ credential: credentialView(base(req), (await owned(req, 'identity:get_credential')).c) }));
  edge.route('PATCH', '/v3/credentials/:id', async (req) => {
    const { caller, c } = await owned(req, 'identity:update_credential');
    const patch = edge.member(req, 'credential', S.credentialUpdate);
    requirePrimary(caller);
    return { credential: credentialView(base(req), await identity.credentials.update(c.id, patch)) };
  });
  edge.route('DELETE', '/v3/credentials/:id', async (req, reply) => {
    const { caller, c } = await owned(req, 'identity:delete_credential');
    requirePrimary(caller);
    await identity.credentials.delete(c.id);
    return IdentityEdge.noContent(reply);
  });

  const E = '/v3/users/:user/credentials/OS-EC2';
  edge.route('GET', E, async (req) => {
    const caller = edge.caller(req);
    const { user } = req.params as Ec2Params;
    enforce('identity:ec2_list_credentials', caller, { ownerId: user });
    requirePrimary(caller);
    // UserOSEC2CredentialsResourceListCreate.get: get_user first, so an unknown user is its 404.
    await identity.users.get(user);
    const list = await identity.credentials.list({ userId: user, type: 'ec2' });
    return edge.collection(
      req,
      'credentials',
      list.map((c) => ec2View(base(req), c)),
    );
  });
  edge.route('POST', E, async (req, reply) => {
    const caller = edge.caller(req);
    const { user } = req.params as Ec2Params;
    enforce('identity:ec2_create_credential', caller, { ownerId: user });
    requirePrimary(caller);
    const input = edge.json(req);
    const projectId = String(input.tenant_id ?? input.project_id ?? '');
    await identity.users.get(user);
    if (!(await identity.projects.find(projectId))) throw notFound('project', projectId);
    // Keystone requires a role on the project for the EC2 key pair.
    if ((await identity.assignments.effectiveRoles(user, 'project', projectId)).length === 0) {
      throw forbiddenAction(`User ${user} has no access to project ${projectId}`);
    }
    reply.status(201);
    return { credential: ec2View(base(req), await identity.credentials.createEc2(user, projectId, null)) };
  });
  const ec2Target = async (req: FastifyRequest, action: string) => {
    const caller = edge.caller(req);
    const { user, access } = req.params as Ec2Params;
    enforce(action, caller, { ownerId: user });
    // UserOSEC2CredentialsResourceGetDelete: the user, then the credential, then the primary-auth check.
    await identity.users.get(user);
    const c = await identity.credentials.findEc2(user, access);
    if (!c) throw notFound('credential', createHash('sha256').update(access).digest('hex'));
    requirePrimary(caller);
    return c;
  };
  edge.route('GET', `${E}/:access`, async (req) => ({ credential: ec2View(base(req), await ec2Target(req, 'identity:ec2_get_credential')) }));
  edge.route('DELETE', `${E}/:access`, async (req, reply) => {
    const c = await ec2Target(req, 'identity:ec2_delete_credential');
    await identity.credentials.delete(c.id);
    return IdentityEdge.noContent(reply);
  });
}
