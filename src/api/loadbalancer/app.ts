import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { RequestContext } from '../../core/context.js';
import { DomainError } from '../../core/errors.js';
import * as S from '../../core/loadbalancer/schemas.js';
import type { LoadBalancerService } from '../../core/loadbalancer/service.js';
import { fieldsParam } from '../../core/loadbalancer/query.js';
import * as catalog from '../../core/loadbalancer/catalog.js';
import { parseBody, parseListBody } from '../../core/loadbalancer/wsme.js';
import { type TokenAuthenticator, setWwwAuthenticate, tokenAuth } from '../auth.js';
import type { UnitOfWork } from '../../core/work.js';
import { baseUrl, createApp, queryLists } from '../http.js';
import { boolFromString } from '../../util/bool.js';

export interface LoadBalancerApiOptions {
  logger: Logger;
  service: LoadBalancerService;
  uow: UnitOfWork;
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

/** pecan's own answers for unknown paths and methods (not Octavia's fault format). */
const pecanNotFound = () => new DomainError('not_found', 'PecanNotFound', 'Not Found');
const pecanMethodNotAllowed = () => new DomainError('method_not_allowed', 'PecanMethodNotAllowed', 'Method Not Allowed');

type Handler = (req: FastifyRequest, reply: FastifyReply, ctx: RequestContext) => Promise<unknown>;
type Methods = Partial<Record<'GET' | 'POST' | 'PUT' | 'DELETE', Handler>>;

/** The Octavia v2 API (load-balancer endpoint), under both /v2 and /v2.0. */
export function buildLoadBalancerApi(opts: LoadBalancerApiOptions): FastifyInstance {
  const svc = opts.service;
  const app = createApp({
    name: 'load-balancer',
    logger: opts.logger,
    uow: opts.uow,
    // Octavia's version documents are open; the rest sits behind auth_token.
    auth: { publicRoutes: ['GET /', 'GET /v2', 'GET /v2.0'], unmatched: 'authenticated', authenticate: tokenAuth(opts.auth) },
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

  const query = (req: FastifyRequest) => queryLists(req);
  const url = (req: FastifyRequest) => new URL(req.url, baseUrl(req));
  const fields = (req: FastifyRequest) => fieldsParam(query(req));
  const params = (req: FastifyRequest) => req.params as Record<string, string>;
  const body = (req: FastifyRequest, arg: string, root: string, spec: S_Fields) => parseBody(arg, root, spec, req.rawBody);
  const list = (key: string, r: { items: unknown[]; links: unknown[] }, linksKey = `${key}_links`) => ({ [key]: r.items, [linksKey]: r.links });
  const created = (reply: FastifyReply, v: unknown) => {
    reply.status(201);
    return v;
  };
  const noContent = (reply: FastifyReply, status = 204) => {
    reply.status(status);
    return reply.send();
  };

  app.get('/', async (req) => ({
    versions: VERSIONS.map(([id, updated]) => ({
      id,
      status: id === 'v2.26' ? 'CURRENT' : 'SUPPORTED',
      updated,
      links: [{ href: `${baseUrl(req)}/v2`, rel: 'self' }],
    })),
  }));

  const route = (path: string, methods: Methods) => {
    for (const prefix of ['/v2', '/v2.0']) {
      app.route({
        method: ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'],
        url: `${prefix}${path}`,
        handler: async (req, reply) => {
          const method = (req.method === 'HEAD' ? 'GET' : req.method) as keyof Methods;
          const h = methods[method];
          if (!h) throw pecanMethodNotAllowed();
          return h(req, reply, req.ctx!);
        },
      });
    }
  };

  route('', { GET: async () => 'v2' });

  // ------------------------------------------------------------ load balancers
  route('/lbaas/loadbalancers', {
    GET: async (req, _r, ctx) => list('loadbalancers', await svc.loadbalancers.listLoadBalancers(ctx, query(req), url(req))),
    POST: async (req, reply, ctx) =>
      created(reply, { loadbalancer: await svc.loadbalancers.createLoadBalancer(ctx, body(req, 'load_balancer', 'loadbalancer', S.loadBalancerPost)) }),
  });
  route('/lbaas/loadbalancers/:id', {
    GET: async (req, _r, ctx) => ({ loadbalancer: await svc.loadbalancers.showLoadBalancer(ctx, params(req).id, fields(req)) }),
    PUT: async (req, _r, ctx) => ({
      loadbalancer: await svc.loadbalancers.updateLoadBalancer(ctx, params(req).id, body(req, 'load_balancer', 'loadbalancer', S.loadBalancerPut)),
    }),
    DELETE: async (req, reply, ctx) => {
      await svc.loadbalancers.deleteLoadBalancer(ctx, params(req).id, boolFromString(query(req).get('cascade')?.[0]));
      return noContent(reply);
    },
  });
  for (const sub of ['status', 'statuses']) {
    route(`/lbaas/loadbalancers/:id/${sub}`, { GET: async (req, _r, ctx) => ({ statuses: await svc.loadbalancers.statusTree(ctx, params(req).id) }) });
  }
  route('/lbaas/loadbalancers/:id/stats', { GET: async (req, _r, ctx) => ({ stats: await svc.loadbalancers.loadBalancerStats(ctx, params(req).id) }) });
  route('/lbaas/loadbalancers/:id/failover', {
    PUT: async (req, reply, ctx) => {
      await svc.loadbalancers.failoverLoadBalancer(ctx, params(req).id);
      return noContent(reply, 202);
    },
  });

  // ------------------------------------------------------------ listeners
  route('/lbaas/listeners', {
    GET: async (req, _r, ctx) => list('listeners', await svc.listeners.listListeners(ctx, query(req), url(req))),
    POST: async (req, reply, ctx) => created(reply, { listener: await svc.listeners.createListener(ctx, body(req, 'listener_', 'listener', S.listenerPost)) }),
  });
  route('/lbaas/listeners/:id', {
    GET: async (req, _r, ctx) => ({ listener: await svc.listeners.showListener(ctx, params(req).id, fields(req)) }),
    PUT: async (req, _r, ctx) => ({ listener: await svc.listeners.updateListener(ctx, params(req).id, body(req, 'listener_', 'listener', S.listenerPut)) }),
    DELETE: async (req, reply, ctx) => {
      await svc.listeners.deleteListener(ctx, params(req).id);
      return noContent(reply);
    },
  });
  route('/lbaas/listeners/:id/stats', { GET: async (req, _r, ctx) => ({ stats: await svc.listeners.showListenerStats(ctx, params(req).id) }) });

  // ------------------------------------------------------------ pools and members
  route('/lbaas/pools', {
    GET: async (req, _r, ctx) => list('pools', await svc.pools.listPools(ctx, query(req), url(req))),
    POST: async (req, reply, ctx) => created(reply, { pool: await svc.pools.createPool(ctx, body(req, 'pool_', 'pool', S.poolPost)) }),
  });
  route('/lbaas/pools/:id', {
    GET: async (req, _r, ctx) => ({ pool: await svc.pools.showPool(ctx, params(req).id, fields(req)) }),
    PUT: async (req, _r, ctx) => ({ pool: await svc.pools.updatePool(ctx, params(req).id, body(req, 'pool_', 'pool', S.poolPut)) }),
    DELETE: async (req, reply, ctx) => {
      await svc.pools.deletePool(ctx, params(req).id);
      return noContent(reply);
    },
  });
  route('/lbaas/pools/:id/members', {
    GET: async (req, _r, ctx) => list('members', await svc.members.listMembers(ctx, params(req).id, query(req), url(req))),
    POST: async (req, reply, ctx) =>
      created(reply, { member: await svc.members.createMember(ctx, params(req).id, body(req, 'member_', 'member', S.memberPost)) }),
    PUT: async (req, reply, ctx) => {
      const members = parseListBody('members_', 'members', S.memberPost, req.rawBody);
      await svc.members.batchUpdateMembers(ctx, params(req).id, members, boolFromString(query(req).get('additive_only')?.[0]));
      return noContent(reply, 202);
    },
  });
  route('/lbaas/pools/:id/members/:mid', {
    GET: async (req, _r, ctx) => ({ member: await svc.members.showMember(ctx, params(req).id, params(req).mid, fields(req)) }),
    PUT: async (req, _r, ctx) => ({
      member: await svc.members.updateMember(ctx, params(req).id, params(req).mid, body(req, 'member_', 'member', S.memberPut)),
    }),
    DELETE: async (req, reply, ctx) => {
      await svc.members.deleteMember(ctx, params(req).id, params(req).mid);
      return noContent(reply);
    },
  });

  // ------------------------------------------------------------ health monitors
  route('/lbaas/healthmonitors', {
    GET: async (req, _r, ctx) => list('healthmonitors', await svc.monitors.listMonitors(ctx, query(req), url(req))),
    POST: async (req, reply, ctx) =>
      created(reply, { healthmonitor: await svc.monitors.createMonitor(ctx, body(req, 'health_monitor_', 'healthmonitor', S.monitorPost)) }),
  });
  route('/lbaas/healthmonitors/:id', {
    GET: async (req, _r, ctx) => ({ healthmonitor: await svc.monitors.showMonitor(ctx, params(req).id, fields(req)) }),
    PUT: async (req, _r, ctx) => ({
      healthmonitor: await svc.monitors.updateMonitor(ctx, params(req).id, body(req, 'health_monitor_', 'healthmonitor', S.monitorPut)),
    }),
    DELETE: async (req, reply, ctx) => {
      await svc.monitors.deleteMonitor(ctx, params(req).id);
      return noContent(reply);
    },
  });

  // ------------------------------------------------------------ L7
  route('/lbaas/l7policies', {
    GET: async (req, _r, ctx) => list('l7policies', await svc.l7.listL7Policies(ctx, query(req), url(req))),
    POST: async (req, reply, ctx) => created(reply, { l7policy: await svc.l7.createL7Policy(ctx, body(req, 'l7policy_', 'l7policy', S.l7policyPost)) }),
  });
  route('/lbaas/l7policies/:id', {
    GET: async (req, _r, ctx) => ({ l7policy: await svc.l7.showL7Policy(ctx, params(req).id, fields(req)) }),
    PUT: async (req, _r, ctx) => ({ l7policy: await svc.l7.updateL7Policy(ctx, params(req).id, body(req, 'l7policy_', 'l7policy', S.l7policyPut)) }),
    DELETE: async (req, reply, ctx) => {
      await svc.l7.deleteL7Policy(ctx, params(req).id);
      return noContent(reply);
    },
  });
  route('/lbaas/l7policies/:id/rules', {
    GET: async (req, _r, ctx) => list('rules', await svc.l7.listL7Rules(ctx, params(req).id, query(req), url(req))),
    POST: async (req, reply, ctx) => created(reply, { rule: await svc.l7.createL7Rule(ctx, params(req).id, body(req, 'rule_', 'rule', S.l7rulePost)) }),
  });
  route('/lbaas/l7policies/:id/rules/:rid', {
    GET: async (req, _r, ctx) => ({ rule: await svc.l7.showL7Rule(ctx, params(req).id, params(req).rid, fields(req)) }),
    PUT: async (req, _r, ctx) => ({ rule: await svc.l7.updateL7Rule(ctx, params(req).id, params(req).rid, body(req, 'l7rule_', 'rule', S.l7rulePut)) }),
    DELETE: async (req, reply, ctx) => {
      await svc.l7.deleteL7Rule(ctx, params(req).id, params(req).rid);
      return noContent(reply);
    },
  });

  // ------------------------------------------------------------ quotas
  const store = svc.store;
  route('/lbaas/quotas', {
    GET: async (req, _r, ctx) => ({ quotas: await svc.quotas.listQuotas(store.db, ctx, query(req).get('project_id')?.[0]), quotas_links: [] }),
  });
  route('/lbaas/quotas/defaults', {
    GET: async () => ({ quota: svc.quotas.renderQuota(svc.quotas.DEFAULT_QUOTAS) }),
  });
  route('/lbaas/quotas/:project', {
    GET: async (req, _r, ctx) => ({ quota: await svc.quotas.showQuota(store.db, ctx, params(req).project) }),
    PUT: async (req, reply, ctx) => {
      const b = body(req, 'quotas', 'quota', S.quotaPut) as Record<string, number | null>;
      const quota = await svc.uow.run(({ trx }) => svc.quotas.updateQuota(trx, ctx, params(req).project, b));
      reply.status(202);
      return { quota };
    },
    DELETE: async (req, reply, ctx) => {
      await svc.uow.run(({ trx }) => svc.quotas.resetQuota(trx, ctx, params(req).project));
      return noContent(reply, 202);
    },
  });

  // ------------------------------------------------------------ providers, flavors, availability zones
  route('/lbaas/providers', { GET: async (req) => ({ providers: catalog.listProviders(query(req)) }) });
  route('/lbaas/providers/:p/flavor_capabilities', {
    GET: async (req, _r, ctx) => ({ flavor_capabilities: catalog.flavorCapabilities(ctx, params(req).p, query(req)) }),
  });
  route('/lbaas/providers/:p/availability_zone_capabilities', {
    GET: async (req, _r, ctx) => ({ availability_zone_capabilities: catalog.azCapabilities(ctx, params(req).p, query(req)) }),
  });
  route('/lbaas/flavorprofiles', {
    GET: async (req, _r, ctx) => list('flavorprofiles', await svc.catalog.listFlavorProfiles(ctx, query(req), url(req)), 'flavorprofile_links'),
    POST: async (req, reply, ctx) =>
      created(reply, { flavorprofile: await svc.catalog.createFlavorProfile(ctx, body(req, 'flavor_profile_', 'flavorprofile', S.flavorProfilePost)) }),
  });
  route('/lbaas/flavorprofiles/:id', {
    GET: async (req, _r, ctx) => ({ flavorprofile: await svc.catalog.showFlavorProfile(ctx, params(req).id, fields(req)) }),
    PUT: async (req, _r, ctx) => ({
      flavorprofile: await svc.catalog.updateFlavorProfile(ctx, params(req).id, body(req, 'flavor_profile_', 'flavorprofile', S.flavorProfilePut)),
    }),
    DELETE: async (req, reply, ctx) => {
      await svc.catalog.deleteFlavorProfile(ctx, params(req).id);
      return noContent(reply);
    },
  });
  route('/lbaas/flavors', {
    GET: async (req, _r, ctx) => list('flavors', await svc.catalog.listFlavors(ctx, query(req), url(req))),
    POST: async (req, reply, ctx) => created(reply, { flavor: await svc.catalog.createFlavor(ctx, body(req, 'flavor_', 'flavor', S.flavorPost)) }),
  });
  route('/lbaas/flavors/:id', {
    GET: async (req, _r, ctx) => ({ flavor: await svc.catalog.showFlavor(ctx, params(req).id, fields(req)) }),
    PUT: async (req, _r, ctx) => ({ flavor: await svc.catalog.updateFlavor(ctx, params(req).id, body(req, 'flavor_', 'flavor', S.flavorPut)) }),
    DELETE: async (req, reply, ctx) => {
      await svc.catalog.deleteFlavor(ctx, params(req).id);
      return noContent(reply);
    },
  });
  route('/lbaas/availabilityzoneprofiles', {
    GET: async (req, _r, ctx) =>
      list('availability_zone_profiles', await svc.catalog.listAzProfiles(ctx, query(req), url(req)), 'availability_zone_profile_links'),
    POST: async (req, reply, ctx) =>
      created(reply, {
        availability_zone_profile: await svc.catalog.createAzProfile(
          ctx,
          body(req, 'availability_zone_profile_', 'availability_zone_profile', S.azProfilePost),
        ),
      }),
  });
  route('/lbaas/availabilityzoneprofiles/:id', {
    GET: async (req, _r, ctx) => ({ availability_zone_profile: await svc.catalog.showAzProfile(ctx, params(req).id, fields(req)) }),
    PUT: async (req, _r, ctx) => ({
      availability_zone_profile: await svc.catalog.updateAzProfile(
        ctx,
        params(req).id,
        body(req, 'availability_zone_profile_', 'availability_zone_profile', S.azProfilePut),
      ),
    }),
    DELETE: async (req, reply, ctx) => {
      await svc.catalog.deleteAzProfile(ctx, params(req).id);
      return noContent(reply);
    },
  });
  route('/lbaas/availabilityzones', {
    GET: async (req, _r, ctx) => list('availability_zones', await svc.catalog.listAzs(ctx, query(req), url(req))),
    POST: async (req, reply, ctx) =>
      created(reply, { availability_zone: await svc.catalog.createAz(ctx, body(req, 'availability_zone_', 'availability_zone', S.azPost)) }),
  });
  route('/lbaas/availabilityzones/:name', {
    GET: async (req, _r, ctx) => ({ availability_zone: await svc.catalog.showAz(ctx, params(req).name, fields(req)) }),
    PUT: async (req, _r, ctx) => ({
      availability_zone: await svc.catalog.updateAz(ctx, params(req).name, body(req, 'availability_zone_', 'availability_zone', S.azPut)),
    }),
    DELETE: async (req, reply, ctx) => {
      await svc.catalog.deleteAz(ctx, params(req).name);
      return noContent(reply);
    },
  });

  // ------------------------------------------------------------ amphorae (what serves each load balancer)
  route('/octavia/amphorae', {
    GET: async (req, _r, ctx) => list('amphorae', await svc.amphorae.listAmphorae(ctx, query(req), url(req))),
  });
  route('/octavia/amphorae/:id', {
    GET: async (req, _r, ctx) => ({ amphora: await svc.amphorae.showAmphora(ctx, params(req).id, fields(req)) }),
  });
  route('/octavia/amphorae/:id/config', {
    PUT: async (req, reply, ctx) => {
      await svc.amphorae.configureAmphora(ctx, params(req).id);
      return noContent(reply, 202);
    },
  });
  route('/octavia/amphorae/:id/failover', {
    PUT: async (req, reply, ctx) => {
      await svc.amphorae.failoverAmphora(ctx, params(req).id);
      return noContent(reply, 202);
    },
  });
  route('/octavia/amphorae/:id/stats', {
    GET: async (req, _r, ctx) => ({ amphora_stats: await svc.amphorae.amphoraStats(ctx, params(req).id) }),
  });

  app.setNotFoundHandler(async () => {
    throw pecanNotFound();
  });
  return app;
}

type S_Fields = Parameters<typeof parseBody>[2];
