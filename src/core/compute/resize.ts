/**
 * resize, confirmResize, revertResize and migrate (compute API's resize/confirm_resize/
 * revert_resize): a resize may stay on this host (allow_resize_to_same_host, as DevStack sets
 * it), so it goes through VERIFY_RESIZE here as on any Nova; a cold migration must leave its host
 * and, with one host, ends as Nova's conductor ends it (NoValidHost, the server where it was).
 * Quotas follow the flavor: an upsize is checked when asked for, and a resized server holds the
 * larger of its two flavors until it is confirmed or reverted.
 */
import type { ServersTable } from '../../store/schema.js';
import type { RequestContext } from '../context.js';
import { type BootFlavor, type ComputeCore, now } from './core.js';
import { novaBadRequest, novaConflict, novaForbidden, novaNotFound } from './errors.js';
import type { Flavors } from './flavors.js';
import { ACTION, finishEvent, recordAction } from './instance-actions.js';
import { updateMigration } from './migrations.js';
import { adminOnly } from './policy.js';
import { computeQuotaLimits, computeQuotaUsage } from './quotas.js';
import { serviceIsUp } from './services.js';
import { TASK, VM } from './states.js';
import { startAction, withSystemMetadata } from './tasks.js';
import type { Work } from '../work.js';

const bootFlavorOf = (f: Awaited<ReturnType<Flavors['get']>>): BootFlavor => ({
  id: f.id,
  name: f.name,
  ram: f.ram,
  vcpus: f.vcpus,
  disk: f.disk,
  ephemeral: f.ephemeral,
  swap: f.swap,
  extra_specs: f.extraSpecs,
});

export class Resizes {
  constructor(
    private readonly core: ComputeCore,
    private readonly flavors: Flavors,
  ) {}

  /** check_instance_host(check_is_up=True). */
  private async hostUp(w: Work, row: ServersTable): Promise<void> {
    if (!row.host) throw novaConflict(`Instance ${row.id} is not ready`);
    const svc = await w.trx.selectFrom('compute_services').selectAll().where('host', '=', row.host).where('binary', '=', 'nova-compute').executeTakeFirst();
    if (!svc || !serviceIsUp(svc)) throw novaConflict('Service is unavailable at this time.');
  }

  /** _check_quota_for_upsize: the cores and RAM an upsize adds must fit (403 TooManyInstances). */
  private async checkUpsize(w: Work, row: ServersTable, from: BootFlavor, to: BootFlavor): Promise<void> {
    const deltas: Record<string, number> = {};
    if (to.vcpus > from.vcpus) deltas.cores = to.vcpus - from.vcpus;
    if (to.ram > from.ram) deltas.ram = to.ram - from.ram;
    if (!Object.keys(deltas).length) return;
    const limits = await computeQuotaLimits(w.trx, row.project_id);
    const usage = await computeQuotaUsage(w.trx, row.project_id);
    const overs = Object.keys(deltas)
      .filter((k) => limits[k] >= 0 && usage[k] + deltas[k] > limits[k])
      .sort();
    if (!overs.length) return;
    const names = overs.join(', ');
    throw novaForbidden(
      `Quota exceeded for ${names}: Requested ${overs.map((k) => deltas[k]).join(', ')}, but already used ${overs.map((k) => usage[k]).join(', ')} of ${overs.map((k) => limits[k]).join(', ')} ${names}`,
    );
  }

  async resize(ctx: RequestContext, id: string, r: { flavorRef: string; autoDiskConfig?: boolean }): Promise<void> {
    const flavorId = r.flavorRef.split('/').pop()!;
    // Read before the transaction (the store has one connection), refused in it after the state checks.
    const found = await this.flavors.get(ctx, flavorId).catch(() => null);
    const row0 = await this.core.row(ctx, id);
    const image = await this.core.images.forBoot(ctx, row0.image_id);
    await startAction(this.core, ctx, id, {
      action: 'resize',
      check: { vm: [VM.ACTIVE, VM.STOPPED] },
      record: { action: ACTION.RESIZE, event: 'conductor_migrate_server' },
      verify: async (row, w) => {
        await this.hostUp(w, row);
      },
      set: async (row, w) => {
        const current = JSON.parse(row.flavor) as BootFlavor;
        if (!found || (found.disabled && found.id !== current.id)) throw novaBadRequest(`Flavor ${flavorId} could not be found.`);
        const target = bootFlavorOf(found);
        if (target.disk === 0 && current.disk !== 0) {
          throw novaBadRequest('Server disk was unable to be resized because: Resize to zero disk flavor is not allowed.');
        }
        if (target.id === current.id) throw novaBadRequest('When resizing, instances must change flavor!');
        await this.checkUpsize(w, row, current, target);
        if (image && image.min_ram > target.ram) throw novaBadRequest("Flavor's memory is too small for requested image.");
        if (image && target.disk > 0 && image.min_disk > target.disk) {
          throw novaBadRequest(
            `Flavor's disk is smaller than the minimum size specified in image metadata. Flavor disk is ${target.disk * 1024 ** 3} bytes, minimum size is ${image.min_disk * 1024 ** 3} bytes.`,
          );
        }
        return {
          task_state: TASK.RESIZE_PREP,
          progress: 0,
          auto_disk_config: r.autoDiskConfig ? 1 : 0,
          new_flavor: JSON.stringify(target),
          system_metadata: withSystemMetadata(row, { old_vm_state: row.vm_state, image_base_image_ref: row.image_id }),
        };
      },
    });
  }

  /** migrate (admins; 2.56 with a host): a cold migration to another host. */
  async migrate(ctx: RequestContext, id: string, host: string | null): Promise<void> {
    const row0 = await this.core.row(ctx, id);
    adminOnly(ctx, `os_compute_api:os-migrate-server:migrate${host ? ':host' : ''}`);
    if (host !== null) {
      const svc = await this.core.store.db
        .selectFrom('compute_services')
        .select('host')
        .where('host', '=', host)
        .where('binary', '=', 'nova-compute')
        .executeTakeFirst();
      if (!svc) throw novaBadRequest(`Compute host ${host} could not be found.`);
      if (host === row0.host) throw novaBadRequest('Cannot migrate to the host where the server exists.');
    }
    await startAction(this.core, ctx, id, {
      action: 'migrate',
      check: { vm: [VM.ACTIVE, VM.STOPPED] },
      record: { action: ACTION.MIGRATE, event: 'conductor_migrate_server' },
      verify: async (row, w) => {
        await this.hostUp(w, row);
      },
      set: (row) => ({
        task_state: TASK.RESIZE_PREP,
        progress: 0,
        new_flavor: null,
        system_metadata: withSystemMetadata(row, { old_vm_state: row.vm_state, migrate_host: host }),
      }),
    });
  }

  /** The finished migration a confirm or revert acts on (MigrationNotFoundByStatus → 400). */
  private async finished(w: Work, id: string): Promise<void> {
    const m = await w.trx
      .selectFrom('migrations')
      .select('status')
      .where('instance_uuid', '=', id)
      .where('migration_type', 'in', ['resize', 'migration'])
      .orderBy('id', 'desc')
      .executeTakeFirst();
    if (m?.status !== 'finished') throw novaBadRequest('Instance has not been resized.');
  }

  /** confirmResize (204): the old flavor is let go and the server returns to its state before the resize. */
  async confirm(ctx: RequestContext, id: string): Promise<void> {
    await this.core.uow.run(async (w) => {
      const row = await this.core.row(ctx, id, w);
      this.core.checkLocked(ctx, row);
      this.core.checkState(row, 'confirmResize', { vm: [VM.RESIZED] });
      await this.finished(w, id);
      await recordAction(w, ctx, row, ACTION.CONFIRM_RESIZE, { name: 'compute_confirm_resize', host: row.host });
      const sys = JSON.parse(row.system_metadata) as Record<string, string>;
      const stopped = sys.old_vm_state === VM.STOPPED;
      await w.trx
        .updateTable('servers')
        .set({
          vm_state: stopped ? VM.STOPPED : VM.ACTIVE,
          task_state: null,
          old_flavor: null,
          new_flavor: null,
          system_metadata: withSystemMetadata(row, { old_vm_state: null }),
          updated_at: now(),
        })
        .where('id', '=', id)
        .execute();
      await updateMigration(w, id, ['resize', 'migration'], 'confirmed');
      await finishEvent(w, id, 'compute_confirm_resize');
      w.changed('server', id, row.project_id, 'update');
    }, ctx);
  }

  /** revertResize (202): back to the old flavor (the manager restarts the instance on it). */
  async revert(ctx: RequestContext, id: string): Promise<void> {
    await startAction(this.core, ctx, id, {
      action: 'revertResize',
      check: { vm: [VM.RESIZED] },
      record: { action: ACTION.REVERT_RESIZE, event: 'compute_finish_revert_resize' },
      verify: async (_row, w) => {
        await this.finished(w, id);
        await updateMigration(w, id, ['resize', 'migration'], 'reverting');
      },
      set: () => ({ task_state: TASK.RESIZE_REVERTING }),
    });
  }

  /** GET …/migrations/{id} of a server that is not moving: kept for the routes' 404 wording. */
  notMoving(id: string, serverId: string): never {
    throw novaNotFound(`Migration ${id} for instance ${serverId} could not be found.`);
  }
}
