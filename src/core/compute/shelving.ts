/**
 * The actions that make images of a server: createImage and createBackup (a snapshot, uploaded by
 * the manager; backups rotate), and shelve / shelveOffload / unshelve (the server stops, its
 * snapshot `<name>-shelved` is uploaded, it leaves its host at once — Nova's shelved_offload_time
 * 0 — and unshelving schedules it again and boots it from that snapshot, which is then deleted).
 * As in Nova, the image is created before the server's task is set and deleted if the task
 * cannot start.
 */
import type { ServersTable } from '../../store/schema.js';
import type { RequestContext } from '../context.js';
import { type ComputeCore, type StateCheck, now } from './core.js';
import { novaBadRequest, novaConflict, novaForbidden } from './errors.js';
import { ACTION } from './instance-actions.js';
import { adminOnly } from './policy.js';
import { computeQuotaLimits } from './quotas.js';
import type { Snapshots } from './snapshots.js';
import { TASK, VM } from './states.js';
import { startAction, withSystemMetadata } from './tasks.js';
import type { AvailabilityZones } from './zones.js';

const SNAPSHOTTABLE: StateCheck = { vm: [VM.ACTIVE, VM.STOPPED, VM.PAUSED, VM.SUSPENDED] };

export interface UnshelveRequest {
  /** 2.77: present when the request names a zone; null (2.91) unpins the server. */
  availabilityZone?: string | null;
  /** 2.91 (admins). */
  host?: string;
}

export class ServerImages {
  constructor(
    private readonly core: ComputeCore,
    private readonly snapshots: Snapshots,
    private readonly zones: AvailabilityZones,
  ) {}

  /** Before 2.39 the API checked image metadata against the metadata_items quota. */
  private async checkImageMetadata(row: ServersTable, metadata: Record<string, string>, checkQuota: boolean): Promise<void> {
    if (!checkQuota) return;
    const limits = await computeQuotaLimits(this.core.store.db, row.project_id);
    if (limits.metadata_items >= 0 && Object.keys(metadata).length > limits.metadata_items) throw novaForbidden('Image metadata limit exceeded');
  }

  /**
   * Create the image, then start the task; if the task cannot start (the state changed), the
   * image goes (compute API's snapshot()).
   */
  private async withImage(
    ctx: RequestContext,
    row: ServersTable,
    r: { name: string; imageType: 'snapshot' | 'backup'; properties: Record<string, string> },
    start: (imageId: string) => Promise<unknown>,
  ): Promise<string> {
    const image = await this.snapshots.create(ctx, row, r);
    try {
      await start(image.id);
    } catch (e) {
      await this.snapshots.discard(image.id);
      throw e;
    }
    return image.id;
  }

  /** createImage: returns the new image's id. No lock check (Nova's snapshot() has none). */
  async createImage(ctx: RequestContext, id: string, r: { name: string; metadata: Record<string, string>; checkQuota: boolean }): Promise<string> {
    const row = await this.core.row(ctx, id);
    this.core.checkState(row, 'createImage', SNAPSHOTTABLE);
    await this.checkImageMetadata(row, r.metadata, r.checkQuota);
    return this.withImage(ctx, row, { name: r.name, imageType: 'snapshot', properties: r.metadata }, (imageId) =>
      startAction(this.core, ctx, id, {
        action: 'createImage',
        check: SNAPSHOTTABLE,
        lock: false,
        record: { action: ACTION.CREATE_IMAGE, event: 'compute_snapshot_instance' },
        set: (cur) => ({ task_state: TASK.IMAGE_SNAPSHOT_PENDING, system_metadata: withSystemMetadata(cur, { snapshot_image_id: imageId }) }),
      }),
    );
  }

  /** createBackup: a backup image of this type; the newest `rotation` of them are kept. */
  async createBackup(
    ctx: RequestContext,
    id: string,
    r: { name: string; backupType: string; rotation: number; metadata: Record<string, string>; checkQuota: boolean },
  ): Promise<string> {
    const row = await this.core.row(ctx, id);
    this.core.checkState(row, 'createBackup', SNAPSHOTTABLE);
    await this.checkImageMetadata(row, r.metadata, r.checkQuota);
    return this.withImage(ctx, row, { name: r.name, imageType: 'backup', properties: { ...r.metadata, backup_type: r.backupType } }, (imageId) =>
      startAction(this.core, ctx, id, {
        action: 'createBackup',
        check: SNAPSHOTTABLE,
        lock: false,
        record: { action: ACTION.BACKUP, event: 'compute_backup_instance' },
        set: (cur) => ({
          task_state: TASK.IMAGE_BACKUP,
          system_metadata: withSystemMetadata(cur, { snapshot_image_id: imageId, backup_type: r.backupType, backup_rotation: String(r.rotation) }),
        }),
      }),
    );
  }

  async shelve(ctx: RequestContext, id: string): Promise<void> {
    const row = await this.core.row(ctx, id);
    this.core.checkLocked(ctx, row);
    this.core.checkState(row, 'shelve', SNAPSHOTTABLE);
    await this.withImage(ctx, row, { name: `${row.name}-shelved`, imageType: 'snapshot', properties: {} }, (imageId) =>
      startAction(this.core, ctx, id, {
        action: 'shelve',
        check: SNAPSHOTTABLE,
        record: { action: ACTION.SHELVE, event: 'compute_shelve_instance' },
        set: (cur) => ({
          task_state: TASK.SHELVING,
          power_desired: 'stopped',
          system_metadata: withSystemMetadata(cur, { shelved_image_id: imageId, image_base_image_ref: cur.image_id }),
        }),
      }),
    );
  }

  /** shelveOffload (admins): a shelved server leaves its host (offloading is otherwise at once). */
  async shelveOffload(ctx: RequestContext, id: string): Promise<void> {
    const row = await this.core.row(ctx, id);
    adminOnly(ctx, 'os_compute_api:os-shelve:shelve_offload');
    void row;
    await startAction(this.core, ctx, id, {
      action: 'shelveOffload',
      check: { vm: [VM.SHELVED] },
      record: { action: ACTION.SHELVE_OFFLOAD, event: 'compute_shelve_offload_instance' },
      set: () => ({ task_state: TASK.SHELVING_OFFLOADING }),
    });
  }

  async unshelve(ctx: RequestContext, id: string, r: UnshelveRequest): Promise<void> {
    const azPassed = r.availabilityZone !== undefined;
    if (r.host !== undefined) adminOnly(ctx, 'os_compute_api:os-shelve:unshelve_to_host');
    // Read before the transaction (the store has one connection).
    const zones = azPassed && r.availabilityZone ? await this.zones.bootable() : [];
    await startAction(this.core, ctx, id, {
      action: 'unshelve',
      check: { vm: [VM.SHELVED, VM.SHELVED_OFFLOADED] },
      verify: async (row, w) => {
        if ((azPassed || r.host) && row.vm_state !== VM.SHELVED_OFFLOADED) {
          throw novaConflict(
            `Specifying an availability zone or a host when unshelving server "${row.id}" with status "${row.vm_state === VM.SHELVED ? 'SHELVED' : row.vm_state}" is not supported. The server status must be SHELVED_OFFLOADED.`,
          );
        }
        if (azPassed && r.availabilityZone) {
          if (!zones.includes(r.availabilityZone)) throw novaBadRequest('The requested availability zone is not available');
        }
        if (r.host) {
          const svc = await w.trx
            .selectFrom('compute_services')
            .select('host')
            .where('host', '=', r.host)
            .where('binary', '=', 'nova-compute')
            .executeTakeFirst();
          if (!svc) throw novaBadRequest(`Compute host ${r.host} could not be found.`);
        }
      },
      record: { action: ACTION.UNSHELVE, event: 'conductor_unshelve_instance' },
      set: (row) => ({
        task_state: TASK.UNSHELVING,
        pinned_az: azPassed ? (r.availabilityZone ?? null) : row.pinned_az,
        system_metadata: r.host ? withSystemMetadata(row, { requested_host: r.host }) : row.system_metadata,
        updated_at: now(),
      }),
    });
  }
}
