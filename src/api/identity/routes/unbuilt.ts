import type { FastifyReply, FastifyRequest } from 'fastify';
import { DomainError } from '../../../core/errors.js';
import { forbidden, notImplemented } from '../../../core/identity/errors.js';
import type { IdentityEdge } from '../edge.js';
import { keystoneAllow, methodNotAllowed } from '../keystoneroutes.js';

/**
 * Parts of Keystone's v3 API that PocketStack does not build. They exist in Keystone, so rather
 * than an unknown path (404) they answer Keystone's own "not implemented" (501) — after the
 * token check Keystone would make, so an anonymous caller still gets its 401. A path Keystone
 * does not have under these prefixes is its 404, a method its resource lacks its 405 (for a
 * token holder: without one, the 401 comes first here, where Keystone routes before it
 * authenticates).
 */
const AUTHENTICATED = [
  '/v3/OS-FEDERATION/*',
  '/v3/OS-OAUTH2/*',
  '/v3/OS-REVOKE/*',
  '/v3/policies/:id/OS-ENDPOINT-POLICY/*',
  '/v3/endpoints/:id/OS-ENDPOINT-POLICY/*',
];

/** Called with signed requests, not tokens. */
const ANONYMOUS = ['/v3/auth/OS-FEDERATION/*'];

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

/** PKI's revocation list: Keystone refuses it to everyone, token or not. */
const PKI_REVOKED = '/v3/auth/tokens/OS-PKI/revoked';

/** OS-SIMPLE-CERT's PKI certificates (keystone/api/os_simple_cert.py): gone, to everyone. */
const SIMPLE_CERT = ['/v3/OS-SIMPLE-CERT/ca', '/v3/OS-SIMPLE-CERT/certificates'];

/** The routes here that Keystone answers without a token. */
export const UNBUILT_PUBLIC_ROUTES = [
  ...ANONYMOUS.flatMap((path) => METHODS.map((m) => `${m} ${path}`)),
  `GET ${PKI_REVOKED}`,
  ...SIMPLE_CERT.map((path) => `GET ${path}`),
];

/**
 * Keystone's answer to a path under an unbuilt prefix: its 404 where it has no such path, its 405
 * where the path's resource has no such method, else "not implemented".
 */
async function unbuilt(req: FastifyRequest, reply: FastifyReply) {
  const allow = keystoneAllow(req.method, req.url.split('?')[0]);
  if (allow.length === 0) throw new DomainError('not_found', 'NotFound', 'The resource could not be found.');
  if (!allow.includes(req.method)) return methodNotAllowed(reply, allow);
  throw notImplemented();
}

export function unbuiltRoutes(edge: IdentityEdge): void {
  for (const path of [...AUTHENTICATED, ...ANONYMOUS]) edge.route([...METHODS], path, unbuilt);
  // Keystone keeps this deprecated PKI call only to refuse it.
  edge.route('GET', PKI_REVOKED, async () => {
    throw forbidden();
  });
  for (const path of SIMPLE_CERT) {
    edge.route('GET', path, async () => {
      throw new DomainError('gone', 'Gone', 'This API is no longer available due to the removal of support for PKI tokens.');
    });
  }
}
