import { type InstanceReports, readInstanceSpecs } from '../../core/compute/host.js';
import type { NetworkService } from '../../core/network/service.js';
import type { ChangeBus } from '../../core/work.js';
import type { Snapshot } from './model.js';
import { loadSnapshot } from './snapshot.js';

/** Resources whose status the data plane decides. */
export type StatusKind = 'port' | 'router' | 'floatingip';

/**
 * The control plane as the netns driver sees it: one consistent read of the desired state, the
 * status writes that report what the kernel did, the change bus that says when to look again,
 * and compute when this data plane runs its servers.
 */
export interface ControlPlane {
  snapshot(): Promise<Snapshot>;
  setStatus(kind: StatusKind, id: string, status: string): Promise<void>;
  readonly changes: ChangeBus;
  /** Where what each instance really does is reported (null: this data plane runs no servers). */
  readonly instances: InstanceReports | null;
}

/** The store, through the network service (and compute's servers when `instances` is given). */
export function storeControlPlane(network: NetworkService, instances: InstanceReports | null): ControlPlane {
  return {
    changes: network.uow.changes,
    instances,
    async snapshot() {
      const snap = await loadSnapshot(network.store);
      if (instances) {
        snap.instances = (await readInstanceSpecs(network.store.db)).map((i) => ({
          id: i.id,
          running: i.power !== 'stopped',
          frozen: i.power === 'paused' || i.power === 'suspended' ? i.power : null,
          rescue: i.rescue,
          userData: i.userData ? i.userData.toString('utf8') : null,
          files: i.personality.map((f) => ({ path: f.path, contents: f.contents.toString('base64') })),
          bootGeneration: i.rebootSeq,
          nics: i.ports.map((p) => p.id),
        }));
      }
      return snap;
    },
    async setStatus(kind, id, status) {
      await network.setStatus(kind, id, status);
    },
  };
}
