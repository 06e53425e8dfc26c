import { type InstanceReports, readHandovers, readInstanceSpecs } from '../../core/compute/host.js';
import type { BootFiles, GuestMetadata } from '../../core/compute/guest/service.js';
import { fileURLToPath } from 'node:url';
import type { NetworkService } from '../../core/network/service.js';
import type { Agents } from '../../core/network/agents.js';
import type { ChangeBus } from '../../core/work.js';
import type { DhcpAgent } from './dhcp/agent.js';
import type { MetadataHandler } from './metadata/proxies.js';
import type { ImageRef, Snapshot } from './model.js';
import { loadSnapshot } from './snapshot.js';

/** Resources whose status the data plane decides. */
export type StatusKind = 'port' | 'router' | 'floatingip' | 'trunk';

/**
 * The control plane as the netns driver sees it: one consistent read of the desired state, the
 * status writes that report what the kernel did, the change bus that says when to look again,
 * and compute when this data plane runs its servers.
 */
export interface ControlPlane {
  snapshot(): Promise<Snapshot>;
  setStatus(kind: StatusKind, id: string, status: string): Promise<void>;
  /** Bind a trunk's subport to its parent's host as `trunk:subport` (host '': unbind it). */
  bindSubport(portId: string, host: string): Promise<void>;
  readonly changes: ChangeBus;
  /** Where what each instance really does is reported (null: this data plane runs no servers). */
  readonly instances: InstanceReports | null;
  /** What a server is shown at boot (network_data.json, its config drive); null without compute. */
  bootFiles(serverId: string, configDrive: boolean): Promise<BootFiles | null>;
  /** This host's DHCP ports in line with the subnets' enable_dhcp (Neutron's DHCP agent); true when it changed some. */
  syncDhcpPorts(): Promise<boolean>;
  /**
   * The HA routers' states keepalived decided on this host (the L3 agent's
   * update_ha_routers_states); absent where no keepalived runs.
   */
  reportHaStates?(states: ReadonlyMap<string, 'active' | 'standby'>): Promise<void>;
}

/** Compute's side of a data plane that runs servers as machines. */
export interface MachineSource {
  reports: InstanceReports;
  guest: GuestMetadata;
  /** Nova's metadata API, answering what the metadata proxies receive. */
  metadata: MetadataHandler;
}

/** The store, through the network service (and compute's servers when `machines` is given). */
export function storeControlPlane(
  network: NetworkService,
  machines: MachineSource | null,
  dhcp: DhcpAgent | null = null,
  l3: { agents: Agents; host: string } | null = null,
): ControlPlane {
  return {
    ...(l3
      ? {
          async reportHaStates(states: ReadonlyMap<string, 'active' | 'standby'>) {
            await l3.agents.updateHaStates(l3.host, states);
          },
        }
      : {}),
    async syncDhcpPorts() {
      return dhcp ? dhcp.sync() : false;
    },
    changes: network.uow.changes,
    instances: machines?.reports ?? null,
    async snapshot() {
      const snap = await loadSnapshot(network.store);
      if (machines) {
        const specs = await readInstanceSpecs(network.store.db);
        snap.handovers = await readHandovers(network.store.db);
        const images = await imageRefs(network, [...new Set(specs.flatMap((s) => (s.rescueImageId ? [s.imageId, s.rescueImageId] : [s.imageId])))]);
        snap.instances = specs.map((i) => ({
          id: i.id,
          host: i.host,
          power: i.power,
          bootGeneration: i.rebootSeq,
          nics: i.ports.map((p) => p.id),
          machine: {
            hostname: i.hostname,
            image: images.get(i.imageId) ?? null,
            flavor: { name: i.flavor.name, vcpus: i.flavor.vcpus, ramMb: i.flavor.ram, diskGb: i.flavor.disk },
            rootGeneration: i.rebuildSeq,
            configDrive: i.configDrive,
            rescue: i.rescueImageId ? { image: images.get(i.rescueImageId) ?? null } : null,
            files: i.personality.map((f) => ({ path: f.path, contents: f.contents.toString('base64') })),
          },
        }));
      }
      return snap;
    },
    async setStatus(kind, id, status) {
      await network.setStatus(kind, id, status);
    },
    async bindSubport(portId, host) {
      await network.bindSubport(portId, host);
    },
    async bootFiles(serverId, configDrive) {
      return machines ? machines.guest.bootFiles(serverId, configDrive) : null;
    },
  };
}

/**
 * The images machines boot, with their data file: the first of each image's locations in a file
 * store (Glance's multiple stores; an image only in the http store has no file here and is
 * refused as having no data).
 */
async function imageRefs(network: NetworkService, ids: string[]): Promise<Map<string, ImageRef>> {
  if (!ids.length) return new Map();
  const db = network.store.db;
  const rows = await db.selectFrom('images').select(['id', 'checksum', 'disk_format', 'container_format']).where('id', 'in', ids).execute();
  const locs = await db
    .selectFrom('image_locations')
    .select(['image_id', 'url'])
    .where('image_id', 'in', ids)
    .orderBy('image_id')
    .orderBy('position')
    .execute();
  const path = new Map<string, string>();
  for (const l of locs) {
    if (path.has(l.image_id) || !l.url.startsWith('file:')) continue;
    try {
      path.set(l.image_id, fileURLToPath(l.url));
    } catch {
      // not a path on this host
    }
  }
  return new Map(
    rows.map((r) => {
      const file = path.get(r.id);
      return [r.id, { id: r.id, checksum: file ? r.checksum : null, diskFormat: r.disk_format, containerFormat: r.container_format, path: file ?? '' }];
    }),
  );
}
