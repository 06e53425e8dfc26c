import type { FastifyRequest } from 'fastify';
import { hostUptime } from '../../../core/compute/hypervisors.js';
import { novaBadRequest, novaNotFound } from '../../../core/compute/errors.js';
import { strictBoolFromString } from '../../../util/bool.js';
import { ComputeEdge, NOT_FOUND } from '../edge.js';
import { aggregateView, hypervisorStatisticsView, hypervisorView, serviceView, zonesDetailView } from '../hostviews.js';
import {
  AGGREGATE_CREATE_SCHEMA,
  AGGREGATE_HOST_SCHEMA,
  AGGREGATE_IMAGES_SCHEMA,
  AGGREGATE_METADATA_SCHEMA,
  AGGREGATE_UPDATE_SCHEMA,
  serviceUpdateSchema,
  truthy,
  validateBody,
} from '../schemas.js';

/** Where servers run: availability zones, hypervisors, services, aggregates and os-hosts. */
export function hostRoutes(edge: ComputeEdge): void {
  const { app, compute } = edge;

  // ------------------------------------------------------------ availability zones

  app.get('/v2.1/os-availability-zone', async () => {
    return { availabilityZoneInfo: (await compute.zones.list()).map((z) => ({ zoneName: z.name, zoneState: { available: z.available }, hosts: null })) };
  });
  app.get('/v2.1/os-availability-zone/detail', async (req) => zonesDetailView(await compute.zones.detail(edge.caller(req))));

  // ------------------------------------------------------------ hypervisors

  /** with_servers (2.53): strutils.bool_from_string(strict=True). */
  const withServers = (req: FastifyRequest): boolean => {
    const raw = edge.query(req).get('with_servers')?.[0];
    if (raw === undefined || !edge.version(req).gte('2.53')) return false;
    const b = strictBoolFromString(raw);
    if (b === undefined) {
      throw novaBadRequest(
        `Invalid input for query parameters with_servers. Value: ${raw}. Unrecognized value '${raw}', acceptable values are: '0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'`,
      );
    }
    return b;
  };

  const listHypervisors = async (req: FastifyRequest, detail: boolean) => {
    const v = edge.version(req);
    const q = edge.query(req);
    const pattern = v.gte('2.53') ? q.get('hypervisor_hostname_pattern')?.[0] : undefined;
    const paged = v.gte('2.33');
    if (pattern !== undefined && (q.has('limit') || q.has('marker'))) {
      throw novaBadRequest('Paging over hypervisors with the hypervisor_hostname_pattern query parameter is not supported.');
    }
    const { limit, marker } = paged ? edge.limitAndMarker(q) : { limit: undefined, marker: undefined };
    const ws = withServers(req);
    const nodes = await compute.hypervisors.list(edge.caller(req), { detail, pattern, withServers: ws, limit, marker, byUuid: v.gte('2.53') });
    const out: Record<string, unknown> = { hypervisors: nodes.map((h) => hypervisorView(v, h, detail, ws)) };
    if (paged && pattern === undefined && limit !== undefined) {
      const next = edge.nextLinks(
        edge.view(req),
        detail ? 'os-hypervisors/detail' : 'os-hypervisors',
        q,
        nodes.map((n) => (v.gte('2.53') ? n.uuid : String(n.id))),
        limit,
      );
      if (next) out.hypervisors_links = next;
    }
    return out;
  };
  app.get('/v2.1/os-hypervisors', (req) => listHypervisors(req, false));
  app.get('/v2.1/os-hypervisors/detail', (req) => listHypervisors(req, true));
  app.get('/v2.1/os-hypervisors/statistics', async (req) => {
    if (edge.version(req).gte('2.88')) throw NOT_FOUND();
    return hypervisorStatisticsView(await compute.hypervisors.statistics(edge.caller(req)));
  });
  app.get('/v2.1/os-hypervisors/:id', async (req) => {
    const v = edge.version(req);
    const ws = withServers(req);
    const h = await compute.hypervisors.show(edge.caller(req), edge.params(req).id, { byUuid: v.gte('2.53'), withServers: ws });
    return { hypervisor: hypervisorView(v, h, true, ws) };
  });
  app.get('/v2.1/os-hypervisors/:id/uptime', async (req) => {
    const v = edge.version(req);
    if (v.gte('2.88')) throw NOT_FOUND();
    const h = await compute.hypervisors.show(edge.caller(req), edge.params(req).id, { byUuid: v.gte('2.53'), policy: 'uptime' });
    return { hypervisor: { ...hypervisorView(v, h, false), uptime: hostUptime() } };
  });
  app.get('/v2.1/os-hypervisors/:pattern/search', async (req) => {
    const v = edge.version(req);
    if (v.gte('2.53')) throw NOT_FOUND();
    return { hypervisors: (await compute.hypervisors.search(edge.caller(req), edge.params(req).pattern, false)).map((h) => hypervisorView(v, h, false)) };
  });
  app.get('/v2.1/os-hypervisors/:pattern/servers', async (req) => {
    const v = edge.version(req);
    if (v.gte('2.53')) throw NOT_FOUND();
    return { hypervisors: (await compute.hypervisors.search(edge.caller(req), edge.params(req).pattern, true)).map((h) => hypervisorView(v, h, false)) };
  });

  // ------------------------------------------------------------ services

  app.get('/v2.1/os-services', async (req) => {
    const v = edge.version(req);
    const q = edge.query(req);
    const services = await compute.services.list(edge.caller(req), { host: q.get('host')?.[0], binary: q.get('binary')?.[0] });
    return { services: services.map((s) => serviceView(v, s)) };
  });
  app.put('/v2.1/os-services/:id', async (req) => {
    const v = edge.version(req);
    const ctx = edge.caller(req);
    const id = edge.params(req).id;
    const b = edge.body(req);
    validateBody(serviceUpdateSchema(v), b);
    const body = b as Record<string, unknown>;
    if (v.gte('2.53')) {
      if (!/^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i.test(id)) throw novaBadRequest(`Invalid uuid ${id}`);
      const svc = await compute.services.update(ctx, id, {
        status: body.status as 'enabled' | 'disabled' | undefined,
        disabledReason: body.disabled_reason as string | undefined,
        forcedDown: body.forced_down === undefined ? undefined : truthy(body.forced_down),
      });
      return { service: serviceView(v, svc) };
    }
    const host = String(body.host);
    const binary = String(body.binary);
    const actions = v.gte('2.11') ? ['enable', 'disable', 'disable-log-reason', 'force-down'] : ['enable', 'disable', 'disable-log-reason'];
    if (!actions.includes(id)) throw novaNotFound('Unknown action');
    if (id === 'force-down') {
      if (body.forced_down === undefined) throw novaBadRequest('Missing forced_down field');
      const forced = truthy(body.forced_down);
      await compute.services.updateByHost(ctx, host, binary, { forcedDown: forced });
      return { service: { host, binary, forced_down: forced } };
    }
    if (id === 'disable-log-reason' && body.disabled_reason === undefined) throw novaBadRequest('Missing disabled reason field');
    const reason = id === 'disable-log-reason' ? String(body.disabled_reason) : null;
    await compute.services.updateByHost(ctx, host, binary, id === 'enable' ? { status: 'enabled' } : { status: 'disabled', disabledReason: reason });
    const out: Record<string, unknown> = { host, binary, status: id === 'enable' ? 'enabled' : 'disabled' };
    if (reason) out.disabled_reason = reason;
    return { service: out };
  });
  app.delete('/v2.1/os-services/:id', async (req, reply) => {
    const v = edge.version(req);
    const id = edge.params(req).id;
    if (v.gte('2.53')) {
      if (!/^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i.test(id)) throw novaBadRequest(`Invalid uuid ${id}`);
    } else if (!/^\s*-?\d+\s*$/.test(id)) throw novaBadRequest('Invalid input received: id must be an integer');
    await compute.services.delete(edge.caller(req), id, v.gte('2.53'));
    return ComputeEdge.noContent(reply);
  });

  // ------------------------------------------------------------ aggregates

  app.get('/v2.1/os-aggregates', async (req) => {
    const v = edge.version(req);
    return { aggregates: (await compute.aggregates.list(edge.caller(req))).map((a) => aggregateView(v, a)) };
  });
  app.post('/v2.1/os-aggregates', async (req) => {
    const v = edge.version(req);
    const b = edge.body(req);
    validateBody(AGGREGATE_CREATE_SCHEMA, b);
    const a = (b as { aggregate: { name: string; availability_zone?: string | null } }).aggregate;
    const agg = await compute.aggregates.create(edge.caller(req), a.name.trim(), a.availability_zone ? a.availability_zone.trim() : null);
    return { aggregate: aggregateView(v, agg, { create: true }) };
  });
  app.get('/v2.1/os-aggregates/:id', async (req) => {
    return { aggregate: aggregateView(edge.version(req), await compute.aggregates.show(edge.caller(req), edge.params(req).id)) };
  });
  app.put('/v2.1/os-aggregates/:id', async (req) => {
    const b = edge.body(req);
    validateBody(AGGREGATE_UPDATE_SCHEMA, b);
    const a = (b as { aggregate: { name?: string; availability_zone?: string | null } }).aggregate;
    const agg = await compute.aggregates.update(edge.caller(req), edge.params(req).id, {
      name: a.name?.trim(),
      availabilityZone: Object.hasOwn(a, 'availability_zone') ? (a.availability_zone ?? null) : undefined,
    });
    return { aggregate: aggregateView(edge.version(req), agg) };
  });
  app.delete('/v2.1/os-aggregates/:id', async (req, reply) => {
    await compute.aggregates.delete(edge.caller(req), edge.params(req).id);
    return reply.status(200).send();
  });
  app.post('/v2.1/os-aggregates/:id/action', async (req) => {
    const ctx = edge.caller(req);
    const id = edge.params(req).id;
    const b = edge.body(req);
    if (typeof b !== 'object' || b === null || Array.isArray(b) || Object.keys(b).length === 0) throw novaBadRequest('Malformed request body');
    const [name] = Object.keys(b);
    const v = edge.version(req);
    if (name === 'add_host' || name === 'remove_host') {
      validateBody(AGGREGATE_HOST_SCHEMA(name), b);
      const host = (b as Record<string, { host: string }>)[name].host;
      const agg = name === 'add_host' ? await compute.aggregates.addHost(ctx, id, host) : await compute.aggregates.removeHost(ctx, id, host);
      return { aggregate: aggregateView(v, agg) };
    }
    if (name === 'set_metadata') {
      validateBody(AGGREGATE_METADATA_SCHEMA, b);
      const md = (b as { set_metadata: { metadata: Record<string, string | null> } }).set_metadata.metadata;
      return { aggregate: aggregateView(v, await compute.aggregates.setMetadata(ctx, id, md)) };
    }
    throw novaBadRequest(`There is no such action: ${name}`);
  });

  app.post('/v2.1/os-aggregates/:id/images', async (req, reply) => {
    edge.needs(req, '2.81');
    const b = edge.body(req);
    await compute.aggregates.cacheImages(edge.caller(req), edge.params(req).id, () => {
      validateBody(AGGREGATE_IMAGES_SCHEMA, b);
      return (b as { cache: Array<{ id: string }> }).cache.map((c) => c.id);
    });
    return ComputeEdge.noContent(reply, 202);
  });

  // ------------------------------------------------------------ os-hosts (before 2.43)

  const hostsBefore243 = (req: FastifyRequest) => {
    if (edge.version(req).gte('2.43')) throw NOT_FOUND();
  };
  app.get('/v2.1/os-hosts', async (req) => {
    hostsBefore243(req);
    return { hosts: await compute.hosts.list(edge.caller(req), edge.query(req).get('zone')?.[0]) };
  });
  app.get('/v2.1/os-hosts/:host', async (req) => {
    hostsBefore243(req);
    return { host: (await compute.hosts.show(edge.caller(req), edge.params(req).host)).map((resource) => ({ resource })) };
  });
  app.put('/v2.1/os-hosts/:host', async (req) => {
    hostsBefore243(req);
    const b = edge.body(req);
    const HOST_UPDATE = {
      type: 'object',
      properties: {
        status: { type: 'string', enum: ['enable', 'disable', 'Enable', 'Disable', 'ENABLE', 'DISABLE'] },
        maintenance_mode: { type: 'string', enum: ['enable', 'disable', 'Enable', 'Disable', 'ENABLE', 'DISABLE'] },
      },
      anyOf: [{ required: ['status'] }, { required: ['maintenance_mode'] }],
      additionalProperties: false,
    };
    validateBody(HOST_UPDATE, b);
    return compute.hosts.update(edge.caller(req), edge.params(req).host);
  });
  for (const [path, action] of [
    ['startup', 'start'],
    ['shutdown', 'shutdown'],
    ['reboot', 'reboot'],
  ] as const) {
    app.get(`/v2.1/os-hosts/:host/${path}`, async (req) => {
      hostsBefore243(req);
      return compute.hosts.power(edge.caller(req), edge.params(req).host, action);
    });
  }
}
