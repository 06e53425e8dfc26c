import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DomainError, httpBadRequest } from '../../../core/errors.js';
import type { NetworkService } from '../../../core/network/service.js';
import { caller, listAnswer } from '../../http.js';
import { ListAnswer } from '../../listbody.js';
import { ALL_METHODS, body, fieldsOf, ifMatchRevision, methodNotAllowed, query, requestUrl, resourceNotFound } from '../request.js';

type Handler = (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;
type Params = { collection: string; id: string };

/**
 * Every resource the service registered, through one set of routes: the collection (list,
 * create), a member (show, update, delete), its tags (standard-attr-tag) and member actions
 * (`PUT /v2.0/routers/{id}/add_router_interface`). Mounted last: the specific routes come first.
 */
export function resourceRoutes(app: FastifyInstance, service: NetworkService): void {
  const noBodyOnDelete = (req: FastifyRequest) => {
    if (req.rawBody && req.rawBody.trim() !== '') throw httpBadRequest('Request body is not supported in DELETE.');
  };

  const collection: Handler = async (req, reply) => {
    const { collection: coll } = req.params as Params;
    const ops = service.resource(coll);
    if (!ops) throw resourceNotFound();
    const ctx = caller(req);
    const def = ops.def;
    if (req.method === 'GET' || req.method === 'HEAD') {
      // Written as the service renders it, a chunk at a time (see NetworkService.listEach).
      const answer = new ListAnswer(def.collection);
      const links = await service.listEach(ctx, coll, query(req), (items) => answer.add(items), requestUrl(req));
      return listAnswer(reply, answer.end({ [`${def.collection}_links`]: links }));
    }
    if (req.method === 'POST') {
      const res = await service.create(ctx, coll, body(req));
      reply.status(201);
      return res.bulk ? { [def.collection]: res.items } : { [def.name]: res.items[0] };
    }
    throw methodNotAllowed();
  };

  const member: Handler = async (req, reply) => {
    const { collection: coll, id } = req.params as Params;
    const ops = service.resource(coll);
    if (!ops) throw resourceNotFound();
    const ctx = caller(req);
    const name = ops.def.name;
    switch (req.method) {
      case 'GET':
      case 'HEAD':
        return { [name]: await service.show(ctx, coll, id, fieldsOf(req)) };
      case 'PUT':
        return { [name]: await service.update(ctx, coll, id, body(req), ifMatchRevision(req)) };
      case 'DELETE':
        noBodyOnDelete(req);
        await service.delete(ctx, coll, id, ifMatchRevision(req));
        reply.status(204);
        return reply.send();
      default:
        throw methodNotAllowed();
    }
  };

  const tags: Handler = async (req, reply) => {
    const { id } = req.params as Params;
    const coll = service.taggedCollection((req.params as Params).collection);
    if (!coll) throw resourceNotFound();
    const ctx = caller(req);
    switch (req.method) {
      case 'GET':
        return { tags: await service.tags(ctx, coll, id) };
      case 'PUT':
        return { tags: await service.replaceTags(ctx, coll, id, body(req)) };
      case 'DELETE':
        await service.deleteTag(ctx, coll, id);
        reply.status(204);
        return reply.send();
      default:
        throw methodNotAllowed();
    }
  };

  const tag: Handler = async (req, reply) => {
    const { id, tag: t } = req.params as Params & { tag: string };
    const coll = service.taggedCollection((req.params as Params).collection);
    if (!coll) throw resourceNotFound();
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
        throw methodNotAllowed();
    }
  };

  const action: Handler = async (req) => {
    const { collection: coll, id, action: act } = req.params as Params & { action: string };
    const ops = service.resource(coll);
    if (!ops?.actions?.has(act)) throw resourceNotFound();
    if (req.method !== 'PUT') throw methodNotAllowed();
    const ctx = caller(req);
    return service.action(ctx, coll, id, act, body(req));
  };

  /** A sub-resource (`/v2.0/routers/{id}/conntrack_helpers[/{id}]`): the same handlers with the parent id. */
  const subCollection =
    (key: string): Handler =>
    async (req, reply) => {
      const { parent } = req.params as { parent: string };
      const ops = service.resource(key)!;
      const ctx = caller(req);
      const def = ops.def;
      if (req.method === 'GET' || req.method === 'HEAD') {
        const res = await service.list(ctx, key, query(req), requestUrl(req), parent);
        const out: Record<string, unknown> = { [def.collection]: res.items };
        if (res.links) out[`${def.collection}_links`] = res.links;
        return out;
      }
      if (req.method === 'POST') {
        const res = await service.create(ctx, key, body(req), parent);
        reply.status(201);
        return res.bulk ? { [def.collection]: res.items } : { [def.name]: res.items[0] };
      }
      throw methodNotAllowed();
    };
  const subMember =
    (key: string): Handler =>
    async (req, reply) => {
      const { parent, id } = req.params as { parent: string; id: string };
      const name = service.resource(key)!.def.name;
      const ctx = caller(req);
      switch (req.method) {
        case 'GET':
        case 'HEAD':
          return { [name]: await service.show(ctx, key, id, fieldsOf(req), parent) };
        case 'PUT':
          return { [name]: await service.update(ctx, key, id, body(req), ifMatchRevision(req), parent) };
        case 'DELETE':
          noBodyOnDelete(req);
          await service.delete(ctx, key, id, ifMatchRevision(req), parent);
          reply.status(204);
          return reply.send();
        default:
          throw methodNotAllowed();
      }
    };
  for (const key of service.collections.filter((c) => c.includes('/:parent/'))) {
    app.route({ method: [...ALL_METHODS], url: `/v2.0/${key}`, handler: subCollection(key) });
    app.route({ method: [...ALL_METHODS], url: `/v2.0/${key}/:id`, handler: subMember(key) });
  }

  const routes: Array<[string, Handler]> = [
    ['', collection],
    ['/:id', member],
    ['/:id/tags', tags],
    ['/:id/tags/:tag', tag],
    ['/:id/:action', action],
  ];
  for (const [suffix, handler] of routes) app.route({ method: [...ALL_METHODS], url: `/v2.0/:collection${suffix}`, handler });
  // Resources under a path prefix (`/v2.0/metering/metering-labels`): the prefix is part of the
  // resource's path, and the static segment routes before the generic `/v2.0/:collection/:id`.
  const prefixes = new Set(service.collections.filter((c) => c.includes('/') && !c.includes('/:parent/')).map((c) => c.slice(0, c.lastIndexOf('/'))));
  for (const prefix of prefixes) {
    for (const [suffix, handler] of routes) {
      app.route({
        method: [...ALL_METHODS],
        url: `/v2.0/${prefix}/:collection${suffix}`,
        handler: (req, reply) => {
          const params = req.params as { collection: string };
          params.collection = `${prefix}/${params.collection}`;
          return handler(req, reply);
        },
      });
    }
  }
}
