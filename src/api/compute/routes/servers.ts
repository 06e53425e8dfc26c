import type { FastifyRequest } from 'fastify';
import { DomainError } from '../../../core/errors.js';
import { novaBadRequest } from '../../../core/compute/errors.js';
import type { NetworkRequest, RequestedNetworks } from '../../../core/compute/network.js';
import type { ServerQuery } from '../../../core/compute/servers.js';
import { ipToString, parseIp } from '../../../util/ip.js';
import { ComputeEdge } from '../edge.js';
import {
  IGNORED_SORT_KEYS,
  IGNORED_SORT_KEYS_273,
  serverCreateSchema,
  serverQuerySchema,
  serverUpdateSchema,
  truthy,
  validateBody,
  validateQuery,
} from '../schemas.js';
import type { ApiVersion } from '../version.js';
import { serverBasic, serverCreated, serverView } from '../views.js';

/** Query parameters that name no filter Nova accepts: a 400, not an ignored filter. */
const INVALID_FILTERS = ['block_device_mapping', 'services', 'metadata', 'system_metadata', 'info_cache', 'security_groups', 'pci_devices'];

/** Statuses a 2.38+ `status` filter may name (at least one must be known). */
const KNOWN_STATUSES = [
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

/** Nova keeps access IPs as address objects: they come back in canonical (compressed) form. */
export const canonicalIp = (v: unknown): string | undefined => (typeof v === 'string' ? ipToString(parseIp(v)!) : undefined);

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

/**
 * Block device mappings: the image's own disk and blank local disks (ephemeral, swap) are what
 * every server has here; a volume cannot be, with no block storage service. A mapping that names
 * an existing volume gets Nova's answer for a volume that is not there; one that asks for a new
 * volume gets a 501 (there is nothing to create it).
 */
function checkBlockDevices(s: Record<string, unknown>): void {
  const legacy = (s.block_device_mapping as Array<Record<string, unknown>> | undefined) ?? [];
  const v2 = (s.block_device_mapping_v2 as Array<Record<string, unknown>> | undefined) ?? [];
  if (legacy.length && v2.length) throw novaBadRequest('Using different block_device_mapping syntaxes is not allowed in the same request.');
  for (const bdm of legacy) {
    const volume = (bdm.volume_id as string | undefined) ?? (bdm.snapshot_id as string | undefined);
    if (volume) throw novaBadRequest(`Volume ${volume} could not be found.`);
  }
  for (const bdm of v2) {
    if (bdm.source_type === 'volume') throw novaBadRequest(`Volume ${String(bdm.uuid ?? bdm.volume_id ?? '')} could not be found.`);
    if (bdm.source_type === 'snapshot') throw novaBadRequest(`Snapshot ${String(bdm.uuid ?? bdm.snapshot_id ?? '')} could not be found.`);
    if (bdm.destination_type === 'volume') {
      throw new DomainError(
        'not_implemented',
        'HTTPNotImplemented',
        'Block device mappings to volumes are not implemented: this cloud has no block storage service.',
      );
    }
  }
}

/** Servers: list (and detail), create, show, update, delete. */
export function serverRoutes(edge: ComputeEdge): void {
  const { app, compute } = edge;

  /**
   * GET /servers[/detail]: the query is validated and all_tenants read here; the service checks
   * all_tenants against policy before the rest of the query is read (`rest`).
   */
  const listServers = async (req: FastifyRequest, detail: boolean) => {
    const ctx = edge.caller(req);
    const v = edge.view(req);
    const version = v.version;
    const q = edge.query(req);
    validateQuery(serverQuerySchema(version), Object.fromEntries(q));
    for (const k of q.keys()) if (INVALID_FILTERS.includes(k) || k.startsWith('_')) throw novaBadRequest(`Invalid filter field: ${k}.`);
    const one = (k: string) => q.get(k)?.[0];
    const allTenants = q.has('all_tenants') && (one('all_tenants') === '' || truthy(one('all_tenants')));
    // The page size the service used, for the next link (read with the rest of the query).
    let limit = 0;
    const rest = (): ServerQuery => {
      const paging = edge.limitAndMarker(q);
      const since = one('changes-since');
      const before = version.gte('2.66') ? one('changes-before') : undefined;
      if (since && before && Date.parse(before) < Date.parse(since))
        throw novaBadRequest('The value of changes-since must be less than or equal to changes-before.');
      limit = paging.limit;
      const ignored = version.gte('2.73') ? IGNORED_SORT_KEYS_273 : IGNORED_SORT_KEYS;
      const sortKeys = (q.get('sort_key') ?? []).filter((k) => !ignored.includes(k));
      const sortDirs: Array<'asc' | 'desc'> = [];
      for (const d of q.get('sort_dir') ?? []) {
        if (d !== 'asc' && d !== 'desc') throw novaBadRequest(`Unknown sort direction, must be 'desc' or 'asc'`);
        sortDirs.push(d);
      }
      if (!sortKeys.length) sortKeys.push('created_at');
      if (!sortDirs.length) sortDirs.push('desc');
      const statuses = q.get('status');
      if (statuses && version.gte('2.38') && !statuses.some((s) => KNOWN_STATUSES.includes(s.toUpperCase()))) throw novaBadRequest('Invalid status value');
      const tagList = (k: string) => (version.gte('2.26') && q.has(k) ? (one(k) ?? '').split(',') : undefined);
      return {
        name: one('name') ?? one('display_name'),
        statuses,
        image: one('image'),
        flavor: one('flavor'),
        ip: one('ip'),
        ip6: one('ip6'),
        ip6ForAll: version.gte('2.5'),
        reservationId: one('reservation_id'),
        host: one('host'),
        projectId: allTenants ? (one('project_id') ?? one('tenant_id')) : undefined,
        changesSince: one('changes-since') ? new Date(one('changes-since')!).toISOString() : undefined,
        changesBefore: version.gte('2.66') && one('changes-before') ? new Date(one('changes-before')!).toISOString() : undefined,
        locked: version.gte('2.73') && q.has('locked') ? truthy(one('locked')) : undefined,
        availabilityZone: one('availability_zone'),
        keyName: one('key_name'),
        userId: one('user_id'),
        powerState: one('power_state') !== undefined ? Number(one('power_state')) : undefined,
        taskState: one('task_state'),
        vmState: one('vm_state'),
        configDrive: one('config_drive'),
        progress: one('progress') !== undefined ? Number(one('progress')) : undefined,
        allFiltersForAll: version.gte('2.83'),
        tags: tagList('tags'),
        tagsAny: tagList('tags-any'),
        notTags: tagList('not-tags'),
        notTagsAny: tagList('not-tags-any'),
        limit: paging.limit,
        marker: paging.marker,
        sortKeys,
        sortDirs,
      };
    };
    const servers = await compute.servers.list(ctx, { detail, allTenants }, rest);
    const out: Record<string, unknown> = { servers: servers.map((s) => (detail ? serverView(v, s, 'detail') : serverBasic(v, s))) };
    const next = edge.nextLinks(
      v,
      detail ? 'servers/detail' : 'servers',
      q,
      servers.map((s) => s.row.id),
      limit,
    );
    if (next) out.servers_links = next;
    return out;
  };
  app.get('/v2.1/servers', (req) => listServers(req, false));
  app.get('/v2.1/servers/detail', (req) => listServers(req, true));

  app.post('/v2.1/servers', async (req, reply) => {
    const ctx = edge.caller(req);
    const version = edge.version(req);
    const b = edge.body(req);
    validateBody(serverCreateSchema(version), b);
    const body = b as {
      server: Record<string, unknown>;
      'os:scheduler_hints'?: Record<string, unknown>;
      'OS-SCH-HNT:scheduler_hints'?: Record<string, unknown>;
    };
    const s = body.server;
    checkBlockDevices(s);
    const imageRef = (s.imageRef as string | undefined) ?? '';
    if (imageRef === '') throw novaBadRequest('Missing imageRef attribute');
    const minCount = s.min_count === undefined ? 1 : Number(s.min_count);
    const maxCount = s.max_count === undefined ? minCount : Number(s.max_count);
    const groups = s.security_groups as Array<{ name?: string }> | undefined;
    const res = await compute.servers.create(ctx, {
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
      tags: version.gte('2.52') ? ((s.tags as string[] | undefined) ?? []) : [],
      personality: (s.personality as Array<{ path: string; contents: string }> | undefined) ?? [],
      schedulerHints: body['os:scheduler_hints'] ?? body['OS-SCH-HNT:scheduler_hints'] ?? {},
      trustedCerts: version.gte('2.63') ? (s.trusted_image_certificates as string[] | null | undefined) : undefined,
      host: version.gte('2.74') ? (s.host as string | undefined) : undefined,
      hypervisorHostname: version.gte('2.74') ? (s.hypervisor_hostname as string | undefined) : undefined,
      hostname: version.gte('2.90') ? (s.hostname as string | undefined) : undefined,
    });
    reply.status(202);
    if (s.return_reservation_id !== undefined && truthy(s.return_reservation_id)) return { reservation_id: res.reservationId };
    const created = serverCreated(edge.view(req), res.servers[0], s.security_groups, res.adminPass);
    reply.header('location', created.server.links[0].href);
    return created;
  });

  app.get('/v2.1/servers/:id', async (req) => {
    return { server: serverView(edge.view(req), await compute.servers.get(edge.caller(req), edge.params(req).id), 'show') };
  });
  app.put('/v2.1/servers/:id', async (req) => {
    const ctx = edge.caller(req);
    const version = edge.version(req);
    const b = edge.body(req);
    validateBody(serverUpdateSchema(version), b);
    const u = (b as { server: Record<string, unknown> }).server;
    const s = await compute.servers.update(ctx, edge.params(req).id, {
      name: u.name as string | undefined,
      description: 'description' in u ? ((u.description as string | null) ?? null) : undefined,
      accessIPv4: canonicalIp(u.accessIPv4),
      accessIPv6: canonicalIp(u.accessIPv6),
      autoDiskConfig: u['OS-DCF:diskConfig'] === undefined ? undefined : u['OS-DCF:diskConfig'] === 'AUTO',
      hostname: version.gte('2.90') ? (u.hostname as string | undefined) : undefined,
    });
    return { server: serverView(edge.view(req), s, 'update') };
  });
  app.delete('/v2.1/servers/:id', async (req, reply) => {
    await compute.servers.delete(edge.caller(req), edge.params(req).id);
    return ComputeEdge.noContent(reply);
  });
}
