import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { ComputeService } from '../../core/compute/service.js';
import { type TokenAuthenticator, keystoneMiddleware401, tokenAuth } from '../auth.js';
import { createApp } from '../http.js';
import { ComputeEdge, NOT_FOUND } from './edge.js';
import { actionRoutes } from './routes/actions.js';
import { consoleRoutes } from './routes/consoles.js';
import { attachSerialProxy } from './serial.js';
import { eventRoutes } from './routes/events.js';
import { extraRoutes } from './routes/extras.js';
import { flavorRoutes } from './routes/flavors.js';
import { hostRoutes } from './routes/hosts.js';
import { interfaceRoutes } from './routes/interfaces.js';
import { keypairRoutes } from './routes/keypairs.js';
import { metadataRoutes } from './routes/metadata.js';
import { proxyRoutes } from './routes/proxies.js';
import { quotaRoutes } from './routes/quotas.js';
import { recordRoutes } from './routes/records.js';
import { serverRoutes } from './routes/servers.js';
import { versionRoutes } from './routes/versions.js';
import { requestedVersion } from './version.js';

export interface ComputeApiOptions {
  logger: Logger;
  compute: ComputeService;
  auth: TokenAuthenticator;
  identityUrl: () => string;
  /** The image service's URL (the image proxy's `alternate` links). */
  imageUrl: () => string;
}

/** webob.exc's fault names by status, as Nova's Fault renders them. */
const FAULT_NAMES: Record<number, string> = {
  400: 'badRequest',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'itemNotFound',
  405: 'badMethod',
  409: 'conflictingRequest',
  413: 'overLimit',
  415: 'badMediaType',
  429: 'overLimit',
  501: 'notImplemented',
  503: 'serviceUnavailable',
};

/**
 * Nova's API (v2.1 with microversions): errors as `{"<faultName>": {code, message}}`, a 401 as
 * keystonemiddleware answers it, every /v2.1 response naming the microversion it ran at.
 */
export function buildComputeApi(opts: ComputeApiOptions): FastifyInstance {
  const app = createApp({
    name: 'compute',
    logger: opts.logger,
    // oslo.middleware's max_request_body_size in front of Nova.
    bodyLimit: 114_688,
    auth: { publicRoutes: ['GET /'], unmatched: 'authenticated', authenticate: tokenAuth(opts.auth) },
    errors: {
      render(err, _req, reply) {
        if (err.kind === 'unauthorized') return keystoneMiddleware401(reply, opts.identityUrl(), err.message);
        const status = err.status;
        const name = FAULT_NAMES[status] ?? 'computeFault';
        return { [name]: { code: status, message: err.message } };
      },
    },
  });

  // Callback hooks, not async ones: they wait for nothing, and an async hook costs every request a
  // promise and a microtask hop (issue 17). What one throws is the request's error all the same.
  app.addHook('onRequest', (req, reply, done) => {
    reply.header('x-compute-request-id', req.id);
    const path = req.url.split('?')[0];
    if (path === '/v2.1' || path.startsWith('/v2.1/')) req.computeVersion = requestedVersion(req.headers);
    done();
  });
  app.addHook('onSend', (req, reply, payload, done) => {
    if (req.computeVersion) {
      reply.header('openstack-api-version', `compute ${req.computeVersion}`);
      reply.header('x-openstack-nova-api-version', req.computeVersion.toString());
      reply.header('vary', 'OpenStack-API-Version, X-OpenStack-Nova-API-Version');
    }
    done(null, payload);
  });

  const edge = new ComputeEdge(app, opts.compute);
  versionRoutes(edge);
  flavorRoutes(edge);
  serverRoutes(edge);
  actionRoutes(edge);
  consoleRoutes(edge);
  attachSerialProxy(app.server, opts.compute, opts.logger);
  interfaceRoutes(edge);
  metadataRoutes(edge);
  keypairRoutes(edge);
  quotaRoutes(edge);
  hostRoutes(edge);
  eventRoutes(edge);
  recordRoutes(edge);
  proxyRoutes(edge, opts.imageUrl);
  extraRoutes(edge);

  app.setNotFoundHandler(async () => {
    throw NOT_FOUND();
  });
  return app;
}
