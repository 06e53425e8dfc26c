/**
 * os-aggregates: host aggregates with their hosts and metadata, and the availability zones they
 * define (an aggregate's `availability_zone` metadata puts its hosts in that zone; a host in no
 * such aggregate is in the default zone, `nova`), with Nova's AggregateAPI checks.
 */
import type { Q } from '../../store/db.js';
import type { AggregatesTable } from '../../store/schema.js';
import { nextId } from '../../store/sequences.js';
import type { RequestContext } from '../context.js';
import { DomainError } from '../errors.js';
import type { UnitOfWork } from '../work.js';
import { now } from './clock.js';
import { novaBadRequest, novaConflict, novaNotFound } from './errors.js';
import { type AfterPolicy, adminOnly } from './policy.js';
import { stableUuid } from './uuids.js';

/** Nova's [DEFAULT] default_availability_zone and internal_service_availability_zone. */
export const DEFAULT_AZ = 'nova';
export const INTERNAL_AZ = 'internal';

export interface Aggregate {
  row: AggregatesTable;
  hosts: string[];
  metadata: Record<string, string>;
  availabilityZone: string | null;
}

/** The availability zone of each host (Nova's set_availability_zones for compute hosts). */
export async function hostZones(q: Q): Promise<Map<string, string>> {
  const rows = await q
    .selectFrom('aggregate_hosts')
    .innerJoin('aggregate_metadata', 'aggregate_metadata.aggregate_id', 'aggregate_hosts.aggregate_id')
    .select(['aggregate_hosts.host', 'aggregate_metadata.value'])
    .where('aggregate_metadata.key', '=', 'availability_zone')
    .orderBy('aggregate_hosts.aggregate_id')
    .execute();
  const out = new Map<string, string>();
  for (const r of rows) if (!out.has(r.host)) out.set(r.host, r.value);
  return out;
}

const invalid = (kind: 'Add' | 'Update' | 'UpdateMeta' | 'Delete', id: number, reason: string) => {
  const what = {
    Add: 'add host to aggregate',
    Update: 'update aggregate',
    UpdateMeta: 'update metadata of aggregate',
    Delete: 'remove host from aggregate',
  }[kind];
  return `Cannot ${what} ${id}. Reason: ${reason}.`;
};

export class Aggregates {
  constructor(
    private readonly uow: UnitOfWork,
    /** The image service's show, as the caller sees images (to check what is to be cached). */
    private readonly showImage: (ctx: RequestContext, id: string) => Promise<unknown>,
  ) {}

  private get db() {
    return this.uow.store.db;
  }

  private async load(q: Q, rows: AggregatesTable[]): Promise<Aggregate[]> {
    if (!rows.length) return [];
    const ids = rows.map((r) => r.id);
    const hosts = await q.selectFrom('aggregate_hosts').selectAll().where('aggregate_id', 'in', ids).orderBy('host').execute();
    const meta = await q.selectFrom('aggregate_metadata').selectAll().where('aggregate_id', 'in', ids).orderBy('key').execute();
    return rows.map((row) => {
      const metadata = Object.fromEntries(meta.filter((m) => m.aggregate_id === row.id).map((m) => [m.key, m.value]));
      return {
        row,
        hosts: hosts.filter((h) => h.aggregate_id === row.id).map((h) => h.host),
        metadata,
        availabilityZone: Object.hasOwn(metadata, 'availability_zone') ? metadata.availability_zone : null,
      };
    });
  }

  private async get(q: Q, id: string): Promise<Aggregate> {
    if (!/^\s*-?\d+\s*$/.test(id)) throw novaBadRequest(`Invalid input received: id must be an integer`);
    const row = await q.selectFrom('aggregates').selectAll().where('id', '=', Number(id)).executeTakeFirst();
    if (!row) throw novaNotFound(`Aggregate ${Number(id)} could not be found.`);
    return (await this.load(q, [row]))[0];
  }

  /**
   * POST os-aggregates/{id}/images (2.81): pre-cache images on the aggregate's hosts. Nova's
   * conductor checks that each image exists and casts to the hosts; instances here read the image
   * service directly, so nothing is left to cache once every image is known.
   */
  async cacheImages(ctx: RequestContext, id: string, input: AfterPolicy<string[]>): Promise<void> {
    adminOnly(ctx, 'compute:aggregates:images');
    const imageIds = input();
    if (!/^\s*-?\d+\s*$/.test(id)) throw novaBadRequest('Invalid input received: id must be an integer');
    if (new Set(imageIds).size !== imageIds.length) throw novaBadRequest('Duplicate images in request');
    await this.get(this.db, id);
    for (const imageId of imageIds) {
      try {
        await this.showImage(ctx, imageId);
      } catch (e) {
        if (e instanceof DomainError && e.status === 404) throw novaBadRequest(`Image ${imageId} could not be found.`);
        throw e;
      }
    }
  }

  async list(ctx: RequestContext): Promise<Aggregate[]> {
    adminOnly(ctx, 'os_compute_api:os-aggregates:index');
    return this.load(this.db, await this.db.selectFrom('aggregates').selectAll().orderBy('id').execute());
  }

  async show(ctx: RequestContext, id: string): Promise<Aggregate> {
    adminOnly(ctx, 'os_compute_api:os-aggregates:show');
    return this.get(this.db, id);
  }

  async create(ctx: RequestContext, name: string, availabilityZone: string | null): Promise<Aggregate> {
    adminOnly(ctx, 'os_compute_api:os-aggregates:create');
    const id = await this.uow.run(async ({ trx }) => {
      if (await trx.selectFrom('aggregates').select('id').where('name', '=', name).executeTakeFirst()) {
        throw novaConflict(`Aggregate ${name} already exists.`);
      }
      // Never an id given before (Nova's autoincrement): see migration 0191.
      const id = await nextId(trx, 'aggregates');
      const t = now();
      await trx
        .insertInto('aggregates')
        .values({ id, uuid: stableUuid('aggregate', String(id), name, t), name, created_at: t, updated_at: null })
        .execute();
      if (availabilityZone)
        await trx.insertInto('aggregate_metadata').values({ aggregate_id: id, key: 'availability_zone', value: availabilityZone }).execute();
      return id;
    }, ctx);
    return this.get(this.db, String(id));
  }

  /** Whether setting `metadata` (its availability_zone) on the aggregate is safe (is_safe_to_update_az). */
  private async checkZoneChange(
    q: Q,
    agg: Aggregate,
    metadata: Record<string, string | null>,
    kind: 'Add' | 'Update' | 'UpdateMeta',
    hosts = agg.hosts,
    checkInstances = true,
  ): Promise<void> {
    if (!Object.hasOwn(metadata, 'availability_zone')) return;
    const az = metadata.availability_zone;
    if (!az) throw novaBadRequest(invalid(kind, agg.row.id, `Aggregate ${agg.row.name} does not support empty named availability zone`));
    if (hosts.length) {
      const others = await q
        .selectFrom('aggregate_hosts')
        .innerJoin('aggregate_metadata', 'aggregate_metadata.aggregate_id', 'aggregate_hosts.aggregate_id')
        .select(['aggregate_metadata.value', 'aggregate_hosts.aggregate_id'])
        .where('aggregate_hosts.host', 'in', hosts)
        .where('aggregate_metadata.key', '=', 'availability_zone')
        .where('aggregate_hosts.aggregate_id', '!=', agg.row.id)
        .execute();
      const conflicting = [...new Set(others.map((o) => o.value).filter((v) => v !== az))];
      if (conflicting.length) {
        const list = `[${conflicting.map((c) => `'${c}'`).join(', ')}]`;
        throw novaBadRequest(invalid(kind, agg.row.id, `One or more hosts already in availability zone(s) ${list}`));
      }
      if (checkInstances && agg.availabilityZone !== az) {
        const n = await q
          .selectFrom('servers')
          .select(({ fn }) => fn.countAll<number>().as('n'))
          .where('host', 'in', hosts)
          .executeTakeFirst();
        if (Number(n?.n ?? 0) > 0) throw novaBadRequest(invalid(kind, agg.row.id, 'One or more hosts contain instances in this zone'));
      }
    }
  }

  async update(ctx: RequestContext, id: string, u: { name?: string; availabilityZone?: string | null }): Promise<Aggregate> {
    adminOnly(ctx, 'os_compute_api:os-aggregates:update');
    await this.uow.run(async ({ trx }) => {
      const agg = await this.get(trx, id);
      if (u.name !== undefined && u.name !== agg.row.name) {
        if (await trx.selectFrom('aggregates').select('id').where('name', '=', u.name).executeTakeFirst()) {
          throw novaConflict(`Aggregate ${u.name} already exists.`);
        }
        await trx.updateTable('aggregates').set({ name: u.name }).where('id', '=', agg.row.id).execute();
      }
      if (u.availabilityZone !== undefined) {
        await this.checkZoneChange(trx, agg, { availability_zone: u.availabilityZone }, 'Update');
        await this.writeMetadata(trx, agg.row.id, { availability_zone: u.availabilityZone });
        await trx.updateTable('aggregates').set({ updated_at: now() }).where('id', '=', agg.row.id).execute();
      }
    }, ctx);
    return this.get(this.db, id);
  }

  /** set_metadata: keys with null values are removed, the others set (update_metadata). */
  async setMetadata(ctx: RequestContext, id: string, metadata: Record<string, string | null>): Promise<Aggregate> {
    adminOnly(ctx, 'os_compute_api:os-aggregates:set_metadata');
    await this.uow.run(async ({ trx }) => {
      const agg = await this.get(trx, id);
      await this.checkZoneChange(trx, agg, metadata, 'UpdateMeta');
      await this.writeMetadata(trx, agg.row.id, metadata);
      await trx.updateTable('aggregates').set({ updated_at: now() }).where('id', '=', agg.row.id).execute();
    }, ctx);
    return this.get(this.db, id);
  }

  private async writeMetadata(q: Q, id: number, metadata: Record<string, string | null>): Promise<void> {
    for (const [key, value] of Object.entries(metadata)) {
      await q.deleteFrom('aggregate_metadata').where('aggregate_id', '=', id).where('key', '=', key).execute();
      if (value !== null) await q.insertInto('aggregate_metadata').values({ aggregate_id: id, key, value }).execute();
    }
  }

  async delete(ctx: RequestContext, id: string): Promise<void> {
    adminOnly(ctx, 'os_compute_api:os-aggregates:delete');
    await this.uow.run(async ({ trx }) => {
      const agg = await this.get(trx, id);
      if (agg.hosts.length) throw novaBadRequest(invalid('Delete', agg.row.id, 'Host aggregate is not empty'));
      await trx.deleteFrom('aggregates').where('id', '=', agg.row.id).execute();
    }, ctx);
  }

  async addHost(ctx: RequestContext, id: string, host: string): Promise<Aggregate> {
    adminOnly(ctx, 'os_compute_api:os-aggregates:add_host');
    await this.uow.run(async ({ trx }) => {
      const svc = await trx.selectFrom('compute_services').select('host').where('host', '=', host).where('binary', '=', 'nova-compute').executeTakeFirst();
      if (!svc) throw novaNotFound(`Compute host ${host} could not be found.`);
      const agg = await this.get(trx, id);
      if (agg.hosts.includes(host)) throw novaConflict(`Aggregate ${agg.row.id} already has host ${host}.`);
      await this.checkZoneChange(trx, agg, agg.metadata, 'Add', [host], false);
      const newAz = agg.availabilityZone;
      if (newAz) {
        const n = Number(
          (
            await trx
              .selectFrom('servers')
              .select(({ fn }) => fn.countAll<number>().as('n'))
              .where('host', '=', host)
              .executeTakeFirst()
          )?.n ?? 0,
        );
        const oldAz = (await hostZones(trx)).get(host) ?? null;
        if (n > 0 && oldAz !== newAz) {
          throw novaConflict(
            invalid(
              'Add',
              agg.row.id,
              `The host cannot be added to the aggregate as the availability zone of the host would change from '${oldAz ?? 'None'}' to '${newAz}' but the host already has ${n} instance(s). Changing the AZ of an existing instance is not supported by this action. Move the instances away from this host then try again. If you need to move the instances between AZs then you can use shelve_offload and unshelve to achieve this.`,
            ),
          );
        }
      }
      await trx.insertInto('aggregate_hosts').values({ aggregate_id: agg.row.id, host }).execute();
    }, ctx);
    return this.get(this.db, id);
  }

  async removeHost(ctx: RequestContext, id: string, host: string): Promise<Aggregate> {
    adminOnly(ctx, 'os_compute_api:os-aggregates:remove_host');
    await this.uow.run(async ({ trx }) => {
      const agg = await this.get(trx, id).catch(() => null);
      if (!agg?.hosts.includes(host)) throw novaNotFound(`Cannot remove host ${host} in aggregate ${id}`);
      if (agg.availabilityZone) {
        const n = Number(
          (
            await trx
              .selectFrom('servers')
              .select(({ fn }) => fn.countAll<number>().as('n'))
              .where('host', '=', host)
              .executeTakeFirst()
          )?.n ?? 0,
        );
        const others = await trx
          .selectFrom('aggregate_hosts')
          .innerJoin('aggregate_metadata', 'aggregate_metadata.aggregate_id', 'aggregate_hosts.aggregate_id')
          .select('aggregate_metadata.value')
          .where('aggregate_hosts.host', '=', host)
          .where('aggregate_metadata.key', '=', 'availability_zone')
          .where('aggregate_hosts.aggregate_id', '!=', agg.row.id)
          .executeTakeFirst();
        const newAz = others?.value ?? 'None';
        if (n > 0 && newAz !== agg.availabilityZone) {
          throw novaConflict(
            invalid(
              'Delete',
              agg.row.id,
              `The host cannot be removed from the aggregate as the availability zone of the host would change from '${agg.availabilityZone}' to '${newAz}' but the host already has ${n} instance(s). Changing the AZ of an existing instance is not supported by this action. Move the instances away from this host then try again. If you need to move the instances between AZs then you can use shelve_offload and unshelve to achieve this.`,
            ),
          );
        }
      }
      await trx.deleteFrom('aggregate_hosts').where('aggregate_id', '=', agg.row.id).where('host', '=', host).execute();
    }, ctx);
    return this.get(this.db, id);
  }
}
