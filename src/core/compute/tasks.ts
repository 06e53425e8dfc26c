/**
 * How a server action starts, the same for every one of them (nova/compute/api.py): in one
 * transaction, the server the caller may see (404), its policy (403), check_instance_lock and
 * check_instance_state (409), then the task state it enters (`instance.save(expected_task_state=
 * [None])`) and the instance action it records, with the event the manager will finish.
 */
import { fromJson } from '../../store/db.js';
import type { ServersTable } from '../../store/schema.js';
import type { RequestContext } from '../context.js';
import type { Work } from '../work.js';
import { type ComputeCore, type StateCheck, now } from './core.js';
import { recordAction } from './instance-actions.js';

export interface ActionStart {
  /** The API's name of the action (how a 409 words it). */
  action: string;
  /** Allowed states; null skips the check. */
  check: StateCheck | null;
  /** check_instance_lock (default on). */
  lock?: boolean;
  /** A policy check that needs the server (its project or user). */
  policy?: (row: ServersTable) => void;
  /** Further checks inside the transaction (a state-dependent refusal, a quota). */
  verify?: (row: ServersTable, w: Work) => Promise<void> | void;
  /** The instance action to record (instance_actions.*), and the event it starts with. */
  record?: { action: string; event?: string };
  /** What the server becomes (task_state …); `updated_at` is added. */
  set: (row: ServersTable, w: Work) => Promise<Partial<ServersTable>> | Partial<ServersTable>;
}

/** Start an action: returns the server as it is now. */
export async function startAction(core: ComputeCore, ctx: RequestContext, id: string, a: ActionStart): Promise<ServersTable> {
  return core.uow.run(async (w) => {
    const row = await core.row(ctx, id, w);
    a.policy?.(row);
    if (a.lock ?? true) core.checkLocked(ctx, row);
    if (a.check) core.checkState(row, a.action, a.check);
    await a.verify?.(row, w);
    const set = { ...(await a.set(row, w)), updated_at: now() };
    await w.trx.updateTable('servers').set(set).where('id', '=', row.id).execute();
    if (a.record) await recordAction(w, ctx, row, a.record.action, a.record.event ? { name: a.record.event, host: row.host } : undefined);
    w.changed('server', row.id, row.project_id, 'update');
    return { ...row, ...set };
  }, ctx);
}

/** A server's system metadata with `changes` applied (null removes a key), as JSON. */
export function withSystemMetadata(row: ServersTable, changes: Record<string, string | null>): string {
  const md = fromJson<Record<string, string>>(row.system_metadata, {});
  for (const [k, v] of Object.entries(changes)) {
    if (v === null) delete md[k];
    else md[k] = v;
  }
  return JSON.stringify(md);
}
