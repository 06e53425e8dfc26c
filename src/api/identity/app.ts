import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { DomainError, unauthorized } from '../../core/errors.js';
import { DEFAULT_DOMAIN_ID, type IdentityService, type Scope, type TokenInfo } from '../../core/identity/service.js';
import { baseUrl, createApp, jsonBody } from '../http.js';

export interface IdentityApiOptions {
  logger: Logger;
  identity: IdentityService;
}

const V3 = {
  id: 'v3.14',
  status: 'stable',
  updated: '2020-04-07T00:00:00Z',
  'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.identity-v3+json' }],
};

function keystoneError(err: DomainError) {
  const titles: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 409: 'Conflict', 413: 'Request Entity Too Large', 500: 'Internal Server Error' };
  return { error: { code: err.status, message: err.message, title: titles[err.status] ?? 'Error' } };
}

const badRequest = (msg: string) => new DomainError('bad_request', 'ValidationError', msg);
const MALFORMED =
  'Expecting to find valid JSON in request body. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.';

function tokenBody(info: TokenInfo, catalog: unknown[] | null) {
  const t: Record<string, unknown> = {
    methods: info.methods,
    user: { domain: info.user.domain, id: info.user.id, name: info.user.name, password_expires_at: null },
    audit_ids: info.auditIds,
    expires_at: info.expiresAt,
    issued_at: info.issuedAt,
  };
  if (info.scope.kind === 'project') {
    t.project = info.project;
    t.is_domain = false;
  } else if (info.scope.kind === 'domain') {
    t.domain = info.domain;
  } else if (info.scope.kind === 'system') {
    t.system = { all: true };
  }
  if (info.scope.kind !== 'unscoped') {
    t.roles = info.roles;
    if (catalog) t.catalog = catalog;
  }
  return { token: t };
}

/** Keystone v3 (and the v2.0 token call keystoneauth falls back to). */
export function buildIdentityApi(opts: IdentityApiOptions): FastifyInstance {
  const { identity } = opts;
  const app = createApp({
    name: 'identity',
    logger: opts.logger,
    errors: {
      render(err, req, reply) {
        reply.header('vary', 'X-Auth-Token');
        if (err.status === 401) reply.header('www-authenticate', `Keystone uri="${baseUrl(req)}/v3"`);
        return keystoneError(err);
      },
    },
  });
  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('vary', 'X-Auth-Token');
    return payload;
  });

  const catalog = () =>
    identity.catalog.map((s) => ({
      endpoints: s.endpoints.map((e) => ({ id: e.id, interface: e.interface, region_id: e.region_id, url: e.url, region: e.region })),
      id: s.id,
      type: s.type,
      name: s.name,
    }));

  const version = (req: FastifyRequest) => ({ ...V3, links: [{ rel: 'self', href: `${baseUrl(req)}/v3/` }] });

  app.get('/', async (req, reply) => {
    reply.status(300).header('location', `${baseUrl(req)}/v3/`);
    return { versions: { values: [version(req)] } };
  });
  app.get('/v3', async (req) => ({ version: version(req) }));

  const requireToken = async (req: FastifyRequest): Promise<TokenInfo> => {
    const token = req.headers['x-auth-token'];
    if (typeof token !== 'string') throw unauthorized();
    const info = await identity.validate(token);
    if (!info) throw unauthorized();
    return info;
  };

  app.post('/v3/auth/tokens', async (req, reply) => {
    const body = jsonBody(req, () => badRequest(MALFORMED)) as Record<string, any> | undefined;
    const auth = body?.auth;
    const ident = auth?.identity;
    if (!ident || !Array.isArray(ident.methods)) throw badRequest("'identity' is a required property");
    let userId: string | undefined;
    let parent: TokenInfo | undefined;
    if (ident.methods.includes('password')) {
      const u = ident.password?.user ?? {};
      if (u.id) userId = u.id;
      else {
        const domain = u.domain ?? {};
        if (!domain.id && !domain.name) throw badRequest('Expecting to find domain in user. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.');
        const row = await identity.store.db
          .selectFrom('users as u')
          .innerJoin('domains as d', 'd.id', 'u.domain_id')
          .select('u.id')
          .where('u.name', '=', String(u.name))
          .where(domain.id ? 'd.id' : 'd.name', '=', String(domain.id ?? domain.name))
          .executeTakeFirst();
        if (!row) throw unauthorized();
        userId = row.id;
      }
      await identity.checkPassword(userId!, String(u.password ?? ''));
    } else if (ident.methods.includes('token')) {
      parent = (await identity.validate(String(ident.token?.id ?? ''))) ?? undefined;
      if (!parent) throw unauthorized();
      userId = parent.user.id;
    } else {
      throw unauthorized();
    }
    let scope: Scope = { kind: 'unscoped' };
    const s = auth.scope;
    if (s?.project) {
      let projectId = s.project.id as string | undefined;
      if (!projectId) {
        const domain = s.project.domain ?? {};
        if (!domain.id && !domain.name) throw badRequest('Expecting to find domain in project. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.');
        const row = await identity.store.db
          .selectFrom('projects as p')
          .innerJoin('domains as d', 'd.id', 'p.domain_id')
          .select('p.id')
          .where('p.name', '=', String(s.project.name))
          .where(domain.id ? 'd.id' : 'd.name', '=', String(domain.id ?? domain.name))
          .executeTakeFirst();
        if (!row) throw unauthorized();
        projectId = row.id;
      }
      scope = { kind: 'project', projectId };
    } else if (s?.domain) {
      const row = await identity.store.db.selectFrom('domains').select('id').where(s.domain.id ? 'id' : 'name', '=', String(s.domain.id ?? s.domain.name)).executeTakeFirst();
      if (!row) throw unauthorized();
      scope = { kind: 'domain', domainId: row.id };
    } else if (s?.system) {
      scope = { kind: 'system' };
    } else if (parent && parent.scope.kind !== 'unscoped') {
      scope = parent.scope;
    }
    const methods = parent ? ['token', ...parent.methods.filter((m) => m !== 'token')] : ['password'];
    const { token, info } = await identity.issueToken({ userId: userId!, scope, methods, parent });
    reply.status(201).header('x-subject-token', token);
    return tokenBody(info, 'nocatalog' in (req.query as object) ? null : catalog());
  });

  app.get('/v3/auth/tokens', async (req, reply) => {
    await requireToken(req);
    const subject = req.headers['x-subject-token'];
    if (typeof subject !== 'string') throw new DomainError('not_found', 'NotFound', 'No token in the request');
    const info = await identity.validate(subject);
    if (!info) throw new DomainError('not_found', 'NotFound', 'Failed to validate token');
    reply.header('x-subject-token', subject);
    return tokenBody(info, 'nocatalog' in (req.query as object) ? null : catalog());
  });

  app.delete('/v3/auth/tokens', async (req, reply: FastifyReply) => {
    await requireToken(req);
    const subject = req.headers['x-subject-token'];
    if (typeof subject !== 'string' || !(await identity.revoke(subject))) {
      throw new DomainError('not_found', 'NotFound', 'Failed to validate token');
    }
    reply.status(204);
    return reply.send();
  });

  app.get('/v3/domains', async (req) => {
    await requireToken(req);
    const name = (req.query as Record<string, string>).name;
    let q = identity.store.db.selectFrom('domains').selectAll();
    if (name) q = q.where('name', '=', name);
    const rows = await q.execute();
    return {
      domains: rows.map((d) => ({ id: d.id, name: d.name, description: d.description, enabled: !!d.enabled, tags: [], options: {}, links: { self: `${baseUrl(req)}/v3/domains/${d.id}` } })),
      links: { next: null, self: `${baseUrl(req)}${req.url}`, previous: null },
    };
  });

  void DEFAULT_DOMAIN_ID;
  app.setNotFoundHandler(async () => {
    throw new DomainError('not_found', 'NotFound', 'The resource could not be found.');
  });
  return app;
}
