import type { ImageService } from '../image/service.js';
import type { NetworkService } from '../network/service.js';
import type { UnitOfWork } from '../work.js';
import { ServerActions } from './actions.js';
import { RemoteConsoles } from './consoles.js';
import { Aggregates } from './aggregates.js';
import { type ComputeOptions, ComputeCore } from './core.js';
import { ServerDiagnostics } from './diagnostics.js';
import { ExternalEvents } from './events.js';
import { Flavors } from './flavors.js';
import type { InstanceHost, InstanceReport, InstanceReports } from './host.js';
import { OsHosts } from './hosts.js';
import { Hypervisors } from './hypervisors.js';
import { InstanceActions } from './instance-actions.js';
import { Interfaces } from './interfaces.js';
import { Keypairs } from './keypairs.js';
import { ServerLifecycle } from './lifecycle.js';
import { ServerMetadata } from './metadata.js';
import { Migrations } from './migrations.js';
import { machineCapacity, reportComputeNode } from './nodes.js';
import { ComputeProxies } from './proxies.js';
import { ComputeQuotas } from './quotas.js';
import { Rebuilds } from './rebuild.js';
import { Resizes } from './resize.js';
import { ServerGroups } from './servergroups.js';
import { ServerPasswords } from './serverpassword.js';
import { Servers } from './servers.js';
import { ComputeServices } from './services.js';
import { ServerImages } from './shelving.js';
import { Snapshots } from './snapshots.js';
import { ServerTags } from './tags.js';
import { InstanceUsageAuditLog, TenantUsage } from './usage.js';
import { AvailabilityZones } from './zones.js';

/**
 * Nova's compute API without HTTP, one member per resource (`compute.servers`, `compute.flavors`,
 * `compute.actions` …), each a small class over the shared ComputeCore: the edge's route file for
 * a resource talks to one member, and policy is checked there. Writes record desired state and
 * return; the ComputeManager drives `lifecycle` (builds, state changes), the instance host (if
 * any) runs the servers and reports here.
 */
export class ComputeService implements InstanceReports {
  readonly flavors: Flavors;
  readonly keypairs: Keypairs;
  readonly quotas: ComputeQuotas;
  readonly servers: Servers;
  readonly actions: ServerActions;
  readonly rebuilds: Rebuilds;
  readonly resizes: Resizes;
  readonly images: ServerImages;
  readonly interfaces: Interfaces;
  readonly metadata: ServerMetadata;
  readonly tags: ServerTags;
  readonly events: ExternalEvents;
  readonly zones: AvailabilityZones;
  readonly hypervisors: Hypervisors;
  readonly consoles: RemoteConsoles;
  readonly services: ComputeServices;
  readonly aggregates: Aggregates;
  readonly groups: ServerGroups;
  readonly instanceActions: InstanceActions;
  readonly migrations: Migrations;
  readonly usage: TenantUsage;
  readonly auditLog: InstanceUsageAuditLog;
  readonly passwords: ServerPasswords;
  readonly hosts: OsHosts;
  readonly diagnostics: ServerDiagnostics;
  /** The APIs below 2.36 that proxy to the image and network services. */
  readonly proxies: ComputeProxies;
  /** What the ComputeManager calls. */
  readonly lifecycle: ServerLifecycle;
  /** Host name servers are scheduled to (binding:host_id of their ports). */
  readonly hostname: string;
  private readonly core: ComputeCore;

  constructor(uow: UnitOfWork, network: NetworkService, images: ImageService, opts: ComputeOptions) {
    const core = new ComputeCore(uow, network, images, opts);
    this.core = core;
    const snapshots = new Snapshots(images, () => core.instanceHost);
    this.services = new ComputeServices(uow, opts.hostname);
    this.flavors = new Flavors(uow);
    this.keypairs = new Keypairs(uow);
    this.quotas = new ComputeQuotas(uow);
    this.groups = new ServerGroups(uow);
    this.zones = new AvailabilityZones(uow, this.services);
    this.servers = new Servers(core, { flavors: this.flavors, groups: this.groups, zones: this.zones, snapshots });
    this.actions = new ServerActions(core, this.servers);
    this.rebuilds = new Rebuilds(core);
    this.resizes = new Resizes(core, this.flavors);
    this.images = new ServerImages(core, snapshots, this.zones);
    this.interfaces = new Interfaces(core);
    this.metadata = new ServerMetadata(core);
    this.tags = new ServerTags(core);
    this.events = new ExternalEvents(uow);
    this.hypervisors = new Hypervisors(uow.store, this.services);
    this.aggregates = new Aggregates(uow, (ctx, id) => images.show(ctx, id));
    this.instanceActions = new InstanceActions(core);
    this.migrations = new Migrations(core);
    this.usage = new TenantUsage(uow);
    this.auditLog = new InstanceUsageAuditLog(uow);
    this.passwords = new ServerPasswords(core);
    this.hosts = new OsHosts(uow, this.services);
    this.diagnostics = new ServerDiagnostics(core);
    this.proxies = new ComputeProxies(core);
    this.lifecycle = new ServerLifecycle(core, snapshots);
    this.consoles = new RemoteConsoles(core);
    this.hostname = opts.hostname;
  }

  /**
   * The instance host of this machine (the netns data plane), for snapshots and consoles. With
   * `reports`, it also reports what its instances do (reportInstance), as the netns data plane
   * does when ComputeOptions.instanceHost is set: builds and actions then wait for its reports.
   */
  attachHost(host: InstanceHost, o: { reports?: boolean } = {}): void {
    this.core.instanceHost = host;
    if (o.reports) this.core.hostsReport = true;
  }

  /**
   * At start: this host's services register (and report), as nova-compute and friends do, and its
   * compute node reports this machine's capacity — unless it runs no instances (API only).
   */
  async start(): Promise<void> {
    if (this.core.opts.computeHost === false) {
      await this.services.register(['nova-conductor', 'nova-scheduler']);
      return;
    }
    await this.services.register();
    await this.core.uow.run(({ trx }) =>
      reportComputeNode(trx, this.hostname, machineCapacity(this.core.opts.dataDir, this.core.opts.hostCapacity), this.core.opts.machineHome ?? null),
    );
  }

  /** An instance host's report (InstanceReports, the data plane's seam). */
  reportInstance(id: string, r: InstanceReport): Promise<void> {
    return this.lifecycle.reportInstance(id, r);
  }

  /** The source of a live migration handed the machine over (InstanceReports). */
  handedOver(id: string, migration: string): Promise<boolean> {
    return this.lifecycle.handedOver(id, migration);
  }
}
