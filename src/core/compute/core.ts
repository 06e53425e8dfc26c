/**
 * What every part of the compute service shares: its dependencies, the server rows a caller may
 * see, and how a row reads back as a Server (addresses, security groups, tags, fault).
 */
import type { SchedulerOptions } from './scheduler.js';
import type { Store } from '../../store/db.js';
import { fromJson } from '../../store/db.js';
import type { ServersTable } from '../../store/schema.js';
import type { RequestContext } from '../context.js';
import type { ImageService } from '../image/service.js';
import type { NetworkService } from '../network/service.js';
import type { UnitOfWork, Work } from '../work.js';
import { instanceNotFound, invalidState, novaConflict } from './errors.js';
import type { Flavor } from './flavors.js';
import type { InstanceHost } from './host.js';
import { type Address, type RequestedNetworks, type ServerPort, serverAddresses, serverPorts, serverSecurityGroups } from './network.js';
import { DEFAULT_AZ, hostZones } from './aggregates.js';
import type { MachineHome } from './nodes.js';
import { serviceIsUp } from './services.js';
import { VM, statusOf } from './states.js';

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
  /** What this host's compute node reports, where not this machine's own (nodes.ts). */
  hostCapacity?: { vcpus?: number; memoryMb?: number; diskGb?: number };
  /**
   * This host runs instances (serve's local agent): it is a nova-compute host. An API-only server
   * (`--no-local-agent`) runs only nova-conductor and nova-scheduler, as a controller does.
   */
  computeHost?: boolean;
  /** max_attempts, build_failure_weight_multiplier, consecutive_build_service_disable_threshold (scheduler.ts). */
  scheduler?: SchedulerOptions;
  /** Where this host's instance host keeps machines and on which kernel (null: it runs none). */
  machineHome?: MachineHome | null;
}

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
  /** The server groups it belongs to (at most one). */
  serverGroups: string[];
  /** Its availability zone: its host's (aggregates define it), or what it was given before it had one. */
  zone: string;
  /** get_instance_host_status: UP, DOWN, MAINTENANCE (service disabled), UNKNOWN, or '' without a host. */
  hostStatus: string;
  /** Nova's instance system metadata (locked_reason …). */
  systemMetadata: Record<string, string>;
  trustedCerts: string[] | null;
}

/**
 * check_instance_state: the vm_states an action is allowed in (null: any), the task_states
 * (null: any; default: none running) and whether the instance must have been launched once.
 */
export interface StateCheck {
  vm: readonly string[] | null;
  task?: ReadonlyArray<string | null> | null;
  launched?: boolean;
}

/** What the build keeps from the create request until the ports exist (servers.requested_networks). */
export interface BuildRequest {
  networks: RequestedNetworks;
  securityGroupIds: string[];
  user: { id: string; name: string; roles: string[] };
}

export { now } from './clock.js';

export class ComputeCore {
  /** What runs the servers on this machine and can be asked for snapshots and consoles (null: none). */
  instanceHost: InstanceHost | null = null;
  /**
   * Instance hosts report what their instances do (InstanceReports), so builds and actions wait
   * for those reports: `opts.instanceHost`, or a host attached as reporting.
   */
  hostsReport = false;

  constructor(
    readonly uow: UnitOfWork,
    readonly network: NetworkService,
    readonly images: ImageService,
    readonly opts: ComputeOptions,
  ) {}

  get store(): Store {
    return this.uow.store;
  }

  get hostname(): string {
    return this.opts.hostname;
  }

  /** Servers the caller lists: its project's, or (admins asking for all tenants) everyone's. */
  visible(ctx: RequestContext, allTenants = false) {
    let qb = this.store.db.selectFrom('servers').selectAll();
    if (!(ctx.isAdmin && allTenants)) qb = qb.where('project_id', '=', ctx.projectId ?? '');
    return qb;
  }

  /** A server the caller may see (its project's; admins also others' by id) or 404; locked for update inside `w`. */
  async row(ctx: RequestContext, id: string, w?: Work): Promise<ServersTable> {
    let qb = (w?.trx ?? this.store.db).selectFrom('servers').selectAll().where('id', '=', id);
    if (!ctx.isAdmin) qb = qb.where('project_id', '=', ctx.projectId ?? '');
    const row = await (w ? w.forUpdate(qb) : qb).executeTakeFirst();
    if (!row) throw instanceNotFound(id);
    return row;
  }

  /** Nova's check_instance_lock: a locked server refuses changes from anyone but admins. */
  checkLocked(ctx: RequestContext, row: ServersTable): void {
    if (row.locked_by && !ctx.isAdmin) throw novaConflict(`Instance ${row.id} is locked`);
  }

  /** Nova's check_instance_state, worded for `action` as the API words InstanceInvalidState. */
  checkState(row: ServersTable, action: string, check: StateCheck): void {
    if (check.vm !== null && !check.vm.includes(row.vm_state)) throw invalidState(row.id, action, 'vm_state', row.vm_state);
    const tasks = check.task === undefined ? [null] : check.task;
    if (tasks !== null && !tasks.includes(row.task_state)) throw invalidState(row.id, action, 'task_state', row.task_state);
    if ((check.launched ?? true) && !row.launched_at) throw invalidState(row.id, action, 'launched_at', null);
  }

  /** Rows → servers with addresses, security groups, tags and faults. */
  async expand(rows: ServersTable[]): Promise<Server[]> {
    if (!rows.length) return [];
    const ids = rows.map((r) => r.id);
    const ports = await serverPorts(this.store.db, ids);
    const addresses = await serverAddresses(this.store, ports);
    const groups = await serverSecurityGroups(this.store.db, ports);
    const tags = await this.store.db.selectFrom('server_tags').select(['server_id', 'tag']).where('server_id', 'in', ids).orderBy('tag').execute();
    const memberships = await this.store.db.selectFrom('server_group_members').select(['server_id', 'group_id']).where('server_id', 'in', ids).execute();
    const hosts = [...new Set(rows.map((r) => r.host).filter((h): h is string => h !== null))];
    const zones = hosts.length ? await hostZones(this.store.db) : new Map<string, string>();
    const services = hosts.length
      ? await this.store.db.selectFrom('compute_services').selectAll().where('binary', '=', 'nova-compute').where('host', 'in', hosts).execute()
      : [];
    const hostStatus = (host: string | null): string => {
      if (!host) return '';
      const svc = services.find((x) => x.host === host);
      if (!svc) return 'UNKNOWN';
      if (!serviceIsUp(svc)) return 'DOWN';
      return svc.disabled ? 'MAINTENANCE' : 'UP';
    };
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
        serverGroups: memberships.filter((g) => g.server_id === row.id).map((g) => g.group_id),
        zone: row.host ? (zones.get(row.host) ?? DEFAULT_AZ) : (row.availability_zone ?? ''),
        hostStatus: hostStatus(row.host),
        systemMetadata: fromJson<Record<string, string>>(row.system_metadata, {}),
        trustedCerts: fromJson<string[] | null>(row.trusted_certs, null),
      };
    });
  }

  /** One server as its views show it. */
  async get(ctx: RequestContext, id: string): Promise<Server> {
    const [s] = await this.expand([await this.row(ctx, id)]);
    return s;
  }
}
