/**
 * The Glance v2 API (port 9292): webob's error format, negotiated by `Accept`, exact routes, image
 * data streamed rather than parsed, and the route modules under routes/.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { DomainError } from '../../core/errors.js';
import type { ImageService } from '../../core/image/service.js';
import { type TokenAuthenticator, keystoneMiddleware401, tokenAuth } from '../auth.js';
import { REASON_PHRASES, type ReplyView, type RequestView, createApp } from '../http.js';
import { bodyRejected, methodNotAllowed } from './methods.js';
import { bad, notFound } from './request.js';
import { cacheRoutes } from './routes/cache.js';
import { imageDataRoutes } from './routes/data.js';
import { imageRoutes } from './routes/images.js';
import { importRoutes } from './routes/import.js';
import { memberRoutes } from './routes/members.js';
import { metadefRoutes } from './routes/metadefs.js';
import { storeRoutes } from './routes/stores.js';
import { tagRoutes } from './routes/tags.js';
import { taskRoutes } from './routes/tasks.js';
import { versionRoutes } from './routes/versions.js';

export interface ImageApiOptions {
  logger: Logger;
  service: ImageService;
  auth: TokenAuthenticator;
  identityUrl: () => string;
}

/**
 * Glance's errors are webob's: the explanation rendered as HTML, JSON or plain text depending on
 * what the client accepts (HTML when it does not say).
 */
function glanceError(err: DomainError, req: RequestView, reply: ReplyView): unknown {
  const status = `${err.status} ${REASON_PHRASES[err.status] ?? 'Error'}`;
  const extra = err as DomainError & { headers?: Record<string, string>; bare?: boolean };
  if (extra.headers) reply.headers(extra.headers);
  const kind = negotiate(req.headers.accept);
  const explanation = kind === 'html' ? escapeHtml(err.message) : err.message;
  // webob's body template: HTTPMethodNotAllowed has its own, and a `body_template='${explanation}'`
  // (the tasks API's 405) is the explanation alone.
  let body = `${explanation}<br /><br />\n\n\n`;
  if (extra.bare) body = explanation;
  else if (err.kind === 'method_not_allowed') body = `The method ${req.method ?? ''} is not allowed for this resource. <br /><br />\n`;
  if (kind === 'json') {
    reply.type('application/json');
    return { message: body, code: status, title: REASON_PHRASES[err.status] ?? 'Error' };
  }
  if (kind === 'html') {
    reply.type('text/html; charset=UTF-8');
    return `<html>\n <head>\n  <title>${status}</title>\n </head>\n <body>\n  <h1>${status}</h1>\n  ${body}\n </body>\n</html>`;
  }
  reply.type('text/plain; charset=UTF-8');
  return `${status}\n\n${body.replace(/<br \/>/g, '')}`;
}

const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** webob's acceptable_offers over [text/html, application/json]: the best q wins, html on a tie. */
function negotiate(accept: string | undefined): 'html' | 'json' | 'plain' {
  if (!accept || accept.trim() === '') return 'html';
  let html = 0;
  let json = 0;
  for (const part of accept.split(',')) {
    const [type, ...params] = part.trim().toLowerCase().split(';');
    const qp = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const q = qp ? Number(qp.slice(2)) : 1;
    const t = type.trim();
    if (t === 'text/html' || t === 'text/*' || t === '*/*') html = Math.max(html, q);
    if (t === 'application/json' || t === 'application/*' || t === '*/*') json = Math.max(json, q);
  }
  if (html === 0 && json === 0) return 'plain';
  return html >= json ? 'html' : 'json';
}

export function buildImageApi(opts: ImageApiOptions): FastifyInstance {
  const { service } = opts;
  const app = createApp({
    name: 'image',
    logger: opts.logger,
    // Glance's version documents are open; the rest sits behind auth_token.
    auth: { publicRoutes: ['GET /', 'GET /versions'], unmatched: 'authenticated', authenticate: tokenAuth(opts.auth) },
    errors: {
      render(err, req, reply) {
        if (err.kind === 'unauthorized') return keystoneMiddleware401(reply, opts.identityUrl(), err.message);
        return glanceError(err, req, reply);
      },
    },
  });
  // Glance's routes are exact: `/v2/images/` (an empty id) is not the collection. (Callback hooks,
  // not async ones: they wait for nothing, and an async hook costs every request a promise and a
  // microtask hop, issue 17; what one throws is the request's error all the same.)
  app.addHook('onRequest', (req, _reply, done) => {
    const path = req.url.split('?')[0];
    if (path.length > 1 && path.endsWith('/') && path !== '/v2/') throw notFound();
    done();
  });
  // A body where Glance's router marks `body_reject` is its 400, before anything else reads it.
  app.addHook('preValidation', (req, _reply, done) => {
    if (bodyRejected(req.method, req.url.split('?')[0], req.headers as Record<string, string>)) throw bad('A body is not expected with this request.');
    done();
  });
  // Image data is streamed to disk as it arrives, never buffered; its size cap is the service's.
  app.addContentTypeParser('application/octet-stream', (_req, payload, done) => done(null, payload));

  versionRoutes(app);
  imageRoutes(app, service);
  imageDataRoutes(app, service);
  tagRoutes(app, service);
  memberRoutes(app, service);
  importRoutes(app, service);
  storeRoutes(app, service);
  taskRoutes(app, service);
  cacheRoutes(app, service);
  metadefRoutes(app, service);

  // A known path with a method Glance does not route there is its RejectMethodController's 405.
  app.setNotFoundHandler(async (req) => {
    throw methodNotAllowed(req.url.split('?')[0]) ?? notFound();
  });
  return app;
}
