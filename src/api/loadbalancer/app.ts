import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { LoadBalancerService } from '../../core/loadbalancer/service.js';
import { type TokenAuthenticator, setWwwAuthenticate, tokenAuth } from '../auth.js';
import { baseUrl, createApp } from '../http.js';
import { OctaviaEdge, pecanNotFound } from './edge.js';
import { amphoraRoutes } from './routes/amphorae.js';
import { catalogRoutes } from './routes/catalog.js';
import { healthMonitorRoutes } from './routes/healthmonitors.js';
import { l7PolicyRoutes } from './routes/l7policies.js';
import { listenerRoutes } from './routes/listeners.js';
import { loadBalancerRoutes } from './routes/loadbalancers.js';
import { poolRoutes } from './routes/pools.js';
import { quotaRoutes } from './routes/quotas.js';

export interface LoadBalancerApiOptions {
  logger: Logger;
  service: LoadBalancerService;
  auth: TokenAuthenticator;
  identityUrl: () => string;
}

/** API versions Octavia 11 (Zed) lists; 2.26 is current. */
const VERSIONS: Array<[string, string]> = [
  ['v2.0', '2016-12-11T00:00:00Z'],
  ['v2.1', '2018-04-20T00:00:00Z'],
  ['v2.2', '2018-07-31T00:00:00Z'],
  ['v2.3', '2018-12-18T00:00:00Z'],
  ['v2.4', '2018-12-19T00:00:00Z'],
  ['v2.5', '2019-01-21T00:00:00Z'],
  ['v2.6', '2019-01-25T00:00:00Z'],
  ['v2.7', '2018-01-25T12:00:00Z'],
  ['v2.8', '2019-02-12T00:00:00Z'],
  ['v2.9', '2019-03-04T00:00:00Z'],
  ['v2.10', '2019-03-05T00:00:00Z'],
  ['v2.11', '2019-06-24T00:00:00Z'],
  ['v2.12', '2019-09-11T00:00:00Z'],
  ['v2.13', '2019-09-13T00:00:00Z'],
  ['v2.14', '2019-11-10T00:00:00Z'],
  ['v2.15', '2020-03-10T00:00:00Z'],
  ['v2.16', '2020-03-15T00:00:00Z'],
  ['v2.17', '2020-04-29T00:00:00Z'],
  ['v2.18', '2020-04-29T01:00:00Z'],
  ['v2.19', '2020-05-12T00:00:00Z'],
  ['v2.20', '2020-08-02T00:00:00Z'],
  ['v2.21', '2020-09-03T00:00:00Z'],
  ['v2.22', '2020-09-04T00:00:00Z'],
  ['v2.23', '2020-09-07T00:00:00Z'],
  ['v2.24', '2020-10-15T00:00:00Z'],
  ['v2.25', '2021-10-02T00:00:00Z'],
  ['v2.26', '2022-08-29T00:00:00Z'],
];

/** Octavia's root controller mounts the same v2 controller twice, as /v2 and /v2.0. */
const PREFIXES = ['/v2', '/v2.0'];

/** The Octavia v2 API (load-balancer endpoint), under both prefixes. */
export function buildLoadBalancerApi(opts: LoadBalancerApiOptions): FastifyInstance {
  const app = createApp({
    name: 'load-balancer',
    logger: opts.logger,
    // Octavia's version documents are open; the rest sits behind auth_token.
    auth: { publicRoutes: ['GET /', ...PREFIXES.map((p) => `GET ${p}`)], unmatched: 'authenticated', authenticate: tokenAuth(opts.auth) },
    errors: {
      render(err, _req, reply) {
        if (err.kind === 'unauthorized') {
          setWwwAuthenticate(reply, opts.identityUrl());
          return { error: { code: 401, title: 'Unauthorized', message: err.message } };
        }
        if (err.type === 'PecanNotFound') return { code: 404, title: 'Not Found', description: '' };
        if (err.type === 'PecanMethodNotAllowed') return { code: 405, title: 'Method Not Allowed', description: '' };
        return { faultcode: err.status >= 500 ? 'Server' : 'Client', faultstring: err.message, debuginfo: null };
      },
    },
  });

  app.get('/', async (req) => ({
    versions: VERSIONS.map(([id, updated]) => ({
      id,
      status: id === 'v2.26' ? 'CURRENT' : 'SUPPORTED',
      updated,
      links: [{ href: `${baseUrl(req)}/v2`, rel: 'self' }],
    })),
  }));

  const edge = new OctaviaEdge(app, opts.service, PREFIXES);
  edge.route('', { GET: async () => 'v2' });
  loadBalancerRoutes(edge);
  listenerRoutes(edge);
  poolRoutes(edge);
  healthMonitorRoutes(edge);
  l7PolicyRoutes(edge);
  quotaRoutes(edge);
  catalogRoutes(edge);
  amphoraRoutes(edge);

  app.setNotFoundHandler(async () => {
    throw pecanNotFound();
  });
  return app;
}
