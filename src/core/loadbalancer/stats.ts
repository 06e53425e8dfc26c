/**
 * Traffic counters per listener, as the engine last read them from the running instance, and
 * their sums as Octavia's stats calls return them.
 */
import type { Q } from '../../store/db.js';

export interface ListenerCounters {
  bytes_in: number;
  bytes_out: number;
  active_connections: number;
  total_connections: number;
  request_errors: number;
}

/** The counters of these listeners, summed (PostgreSQL returns bigints as strings). */
export async function listenerStats(q: Q, listenerIds: string[]): Promise<ListenerCounters> {
  const out: ListenerCounters = { bytes_in: 0, bytes_out: 0, active_connections: 0, total_connections: 0, request_errors: 0 };
  if (!listenerIds.length) return out;
  const rows = await q.selectFrom('lb_listener_stats').selectAll().where('listener_id', 'in', listenerIds).execute();
  for (const r of rows) {
    out.bytes_in += Number(r.bytes_in);
    out.bytes_out += Number(r.bytes_out);
    out.active_connections += Number(r.active_connections);
    out.total_connections += Number(r.total_connections);
    out.request_errors += Number(r.request_errors);
  }
  return out;
}
