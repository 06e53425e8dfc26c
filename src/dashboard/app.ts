import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { type TokenAuthenticator, setWwwAuthenticate, tokenAuth } from '../api/auth.js';
import { REASON_PHRASES, caller, createApp, jsonBody, queryLists } from '../api/http.js';
import { badRequest } from '../core/errors.js';
import type { ChangeBus } from '../core/work.js';
import type { InProcessApis } from './apis.js';
import { CONTENT_SECURITY_POLICY, asset, page } from './assets.js';
import { collect } from './collect.js';
import { streamChanges } from './events.js';
import type { Explainer } from './explain/service.js';
import { parseExplainQuery } from './explain/query.js';
import { describe, login, rescope } from './session.js';
import { DEFAULT_TOPOLOGY_OPTIONS, buildTopology } from './topology.js';

export interface DashboardOptions {
  logger: Logger;
  changes: ChangeBus;
  auth: TokenAuthenticator;
  apis: InProcessApis;
  identityUrl: () => string;
  explainer: Explainer;
  /** What the page and the CLI may know about this cloud. */
  info: { dataplane: string; runUserData: boolean };
}

/** Routes answered without a token: the page, its assets and the login itself. */
export const DASHBOARD_PUBLIC_ROUTES = ['GET /', 'GET /assets/:name', 'POST /api/login'];

const token = (h: string | string[] | undefined) => (typeof h === 'string' ? h : '');

/**
 * The dashboard: a page, and a small JSON API behind Keystone tokens. Every read goes through
 * the OpenStack APIs with the caller's own token (see apis.ts), so policy is the APIs' own.
 */
export function buildDashboardApi(opts: DashboardOptions): FastifyInstance {
  const { apis } = opts;
  const app = createApp({
    name: 'dashboard',
    logger: opts.logger,
    auth: { publicRoutes: DASHBOARD_PUBLIC_ROUTES, unmatched: 'authenticated', authenticate: tokenAuth(opts.auth) },
    errors: {
      render(err, _req, reply) {
        if (err.kind === 'unauthorized') setWwwAuthenticate(reply, opts.identityUrl());
        return { error: { code: err.status, title: REASON_PHRASES[err.status] ?? err.type, message: err.message } };
      },
    },
  });

  app.get('/', async (_req, reply) => {
    reply.header('content-type', 'text/html; charset=utf-8');
    reply.header('cache-control', 'no-store');
    // The page holds a token: nobody may frame it.
    reply.header('x-frame-options', 'DENY');
    reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
    return page();
  });

  app.get('/assets/:name', async (req, reply) => {
    const name = (req.params as { name: string }).name;
    const a = asset(name);
    if (!a) {
      reply.status(404);
      return { error: { code: 404, title: 'Not Found', message: `No asset ${name}.` } };
    }
    reply.header('content-type', a.type);
    reply.header('cache-control', 'no-cache');
    return a.body;
  });

  app.post('/api/login', async (req) =>
    login(
      apis,
      jsonBody(req, () => badRequest('BadRequest', 'The body is not JSON.')),
    ),
  );

  app.get('/api/session', async (req) => describe(apis, token(req.headers['x-auth-token'])));

  app.post('/api/scope', async (req) =>
    rescope(
      apis,
      token(req.headers['x-auth-token']),
      jsonBody(req, () => badRequest('BadRequest', 'The body is not JSON.')),
    ),
  );

  app.get('/api/info', async () => ({ dataplane: opts.info.dataplane, run_user_data: opts.info.runUserData, probes: opts.explainer.canProbe() }));

  app.get('/api/topology', async (req) => {
    const ctx = caller(req);
    const want = queryLists(req).get('project')?.[0] ?? '';
    // Admins see every project (or one they pick); everyone else their token's project.
    const project = ctx.isAdmin ? (want === '' || want === 'all' ? null : want) : ctx.projectId;
    const lists = await collect(apis, token(req.headers['x-auth-token']), { allProjects: ctx.isAdmin });
    return buildTopology(lists, { ...DEFAULT_TOPOLOGY_OPTIONS, project });
  });

  app.get('/api/events', async (req, reply) => {
    const ctx = caller(req);
    const t = token(req.headers['x-auth-token']);
    streamChanges(req, reply, ctx, {
      changes: opts.changes,
      stillValid: async () => {
        try {
          await opts.auth.authenticate(t, req.id);
          return true;
        } catch {
          return false;
        }
      },
    });
  });

  app.get('/explain', async (req) => {
    const ctx = caller(req);
    const q = parseExplainQuery(queryLists(req));
    return opts.explainer.explain(ctx, token(req.headers['x-auth-token']), q);
  });

  return app;
}
