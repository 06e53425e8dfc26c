/**
 * Migration records (nova.objects.Migration): one per resize, cold or live migration and
 * evacuation, with its status as the conductor and compute manager move it along, and the APIs
 * that read them (os-migrations for admins; /servers/{id}/migrations for in-progress live
 * migrations, which never stay in progress here: with one host they fail at once).
 */
import { createHash } from 'node:crypto';
import type { MigrationsTable, ServersTable } from '../../store/schema.js';
import { uuid } from '../../util/ids.js';
import type { RequestContext } from '../context.js';
import type { Work } from '../work.js';
import { type ComputeCore, now } from './core.js';
import { invalidState, novaBadRequest, novaNotFound } from './errors.js';
import { adminOnly } from './policy.js';
import { TASK } from './states.js';

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

  /** force_complete (2.22) and DELETE (abort, 2.24): the server is never migrating long enough. */
  async forceComplete(ctx: RequestContext, serverId: string, _id: string): Promise<void> {
    const row = await this.core.row(ctx, serverId);
    this.core.checkLocked(ctx, row);
    this.core.checkState(row, 'force_complete', { vm: ['active'], task: [TASK.MIGRATING] });
    throw novaBadRequest(`Migration not found for instance ${serverId} with status running.`);
  }

  async abort(ctx: RequestContext, serverId: string, id: string): Promise<void> {
    const row = await this.core.row(ctx, serverId);
    this.core.checkLocked(ctx, row);
    if (row.task_state !== TASK.MIGRATING) throw invalidState(serverId, 'abort live migration', 'task_state', row.task_state);
    throw novaNotFound(`Migration ${id} for instance ${serverId} could not be found.`);
  }
}
