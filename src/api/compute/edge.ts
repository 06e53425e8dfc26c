import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { RequestContext } from '../../core/context.js';
import { DomainError } from '../../core/errors.js';
import { novaBadRequest } from '../../core/compute/errors.js';
import { serverDisclosure } from '../../core/compute/policy.js';
import type { ComputeService } from '../../core/compute/service.js';
import { isDict } from '../../util/json.js';
import { baseUrl, caller, jsonBody, queryLists } from '../http.js';
import type { ApiVersion } from './version.js';
import type { ViewContext } from './views.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The microversion a /v2.1 request runs at (set by the app's onRequest hook). */
    computeVersion?: ApiVersion;
  }
}

/** webob's 404 for a path (or a microversion) Nova does not serve. */
export const NOT_FOUND = () => new DomainError('not_found', 'HTTPNotFound', 'The resource could not be found.');

/**
 * What the compute route modules share: the service, Nova's reading of requests (body, query,
 * microversion, paging) and the view context. Routes parse and render; the service decides.
 */
export class ComputeEdge {
  constructor(
    readonly app: FastifyInstance,
    readonly compute: ComputeService,
  ) {}

  /** Who calls (the auth hook's caller; see createApp). */
  caller(req: FastifyRequest): RequestContext {
    return caller(req);
  }

  /** The microversion of a /v2.1 request. */
  version(req: FastifyRequest): ApiVersion {
    if (!req.computeVersion) throw new Error(`${req.method} ${req.routeOptions.url} is not under /v2.1: it has no microversion`);
    return req.computeVersion;
  }

  /** The JSON body (undefined when none was sent); Nova's 400 when it is not JSON. */
  body(req: FastifyRequest): unknown {
    return jsonBody(req, () => novaBadRequest('Malformed request body'));
  }

  /**
   * An action body (`POST …/action`): one JSON object whose first key names the action, as Nova's
   * action_peek reads it; anything else is Nova's "Malformed request body".
   */
  actionBody(req: FastifyRequest): [string, Record<string, unknown>] {
    const b = this.body(req);
    if (!isDict(b) || Object.keys(b).length === 0) throw novaBadRequest('Malformed request body');
    return [Object.keys(b)[0], b];
  }

  /** Path parameters. */
  params(req: FastifyRequest): Record<string, string> {
    return req.params as Record<string, string>;
  }

  /** Query parameters as lists, in order. */
  query(req: FastifyRequest): Map<string, string[]> {
    return queryLists(req);
  }

  base(req: FastifyRequest): string {
    return baseUrl(req);
  }

  /** What views need: where the client reached us, the microversion, what the caller may see of a server. */
  view(req: FastifyRequest): ViewContext {
    return { base: baseUrl(req), version: this.version(req), shows: serverDisclosure(caller(req)) };
  }

  /** A route added by a microversion: 404 below it, as Nova's router answers. */
  needs(req: FastifyRequest, version: string): void {
    if (!this.version(req).gte(version)) throw NOT_FOUND();
  }

  /** Nova's common.get_limit_and_marker (limit capped by [api] max_limit = 1000). */
  limitAndMarker(q: Map<string, string[]>): { limit: number; marker?: string } {
    let limit = 1000;
    const raw = q.get('limit')?.[0];
    if (raw !== undefined) {
      if (!/^\s*-?\d+\s*$/.test(raw)) throw novaBadRequest('limit param must be an integer');
      const n = Number(raw);
      if (n < 0) throw novaBadRequest('limit param must be positive');
      limit = Math.min(n, 1000);
    }
    return { limit, marker: q.get('marker')?.[0] };
  }

  /**
   * `<collection>_links` with a `next` page when a page came back full: the same query, with the
   * marker of the page's last item (`markers`: each item's id, or a key pair's name).
   */
  nextLinks(v: ViewContext, path: string, q: Map<string, string[]>, markers: string[], limit: number) {
    if (markers.length === 0 || markers.length < limit) return undefined;
    const params = new URLSearchParams();
    for (const [k, vs] of q) if (k !== 'marker') for (const x of vs) params.append(k, x);
    params.set('marker', markers[markers.length - 1]);
    return [{ href: `${v.base}/v2.1/${path}?${params.toString()}`, rel: 'next' }];
  }

  static noContent(reply: FastifyReply, status = 204) {
    reply.status(status);
    return reply.send();
  }
}
