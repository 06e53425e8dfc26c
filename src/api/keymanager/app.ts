/**
 * The key-manager endpoint (a Barbican v1 slice, port 9311): secrets (their user metadata and
 * consumers), containers and their consumers, ACLs, orders and quotas over HTTP, microversions 1.0
 * and 1.1 (`OpenStack-API-Version: key-manager 1.1`). Errors are Barbican's `{"code", "title", "description"}` (its JSONErrorHook over
 * webob); 401s are keystonemiddleware's. Payloads travel only in request and response bodies,
 * which are never logged (createApp logs method, URL and status).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { DomainError } from '../../core/errors.js';
import type { ApiVersion, EntityType, KeyManagerService } from '../../core/keymanager/service.js';
import { kmErrors } from '../../core/keymanager/errors.js';
import { type TokenAuthenticator, keystoneMiddleware401, tokenAuth } from '../auth.js';
import { REASON_PHRASES, baseUrl, caller, createApp, everyBody, jsonBody } from '../http.js';

export interface KeyManagerApiOptions {
  logger: Logger;
  service: KeyManagerService;
  auth: TokenAuthenticator;
  identityUrl: () => string;
}

type Handler = (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;
type Methods = Partial<Record<'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', Handler>>;

/** pecan's answer for a path no controller serves (webob's 404 without a detail). */
const pecanNotFound = () => new DomainError('not_found', 'PecanNotFound', '');
const MAX_SECRET_BODY = 64 * 1024;

/** Raw bodies of PUT /v1/secrets/{id} (binary payloads must not pass through a string). */
const rawBodies = new WeakMap<FastifyRequest, Buffer>();

/** versions.VERSIONS: the microversions v1 serves. */
const VERSIONS: readonly ApiVersion[] = ['1.0', '1.1'];

/**
 * microversion_parse.extract_version, as Barbican's MicroversionMiddleware runs it after auth:
 * `OpenStack-API-Version: key-manager X.Y` (or `latest`), the minimum without one; a version
 * that does not parse is 400, one not served 406.
 */
function requestedVersion(header: string | string[] | undefined): ApiVersion {
  const values = (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',');
  let found: string | undefined;
  for (const item of values) {
    const [service, version] = item.trim().split(/\s+/, 2);
    if (service?.toLowerCase() === 'key-manager' && version !== undefined) found = version;
  }
  const v = found === undefined ? VERSIONS[0] : found === 'latest' ? VERSIONS[VERSIONS.length - 1] : found;
  const m = /^\s*(\d+)\.(\d+)\s*$/.exec(v);
  if (!m) throw new DomainError('bad_request', 'HTTPBadRequest', `Invalid microversion: invalid version string: ${v}`);
  const normal = `${Number(m[1])}.${Number(m[2])}`;
  const known = VERSIONS.find((x) => x === normal);
  if (!known) throw new DomainError('not_acceptable', 'HTTPNotAcceptable', `Invalid microversion: Unacceptable version header: ${v}`);
  return known;
}
const versionOf = new WeakMap<FastifyRequest, ApiVersion>();

export function buildKeyManagerApi(opts: KeyManagerApiOptions): FastifyInstance {
  const app = createApp({
    name: 'key-manager',
    logger: opts.logger,
    bodyLimit: MAX_SECRET_BODY,
    // Barbican's paste pipeline: only the version list at `/` is outside auth_token.
    auth: { publicRoutes: ['GET /'], unmatched: 'authenticated', authenticate: tokenAuth(opts.auth) },
    errors: {
      render(err, _req, reply) {
        if (err.kind === 'unauthorized') return keystoneMiddleware401(reply, opts.identityUrl(), err.message);
        return { code: err.status, title: REASON_PHRASES[err.status] ?? 'Error', description: err.message === '' ? null : err.message };
      },
    },
  });
  // Payloads come as the bytes sent: every content type is read as a buffer here.
  everyBody(app, 'buffer', (req, body) => {
    const b = body as Buffer;
    rawBodies.set(req, b);
    req.rawBody = b.toString('utf8');
  });

  // After auth (the one onRequest hook createApp installs), as Barbican's paste pipeline orders them.
  // A callback hook: it waits for nothing, and an async one costs every request a promise and a microtask hop (issue 17).
  app.addHook('onRequest', (req, reply, done) => {
    reply.header('vary', 'OpenStack-API-Version');
    const v = requestedVersion(req.headers['openstack-api-version']);
    versionOf.set(req, v);
    reply.header('openstack-api-version', `key-manager ${v}`);
    done();
  });

  const svc = opts.service;
  const version = (req: FastifyRequest) => versionOf.get(req) ?? VERSIONS[0];
  const route = (path: string, methods: Methods) =>
    app.route({
      method: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'],
      url: path,
      handler: async (req, reply) => {
        const m = req.method === 'HEAD' ? 'GET' : req.method;
        const h = m === 'GET' || m === 'POST' || m === 'PUT' || m === 'PATCH' || m === 'DELETE' ? methods[m] : undefined;
        if (!h) throw new DomainError('method_not_allowed', 'HTTPMethodNotAllowed', '');
        return h(req, reply);
      },
    });
  const base = (req: FastifyRequest) => baseUrl(req);
  const json = (req: FastifyRequest) => jsonBody(req, kmErrors.malformedJson);
  const params = (req: FastifyRequest) => {
    const out = new Map<string, string>();
    const q = req.url.indexOf('?');
    if (q >= 0) for (const [k, v] of new URLSearchParams(req.url.slice(q + 1))) if (!out.has(k)) out.set(k, v);
    return out;
  };
  const id = (req: FastifyRequest) => (req.params as Record<string, string>).id;
  /** enforce_content_types(['application/json']) on POST/PUT/PATCH of JSON documents. */
  const needJson = (req: FastifyRequest) => {
    const ct = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (ct !== 'application/json') throw kmErrors.contentType(['application/json']);
  };
  const created = (reply: FastifyReply, ref: string, body: unknown) => {
    reply.status(201).header('location', ref);
    return body;
  };

  app.get('/', async (req, reply) => {
    reply.status(300);
    return {
      versions: {
        values: [
          {
            id: 'v1',
            status: 'stable',
            links: [
              { rel: 'self', href: `${base(req)}/v1/` },
              { rel: 'describedby', type: 'text/html', href: 'https://docs.openstack.org/' },
            ],
            'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.key-manager-v1+json' }],
          },
        ],
      },
    };
  });
  route('/v1', {
    GET: async (req) => ({
      version: {
        id: 'v1',
        status: 'CURRENT',
        min_version: '1.0',
        max_version: '1.1',
        links: [
          { rel: 'self', href: `${base(req)}/v1/` },
          { rel: 'describedby', type: 'text/html', href: 'https://docs.openstack.org/' },
        ],
        'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.key-manager-v1+json' }],
      },
    }),
  });

  // ---------------------------------------------------------------- secrets
  route('/v1/secrets', {
    GET: async (req) => svc.listSecrets(caller(req), base(req), params(req), version(req)),
    POST: async (req, reply) => {
      needJson(req);
      const r = await svc.createSecret(caller(req), base(req), json(req));
      return created(reply, r.secret_ref, r);
    },
  });
  const payload = async (req: FastifyRequest, reply: FastifyReply, operation?: string) => {
    const accept = typeof req.headers.accept === 'string' ? req.headers.accept.split(',')[0].trim() : undefined;
    const p = await svc.getPayload(caller(req), id(req), accept, operation);
    reply.header('content-type', p.contentType);
    return reply.send(p.body);
  };
  route('/v1/secrets/:id', {
    // With an Accept other than JSON, Barbican's deprecated way of reading the payload.
    GET: async (req, reply) => {
      const accept = req.headers.accept;
      if (accept === undefined || accept === '' || accept === 'application/json' || accept === '*/*')
        return svc.getSecret(caller(req), base(req), id(req), version(req));
      return payload(req, reply, 'Secret retrieval');
    },
    PUT: async (req, reply) => {
      const ct = req.headers['content-type'];
      const enc = req.headers['content-encoding'];
      await svc.putPayload(caller(req), id(req), ct, typeof enc === 'string' ? enc : undefined, rawBodies.get(req) ?? Buffer.alloc(0));
      return reply.status(204).send();
    },
    DELETE: async (req, reply) => {
      await svc.deleteSecret(caller(req), id(req));
      return reply.status(204).send();
    },
  });
  route('/v1/secrets/:id/payload', { GET: async (req, reply) => payload(req, reply) });

  // A JSON body read once the caller's rights are known (enforce_rbac comes before
  // enforce_content_types and load_body in every Barbican handler).
  const jsonAfterPolicy = (req: FastifyRequest) => () => {
    needJson(req);
    return json(req);
  };
  const key = (req: FastifyRequest) => (req.params as Record<string, string>).key;
  route('/v1/secrets/:id/metadata', {
    GET: async (req) => svc.getMetadata(caller(req), id(req)),
    PUT: async (req, reply) => {
      reply.status(201);
      return svc.putMetadata(caller(req), base(req), id(req), jsonAfterPolicy(req));
    },
    POST: async (req, reply) => {
      const r = await svc.addMetadatum(caller(req), base(req), id(req), jsonAfterPolicy(req));
      return created(reply, r.location, r.body);
    },
  });
  route('/v1/secrets/:id/metadata/:key', {
    GET: async (req) => svc.getMetadatum(caller(req), id(req), key(req)),
    PUT: async (req) => svc.updateMetadatum(caller(req), id(req), key(req), jsonAfterPolicy(req)),
    DELETE: async (req, reply) => {
      await svc.deleteMetadatum(caller(req), id(req), key(req));
      return reply.status(204).send();
    },
  });
  route('/v1/secrets/:id/consumers', {
    GET: async (req) => svc.listSecretConsumers(caller(req), base(req), id(req), params(req)),
    POST: async (req) => svc.secretConsumer(caller(req), base(req), id(req), jsonAfterPolicy(req), 'add'),
    DELETE: async (req) => svc.secretConsumer(caller(req), base(req), id(req), jsonAfterPolicy(req), 'remove'),
  });

  // ---------------------------------------------------------------- orders
  route('/v1/orders', {
    GET: async (req) => svc.orders.list(caller(req), base(req), params(req)),
    POST: async (req, reply) => {
      needJson(req);
      const r = await svc.orders.create(caller(req), base(req), json(req));
      reply.status(202).header('location', r.order_ref);
      return r;
    },
    PUT: async (req) => svc.orders.updateNotSupported(caller(req)),
  });
  route('/v1/orders/:id', {
    GET: async (req) => svc.orders.get(caller(req), base(req), id(req)),
    DELETE: async (req, reply) => {
      await svc.orders.delete(caller(req), id(req));
      return reply.status(204).send();
    },
  });

  // ---------------------------------------------------------------- quotas
  route('/v1/quotas', { GET: async (req) => svc.quotas.effective(caller(req)) });
  route('/v1/project-quotas', { GET: async (req) => svc.quotas.list(caller(req), base(req), params(req)) });
  route('/v1/project-quotas/:id', {
    GET: async (req) => svc.quotas.get(caller(req), id(req)),
    PUT: async (req, reply) => {
      await svc.quotas.set(caller(req), id(req), () => {
        needJson(req);
        return { raw: req.rawBody ?? '', body: () => json(req) };
      });
      return reply.status(204).send();
    },
    DELETE: async (req, reply) => {
      await svc.quotas.delete(caller(req), id(req));
      return reply.status(204).send();
    },
  });

  // ---------------------------------------------------------------- containers
  route('/v1/containers', {
    GET: async (req) => svc.listContainers(caller(req), base(req), params(req)),
    POST: async (req, reply) => {
      needJson(req);
      const r = await svc.createContainer(caller(req), base(req), json(req));
      return created(reply, r.container_ref, r);
    },
  });
  route('/v1/containers/:id', {
    GET: async (req) => svc.getContainer(caller(req), base(req), id(req)),
    DELETE: async (req, reply) => {
      await svc.deleteContainer(caller(req), id(req));
      return reply.status(204).send();
    },
  });
  route('/v1/containers/:id/secrets', {
    POST: async (req, reply) => {
      needJson(req);
      const r = await svc.containerSecret(caller(req), base(req), id(req), json(req), 'add');
      return created(reply, r!.container_ref, r);
    },
    DELETE: async (req, reply) => {
      await svc.containerSecret(caller(req), base(req), id(req), json(req), 'remove');
      return reply.status(204).send();
    },
  });
  route('/v1/containers/:id/consumers', {
    GET: async (req) => svc.listConsumers(caller(req), base(req), id(req), params(req)),
    POST: async (req) => {
      needJson(req);
      return svc.consumer(caller(req), base(req), id(req), json(req), 'add');
    },
    DELETE: async (req) => {
      needJson(req);
      return svc.consumer(caller(req), base(req), id(req), json(req), 'remove');
    },
  });

  // ---------------------------------------------------------------- ACLs
  for (const type of ['secret', 'container'] as EntityType[]) {
    route(`/v1/${type}s/:id/acl`, {
      GET: async (req) => svc.getAcl(caller(req), type, id(req)),
      PUT: async (req) => {
        needJson(req);
        return svc.setAcl(caller(req), base(req), type, id(req), json(req), 'put');
      },
      PATCH: async (req) => {
        needJson(req);
        return svc.setAcl(caller(req), base(req), type, id(req), json(req), 'patch');
      },
      DELETE: async (req) => {
        await svc.deleteAcl(caller(req), type, id(req));
        return null;
      },
    });
  }

  app.setNotFoundHandler(async () => {
    throw pecanNotFound();
  });
  return app;
}
