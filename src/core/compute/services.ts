/**
 * os-services: the Nova services that run on this machine (nova-conductor, nova-scheduler,
 * nova-compute), each with its heartbeat (last_seen_up, written every report_interval by the
 * compute manager) and its admin state (disabled, forced_down). A service is up when it was seen
 * within service_down_time (60 s) and is not forced down, as Nova's DB servicegroup driver decides.
 * Disabling or forcing down nova-compute makes the scheduler find no valid host, as in Nova.
 */
import type { Q } from '../../store/db.js';
import type { ComputeServicesTable } from '../../store/schema.js';
import type { RequestContext } from '../context.js';
import type { UnitOfWork } from '../work.js';
import { DEFAULT_AZ, INTERNAL_AZ, hostZones } from './aggregates.js';
import { now } from './clock.js';
import { novaBadRequest, novaConflict, novaNotFound } from './errors.js';
import { adminOnly } from './policy.js';
import { stableUuid } from './uuids.js';

/** Nova's [DEFAULT] report_interval and service_down_time, seconds. */
export const REPORT_INTERVAL_S = 10;
export const SERVICE_DOWN_TIME_S = 60;

export const BINARIES = ['nova-conductor', 'nova-scheduler', 'nova-compute'] as const;
const TOPICS: Record<(typeof BINARIES)[number], string> = { 'nova-conductor': 'conductor', 'nova-scheduler': 'scheduler', 'nova-compute': 'compute' };

export interface Service {
  row: ComputeServicesTable;
  up: boolean;
  /** Its availability zone (a compute host's from its aggregates; `internal` for the others). */
  zone: string;
}

export interface ServiceUpdate {
  status?: 'enabled' | 'disabled';
  disabledReason?: string | null;
  forcedDown?: boolean;
}

export function serviceIsUp(row: ComputeServicesTable, at = Date.now()): boolean {
  if (row.forced_down) return false;
  const seen = row.last_seen_up ?? row.updated_at ?? row.created_at;
  return at - Date.parse(seen) <= SERVICE_DOWN_TIME_S * 1000;
}

export class ComputeServices {
  constructor(
    private readonly uow: UnitOfWork,
    readonly hostname: string,
  ) {}

  private get db() {
    return this.uow.store.db;
  }

  /**
   * This machine's services exist (they register at start, as Nova's do) and report now. A host
   * that runs only `pocketstack agent` registers nova-compute alone, as a compute node runs only it.
   */
  async register(binaries: ReadonlyArray<(typeof BINARIES)[number]> = BINARIES): Promise<void> {
    await this.uow.run(async ({ trx }) => {
      for (const binary of binaries) {
        const has = await trx.selectFrom('compute_services').select('id').where('host', '=', this.hostname).where('binary', '=', binary).executeTakeFirst();
        if (has) continue;
        const max = await trx
          .selectFrom('compute_services')
          .select(({ fn }) => fn.max<number>('id').as('m'))
          .executeTakeFirst();
        const t = now();
        await trx
          .insertInto('compute_services')
          .values({
            id: Number(max?.m ?? 0) + 1,
            uuid: stableUuid('service', this.hostname, binary, t),
            host: this.hostname,
            binary,
            topic: TOPICS[binary],
            disabled: 0,
            disabled_reason: null,
            forced_down: 0,
            report_count: 0,
            last_seen_up: t,
            created_at: t,
            updated_at: t,
          })
          .execute();
      }
    });
    await this.heartbeat();
  }

  /** Report state (ServiceGroup DB driver's _report_state): every report_interval. */
  async heartbeat(): Promise<void> {
    const t = now();
    await this.uow.run(({ trx }) =>
      trx
        .updateTable('compute_services')
        .set((eb) => ({ last_seen_up: t, updated_at: t, report_count: eb('report_count', '+', 1) }))
        .where('host', '=', this.hostname)
        .execute(),
    );
  }

  /** The nova-compute service of a host (what scheduling and hypervisors read). */
  async compute(q: Q, host: string): Promise<ComputeServicesTable | undefined> {
    return q.selectFrom('compute_services').selectAll().where('host', '=', host).where('binary', '=', 'nova-compute').executeTakeFirst();
  }

  /** Every service (os-services, availability zones), in id order. */
  async all(q: Q = this.db): Promise<ComputeServicesTable[]> {
    return q.selectFrom('compute_services').selectAll().orderBy('id').execute();
  }

  async list(ctx: RequestContext, filter: { host?: string; binary?: string }): Promise<Service[]> {
    adminOnly(ctx, 'os_compute_api:os-services:list');
    const zones = await hostZones(this.db);
    return (await this.all())
      .filter((s) => (!filter.host || s.host === filter.host) && (!filter.binary || s.binary === filter.binary))
      .map((row) => ({ row, up: serviceIsUp(row), zone: this.zoneOf(row, zones) }));
  }

  private async byHostBinary(q: Q, host: string, binary: string): Promise<ComputeServicesTable> {
    if (binary !== 'nova-compute') {
      throw novaBadRequest(`Updating a ${binary} service is not supported. Only nova-compute services can be updated.`);
    }
    const row = await q.selectFrom('compute_services').selectAll().where('host', '=', host).where('binary', '=', binary).executeTakeFirst();
    if (!row) throw novaNotFound(`Could not find binary ${binary} on host ${host}.`);
    return row;
  }

  /** PUT /os-services/{enable,disable,disable-log-reason,force-down} (before 2.53): by host and binary. */
  async updateByHost(ctx: RequestContext, host: string, binary: string, u: ServiceUpdate): Promise<Service> {
    adminOnly(ctx, 'os_compute_api:os-services:update');
    return this.uow.run(async ({ trx }) => {
      const row = await this.byHostBinary(trx, host, binary);
      return this.apply(trx, row, u);
    }, ctx);
  }

  /** PUT /os-services/{uuid} (2.53). */
  async update(ctx: RequestContext, uuid: string, u: ServiceUpdate): Promise<Service> {
    adminOnly(ctx, 'os_compute_api:os-services:update');
    return this.uow.run(async ({ trx }) => {
      const row = await trx.selectFrom('compute_services').selectAll().where('uuid', '=', uuid).executeTakeFirst();
      if (!row) throw novaNotFound(`Service ${uuid} could not be found.`);
      if (row.binary !== 'nova-compute') {
        throw novaBadRequest(`Updating a ${row.binary} service is not supported. Only nova-compute services can be updated.`);
      }
      if (u.status === undefined && u.forcedDown === undefined) {
        throw novaBadRequest("No updates were requested. Fields 'status' or 'forced_down' should be specified.");
      }
      if (u.status === 'enabled' && u.disabledReason) throw novaBadRequest("Specifying 'disabled_reason' with status 'enabled' is invalid.");
      return this.apply(trx, row, u);
    }, ctx);
  }

  private zoneOf(row: ComputeServicesTable, zones: Map<string, string>): string {
    return row.binary === 'nova-compute' ? (zones.get(row.host) ?? DEFAULT_AZ) : INTERNAL_AZ;
  }

  private async apply(q: Q, row: ComputeServicesTable, u: ServiceUpdate): Promise<Service> {
    const set: Partial<ComputeServicesTable> = { updated_at: now() };
    if (u.status === 'enabled') Object.assign(set, { disabled: 0, disabled_reason: null });
    if (u.status === 'disabled') Object.assign(set, { disabled: 1, disabled_reason: u.disabledReason ?? null });
    if (u.forcedDown !== undefined) set.forced_down = u.forcedDown ? 1 : 0;
    await q.updateTable('compute_services').set(set).where('id', '=', row.id).execute();
    const after = { ...row, ...set };
    return { row: after, up: serviceIsUp(after), zone: this.zoneOf(after, await hostZones(q)) };
  }

  /**
   * DELETE /os-services/{id}: a compute service hosting instances stays (409); deleting it takes
   * its host out of its aggregates. It registers again when PocketStack next starts, as a
   * restarted nova-compute does.
   */
  async delete(ctx: RequestContext, id: string, byUuid: boolean): Promise<void> {
    adminOnly(ctx, 'os_compute_api:os-services:delete');
    await this.uow.run(async ({ trx }) => {
      let qb = trx.selectFrom('compute_services').selectAll();
      qb = byUuid ? qb.where('uuid', '=', id) : qb.where('id', '=', Number(id));
      const row = await qb.executeTakeFirst();
      if (!row) throw novaNotFound(`Service ${id} could not be found.`);
      if (row.binary === 'nova-compute') {
        const n = await trx
          .selectFrom('servers')
          .select(({ fn }) => fn.countAll<number>().as('n'))
          .where('host', '=', row.host)
          .executeTakeFirst();
        if (Number(n?.n ?? 0) > 0) throw novaConflict('Unable to delete compute service that is hosting instances. Migrate or delete the instances first.');
        await trx.deleteFrom('aggregate_hosts').where('host', '=', row.host).execute();
      }
      await trx.deleteFrom('compute_services').where('id', '=', row.id).execute();
    }, ctx);
  }
}
