/**
 * os-instance-actions: every action taken on a server (nova/compute/instance_actions.py names),
 * recorded in the transaction that asks for it, with the events the conductor and compute manager
 * report as they carry it out (`compute_pause_instance` … with `Success` or `Error` and, for
 * admins, the traceback), as Nova's InstanceActionAPI and EventReporter keep them.
 */
import type { InstanceActionEventsTable, InstanceActionsTable } from '../../store/schema.js';
import type { RequestContext } from '../context.js';
import type { Work } from '../work.js';
import { type ComputeCore, now } from './core.js';
import { novaBadRequest, novaNotFound } from './errors.js';

/** Nova's instance_actions constants (what `action` says). */
export const ACTION = {
  CREATE: 'create',
  DELETE: 'delete',
  EVACUATE: 'evacuate',
  RESTORE: 'restore',
  STOP: 'stop',
  START: 'start',
  REBOOT: 'reboot',
  REBUILD: 'rebuild',
  REVERT_RESIZE: 'revertResize',
  CONFIRM_RESIZE: 'confirmResize',
  RESIZE: 'resize',
  MIGRATE: 'migrate',
  PAUSE: 'pause',
  UNPAUSE: 'unpause',
  SUSPEND: 'suspend',
  RESUME: 'resume',
  RESCUE: 'rescue',
  UNRESCUE: 'unrescue',
  CHANGE_PASSWORD: 'changePassword',
  SHELVE: 'shelve',
  SHELVE_OFFLOAD: 'shelveOffload',
  UNSHELVE: 'unshelve',
  LIVE_MIGRATION: 'live-migration',
  LIVE_MIGRATION_CANCEL: 'live_migration_cancel',
  LIVE_MIGRATION_FORCE_COMPLETE: 'live_migration_force_complete',
  TRIGGER_CRASH_DUMP: 'trigger_crash_dump',
  ATTACH_INTERFACE: 'attach_interface',
  DETACH_INTERFACE: 'detach_interface',
  LOCK: 'lock',
  UNLOCK: 'unlock',
  BACKUP: 'createBackup',
  CREATE_IMAGE: 'createImage',
  RESET_STATE: 'resetState',
} as const;

/**
 * Max id + 1 in the caller's transaction (the tables are written only there), under the table's
 * lock: concurrent builds and actions would otherwise pick the same id.
 */
async function nextId(w: Work, table: 'instance_actions' | 'instance_action_events'): Promise<number> {
  await w.lock(`${table}.id`);
  const r = await w.trx
    .selectFrom(table)
    .select(({ fn }) => fn.max<number>('id').as('m'))
    .executeTakeFirst();
  return Number(r?.m ?? 0) + 1;
}

/**
 * Record the start of an action on a server (compute API's _record_action_start), and with it
 * the first event when one starts at once (the manager finishes it). Returns the action's id.
 */
export async function recordAction(
  w: Work,
  ctx: RequestContext,
  server: { id: string; project_id: string },
  action: string,
  event?: { name: string; host: string | null },
): Promise<number> {
  const t = now();
  const id = await nextId(w, 'instance_actions');
  await w.trx
    .insertInto('instance_actions')
    .values({
      id,
      instance_uuid: server.id,
      action,
      request_id: ctx.requestId,
      user_id: ctx.userId,
      project_id: ctx.projectId ?? server.project_id,
      start_time: t,
      finish_time: null,
      message: null,
      updated_at: t,
    })
    .execute();
  if (event) await startEvent(w, server.id, event.name, event.host, id);
  return id;
}

/** The latest action of a server (the one an event belongs to when none is named). */
async function latestAction(w: Work, serverId: string): Promise<InstanceActionsTable | undefined> {
  return w.trx.selectFrom('instance_actions').selectAll().where('instance_uuid', '=', serverId).orderBy('id', 'desc').limit(1).executeTakeFirst();
}

/** An event starts (EventReporter.__enter__): on the given action, or the server's latest. */
export async function startEvent(w: Work, serverId: string, event: string, host: string | null, actionId?: number): Promise<void> {
  const action = actionId ?? (await latestAction(w, serverId))?.id;
  if (action === undefined) return;
  await w.trx
    .insertInto('instance_action_events')
    .values({
      id: await nextId(w, 'instance_action_events'),
      action_id: action,
      event,
      start_time: now(),
      finish_time: null,
      result: null,
      traceback: null,
      host,
      details: null,
    })
    .execute();
  await w.trx.updateTable('instance_actions').set({ updated_at: now() }).where('id', '=', action).execute();
}

/**
 * The newest unfinished event of that name on the server finishes: `Success`, or `Error` with the
 * failure (its message also becomes the action's, as Nova's action_event_finish sets 'Error').
 */
export async function finishEvent(w: Work, serverId: string, event: string, error?: { message: string; traceback?: string }): Promise<void> {
  const open = await w.trx
    .selectFrom('instance_action_events')
    .innerJoin('instance_actions', 'instance_actions.id', 'instance_action_events.action_id')
    .select(['instance_action_events.id', 'instance_action_events.action_id'])
    .where('instance_actions.instance_uuid', '=', serverId)
    .where('instance_action_events.event', '=', event)
    .where('instance_action_events.finish_time', 'is', null)
    .orderBy('instance_action_events.id', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (!open) return;
  const t = now();
  await w.trx
    .updateTable('instance_action_events')
    .set({
      finish_time: t,
      result: error ? 'Error' : 'Success',
      traceback: error ? (error.traceback ?? `Traceback (most recent call last):\n${error.message}\n`) : null,
      details: error ? error.message : null,
    })
    .where('id', '=', open.id)
    .execute();
  const set: Partial<InstanceActionsTable> = { updated_at: t };
  if (error) set.message = 'Error';
  await w.trx.updateTable('instance_actions').set(set).where('id', '=', open.action_id).execute();
}

/** An action and, when shown, its events. */
export interface InstanceAction {
  action: InstanceActionsTable;
  events: InstanceActionEventsTable[];
}

export interface ActionListQuery {
  limit?: number;
  marker?: string;
  changesSince?: string;
  changesBefore?: string;
}

/** What a caller may see of an action's events (the os-instance-actions:events policies). */
export interface EventDisclosure {
  /** os_compute_api:os-instance-actions:events (admins): every event with its traceback. */
  all: boolean;
}

/** Reading a server's actions: `deleted` servers too (2.21). */
export class InstanceActions {
  constructor(private readonly core: ComputeCore) {}

  /** The server (or what is left of it, `deleted`) the caller may read the actions of. */
  private async server(ctx: RequestContext, id: string, deleted: boolean): Promise<{ id: string; project_id: string }> {
    const live = await this.core.store.db.selectFrom('servers').select(['id', 'project_id']).where('id', '=', id).executeTakeFirst();
    const row =
      live ??
      (deleted ? await this.core.store.db.selectFrom('server_tombstones').select(['id', 'project_id']).where('id', '=', id).executeTakeFirst() : undefined);
    if (!row || (!ctx.isAdmin && row.project_id !== ctx.projectId)) throw novaNotFound(`Instance ${id} could not be found.`);
    return row;
  }

  async list(ctx: RequestContext, serverId: string, deleted: boolean, q: ActionListQuery): Promise<InstanceActionsTable[]> {
    const s = await this.server(ctx, serverId, deleted);
    let qb = this.core.store.db.selectFrom('instance_actions').selectAll().where('instance_uuid', '=', s.id);
    if (q.changesSince) qb = qb.where('updated_at', '>=', q.changesSince);
    if (q.changesBefore) qb = qb.where('updated_at', '<=', q.changesBefore);
    let rows = await qb.orderBy('start_time', 'desc').orderBy('id', 'desc').execute();
    if (q.marker !== undefined) {
      const at = rows.findIndex((r) => r.request_id === q.marker);
      if (at < 0) throw novaBadRequest(`Marker ${q.marker} could not be found.`);
      rows = rows.slice(at + 1);
    }
    if (q.limit !== undefined) rows = rows.slice(0, q.limit);
    return rows;
  }

  async show(ctx: RequestContext, serverId: string, requestId: string, deleted: boolean): Promise<InstanceAction & { projectId: string }> {
    const s = await this.server(ctx, serverId, deleted);
    const action = await this.core.store.db
      .selectFrom('instance_actions')
      .selectAll()
      .where('instance_uuid', '=', s.id)
      .where('request_id', '=', requestId)
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (!action) throw novaNotFound(`Action ${requestId} not found`);
    const events = await this.core.store.db.selectFrom('instance_action_events').selectAll().where('action_id', '=', action.id).orderBy('id').execute();
    return { action, events, projectId: s.project_id };
  }

  /** Events are shown to all from 2.51; the traceback and host only to admins. */
  disclosure(ctx: RequestContext): EventDisclosure {
    return { all: ctx.isAdmin };
  }
}
