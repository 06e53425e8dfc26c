/**
 * Pool members: an address and port (optionally on a Neutron subnet), weight, backup flag, and
 * the batch update that replaces a pool's whole member set.
 */
import type { Updateable } from 'kysely';
import type { Tx } from '../../store/db.js';
import type { LbMembersTable } from '../../store/schema.js';
import { uuid as newUuid } from '../../util/ids.js';
import { cidrContains, ipToString, parseCidr, parseIp } from '../../util/ip.js';
import type { RequestContext } from '../context.js';
import { authorize, getLb, getMember, getPool } from './access.js';
import * as C from './constants.js';
import type { LbDeps } from './deps.js';
import { lbErrors } from './errors.js';
import { type MemberRow, type PoolRow, octaviaTime } from './model.js';
import { findNeutron } from './neutron.js';
import { type ListSpec, type Listing, OBJECT_COLUMNS, listPage } from './query.js';
import { checkQuota } from './quotas.js';
import { lockForPool } from './pools.js';
import { type Rendered, renderMembers } from './render.js';
import type { MemberPost, MemberPut, MemberSingle } from './schemas.js';
import { writeTags } from './status.js';

const MEMBER_LIST: ListSpec<'lb_members'> = {
  table: 'lb_members',
  tagType: 'lb_member',
  columns: {
    ...OBJECT_COLUMNS,
    name: { column: 'name' },
    pool_id: { column: 'pool_id' },
    address: { column: 'address' },
    protocol_port: { column: 'protocol_port', type: 'int' },
    weight: { column: 'weight', type: 'int' },
    backup: { column: 'backup', type: 'bool' },
    subnet_id: { column: 'subnet_id' },
    monitor_address: { column: 'monitor_address' },
    monitor_port: { column: 'monitor_port', type: 'int' },
  },
};

/** Octavia's [networking] reserved_ips default: the metadata address is never a member. */
const RESERVED_IPS = ['169.254.169.254'];

export function checkNotReserved(address: string): void {
  const ip = parseIp(address);
  const text = ip ? ipToString(ip).toUpperCase() : address;
  if (RESERVED_IPS.includes(text)) throw lbErrors.invalidOption(text, 'member address');
}

/**
 * A member's subnet must be one the caller can use; its address must lie in it. With the noop
 * network driver, subnets Neutron does not know are accepted (Octavia's noop driver).
 */
export async function checkSubnet(deps: LbDeps, ctx: RequestContext, subnetId: string, address: string): Promise<void> {
  const subnet = await findNeutron(deps.network, ctx, 'subnets', subnetId);
  if (!subnet) {
    const exists = await deps.store.db.selectFrom('subnets').select('id').where('id', '=', subnetId).executeTakeFirst();
    if (deps.networkDriver === 'noop' && !exists) return;
    throw lbErrors.invalidSubresource('Subnet', subnetId);
  }
  const ip = parseIp(address)!;
  if (!cidrContains(parseCidr(subnet.cidr)!, ip)) {
    throw lbErrors.validation(`Member address ${address} is not in the CIDR ${subnet.cidr} of subnet ${subnetId}.`);
  }
}

async function lockPoolMembers(trx: Tx, pool: PoolRow): Promise<void> {
  const cur = await trx.selectFrom('lb_pools').select('provisioning_status').where('id', '=', pool.id).executeTakeFirst();
  if (cur?.provisioning_status !== C.PROVISIONING.ACTIVE) throw lbErrors.immutable('Pool', pool.id);
  await lockForPool(trx, pool);
  await trx.updateTable('lb_pools').set({ provisioning_status: C.PROVISIONING.PENDING_UPDATE }).where('id', '=', pool.id).execute();
}

/** A member row (Octavia's _validate_create_member: one address and port per pool), its tags. */
export async function insertMember(trx: Tx, pool: PoolRow, m: MemberSingle, id = newUuid()): Promise<string> {
  // (A null address or port goes on as sent: see BodyOf.)
  const address = m.address!;
  const port = m.protocol_port!;
  const dup = await trx
    .selectFrom('lb_members')
    .select('id')
    .where('pool_id', '=', pool.id)
    .where('address', '=', address)
    .where('protocol_port', '=', port)
    .executeTakeFirst();
  if (dup) throw lbErrors.duplicateMember(address, port);
  const monitored = await trx.selectFrom('lb_healthmonitors').select('id').where('pool_id', '=', pool.id).executeTakeFirst();
  await trx
    .insertInto('lb_members')
    .values({
      id,
      project_id: pool.project_id,
      name: m.name ?? '',
      provisioning_status: C.PROVISIONING.PENDING_CREATE,
      operating_status: monitored ? C.OPERATING.OFFLINE : C.OPERATING.NO_MONITOR,
      admin_state_up: m.admin_state_up === false ? 0 : 1,
      api: 'v2',
      pool_id: pool.id,
      address,
      protocol_port: port,
      weight: m.weight ?? C.DEFAULT_WEIGHT,
      backup: m.backup ? 1 : 0,
      subnet_id: m.subnet_id ?? null,
      monitor_address: m.monitor_address ?? null,
      monitor_port: m.monitor_port ?? null,
      status_description: null,
      created_at: octaviaTime(),
      updated_at: null,
    })
    .execute();
  await writeTags(trx, 'member', id, m.tags);
  return id;
}

/** Pool members; the pool is named in the URL, as in Octavia (`/pools/{pool_id}/members`). */
export class Members {
  constructor(private readonly deps: LbDeps) {}

  async list(ctx: RequestContext, poolId: string, params: Map<string, string[]>, url: URL): Promise<Listing<Rendered>> {
    const pool = await getPool(this.deps.store.db, poolId);
    authorize(ctx, pool.project_id);
    const page = await listPage(this.deps.store.db, MEMBER_LIST, params, url, (eb) => eb('lb_members.pool_id', '=', pool.id));
    return { items: await renderMembers(this.deps.store.db, page.rows, page.fields), links: page.links };
  }

  private async memberOfPool(poolId: string, id: string): Promise<{ pool: PoolRow; member: MemberRow }> {
    const pool = await getPool(this.deps.store.db, poolId);
    const member = await getMember(this.deps.store.db, id);
    if (member.pool_id !== pool.id) throw lbErrors.notFound('Member', id);
    return { pool, member };
  }

  async show(ctx: RequestContext, poolId: string, id: string, fields?: string[]): Promise<Rendered> {
    const { member } = await this.memberOfPool(poolId, id);
    authorize(ctx, member.project_id);
    return (await renderMembers(this.deps.store.db, [member], fields))[0];
  }

  async create(ctx: RequestContext, poolId: string, b: MemberPost): Promise<Rendered> {
    const { deps } = this;
    const pool = await getPool(deps.store.db, poolId);
    const lb = await getLb(deps.store.db, pool.loadbalancer_id!);
    authorize(ctx, lb.project_id);
    checkNotReserved(b.address!);
    if (b.subnet_id) await checkSubnet(deps, ctx, b.subnet_id, b.address!);
    const id = newUuid();
    await deps.uow.run(async (w) => {
      const { trx } = w;
      await checkQuota(trx, lb.project_id, 'member');
      await lockPoolMembers(trx, pool);
      await insertMember(trx, pool, b, id);
      // The member alone (work.ts, 'lb_member'): the engine reads this row, not the pool's every member.
      w.changed('lb_member', id, lb.project_id, 'create');
    }, ctx);
    return this.show(ctx, pool.id, id);
  }

  async update(ctx: RequestContext, poolId: string, id: string, b: MemberPut): Promise<Rendered> {
    const { pool, member } = await this.memberOfPool(poolId, id);
    const lb = await getLb(this.deps.store.db, pool.loadbalancer_id!);
    authorize(ctx, lb.project_id);
    await this.deps.uow.run(async (w) => {
      const { trx } = w;
      await lockPoolMembers(trx, pool);
      const set: Updateable<LbMembersTable> = { provisioning_status: C.PROVISIONING.PENDING_UPDATE };
      if ('name' in b) set.name = b.name ?? '';
      if ('admin_state_up' in b && b.admin_state_up !== null) set.admin_state_up = b.admin_state_up ? 1 : 0;
      if ('weight' in b) set.weight = b.weight ?? C.DEFAULT_WEIGHT;
      if ('backup' in b) set.backup = b.backup ? 1 : 0;
      if ('monitor_port' in b) set.monitor_port = b.monitor_port ?? null;
      if ('monitor_address' in b) set.monitor_address = b.monitor_address ?? null;
      await trx.updateTable('lb_members').set(set).where('id', '=', member.id).execute();
      await writeTags(trx, 'member', member.id, b.tags);
      w.changed('lb_member', member.id, lb.project_id, 'update');
    }, ctx);
    return this.show(ctx, pool.id, member.id);
  }

  async delete(ctx: RequestContext, poolId: string, id: string): Promise<void> {
    const { pool, member } = await this.memberOfPool(poolId, id);
    const lb = await getLb(this.deps.store.db, pool.loadbalancer_id!);
    authorize(ctx, lb.project_id);
    await this.deps.uow.run(async (w) => {
      const { trx } = w;
      await lockPoolMembers(trx, pool);
      await trx.updateTable('lb_members').set({ provisioning_status: C.PROVISIONING.PENDING_DELETE }).where('id', '=', member.id).execute();
      w.changed('lb_member', member.id, lb.project_id, 'delete');
    }, ctx);
  }

  /**
   * PUT /pools/{id}/members: the listed members (matched by address and port) are created or
   * updated, the others deleted (kept with `additive_only`). A batch that changes nothing is a no-op.
   */
  async batchUpdate(ctx: RequestContext, poolId: string, batch: ReadonlyArray<MemberPost | null>, additiveOnly: boolean): Promise<void> {
    const { deps } = this;
    // No item is null: the body parser refuses null list items (wsme.ts).
    const members = batch.map((m) => m!);
    const pool = await getPool(deps.store.db, poolId);
    const lb = await getLb(deps.store.db, pool.loadbalancer_id!);
    authorize(ctx, lb.project_id);
    // Subnets are Neutron's: check them before the transaction (its connection is the store's).
    const current = await deps.store.db.selectFrom('lb_members').select(['address', 'protocol_port']).where('pool_id', '=', pool.id).execute();
    const existing = new Set(current.map((m) => `${ipToString(parseIp(m.address)!)}/${m.protocol_port}`));
    const checked = new Set<string>();
    for (const m of members) {
      if (existing.has(`${ipToString(parseIp(m.address)!)}/${m.protocol_port}`)) continue;
      checkNotReserved(m.address!);
      if (m.subnet_id && !checked.has(m.subnet_id)) {
        await checkSubnet(deps, ctx, m.subnet_id, m.address!);
        checked.add(m.subnet_id);
      }
    }
    await deps.uow.run(async (w) => {
      const { trx } = w;
      const old = await trx.selectFrom('lb_members').selectAll().where('pool_id', '=', pool.id).execute();
      const key = (address: string | null, port: number | null) => `${ipToString(parseIp(address)!)}/${port}`;
      const oldByKey = new Map(old.map((m) => [key(m.address, m.protocol_port), m]));
      const wanted = new Set(members.map((m) => key(m.address, m.protocol_port)));
      const fresh = members.filter((m) => !oldByKey.has(key(m.address, m.protocol_port)));
      const updated = members.filter((m) => oldByKey.has(key(m.address, m.protocol_port)));
      const removed = old.filter((m) => !wanted.has(key(m.address, m.protocol_port)));
      if (!fresh.length && !updated.length && !removed.length) return;
      await lockPoolMembers(trx, pool);
      const diff = additiveOnly ? fresh.length : fresh.length - removed.length;
      if (diff > 0) await checkQuota(trx, lb.project_id, 'member', diff);
      for (const m of fresh) await insertMember(trx, pool, m);
      for (const m of updated) {
        const row = oldByKey.get(key(m.address, m.protocol_port))!;
        await trx
          .updateTable('lb_members')
          .set({
            provisioning_status: C.PROVISIONING.PENDING_UPDATE,
            name: m.name ?? '',
            admin_state_up: m.admin_state_up === false ? 0 : 1,
            weight: m.weight ?? C.DEFAULT_WEIGHT,
            backup: m.backup ? 1 : 0,
            monitor_port: m.monitor_port ?? null,
            monitor_address: m.monitor_address ?? null,
            updated_at: octaviaTime(),
          })
          .where('id', '=', row.id)
          .execute();
        await writeTags(trx, 'member', row.id, m.tags);
      }
      if (!additiveOnly && removed.length) {
        await trx
          .updateTable('lb_members')
          .set({ provisioning_status: C.PROVISIONING.PENDING_DELETE, updated_at: octaviaTime() })
          .where(
            'id',
            'in',
            removed.map((m) => m.id),
          )
          .execute();
      }
      w.changed('loadbalancer', lb.id, lb.project_id, 'update');
    }, ctx);
  }
}
