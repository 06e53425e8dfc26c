/**
 * Servers: reading and listing them with Nova's filters, creating them (every check Nova's API
 * makes, then the rows in BUILD) and updating or deleting them. The build itself is the
 * lifecycle's (lifecycle.ts), what servers can be asked to do the actions' (actions.ts).
 */
import { randomInt } from 'node:crypto';
import { fromJson } from '../../store/db.js';
import type { ServersTable } from '../../store/schema.js';
import { uuid } from '../../util/ids.js';
import { type RequestContext, systemContext } from '../context.js';
import { type BootFlavor, type BuildRequest, type ComputeCore, type Server, now } from './core.js';
import { novaBadRequest, novaForbidden } from './errors.js';
import type { Flavor, Flavors } from './flavors.js';
import { ACTION, finishEvent, recordAction } from './instance-actions.js';
import { type RequestedNetworks, releasePorts, resolveSecurityGroups, serverPorts, validateNetworks } from './network.js';
import { generatePassword } from './passwords.js';
import { type AfterPolicy, adminOnly } from './policy.js';
import { type PersonalityFile, checkPersonality, computeQuotaLimits, instancesAllowed } from './quotas.js';
import type { ServerGroups } from './servergroups.js';
import { systemMetadataFromImage } from './snapshots.js';
import type { Snapshots } from './snapshots.js';
import { POWER, TASK, VM, statesOfStatuses } from './states.js';
import type { AvailabilityZones } from './zones.js';

export interface ServerCreate {
  name: string;
  description: string | null;
  imageRef: string;
  flavorRef: string;
  adminPass?: string;
  metadata: Record<string, string>;
  networks: RequestedNetworks;
  /** Names as requested; undefined when the request did not say (Nova then uses `default`). */
  securityGroups?: string[];
  keyName?: string;
  userData?: string;
  availabilityZone?: string;
  accessIPv4?: string;
  accessIPv6?: string;
  configDrive: boolean;
  autoDiskConfig: boolean;
  minCount: number;
  maxCount: number;
  tags: string[];
  /** ≤ 2.56: stored, never shown; the instance host writes them into the instance. */
  personality: PersonalityFile[];
  /** The create request's scheduler hints (`group` puts the servers in a server group). */
  schedulerHints: Record<string, unknown>;
  /** 2.63. */
  trustedCerts?: string[] | null;
  /** 2.74 (admins): a host (and node) to boot on, through the scheduler's filters. */
  host?: string;
  hypervisorHostname?: string;
  /** 2.90: the hostname instead of one made from the name. */
  hostname?: string;
}

/** Which servers a listing covers; checked against policy before the rest of the query is read. */
export interface ServerListScope {
  /** /servers/detail (the policy rule differs). */
  detail: boolean;
  allTenants: boolean;
}

/** Filters, paging and sorting of a server listing, as sent: list() keeps what the caller may use. */
export interface ServerQuery {
  name?: string;
  statuses?: string[];
  image?: string;
  flavor?: string;
  ip?: string;
  /** Admins only before 2.5 (`ip6ForAll` says whether the request's microversion opens it to all). */
  ip6?: string;
  ip6ForAll: boolean;
  reservationId?: string;
  /** Admins only. */
  host?: string;
  /** With all_tenants only. */
  projectId?: string;
  changesSince?: string;
  /** 2.66. */
  changesBefore?: string;
  /** 2.73. */
  locked?: boolean;
  /** Filters any user may use from 2.83 (admins always). */
  availabilityZone?: string;
  keyName?: string;
  userId?: string;
  powerState?: number;
  taskState?: string;
  vmState?: string;
  configDrive?: string;
  progress?: number;
  /** 2.83's relaxation of remove_invalid_options. */
  allFiltersForAll: boolean;
  tags?: string[];
  tagsAny?: string[];
  notTags?: string[];
  notTagsAny?: string[];
  limit?: number;
  marker?: string;
  /** Sorting by host or node is for admins only. */
  sortKeys: string[];
  sortDirs: Array<'asc' | 'desc'>;
}

/** A server's security groups as os-security-groups lists them. */
export interface ServerSecurityGroup {
  id: string;
  name: string;
  description: string;
  projectId: string;
}

/** Nova's sanitize_hostname. */
export function sanitizeHostname(name: string, fallback: string): string {
  let h = [...name]
    .filter((c) => c.charCodeAt(0) < 256)
    .join('')
    .slice(0, 63);
  h = h
    .replace(/[ _.]/g, '-')
    .replace(/[^\w.-]+/g, '')
    .toLowerCase();
  h = h.replace(/^[.-]+|[.-]+$/g, '');
  return h === '' ? fallback.slice(0, 63) : h;
}

const reservationId = () => {
  const chars = '01234567890abcdefghijklmnopqrstuvwxyz';
  let s = 'r-';
  for (let i = 0; i < 8; i++) s += chars[randomInt(chars.length)];
  return s;
};

export interface ServerDeps {
  flavors: Flavors;
  groups: ServerGroups;
  zones: AvailabilityZones;
  snapshots: Snapshots;
}

export class Servers {
  private readonly flavors: Flavors;

  constructor(
    private readonly core: ComputeCore,
    private readonly deps: ServerDeps,
  ) {
    this.flavors = deps.flavors;
  }

  private get store() {
    return this.core.store;
  }

  // ------------------------------------------------------------ reading

  async get(ctx: RequestContext, id: string): Promise<Server> {
    return this.core.get(ctx, id);
  }

  /**
   * GET /servers and /servers/detail: all_tenants is checked before the query is read; then the
   * filters only admins may use are dropped for others (Nova's remove_invalid_options).
   */
  async list(ctx: RequestContext, scope: ServerListScope, query: AfterPolicy<ServerQuery>): Promise<Server[]> {
    if (scope.allTenants) adminOnly(ctx, `os_compute_api:servers:${scope.detail ? 'detail' : 'index'}:get_all_tenants`);
    const o = query();
    if (!ctx.isAdmin && o.sortKeys.some((k) => k === 'host' || k === 'node')) throw novaForbidden('Only administrators can sort servers by host or node');
    const host = ctx.isAdmin ? o.host : undefined;
    const ip6 = ctx.isAdmin || o.ip6ForAll ? o.ip6 : undefined;
    let qb = this.core.visible(ctx, scope.allTenants);
    if (scope.allTenants && ctx.isAdmin && o.projectId) qb = qb.where('project_id', '=', o.projectId);
    if (o.reservationId) qb = qb.where('reservation_id', '=', o.reservationId);
    if (o.image) qb = qb.where('image_id', '=', o.image.split('/').pop()!);
    if (o.flavor) qb = qb.where('flavor_id', '=', o.flavor.split('/').pop()!);
    if (host) qb = qb.where('host', '=', host);
    if (o.changesSince) qb = qb.where('updated_at', '>=', o.changesSince);
    if (o.changesBefore) qb = qb.where('updated_at', '<=', o.changesBefore);
    if (o.locked !== undefined) qb = o.locked ? qb.where('locked_by', 'is not', null) : qb.where('locked_by', 'is', null);
    if (ctx.isAdmin || o.allFiltersForAll) {
      if (o.availabilityZone !== undefined) qb = qb.where('availability_zone', '=', o.availabilityZone);
      if (o.keyName !== undefined) qb = qb.where('key_name', '=', o.keyName);
      if (o.userId !== undefined) qb = qb.where('user_id', '=', o.userId);
      if (o.powerState !== undefined) qb = qb.where('power_state', '=', o.powerState);
      if (o.taskState !== undefined) qb = qb.where('task_state', '=', o.taskState);
      if (o.vmState !== undefined) qb = qb.where('vm_state', '=', o.vmState);
      if (o.progress !== undefined) qb = qb.where('progress', '=', o.progress);
      if (o.configDrive !== undefined) qb = qb.where('config_drive', '=', o.configDrive);
    }
    if (o.statuses) {
      // Nova's task_and_vm_state_from_status: vm_state in the set; task_state too unless a default matched.
      const pairs = statesOfStatuses(o.statuses);
      if (!pairs.length) return [];
      const vms = [...new Set(pairs.map((p) => p.vm))];
      const tasks = [...new Set(pairs.map((p) => p.task))];
      qb = qb.where('vm_state', 'in', vms);
      if (!tasks.includes('default')) qb = qb.where('task_state', 'in', tasks);
    }
    let rows = await qb.execute();
    if (o.name !== undefined) {
      const re = new RegExp(o.name);
      rows = rows.filter((r) => re.test(r.name));
    }
    if (o.ip !== undefined || ip6 !== undefined) {
      const ports = await serverPorts(
        this.store.db,
        rows.map((r) => r.id),
      );
      const match = (re: RegExp, v: 4 | 6) =>
        new Set(ports.filter((p) => p.fixedIps.some((f) => f.ip_address.includes(':') === (v === 6) && re.test(f.ip_address))).map((p) => p.serverId));
      if (o.ip !== undefined) {
        const ok = match(new RegExp(o.ip), 4);
        rows = rows.filter((r) => ok.has(r.id));
      }
      if (ip6 !== undefined) {
        const ok = match(new RegExp(ip6), 6);
        rows = rows.filter((r) => ok.has(r.id));
      }
    }
    if (o.tags || o.tagsAny || o.notTags || o.notTagsAny) {
      const tags = await this.store.db
        .selectFrom('server_tags')
        .select(['server_id', 'tag'])
        .where('server_id', 'in', rows.length ? rows.map((r) => r.id) : [''])
        .execute();
      const of = (id: string) => new Set(tags.filter((t) => t.server_id === id).map((t) => t.tag));
      rows = rows.filter((r) => {
        const t = of(r.id);
        if (o.tags && !o.tags.every((x) => t.has(x))) return false;
        if (o.tagsAny && !o.tagsAny.some((x) => t.has(x))) return false;
        if (o.notTags?.every((x) => t.has(x))) return false;
        if (o.notTagsAny?.some((x) => t.has(x))) return false;
        return true;
      });
    }
    // Sort by the requested keys, then Nova's own tie-breaker (the integer id), descending.
    const keys = [...o.sortKeys.map((k, i) => [k, o.sortDirs[i] ?? o.sortDirs[0] ?? 'desc'] as const), ['internal_id', o.sortDirs[0] ?? 'desc'] as const];
    const col = (r: ServersTable, k: string): string | number => {
      const v = k === 'display_name' ? r.name : k === 'uuid' ? r.id : k === 'locked' ? (r.locked_by ? 1 : 0) : (r as unknown as Record<string, unknown>)[k];
      return (v as string | number | null) ?? '';
    };
    const cmp = (a: ServersTable, b: ServersTable) => {
      for (const [k, dir] of keys) {
        const x = col(a, k);
        const y = col(b, k);
        if (x === y) continue;
        const c = x < y ? -1 : 1;
        return dir === 'asc' ? c : -c;
      }
      return 0;
    };
    rows.sort(cmp);
    if (o.marker !== undefined) {
      const at = rows.findIndex((r) => r.id === o.marker);
      if (at < 0) {
        const exists = await this.core.visible(ctx, scope.allTenants).where('id', '=', o.marker).executeTakeFirst();
        if (!exists) throw novaBadRequest(`marker [${o.marker}] not found`);
        rows = rows.filter((r) => cmp(r, exists) > 0);
      } else rows = rows.slice(at + 1);
    }
    if (o.limit !== undefined) rows = rows.slice(0, o.limit);
    return this.core.expand(rows);
  }

  /** os-security-groups of a server: the groups on its ports. */
  async securityGroups(ctx: RequestContext, id: string): Promise<ServerSecurityGroup[]> {
    const s = await this.core.get(ctx, id);
    const db = this.store.db;
    const portGroups = async (portIds: string[]) =>
      (await db.selectFrom('port_security_groups').select('security_group_id').where('port_id', 'in', portIds).execute()).map((r) => r.security_group_id);
    const ids = [...new Set(s.ports.length ? await portGroups(s.ports.map((p) => p.id)) : [])];
    const groups = ids.length ? await db.selectFrom('security_groups').selectAll().where('id', 'in', ids).execute() : [];
    return groups.map((g) => ({ id: g.id, name: g.name, description: g.description, projectId: g.project_id }));
  }

  // ------------------------------------------------------------ create

  /** Server create: every check Nova's API makes, then the rows in one transaction (BUILD). */
  async create(ctx: RequestContext, req: ServerCreate): Promise<{ servers: Server[]; reservationId: string; adminPass: string }> {
    if (req.minCount > req.maxCount) throw novaBadRequest('min_count must be <= max_count');
    const project = ctx.projectId;
    if (!project) throw novaBadRequest('A project-scoped token is required to create servers.');
    const { networks } = req;
    if (networks.kind === 'list' && req.maxCount > 1) {
      if (networks.items.some((n) => n.networkId && n.fixedIp)) {
        throw novaBadRequest('Failed to launch instances: max_count cannot be greater than 1 if an fixed_ip is specified.');
      }
      if (networks.items.some((n) => n.portId)) {
        throw novaBadRequest(
          'Failed to launch instances: Unable to launch multiple instances with a single configured port ID. Please launch your instance one by one with different ports.',
        );
      }
    }
    if (req.hostname !== undefined && req.maxCount > 1) throw novaBadRequest('Unable to allocate a single hostname to multiple instances');
    // parse_availability_zone: `zone`, `zone:host`, `zone:host:node` or `zone::node`.
    let zone: string | null = null;
    let forcedHost: string | null = null;
    if (req.availabilityZone !== undefined) {
      const parts = req.availabilityZone.split(':');
      if (parts.length > 3) throw novaBadRequest('Invalid input received: Unable to parse availability_zone');
      const [az, host, node] = parts;
      zone = az || null;
      forcedHost = host || null;
      if (host || node) adminOnly(ctx, 'os_compute_api:servers:create:forced_host');
      if (host) {
        const svc = await this.store.db
          .selectFrom('compute_services')
          .select('host')
          .where('host', '=', host)
          .where('binary', '=', 'nova-compute')
          .executeTakeFirst();
        if (!svc) throw novaBadRequest(`Compute host ${host} could not be found.`);
      }
      if (zone && !forcedHost && !(await this.deps.zones.bootable()).includes(zone)) throw novaBadRequest('The requested availability zone is not available');
    }
    if (req.host !== undefined || req.hypervisorHostname !== undefined) {
      adminOnly(ctx, 'compute:servers:create:requested_destination');
      if (forcedHost || req.availabilityZone?.includes(':')) {
        throw novaBadRequest('One mechanism with host and/or hypervisor_hostname and another mechanism with zone:host:node are mutually exclusive.');
      }
      const wanted = req.host ?? req.hypervisorHostname!;
      const svc = await this.store.db
        .selectFrom('compute_services')
        .select('host')
        .where('host', '=', wanted)
        .where('binary', '=', 'nova-compute')
        .executeTakeFirst();
      if (!svc) throw novaBadRequest(`Compute host ${wanted} could not be found.`);
    }

    // Image and flavor.
    const imageId = req.imageRef.split('/').pop()!;
    const image = await this.core.images.forBoot(ctx, imageId);
    if (!image) throw novaBadRequest('Can not find requested image');
    if (image.status !== 'active') throw novaBadRequest(`Image ${image.id} is not active.`);
    const flavorId = req.flavorRef.split('/').pop()!;
    let flavor: Flavor;
    try {
      flavor = await this.flavors.get(ctx, flavorId);
    } catch {
      throw novaBadRequest(`Flavor ${flavorId} could not be found.`);
    }
    if (flavor.disabled) throw novaBadRequest(`Flavor ${flavorId} could not be found.`);
    if (image.min_ram > flavor.ram) throw novaBadRequest("Flavor's memory is too small for requested image.");
    if (flavor.disk > 0 && (image.min_disk > flavor.disk || (image.size ?? 0) > flavor.disk * 1024 ** 3)) {
      throw novaBadRequest("The created instance's disk would be too small.");
    }

    const groupNames = req.securityGroups === undefined ? ['default'] : [...new Set(req.securityGroups)];
    const groupIds = await resolveSecurityGroups(this.store, ctx, groupNames.length ? groupNames : ['default']);
    const maxByNetwork = await validateNetworks(this.store, ctx, networks, req.maxCount);
    if (maxByNetwork < req.minCount) throw novaForbidden('Maximum number of ports exceeded');

    let keyData: string | null = null;
    if (req.keyName !== undefined) {
      const key = await this.store.db
        .selectFrom('keypairs')
        .select('public_key')
        .where('user_id', '=', ctx.userId)
        .where('name', '=', req.keyName)
        .executeTakeFirst();
      if (!key) throw novaBadRequest('Invalid key_name provided.');
      keyData = key.public_key;
    }
    const limits = await computeQuotaLimits(this.store.db, project);
    const metaItems = Object.keys(req.metadata).length;
    if (limits.metadata_items >= 0 && metaItems > limits.metadata_items) {
      throw novaForbidden(`Maximum number of metadata items exceeds ${limits.metadata_items}`);
    }
    checkPersonality(limits, req.personality);
    const hints = req.schedulerHints;
    const groupHint = typeof hints.group === 'string' ? hints.group : Array.isArray(hints.group) ? String(hints.group[0]) : undefined;
    const sysmeta: Record<string, string> = systemMetadataFromImage(image);
    if (forcedHost) sysmeta.forced_host = forcedHost;
    if (req.host ?? req.hypervisorHostname) sysmeta.requested_host = (req.host ?? req.hypervisorHostname)!;

    const adminPass = req.adminPass ?? generatePassword();
    const resv = reservationId();
    const bootFlavor: BootFlavor = {
      id: flavor.id,
      name: flavor.name,
      ram: flavor.ram,
      vcpus: flavor.vcpus,
      disk: flavor.disk,
      ephemeral: flavor.ephemeral,
      swap: flavor.swap,
      extra_specs: flavor.extraSpecs,
    };
    const build: BuildRequest = { networks, securityGroupIds: groupIds, user: { id: ctx.userId, name: ctx.userName, roles: [...ctx.roles] } };
    const ids = await this.core.uow.run(async (w) => {
      const { trx, changed } = w;
      // Creates take turns from the quota count to the internal ids (max + 1), as Nova's quota
      // recheck and its database's autoincrement keep concurrent creates apart.
      await w.lock('servers.create');
      const count = await instancesAllowed(trx, project, { vcpus: flavor.vcpus, ram: flavor.ram }, req.minCount, Math.min(req.maxCount, maxByNetwork));
      const group = groupHint === undefined ? undefined : await this.deps.groups.forCreate(trx, ctx, groupHint, count);
      const max = await trx
        .selectFrom('servers')
        .select(({ fn }) => fn.max<number>('internal_id').as('m'))
        .executeTakeFirst();
      let internal = Number(max?.m ?? 0);
      const out: string[] = [];
      for (let i = 0; i < count; i++) {
        const id = uuid();
        const name = count > 1 ? `${req.name}-${i + 1}` : req.name;
        const t = now();
        await trx
          .insertInto('servers')
          .values({
            id,
            internal_id: ++internal,
            project_id: project,
            user_id: ctx.userId,
            name,
            description: req.description,
            hostname: req.hostname ?? sanitizeHostname(name, `Server-${id}`),
            flavor_id: flavor.id,
            flavor: JSON.stringify(bootFlavor),
            image_id: image.id,
            key_name: req.keyName ?? null,
            key_data: keyData,
            user_data: req.userData ?? null,
            metadata: JSON.stringify(req.metadata),
            availability_zone: zone,
            access_ipv4: req.accessIPv4 ?? null,
            access_ipv6: req.accessIPv6 ?? null,
            config_drive: req.configDrive ? 'True' : '',
            auto_disk_config: req.autoDiskConfig ? 1 : 0,
            vm_state: VM.BUILDING,
            task_state: TASK.SCHEDULING,
            power_state: POWER.NOSTATE,
            power_desired: 'running',
            reboot_seq: 0,
            reboot_done_seq: 0,
            rebuild_seq: 0,
            progress: 0,
            host: null,
            locked_by: null,
            reservation_id: resv,
            launch_index: i,
            requested_networks: JSON.stringify(build),
            security_groups: JSON.stringify(groupNames.length ? groupNames : ['default']),
            fault: null,
            launched_at: null,
            terminated_at: null,
            created_at: t,
            updated_at: t,
            system_metadata: JSON.stringify(sysmeta),
            personality: req.personality.length ? JSON.stringify(req.personality) : null,
            trusted_certs: req.trustedCerts ? JSON.stringify(req.trustedCerts) : null,
            pinned_az: zone,
            scheduler_hints: JSON.stringify(hints),
            old_flavor: null,
            new_flavor: null,
            rescue: 0,
          })
          .execute();
        for (const tag of new Set(req.tags)) await trx.insertInto('server_tags').values({ server_id: id, tag }).execute();
        if (group) await trx.insertInto('server_group_members').values({ server_id: id, group_id: group.id }).execute();
        await recordAction(w, ctx, { id, project_id: project }, ACTION.CREATE, { name: 'conductor_schedule_and_build_instances', host: null });
        changed('server', id, project, 'create');
        out.push(id);
      }
      return out;
    }, ctx);
    const rows = await this.store.db.selectFrom('servers').selectAll().where('id', 'in', ids).orderBy('internal_id').execute();
    return { servers: await this.core.expand(rows), reservationId: resv, adminPass };
  }

  // ------------------------------------------------------------ update / delete

  async update(
    ctx: RequestContext,
    id: string,
    u: { name?: string; description?: string | null; accessIPv4?: string; accessIPv6?: string; autoDiskConfig?: boolean; hostname?: string },
  ): Promise<Server> {
    await this.core.uow.run(async (w) => {
      const row = await this.core.row(ctx, id, w);
      const set: Partial<ServersTable> = { updated_at: now() };
      if (u.name !== undefined) set.name = u.name;
      if (u.description !== undefined) set.description = u.description;
      if (u.accessIPv4 !== undefined) set.access_ipv4 = u.accessIPv4;
      if (u.accessIPv6 !== undefined) set.access_ipv6 = u.accessIPv6;
      if (u.autoDiskConfig !== undefined) set.auto_disk_config = u.autoDiskConfig ? 1 : 0;
      if (u.hostname !== undefined) set.hostname = u.hostname;
      await w.trx.updateTable('servers').set(set).where('id', '=', row.id).execute();
      w.changed('server', id, row.project_id, 'update');
    }, ctx);
    return this.get(ctx, id);
  }

  /**
   * Delete: ports Nova created go with the server; ports passed in are released and kept. What
   * is left (Nova's soft-deleted row) keeps the server's actions and usage readable; a snapshot
   * still being uploaded is abandoned, as Nova deletes it.
   */
  async delete(ctx: RequestContext, id: string): Promise<void> {
    let snapshot: string | undefined;
    await this.core.uow.run(async (w) => {
      const row = await this.core.row(ctx, id, w);
      this.core.checkLocked(ctx, row);
      await releasePorts(w, this.core.network.within(w), id, systemContext(ctx.requestId));
      await recordAction(w, ctx, row, ACTION.DELETE, { name: 'compute_terminate_instance', host: row.host });
      await finishEvent(w, row.id, 'compute_terminate_instance');
      const t = now();
      const gone: ServersTable = { ...row, vm_state: VM.DELETED, task_state: null, terminated_at: t, updated_at: t };
      await w.trx.deleteFrom('server_tombstones').where('id', '=', id).execute();
      await w.trx
        .insertInto('server_tombstones')
        .values({ id, project_id: row.project_id, user_id: row.user_id, deleted_at: t, row: JSON.stringify(gone) })
        .execute();
      await w.trx.deleteFrom('servers').where('id', '=', id).execute();
      snapshot = fromJson<Record<string, string>>(row.system_metadata, {}).snapshot_image_id;
      w.changed('server', id, row.project_id, 'delete');
    }, ctx);
    if (snapshot) await this.deps.snapshots.discard(snapshot);
  }
}
