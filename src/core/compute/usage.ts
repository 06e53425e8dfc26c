/**
 * os-simple-tenant-usage: hours, vCPU-, RAM- and disk-hours of the servers active in a period
 * (get_active_by_window_joined: launched before its end, not terminated before its start),
 * deleted servers included, per project, as Nova's SimpleTenantUsageController sums them.
 */
import type { ServersTable } from '../../store/schema.js';
import type { RequestContext } from '../context.js';
import type { UnitOfWork } from '../work.js';
import { novaBadRequest } from './errors.js';
import { adminOnly, policyOwnProject } from './policy.js';

export interface ServerUsage {
  instance_id: string;
  name: string;
  tenant_id: string;
  flavor: string;
  hours: number;
  memory_mb: number;
  local_gb: number;
  vcpus: number;
  started_at: string;
  ended_at: string | null;
  state: string;
  uptime: number;
}

export interface TenantUsageSummary {
  tenant_id: string;
  server_usages?: ServerUsage[];
  total_local_gb_usage: number;
  total_vcpus_usage: number;
  total_memory_mb_usage: number;
  total_hours: number;
  start: string;
  stop: string;
}

/**
 * A bound of the usage window: the instant, and how the answer writes it — oslo's strtime with the
 * microseconds the query gave (Nova echoes period_start/period_stop as parsed; a Date keeps
 * milliseconds only, and openstacksdk compares `started_at` with the `start` it sent).
 */
export interface UsageTime {
  strtime: string;
  /**
   * The instant in microseconds since the epoch: hours are counted from these, as Nova counts
   * them from datetimes to the microsecond. From milliseconds, a window two readings of now 60 µs
   * apart could count a full millisecond for a server running through it.
   */
  us: number;
}

/** The millisecond a UsageTime falls in (what the stored launch and termination times hold). */
const msOf = (t: UsageTime) => Math.floor(t.us / 1000);

export interface UsageQuery {
  start: UsageTime;
  stop: UsageTime;
  detailed: boolean;
  limit?: number;
  marker?: string;
}

/** oslo's strtime of a naive UTC datetime: "2012-10-08T21:14:22.123456". */
const strtime = (d: Date) => `${d.toISOString().slice(0, 19)}.${String(d.getUTCMilliseconds()).padStart(3, '0')}000`;

let lastNowMicros = 0;
/**
 * utcnow() to the microsecond, as Nova's default for a bound the query leaves out. Python's two
 * utcnow() calls for a query without bounds are always microseconds apart (an empty window, not
 * the 400 of start >= stop); here they can fall in the same microsecond, so each reading is later
 * than the one before.
 */
const nowTime = (): UsageTime => {
  const micros = Math.max(Math.floor((performance.timeOrigin + performance.now()) * 1000), lastNowMicros + 1);
  lastNowMicros = micros;
  const at = new Date(Math.floor(micros / 1000));
  return { strtime: `${at.toISOString().slice(0, 19)}.${String(micros % 1_000_000).padStart(6, '0')}`, us: micros };
};

/** _parse_datetime: three formats, naive times are UTC; `%f` takes one to six digits. */
export function parseUsageTime(v: string | undefined): UsageTime {
  if (!v) return nowTime();
  const m = /^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(\.\d{1,6})?$/.exec(v);
  if (!m || (v.includes(' ') && !m[7])) throw novaBadRequest('Invalid datetime string: Datetime is in invalid format');
  const seconds = `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}`;
  const ms = Date.parse(`${seconds}Z`);
  if (Number.isNaN(ms)) throw novaBadRequest('Invalid datetime string: Datetime is in invalid format');
  const fraction = (m[7] ?? '.').slice(1).padEnd(6, '0');
  return { strtime: `${seconds}.${fraction}`, us: ms * 1000 + Number(fraction) };
}

export class TenantUsage {
  constructor(private readonly uow: UnitOfWork) {}

  /** Servers (live and deleted) active in the window, as Nova orders them. */
  private async active(startMs: number, stopMs: number, projectId?: string): Promise<ServersTable[]> {
    const db = this.uow.store.db;
    let live = db.selectFrom('servers').selectAll().where('launched_at', 'is not', null);
    if (projectId) live = live.where('project_id', '=', projectId);
    const rows: ServersTable[] = await live.execute();
    let dead = db.selectFrom('server_tombstones').select('row');
    if (projectId) dead = dead.where('project_id', '=', projectId);
    for (const t of await dead.execute()) rows.push(JSON.parse(t.row) as ServersTable);
    return rows
      .filter((r) => r.launched_at && Date.parse(r.launched_at) < stopMs && (!r.terminated_at || Date.parse(r.terminated_at) > startMs))
      .sort((a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : a.internal_id - b.internal_id));
  }

  private async usages(q: UsageQuery, projectId?: string): Promise<{ summaries: TenantUsageSummary[]; servers: ServerUsage[] }> {
    // Both strtimes are fixed-width, so they compare as the instants do, to the microsecond.
    if (!(q.start.strtime < q.stop.strtime)) {
      throw novaBadRequest('Invalid start time. The start time cannot occur after the end time.');
    }
    // index/show: a stop in the future is now.
    const now = nowTime();
    const end = q.stop.us > now.us ? now : q.stop;
    let rows = await this.active(msOf(q.start), msOf(end), projectId);
    if (q.marker !== undefined) {
      const at = rows.findIndex((r) => r.id === q.marker);
      if (at < 0) throw novaBadRequest(`Marker ${q.marker} could not be found.`);
      rows = rows.slice(at + 1);
    }
    rows = rows.slice(0, q.limit ?? 1000);
    const byTenant = new Map<string, TenantUsageSummary>();
    const servers: ServerUsage[] = [];
    for (const r of rows) {
      const f = JSON.parse(r.flavor) as { name: string; ram: number; disk: number; ephemeral: number; vcpus: number };
      const launched = new Date(r.launched_at!);
      const ended = r.terminated_at ? new Date(r.terminated_at) : null;
      const from = Math.max(launched.getTime() * 1000, q.start.us);
      const to = ended ? Math.min(ended.getTime() * 1000, end.us) : end.us;
      const hours = Math.max(0, (to - from) / 3_600_000_000);
      const info: ServerUsage = {
        instance_id: r.id,
        name: r.name,
        tenant_id: r.project_id,
        flavor: f.name,
        hours,
        memory_mb: f.ram,
        local_gb: f.disk + (f.ephemeral ?? 0),
        vcpus: f.vcpus,
        started_at: strtime(launched),
        ended_at: ended ? strtime(ended) : null,
        state: ended ? 'terminated' : r.vm_state,
        uptime: Math.floor(((ended ?? new Date()).getTime() - launched.getTime()) / 1000),
      };
      let s = byTenant.get(r.project_id);
      if (!s) {
        s = {
          tenant_id: r.project_id,
          ...(q.detailed ? { server_usages: [] } : {}),
          total_local_gb_usage: 0,
          total_vcpus_usage: 0,
          total_memory_mb_usage: 0,
          total_hours: 0,
          start: q.start.strtime,
          stop: end.strtime,
        };
        byTenant.set(r.project_id, s);
      }
      s.total_local_gb_usage += info.local_gb * hours;
      s.total_vcpus_usage += info.vcpus * hours;
      s.total_memory_mb_usage += info.memory_mb * hours;
      s.total_hours += hours;
      s.server_usages?.push(info);
      servers.push(info);
    }
    return { summaries: [...byTenant.values()], servers };
  }

  /** GET /os-simple-tenant-usage (admins). */
  async list(ctx: RequestContext, q: UsageQuery): Promise<{ summaries: TenantUsageSummary[]; servers: ServerUsage[] }> {
    adminOnly(ctx, 'os_compute_api:os-simple-tenant-usage:list');
    return this.usages(q);
  }

  /** GET /os-simple-tenant-usage/{project}: a project's own, or any for admins. */
  async show(ctx: RequestContext, projectId: string, q: UsageQuery): Promise<{ summary: TenantUsageSummary | null; servers: ServerUsage[] }> {
    policyOwnProject(ctx, projectId, 'os_compute_api:os-simple-tenant-usage:show');
    const { summaries, servers } = await this.usages({ ...q, detailed: true }, projectId);
    return { summary: summaries[0] ?? null, servers };
  }
}

/** Python's str() of a naive datetime: "2024-05-01 00:00:00" (microseconds only when set). */
const pyStr = (d: Date) => {
  const base = d.toISOString().slice(0, 19).replace('T', ' ');
  return d.getUTCMilliseconds() ? `${base}.${String(d.getUTCMilliseconds()).padStart(3, '0')}000` : base;
};

/**
 * utils.last_completed_audit_period with nova.conf's default unit, `month`: the calendar month
 * that ended last before `before` (its end is the 1st of a month at 00:00 UTC, strictly before).
 */
export function lastCompletedAuditPeriod(before: Date): { begin: Date; end: Date } {
  let end = new Date(Date.UTC(before.getUTCFullYear(), before.getUTCMonth(), 1));
  if (end.getTime() >= before.getTime()) end = new Date(Date.UTC(before.getUTCFullYear(), before.getUTCMonth() - 1, 1));
  const begin = new Date(Date.UTC(end.getUTCFullYear(), end.getUTCMonth() - 1, 1));
  return { begin, end };
}

export interface AuditLog {
  period_beginning: string;
  period_ending: string;
  num_hosts: number;
  num_hosts_done: number;
  num_hosts_running: number;
  num_hosts_not_run: number;
  hosts_not_run: string[];
  total_instances: number;
  total_errors: number;
  overall_status: string;
  log: Record<string, { state: string; instances: number; errors: number; message: string }>;
}

/**
 * os-instance_usage_audit_log: the instance usage audit tasks of the last completed period. No
 * compute here runs the periodic audit (nova.conf's instance_usage_audit defaults to off), so
 * there are no task logs: every compute host is one that has not run.
 */
export class InstanceUsageAuditLog {
  constructor(private readonly uow: UnitOfWork) {}

  private async report(before: Date): Promise<AuditLog> {
    const { begin, end } = lastCompletedAuditPeriod(before);
    const rows = await this.uow.store.db.selectFrom('compute_services').select('host').where('binary', '=', 'nova-compute').execute();
    const hosts = [...new Set(rows.map((r) => r.host))];
    return {
      period_beginning: pyStr(begin),
      period_ending: pyStr(end),
      num_hosts: hosts.length,
      num_hosts_done: 0,
      num_hosts_running: 0,
      num_hosts_not_run: hosts.length,
      hosts_not_run: hosts,
      total_instances: 0,
      total_errors: 0,
      overall_status: `${hosts.length === 0 ? 'ALL' : `0 of ${hosts.length}`} hosts done. 0 errors.`,
      log: {},
    };
  }

  async list(ctx: RequestContext): Promise<AuditLog> {
    adminOnly(ctx, 'os_compute_api:os-instance-usage-audit-log:list');
    return this.report(new Date());
  }

  /** `before` as "%Y-%m-%d %H:%M:%S" or with ".%f" (400 "Invalid timestamp for date X" otherwise). */
  async show(ctx: RequestContext, before: string): Promise<AuditLog> {
    adminOnly(ctx, 'os_compute_api:os-instance-usage-audit-log:show');
    const m = before.includes('.')
      ? /^(\d{4})-(\d{1,2})-(\d{1,2}) (\d{1,2}):(\d{1,2}):(\d{1,2})\.(\d{1,6})$/.exec(before)
      : /^(\d{4})-(\d{1,2})-(\d{1,2}) (\d{1,2}):(\d{1,2}):(\d{1,2})$/.exec(before);
    const bad = () => novaBadRequest(`Invalid timestamp for date ${before}`);
    if (!m) throw bad();
    const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number);
    const ms = m[7] ? Math.floor(Number(m[7].padEnd(6, '0')) / 1000) : 0;
    const at = new Date(Date.UTC(y, mo - 1, d, h, mi, s, ms));
    if (at.getUTCMonth() !== mo - 1 || at.getUTCDate() !== d || h > 23 || mi > 59 || s > 61) throw bad();
    return this.report(at);
  }
}
