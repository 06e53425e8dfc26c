import { cpus, totalmem } from 'node:os';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { RequestContext } from '../../core/context.js';
import { DomainError } from '../../core/errors.js';
import { novaBadRequest, novaForbidden, novaNotFound, policyDenied } from '../../core/compute/errors.js';
import type { NetworkRequest, RequestedNetworks } from '../../core/compute/network.js';
import { HIDDEN_FROM_2_36 } from '../../core/compute/quotas.js';
import { AVAILABILITY_ZONE, type ComputeService, type ServerQuery } from '../../core/compute/servers.js';
import { type TokenAuthenticator, keystoneMiddleware401, tokenAuth } from '../auth.js';
import type { UnitOfWork } from '../../core/work.js';
import { strictBoolFromString } from '../../util/bool.js';
import { ipToString, parseIp } from '../../util/ip.js';
import { baseUrl, caller, createApp, jsonBody, queryLists } from '../http.js';
import {
  ATTACH_SCHEMA,
  CONSOLE_OUTPUT_SCHEMA,
  EXTERNAL_EVENTS_SCHEMA,
  EXTRA_SPECS_SCHEMA,
  FLAVOR_CREATE_SCHEMA,
  IGNORED_SORT_KEYS,
  METADATA_SCHEMA,
  META_ITEM_SCHEMA,
  REBOOT_SCHEMA,
  TAGS_SCHEMA,
  TAG_SCHEMA,
  keypairCreateSchema,
  quotaUpdateSchema,
  serverCreateSchema,
  serverQuerySchema,
  serverUpdateSchema,
  truthy,
  validateBody,
  validateQuery,
  validator,
} from './schemas.js';
import { type ApiVersion, MAX_VERSION, MIN_VERSION, requestedVersion } from './version.js';
import {
  type ViewContext,
  addressesView,
  flavorBasic,
  flavorView,
  interfaceView,
  keypairView,
  links,
  serverBasic,
  serverCreated,
  serverView,
} from './views.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The microversion a /v2.1 request runs at. */
    computeVersion?: ApiVersion;
  }
}

export interface ComputeApiOptions {
  logger: Logger;
  compute: ComputeService;
  uow: UnitOfWork;
  auth: TokenAuthenticator;
  identityUrl: () => string;
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

const VERSION_DOC = {
  id: 'v2.1',
  status: 'CURRENT',
  version: MAX_VERSION.toString(),
  min_version: MIN_VERSION.toString(),
  updated: '2013-07-23T11:33:21Z',
};
const MEDIA_TYPES = [{ base: 'application/json', type: 'application/vnd.openstack.compute+json;version=2.1' }];
const DESCRIBED_BY = { rel: 'describedby', type: 'text/html', href: 'http://docs.openstack.org/' };
const NOT_FOUND = () => new DomainError('not_found', 'HTTPNotFound', 'The resource could not be found.');

/** Nova's common.get_limit_and_marker (limit capped by [api] max_limit = 1000). */
function limitAndMarker(q: Map<string, string[]>): { limit: number; marker?: string } {
  let limit = 1000;
  const raw = q.get('limit')?.[0];
  if (raw !== undefined) {
    if (!/^\s*-?\d+\s*$/.test(raw)) throw novaBadRequest('limit param must be an integer');
    const n = Number(raw);
    if (n < 0) throw novaBadRequest('limit param must be positive');
    limit = Math.min(n, 1000);
  }
  return { limit, marker: q.get('marker')?.[0] };
}

/** `<collection>_links` with a `next` page when a page came back full. */
function nextLinks(v: ViewContext, path: string, q: Map<string, string[]>, items: Array<{ id: string }>, limit: number) {
  if (items.length === 0 || items.length < limit) return undefined;
  const params = new URLSearchParams();
  for (const [k, vs] of q) if (k !== 'marker') for (const x of vs) params.append(k, x);
  params.set('marker', items[items.length - 1].id);
  return [{ href: `${v.base}/v2.1/${path}?${params.toString()}`, rel: 'next' }];
}

/** Nova keeps access IPs as address objects: they come back in canonical (compressed) form. */
const canonicalIp = (v: unknown): string | undefined => (typeof v === 'string' ? ipToString(parseIp(v)!) : undefined);

/** Turn a validated `networks` value into Nova's network requests. */
function parseNetworks(raw: unknown, version: ApiVersion): RequestedNetworks {
  if (raw === undefined) return { kind: 'unspecified' };
  if (raw === 'auto' || raw === 'none') return { kind: raw };
  const items: NetworkRequest[] = [];
  const ports = new Set<string>();
  for (const n of raw as Array<Record<string, unknown>>) {
    const port = n.port as string | null | undefined;
    const fixed = n.fixed_ip as string | undefined;
    const tag = n.tag as string | undefined;
    if (port) {
      if (ports.has(port)) throw novaBadRequest(`Port ID '${port}' was specified twice: you cannot attach a port multiple times.`);
      if (fixed !== undefined) throw novaBadRequest(`Specified Fixed IP '${fixed}' cannot be used with port '${port}': the two cannot be specified together.`);
      ports.add(port);
      items.push({ portId: port, tag });
      continue;
    }
    if (!('uuid' in n)) throw novaBadRequest("Bad network format: missing 'uuid'");
    const uuid = String(n.uuid);
    if (!version.gte('2.37') && !/^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i.test(uuid)) {
      throw novaBadRequest(`Bad networks format: network uuid is not in proper format (${uuid})`);
    }
    items.push({ networkId: uuid, fixedIp: fixed, tag });
  }
  return { kind: 'list', items };
}

export function buildComputeApi(opts: ComputeApiOptions): FastifyInstance {
  const { compute } = opts;
  const app = createApp({
    name: 'compute',
    logger: opts.logger,
    // oslo.middleware's max_request_body_size in front of Nova.
    bodyLimit: 114_688,
    uow: opts.uow,
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

  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-compute-request-id', req.id);
    const path = req.url.split('?')[0];
    if (path === '/v2.1' || path.startsWith('/v2.1/')) req.computeVersion = requestedVersion(req.headers);
  });
  app.addHook('onSend', async (req, reply, payload) => {
    if (req.computeVersion) {
      reply.header('openstack-api-version', `compute ${req.computeVersion}`);
      reply.header('x-openstack-nova-api-version', req.computeVersion.toString());
      reply.header('vary', 'OpenStack-API-Version, X-OpenStack-Nova-API-Version');
    }
    return payload;
  });

  const body = (req: FastifyRequest) => jsonBody(req, () => novaBadRequest('Malformed request body'));
  const view = (req: FastifyRequest, ctx: RequestContext): ViewContext => ({ base: baseUrl(req), version: req.computeVersion!, ctx });
  const params = (req: FastifyRequest) => req.params as Record<string, string>;
  const noContent = (reply: FastifyReply, status = 204) => {
    reply.status(status);
    return reply.send();
  };

  // ------------------------------------------------------------ versions

  app.get('/', async (req) => ({
    versions: [{ ...VERSION_DOC, links: [{ rel: 'self', href: `${baseUrl(req)}/v2.1/` }] }],
  }));
  app.get('/v2.1', async (req) => {
    return { version: { ...VERSION_DOC, links: [{ rel: 'self', href: `${baseUrl(req)}/v2.1/` }, DESCRIBED_BY], 'media-types': MEDIA_TYPES } };
  });

  // ------------------------------------------------------------ flavors

  const listFlavors = async (req: FastifyRequest, detail: boolean) => {
    const ctx = caller(req);
    const v = view(req, ctx);
    const q = queryLists(req);
    const one = (k: string) => q.get(k)?.[0];
    let isPublic: boolean | null = true;
    const rawPublic = one('is_public');
    if (ctx.isAdmin && rawPublic !== undefined) {
      // Nova's _parse_is_public: 'none' lists both; else strutils.bool_from_string(strict=True).
      const parsed = rawPublic.toLowerCase() === 'none' ? null : strictBoolFromString(rawPublic);
      if (parsed === undefined) throw novaBadRequest(`Invalid is_public filter [${rawPublic}]`);
      isPublic = parsed;
    }
    const num = (k: string, label: string) => {
      const raw = one(k);
      if (raw === undefined) return undefined;
      if (!/^\s*-?\d+\s*$/.test(raw)) throw novaBadRequest(`Invalid ${label} filter [${raw}]`);
      return Number(raw);
    };
    const { limit, marker } = limitAndMarker(q);
    const flavors = await compute.flavors.list(ctx, {
      isPublic,
      minRam: num('minRam', 'minRam'),
      minDisk: num('minDisk', 'minDisk'),
      sortKey: one('sort_key') || 'flavorid',
      sortDir: one('sort_dir') === 'desc' ? 'desc' : 'asc',
      limit,
      marker,
    });
    const out: Record<string, unknown> = { flavors: flavors.map((f) => (detail ? flavorView(v, f) : flavorBasic(v, f))) };
    const next = nextLinks(v, detail ? 'flavors/detail' : 'flavors', q, flavors, limit);
    if (next) out.flavors_links = next;
    return out;
  };
  app.get('/v2.1/flavors', (req) => listFlavors(req, false));
  app.get('/v2.1/flavors/detail', (req) => listFlavors(req, true));
  app.get('/v2.1/flavors/:id', async (req) => {
    const ctx = caller(req);
    return { flavor: flavorView(view(req, ctx), await compute.flavors.get(ctx, params(req).id)) };
  });
  app.post('/v2.1/flavors', async (req) => {
    const ctx = caller(req);
    if (!ctx.isAdmin) throw policyDenied('os_compute_api:os-flavor-manage:create');
    const b = body(req);
    validateBody(FLAVOR_CREATE_SCHEMA, b);
    const f = (b as { flavor: Record<string, unknown> }).flavor;
    const flavor = await compute.flavors.create(ctx, {
      id: f.id === undefined || f.id === null ? null : String(f.id),
      name: String(f.name),
      ram: Number(f.ram),
      vcpus: Number(f.vcpus),
      disk: Number(f.disk),
      ephemeral: f['OS-FLV-EXT-DATA:ephemeral'] === undefined ? 0 : Number(f['OS-FLV-EXT-DATA:ephemeral']),
      swap: f.swap === undefined ? 0 : Number(f.swap),
      rxtxFactor: f.rxtx_factor === undefined ? 1 : Number(f.rxtx_factor),
      isPublic: f['os-flavor-access:is_public'] === undefined ? true : truthy(f['os-flavor-access:is_public']),
    });
    return { flavor: flavorView(view(req, ctx), flavor) };
  });
  app.delete('/v2.1/flavors/:id', async (req, reply) => {
    const ctx = caller(req);
    await compute.flavors.delete(ctx, params(req).id);
    return noContent(reply, 202);
  });
  app.get('/v2.1/flavors/:id/os-extra_specs', async (req) => {
    const ctx = caller(req);
    return { extra_specs: (await compute.flavors.get(ctx, params(req).id)).extraSpecs };
  });
  app.post('/v2.1/flavors/:id/os-extra_specs', async (req) => {
    const ctx = caller(req);
    const b = body(req);
    validateBody(EXTRA_SPECS_SCHEMA, b);
    const specs = Object.fromEntries(Object.entries((b as { extra_specs: Record<string, unknown> }).extra_specs).map(([k, x]) => [k, String(x)]));
    return { extra_specs: await compute.flavors.setExtraSpecs(ctx, params(req).id, specs) };
  });
  app.get('/v2.1/flavors/:id/os-extra_specs/:key', async (req) => {
    const ctx = caller(req);
    const { id, key } = params(req);
    const specs = (await compute.flavors.get(ctx, id)).extraSpecs;
    if (!(key in specs)) throw novaNotFound(`Flavor ${id} has no extra specs with key ${key}.`);
    return { [key]: specs[key] };
  });
  app.put('/v2.1/flavors/:id/os-extra_specs/:key', async (req) => {
    const ctx = caller(req);
    const { id, key } = params(req);
    const b = body(req) as Record<string, unknown> | undefined;
    if (!b || typeof b !== 'object' || Object.keys(b).length !== 1) throw novaBadRequest('Request body contains too many items');
    if (!(key in b)) throw novaBadRequest('Request body and URI mismatch');
    return compute.flavors.setExtraSpecs(ctx, id, { [key]: String(b[key]) }, key);
  });
  app.delete('/v2.1/flavors/:id/os-extra_specs/:key', async (req, reply) => {
    const ctx = caller(req);
    const { id, key } = params(req);
    await compute.flavors.deleteExtraSpec(ctx, id, key);
    return noContent(reply, 200);
  });
  app.get('/v2.1/flavors/:id/os-flavor-access', async (req) => {
    const ctx = caller(req);
    const id = params(req).id;
    return { flavor_access: (await compute.flavors.access(ctx, id)).map((p) => ({ flavor_id: id, tenant_id: p })) };
  });
  app.post('/v2.1/flavors/:id/action', async (req) => {
    const ctx = caller(req);
    const id = params(req).id;
    const b = (body(req) ?? {}) as Record<string, { tenant?: string } | undefined>;
    const grant = 'addTenantAccess' in b;
    if (!grant && !('removeTenantAccess' in b)) throw novaBadRequest(`There is no such action: ${Object.keys(b)[0] ?? ''}`);
    const tenant = (grant ? b.addTenantAccess : b.removeTenantAccess)?.tenant;
    if (typeof tenant !== 'string') throw novaBadRequest("Invalid input for field/attribute tenant. Value: None. 'tenant' is a required property");
    const list = await compute.flavors.grant(ctx, id, tenant, grant);
    return { flavor_access: list.map((p) => ({ flavor_id: id, tenant_id: p })) };
  });

  // ------------------------------------------------------------ servers

  /** Query → ServerQuery with Nova's rules for who may filter on what. */
  const serverQuery = (req: FastifyRequest, ctx: RequestContext, detail: boolean): { query: ServerQuery; q: Map<string, string[]> } => {
    const version = req.computeVersion!;
    const q = queryLists(req);
    validateQuery(serverQuerySchema(version), Object.fromEntries(q));
    for (const k of q.keys()) {
      if (
        ['block_device_mapping', 'services', 'metadata', 'system_metadata', 'info_cache', 'security_groups', 'pci_devices'].includes(k) ||
        k.startsWith('_')
      ) {
        throw novaBadRequest(`Invalid filter field: ${k}.`);
      }
    }
    const one = (k: string) => q.get(k)?.[0];
    const allTenants = q.has('all_tenants') && (one('all_tenants') === '' || truthy(one('all_tenants')));
    if (allTenants && !ctx.isAdmin) throw policyDenied(`os_compute_api:servers:${detail ? 'detail' : 'index'}:get_all_tenants`);
    const { limit, marker } = limitAndMarker(q);
    const sortKeys: string[] = [];
    const sortDirs: Array<'asc' | 'desc'> = [];
    for (const k of q.get('sort_key') ?? []) {
      if (IGNORED_SORT_KEYS.includes(k)) continue;
      if ((k === 'host' || k === 'node') && !ctx.isAdmin) throw novaForbidden('Only administrators can sort servers by host or node');
      sortKeys.push(k);
    }
    for (const d of q.get('sort_dir') ?? []) {
      if (d !== 'asc' && d !== 'desc') throw novaBadRequest(`Unknown sort direction, must be 'desc' or 'asc'`);
      sortDirs.push(d);
    }
    if (!sortKeys.length) sortKeys.push('created_at');
    if (!sortDirs.length) sortDirs.push('desc');
    const statuses = q.get('status');
    if (statuses && version.gte('2.38')) {
      const known = [
        'ACTIVE',
        'BUILD',
        'DELETED',
        'ERROR',
        'HARD_REBOOT',
        'MIGRATING',
        'PASSWORD',
        'PAUSED',
        'REBOOT',
        'REBUILD',
        'RESCUE',
        'RESIZE',
        'REVERT_RESIZE',
        'SHELVED',
        'SHELVED_OFFLOADED',
        'SHUTOFF',
        'SOFT_DELETED',
        'SUSPENDED',
        'UNKNOWN',
        'VERIFY_RESIZE',
      ];
      if (!statuses.some((s) => known.includes(s.toUpperCase()))) throw novaBadRequest('Invalid status value');
    }
    const tagList = (k: string) => (version.gte('2.26') && q.has(k) ? (one(k) ?? '').split(',') : undefined);
    const query: ServerQuery = {
      detail,
      allTenants,
      name: one('name') ?? one('display_name'),
      statuses,
      image: one('image'),
      flavor: one('flavor'),
      ip: one('ip'),
      ip6: ctx.isAdmin || version.gte('2.5') ? one('ip6') : undefined,
      reservationId: one('reservation_id'),
      host: ctx.isAdmin ? one('host') : undefined,
      projectId: allTenants ? (one('project_id') ?? one('tenant_id')) : undefined,
      changesSince: one('changes-since') ? new Date(one('changes-since')!).toISOString() : undefined,
      tags: tagList('tags'),
      tagsAny: tagList('tags-any'),
      notTags: tagList('not-tags'),
      notTagsAny: tagList('not-tags-any'),
      limit,
      marker,
      sortKeys,
      sortDirs,
    };
    return { query, q };
  };

  app.get('/v2.1/servers', async (req) => {
    const ctx = caller(req);
    const v = view(req, ctx);
    const { query, q } = serverQuery(req, ctx, false);
    const servers = await compute.list(ctx, query);
    const out: Record<string, unknown> = { servers: servers.map((s) => serverBasic(v, s)) };
    const next = nextLinks(
      v,
      'servers',
      q,
      servers.map((s) => ({ id: s.row.id })),
      query.limit!,
    );
    if (next) out.servers_links = next;
    return out;
  });
  app.get('/v2.1/servers/detail', async (req) => {
    const ctx = caller(req);
    const v = view(req, ctx);
    const { query, q } = serverQuery(req, ctx, true);
    const servers = await compute.list(ctx, query);
    const out: Record<string, unknown> = { servers: servers.map((s) => serverView(v, s)) };
    const next = nextLinks(
      v,
      'servers/detail',
      q,
      servers.map((s) => ({ id: s.row.id })),
      query.limit!,
    );
    if (next) out.servers_links = next;
    return out;
  });

  app.post('/v2.1/servers', async (req, reply) => {
    const ctx = caller(req);
    const version = req.computeVersion!;
    const b = body(req);
    validateBody(serverCreateSchema(version), b);
    const s = (b as { server: Record<string, unknown> }).server;
    if (s.block_device_mapping || s.block_device_mapping_v2) {
      throw new DomainError('not_implemented', 'HTTPNotImplemented', 'Block device mapping is not implemented: this cloud has no volume service.');
    }
    if (s.personality) throw new DomainError('not_implemented', 'HTTPNotImplemented', 'Personality files are not implemented by this compute service.');
    const imageRef = (s.imageRef as string | undefined) ?? '';
    if (imageRef === '') throw novaBadRequest('Missing imageRef attribute');
    const minCount = s.min_count === undefined ? 1 : Number(s.min_count);
    const maxCount = s.max_count === undefined ? minCount : Number(s.max_count);
    const groups = s.security_groups as Array<{ name?: string }> | undefined;
    const res = await compute.create(ctx, {
      name: String(s.name),
      description: version.gte('2.19') ? ((s.description as string | null | undefined) ?? null) : String(s.name),
      imageRef,
      flavorRef: String(s.flavorRef),
      adminPass: s.adminPass as string | undefined,
      metadata: (s.metadata as Record<string, string> | undefined) ?? {},
      networks: parseNetworks(s.networks, version),
      securityGroups: groups === undefined ? undefined : groups.map((g) => g.name).filter((n): n is string => !!n),
      keyName: s.key_name as string | undefined,
      userData: s.user_data as string | undefined,
      availabilityZone: s.availability_zone as string | undefined,
      accessIPv4: canonicalIp(s.accessIPv4),
      accessIPv6: canonicalIp(s.accessIPv6),
      configDrive: s.config_drive !== undefined && truthy(s.config_drive),
      autoDiskConfig: s['OS-DCF:diskConfig'] === 'AUTO',
      minCount,
      maxCount,
      tags: [],
    });
    reply.status(202);
    if (s.return_reservation_id !== undefined && truthy(s.return_reservation_id)) return { reservation_id: res.reservationId };
    const created = serverCreated(view(req, ctx), res.servers[0], s.security_groups, res.adminPass);
    reply.header('location', created.server.links[0].href);
    return created;
  });

  app.get('/v2.1/servers/:id', async (req) => {
    const ctx = caller(req);
    return { server: serverView(view(req, ctx), await compute.get(ctx, params(req).id)) };
  });
  app.put('/v2.1/servers/:id', async (req) => {
    const ctx = caller(req);
    const version = req.computeVersion!;
    const b = body(req);
    validateBody(serverUpdateSchema(version), b);
    const u = (b as { server: Record<string, unknown> }).server;
    const s = await compute.update(ctx, params(req).id, {
      name: u.name as string | undefined,
      description: 'description' in u ? ((u.description as string | null) ?? null) : undefined,
      accessIPv4: canonicalIp(u.accessIPv4),
      accessIPv6: canonicalIp(u.accessIPv6),
      autoDiskConfig: u['OS-DCF:diskConfig'] === undefined ? undefined : u['OS-DCF:diskConfig'] === 'AUTO',
    });
    return { server: serverView(view(req, ctx), s, { reduced: true }) };
  });
  app.delete('/v2.1/servers/:id', async (req, reply) => {
    const ctx = caller(req);
    await compute.delete(ctx, params(req).id);
    return noContent(reply);
  });

  app.post('/v2.1/servers/:id/action', async (req, reply) => {
    const ctx = caller(req);
    const id = params(req).id;
    const b = body(req);
    if (typeof b !== 'object' || b === null || Array.isArray(b) || Object.keys(b).length === 0) throw novaBadRequest('Malformed request body');
    const [name] = Object.keys(b);
    if (name === 'os-getConsoleOutput') {
      validateBody(CONSOLE_OUTPUT_SCHEMA, b);
      const raw = (b as { 'os-getConsoleOutput': { length?: number | string | null } })['os-getConsoleOutput'].length;
      const output = await compute.consoleOutput(ctx, id, raw === undefined || raw === null ? null : Number(raw));
      return { output };
    }
    if (name === 'reboot') validateBody(REBOOT_SCHEMA, b);
    await compute.action(ctx, id, name, b as Record<string, unknown>);
    return noContent(reply, 202);
  });

  app.get('/v2.1/servers/:id/ips', async (req) => {
    const ctx = caller(req);
    return { addresses: addressesView(await compute.get(ctx, params(req).id)) };
  });
  app.get('/v2.1/servers/:id/ips/:network', async (req) => {
    const ctx = caller(req);
    const { id, network } = params(req);
    const all = addressesView(await compute.get(ctx, id));
    if (!(network in all)) throw novaNotFound('Instance is not a member of specified network');
    return { [network]: all[network] };
  });

  app.get('/v2.1/servers/:id/os-security-groups', async (req) => {
    const ctx = caller(req);
    const s = await compute.get(ctx, params(req).id);
    const ids = [...new Set(s.ports.length ? await portGroups(s.ports.map((p) => p.id)) : [])];
    const groups = ids.length ? await compute.store.db.selectFrom('security_groups').selectAll().where('id', 'in', ids).execute() : [];
    return {
      security_groups: groups.map((g) => ({ id: g.id, name: g.name, description: g.description, tenant_id: g.project_id, rules: [] })),
    };
  });
  const portGroups = async (portIds: string[]) =>
    (await compute.store.db.selectFrom('port_security_groups').select('security_group_id').where('port_id', 'in', portIds).execute()).map(
      (r) => r.security_group_id,
    );

  // os-interface
  app.get('/v2.1/servers/:id/os-interface', async (req) => {
    const ctx = caller(req);
    const ports = await compute.interfaces(ctx, params(req).id);
    return { interfaceAttachments: ports.map((p) => interfaceView(p, req.computeVersion!.gte('2.70'))) };
  });
  app.get('/v2.1/servers/:id/os-interface/:port', async (req) => {
    const ctx = caller(req);
    const { id, port } = params(req);
    return { interfaceAttachment: interfaceView(await compute.interface(ctx, id, port)) };
  });
  app.post('/v2.1/servers/:id/os-interface', async (req) => {
    const ctx = caller(req);
    const b = body(req);
    if (b !== undefined) validateBody(ATTACH_SCHEMA, b);
    const a = ((b as { interfaceAttachment?: Record<string, unknown> } | undefined)?.interfaceAttachment ?? {}) as Record<string, unknown>;
    const port = await compute.attachInterface(ctx, params(req).id, {
      networkId: a.net_id as string | undefined,
      portId: a.port_id as string | undefined,
      fixedIp: (a.fixed_ips as Array<{ ip_address: string }> | undefined)?.[0]?.ip_address,
    });
    return { interfaceAttachment: interfaceView(port) };
  });
  app.delete('/v2.1/servers/:id/os-interface/:port', async (req, reply) => {
    const ctx = caller(req);
    const { id, port } = params(req);
    await compute.detachInterface(ctx, id, port);
    return noContent(reply, 202);
  });

  // metadata
  app.get('/v2.1/servers/:id/metadata', async (req) => {
    const ctx = caller(req);
    return { metadata: await compute.metadata(ctx, params(req).id) };
  });
  const setMetadata = (replace: boolean) => async (req: FastifyRequest) => {
    const ctx = caller(req);
    const b = body(req);
    validateBody(METADATA_SCHEMA, b);
    return { metadata: await compute.setMetadata(ctx, params(req).id, (b as { metadata: Record<string, string> }).metadata, replace) };
  };
  app.put('/v2.1/servers/:id/metadata', setMetadata(true));
  app.post('/v2.1/servers/:id/metadata', setMetadata(false));
  app.get('/v2.1/servers/:id/metadata/:key', async (req) => {
    const ctx = caller(req);
    const { id, key } = params(req);
    const md = await compute.metadata(ctx, id);
    if (!(key in md)) throw novaNotFound('Metadata item was not found');
    return { meta: { [key]: md[key] } };
  });
  app.put('/v2.1/servers/:id/metadata/:key', async (req) => {
    const ctx = caller(req);
    const { id, key } = params(req);
    const b = body(req);
    validateBody(META_ITEM_SCHEMA, b);
    const meta = (b as { meta: Record<string, string> }).meta;
    if (!(key in meta)) throw novaBadRequest('Request body and URI mismatch');
    await compute.setMetadata(ctx, id, meta, false);
    return { meta };
  });
  app.delete('/v2.1/servers/:id/metadata/:key', async (req, reply) => {
    const ctx = caller(req);
    const { id, key } = params(req);
    await compute.deleteMetadata(ctx, id, key);
    return noContent(reply);
  });

  // tags (2.26)
  const needs = (req: FastifyRequest, v: string) => {
    if (!req.computeVersion!.gte(v)) throw NOT_FOUND();
  };
  app.get('/v2.1/servers/:id/tags', async (req) => {
    needs(req, '2.26');
    const ctx = caller(req);
    return { tags: await compute.tags(ctx, params(req).id) };
  });
  app.put('/v2.1/servers/:id/tags', async (req) => {
    needs(req, '2.26');
    const ctx = caller(req);
    const b = body(req);
    validateBody(TAGS_SCHEMA, b);
    return { tags: await compute.setTags(ctx, params(req).id, (b as { tags: string[] }).tags) };
  });
  app.delete('/v2.1/servers/:id/tags', async (req, reply) => {
    needs(req, '2.26');
    const ctx = caller(req);
    await compute.setTags(ctx, params(req).id, []);
    return noContent(reply);
  });
  app.get('/v2.1/servers/:id/tags/:tag', async (req, reply) => {
    needs(req, '2.26');
    const ctx = caller(req);
    const { id, tag } = params(req);
    if (!(await compute.tags(ctx, id)).includes(tag)) throw novaNotFound(`Tag ${tag} could not be found.`);
    return noContent(reply);
  });
  app.put('/v2.1/servers/:id/tags/:tag', async (req, reply) => {
    needs(req, '2.26');
    const ctx = caller(req);
    const { id, tag } = params(req);
    const e = validator.validate(TAG_SCHEMA, tag);
    if (e) throw novaBadRequest(`Tag '${tag}' is invalid. It must be a non empty string without characters '/' and ','`);
    const before = await compute.tags(ctx, id);
    await compute.setTags(ctx, id, null, tag);
    reply.status(before.includes(tag) ? 204 : 201).header('location', `${baseUrl(req)}/v2.1/servers/${id}/tags/${tag}`);
    return reply.send();
  });
  app.delete('/v2.1/servers/:id/tags/:tag', async (req, reply) => {
    needs(req, '2.26');
    const ctx = caller(req);
    const { id, tag } = params(req);
    await compute.setTags(ctx, id, null, undefined, tag);
    return noContent(reply);
  });

  // ------------------------------------------------------------ key pairs

  app.get('/v2.1/os-keypairs', async (req) => {
    const ctx = caller(req);
    const v = view(req, ctx);
    const q = queryLists(req);
    const paged = v.version.gte('2.35');
    const { limit, marker } = paged ? limitAndMarker(q) : { limit: undefined, marker: undefined };
    const keys = await compute.keypairs.list(ctx, { userId: v.version.gte('2.10') ? q.get('user_id')?.[0] : undefined, limit, marker });
    const out: Record<string, unknown> = { keypairs: keys.map((k) => ({ keypair: keypairView(v, k, 'list') })) };
    if (paged && limit !== undefined && keys.length === limit && keys.length) {
      const p = new URLSearchParams();
      for (const [k, vs] of q) if (k !== 'marker') for (const x of vs) p.append(k, x);
      p.set('marker', keys[keys.length - 1].name);
      out.keypairs_links = [{ href: `${v.base}/v2.1/os-keypairs?${p.toString()}`, rel: 'next' }];
    }
    return out;
  });
  app.post('/v2.1/os-keypairs', async (req, reply) => {
    const ctx = caller(req);
    const v = view(req, ctx);
    const b = body(req);
    validateBody(keypairCreateSchema(v.version), b);
    const k = (b as { keypair: Record<string, string> }).keypair;
    const created = await compute.keypairs.create(ctx, {
      name: k.name,
      type: (k.type as 'ssh' | 'x509' | undefined) ?? 'ssh',
      publicKey: k.public_key,
      userId: k.user_id,
    });
    if (v.version.gte('2.2')) reply.status(201);
    return { keypair: keypairView(v, created, 'create') };
  });
  app.get('/v2.1/os-keypairs/:name', async (req) => {
    const ctx = caller(req);
    const v = view(req, ctx);
    const userId = v.version.gte('2.10') ? queryLists(req).get('user_id')?.[0] : undefined;
    return { keypair: keypairView(v, await compute.keypairs.get(ctx, params(req).name, userId), 'show') };
  });
  app.delete('/v2.1/os-keypairs/:name', async (req, reply) => {
    const ctx = caller(req);
    const v = view(req, ctx);
    const userId = v.version.gte('2.10') ? queryLists(req).get('user_id')?.[0] : undefined;
    await compute.keypairs.delete(ctx, params(req).name, userId);
    return noContent(reply, v.version.gte('2.2') ? 204 : 202);
  });

  // ------------------------------------------------------------ availability zones, hypervisors, limits

  app.get('/v2.1/os-availability-zone', async (req) => {
    return { availabilityZoneInfo: [{ zoneName: AVAILABILITY_ZONE, zoneState: { available: true }, hosts: null }] };
  });
  app.get('/v2.1/os-availability-zone/detail', async (req) => {
    const ctx = caller(req);
    if (!ctx.isAdmin) throw policyDenied('os_compute_api:os-availability-zone:detail');
    const updated = new Date()
      .toISOString()
      .replace('Z', '')
      .replace(/\.(\d{3})$/, '.$1000');
    const svc = { available: true, active: true, updated_at: updated };
    return {
      availabilityZoneInfo: [
        { zoneName: 'internal', zoneState: { available: true }, hosts: { [compute.hostname]: { 'nova-conductor': svc, 'nova-scheduler': svc } } },
        { zoneName: AVAILABILITY_ZONE, zoneState: { available: true }, hosts: { [compute.hostname]: { 'nova-compute': svc } } },
      ],
    };
  });

  /** The one hypervisor: this machine, with its real CPU and memory, and what servers use of it. */
  const hypervisor = async (detail: boolean) => {
    const servers = await compute.store.db.selectFrom('servers').select(['flavor']).where('host', '=', compute.hostname).execute();
    const used = servers.map((s) => JSON.parse(s.flavor) as { vcpus: number; ram: number; disk: number });
    const base = { id: 1, hypervisor_hostname: compute.hostname, state: 'up', status: 'enabled' };
    if (!detail) return base;
    const memoryMb = Math.floor(totalmem() / 1024 / 1024);
    const vcpusUsed = used.reduce((a, f) => a + f.vcpus, 0);
    const ramUsed = used.reduce((a, f) => a + f.ram, 0) + 512;
    const diskUsed = used.reduce((a, f) => a + f.disk, 0);
    return {
      ...base,
      vcpus: cpus().length,
      memory_mb: memoryMb,
      local_gb: 0,
      vcpus_used: vcpusUsed,
      memory_mb_used: ramUsed,
      local_gb_used: diskUsed,
      hypervisor_type: 'PocketStack',
      hypervisor_version: 1,
      free_ram_mb: memoryMb - ramUsed,
      free_disk_gb: -diskUsed,
      current_workload: 0,
      running_vms: used.length,
      disk_available_least: 0,
      host_ip: '127.0.0.1',
      service: { host: compute.hostname, id: 1, disabled_reason: null },
      cpu_info: '{}',
    };
  };
  const adminOnly = (ctx: RequestContext, rule: string) => {
    if (!ctx.isAdmin) throw policyDenied(rule);
  };
  app.get('/v2.1/os-hypervisors', async (req) => {
    adminOnly(caller(req), 'os_compute_api:os-hypervisors:list');
    return { hypervisors: [await hypervisor(false)] };
  });
  app.get('/v2.1/os-hypervisors/detail', async (req) => {
    adminOnly(caller(req), 'os_compute_api:os-hypervisors:list-detail');
    return { hypervisors: [await hypervisor(true)] };
  });
  app.get('/v2.1/os-hypervisors/:id', async (req) => {
    adminOnly(caller(req), 'os_compute_api:os-hypervisors:show');
    if (params(req).id !== '1') throw novaNotFound(`Hypervisor with ID '${params(req).id}' could not be found.`);
    return { hypervisor: await hypervisor(true) };
  });

  app.get('/v2.1/limits', async (req) => {
    const ctx = caller(req);
    const project = ctx.projectId ?? '';
    const limits = await compute.quotas.show(ctx, project);
    const usage = await compute.quotas.detail(ctx, project);
    return {
      limits: {
        rate: [],
        absolute: {
          maxServerMeta: limits.metadata_items,
          maxPersonality: limits.injected_files,
          maxPersonalitySize: limits.injected_file_content_bytes,
          maxImageMeta: limits.metadata_items,
          maxTotalKeypairs: limits.key_pairs,
          maxSecurityGroupRules: limits.security_group_rules,
          maxSecurityGroups: limits.security_groups,
          maxServerGroups: limits.server_groups,
          maxServerGroupMembers: limits.server_group_members,
          maxTotalCores: limits.cores,
          maxTotalFloatingIps: limits.floating_ips,
          maxTotalInstances: limits.instances,
          maxTotalRAMSize: limits.ram,
          totalCoresUsed: usage.cores.in_use,
          totalRAMUsed: usage.ram.in_use,
          totalInstancesUsed: usage.instances.in_use,
          totalFloatingIpsUsed: 0,
          totalSecurityGroupsUsed: 0,
          totalServerGroupsUsed: 0,
        },
      },
    };
  });

  // ------------------------------------------------------------ quotas

  const quotaSet = (version: ApiVersion, values: Record<string, unknown>, id?: string) => {
    const out: Record<string, unknown> = id ? { id } : {};
    for (const [k, x] of Object.entries(values)) if (version.gte('2.36') ? !HIDDEN_FROM_2_36.includes(k) : true) out[k] = x;
    return { quota_set: out };
  };
  app.get('/v2.1/os-quota-sets/:project', async (req) => {
    const ctx = caller(req);
    const project = params(req).project;
    return quotaSet(req.computeVersion!, await compute.quotas.show(ctx, project), project);
  });
  app.get('/v2.1/os-quota-sets/:project/defaults', async (req) => {
    return quotaSet(req.computeVersion!, compute.quotas.defaults(), params(req).project);
  });
  app.get('/v2.1/os-quota-sets/:project/detail', async (req) => {
    const ctx = caller(req);
    const project = params(req).project;
    return quotaSet(req.computeVersion!, await compute.quotas.detail(ctx, project), project);
  });
  app.put('/v2.1/os-quota-sets/:project', async (req) => {
    const ctx = caller(req);
    const b = body(req);
    if (!ctx.isAdmin) throw policyDenied('os_compute_api:os-quota-sets:update');
    validateBody(quotaUpdateSchema(req.computeVersion!), b);
    const qs = (b as { quota_set: Record<string, unknown> }).quota_set;
    if ('networks' in qs) throw novaBadRequest('The networks quota has been removed');
    const force = qs.force !== undefined && truthy(qs.force);
    const values = Object.fromEntries(
      Object.entries(qs)
        .filter(([k]) => k !== 'force')
        .map(([k, x]) => [k, Number(x)]),
    );
    return quotaSet(req.computeVersion!, await compute.quotas.update(ctx, params(req).project, values, force));
  });
  app.delete('/v2.1/os-quota-sets/:project', async (req, reply) => {
    const ctx = caller(req);
    await compute.quotas.revert(ctx, params(req).project);
    return noContent(reply, 202);
  });

  // ------------------------------------------------------------ external events

  app.post('/v2.1/os-server-external-events', async (req, reply) => {
    const ctx = caller(req);
    if (!ctx.isAdmin) throw policyDenied('os_compute_api:os-server-external-events:create');
    const b = body(req);
    validateBody(EXTERNAL_EVENTS_SCHEMA, b);
    const events = await compute.externalEvents(ctx, (b as { events: Array<{ name: string; server_uuid: string }> }).events);
    const ok = events.filter((e) => e.code === 200).length;
    if (ok === 0) throw novaNotFound('No instances found for any event');
    reply.status(ok === events.length ? 200 : 207);
    return { events };
  });

  app.setNotFoundHandler(async () => {
    throw NOT_FOUND();
  });
  return app;
}
