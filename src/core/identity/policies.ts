import { fromJson } from '../../store/db.js';
import { hexId } from '../../util/ids.js';
import { isoMicros } from '../../util/time.js';
import { DomainError } from '../errors.js';
import type { Attrs, IdentityEnv } from './model.js';

export interface PolicyBlob {
  id: string;
  type: string;
  blob: string;
  extra: Attrs;
}

const KNOWN = ['id', 'type', 'blob', 'links'];
const policyNotFound = (id: string) => new DomainError('not_found', 'PolicyNotFound', `Could not find policy: ${id}.`);

/**
 * Keystone's policy API (/v3/policies): blobs with a MIME type, stored and shown as given. Like
 * Keystone's, it is deprecated and nothing enforces what it holds.
 */
export class Policies {
  constructor(private readonly env: IdentityEnv) {}

  async list(): Promise<PolicyBlob[]> {
    const rows = await this.env.store.db.selectFrom('policies').selectAll().orderBy('created_at').orderBy('id').execute();
    return rows.map((r) => ({ id: r.id, type: r.type, blob: r.blob, extra: fromJson<Attrs>(r.extra, {}) }));
  }

  async get(id: string): Promise<PolicyBlob> {
    const r = await this.env.store.db.selectFrom('policies').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) throw policyNotFound(id);
    return { id: r.id, type: r.type, blob: r.blob, extra: fromJson<Attrs>(r.extra, {}) };
  }

  async create(input: Attrs): Promise<PolicyBlob> {
    const id = hexId();
    const extra = Object.fromEntries(Object.entries(input).filter(([k]) => !KNOWN.includes(k)));
    await this.env.write({ id, op: 'create' }, async (trx) => {
      await trx
        .insertInto('policies')
        .values({ id, type: String(input.type), blob: String(input.blob), extra: JSON.stringify(extra), created_at: isoMicros() })
        .execute();
    });
    return this.get(id);
  }

  async update(id: string, patch: Attrs): Promise<PolicyBlob> {
    await this.env.write({ id, op: 'update' }, async (trx) => {
      const old = await trx.selectFrom('policies').selectAll().where('id', '=', id).executeTakeFirst();
      if (!old) throw policyNotFound(id);
      const extra = { ...fromJson<Attrs>(old.extra, {}), ...Object.fromEntries(Object.entries(patch).filter(([k]) => !KNOWN.includes(k))) };
      await trx
        .updateTable('policies')
        .set({
          type: patch.type !== undefined ? String(patch.type) : old.type,
          blob: patch.blob !== undefined ? String(patch.blob) : old.blob,
          extra: JSON.stringify(extra),
        })
        .where('id', '=', id)
        .execute();
    });
    return this.get(id);
  }

  async delete(id: string): Promise<void> {
    await this.env.write({ id, op: 'delete' }, async (trx) => {
      const res = await trx.deleteFrom('policies').where('id', '=', id).executeTakeFirst();
      if (Number(res.numDeletedRows) === 0) throw policyNotFound(id);
    });
  }
}
