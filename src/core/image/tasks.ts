/**
 * Glance's tasks: what an import runs as (`api_image_import`), with Glance's status machine
 * (pending → processing → success | failure), its `input` and `result`, and an expiry
 * `task_time_to_live` hours after it ends, past which it is no longer listed.
 */
import type { Q, Tx } from '../../store/db.js';
import type { ImageTasksTable } from '../../store/schema.js';
import { uuid } from '../../util/ids.js';
import type { RequestContext } from '../context.js';
import { jsonObject, nowIso } from './records.js';

export type TaskStatus = 'pending' | 'processing' | 'success' | 'failure';

export const TASK_STATUSES: readonly TaskStatus[] = ['pending', 'processing', 'success', 'failure'];

/** A task as Glance's domain holds it. */
export interface Task {
  id: string;
  type: string;
  status: TaskStatus;
  owner: string;
  image_id: string | null;
  user_id: string | null;
  request_id: string | null;
  input: Record<string, unknown> | null;
  result: Record<string, unknown> | null;
  message: string;
  expires_at: string | null;
  created_at: string;
  updated_at: string;
}

/** `[task] task_time_to_live`: hours a finished task stays. */
const TASK_TIME_TO_LIVE_HOURS = 48;

const TRANSITIONS: Record<TaskStatus, TaskStatus[]> = {
  pending: ['processing', 'failure'],
  processing: ['success', 'failure'],
  success: [],
  failure: [],
};

function fromRow(r: ImageTasksTable): Task {
  return {
    ...r,
    status: r.status as TaskStatus,
    input: r.input === null ? null : jsonObject(r.input),
    result: r.result === null ? null : jsonObject(r.result),
  };
}

/** Tasks a caller sees: its project's, or every one for an admin (Glance's _is_task_visible). */
function visible(ctx: RequestContext, t: { owner: string }): boolean {
  return ctx.isAdmin || t.owner === '' || (ctx.projectId !== null && t.owner === ctx.projectId);
}

const unexpired = (t: { expires_at: string | null }) => t.expires_at === null || t.expires_at >= nowIso();

export class TaskRepo {
  async create(trx: Tx, ctx: RequestContext, type: string, imageId: string | null, input: Record<string, unknown>): Promise<Task> {
    const now = nowIso();
    const row: ImageTasksTable = {
      id: uuid(),
      type,
      status: 'pending',
      owner: ctx.projectId ?? '',
      image_id: imageId,
      user_id: ctx.userId,
      request_id: ctx.requestId,
      input: JSON.stringify(input),
      result: null,
      message: '',
      expires_at: null,
      created_at: now,
      updated_at: now,
    };
    await trx.insertInto('image_tasks').values(row).execute();
    return fromRow(row);
  }

  async get(q: Q, id: string): Promise<Task | undefined> {
    const row = await q.selectFrom('image_tasks').selectAll().where('id', '=', id).executeTakeFirst();
    return row && unexpired(row) ? fromRow(row) : undefined;
  }

  /** A task the caller may see, or undefined (Glance: "Could not find task <id>"). */
  async visibleTask(q: Q, ctx: RequestContext, id: string): Promise<Task | undefined> {
    const t = await this.get(q, id);
    return t && visible(ctx, t) ? t : undefined;
  }

  /** The unexpired tasks of an image the caller may see, oldest first (Glance's tasks_get_by_image). */
  async byImage(q: Q, ctx: RequestContext, imageId: string): Promise<Task[]> {
    const rows = await q.selectFrom('image_tasks').selectAll().where('image_id', '=', imageId).orderBy('created_at').orderBy('id').execute();
    return rows
      .filter(unexpired)
      .map(fromRow)
      .filter((t) => visible(ctx, t));
  }

  /** Tasks still pending or processing (what a restart finds interrupted). */
  async unfinished(q: Q): Promise<Task[]> {
    const rows = await q.selectFrom('image_tasks').selectAll().where('status', 'in', ['pending', 'processing']).execute();
    return rows.map(fromRow);
  }

  /** Tasks for GET /v2/tasks: the caller's (all for an admin), filtered, newest first by default. */
  async list(
    q: Q,
    ctx: RequestContext,
    opts: { filters: Map<string, string>; sortKey: string; sortDir: 'asc' | 'desc'; limit: number; marker?: Task },
  ): Promise<Task[]> {
    let qb = q.selectFrom('image_tasks').selectAll();
    if (!ctx.isAdmin && ctx.projectId !== null) qb = qb.where('owner', '=', ctx.projectId);
    for (const [k, v] of opts.filters) {
      if (['id', 'type', 'status', 'owner', 'image_id', 'user_id', 'request_id', 'message', 'expires_at', 'created_at', 'updated_at'].includes(k)) {
        qb = qb.where(k as 'id', '=', v);
      }
    }
    const key = (
      ['created_at', 'updated_at', 'id', 'type', 'status', 'owner', 'expires_at'].includes(opts.sortKey) ? opts.sortKey : 'created_at'
    ) as 'created_at';
    const rows = (await qb.orderBy(key, opts.sortDir).orderBy('created_at', opts.sortDir).orderBy('id', opts.sortDir).execute()).filter(unexpired);
    let start = 0;
    if (opts.marker) {
      const i = rows.findIndex((r) => r.id === opts.marker?.id);
      start = i < 0 ? rows.length : i + 1;
    }
    return rows.slice(start, start + opts.limit).map(fromRow);
  }

  /** Move a task on; a move Glance forbids (a finished task) changes nothing and returns false. */
  async transition(trx: Tx, id: string, to: TaskStatus, fields: { result?: Record<string, unknown>; message?: string } = {}): Promise<boolean> {
    const row = await trx.selectFrom('image_tasks').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row || !TRANSITIONS[row.status as TaskStatus].includes(to)) return false;
    const now = new Date();
    const ends = to === 'success' || to === 'failure';
    await trx
      .updateTable('image_tasks')
      .set({
        status: to,
        updated_at: now.toISOString(),
        ...(fields.result !== undefined ? { result: JSON.stringify(fields.result) } : {}),
        ...(fields.message !== undefined ? { message: fields.message } : {}),
        ...(ends ? { expires_at: new Date(now.getTime() + TASK_TIME_TO_LIVE_HOURS * 3600_000).toISOString() } : {}),
      })
      .where('id', '=', id)
      .execute();
    return true;
  }

  /** Set the progress message of a running task (Glance's "Copied N MiB"). */
  async setMessage(trx: Tx, id: string, message: string): Promise<void> {
    await trx.updateTable('image_tasks').set({ message, updated_at: nowIso() }).where('id', '=', id).execute();
  }
}
