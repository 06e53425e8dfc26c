import type { FastifyRequest } from 'fastify';
import type { RequestContext } from '../core/context.js';
import { DomainError } from '../core/errors.js';

/** Turns a token into who is calling; throws `unauthorized` for a missing, bad or expired token. */
export interface TokenAuthenticator {
  authenticate(token: string, requestId: string): Promise<RequestContext>;
  /**
   * The caller without waiting, when the token's validation is already known (cached); undefined
   * when only authenticate() can tell. Throws as authenticate() does.
   */
  cachedCaller?(token: string, requestId: string): RequestContext | undefined;
}

/** A 401 as keystonemiddleware sends it in front of every OpenStack service. */
export const authRequired = () => new DomainError('unauthorized', 'Unauthorized', 'The request you have made requires authentication.');

/** Header every 401 carries, pointing clients at Keystone. */
export function setWwwAuthenticate(reply: { header(name: string, value: string): unknown }, identityUrl: string): void {
  reply.header('www-authenticate', `Keystone uri="${identityUrl}"`);
}

/**
 * The 401 body keystonemiddleware answers with in front of Neutron, Nova and Glance (the
 * service itself never sees the request), with its WWW-Authenticate header.
 */
export function keystoneMiddleware401(reply: { header(name: string, value: string): unknown }, identityUrl: string, message: string) {
  setWwwAuthenticate(reply, identityUrl);
  return { error: { code: 401, title: 'Unauthorized', message } };
}

/**
 * keystonemiddleware's auth_token in front of a service: the caller from `X-Auth-Token` (caching
 * nothing beyond what the authenticator does), recorded on the request for the handlers. A token
 * whose validation is cached is answered at once, with no promise: nearly every request carries
 * one, and each async layer here was a promise and a microtask hop more per request (issue 17).
 */
export function tokenAuth(auth: TokenAuthenticator): (req: FastifyRequest) => Promise<void> | undefined {
  const cachedCaller = auth.cachedCaller?.bind(auth);
  return (req) => {
    const token = req.headers['x-auth-token'];
    if (typeof token !== 'string' || token === '') throw authRequired();
    const ctx = cachedCaller?.(token, req.id);
    if (ctx) {
      req.ctx = ctx;
      return undefined;
    }
    return auth.authenticate(token, req.id).then((c) => {
      req.ctx = c;
    });
  };
}
