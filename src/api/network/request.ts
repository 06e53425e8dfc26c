/**
 * How the Neutron edge reads a request (JSON body, repeated query parameters, `fields`,
 * `If-Match`) and the errors its routing answers with, shared by the route modules.
 */
import type { FastifyRequest } from 'fastify';
import { DomainError, httpBadRequest } from '../../core/errors.js';
import { baseUrl, jsonBody, queryLists } from '../http.js';

/** Every method a Neutron route answers, so the ones it does not serve get Neutron's 405. */
export const ALL_METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;

export const methodNotAllowed = () =>
  new DomainError(
    'method_not_allowed',
    'HTTPMethodNotAllowed',
    'The server could not comply with the request since it is either malformed or otherwise incorrect.',
  );

export const resourceNotFound = () => new DomainError('not_found', 'HTTPNotFound', 'The resource could not be found.');

/** The JSON body; `undefined` when there is none. */
export function body(req: FastifyRequest): unknown {
  return jsonBody(req, () => httpBadRequest('Body contains invalid data'));
}

/** Query parameters as lists, in order (`?fields=a&fields=b`). */
export function query(req: FastifyRequest): Map<string, string[]> {
  return queryLists(req);
}

/** The URL the client asked for (pagination links point back at it). */
export function requestUrl(req: FastifyRequest): URL {
  return new URL(req.url, baseUrl(req));
}

/** `?fields=a&fields=b`, empty values dropped. */
export function fieldList(req: FastifyRequest): string[] {
  return (query(req).get('fields') ?? []).filter(Boolean);
}

/** As fieldList, undefined when none were asked for (all attributes). */
export function fieldsOf(req: FastifyRequest): string[] | undefined {
  const f = fieldList(req);
  return f.length ? f : undefined;
}

/** Parse `If-Match: revision_number=N` (quoted or not) as Neutron does. */
export function ifMatchRevision(req: FastifyRequest): number | undefined {
  const h = req.headers['if-match'];
  if (typeof h !== 'string') return undefined;
  let found: number | undefined;
  for (const raw of h.split(',')) {
    const tag = raw
      .trim()
      .replace(/^W\//, '')
      .replace(/^"(.*)"$/, '$1');
    if (!tag.startsWith('revision_number=')) continue;
    if (found !== undefined) throw new DomainError('bad_request', 'BadRequest', 'Bad if-match request: Multiple revision_number etags are not supported..');
    const n = tag.slice('revision_number='.length);
    if (!/^-?\d+$/.test(n)) {
      throw new DomainError('bad_request', 'BadRequest', 'Bad if-match request: Revision number etag must be in the format of revision_number=<int>.');
    }
    found = Number(n);
  }
  return found;
}
