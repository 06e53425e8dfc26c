import type { Q, Tx } from '../../store/db.js';
import { roleAssignmentNotFound } from './errors.js';
import type { IdentityEnv, Role } from './model.js';
import { roleOf } from './model.js';

export type TargetType = 'project' | 'domain' | 'system';

/** The system target is one row id: Keystone's only system is "all". */
export const SYSTEM_ALL = 'all';

/** One (possibly inferred) role assignment, as Keystone's assignment API lists them. */
export interface Assignment {
  userId: string;
  targetType: TargetType;
  targetId: string;
  roleId: string;
  /** For an assignment inferred from an implied role: the role that implies it. */
  priorRoleId?: string;
}

export interface AssignmentFilters {
  userId?: string;
  roleId?: string;
  projectId?: string;
  domainId?: string;
  system?: boolean;
  /** Expand implied roles (Keystone's `effective`). */
  effective?: boolean;
}

/** User role grants on projects, domains and the system, and their expansion by implied roles. */
export class Assignments {
  constructor(private readonly env: IdentityEnv) {}

  /** Ids of the roles granted directly to a user on one target. */
  private direct(q: Q, userId: string, targetType: TargetType, targetId: string) {
    return q
      .selectFrom('role_assignments')
      .select('role_id')
      .where('actor_id', '=', userId)
      .where('target_type', '=', targetType)
      .where('target_id', '=', targetId);
  }

  async exists(userId: string, targetType: TargetType, targetId: string, roleId: string, q: Q = this.env.store.db): Promise<boolean> {
    return !!(await this.direct(q, userId, targetType, targetId).where('role_id', '=', roleId).executeTakeFirst());
  }

  /**
   * Grant (idempotent). The caller has checked that user, target and role exist. Inside the
   * caller's transaction (`trx`, bootstrap), the caller records the change.
   */
  async grant(userId: string, targetType: TargetType, targetId: string, roleId: string, trx?: Tx): Promise<void> {
    const run = async (q: Q) => {
      if (!(await this.exists(userId, targetType, targetId, roleId, q))) {
        await q.insertInto('role_assignments').values({ actor_id: userId, target_type: targetType, target_id: targetId, role_id: roleId }).execute();
      }
    };
    if (trx) await run(trx);
    else await this.env.write({ id: userId, projectId: targetType === 'project' ? targetId : null, op: 'update' }, run);
  }

  async check(userId: string, targetType: TargetType, targetId: string, roleId: string): Promise<void> {
    if (!(await this.exists(userId, targetType, targetId, roleId))) throw roleAssignmentNotFound(roleId, userId, targetId);
  }

  async revoke(userId: string, targetType: TargetType, targetId: string, roleId: string): Promise<void> {
    await this.env.write({ id: userId, projectId: targetType === 'project' ? targetId : null, op: 'update' }, async (trx) => {
      const res = await trx
        .deleteFrom('role_assignments')
        .where('actor_id', '=', userId)
        .where('target_type', '=', targetType)
        .where('target_id', '=', targetId)
        .where('role_id', '=', roleId)
        .executeTakeFirst();
      if (Number(res.numDeletedRows) === 0) throw roleAssignmentNotFound(roleId, userId, targetId);
    });
  }

  /** Roles granted directly to a user on one target. */
  async grants(userId: string, targetType: TargetType, targetId: string): Promise<Role[]> {
    const db = this.env.store.db;
    const rows = await db
      .selectFrom('roles')
      .selectAll()
      .where('id', 'in', this.direct(db, userId, targetType, targetId))
      .orderBy('name')
      .execute();
    return rows.map(roleOf);
  }

  /** Keystone's role assignment list, optionally with implied roles expanded. */
  async list(f: AssignmentFilters, q: Q = this.env.store.db): Promise<Assignment[]> {
    let qb = q.selectFrom('role_assignments').selectAll();
    if (f.userId !== undefined) qb = qb.where('actor_id', '=', f.userId);
    if (f.projectId !== undefined) qb = qb.where('target_type', '=', 'project').where('target_id', '=', f.projectId);
    if (f.domainId !== undefined) qb = qb.where('target_type', '=', 'domain').where('target_id', '=', f.domainId);
    if (f.system) qb = qb.where('target_type', '=', 'system');
    // Without `effective`, role.id filters the stored grants; with it, the expanded list.
    if (f.roleId !== undefined && !f.effective) qb = qb.where('role_id', '=', f.roleId);
    const rows = await qb.orderBy('target_type').orderBy('target_id').orderBy('actor_id').execute();
    let out: Assignment[] = rows.map((r) => ({ userId: r.actor_id, targetType: r.target_type as TargetType, targetId: r.target_id, roleId: r.role_id }));
    if (f.effective) {
      out = await this.expand(out, q);
      if (f.roleId !== undefined) out = out.filter((a) => a.roleId === f.roleId);
    }
    return out;
  }

  /**
   * Add, for every assignment, one copy per role its role implies (transitively), each naming
   * the role it was inferred from, as Keystone's `add_implied_roles` does.
   */
  private async expand(direct: Assignment[], q: Q): Promise<Assignment[]> {
    if (direct.length === 0) return direct;
    const rules = await q.selectFrom('implied_roles').selectAll().execute();
    const impliedBy = new Map<string, string[]>();
    for (const r of rules) impliedBy.set(r.prior_role_id, [...(impliedBy.get(r.prior_role_id) ?? []), r.implied_role_id]);
    const out: Assignment[] = [];
    const key = (a: Assignment) => `${a.userId}/${a.targetType}/${a.targetId}/${a.roleId}/${a.priorRoleId ?? ''}`;
    const seen = new Set<string>();
    const todo = [...direct];
    while (todo.length) {
      const a = todo.shift()!;
      if (seen.has(key(a))) continue;
      seen.add(key(a));
      out.push(a);
      for (const implied of impliedBy.get(a.roleId) ?? []) todo.push({ ...a, roleId: implied, priorRoleId: a.roleId });
    }
    return out;
  }

  /** Effective roles (with implied ones) of a user on one target, each role once. */
  async effectiveRoles(userId: string, targetType: TargetType, targetId: string, q: Q = this.env.store.db): Promise<Array<{ id: string; name: string }>> {
    const direct = await this.direct(q, userId, targetType, targetId).execute();
    if (direct.length === 0) return [];
    const rules = await q.selectFrom('implied_roles').selectAll().execute();
    const ids = new Set(direct.map((d) => d.role_id));
    for (let grew = true; grew; ) {
      grew = false;
      for (const r of rules) {
        if (ids.has(r.prior_role_id) && !ids.has(r.implied_role_id)) {
          ids.add(r.implied_role_id);
          grew = true;
        }
      }
    }
    const roles = await q
      .selectFrom('roles')
      .select(['id', 'name'])
      .where('id', 'in', [...ids])
      .execute();
    // Direct roles first, then inferred ones, as Keystone lists them.
    const order = [...ids];
    return roles.sort((a, b) => order.indexOf(a.id) - order.indexOf(b.id));
  }

  /** Ids of the projects (or domains) on which the user has any role. */
  async targetsOf(userId: string, targetType: 'project' | 'domain'): Promise<string[]> {
    const rows = await this.env.store.db
      .selectFrom('role_assignments')
      .select('target_id')
      .distinct()
      .where('actor_id', '=', userId)
      .where('target_type', '=', targetType)
      .execute();
    return rows.map((r) => r.target_id);
  }
}
