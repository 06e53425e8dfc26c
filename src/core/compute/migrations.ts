/**
 * Migration records (nova.objects.Migration): one per resize, cold or live migration and
 * evacuation, with its status as the conductor and compute manager move it along, and the APIs
 * that read them (os-migrations for admins; /servers/{id}/migrations for live migrations in
 * progress, with force_complete and abort).
 */
import { createHash } from 'node:crypto';
import type { MigrationsTable, ServersTable } from '../../store/schema.js';
import { uuid } from '../../util/ids.js';
import type { RequestContext } from '../context.js';
import type { Work } from '../work.js';
import { type ComputeCore, now } from './core.js';
import type { NetworkOps } from '../network/service.js';
import { systemContext } from '../context.js';
import { invalidState, novaBadRequest, novaNotFound } from './errors.js';
import { ACTION, finishEvent, recordAction } from './instance-actions.js';
import { bindPorts } from './network.js';
import { adminOnly } from './policy.js';
import { TASK } from './states.js';
import type { Fault } from './core.js';

export type MigrationType = 'migration' | 'resize' | 'live-migration' | 'evacuation';

/** Nova's flavors have integer ids (instance_type_id); ours are their flavorids: a stable integer for each. */
export function flavorInternalId(flavorId: string | null): number | null {
  if (flavorId === null) return null;
  if (/^\d{1,9}$/.test(flavorId)) return Number(flavorId);
  return createHash('sha1').update(flavorId).digest().readUInt32BE(0) & 0x7fffffff;
}

/** Record a migration of `row`; returns its id. */
export async function recordMigration(
  w: Work,
  row: ServersTable,
  m: { type: MigrationType; status: string; dest?: string | null; oldFlavorId?: string; newFlavorId?: string },
): Promise<number> {
  const max = await w.trx
    .selectFrom('migrations')
    .select(({ fn }) => fn.max<number>('id').as('m'))
    .executeTakeFirst();
  const id = Number(max?.m ?? 0) + 1;
  const t = now();
  await w.trx
    .insertInto('migrations')
    .values({
      id,
      uuid: uuid(),
      instance_uuid: row.id,
      migration_type: m.type,
      status: m.status,
      source_compute: row.host,
      dest_compute: m.dest ?? null,
      source_node: row.host,
      dest_node: m.dest ?? null,
      dest_host: m.dest ? '127.0.0.1' : null,
      old_flavor_id: m.oldFlavorId ?? row.flavor_id,
      new_flavor_id: m.newFlavorId ?? row.flavor_id,
      project_id: row.project_id,
      user_id: row.user_id,
      created_at: t,
      updated_at: t,
    })
    .execute();
  return id;
}

/** Move the server's newest migration of these types to `status` (and its destination, once known). */
export async function updateMigration(w: Work, serverId: string, types: MigrationType[], status: string, dest?: string): Promise<MigrationsTable | undefined> {
  const m = await w.trx
    .selectFrom('migrations')
    .selectAll()
    .where('instance_uuid', '=', serverId)
    .where('migration_type', 'in', types)
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (!m) return undefined;
  const set: Partial<MigrationsTable> = { status, updated_at: now() };
  if (dest !== undefined) Object.assign(set, { dest_compute: dest, dest_node: dest, dest_host: '127.0.0.1' });
  await w.trx.updateTable('migrations').set(set).where('id', '=', m.id).execute();
  return { ...m, ...set };
}

export interface MigrationQuery {
  host?: string;
  status?: string;
  instanceUuid?: string;
  migrationType?: string;
  sourceCompute?: string;
  userId?: string;
  projectId?: string;
  changesSince?: string;
  changesBefore?: string;
  /** 2.59: newest first, paged by uuid. */
  sorted: boolean;
  limit?: number;
  marker?: string;
}

const LIVE_IN_PROGRESS = ['queued', 'preparing', 'running', 'post-migrating'];

export class Migrations {
  constructor(private readonly core: ComputeCore) {}

  /** GET /os-migrations (admins). */
  async list(ctx: RequestContext, q: MigrationQuery): Promise<MigrationsTable[]> {
    adminOnly(ctx, 'os_compute_api:os-migrations:index');
    let qb = this.core.store.db.selectFrom('migrations').selectAll();
    if (q.host) qb = qb.where((eb) => eb.or([eb('source_compute', '=', q.host!), eb('dest_compute', '=', q.host!)]));
    if (q.status) qb = qb.where('status', '=', q.status);
    if (q.instanceUuid) qb = qb.where('instance_uuid', '=', q.instanceUuid);
    if (q.migrationType) qb = qb.where('migration_type', '=', q.migrationType);
    if (q.sourceCompute) qb = qb.where('source_compute', '=', q.sourceCompute);
    if (q.userId) qb = qb.where('user_id', '=', q.userId);
    if (q.projectId) qb = qb.where('project_id', '=', q.projectId);
    if (q.changesSince) qb = qb.where('updated_at', '>=', q.changesSince);
    if (q.changesBefore) qb = qb.where('updated_at', '<=', q.changesBefore);
    let rows = await qb
      .orderBy('created_at', q.sorted ? 'desc' : 'asc')
      .orderBy('id', q.sorted ? 'desc' : 'asc')
      .execute();
    if (q.marker !== undefined) {
      const at = rows.findIndex((r) => r.uuid === q.marker);
      if (at < 0) throw novaBadRequest(`Marker ${q.marker} could not be found.`);
      rows = rows.slice(at + 1);
    }
    if (q.limit !== undefined) rows = rows.slice(0, q.limit);
    return rows;
  }

  /** GET /servers/{id}/migrations (2.23): the server's live migrations in progress. */
  async inProgress(ctx: RequestContext, serverId: string): Promise<MigrationsTable[]> {
    await this.core.row(ctx, serverId);
    return this.core.store.db
      .selectFrom('migrations')
      .selectAll()
      .where('instance_uuid', '=', serverId)
      .where('migration_type', '=', 'live-migration')
      .where('status', 'in', LIVE_IN_PROGRESS)
      .orderBy('id')
      .execute();
  }

  /** GET /servers/{id}/migrations/{mid}: only a live migration in progress is shown. */
  async show(ctx: RequestContext, serverId: string, id: string): Promise<MigrationsTable> {
    await this.core.row(ctx, serverId);
    const m = /^\d+$/.test(id)
      ? await this.core.store.db.selectFrom('migrations').selectAll().where('id', '=', Number(id)).where('instance_uuid', '=', serverId).executeTakeFirst()
      : undefined;
    if (!m) throw novaNotFound(`In-progress live migration ${id} is not found for server ${serverId}.`);
    if (m.migration_type !== 'live-migration') throw novaNotFound(`Migration ${id} for server ${serverId} is not live-migration.`);
    if (!LIVE_IN_PROGRESS.includes(m.status)) throw novaNotFound(`Live migration ${id} for server ${serverId} is not in progress.`);
    return m;
  }

  /** A live migration of the server by its id (Migration.get_by_id_and_instance). */
  private async liveOf(serverId: string, id: string): Promise<MigrationsTable | undefined> {
    if (!/^\d{1,9}$/.test(id)) return undefined;
    return this.core.store.db.selectFrom('migrations').selectAll().where('id', '=', Number(id)).where('instance_uuid', '=', serverId).executeTakeFirst();
  }

  /**
   * force_complete (2.22): accepted while the live migration is `running`, as Nova does, and
   * recorded (action live_migration_force_complete, event compute_live_migration_force_complete).
   * There is nothing to hurry: libvirt pauses the guest so that its last memory pages converge,
   * and a handover (lifecycle.ts) freezes the machine for its switch anyway, copying nothing.
   */
  async forceComplete(ctx: RequestContext, serverId: string, id: string): Promise<void> {
    const row = await this.core.row(ctx, serverId);
    this.core.checkLocked(ctx, row);
    this.core.checkState(row, 'force_complete', { vm: ['active'], task: [TASK.MIGRATING] });
    const m = await this.liveOf(serverId, id);
    if (!m) throw novaBadRequest(`Migration ${id} not found for instance ${serverId}`);
    if (m.status !== 'running') throw novaBadRequest(invalidMigrationState(id, serverId, m.status, 'force complete'));
    await this.core.uow.run(async (w) => {
      await recordAction(w, ctx, row, ACTION.LIVE_MIGRATION_FORCE_COMPLETE, { name: 'compute_live_migration_force_complete', host: row.host });
      await finishEvent(w, serverId, 'compute_live_migration_force_complete');
    }, ctx);
  }

  /**
   * DELETE (abort, 2.24): a live migration `running` (2.65: also `queued` or `preparing`) is
   * cancelled (live_migration_abort → _rollback_live_migration): the server stays on its source,
   * ACTIVE, its ports no longer migrating, the migration `cancelled`. Once the server is on its
   * destination (the handover committed, or a restart there begun) it is too late, as an abort
   * in libvirt's post-copy phase is: the abort's event ends in Error and the migration goes on.
   */
  async abort(ctx: RequestContext, serverId: string, id: string, inQueue: boolean): Promise<void> {
    const row = await this.core.row(ctx, serverId);
    this.core.checkLocked(ctx, row);
    if (row.task_state !== TASK.MIGRATING) throw invalidState(serverId, 'abort live migration', 'task_state', row.task_state);
    const m = await this.liveOf(serverId, id);
    if (!m) throw novaNotFound(`Migration ${id} not found for instance ${serverId}`);
    const allowed = inQueue ? ['running', 'queued', 'preparing'] : ['running'];
    if (!allowed.includes(m.status)) throw novaBadRequest(invalidMigrationState(id, serverId, m.status, 'abort live migration'));
    await this.core.uow.run(async (w) => {
      await recordAction(w, ctx, row, ACTION.LIVE_MIGRATION_CANCEL, { name: 'compute_live_migration_abort', host: row.host });
      const done = await rollbackLiveMigration(w, this.core.network.within(w), serverId, 'cancelled', null);
      await finishEvent(
        w,
        serverId,
        'compute_live_migration_abort',
        done ? undefined : { message: `Live migration ${id} can no longer be aborted: the instance already runs on ${m.dest_compute ?? 'its destination'}` },
      );
    }, ctx);
  }
}

/** Nova's InvalidMigrationState message. */
function invalidMigrationState(id: string, serverId: string, state: string, method: string): string {
  return `Migration ${id} state of instance ${serverId} is ${state}. Cannot ${method} while the migration is in this state.`;
}

/**
 * _rollback_live_migration: a live migration that did not happen leaves the server on its
 * source, with no task (ACTIVE or PAUSED as it was), its ports bound there and no longer
 * `migrating_to`, the migration `cancelled` (an abort) or `error`, the live migration's event
 * finished (in Error with `message`). Only while the server is still on its source and the
 * migration has not switched it: false otherwise.
 */
export async function rollbackLiveMigration(
  w: Work,
  net: NetworkOps,
  serverId: string,
  status: 'cancelled' | 'error',
  message: string | null,
): Promise<boolean> {
  const cur = await w.trx.selectFrom('servers').selectAll().where('id', '=', serverId).executeTakeFirst();
  const m = await w.trx
    .selectFrom('migrations')
    .selectAll()
    .where('instance_uuid', '=', serverId)
    .where('migration_type', '=', 'live-migration')
    .orderBy('id', 'desc')
    .executeTakeFirst();
  if (!cur || !m || cur.task_state !== TASK.MIGRATING || cur.host !== m.source_compute || !['queued', 'preparing', 'running'].includes(m.status)) return false;
  await bindPorts(w, net, serverId, cur.host, systemContext(`req-live-migration-rollback-${serverId}`));
  const set: Partial<ServersTable> = { task_state: null, updated_at: now() };
  if (message) {
    const fault: Fault = { code: 500, message, details: message, created: now().replace(/\.\d+Z$/, 'Z') };
    set.fault = JSON.stringify(fault);
  }
  await w.trx.updateTable('servers').set(set).where('id', '=', serverId).execute();
  await updateMigration(w, serverId, ['live-migration'], status);
  await finishEvent(w, serverId, 'compute_live_migration', message ? { message } : undefined);
  w.changed('server', serverId, cur.project_id, 'update');
  return true;
}
