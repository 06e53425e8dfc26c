import type { FastifyReply, FastifyRequest } from 'fastify';
import { forbidden, notFound } from '../../../core/identity/errors.js';
import { oauthHeaderParams, type SignedRequest } from '../../../core/identity/oauth1.js';
import { enforce } from '../../../core/identity/policy.js';
import { IdentityEdge } from '../edge.js';
import * as S from '../schemas.js';
import { validator } from '../validate.js';
import { roleView } from '../views.js';

type Params = { id: string };
type UserToken = { user: string; id: string };
const validAuthorize = validator(S.requestTokenAuthorize);

/** The request as its OAuth1 signature covers it: the URL the client used (this server's base URL), query and header parameters. */
export function signedRequest(edge: IdentityEdge, req: FastifyRequest): SignedRequest {
  const [path, search = ''] = req.url.split('?');
  return {
    method: req.method,
    url: `${edge.base(req)}${path}`,
    query: [...new URLSearchParams(search)],
    oauth: oauthHeaderParams(typeof req.headers.authorization === 'string' ? req.headers.authorization : undefined),
  };
}

/** Keystone answers the token exchanges in form encoding. */
function formReply(reply: FastifyReply, fields: Array<[string, string]>) {
  reply.status(201).header('content-type', 'application/x-www-form-urlencoded');
  return reply.send(fields.map(([k, v]) => `${k}=${v}`).join('&'));
}

/** The OAuth1 request- and access-token exchanges: signed by the consumer, no Keystone token. */
export const OAUTH1_PUBLIC_ROUTES = ['POST /v3/OS-OAUTH1/request_token', 'POST /v3/OS-OAUTH1/access_token'];

/** OS-OAUTH1 (keystone/api/os_oauth1.py and the access-token half of users.py). */
export function oauth1Routes(edge: IdentityEdge): void {
  const { identity } = edge;
  const oauth = identity.oauth1;
  const O = '/v3/OS-OAUTH1';
  const consumerView = (req: FastifyRequest, c: { id: string; description: string | null; extra: Record<string, unknown> }, secret?: string) => ({
    ...c.extra,
    id: c.id,
    description: c.description,
    ...(secret !== undefined ? { secret } : {}),
    links: { self: `${edge.base(req)}${O}/consumers/${c.id}` },
  });

  edge.route('GET', `${O}/consumers`, async (req) => {
    enforce('identity:list_consumers', edge.caller(req));
    return edge.collection(
      req,
      'consumers',
      (await oauth.consumers()).map((c) => consumerView(req, c)),
    );
  });
  edge.route('POST', `${O}/consumers`, async (req, reply) => {
    enforce('identity:create_consumer', edge.caller(req));
    const input = edge.member(req, 'consumer', S.consumerCreate);
    const c = await oauth.createConsumer(input);
    reply.status(201);
    return { consumer: consumerView(req, c, c.secret) };
  });
  edge.route('GET', `${O}/consumers/:id`, async (req) => {
    enforce('identity:get_consumer', edge.caller(req));
    return { consumer: consumerView(req, await oauth.consumer((req.params as Params).id)) };
  });
  edge.route('PATCH', `${O}/consumers/:id`, async (req) => {
    enforce('identity:update_consumer', edge.caller(req));
    const patch = edge.member(req, 'consumer', S.consumerUpdate);
    return { consumer: consumerView(req, await oauth.updateConsumer((req.params as Params).id, patch)) };
  });
  edge.route('DELETE', `${O}/consumers/:id`, async (req, reply) => {
    enforce('identity:delete_consumer', edge.caller(req));
    await oauth.deleteConsumer((req.params as Params).id);
    return IdentityEdge.noContent(reply);
  });

  edge.route('POST', `${O}/request_token`, async (req, reply) => {
    const project = req.headers['requested-project-id'];
    const t = await oauth.requestToken(signedRequest(edge, req), typeof project === 'string' ? project : undefined);
    return formReply(reply, [
      ['oauth_token', t.id],
      ['oauth_token_secret', t.secret],
      ['oauth_expires_at', t.expiresAt],
    ]);
  });
  edge.route('POST', `${O}/access_token`, async (req, reply) => {
    const t = await oauth.accessToken(signedRequest(edge, req));
    return formReply(reply, [
      ['oauth_token', t.id],
      ['oauth_token_secret', t.secret],
      ['oauth_expires_at', t.expiresAt],
    ]);
  });
  edge.route('PUT', `${O}/authorize/:id`, async (req) => {
    const caller = edge.caller(req);
    enforce('identity:authorize_request_token', caller);
    const roles = edge.json(req).roles ?? [];
    validAuthorize(roles);
    // A delegated token may not mint a new delegation (keystone's _check_can_authorize_request_token).
    if (caller.trust || caller.appCred || caller.oauth) throw forbidden();
    const ids: string[] = [];
    for (const r of roles as Array<{ id?: string; name?: string }>) {
      if (r.id) ids.push(r.id);
      else {
        const found = (await identity.roles.list({ name: String(r.name), domain_id: null }))[0];
        if (!found) throw notFound('role', String(r.name));
        ids.push(found.id);
      }
    }
    const verifier = await oauth.authorize((req.params as Params).id, caller.user.id, [...new Set(ids)]);
    return { token: { oauth_verifier: verifier } };
  });

  const U = '/v3/users/:user/OS-OAUTH1/access_tokens';
  const tokenView = (
    req: FastifyRequest,
    at: { id: string; consumer_id: string; authorizing_user_id: string; project_id: string; expires_at: string | null },
  ) => ({
    id: at.id,
    consumer_id: at.consumer_id,
    authorizing_user_id: at.authorizing_user_id,
    project_id: at.project_id,
    expires_at: at.expires_at,
    links: {
      self: `${edge.base(req)}/v3/users/${at.authorizing_user_id}/OS-OAUTH1/access_tokens/${at.id}`,
      roles: `${edge.base(req)}/v3/users/${at.authorizing_user_id}/OS-OAUTH1/access_tokens/${at.id}/roles`,
    },
  });
  edge.route('GET', U, async (req) => {
    enforce('identity:list_access_tokens', edge.caller(req));
    const list = await oauth.accessTokens((req.params as { user: string }).user);
    return edge.collection(
      req,
      'access_tokens',
      list.map((at) => tokenView(req, at)),
    );
  });
  edge.route('GET', `${U}/:id`, async (req) => {
    enforce('identity:get_access_token', edge.caller(req));
    const p = req.params as UserToken;
    return { access_token: tokenView(req, await oauth.userAccessToken(p.user, p.id)) };
  });
  edge.route('DELETE', `${U}/:id`, async (req, reply) => {
    enforce('identity:delete_access_token', edge.caller(req));
    const p = req.params as UserToken;
    await oauth.revokeAccessToken(p.user, p.id);
    return IdentityEdge.noContent(reply);
  });
  edge.route('GET', `${U}/:id/roles`, async (req) => {
    enforce('identity:list_access_token_roles', edge.caller(req));
    const p = req.params as UserToken;
    const at = await oauth.userAccessToken(p.user, p.id);
    const roles = await identity.roles.list({ ids: at.role_ids });
    return edge.collection(
      req,
      'roles',
      roles.map((r) => roleView(edge.base(req), r)),
    );
  });
  edge.route('GET', `${U}/:id/roles/:role`, async (req) => {
    enforce('identity:get_access_token_role', edge.caller(req));
    const p = req.params as UserToken & { role: string };
    const at = await oauth.userAccessToken(p.user, p.id);
    if (!at.role_ids.includes(p.role)) throw notFound('role', p.role);
    return { role: roleView(edge.base(req), await identity.roles.get(p.role)) };
  });
}
