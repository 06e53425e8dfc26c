import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DomainError } from '../../core/errors.js';
import { type Listing, fieldsParam } from '../../core/loadbalancer/query.js';
import type { LoadBalancerService } from '../../core/loadbalancer/service.js';
import { type BodyOf, type Fields, parseBody, parseListBody } from '../../core/loadbalancer/wsme.js';
import { baseUrl, queryLists } from '../http.js';

/** pecan's own answers for unknown paths and methods (not Octavia's fault format). */
export const pecanNotFound = () => new DomainError('not_found', 'PecanNotFound', 'Not Found');
const pecanMethodNotAllowed = () => new DomainError('method_not_allowed', 'PecanMethodNotAllowed', 'Method Not Allowed');

type Handler = (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;
export type Methods = Partial<Record<'GET' | 'POST' | 'PUT' | 'DELETE', Handler>>;

/** What the Octavia route modules share: the service, the route table and Octavia's request rules. */
export class OctaviaEdge {
  constructor(
    readonly app: FastifyInstance,
    readonly service: LoadBalancerService,
    /** Where the API is mounted: every route is served under each prefix. */
    private readonly prefixes: readonly string[],
  ) {}

  /**
   * Serve `path` under every prefix. Every method reaches the route, as in pecan: one the path
   * does not serve is pecan's 405 (after authentication, which the app's hook does first).
   */
  route(path: string, methods: Methods): void {
    for (const prefix of this.prefixes) {
      this.app.route({
        method: ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'],
        url: `${prefix}${path}`,
        handler: async (req, reply) => {
          const method = req.method === 'HEAD' ? 'GET' : req.method;
          const h = method === 'GET' || method === 'POST' || method === 'PUT' || method === 'DELETE' ? methods[method] : undefined;
          if (!h) throw pecanMethodNotAllowed();
          return h(req, reply);
        },
      });
    }
  }

  query(req: FastifyRequest): Map<string, string[]> {
    return queryLists(req);
  }

  url(req: FastifyRequest): URL {
    return new URL(req.url, baseUrl(req));
  }

  /** `?fields=a,b&fields=c`: the attributes to show (all when absent). */
  fields(req: FastifyRequest): string[] | undefined {
    return fieldsParam(this.query(req));
  }

  /** A path parameter the route declares. */
  param(req: FastifyRequest, name: string): string {
    return (req.params as Record<string, string>)[name];
  }

  /** The body `{"<root>": {…}}` as Octavia's controller argument `arg` reads it (wsme.ts). */
  body<F extends Fields>(req: FastifyRequest, arg: string, root: string, spec: F): BodyOf<F> {
    return parseBody(arg, root, spec, req.rawBody);
  }

  /** The body `{"<root>": [{…}, …]}` (a member batch). */
  bodyList<F extends Fields>(req: FastifyRequest, arg: string, root: string, spec: F): Array<BodyOf<F> | null> {
    return parseListBody(arg, root, spec, req.rawBody);
  }

  /** A collection and its `<key>_links` (some keys are Octavia's own spelling). */
  list<O>(key: string, r: Listing<O>, linksKey = `${key}_links`): Record<string, O[] | Listing<O>['links']> {
    return { [key]: r.items, [linksKey]: r.links };
  }

  created<T>(reply: FastifyReply, v: T): T {
    reply.status(201);
    return v;
  }

  /** An answer without a body: 204, or 202 where Octavia accepts work it does later. */
  noContent(reply: FastifyReply, status: 202 | 204 = 204): FastifyReply {
    reply.status(status);
    return reply.send();
  }
}
