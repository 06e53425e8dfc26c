import { fromJson, type Q } from '../../store/db.js';
import type { TrustsTable } from '../../store/schema.js';
import { hexId } from '../../util/ids.js';
import { isoMicros } from '../../util/time.js';
import type { Assignments } from './assignments.js';
import { expiryOf, timeMs } from './appcreds.js';
import { forbidden, forbiddenAction, notFound, validationError } from './errors.js';
import { type IdentityEnv, type Role, roleOf } from './model.js';

/** Keystone's [trust] max_redelegation_count. */
export const MAX_REDELEGATION_COUNT = 3;

export interface Trust {
  id: string;
  trustor_user_id: string;
  trustee_user_id: string;
  project_id: string | null;
  impersonation: boolean;
  /** "…Z" with microseconds, or null. */
  expires_at: string | null;
  remaining_uses: number | null;
  deleted_at: string | null;
  redelegated_trust_id: string | null;
  redelegation_count: number | null;
  roles: Role[];
  extra: Record<string, unknown>;
}

/** Trust expiry as stored and shown: "2027-01-01T00:00:00.000000Z". */
const zoned = (naive: string | null) => (naive === null ? null : `${naive}Z`);

/**
 * Trusts (OS-TRUST): a trustor delegates some of its roles on one project to a trustee, who gets
 * tokens scoped by the trust. The roles a trust-scoped token carries are the trust's that the
 * trustor still holds when the token is validated, so a trust never grants more than its
 * trustor has now. Redelegation follows keystone/trust/core.py: depth counted down from
 * `redelegation_count`, roles and expiry within the parent's, no impersonation the parent lacks.
 */
export class Trusts {
  constructor(
    private readonly env: IdentityEnv,
    private readonly assignments: Assignments,
  ) {}

  private async view(r: TrustsTable, q: Q): Promise<Trust> {
    const ids = fromJson<string[]>(r.roles, []);
    const rows = ids.length ? await q.selectFrom('roles').selectAll().where('id', 'in', ids).execute() : [];
    return {
      id: r.id,
      trustor_user_id: r.trustor_user_id,
      trustee_user_id: r.trustee_user_id,
      project_id: r.project_id,
      impersonation: !!r.impersonation,
      expires_at: zoned(r.expires_at),
      remaining_uses: r.remaining_uses,
      deleted_at: r.deleted_at,
      redelegated_trust_id: r.redelegated_trust_id,
      redelegation_count: r.redelegation_count,
      roles: ids.flatMap((id) => rows.filter((x) => x.id === id).map(roleOf)),
      extra: fromJson<Record<string, unknown>>(r.extra, {}),
    };
  }

  async row(id: string, q: Q = this.env.store.db): Promise<TrustsTable | undefined> {
    return q.selectFrom('trusts').selectAll().where('id', '=', id).where('deleted_at', 'is', null).executeTakeFirst();
  }

  async get(id: string, q: Q = this.env.store.db): Promise<Trust> {
    const r = await this.row(id, q);
    if (!r) throw notFound('trust', id);
    return this.view(r, q);
  }

  async list(f: { trustorId?: string; trusteeId?: string } = {}): Promise<Trust[]> {
    const db = this.env.store.db;
    let qb = db.selectFrom('trusts').selectAll().where('deleted_at', 'is', null);
    if (f.trustorId !== undefined) qb = qb.where('trustor_user_id', '=', f.trustorId);
    if (f.trusteeId !== undefined) qb = qb.where('trustee_user_id', '=', f.trusteeId);
    const rows = await qb.orderBy('created_at').orderBy('id').execute();
    return Promise.all(rows.map((r) => this.view(r, db)));
  }

  /** The trustor's effective role ids (implied included, domain roles kept) on the trust's project. */
  private async trustorRoles(trustorId: string, projectId: string | null, q: Q): Promise<Set<string>> {
    if (!projectId) return new Set();
    return new Set(await this.assignments.closure(await this.assignments.grantedRoleIds(trustorId, 'project', projectId, q), q));
  }

  /**
   * POST /v3/OS-TRUST/trusts for `callerId` (who must be the trustor). `parent` is the trust of
   * a trust-scoped caller token (redelegation).
   */
  async create(callerId: string, input: Record<string, unknown>, parentId?: string): Promise<Trust> {
    const roleRefs = (input.roles as Array<{ id?: string; name?: string }> | undefined) ?? [];
    const projectId = (input.project_id as string | null | undefined) || null;
    if (projectId && roleRefs.length === 0) throw forbiddenAction('At least one role should be specified');
    if (callerId !== input.trustor_user_id) throw forbiddenAction('The authenticated user should match the trustor');
    const id = hexId();
    return this.env.write({ id, projectId, op: 'create' }, async (trx) => {
      const trustee = await trx.selectFrom('users').select('id').where('id', '=', String(input.trustee_user_id)).executeTakeFirst();
      if (!trustee) throw notFound('user', String(input.trustee_user_id));
      const roleIds: string[] = [];
      for (const ref of roleRefs) {
        if (ref.id) roleIds.push(ref.id);
        else {
          const byName = await trx.selectFrom('roles').select('id').where('name', '=', String(ref.name)).where('domain_id', 'is', null).executeTakeFirst();
          if (!byName) throw notFound('role', String(ref.name));
          roleIds.push(byName.id);
        }
      }
      const parent = parentId ? await this.row(parentId, trx) : undefined;
      if (projectId) {
        const project = await trx.selectFrom('projects').select('id').where('id', '=', projectId).executeTakeFirst();
        if (!project) throw notFound('project', projectId);
      }
      // Keystone checks the roles against the original trustor of a chain.
      let origin = parent;
      while (origin?.redelegated_trust_id) origin = await this.row(origin.redelegated_trust_id, trx);
      const held = await this.trustorRoles(origin ? origin.trustor_user_id : callerId, origin ? origin.project_id : projectId, trx);
      for (const r of roleIds) if (!held.has(r)) throw notFound('role', r);

      let expiresAt = expiryOf(input.expires_at);
      const requested = input.redelegation_count as number | null | undefined;
      const redelegatable = input.allow_redelegation === true && requested !== 0;
      let count: number | null | undefined = requested;
      const remaining = (input.remaining_uses as number | null | undefined) ?? null;
      if (!redelegatable) {
        count = 0;
      } else {
        if (requested && requested > MAX_REDELEGATION_COUNT) throw forbidden();
        if (remaining !== null) throw validationError('remaining_uses must not be set if redelegation is allowed');
      }
      if (parent) {
        const left = (parent.redelegation_count ?? 0) - 1;
        if (redelegatable && requested && requested !== left) throw forbidden();
        if (count === undefined || count === null || !redelegatable) count = redelegatable ? left : 0;
        let t: TrustsTable | undefined = parent;
        while (t) {
          const depth = t.redelegation_count ?? 0;
          if (!(depth > 0 && depth <= MAX_REDELEGATION_COUNT)) throw forbidden();
          if (remaining !== null) throw forbidden();
          if (expiresAt) {
            if (t.expires_at && timeMs(t.expires_at) < timeMs(expiresAt)) throw forbidden();
          } else expiresAt = t.expires_at;
          const parentRoles = new Set(fromJson<string[]>(t.roles, []));
          if (!roleIds.every((r) => parentRoles.has(r))) throw forbidden();
          if (!t.impersonation && input.impersonation === true) throw forbidden();
          t = t.redelegated_trust_id ? await this.row(t.redelegated_trust_id, trx) : undefined;
        }
      }
      if (count === undefined || count === null) count = MAX_REDELEGATION_COUNT;
      const known = [
        'trustor_user_id',
        'trustee_user_id',
        'impersonation',
        'project_id',
        'remaining_uses',
        'expires_at',
        'allow_redelegation',
        'redelegation_count',
        'roles',
        'id',
        'links',
      ];
      const extra = Object.fromEntries(Object.entries(input).filter(([k]) => !known.includes(k)));
      await trx
        .insertInto('trusts')
        .values({
          id,
          trustor_user_id: callerId,
          trustee_user_id: String(input.trustee_user_id),
          project_id: projectId,
          impersonation: input.impersonation === true ? 1 : 0,
          expires_at: expiresAt,
          remaining_uses: remaining,
          redelegated_trust_id: parent?.id ?? null,
          redelegation_count: count,
          roles: JSON.stringify(roleIds),
          extra: JSON.stringify(extra),
          deleted_at: null,
          created_at: isoMicros(),
        })
        .execute();
      return this.view((await this.row(id, trx))!, trx);
    });
  }

  /** Delete a trust and the trusts redelegated from it; their tokens stop at once. */
  async delete(id: string): Promise<void> {
    await this.env.write({ id, op: 'delete' }, async (trx) => {
      if (!(await this.row(id, trx))) throw notFound('trust', id);
      const now = isoMicros();
      for (let todo = [id]; todo.length; ) {
        const tid = todo.shift()!;
        await trx.updateTable('trusts').set({ deleted_at: now }).where('id', '=', tid).execute();
        await trx.updateTable('tokens').set({ revoked: 1 }).where('trust_id', '=', tid).execute();
        const children = await trx.selectFrom('trusts').select('id').where('redelegated_trust_id', '=', tid).where('deleted_at', 'is', null).execute();
        todo.push(...children.map((c) => c.id));
      }
    });
  }

  /**
   * Consume a trust for a token: the trustee must be the authenticated user, the trust unexpired
   * with uses left (one is used). Returns the trust.
   */
  async consume(id: string, userId: string): Promise<TrustsTable | null> {
    return this.env.write({ id, op: 'update' }, async (trx) => {
      const t = await this.row(id, trx);
      if (!t || t.trustee_user_id !== userId) return null;
      if (t.expires_at && timeMs(t.expires_at) <= Date.now()) return null;
      if (t.remaining_uses !== null) {
        if (t.remaining_uses <= 0) return null;
        await trx
          .updateTable('trusts')
          .set({ remaining_uses: t.remaining_uses - 1 })
          .where('id', '=', id)
          .execute();
      }
      return t;
    });
  }

  /** The roles a trust gives now: its roles (and those they imply) that the trustor still holds. */
  async effectiveRoles(t: TrustsTable, q: Q = this.env.store.db): Promise<Role[]> {
    const held = await this.trustorRoles(t.trustor_user_id, t.project_id, q);
    const granted = await this.assignments.closure(fromJson<string[]>(t.roles, []), q);
    const ids = granted.filter((r) => held.has(r));
    if (ids.length === 0) return [];
    const rows = await q.selectFrom('roles').selectAll().where('id', 'in', ids).where('domain_id', 'is', null).execute();
    return ids.flatMap((rid) => rows.filter((r) => r.id === rid).map(roleOf));
  }
}
