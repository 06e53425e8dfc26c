/**
 * The Glance v2 API (port 9292): webob's error format, negotiated by `Accept`, exact routes, image
 * data streamed rather than parsed, and the route modules under routes/.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { DomainError } from '../../core/errors.js';
import type { ImageService } from '../../core/image/service.js';
import type { UnitOfWork } from '../../core/work.js';
import { type TokenAuthenticator, keystoneMiddleware401, tokenAuth } from '../auth.js';
import { REASON_PHRASES, type ReplyView, type RequestView, createApp } from '../http.js';
import { notFound } from './request.js';
import { imageDataRoutes } from './routes/data.js';
import { imageRoutes } from './routes/images.js';
import { memberRoutes } from './routes/members.js';
import { tagRoutes } from './routes/tags.js';
import { versionRoutes } from './routes/versions.js';

export interface ImageApiOptions {
  logger: Logger;
  service: ImageService;
  uow: UnitOfWork;
  auth: TokenAuthenticator;
  identityUrl: () => string;
}

/**
 * Glance's errors are webob's: the explanation rendered as HTML, JSON or plain text depending on
 * what the client accepts (HTML when it does not say).
 */
function glanceError(err: DomainError, req: RequestView, reply: ReplyView): unknown {
  const status = `${err.status} ${REASON_PHRASES[err.status] ?? 'Error'}`;
  const extra = (err as { headers?: Record<string, string> }).headers;
  if (extra) reply.headers(extra);
  const explanation = err.message;
  const kind = negotiate(req.headers.accept);
  if (kind === 'json') {
    reply.type('application/json');
    return { message: `${explanation}<br /><br />\n\n\n`, code: status, title: REASON_PHRASES[err.status] ?? 'Error' };
  }
  if (kind === 'html') {
    reply.type('text/html; charset=UTF-8');
    return `<html>\n <head>\n  <title>${status}</title>\n </head>\n <body>\n  <h1>${status}</h1>\n  ${escapeHtml(explanation)}<br /><br />\n\n\n\n </body>\n</html>`;
  }
  reply.type('text/plain; charset=UTF-8');
  return `${status}\n\n${explanation}\n\n\n`;
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
    uow: opts.uow,
    // Glance's version documents are open; the rest sits behind auth_token.
    auth: { publicRoutes: ['GET /', 'GET /versions'], unmatched: 'authenticated', authenticate: tokenAuth(opts.auth) },
    errors: {
      render(err, req, reply) {
        if (err.kind === 'unauthorized') return keystoneMiddleware401(reply, opts.identityUrl(), err.message);
        return glanceError(err, req, reply);
      },
    },
  });
  // Glance's routes are exact: `/v2/images/` (an empty id) is not the collection.
  app.addHook('onRequest', async (req) => {
    const path = req.url.split('?')[0];
    if (path.length > 1 && path.endsWith('/') && path !== '/v2/') throw notFound();
  });
  // Image data is streamed to disk as it arrives, never buffered; its size cap is the service's.
  app.addContentTypeParser('application/octet-stream', (_req, payload, done) => done(null, payload));

  versionRoutes(app);
  imageRoutes(app, service);
  imageDataRoutes(app, service);
  tagRoutes(app, service);
  memberRoutes(app, service);

  app.setNotFoundHandler(async () => {
    throw notFound();
  });
  return app;
}
