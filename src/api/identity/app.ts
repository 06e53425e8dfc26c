import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { DomainError } from '../../core/errors.js';
import { KeystoneError } from '../../core/identity/errors.js';
import type { IdentityService } from '../../core/identity/service.js';
import { REASON_PHRASES, baseUrl, createApp } from '../http.js';
import { IdentityEdge, identityAuth } from './edge.js';
import { keystoneAllow, methodNotAllowed } from './keystoneroutes.js';
import { appCredRoutes } from './routes/appcreds.js';
import { catalogRoutes } from './routes/catalog.js';
import { credentialRoutes } from './routes/credentials.js';
import { domainConfigRoutes } from './routes/domainconfigs.js';
import { federationRoutes } from './routes/federation.js';
import { grantRoutes } from './routes/grants.js';
import { groupRoutes } from './routes/groups.js';
import { limitRoutes } from './routes/limits.js';
import { OAUTH1_PUBLIC_ROUTES, oauth1Routes } from './routes/oauth1.js';
import { policyRoutes } from './routes/policies.js';
import { resourceRoutes } from './routes/resources.js';
import { tokenRoutes } from './routes/tokens.js';
import { trustRoutes } from './routes/trusts.js';
import { UNBUILT_PUBLIC_ROUTES, unbuiltRoutes } from './routes/unbuilt.js';
import { versionRoutes } from './routes/versions.js';

export interface IdentityApiOptions {
  logger: Logger;
  identity: IdentityService;
}

/** Messages for errors raised below Keystone's own code (framework, body size, crashes). */
function messageOf(err: DomainError): string {
  if (err.status === 413) return 'Request is too large.';
  if (err.status === 500) return 'An unexpected error prevented the server from fulfilling your request.';
  return err.message;
}

/**
 * Keystone v3 (and the v2.0 token call keystoneauth falls back to). Every response carries
 * `Vary: X-Auth-Token` and a request id; every error is `{"error": {code, message, title}}`
 * (JSON: Tempest refuses anything else), every 401 a `WWW-Authenticate` naming this Keystone.
 */
export function buildIdentityApi(opts: IdentityApiOptions): FastifyInstance {
  const app = createApp({
    name: 'identity',
    logger: opts.logger,
    // Flask decodes a bad percent-escape as U+FFFD and routes on (`Could not find project: \ufffd.`).
    badPathEncoding: 'replace',
    auth: {
      publicRoutes: [
        'GET /',
        'GET /v3',
        'GET /v2.0',
        'POST /v2.0/tokens',
        'POST /v3/auth/tokens',
        // Self-service password change authenticates with the original password, not a token.
        'POST /v3/users/:id/password',
        ...OAUTH1_PUBLIC_ROUTES,
        ...UNBUILT_PUBLIC_ROUTES,
      ],
      // Keystone routes before it authenticates: an unknown path is its 404 (or 405), token or not.
      unmatched: 'public',
      authenticate: identityAuth(opts.identity),
    },
    errors: {
      render(err, req, reply) {
        if (err.status === 401) reply.header('www-authenticate', `Keystone uri="${baseUrl(req)}/v3"`);
        const extra = err instanceof KeystoneError ? err.extra : undefined;
        return { error: { code: err.status, message: messageOf(err), title: REASON_PHRASES[err.status] ?? 'Error', ...extra } };
      },
    },
  });
  // A callback hook, not an async one: it waits for nothing, and an async hook costs every answer a
  // promise and a microtask hop before it is written (issue 17).
  app.addHook('onSend', (_req, reply, payload, done) => {
    reply.header('vary', 'X-Auth-Token');
    // Keystone sends a bare media type.
    if (String(reply.getHeader('content-type') ?? '').startsWith('application/json')) reply.header('content-type', 'application/json');
    done(null, payload);
  });

  const edge = new IdentityEdge(app, opts.identity);
  versionRoutes(edge);
  tokenRoutes(edge);
  catalogRoutes(edge);
  resourceRoutes(edge);
  grantRoutes(edge);
  groupRoutes(edge);
  appCredRoutes(edge);
  trustRoutes(edge);
  credentialRoutes(edge);
  limitRoutes(edge);
  federationRoutes(edge);
  policyRoutes(edge);
  oauth1Routes(edge);
  domainConfigRoutes(edge);
  unbuiltRoutes(edge);

  app.setNotFoundHandler(async (req, reply) => {
    const path = req.url.split('?')[0];
    // Keystone's methods for the path where it has one; PocketStack's own (the v2.0 token call) else.
    // A method Keystone's resource class has but cannot serve on this URL (DELETE /v3/users: the
    // collection has no id, and Keystone answers an unhandled 500) is refused here, and not
    // offered in the same breath.
    const keystone = keystoneAllow(req.method, path).filter((m) => m !== req.method || m === 'OPTIONS');
    const allow = keystone.length > 0 ? keystone : edge.allowed(path);
    if (allow.length === 0) throw new DomainError('not_found', 'NotFound', 'The resource could not be found.');
    if (req.method === 'OPTIONS') return reply.header('allow', allow.join(', ')).status(200).send();
    return methodNotAllowed(reply, allow);
  });
  return app;
}
