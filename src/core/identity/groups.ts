import type { Updateable } from 'kysely';
import { fromJson, isUniqueViolation, type Q } from '../../store/db.js';
import type { GroupsTable } from '../../store/schema.js';
import { hexId } from '../../util/ids.js';
import { isoMicros } from '../../util/time.js';
import { conflict, notFound, notFoundTarget, validationError } from './errors.js';
import { type Attrs, type IdentityEnv, mergedExtra, splitExtra, type User, USER_COLUMNS, userOf } from './model.js';

const KNOWN = ['id', 'name', 'domain_id', 'description', 'links'];

export interface Group {
  id: string;
  name: string;
  domain_id: string;
  description: string | null;
  extra: Attrs;
}

const groupOf = (r: GroupsTable): Group => ({
  id: r.id,
  name: r.name,
  domain_id: r.domain_id,
  description: r.description,
  extra: fromJson<Attrs>(r.extra, {}),
});

const duplicate = (name: string, domainId: string) => conflict('group', `Duplicate entry found with name ${name} at domain ID ${domainId}`);
const notMember = (userId: string, groupId: string) => notFoundTarget(`User '${userId}' not found in group '${groupId}'`);

/**
 * Keystone groups and their members. Roles granted to a group are every member's (assignments.ts);
 * removing a member, or deleting a group that holds roles, revokes the members' tokens as
 * Keystone's identity manager does (_persist_revocation_event_for_user).
 */
export class Groups {
  constructor(private readonly env: IdentityEnv) {}

  async list(f: { domain_id?: string; ids?: string[] } = {}, q: Q = this.env.store.db): Promise<Group[]> {
    if (f.ids && f.ids.length === 0) return [];
    let qb = q.selectFrom('groups').selectAll();
    if (f.domain_id !== undefined) qb = qb.where('domain_id', '=', f.domain_id);
    if (f.ids) qb = qb.where('id', 'in', f.ids);
    return (await qb.orderBy('created_at').orderBy('id').execute()).map(groupOf);
  }

  async find(id: string, q: Q = this.env.store.db): Promise<Group | undefined> {
    const row = await q.selectFrom('groups').selectAll().where('id', '=', id).executeTakeFirst();
    return row && groupOf(row);
  }

  async get(id: string, q: Q = this.env.store.db): Promise<Group> {
    const g = await this.find(id, q);
    if (!g) throw notFound('group', id);
    return g;
  }

  async create(input: Attrs & { domain_id: string }): Promise<Group> {
    const id = hexId();
    const name = String(input.name).trim();
    return this.env.write({ id, op: 'create' }, async (trx) => {
      const domain = await trx.selectFrom('domains').select('id').where('id', '=', input.domain_id).executeTakeFirst();
      if (!domain) throw notFound('domain', input.domain_id);
      try {
        await trx
          .insertInto('groups')
          .values({
            id,
            name,
            domain_id: input.domain_id,
            description: (input.description as string | null | undefined) ?? null,
            extra: JSON.stringify(splitExtra(input, KNOWN)),
            created_at: isoMicros(),
          })
          .execute();
      } catch (e) {
        if (isUniqueViolation(e)) throw duplicate(name, input.domain_id);
        throw e;
      }
      return this.get(id, trx);
    });
  }

  async update(id: string, patch: Attrs): Promise<Group> {
    return this.env.write({ id, op: 'update' }, async (trx) => {
      const old = await this.get(id, trx);
      if (patch.domain_id !== undefined && patch.domain_id !== old.domain_id) throw validationError('Cannot change Domain ID');
      const set: Updateable<GroupsTable> = {};
      if (patch.name !== undefined) set.name = String(patch.name).trim();
      if (patch.description !== undefined) set.description = (patch.description as string | null) ?? null;
      set.extra = mergedExtra(old.extra, patch, KNOWN);
      try {
        await trx
          .updateTable('groups')
          .set(Object.fromEntries(Object.entries(set).filter(([, v]) => v !== undefined)))
          .where('id', '=', id)
          .execute();
      } catch (e) {
        if (isUniqueViolation(e)) throw duplicate(String(set.name), old.domain_id);
        throw e;
      }
      return this.get(id, trx);
    });
  }

  async delete(id: string): Promise<void> {
    await this.env.write({ id, op: 'delete' }, async (trx) => {
      await this.get(id, trx);
      const members = await this.memberIds(id, trx);
      const hadRoles = await trx.selectFrom('role_assignments').select('role_id').where('actor_id', '=', id).executeTakeFirst();
      await trx.deleteFrom('role_assignments').where('actor_id', '=', id).execute();
      await trx.deleteFrom('group_members').where('group_id', '=', id).execute();
      await trx.deleteFrom('groups').where('id', '=', id).execute();
      if (hadRoles && members.length) await trx.updateTable('tokens').set({ revoked: 1 }).where('user_id', 'in', members).execute();
    });
  }

  private async memberIds(groupId: string, q: Q): Promise<string[]> {
    return (await q.selectFrom('group_members').select('user_id').where('group_id', '=', groupId).execute()).map((r) => r.user_id);
  }

  async members(groupId: string): Promise<User[]> {
    const db = this.env.store.db;
    await this.get(groupId);
    const rows = await db
      .selectFrom('users')
      .select(USER_COLUMNS)
      .where('id', 'in', db.selectFrom('group_members').select('user_id').where('group_id', '=', groupId))
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(userOf);
  }

  /** Groups the user belongs to. */
  async ofUser(userId: string, q: Q = this.env.store.db): Promise<Group[]> {
    const rows = await q
      .selectFrom('groups')
      .selectAll()
      .where('id', 'in', q.selectFrom('group_members').select('group_id').where('user_id', '=', userId))
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(groupOf);
  }

  private async checkBoth(groupId: string, userId: string, q: Q): Promise<void> {
    await this.get(groupId, q);
    const u = await q.selectFrom('users').select('id').where('id', '=', userId).executeTakeFirst();
    if (!u) throw notFound('user', userId);
  }

  async addMember(groupId: string, userId: string): Promise<void> {
    await this.env.write({ id: groupId, op: 'update' }, async (trx) => {
      await this.checkBoth(groupId, userId, trx);
      const have = await trx.selectFrom('group_members').select('user_id').where('group_id', '=', groupId).where('user_id', '=', userId).executeTakeFirst();
      if (!have) await trx.insertInto('group_members').values({ group_id: groupId, user_id: userId }).execute();
    });
  }

  async checkMember(groupId: string, userId: string): Promise<void> {
    const db = this.env.store.db;
    await this.checkBoth(groupId, userId, db);
    const have = await db.selectFrom('group_members').select('user_id').where('group_id', '=', groupId).where('user_id', '=', userId).executeTakeFirst();
    if (!have) throw notMember(userId, groupId);
  }

  /** Remove a member; the user's tokens are revoked (roles it had through the group go with them). */
  async removeMember(groupId: string, userId: string): Promise<void> {
    await this.env.write({ id: groupId, op: 'update' }, async (trx) => {
      const res = await trx.deleteFrom('group_members').where('group_id', '=', groupId).where('user_id', '=', userId).executeTakeFirst();
      if (Number(res.numDeletedRows) === 0) {
        await this.checkBoth(groupId, userId, trx);
        throw notMember(userId, groupId);
      }
      await trx.updateTable('tokens').set({ revoked: 1 }).where('user_id', '=', userId).execute();
    });
  }
}
