/** How the Glance edge reads a request body, and the errors its routing answers with. */
import type { FastifyRequest } from 'fastify';
import { DomainError } from '../../core/errors.js';
import { jsonBody } from '../http.js';

export const bad = (msg: string) => new DomainError('bad_request', 'HTTPBadRequest', msg);

export const notFound = () => new DomainError('not_found', 'HTTPNotFound', 'The resource could not be found.');

/** The JSON body; `undefined` when there is none. */
export function body(req: FastifyRequest): unknown {
  return jsonBody(req, () => bad('Malformed JSON in request body.'));
}
