import type { FastifyRequest } from 'fastify';
import { forbidden, tokenNotFound, validationError } from '../../../core/identity/errors.js';
import { enforce } from '../../../core/identity/policy.js';
import type { TokenInfo } from '../../../core/identity/service.js';
import { SYSTEM_ALL } from '../../../core/identity/assignments.js';
import { IdentityEdge } from '../edge.js';
import { signedRequest } from './oauth1.js';
import { tokenIssue } from '../schemas.js';
import { validator } from '../validate.js';
import { isDict } from '../../../util/json.js';
import { accessView, catalogView, domainView, projectView, tokenView } from '../views.js';

const validateAuth = validator(tokenIssue);

/** `o.a.b…`, through JSON objects only; undefined where the path stops. */
function dig(o: unknown, ...path: string[]): unknown {
  let v = o;
  for (const key of path) v = isDict(v) ? v[key] : undefined;
  return v;
}

/** Keystone's checks after the schema: each user, domain and project reference needs an id or a name. */
function checkAuthRefs(auth: Record<string, unknown>): void {
  const need = (o: unknown, field: string) => {
    if (o && typeof o === 'object' && !('id' in o) && !('name' in o)) {
      throw validationError(`Invalid input for field ${field}: id or name must be present.`);
    }
  };
  const user = dig(auth, 'identity', 'password', 'user');
  need(user, 'identity/password/user');
  need(dig(user, 'domain'), 'identity/password/user/domain');
  if (isDict(auth.scope)) {
    need(dig(auth.scope, 'project'), 'scope/project');
    need(dig(auth.scope, 'project', 'domain'), 'scope/project/domain');
    need(dig(auth.scope, 'domain'), 'scope/domain');
  }
}

/** Tokens (v3 and v2.0) and the /v3/auth/* helpers. */
export function tokenRoutes(edge: IdentityEdge): void {
  const { identity } = edge;

  edge.route('POST', '/v2.0/tokens', async (req) => {
    const { token, info } = await identity.authenticateV2(edge.json(req));
    return accessView(token, info, await identity.catalogFor(info));
  });

  edge.route('POST', '/v3/auth/tokens', async (req, reply) => {
    const auth = edge.json(req).auth;
    if (auth !== undefined && auth !== null) validateAuth(auth);
    // Valid against tokenIssue: an object.
    const checked = auth as Record<string, unknown> | null | undefined;
    if (checked) checkAuthRefs(checked);
    const { token, info } = await identity.authenticateV3(checked, signedRequest(edge, req));
    reply.status(201).header('x-subject-token', token);
    return tokenView(info, 'nocatalog' in (req.query as object) ? null : await identity.catalogFor(info), await identity.federation.enabledSps());
  });

  // S3 signatures (keystone/api/s3tokens.py): Swift's s3api or another S3 front end, holding a
  // service or admin token, trades a request it was sent for a token of the EC2 credential's
  // user. 200 with the token's body and no X-Subject-Token, as Keystone answers it.
  edge.route('POST', '/v3/s3tokens', async (req) => {
    const body = edge.json(req);
    enforce('identity:s3tokens_validate', edge.caller(req));
    const { info } = await identity.authenticateS3(body);
    return tokenView(info, await identity.catalogFor(info), await identity.federation.enabledSps());
  });

  // EC2 signatures (keystone/api/ec2tokens.py): an EC2 API front end, holding a service or admin
  // token, trades a request signed with an EC2 key pair for a token of the key's user. 200 with
  // the token's body and its id in X-Subject-Token.
  edge.route('POST', '/v3/ec2tokens', async (req, reply) => {
    // Keystone's json_body check runs before the view, so a body that is no JSON object is a 400 first.
    const body = edge.json(req);
    enforce('identity:ec2tokens_validate', edge.caller(req));
    const { token, info } = await identity.authenticateEc2(body);
    reply.header('x-subject-token', token);
    return tokenView(info, await identity.catalogFor(info), await identity.federation.enabledSps());
  });

  /** The X-Subject-Token's token, or Keystone's 404 saying why not. */
  const subject = async (req: FastifyRequest): Promise<{ id: string; info: TokenInfo }> => {
    const id = req.headers['x-subject-token'];
    if (typeof id !== 'string' || id === '') throw tokenNotFound('No token in the request');
    const found = await identity.inspect(id);
    if (found.status === 'unknown') throw tokenNotFound('Could not recognize Fernet token');
    if (found.status === 'invalid') throw tokenNotFound('Failed to validate token');
    return { id, info: found.info };
  };

  edge.route('GET', '/v3/auth/tokens', async (req, reply) => {
    const caller = edge.caller(req);
    const s = await subject(req);
    enforce(req.method === 'HEAD' ? 'identity:check_token' : 'identity:validate_token', caller, { tokenUserId: s.info.user.id });
    reply.header('x-subject-token', s.id);
    return tokenView(s.info, 'nocatalog' in (req.query as object) ? null : await identity.catalogFor(s.info), await identity.federation.enabledSps());
  });

  edge.route('DELETE', '/v3/auth/tokens', async (req, reply) => {
    const caller = edge.caller(req);
    const s = await subject(req);
    enforce('identity:revoke_token', caller, { tokenUserId: s.info.user.id });
    await identity.revoke(s.id);
    return IdentityEdge.noContent(reply);
  });

  edge.route('GET', '/v3/auth/catalog', async (req) => {
    const caller = edge.caller(req);
    enforce('identity:get_auth_catalog', caller);
    // "A project-scoped token is required to produce a service catalog." (a security error: not shown)
    if (caller.scope.kind !== 'project') throw forbidden();
    return { catalog: catalogView(await identity.catalogFor(caller)), links: { self: `${edge.base(req)}/v3/auth/catalog` } };
  });

  // Keystone mounts AuthProjectsResource and AuthDomainsResource at /v3/OS-FEDERATION/{projects,
  // domains} too (keystone/api/auth.py, alternate_urls): the same lists, linked to the URL asked.
  for (const path of ['/v3/auth/projects', '/v3/OS-FEDERATION/projects']) {
    edge.route('GET', path, async (req) => {
      const caller = edge.caller(req);
      enforce('identity:get_auth_projects', caller);
      const ids = await identity.assignments.targetsOf(caller.user.id, 'project');
      const projects = await identity.projects.list({ ids });
      return edge.collection(
        req,
        'projects',
        projects.map((p) => projectView(edge.base(req), p)),
      );
    });
  }

  for (const path of ['/v3/auth/domains', '/v3/OS-FEDERATION/domains']) {
    edge.route('GET', path, async (req) => {
      const caller = edge.caller(req);
      enforce('identity:get_auth_domains', caller);
      const ids = await identity.assignments.targetsOf(caller.user.id, 'domain');
      const domains = await identity.domains.list({ ids });
      return edge.collection(
        req,
        'domains',
        domains.map((d) => domainView(edge.base(req), d)),
      );
    });
  }

  edge.route('GET', '/v3/auth/system', async (req) => {
    const caller = edge.caller(req);
    enforce('identity:get_auth_system', caller);
    const roles = await identity.assignments.effectiveRoles(caller.user.id, 'system', SYSTEM_ALL);
    return { system: roles.length ? [{ all: true }] : [], links: { self: `${edge.base(req)}/v3/auth/system` } };
  });
}
