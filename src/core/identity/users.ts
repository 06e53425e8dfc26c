import type { Updateable } from 'kysely';
import { isUniqueViolation, type Q } from '../../store/db.js';
import type { UsersTable } from '../../store/schema.js';
import { hexId } from '../../util/ids.js';
import { isoMicros } from '../../util/time.js';
import { unauthorized } from '../errors.js';
import { conflict, notFound, validationError } from './errors.js';
import { type Attrs, type IdentityEnv, type User, USER_COLUMNS, mergedExtra, splitExtra, updateRow, userOf } from './model.js';
import { hashPassword, verifyPassword } from './passwords.js';
import { mergeOptions } from './projects.js';

const KNOWN = ['id', 'name', 'domain_id', 'enabled', 'default_project_id', 'password', 'options', 'federated', 'links', 'password_expires_at'];

export interface UserFilters {
  name?: string;
  domain_id?: string;
  enabled?: boolean;
  ids?: string[];
}

const duplicate = (name: string, domainId: string) => conflict('user', `Duplicate entry found with name ${name} at domain ID ${domainId}`);

/**
 * Keystone users. Passwords are scrypt-hashed here and never leave this module; a password
 * change, a disable or a delete revokes the user's tokens.
 */
export class Users {
  constructor(private readonly env: IdentityEnv) {}

  async list(f: UserFilters = {}, q: Q = this.env.store.db): Promise<User[]> {
    if (f.ids && f.ids.length === 0) return [];
    let qb = q.selectFrom('users').select(USER_COLUMNS);
    if (f.name !== undefined) qb = qb.where('name', '=', f.name);
    if (f.domain_id !== undefined) qb = qb.where('domain_id', '=', f.domain_id);
    if (f.enabled !== undefined) qb = qb.where('enabled', '=', f.enabled ? 1 : 0);
    if (f.ids) qb = qb.where('id', 'in', f.ids);
    return (await qb.orderBy('created_at').orderBy('name').orderBy('id').execute()).map(userOf);
  }

  async find(id: string, q: Q = this.env.store.db): Promise<User | undefined> {
    const row = await q.selectFrom('users').select(USER_COLUMNS).where('id', '=', id).executeTakeFirst();
    return row && userOf(row);
  }

  async get(id: string, q: Q = this.env.store.db): Promise<User> {
    const u = await this.find(id, q);
    if (!u) throw notFound('user', id);
    return u;
  }

  async findByName(name: string, domainId: string, q: Q = this.env.store.db): Promise<User | undefined> {
    const row = await q.selectFrom('users').select(USER_COLUMNS).where('name', '=', name).where('domain_id', '=', domainId).executeTakeFirst();
    return row && userOf(row);
  }

  private async assertDefaultProjectNotDomain(id: unknown, q: Q): Promise<void> {
    if (typeof id !== 'string' || !id) return;
    const d = await q.selectFrom('domains').select('id').where('id', '=', id).executeTakeFirst();
    if (d) throw validationError(`User's default project ID cannot be a domain ID: ${id}`);
  }

  async create(input: Attrs & { domain_id: string }): Promise<User> {
    const id = hexId();
    const name = String(input.name).trim();
    // Hash outside the transaction: scrypt takes tens of milliseconds.
    const hash = typeof input.password === 'string' ? await hashPassword(input.password) : null;
    return this.env.write({ id, op: 'create' }, async (trx) => {
      const domain = await trx.selectFrom('domains').select('id').where('id', '=', input.domain_id).executeTakeFirst();
      if (!domain) throw notFound('domain', input.domain_id);
      await this.assertDefaultProjectNotDomain(input.default_project_id, trx);
      try {
        await trx
          .insertInto('users')
          .values({
            id,
            name,
            domain_id: input.domain_id,
            password_hash: hash,
            enabled: input.enabled === false ? 0 : 1,
            default_project_id: (input.default_project_id as string | null | undefined) ?? null,
            extra: JSON.stringify(splitExtra(input, KNOWN)),
            options: JSON.stringify(mergeOptions({}, (input.options as Attrs | undefined) ?? {})),
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

  async update(id: string, patch: Attrs): Promise<User> {
    const hash = typeof patch.password === 'string' ? await hashPassword(patch.password) : undefined;
    return this.env.write({ id, op: 'update' }, async (trx) => {
      const old = await this.get(id, trx);
      if (patch.domain_id !== undefined && patch.domain_id !== old.domain_id) throw validationError('Cannot change Domain ID');
      if (patch.id !== undefined && patch.id !== id) throw validationError('Cannot change user ID');
      await this.assertDefaultProjectNotDomain(patch.default_project_id, trx);
      const set: Updateable<UsersTable> = {};
      if (patch.name !== undefined) set.name = String(patch.name).trim();
      if (patch.enabled !== undefined) set.enabled = patch.enabled ? 1 : 0;
      if (patch.default_project_id !== undefined) set.default_project_id = (patch.default_project_id as string | null) ?? null;
      if (patch.password !== undefined) set.password_hash = hash ?? null;
      if (patch.options !== undefined) set.options = JSON.stringify(mergeOptions(old.options, patch.options as Attrs));
      set.extra = mergedExtra(old.extra, patch, KNOWN);
      await updateRow(trx, 'users', id, set, () => duplicate(String(set.name), old.domain_id));
      // Keystone revokes a user's tokens when it is disabled or its password is set.
      if ((patch.enabled === false && old.enabled) || (patch.password !== undefined && patch.password !== null)) {
        await trx.updateTable('tokens').set({ revoked: 1 }).where('user_id', '=', id).execute();
      }
      // Disabling a user deletes its application credentials (application_credential/core.py).
      if (patch.enabled === false && old.enabled) await trx.deleteFrom('application_credentials').where('user_id', '=', id).execute();
      return this.get(id, trx);
    });
  }

  /** Self-service password change; any mismatch is a bare 401. Revokes the user's tokens. */
  async changePassword(id: string, original: string, password: string): Promise<void> {
    const row = await this.env.store.db.selectFrom('users').select(['password_hash', 'enabled']).where('id', '=', id).executeTakeFirst();
    if (!row || !(await verifyPassword(original, row.password_hash))) throw unauthorized();
    const hash = await hashPassword(password);
    await this.env.write({ id, op: 'update' }, async (trx) => {
      await trx.updateTable('users').set({ password_hash: hash }).where('id', '=', id).execute();
      await trx.updateTable('tokens').set({ revoked: 1 }).where('user_id', '=', id).execute();
    });
  }

  async delete(id: string): Promise<void> {
    await this.env.write({ id, op: 'delete' }, async (trx) => {
      await this.get(id, trx);
      await trx.deleteFrom('role_assignments').where('actor_id', '=', id).execute();
      await trx.deleteFrom('group_members').where('user_id', '=', id).execute();
      // Its application credentials, access rules, credentials and trusts go with it, as in Keystone.
      await trx.deleteFrom('application_credentials').where('user_id', '=', id).execute();
      await trx.deleteFrom('access_rules').where('user_id', '=', id).execute();
      await trx.deleteFrom('credentials').where('user_id', '=', id).execute();
      await trx
        .updateTable('trusts')
        .set({ deleted_at: isoMicros() })
        .where((eb) => eb.or([eb('trustor_user_id', '=', id), eb('trustee_user_id', '=', id)]))
        .where('deleted_at', 'is', null)
        .execute();
      await trx.updateTable('tokens').set({ revoked: 1 }).where('user_id', '=', id).execute();
      await trx.deleteFrom('users').where('id', '=', id).execute();
    });
  }

  /** The user's password hash (for authentication only). */
  async passwordHash(id: string): Promise<string | null> {
    const row = await this.env.store.db.selectFrom('users').select('password_hash').where('id', '=', id).executeTakeFirst();
    return row?.password_hash ?? null;
  }
}
