/**
 * The Neutron API (port 9696): Neutron's error body, its optional `.json` suffix, and the
 * route modules under routes/, mounted specific-first with the generic resource routes last.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { DomainError } from '../../core/errors.js';
import type { Agents } from '../../core/network/agents.js';
import type { LoadBalancerService } from '../../core/loadbalancer/service.js';
import type { PortForwardings } from '../../core/network/portforwardings.js';
import type { QosRules } from '../../core/network/qosrules.js';
import type { NetworkService } from '../../core/network/service.js';
import type { UnitOfWork } from '../../core/work.js';
import { type TokenAuthenticator, keystoneMiddleware401, tokenAuth } from '../auth.js';
import { createApp } from '../http.js';
import { resourceNotFound } from './request.js';
import { agentRoutes } from './routes/agents.js';
import { autoAllocateRoutes } from './routes/autoallocate.js';
import { extensionRoutes } from './routes/extensions.js';
import { lbaasV1Routes } from './routes/lbaasv1.js';
import { portForwardingRoutes } from './routes/portforwardings.js';
import { qosRoutes } from './routes/qos.js';
import { quotaRoutes } from './routes/quotas.js';
import { resourceRoutes } from './routes/resources.js';
import { trunkRoutes } from './routes/trunks.js';
import { versionRoutes } from './routes/versions.js';
import { type ServiceProvider, viewRoutes } from './routes/views.js';

export interface NetworkApiOptions {
  logger: Logger;
  service: NetworkService;
  uow: UnitOfWork;
  auth: TokenAuthenticator;
  /** Public identity URL for WWW-Authenticate. */
  identityUrl: () => string;
  /** Aliases served by GET /v2.0/extensions. */
  extensions: () => string[];
  /** What GET /v2.0/service-providers lists. */
  serviceProviders: () => ServiceProvider[];
  /** Serve Neutron LBaaS v1 (`/v2.0/lb/…`) on this endpoint, on this load-balancing service. */
  lbaasV1?: LoadBalancerService;
  /** Neutron's agents (the `agent` and `dhcp_agent_scheduler` extensions). */
  agents?: Agents;
  /** QoS rules and rule types (`qos`), when served. */
  qosRules?: QosRules;
  /** Floating IP port forwardings, when served. */
  portForwardings?: PortForwardings;
  /** Trunks' get_subports, when trunks are served. */
  trunks?: boolean;
}

/** Neutron's error body. */
function neutronError(err: DomainError) {
  return { NeutronError: { type: err.type, message: err.message, detail: err.detail } };
}

/** `/v2.0/quotas/x/details.json?a=b` → `/v2.0/quotas/x/details?a=b`. */
function stripJsonSuffix(url: string): string {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  return path.endsWith('.json') ? path.slice(0, -5) + (q < 0 ? '' : url.slice(q)) : url;
}

export function buildNetworkApi(opts: NetworkApiOptions): FastifyInstance {
  const { service } = opts;
  const app = createApp({
    name: 'network',
    logger: opts.logger,
    // Neutron accepts a `.json` suffix on every path (Tempest's quota details use it); it must go
    // before routing, not in a hook that runs after the route was chosen.
    rewriteUrl: stripJsonSuffix,
    // Neutron's paste pipeline: the version list is open, everything else behind auth_token.
    auth: { publicRoutes: ['GET /', 'GET /v2.0'], unmatched: 'authenticated', authenticate: tokenAuth(opts.auth) },
    errors: {
      render(err, _req, reply) {
        if (err.kind === 'unauthorized') return keystoneMiddleware401(reply, opts.identityUrl(), err.message);
        return neutronError(err);
      },
    },
  });

  versionRoutes(app, service);
  extensionRoutes(app, opts.extensions);
  quotaRoutes(app, opts.uow);
  viewRoutes(app, service.store, opts.serviceProviders);
  if (opts.lbaasV1) lbaasV1Routes(app, opts.lbaasV1);
  if (opts.agents) agentRoutes(app, opts.agents, service);
  autoAllocateRoutes(app, service);
  if (opts.qosRules) qosRoutes(app, opts.qosRules);
  if (opts.portForwardings) portForwardingRoutes(app, opts.portForwardings);
  if (opts.trunks) trunkRoutes(app, service.store);
  resourceRoutes(app, service);

  app.setNotFoundHandler(async () => {
    throw resourceNotFound();
  });
  return app;
}
