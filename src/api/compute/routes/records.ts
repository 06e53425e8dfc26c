import type { FastifyRequest } from 'fastify';
import { novaBadRequest } from '../../../core/compute/errors.js';
import type { GroupPolicy } from '../../../core/compute/servergroups.js';
import { parseUsageTime } from '../../../core/compute/usage.js';
import type { Schema } from '../../../util/jsonschema.js';
import { ComputeEdge, NOT_FOUND } from '../edge.js';
import { instanceActionDetailView, instanceActionView, migrationView, serverGroupView } from '../recordviews.js';
import { serverGroupCreateSchema, validateBody, validateQuery } from '../schemas.js';

const ISO = { type: 'string', format: 'date-time' };
const single = (s: Schema): Schema => ({ type: 'array', items: s, maxItems: 1 });
const MIGRATION_QUERY_259: Schema = {
  type: 'object',
  properties: {
    hidden: { type: 'array', items: { type: 'string' } },
    host: { type: 'array', items: { type: 'string' } },
    instance_uuid: { type: 'array', items: { type: 'string' } },
    source_compute: { type: 'array', items: { type: 'string' } },
    status: { type: 'array', items: { type: 'string' } },
    migration_type: { type: 'array', items: { type: 'string' } },
    limit: single({ type: ['integer', 'string'], pattern: '^[0-9]*$', minimum: 0, minLength: 1 }),
    marker: single({ type: 'string' }),
    'changes-since': single(ISO),
  },
  additionalProperties: false,
};

/**
 * What compute records about servers: server groups, instance actions and their events,
 * migrations (os-migrations and a server's own), tenant usage, and a server's password.
 */
export function recordRoutes(edge: ComputeEdge): void {
  const { app, compute } = edge;

  // ------------------------------------------------------------ server groups

  app.get('/v2.1/os-server-groups', async (req) => {
    const v = edge.version(req);
    const q = edge.query(req);
    const int = (k: string) => {
      const raw = q.get(k)?.[0];
      if (raw === undefined) return undefined;
      if (!/^[0-9]+$/.test(raw)) throw novaBadRequest(`Invalid input for query parameters ${k}. Value: ${raw}. '${raw}' does not match '^[0-9]*$'`);
      return Number(raw);
    };
    if (v.gte('2.75'))
      for (const k of q.keys())
        if (!['all_projects', 'limit', 'offset'].includes(k))
          throw novaBadRequest(
            `Invalid input for query parameters ${k}. Value: ${q.get(k)?.[0]}. Additional properties are not allowed ('${k}' was unexpected)`,
          );
    const groups = await compute.groups.list(edge.caller(req), { allProjects: q.has('all_projects'), limit: int('limit'), offset: int('offset') });
    return { server_groups: groups.map((g) => serverGroupView(v, g)) };
  });
  app.post('/v2.1/os-server-groups', async (req) => {
    const v = edge.version(req);
    const b = edge.body(req);
    validateBody(serverGroupCreateSchema(v), b);
    const g = (b as { server_group: { name: string; policy?: GroupPolicy; policies?: GroupPolicy[]; rules?: Record<string, string | number> } }).server_group;
    const rules = Object.fromEntries(Object.entries(g.rules ?? {}).map(([k, x]) => [k, Number(x)]));
    const group = await compute.groups.create(edge.caller(req), { name: g.name, policy: (g.policy ?? g.policies?.[0])!, rules });
    return { server_group: serverGroupView(v, group) };
  });
  app.get('/v2.1/os-server-groups/:id', async (req) => {
    return { server_group: serverGroupView(edge.version(req), await compute.groups.show(edge.caller(req), edge.params(req).id)) };
  });
  app.delete('/v2.1/os-server-groups/:id', async (req, reply) => {
    await compute.groups.delete(edge.caller(req), edge.params(req).id);
    return ComputeEdge.noContent(reply);
  });

  // ------------------------------------------------------------ instance actions

  app.get('/v2.1/servers/:id/os-instance-actions', async (req) => {
    const v = edge.version(req);
    const q = edge.query(req);
    const paged = v.gte('2.58');
    const since = paged ? q.get('changes-since')?.[0] : undefined;
    const before = v.gte('2.66') ? q.get('changes-before')?.[0] : undefined;
    for (const [k, x] of [
      ['changes-since', since],
      ['changes-before', before],
    ] as const) {
      if (x !== undefined && Number.isNaN(Date.parse(x))) {
        throw novaBadRequest(`Invalid input for query parameters ${k}. Value: ${x}. '${x}' is not a 'date-time'`);
      }
    }
    if (since && before && Date.parse(before) < Date.parse(since))
      throw novaBadRequest('The value of changes-since must be less than or equal to changes-before.');
    const { limit, marker } = paged ? edge.limitAndMarker(q) : { limit: undefined, marker: undefined };
    const actions = await compute.instanceActions.list(edge.caller(req), edge.params(req).id, v.gte('2.21'), {
      limit,
      marker,
      changesSince: since ? new Date(since).toISOString() : undefined,
      changesBefore: before ? new Date(before).toISOString() : undefined,
    });
    const out: Record<string, unknown> = { instanceActions: actions.map((a) => instanceActionView(v, a)) };
    if (paged && limit !== undefined) {
      const links = edge.nextLinks(
        edge.view(req),
        `servers/${edge.params(req).id}/os-instance-actions`,
        q,
        actions.map((a) => a.request_id),
        limit,
      );
      if (links) out.links = links;
    }
    return out;
  });
  app.get('/v2.1/servers/:id/os-instance-actions/:request', async (req) => {
    const v = edge.version(req);
    const ctx = edge.caller(req);
    const { id, request } = edge.params(req);
    const action = await compute.instanceActions.show(ctx, id, request, v.gte('2.21'));
    return { instanceAction: instanceActionDetailView(v, action, compute.instanceActions.disclosure(ctx).all) };
  });

  // ------------------------------------------------------------ migrations

  app.get('/v2.1/os-migrations', async (req) => {
    const v = edge.version(req);
    const q = edge.query(req);
    const one = (k: string) => q.get(k)?.[0];
    if (v.gte('2.59')) {
      const schema = structuredClone(MIGRATION_QUERY_259);
      const props = schema.properties as Record<string, Schema>;
      if (v.gte('2.66')) props['changes-before'] = single(ISO);
      if (v.gte('2.80')) Object.assign(props, { user_id: single({ type: 'string' }), project_id: single({ type: 'string' }) });
      validateQuery(schema, Object.fromEntries(q));
    }
    const since = v.gte('2.59') ? one('changes-since') : undefined;
    const before = v.gte('2.66') ? one('changes-before') : undefined;
    if (since && before && Date.parse(before) < Date.parse(since))
      throw novaBadRequest('The value of changes-since must be less than or equal to changes-before.');
    const { limit, marker } = v.gte('2.59') ? edge.limitAndMarker(q) : { limit: undefined, marker: undefined };
    const rows = await compute.migrations.list(edge.caller(req), {
      host: one('host'),
      status: one('status'),
      instanceUuid: one('instance_uuid'),
      migrationType: one('migration_type'),
      sourceCompute: one('source_compute'),
      userId: v.gte('2.80') ? one('user_id') : undefined,
      projectId: v.gte('2.80') ? one('project_id') : undefined,
      changesSince: since ? new Date(since).toISOString() : undefined,
      changesBefore: before ? new Date(before).toISOString() : undefined,
      sorted: v.gte('2.59'),
      limit,
      marker,
    });
    const base = edge.base(req);
    const out: Record<string, unknown> = { migrations: rows.map((m) => migrationView(v, m, { base, list: true })) };
    if (limit !== undefined) {
      const next = edge.nextLinks(
        edge.view(req),
        'os-migrations',
        q,
        rows.map((m) => m.uuid),
        limit,
      );
      if (next) out.migrations_links = next;
    }
    return out;
  });
  app.get('/v2.1/servers/:id/migrations', async (req) => {
    edge.needs(req, '2.23');
    const v = edge.version(req);
    const rows = await compute.migrations.inProgress(edge.caller(req), edge.params(req).id);
    return { migrations: rows.map((m) => migrationView(v, m, { base: edge.base(req), list: false })) };
  });
  app.get('/v2.1/servers/:id/migrations/:migration', async (req) => {
    edge.needs(req, '2.23');
    const { id, migration } = edge.params(req);
    const m = await compute.migrations.show(edge.caller(req), id, migration);
    return { migration: migrationView(edge.version(req), m, { base: edge.base(req), list: false }) };
  });
  // Both answer 202 with no body (server_migrations.py: @wsgi.response(202)).
  app.post('/v2.1/servers/:id/migrations/:migration/action', async (req, reply) => {
    edge.needs(req, '2.22');
    const b = edge.body(req);
    validateBody({ type: 'object', properties: { force_complete: { type: 'null' } }, required: ['force_complete'], additionalProperties: false }, b);
    const { id, migration } = edge.params(req);
    await compute.migrations.forceComplete(edge.caller(req), id, migration);
    return ComputeEdge.noContent(reply, 202);
  });
  app.delete('/v2.1/servers/:id/migrations/:migration', async (req, reply) => {
    edge.needs(req, '2.24');
    const { id, migration } = edge.params(req);
    await compute.migrations.abort(edge.caller(req), id, migration, edge.version(req).gte('2.65'));
    return ComputeEdge.noContent(reply, 202);
  });

  // ------------------------------------------------------------ simple tenant usage

  const usageQuery = (req: FastifyRequest) => {
    const q = edge.query(req);
    const v = edge.version(req);
    const paged = v.gte('2.40');
    const { limit, marker } = paged ? edge.limitAndMarker(q) : { limit: undefined, marker: undefined };
    return {
      start: parseUsageTime(q.get('start')?.[0]),
      stop: parseUsageTime(q.get('end')?.[0]),
      detailed: q.get('detailed')?.[0] === '1',
      limit: limit ?? 1000,
      marker,
      paged,
    };
  };
  app.get('/v2.1/os-simple-tenant-usage', async (req) => {
    // The router ignores a trailing slash; Nova's does not ("…/os-simple-tenant-usage/" is a show
    // of the empty project id, which no route has).
    if (new URL(req.url, 'http://x').pathname.endsWith('/')) throw NOT_FOUND();
    const uq = usageQuery(req);
    const { summaries, servers } = await compute.usage.list(edge.caller(req), uq);
    const out: Record<string, unknown> = { tenant_usages: summaries };
    if (uq.paged) {
      const next = edge.nextLinks(
        edge.view(req),
        'os-simple-tenant-usage',
        edge.query(req),
        servers.map((s) => s.instance_id),
        uq.limit,
      );
      if (next) out.tenant_usages_links = next;
    }
    return out;
  });
  app.get('/v2.1/os-simple-tenant-usage/:project', async (req) => {
    const uq = usageQuery(req);
    const project = edge.params(req).project;
    const { summary, servers } = await compute.usage.show(edge.caller(req), project, uq);
    const out: Record<string, unknown> = { tenant_usage: summary ?? {} };
    if (uq.paged) {
      const next = edge.nextLinks(
        edge.view(req),
        `os-simple-tenant-usage/${project}`,
        edge.query(req),
        servers.map((s) => s.instance_id),
        uq.limit,
      );
      if (next) out.tenant_usage_links = next;
    }
    return out;
  });

  // ------------------------------------------------------------ instance usage audit log

  app.get('/v2.1/os-instance_usage_audit_log', async (req) => {
    return { instance_usage_audit_logs: await compute.auditLog.list(edge.caller(req)) };
  });
  app.get('/v2.1/os-instance_usage_audit_log/:before', async (req) => {
    return { instance_usage_audit_log: await compute.auditLog.show(edge.caller(req), edge.params(req).before) };
  });

  // ------------------------------------------------------------ a server's password

  app.get('/v2.1/servers/:id/os-server-password', async (req) => {
    return { password: await compute.passwords.show(edge.caller(req), edge.params(req).id) };
  });
  app.delete('/v2.1/servers/:id/os-server-password', async (req, reply) => {
    await compute.passwords.clear(edge.caller(req), edge.params(req).id);
    return ComputeEdge.noContent(reply);
  });
}
