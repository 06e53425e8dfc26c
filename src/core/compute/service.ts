import type { ImageService } from '../image/service.js';
import type { NetworkService } from '../network/service.js';
import type { UnitOfWork } from '../work.js';
import { ServerActions } from './actions.js';
import { RemoteConsoles } from './consoles.js';
import { type ComputeOptions, ComputeCore } from './core.js';
import { ExternalEvents } from './events.js';
import { Flavors } from './flavors.js';
import type { InstanceHost, InstanceReport, InstanceReports } from './host.js';
import { Hypervisors } from './hypervisors.js';
import { Interfaces } from './interfaces.js';
import { Keypairs } from './keypairs.js';
import { ServerLifecycle } from './lifecycle.js';
import { ServerMetadata } from './metadata.js';
import { ComputeQuotas } from './quotas.js';
import { Servers } from './servers.js';
import { ServerTags } from './tags.js';
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
  readonly interfaces: Interfaces;
  readonly metadata: ServerMetadata;
  readonly tags: ServerTags;
  readonly events: ExternalEvents;
  readonly zones: AvailabilityZones;
  readonly hypervisors: Hypervisors;
  readonly consoles: RemoteConsoles;
  /** What the ComputeManager calls. */
  readonly lifecycle: ServerLifecycle;
  /** Host name servers are scheduled to (binding:host_id of their ports). */
  readonly hostname: string;
  private readonly core: ComputeCore;

  constructor(uow: UnitOfWork, network: NetworkService, images: ImageService, opts: ComputeOptions) {
    const core = new ComputeCore(uow, network, images, opts);
    this.core = core;
    this.flavors = new Flavors(uow);
    this.keypairs = new Keypairs(uow);
    this.quotas = new ComputeQuotas(uow);
    this.servers = new Servers(core, this.flavors);
    this.actions = new ServerActions(core, this.servers);
    this.interfaces = new Interfaces(core);
    this.metadata = new ServerMetadata(core);
    this.tags = new ServerTags(core);
    this.events = new ExternalEvents(uow);
    this.zones = new AvailabilityZones(opts.hostname);
    this.hypervisors = new Hypervisors(uow.store, opts.hostname);
    this.lifecycle = new ServerLifecycle(core);
    this.consoles = new RemoteConsoles(core);
    this.hostname = opts.hostname;
  }

  /** The instance host of this machine (the netns data plane), for snapshots and consoles. */
  attachHost(host: InstanceHost): void {
    this.core.instanceHost = host;
  }

  /** An instance host's report (InstanceReports, the data plane's seam). */
  reportInstance(id: string, r: InstanceReport): Promise<void> {
    return this.lifecycle.reportInstance(id, r);
  }
}
