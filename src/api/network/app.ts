import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { RequestContext } from '../../core/context.js';
import { DomainError, httpBadRequest } from '../../core/errors.js';
import { extensionBody, EXTENSIONS } from '../../core/network/extensions.js';
import type { NetworkService } from '../../core/network/service.js';
import { type TokenAuthenticator, keystoneMiddleware401, tokenAuth } from '../auth.js';
import { baseUrl, caller, createApp, jsonBody, queryLists } from '../http.js';
import type { UnitOfWork } from '../../core/work.js';

export interface NetworkApiOptions {
  logger: Logger;
  service: NetworkService;
  uow: UnitOfWork;
  auth: TokenAuthenticator;
  /** Public identity URL for WWW-Authenticate. */
  identityUrl: () => string;
  /** Aliases served by GET /v2.0/extensions. */
  extensions: () => string[];
  /** Extra routes mounted by other parts (quotas, LBaaS v1 …) before the generic ones. */
  plugins?: Array<(app: FastifyInstance, h: NetworkHelpers) => void>;
}

/** What extra route modules need from the Neutron edge. */
export interface NetworkHelpers {
  body(req: FastifyRequest): unknown;
  query(req: FastifyRequest): Map<string, string[]>;
  url(req: FastifyRequest): URL;
}

const METHOD_NOT_ALLOWED = () =>
  new DomainError(
    'method_not_allowed',
    'HTTPMethodNotAllowed',
    'The server could not comply with the request since it is either malformed or otherwise incorrect.',
  );
const RESOURCE_NOT_FOUND = () => new DomainError('not_found', 'HTTPNotFound', 'The resource could not be found.');

/** Neutron's error body. */
function neutronError(err: DomainError) {
  return { NeutronError: { type: err.type, message: err.message, detail: err.detail } };
}

/** `/v2.0/quotas/x/details.json?a=b` → `/v2.0/quotas/x/details?a=b`. */
export function stripJsonSuffix(url: string): string {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  return path.endsWith('.json') ? path.slice(0, -5) + (q < 0 ? '' : url.slice(q)) : url;
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

export function buildNetworkApi(opts: NetworkApiOptions): FastifyInstance {
  const { service } = opts;
  const app = createApp({
    name: 'network',
    logger: opts.logger,
    // Neutron accepts a `.json` suffix on every path (Tempest's quota details use it); it must go
    // before routing, not in a hook that runs after the route was chosen.
    rewriteUrl: stripJsonSuffix,
    uow: opts.uow,
    // Neutron's paste pipeline: the version list is open, everything else behind auth_token.
    auth: { publicRoutes: ['GET /', 'GET /v2.0'], unmatched: 'authenticated', authenticate: tokenAuth(opts.auth) },
    errors: {
      render(err, _req, reply) {
        if (err.kind === 'unauthorized') return keystoneMiddleware401(reply, opts.identityUrl(), err.message);
        return neutronError(err);
      },
    },
  });

  const h: NetworkHelpers = {
    body: (req) => jsonBody(req, () => httpBadRequest('Body contains invalid data')),
    query: (req) => queryLists(req),
    url: (req) => new URL(req.url, baseUrl(req)),
  };

  const noBodyOnDelete = (req: FastifyRequest) => {
    if (req.rawBody && req.rawBody.trim() !== '') throw httpBadRequest('Request body is not supported in DELETE.');
  };

  app.get('/', async (req) => ({
    versions: [{ id: 'v2.0', status: 'CURRENT', links: [{ rel: 'self', href: `${baseUrl(req)}/v2.0/` }] }],
  }));

  const v2root = async (req: FastifyRequest) => ({
    resources: ['network', 'subnet', 'subnetpool', 'port']
      .filter((r) => (r === 'subnetpool' ? service.resource('subnetpools') : true))
      .map((r) => ({ name: r, collection: `${r}s`, links: [{ rel: 'self', href: `${baseUrl(req)}/v2.0/${r}s` }] })),
  });
  app.get('/v2.0', v2root);

  app.get('/v2.0/extensions', async (req) => {
    return { extensions: opts.extensions().map(extensionBody) };
  });
  app.get('/v2.0/extensions/:alias', async (req) => {
    const { alias } = req.params as { alias: string };
    if (!opts.extensions().includes(alias) || !EXTENSIONS[alias]) throw RESOURCE_NOT_FOUND();
    return { extension: extensionBody(alias) };
  });

  for (const plugin of opts.plugins ?? []) plugin(app, h);

  const fieldsOf = (req: FastifyRequest) => {
    const f = (h.query(req).get('fields') ?? []).filter(Boolean);
    return f.length ? f : undefined;
  };

  const collection = async (req: FastifyRequest, reply: FastifyReply) => {
    const { collection: coll } = req.params as { collection: string };
    if (!service.resource(coll)) throw RESOURCE_NOT_FOUND();
    const ctx = caller(req);
    const def = service.resource(coll)!.def;
    if (req.method === 'GET' || req.method === 'HEAD') {
      const res = await service.list(ctx, coll, h.query(req), h.url(req));
      const body: Record<string, unknown> = { [def.collection]: res.items };
      if (res.links) body[`${def.collection}_links`] = res.links;
      return body;
    }
    if (req.method === 'POST') {
      const res = await service.create(ctx, coll, h.body(req));
      reply.status(201);
      return res.bulk ? { [def.collection]: res.items } : { [def.name]: res.items[0] };
    }
    throw METHOD_NOT_ALLOWED();
  };

  const member = async (req: FastifyRequest, reply: FastifyReply) => {
    const { collection: coll, id } = req.params as { collection: string; id: string };
    const ops = service.resource(coll);
    if (!ops) throw RESOURCE_NOT_FOUND();
    const ctx = caller(req);
    const name = ops.def.name;
    switch (req.method) {
      case 'GET':
      case 'HEAD':
        return { [name]: await service.show(ctx, coll, id, fieldsOf(req)) };
      case 'PUT': {
        const body = h.body(req);
        return { [name]: await service.update(ctx, coll, id, body, ifMatchRevision(req)) };
      }
      case 'DELETE':
        noBodyOnDelete(req);
        await service.delete(ctx, coll, id, ifMatchRevision(req));
        reply.status(204);
        return reply.send();
      default:
        throw METHOD_NOT_ALLOWED();
    }
  };

  const tags = async (req: FastifyRequest, reply: FastifyReply) => {
    const { collection: coll, id } = req.params as { collection: string; id: string };
    if (!service.resource(coll)?.def.taggable) throw RESOURCE_NOT_FOUND();
    const ctx = caller(req);
    switch (req.method) {
      case 'GET':
        return { tags: await service.tags(ctx, coll, id) };
      case 'PUT':
        return { tags: await service.replaceTags(ctx, coll, id, h.body(req)) };
      case 'DELETE':
        await service.deleteTag(ctx, coll, id);
        reply.status(204);
        return reply.send();
      default:
        throw METHOD_NOT_ALLOWED();
    }
  };

  const tag = async (req: FastifyRequest, reply: FastifyReply) => {
    const { collection: coll, id, tag: t } = req.params as { collection: string; id: string; tag: string };
    if (!service.resource(coll)?.def.taggable) throw RESOURCE_NOT_FOUND();
    const ctx = caller(req);
    switch (req.method) {
      case 'GET':
        if (!(await service.hasTag(ctx, coll, id, t))) throw new DomainError('not_found', 'TagNotFound', `Tag ${t} could not be found.`);
        reply.status(204);
        return reply.send();
      case 'PUT':
        await service.addTag(ctx, coll, id, t);
        reply.status(201);
        return null;
      case 'DELETE':
        await service.deleteTag(ctx, coll, id, t);
        reply.status(204);
        return reply.send();
      default:
        throw METHOD_NOT_ALLOWED();
    }
  };

  const action = async (req: FastifyRequest) => {
    const { collection: coll, id, action: act } = req.params as { collection: string; id: string; action: string };
    const ops = service.resource(coll);
    if (!ops?.actions?.has(act)) throw RESOURCE_NOT_FOUND();
    if (req.method !== 'PUT') throw METHOD_NOT_ALLOWED();
    const ctx = caller(req);
    return service.action(ctx, coll, id, act, h.body(req));
  };

  const ALL = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;
  type Handler = (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;
  const routes: Array<[string, Handler]> = [
    ['', collection],
    ['/:id', member],
    ['/:id/tags', tags],
    ['/:id/tags/:tag', tag],
    ['/:id/:action', action],
  ];
  for (const [suffix, handler] of routes) app.route({ method: [...ALL], url: `/v2.0/:collection${suffix}`, handler });
  // Resources under a path prefix (`/v2.0/metering/metering-labels`): the prefix is part of the
  // resource's path, and the static segment routes before the generic `/v2.0/:collection/:id`.
  const prefixes = new Set(service.collections.filter((c) => c.includes('/')).map((c) => c.slice(0, c.lastIndexOf('/'))));
  for (const prefix of prefixes) {
    for (const [suffix, handler] of routes) {
      app.route({
        method: [...ALL],
        url: `/v2.0/${prefix}/:collection${suffix}`,
        handler: (req, reply) => {
          const params = req.params as { collection: string };
          params.collection = `${prefix}/${params.collection}`;
          return handler(req, reply);
        },
      });
    }
  }

  app.setNotFoundHandler(async () => {
    throw RESOURCE_NOT_FOUND();
  });
  return app;
}
