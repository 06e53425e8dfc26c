import { randomInt } from 'node:crypto';
import type { Store } from '../../store/db.js';
import { fromJson } from '../../store/db.js';
import type { ServersTable } from '../../store/schema.js';
import { uuid } from '../../util/ids.js';
import { type RequestContext, systemContext } from '../context.js';
import { DomainError } from '../errors.js';
import type { ImageService } from '../image/service.js';
import type { NetworkService } from '../network/service.js';
import type { UnitOfWork, Work } from '../work.js';
import { instanceNotFound, invalidState, novaBadRequest, novaConflict, novaForbidden, novaNotFound, policyDenied } from './errors.js';
import { type Flavor, Flavors } from './flavors.js';
import { type InstanceReport, readConsoleOutput } from './host.js';
import { Keypairs } from './keypairs.js';
import {
  type Address,
  type RequestedNetworks,
  type ServerPort,
  DEVICE_OWNER,
  allocatePorts,
  allocationFailure,
  releasePorts,
  resolveSecurityGroups,
  serverAddresses,
  serverPorts,
  serverSecurityGroups,
  validateNetworks,
} from './network.js';
import { ComputeQuotas, computeQuotaLimits, instancesAllowed } from './quotas.js';
import { POWER, TASK, VM, statesOfStatuses, statusOf } from './states.js';

export const AVAILABILITY_ZONE = 'nova';

/** The flavor a server was booted with (Nova keeps this copy on the instance). */
export type BootFlavor = Pick<Flavor, 'id' | 'name' | 'ram' | 'vcpus' | 'disk' | 'ephemeral' | 'swap'> & { extra_specs: Record<string, string> };

export interface Fault {
  code: number;
  message: string;
  details?: string;
  created: string;
}

/** A server with what its views need. */
export interface Server {
  row: ServersTable;
  flavor: BootFlavor;
  status: string;
  addresses: Record<string, Address[]>;
  /** Omitted (undefined) when the server has no ports and is past its build, as Nova omits the key. */
  securityGroups?: Array<{ name: string }>;
  metadata: Record<string, string>;
  tags: string[];
  fault: Fault | null;
  ports: ServerPort[];
}

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
}

export interface ServerQuery {
  detail: boolean;
  allTenants: boolean;
  /** Filters already reduced to what the caller may use. */
  name?: string;
  statuses?: string[];
  image?: string;
  flavor?: string;
  ip?: string;
  ip6?: string;
  reservationId?: string;
  host?: string;
  projectId?: string;
  changesSince?: string;
  tags?: string[];
  tagsAny?: string[];
  notTags?: string[];
  notTagsAny?: string[];
  limit?: number;
  marker?: string;
  sortKeys: string[];
  sortDirs: Array<'asc' | 'desc'>;
}

/** What the build keeps from the create request until the ports exist. */
interface BuildRequest {
  networks: RequestedNetworks;
  securityGroupIds: string[];
  user: { id: string; name: string; roles: string[] };
}

export interface ComputeOptions {
  dataDir: string;
  /** Host name servers are scheduled to and their ports bound to (binding:host_id). */
  hostname: string;
  /**
   * An instance host runs the servers (the netns data plane): power changes and builds wait for
   * its reports. Without one they complete at once.
   */
  instanceHost: boolean;
  /** How long a build waits for its ports to come up (Nova's vif_plugging_timeout). */
  buildTimeoutMs?: number;
}

const PASSWORD_GROUPS = ['23456789', 'ABCDEFGHJKLMNPQRSTUVWXYZ', 'abcdefghijkmnopqrstuvwxyz'];

/** Nova's generate_password: 12 characters, at least one of each group, no look-alikes. */
function generatePassword(length = 12): string {
  const all = PASSWORD_GROUPS.join('');
  const chars = PASSWORD_GROUPS.map((g) => g[randomInt(g.length)]);
  while (chars.length < length) chars.push(all[randomInt(all.length)]);
  for (let i = chars.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [chars[i], chars[j]] = [chars[j], chars[i]];
  }
  return chars.join('');
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

const now = () => new Date().toISOString();

/**
 * Actions Nova has that this slice does not implement, with the instance states Nova accepts them
 * in (its check_instance_state): the state check answers first (409), as in Nova; an action
 * that would be valid is a clear 501 instead of pretending.
 */
const UNIMPLEMENTED_ACTIONS: Record<string, string[] | null> = {
  resize: ['active', 'stopped'],
  confirmResize: ['resized'],
  revertResize: ['resized'],
  rebuild: ['active', 'stopped', 'error'],
  createImage: ['active', 'stopped', 'paused', 'suspended'],
  createBackup: ['active', 'stopped', 'paused', 'suspended'],
  changePassword: ['active'],
  pause: ['active'],
  unpause: ['paused'],
  suspend: ['active'],
  resume: ['suspended'],
  rescue: ['active', 'stopped', 'error'],
  unrescue: ['rescued'],
  shelve: ['active', 'stopped', 'paused', 'suspended'],
  shelveOffload: ['shelved'],
  unshelve: ['shelved', 'shelved_offloaded'],
  restore: ['soft_deleted'],
  trigger_crash_dump: ['active', 'paused', 'rescued', 'resized', 'error'],
  migrate: null,
  'os-migrateLive': null,
  evacuate: null,
  resetNetwork: null,
  injectNetworkInfo: null,
  'os-getVNCConsole': null,
  'os-getSPICEConsole': null,
  'os-getRDPConsole': null,
  'os-getSerialConsole': null,
  addFixedIp: null,
  removeFixedIp: null,
  addFloatingIp: null,
  removeFloatingIp: null,
};

/**
 * Nova's compute API without HTTP: servers and what belongs to them. Writes record desired state
 * and return; the ComputeManager builds servers (ports through Neutron) and moves them through
 * their states, the instance host (if any) runs them.
 */
export class ComputeService {
  readonly flavors: Flavors;
  readonly keypairs: Keypairs;
  readonly quotas: ComputeQuotas;

  constructor(
    readonly uow: UnitOfWork,
    readonly network: NetworkService,
    readonly images: ImageService,
    readonly opts: ComputeOptions,
  ) {
    this.flavors = new Flavors(uow);
    this.keypairs = new Keypairs(uow);
    this.quotas = new ComputeQuotas(uow);
  }

  get store(): Store {
    return this.uow.store;
  }

  get hostname(): string {
    return this.opts.hostname;
  }

  /** Whether an instance host runs the servers (see ComputeOptions.instanceHost). */
  get managed(): boolean {
    return this.opts.instanceHost;
  }

  // ------------------------------------------------------------ reading

  private visible(ctx: RequestContext, allTenants = false) {
    let qb = this.store.db.selectFrom('servers').selectAll();
    if (!(ctx.isAdmin && allTenants)) qb = qb.where('project_id', '=', ctx.projectId ?? '');
    return qb;
  }

  /** A server the caller may see (its project's; admins also others' by id) or 404. */
  private async row(ctx: RequestContext, id: string, w?: Work): Promise<ServersTable> {
    let qb = (w?.trx ?? this.store.db).selectFrom('servers').selectAll().where('id', '=', id);
    if (!ctx.isAdmin) qb = qb.where('project_id', '=', ctx.projectId ?? '');
    const row = await (w ? w.forUpdate(qb) : qb).executeTakeFirst();
    if (!row) throw instanceNotFound(id);
    return row;
  }

  /** Rows → servers with addresses, security groups, tags and faults. */
  async expand(rows: ServersTable[]): Promise<Server[]> {
    if (!rows.length) return [];
    const ids = rows.map((r) => r.id);
    const ports = await serverPorts(this.store.db, ids);
    const addresses = await serverAddresses(this.store, ports);
    const groups = await serverSecurityGroups(this.store.db, ports);
    const tags = await this.store.db.selectFrom('server_tags').select(['server_id', 'tag']).where('server_id', 'in', ids).orderBy('tag').execute();
    return rows.map((row) => {
      const mine = ports.filter((p) => p.serverId === row.id);
      let securityGroups = groups.get(row.id);
      // Before its ports exist a server shows the groups it asked for (what it will get).
      if (!securityGroups && row.vm_state === VM.BUILDING && mine.length === 0) {
        securityGroups = fromJson<string[]>(row.security_groups, []).map((name) => ({ name }));
      }
      return {
        row,
        flavor: JSON.parse(row.flavor) as BootFlavor,
        status: statusOf(row.vm_state, row.task_state),
        addresses: row.vm_state === VM.BUILDING ? {} : (addresses.get(row.id) ?? {}),
        securityGroups,
        metadata: fromJson<Record<string, string>>(row.metadata, {}),
        tags: tags.filter((t) => t.server_id === row.id).map((t) => t.tag),
        fault: fromJson<Fault | null>(row.fault, null),
        ports: mine,
      };
    });
  }

  async get(ctx: RequestContext, id: string): Promise<Server> {
    const [s] = await this.expand([await this.row(ctx, id)]);
    return s;
  }

  async list(ctx: RequestContext, o: ServerQuery): Promise<Server[]> {
    let qb = this.visible(ctx, o.allTenants);
    if (o.allTenants && ctx.isAdmin && o.projectId) qb = qb.where('project_id', '=', o.projectId);
    if (o.reservationId) qb = qb.where('reservation_id', '=', o.reservationId);
    if (o.image) qb = qb.where('image_id', '=', o.image.split('/').pop()!);
    if (o.flavor) qb = qb.where('flavor_id', '=', o.flavor.split('/').pop()!);
    if (o.host) qb = qb.where('host', '=', o.host);
    if (o.changesSince) qb = qb.where('updated_at', '>=', o.changesSince);
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
    if (o.ip !== undefined || o.ip6 !== undefined) {
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
      if (o.ip6 !== undefined) {
        const ok = match(new RegExp(o.ip6), 6);
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
        if (o.notTags && o.notTags.every((x) => t.has(x))) return false;
        if (o.notTagsAny && o.notTagsAny.some((x) => t.has(x))) return false;
        return true;
      });
    }
    // Sort by the requested keys, then Nova's own tie-breaker (the integer id), descending.
    const keys = [...o.sortKeys.map((k, i) => [k, o.sortDirs[i] ?? o.sortDirs[0] ?? 'desc'] as const), ['internal_id', o.sortDirs[0] ?? 'desc'] as const];
    const col = (r: ServersTable, k: string): string | number => {
      const v = k === 'display_name' ? r.name : k === 'uuid' ? r.id : (r as unknown as Record<string, unknown>)[k];
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
        const exists = await this.visible(ctx, o.allTenants).where('id', '=', o.marker).executeTakeFirst();
        if (!exists) throw novaBadRequest(`marker [${o.marker}] not found`);
        rows = rows.filter((r) => cmp(r, exists) > 0);
      } else rows = rows.slice(at + 1);
    }
    if (o.limit !== undefined) rows = rows.slice(0, o.limit);
    return this.expand(rows);
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
    if (req.availabilityZone !== undefined) {
      const parts = req.availabilityZone.split(':');
      if (parts.length > 3) throw novaBadRequest('Invalid input received: Unable to parse availability_zone');
      const [az, host] = parts;
      if (parts.length > 1 && !ctx.isAdmin) throw policyDenied('os_compute_api:servers:create:forced_host');
      if (az && az !== AVAILABILITY_ZONE) throw novaBadRequest('The requested availability zone is not available');
      if (host && host !== this.hostname) throw novaBadRequest(`Compute host ${host} could not be found.`);
    }

    // Image and flavor.
    const imageId = req.imageRef.split('/').pop()!;
    const image = await this.images.forBoot(ctx, imageId);
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
    const ids = await this.uow.run(async ({ trx, changed }) => {
      const count = await instancesAllowed(trx, project, { vcpus: flavor.vcpus, ram: flavor.ram }, req.minCount, Math.min(req.maxCount, maxByNetwork));
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
            hostname: sanitizeHostname(name, `Server-${id}`),
            flavor_id: flavor.id,
            flavor: JSON.stringify(bootFlavor),
            image_id: image.id,
            key_name: req.keyName ?? null,
            key_data: keyData,
            user_data: req.userData ?? null,
            metadata: JSON.stringify(req.metadata),
            availability_zone: AVAILABILITY_ZONE,
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
          })
          .execute();
        for (const tag of new Set(req.tags)) await trx.insertInto('server_tags').values({ server_id: id, tag }).execute();
        changed('server', id, project, 'create');
        out.push(id);
      }
      return out;
    });
    const rows = await this.store.db.selectFrom('servers').selectAll().where('id', 'in', ids).orderBy('internal_id').execute();
    return { servers: await this.expand(rows), reservationId: resv, adminPass };
  }

  // ------------------------------------------------------------ the build (called by the manager)

  /**
   * Schedule to this host and allocate the server's ports, all in one transaction with the
   * server's own update: a failure leaves no port behind and puts the server in ERROR.
   */
  async buildNetworks(id: string): Promise<void> {
    const row = await this.store.db.selectFrom('servers').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row || row.vm_state !== VM.BUILDING || (row.task_state !== TASK.SCHEDULING && row.task_state !== TASK.NETWORKING)) return;
    const build = fromJson<BuildRequest | null>(row.requested_networks, null);
    if (!build) return;
    const user: RequestContext = {
      ...systemContext(`req-build-${id}`),
      userId: build.user.id,
      userName: build.user.name,
      projectId: row.project_id,
      projectName: null,
      projectDomainId: null,
      roles: build.user.roles,
      isAdmin: build.user.roles.includes('admin'),
    };
    const admin = systemContext(`req-build-${id}`);
    const host = this.hostname;
    try {
      await this.uow.run(async (w) => {
        const net = this.network.within(w);
        const current = await w.trx.selectFrom('servers').select(['vm_state', 'task_state']).where('id', '=', id).executeTakeFirst();
        if (!current || current.vm_state !== VM.BUILDING || current.task_state !== row.task_state) return;
        const ifaces = await allocatePorts(w, net, {
          serverId: id,
          projectId: row.project_id,
          host,
          requested: build.networks,
          securityGroupIds: build.securityGroupIds,
          user,
          admin,
        });
        let position = 0;
        for (const i of ifaces) {
          await w.trx
            .insertInto('server_interfaces')
            .values({ port_id: i.portId, server_id: id, position: position++, preserve: i.preserve ? 1 : 0, tag: i.tag })
            .execute();
        }
        await w.trx.updateTable('servers').set({ task_state: TASK.SPAWNING, host, updated_at: now() }).where('id', '=', id).execute();
        w.changed('server', id, row.project_id, 'update');
      });
    } catch (e) {
      const reason = e instanceof DomainError ? e.message : allocationFailure(e);
      await this.fail(id, `Build of instance ${id} aborted: ${reason}`, e instanceof Error ? (e.stack ?? reason) : reason);
      return;
    }
  }

  /** Put a server in ERROR with a fault (Nova's instance fault). */
  async fail(id: string, message: string, details?: string): Promise<void> {
    const fault: Fault = { code: 500, message, details, created: now().replace(/\.\d+Z$/, 'Z') };
    await this.uow.run(async (w) => {
      const row = await w.trx
        .updateTable('servers')
        .set({ vm_state: VM.ERROR, task_state: null, power_state: POWER.NOSTATE, fault: JSON.stringify(fault), updated_at: now() })
        .where('id', '=', id)
        .returning('project_id')
        .executeTakeFirst();
      if (row) w.changed('server', id, row.project_id, 'update');
    });
  }

  /** Conditional state change: only from the state it was seen in (a concurrent change wins). */
  async transition(id: string, from: { vm: string; task: string | null }, to: Partial<ServersTable>): Promise<boolean> {
    return this.uow.run(async (w) => {
      let qb = w.trx
        .updateTable('servers')
        .set({ ...to, updated_at: now() })
        .where('id', '=', id)
        .where('vm_state', '=', from.vm);
      qb = from.task === null ? qb.where('task_state', 'is', null) : qb.where('task_state', '=', from.task);
      const row = await qb.returning('project_id').executeTakeFirst();
      if (row) w.changed('server', id, row.project_id, 'update');
      return row !== undefined;
    });
  }

  /** An instance host's report about what an instance is really doing. */
  async reportInstance(id: string, r: InstanceReport): Promise<void> {
    const row = await this.store.db.selectFrom('servers').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) return;
    if (r.error && row.vm_state === VM.BUILDING) {
      await this.fail(id, `Build of instance ${id} aborted: ${r.error}`);
      return;
    }
    const power = r.power === 'running' ? POWER.RUNNING : r.power === 'crashed' ? POWER.CRASHED : POWER.SHUTDOWN;
    // A report may complete a pending change (the manager decides which): it is published even
    // when nothing in the row changed.
    await this.uow.run(async (w) => {
      if (row.power_state !== power || row.reboot_done_seq !== r.rebootSeq) {
        await w.trx.updateTable('servers').set({ power_state: power, reboot_done_seq: r.rebootSeq, updated_at: now() }).where('id', '=', id).execute();
      }
      w.changed('server', id, row.project_id, 'status');
    });
  }

  // ------------------------------------------------------------ update / delete

  async update(
    ctx: RequestContext,
    id: string,
    u: { name?: string; description?: string | null; accessIPv4?: string; accessIPv6?: string; autoDiskConfig?: boolean },
  ): Promise<Server> {
    await this.uow.run(async (w) => {
      const row = await this.row(ctx, id, w);
      const set: Partial<ServersTable> = { updated_at: now() };
      if (u.name !== undefined) set.name = u.name;
      if (u.description !== undefined) set.description = u.description;
      if (u.accessIPv4 !== undefined) set.access_ipv4 = u.accessIPv4;
      if (u.accessIPv6 !== undefined) set.access_ipv6 = u.accessIPv6;
      if (u.autoDiskConfig !== undefined) set.auto_disk_config = u.autoDiskConfig ? 1 : 0;
      await w.trx.updateTable('servers').set(set).where('id', '=', row.id).execute();
      w.changed('server', id, row.project_id, 'update');
    });
    return this.get(ctx, id);
  }

  private checkLocked(ctx: RequestContext, row: ServersTable): void {
    if (row.locked_by && !ctx.isAdmin) throw novaConflict(`Instance ${row.id} is locked`);
  }

  /** Delete: ports Nova created go with the server; ports passed in are released and kept. */
  async delete(ctx: RequestContext, id: string): Promise<void> {
    await this.uow.run(async (w) => {
      const row = await this.row(ctx, id, w);
      this.checkLocked(ctx, row);
      await releasePorts(w, this.network.within(w), id, systemContext(ctx.requestId));
      await w.trx.deleteFrom('servers').where('id', '=', id).execute();
      w.changed('server', id, row.project_id, 'delete');
    });
  }

  // ------------------------------------------------------------ actions

  async action(ctx: RequestContext, id: string, name: string, body: Record<string, unknown>): Promise<unknown> {
    switch (name) {
      case 'os-stop':
        return this.power(ctx, id, 'stop');
      case 'os-start':
        return this.power(ctx, id, 'start');
      case 'reboot':
        return this.reboot(ctx, id, String((body.reboot as { type: string }).type).toUpperCase() === 'HARD');
      case 'lock':
        return this.lock(ctx, id, true);
      case 'unlock':
        return this.lock(ctx, id, false);
      case 'forceDelete':
        // There is no soft delete here, so every server is deleted at once: force-deleting is deleting.
        return this.delete(ctx, id);
      case 'addSecurityGroup':
      case 'removeSecurityGroup':
        return this.securityGroupAction(ctx, id, name, body[name]);
      case 'os-resetState':
        return this.resetState(ctx, id, body[name]);
      default: {
        if (!(name in UNIMPLEMENTED_ACTIONS)) throw novaBadRequest(`There is no such action: ${name}`);
        const row = await this.row(ctx, id);
        const states = UNIMPLEMENTED_ACTIONS[name];
        if (states && !states.includes(row.vm_state)) throw invalidState(id, name, 'vm_state', row.vm_state);
        if (states && row.task_state !== null) throw invalidState(id, name, 'task_state', row.task_state);
        throw new DomainError('not_implemented', 'HTTPNotImplemented', `Action '${name}' is not implemented by this compute service.`);
      }
    }
  }

  /** addSecurityGroup / removeSecurityGroup: the group on (or off) every port of the server. */
  private async securityGroupAction(ctx: RequestContext, id: string, action: string, arg: unknown): Promise<void> {
    const row = await this.row(ctx, id);
    if (typeof arg !== 'object' || arg === null || Array.isArray(arg)) throw novaBadRequest('Missing parameter dict');
    const name = (arg as { name?: unknown }).name;
    if (name === undefined) throw novaBadRequest('Security group not specified');
    if (typeof name !== 'string' || name.trim() === '') throw novaBadRequest('Security group name cannot be empty');
    let groupId: string;
    try {
      [groupId] = await resolveSecurityGroups(this.store, { ...ctx, projectId: row.project_id }, [name]);
    } catch (e) {
      if (e instanceof DomainError && e.status === 400) throw novaNotFound(e.message);
      throw e;
    }
    if (groupId === undefined) {
      // `default` is resolved by Neutron on create; here it must be looked up like any other.
      const g = await this.store.db
        .selectFrom('security_groups')
        .select('id')
        .where('project_id', '=', row.project_id)
        .where('name', '=', name)
        .executeTakeFirst();
      if (!g) throw novaNotFound(`Security group ${name} is not found for project ${row.project_id}`);
      groupId = g.id;
    }
    const admin = systemContext(ctx.requestId);
    await this.uow.run(async (w) => {
      const net = this.network.within(w);
      const ports = await w.trx.selectFrom('ports').select(['id', 'port_security_enabled']).where('device_id', '=', id).execute();
      if (!ports.length) throw novaNotFound(`instance_id ${id} could not be found as device id on any ports`);
      let found = false;
      for (const p of ports) {
        const groups = (await w.trx.selectFrom('port_security_groups').select('security_group_id').where('port_id', '=', p.id).execute()).map(
          (g) => g.security_group_id,
        );
        if (action === 'addSecurityGroup') {
          if (p.port_security_enabled !== 1)
            throw novaBadRequest('Network requires port_security_enabled and subnet associated in order to apply security groups.');
          await net.update(admin, 'ports', p.id, { port: { security_groups: [...groups, groupId] } });
        } else if (groups.includes(groupId)) {
          await net.update(admin, 'ports', p.id, { port: { security_groups: groups.filter((g) => g !== groupId) } });
          found = true;
        }
      }
      if (action === 'removeSecurityGroup' && !found) throw novaNotFound(`Security group ${name} not associated with the instance ${id}`);
    });
  }

  /** os-resetState (admins): force vm_state active or error and clear the task. */
  private async resetState(ctx: RequestContext, id: string, arg: unknown): Promise<void> {
    if (!ctx.isAdmin) throw policyDenied('os_compute_api:os-admin-actions:reset_state');
    const state = (arg as { state?: unknown } | null)?.state;
    if (state !== 'active' && state !== 'error') {
      throw novaBadRequest(`Invalid input for field/attribute state. Value: ${String(state)}. '${String(state)}' is not one of ['active', 'error']`);
    }
    await this.uow.run(async (w) => {
      const row = await this.row(ctx, id, w);
      await w.trx.updateTable('servers').set({ vm_state: state, task_state: null, updated_at: now() }).where('id', '=', id).execute();
      w.changed('server', id, row.project_id, 'update');
    });
  }

  private async power(ctx: RequestContext, id: string, what: 'stop' | 'start'): Promise<void> {
    await this.uow.run(async (w) => {
      const { trx } = w;
      const row = await this.row(ctx, id, w);
      this.checkLocked(ctx, row);
      if (what === 'stop') {
        if (row.vm_state !== VM.ACTIVE && row.vm_state !== VM.ERROR) throw invalidState(id, 'stop', 'vm_state', row.vm_state);
        if (row.task_state !== null) throw invalidState(id, 'stop', 'task_state', row.task_state);
        await trx.updateTable('servers').set({ task_state: TASK.POWERING_OFF, power_desired: 'stopped', updated_at: now() }).where('id', '=', id).execute();
      } else {
        if (row.vm_state !== VM.STOPPED) throw invalidState(id, 'start', 'vm_state', row.vm_state);
        if (row.task_state !== null) throw invalidState(id, 'start', 'task_state', row.task_state);
        await trx.updateTable('servers').set({ task_state: TASK.POWERING_ON, power_desired: 'running', updated_at: now() }).where('id', '=', id).execute();
      }
      w.changed('server', id, row.project_id, 'update');
    });
  }

  private async reboot(ctx: RequestContext, id: string, hard: boolean): Promise<void> {
    await this.uow.run(async (w) => {
      const { trx } = w;
      const row = await this.row(ctx, id, w);
      this.checkLocked(ctx, row);
      const vmOk = hard ? [VM.ACTIVE, VM.STOPPED, VM.ERROR, 'paused', 'suspended'] : [VM.ACTIVE];
      if (!vmOk.includes(row.vm_state as 'active')) throw invalidState(id, 'reboot', 'vm_state', row.vm_state);
      const taskOk = hard ? [null, TASK.REBOOTING, TASK.REBOOTING_HARD] : [null];
      if (!taskOk.includes(row.task_state as null)) throw invalidState(id, 'reboot', 'task_state', row.task_state);
      await trx
        .updateTable('servers')
        .set({ task_state: hard ? TASK.REBOOTING_HARD : TASK.REBOOTING, power_desired: 'running', reboot_seq: row.reboot_seq + 1, updated_at: now() })
        .where('id', '=', id)
        .execute();
      w.changed('server', id, row.project_id, 'update');
    });
  }

  private async lock(ctx: RequestContext, id: string, lock: boolean): Promise<void> {
    await this.uow.run(async (w) => {
      const row = await this.row(ctx, id, w);
      if (!lock && row.locked_by === 'admin' && !ctx.isAdmin) throw policyDenied('os_compute_api:os-lock-server:unlock:unlock_override');
      const by = lock ? (row.project_id === ctx.projectId ? 'owner' : 'admin') : null;
      if (lock && row.locked_by && row.project_id === ctx.projectId) return;
      await w.trx.updateTable('servers').set({ locked_by: by, updated_at: now() }).where('id', '=', id).execute();
      w.changed('server', id, row.project_id, 'update');
    });
  }

  /** os-getConsoleOutput: the instance host's console log, or empty when none runs it. */
  async consoleOutput(ctx: RequestContext, id: string, length?: number | null): Promise<string> {
    const row = await this.row(ctx, id);
    if (!row.host) throw novaConflict(`Instance ${id} is not ready`);
    return readConsoleOutput(this.opts.dataDir, id, length === -1 ? null : length);
  }

  // ------------------------------------------------------------ interfaces

  async interfaces(ctx: RequestContext, id: string): Promise<ServerPort[]> {
    await this.row(ctx, id);
    return serverPorts(this.store.db, [id]);
  }

  async interface(ctx: RequestContext, id: string, portId: string): Promise<ServerPort> {
    await this.row(ctx, id);
    const port = (await serverPorts(this.store.db, [id])).find((p) => p.id === portId);
    if (!port) {
      const exists = await this.store.db.selectFrom('ports').select(['id', 'project_id']).where('id', '=', portId).executeTakeFirst();
      if (!exists || (!ctx.isAdmin && exists.project_id !== ctx.projectId)) throw novaNotFound(`Port id ${portId} could not be found.`);
      throw novaNotFound(`Instance ${id} does not have a port with id ${portId}`);
    }
    return port;
  }

  /** Attach a network (a new port) or an existing port, in one transaction. */
  async attachInterface(ctx: RequestContext, id: string, a: { networkId?: string; portId?: string; fixedIp?: string; tag?: string }): Promise<ServerPort> {
    if (a.networkId && a.portId) throw novaBadRequest('Must not input both network_id and port_id');
    if (a.fixedIp && !a.networkId) throw novaBadRequest('Must input network_id when request IP address');
    const row = await this.row(ctx, id);
    this.checkLocked(ctx, row);
    const okStates: string[] = [VM.ACTIVE, 'paused', VM.STOPPED];
    if (!okStates.includes(row.vm_state) || row.task_state !== null) {
      throw invalidState(
        id,
        'attach_interface',
        row.task_state !== null && okStates.includes(row.vm_state) ? 'task_state' : 'vm_state',
        row.task_state !== null && okStates.includes(row.vm_state) ? row.task_state : row.vm_state,
      );
    }
    let requested: RequestedNetworks;
    if (a.portId) {
      const port = await this.store.db.selectFrom('ports').selectAll().where('id', '=', a.portId).executeTakeFirst();
      if (!port || (!ctx.isAdmin && port.project_id !== ctx.projectId)) throw novaNotFound(`Port id ${a.portId} could not be found.`);
      if (port.device_id) throw novaConflict(`Port ${a.portId} is still in use.`);
      requested = { kind: 'list', items: [{ portId: a.portId, tag: a.tag }] };
    } else if (a.networkId) {
      const net = await this.store.db
        .selectFrom('networks')
        .select(['id', 'project_id', 'shared', 'external'])
        .where('id', '=', a.networkId)
        .executeTakeFirst();
      if (!net || (!ctx.isAdmin && net.project_id !== ctx.projectId && !net.shared && !net.external))
        throw novaNotFound(`Network ${a.networkId} could not be found.`);
      requested = { kind: 'list', items: [{ networkId: a.networkId, fixedIp: a.fixedIp, tag: a.tag }] };
    } else {
      requested = { kind: 'auto' };
    }
    const admin = systemContext(ctx.requestId);
    let portId = '';
    try {
      await this.uow.run(async (w) => {
        const [iface] = await allocatePorts(w, this.network.within(w), {
          serverId: id,
          projectId: row.project_id,
          host: row.host ?? this.hostname,
          requested,
          securityGroupIds: [],
          user: ctx,
          admin,
        });
        if (!iface) throw novaBadRequest(`No specific network was requested and none are available for project '${row.project_id}'.`);
        const max = await w.trx
          .selectFrom('server_interfaces')
          .select(({ fn }) => fn.max<number>('position').as('m'))
          .where('server_id', '=', id)
          .executeTakeFirst();
        await w.trx
          .insertInto('server_interfaces')
          .values({ port_id: iface.portId, server_id: id, position: Number(max?.m ?? -1) + 1, preserve: iface.preserve ? 1 : 0, tag: iface.tag })
          .execute();
        portId = iface.portId;
        w.changed('server', id, row.project_id, 'update');
      });
    } catch (e) {
      if (e instanceof DomainError && e.type === 'BuildAbortException') throw this.attachError(e.message, a.fixedIp);
      throw e;
    }
    return this.interface(ctx, id, portId);
  }

  /** Build-time wording → the attach API's statuses (Nova maps its exceptions the same way). */
  private attachError(msg: string, fixedIp?: string): DomainError {
    if (msg.startsWith('Maximum number of ports')) return novaForbidden(msg);
    if (fixedIp && msg.includes('already in use')) return novaConflict(`Fixed IP address ${fixedIp} is already in use on instance.`);
    if (msg.startsWith('Multiple possible networks')) return novaConflict(msg);
    return novaBadRequest(msg);
  }

  async detachInterface(ctx: RequestContext, id: string, portId: string): Promise<void> {
    const row = await this.row(ctx, id);
    this.checkLocked(ctx, row);
    const okStates: string[] = [VM.ACTIVE, 'paused', VM.STOPPED];
    if (!okStates.includes(row.vm_state) || row.task_state !== null) throw invalidState(id, 'detach_interface', 'vm_state', row.vm_state);
    const admin = systemContext(ctx.requestId);
    await this.uow.run(async (w) => {
      const net = this.network.within(w);
      const port = await w.trx.selectFrom('ports').select(['id', 'device_id']).where('id', '=', portId).executeTakeFirst();
      if (!port || port.device_id !== id) throw novaNotFound(`Port id ${portId} could not be found.`);
      const iface = await w.trx.selectFrom('server_interfaces').select('preserve').where('port_id', '=', portId).executeTakeFirst();
      if (iface?.preserve === 1) {
        await net.update(admin, 'ports', portId, { port: { device_id: '', device_owner: '', 'binding:host_id': null } });
      } else {
        await net.delete(admin, 'ports', portId);
      }
      await w.trx.deleteFrom('server_interfaces').where('port_id', '=', portId).execute();
      w.changed('server', id, row.project_id, 'update');
    });
  }

  // ------------------------------------------------------------ metadata and tags

  async metadata(ctx: RequestContext, id: string): Promise<Record<string, string>> {
    return fromJson((await this.row(ctx, id)).metadata, {});
  }

  /** Replace (PUT) or merge (POST) metadata, or set one key. */
  async setMetadata(ctx: RequestContext, id: string, items: Record<string, string>, replace: boolean): Promise<Record<string, string>> {
    return this.uow.run(async (w) => {
      const { trx } = w;
      const row = await this.row(ctx, id, w);
      this.checkLocked(ctx, row);
      const merged = replace ? { ...items } : { ...fromJson<Record<string, string>>(row.metadata, {}), ...items };
      const limits = await computeQuotaLimits(trx, row.project_id);
      if (limits.metadata_items >= 0 && Object.keys(merged).length > limits.metadata_items) {
        throw novaForbidden(
          `Quota exceeded for metadata_items: Requested ${Object.keys(merged).length}, but already used 0 of ${limits.metadata_items} metadata_items`,
        );
      }
      await trx
        .updateTable('servers')
        .set({ metadata: JSON.stringify(merged), updated_at: now() })
        .where('id', '=', id)
        .execute();
      w.changed('server', id, row.project_id, 'update');
      return merged;
    });
  }

  async deleteMetadata(ctx: RequestContext, id: string, key: string): Promise<void> {
    await this.uow.run(async (w) => {
      const { trx } = w;
      const row = await this.row(ctx, id, w);
      this.checkLocked(ctx, row);
      const md = fromJson<Record<string, string>>(row.metadata, {});
      if (!(key in md)) throw novaNotFound('Metadata item was not found');
      delete md[key];
      await trx
        .updateTable('servers')
        .set({ metadata: JSON.stringify(md), updated_at: now() })
        .where('id', '=', id)
        .execute();
      w.changed('server', id, row.project_id, 'update');
    });
  }

  async tags(ctx: RequestContext, id: string): Promise<string[]> {
    await this.row(ctx, id);
    return (await this.store.db.selectFrom('server_tags').select('tag').where('server_id', '=', id).orderBy('tag').execute()).map((t) => t.tag);
  }

  async setTags(ctx: RequestContext, id: string, tags: string[] | null, add?: string, remove?: string): Promise<string[]> {
    await this.uow.run(async (w) => {
      const { trx } = w;
      const row = await this.row(ctx, id, w);
      if (tags !== null) {
        await trx.deleteFrom('server_tags').where('server_id', '=', id).execute();
        for (const t of new Set(tags)) await trx.insertInto('server_tags').values({ server_id: id, tag: t }).execute();
      }
      if (add !== undefined) {
        const has = await trx.selectFrom('server_tags').select('tag').where('server_id', '=', id).where('tag', '=', add).executeTakeFirst();
        if (!has) {
          const n = await trx
            .selectFrom('server_tags')
            .select(({ fn }) => fn.countAll<number>().as('n'))
            .where('server_id', '=', id)
            .executeTakeFirst();
          if (Number(n?.n ?? 0) >= 50) throw novaBadRequest(`The number of tags exceeded the per-server limit 50`);
          await trx.insertInto('server_tags').values({ server_id: id, tag: add }).execute();
        }
      }
      if (remove !== undefined) {
        const res = await trx.deleteFrom('server_tags').where('server_id', '=', id).where('tag', '=', remove).executeTakeFirst();
        if (Number(res.numDeletedRows) === 0) throw novaNotFound(`Tag ${remove} could not be found.`);
      }
      await trx.updateTable('servers').set({ updated_at: now() }).where('id', '=', row.id).execute();
      w.changed('server', id, row.project_id, 'update');
    });
    return this.tags(ctx, id);
  }

  // ------------------------------------------------------------ external events

  /** os-server-external-events: Neutron's notifications (network-vif-plugged …), admin only. */
  async externalEvents(
    ctx: RequestContext,
    events: Array<{ name: string; server_uuid: string; tag?: string; status?: string }>,
  ): Promise<Array<Record<string, unknown>>> {
    if (!ctx.isAdmin) throw policyDenied('os_compute_api:os-server-external-events:create');
    const ids = [...new Set(events.map((e) => e.server_uuid))];
    const rows = (
      await this.store.db
        .selectFrom('servers')
        .select(['id', 'host', 'project_id'])
        .where('id', 'in', ids.length ? ids : [''])
        .execute()
    ).filter((r) => r.host);
    const found = new Set(rows.map((r) => r.id));
    const out = events.map((e) => {
      const ok = found.has(e.server_uuid);
      return { ...e, status: ok ? 'completed' : 'failed', code: ok ? 200 : 404 };
    });
    // Neutron's word on a server's ports is a report of what runs, as an instance host's is.
    this.uow.announce(rows.map((r) => ({ kind: 'server', id: r.id, projectId: r.project_id, op: 'status' })));
    return out;
  }

  /** Servers a port belongs to that are waiting for it (the manager's work list). */
  async pendingServers(): Promise<ServersTable[]> {
    return this.store.db
      .selectFrom('servers')
      .selectAll()
      .where((eb) =>
        eb.or([eb('vm_state', '=', VM.BUILDING), eb('task_state', 'in', [TASK.POWERING_OFF, TASK.POWERING_ON, TASK.REBOOTING, TASK.REBOOTING_HARD])]),
      )
      .orderBy('internal_id')
      .execute();
  }

  /** Ports of a server that are not ACTIVE yet. */
  async portsDown(id: string): Promise<number> {
    const r = await this.store.db
      .selectFrom('ports')
      .select(({ fn }) => fn.countAll<number>().as('n'))
      .where('device_id', '=', id)
      .where('device_owner', '=', DEVICE_OWNER)
      .where('status', '!=', 'ACTIVE')
      .executeTakeFirst();
    return Number(r?.n ?? 0);
  }
}
