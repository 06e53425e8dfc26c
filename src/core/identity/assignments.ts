import type { Q, Tx } from '../../store/db.js';
import { roleAssignmentNotFound } from './errors.js';
import type { IdentityEnv, Role } from './model.js';
import { roleOf } from './model.js';

export type TargetType = 'project' | 'domain' | 'system';
export type ActorType = 'user' | 'group';

/** The system target is one row id: Keystone's only system is "all". */
export const SYSTEM_ALL = 'all';

/** One (possibly inferred) role assignment, as Keystone's assignment API lists them. */
export interface Assignment {
  /** The user (a direct grant, or one expanded from a group by `effective`); absent for a group's own grant. */
  userId?: string;
  /** The group of a group grant; with `userId`, the group the user has the role through. */
  groupId?: string;
  targetType: TargetType;
  targetId: string;
  roleId: string;
  /** For an assignment inferred from an implied role: the role that implies it. */
  priorRoleId?: string;
  /**
   * OS-INHERIT. As stored: a grant the projects below its target inherit (not the target's own).
   * Expanded (`effective`): an assignment on a project that a grant on its domain or on one of its
   * ancestors gives it, with `from` naming that grant's target.
   */
  inherited?: { from?: { type: 'domain' | 'project'; id: string } };
}

export interface AssignmentFilters {
  userId?: string;
  groupId?: string;
  roleId?: string;
  projectId?: string;
  /** With `projectId`: that project and every project below it (Keystone's `include_subtree`). */
  includeSubtree?: boolean;
  domainId?: string;
  system?: boolean;
  /** Expand group grants to their members, inherited grants to the projects below, and implied roles (Keystone's `effective`). */
  effective?: boolean;
  /**
   * `scope.OS-INHERIT:inherited_to`: true (`projects`), only grants the projects below their target
   * inherit; false (any other value), only the others; absent, both.
   */
  inherited?: boolean;
}

/**
 * Where every project sits, read once by a call that walks inheritance: what an inherited grant on
 * a domain or project reaches (the domain's projects, or the project's subtree without it).
 */
class ProjectTree {
  private readonly children = new Map<string, string[]>();
  private readonly ofDomain = new Map<string, string[]>();

  constructor(places: Array<{ id: string; parent_id: string | null; domain_id: string }>) {
    for (const p of places) {
      if (p.parent_id) this.children.set(p.parent_id, [...(this.children.get(p.parent_id) ?? []), p.id]);
      this.ofDomain.set(p.domain_id, [...(this.ofDomain.get(p.domain_id) ?? []), p.id]);
    }
  }

  below(targetType: TargetType, targetId: string): string[] {
    if (targetType === 'domain') return this.ofDomain.get(targetId) ?? [];
    if (targetType !== 'project') return [];
    const out: string[] = [];
    const todo = [...(this.children.get(targetId) ?? [])];
    while (todo.length) {
      const id = todo.shift()!;
      out.push(id);
      todo.push(...(this.children.get(id) ?? []));
    }
    return out;
  }
}

export interface Actor {
  type: ActorType;
  id: string;
}

/**
 * Role grants to users and groups on projects, domains and the system; their expansion through
 * group membership and implied roles. Roles owned by a domain are never effective themselves:
 * they only carry the roles they imply, as Keystone's _remove_domain_specific_roles does.
 */
export class Assignments {
  constructor(private readonly env: IdentityEnv) {}

  /** Ids of the roles granted directly to an actor on one target (or, `inherited`, to the projects below it). */
  private direct(q: Q, actor: Actor, targetType: TargetType, targetId: string, inherited = false) {
    return q
      .selectFrom('role_assignments')
      .select('role_id')
      .where('actor_id', '=', actor.id)
      .where('actor_type', '=', actor.type)
      .where('target_type', '=', targetType)
      .where('target_id', '=', targetId)
      .where('inherited', '=', inherited ? 1 : 0);
  }

  async exists(actor: Actor, targetType: TargetType, targetId: string, roleId: string, q: Q = this.env.store.db, inherited = false): Promise<boolean> {
    return !!(await this.direct(q, actor, targetType, targetId, inherited).where('role_id', '=', roleId).executeTakeFirst());
  }

  /**
   * Grant (idempotent). The caller has checked that actor, target and role exist. Inside the
   * caller's transaction (`trx`, bootstrap), the caller records the change.
   */
  async grant(actor: Actor | string, targetType: TargetType, targetId: string, roleId: string, trx?: Tx, inherited = false): Promise<void> {
    const a = typeof actor === 'string' ? { type: 'user' as const, id: actor } : actor;
    const run = async (q: Q) => {
      if (!(await this.exists(a, targetType, targetId, roleId, q, inherited))) {
        await q
          .insertInto('role_assignments')
          .values({ actor_id: a.id, actor_type: a.type, target_type: targetType, target_id: targetId, role_id: roleId, inherited: inherited ? 1 : 0 })
          .execute();
      }
    };
    if (trx) await run(trx);
    else await this.env.write({ id: a.id, projectId: targetType === 'project' ? targetId : null, op: 'update' }, run);
  }

  async check(actor: Actor, targetType: TargetType, targetId: string, roleId: string, inherited = false): Promise<void> {
    if (!(await this.exists(actor, targetType, targetId, roleId, undefined, inherited))) throw roleAssignmentNotFound(roleId, actor.id, targetId);
  }

  /** Remove a grant. Tokens resolve their roles when validated, so the role leaves them at once. */
  async revoke(actor: Actor, targetType: TargetType, targetId: string, roleId: string, inherited = false): Promise<void> {
    await this.env.write({ id: actor.id, projectId: targetType === 'project' ? targetId : null, op: 'update' }, async (trx) => {
      const res = await trx
        .deleteFrom('role_assignments')
        .where('actor_id', '=', actor.id)
        .where('actor_type', '=', actor.type)
        .where('target_type', '=', targetType)
        .where('target_id', '=', targetId)
        .where('role_id', '=', roleId)
        .where('inherited', '=', inherited ? 1 : 0)
        .executeTakeFirst();
      if (Number(res.numDeletedRows) === 0) throw roleAssignmentNotFound(roleId, actor.id, targetId);
      // Keystone deletes a user's application credentials on a project when a role there is
      // removed (REMOVE_APP_CREDS_FOR_USER), so none outlives the roles it was made from. An
      // inherited grant gives the project itself no role.
      if (actor.type === 'user' && targetType === 'project' && !inherited) {
        await trx.deleteFrom('application_credentials').where('user_id', '=', actor.id).where('project_id', '=', targetId).execute();
      }
    });
  }

  /** Roles granted directly to an actor on one target (or, `inherited`, to the projects below it). */
  async grants(actor: Actor, targetType: TargetType, targetId: string, inherited = false): Promise<Role[]> {
    const db = this.env.store.db;
    const rows = await db
      .selectFrom('roles')
      .selectAll()
      .where('id', 'in', this.direct(db, actor, targetType, targetId, inherited))
      .orderBy('name')
      .execute();
    return rows.map(roleOf);
  }

  /**
   * Keystone's role assignment list, optionally expanded (`effective`). As stored, a target filter
   * matches the grants on that target, inherited ones included (marked); expanded, as Keystone's
   * _list_effective_role_assignments, an inherited grant applies to every project below its target
   * (a domain's projects, a project's subtree) and not to the target itself.
   */
  async list(f: AssignmentFilters, q: Q = this.env.store.db): Promise<Assignment[]> {
    let qb = q.selectFrom('role_assignments').selectAll();
    // The project tree is read at most once, by whichever of include_subtree and inheritance needs it first.
    let tree: ProjectTree | undefined;
    const treeOf = async () => (tree ??= await this.tree(q));
    const projects = f.projectId === undefined ? undefined : [f.projectId, ...(f.includeSubtree ? (await treeOf()).below('project', f.projectId) : [])];
    if (!f.effective) {
      if (projects) qb = qb.where('target_type', '=', 'project').where('target_id', 'in', projects);
      if (f.domainId !== undefined) qb = qb.where('target_type', '=', 'domain').where('target_id', '=', f.domainId);
      if (f.system) qb = qb.where('target_type', '=', 'system');
      if (f.userId !== undefined) qb = qb.where('actor_type', '=', 'user').where('actor_id', '=', f.userId);
      if (f.groupId !== undefined) qb = qb.where('actor_type', '=', 'group').where('actor_id', '=', f.groupId);
      if (f.roleId !== undefined) qb = qb.where('role_id', '=', f.roleId);
      if (f.inherited !== undefined) qb = qb.where('inherited', '=', f.inherited ? 1 : 0);
    } else if (f.userId !== undefined) {
      // The user's own grants and those of its groups.
      const groups = q.selectFrom('group_members').select('group_id').where('user_id', '=', f.userId);
      qb = qb.where((eb) =>
        eb.or([
          eb.and([eb('actor_type', '=', 'user'), eb('actor_id', '=', f.userId!)]),
          eb.and([eb('actor_type', '=', 'group'), eb('actor_id', 'in', groups)]),
        ]),
      );
    }
    const rows = await qb.orderBy('target_type').orderBy('target_id').orderBy('actor_id').orderBy('role_id').orderBy('inherited').execute();
    let out: Assignment[] = rows.map((r) => ({
      ...(r.actor_type === 'group' ? { groupId: r.actor_id } : { userId: r.actor_id }),
      targetType: r.target_type as TargetType,
      targetId: r.target_id,
      roleId: r.role_id,
      ...(r.inherited ? { inherited: {} } : {}),
    }));
    if (f.effective) {
      out = await this.expandInherited(out, treeOf);
      out = out.filter(
        (a) =>
          (projects === undefined || (a.targetType === 'project' && projects.includes(a.targetId))) &&
          (f.domainId === undefined || (a.targetType === 'domain' && a.targetId === f.domainId)) &&
          (!f.system || a.targetType === 'system') &&
          (f.inherited === undefined || (a.inherited !== undefined) === f.inherited),
      );
      out = await this.expandGroups(out, q);
      if (f.userId !== undefined) out = out.filter((a) => a.userId === f.userId);
      out = await this.expand(out, q);
      out = await this.withoutDomainRoles(out, q);
      if (f.roleId !== undefined) out = out.filter((a) => a.roleId === f.roleId);
    }
    return out;
  }

  private async tree(q: Q): Promise<ProjectTree> {
    return new ProjectTree(await q.selectFrom('projects').select(['id', 'parent_id', 'domain_id']).execute());
  }

  /** Replace each inherited grant by one assignment per project it reaches, naming where it comes from. */
  private async expandInherited(list: Assignment[], treeOf: () => Promise<ProjectTree>): Promise<Assignment[]> {
    if (!list.some((a) => a.inherited)) return list;
    const tree = await treeOf();
    return list.flatMap((a) => {
      if (!a.inherited) return [a];
      const from = { type: a.targetType as 'domain' | 'project', id: a.targetId };
      return tree.below(a.targetType, a.targetId).map((id) => ({ ...a, targetType: 'project' as const, targetId: id, inherited: { from } }));
    });
  }

  /**
   * Where inherited grants reach a project from: its domain and its ancestors, walked up one row
   * at a time (a token's roles are read on every validation; most projects have no parent).
   */
  private async inheritanceSources(projectId: string, q: Q): Promise<Array<{ type: 'domain' | 'project'; id: string }>> {
    const place = (id: string) => q.selectFrom('projects').select(['id', 'parent_id', 'domain_id']).where('id', '=', id).executeTakeFirst();
    const project = await place(projectId);
    if (!project) return [];
    const out: Array<{ type: 'domain' | 'project'; id: string }> = [{ type: 'domain', id: project.domain_id }];
    const seen = new Set<string>([projectId]);
    for (let parent = project.parent_id; parent && !seen.has(parent); parent = (await place(parent))?.parent_id ?? null) {
      seen.add(parent);
      out.push({ type: 'project', id: parent });
    }
    return out;
  }

  /** Replace each group grant by one per member, naming the group (Keystone's `indirect.group_id`). */
  private async expandGroups(list: Assignment[], q: Q): Promise<Assignment[]> {
    const groupIds = [...new Set(list.filter((a) => a.userId === undefined && a.groupId).map((a) => a.groupId!))];
    if (groupIds.length === 0) return list;
    const members = await q.selectFrom('group_members').selectAll().where('group_id', 'in', groupIds).orderBy('user_id').execute();
    const byGroup = new Map<string, string[]>();
    for (const m of members) byGroup.set(m.group_id, [...(byGroup.get(m.group_id) ?? []), m.user_id]);
    return list.flatMap((a) => (a.userId === undefined && a.groupId ? (byGroup.get(a.groupId) ?? []).map((userId) => ({ ...a, userId })) : [a]));
  }

  /**
   * Add, for every assignment, one copy per role its role implies (transitively), each naming
   * the role it was inferred from, as Keystone's `add_implied_roles` does.
   */
  private async expand(direct: Assignment[], q: Q): Promise<Assignment[]> {
    if (direct.length === 0) return direct;
    const impliedBy = await this.rules(q);
    const out: Assignment[] = [];
    // One per source: a project's direct grant and what it inherits of the same role are two.
    const key = (a: Assignment) =>
      `${a.userId ?? ''}/${a.groupId ?? ''}/${a.targetType}/${a.targetId}/${a.roleId}/${a.priorRoleId ?? ''}/${a.inherited?.from ? `${a.inherited.from.type}:${a.inherited.from.id}` : ''}`;
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

  private async rules(q: Q): Promise<Map<string, string[]>> {
    const rules = await q.selectFrom('implied_roles').selectAll().execute();
    const impliedBy = new Map<string, string[]>();
    for (const r of rules) impliedBy.set(r.prior_role_id, [...(impliedBy.get(r.prior_role_id) ?? []), r.implied_role_id]);
    return impliedBy;
  }

  private async withoutDomainRoles(list: Assignment[], q: Q): Promise<Assignment[]> {
    const ids = [...new Set(list.map((a) => a.roleId))];
    if (ids.length === 0) return list;
    const domainRoles = new Set(
      (await q.selectFrom('roles').select('id').where('id', 'in', ids).where('domain_id', 'is not', null).execute()).map((r) => r.id),
    );
    return domainRoles.size ? list.filter((a) => !domainRoles.has(a.roleId)) : list;
  }

  /**
   * Ids of the roles a user holds on a target directly or through its groups, without expansion
   * of implied roles. On a project, that includes what grants inherited from its domain and its
   * ancestors give it (Keystone's get_roles_for_user_and_project lists effective assignments).
   */
  async grantedRoleIds(userId: string, targetType: TargetType, targetId: string, q: Q = this.env.store.db): Promise<string[]> {
    const groups = q.selectFrom('group_members').select('group_id').where('user_id', '=', userId);
    const sources = targetType === 'project' ? await this.inheritanceSources(targetId, q) : [];
    const rows = await q
      .selectFrom('role_assignments')
      .select(['role_id', 'actor_type'])
      .where((eb) =>
        eb.or([
          eb.and([eb('target_type', '=', targetType), eb('target_id', '=', targetId), eb('inherited', '=', 0)]),
          ...sources.map((s) => eb.and([eb('target_type', '=', s.type), eb('target_id', '=', s.id), eb('inherited', '=', 1)])),
        ]),
      )
      .where((eb) =>
        eb.or([eb.and([eb('actor_type', '=', 'user'), eb('actor_id', '=', userId)]), eb.and([eb('actor_type', '=', 'group'), eb('actor_id', 'in', groups)])]),
      )
      .execute();
    // The user's own grants first, then its groups', each role once.
    rows.sort((a, b) => (a.actor_type === b.actor_type ? 0 : a.actor_type === 'user' ? -1 : 1));
    return [...new Set(rows.map((r) => r.role_id))];
  }

  /** Role ids and every role they imply, transitively (first the given ones, in order). */
  async closure(roleIds: string[], q: Q = this.env.store.db): Promise<string[]> {
    if (roleIds.length === 0) return [];
    const impliedBy = await this.rules(q);
    const ids = new Set(roleIds);
    const todo = [...roleIds];
    while (todo.length) {
      for (const implied of impliedBy.get(todo.shift()!) ?? []) {
        if (!ids.has(implied)) {
          ids.add(implied);
          todo.push(implied);
        }
      }
    }
    return [...ids];
  }

  /** Named global roles among `ids`, in that order (roles owned by a domain are left out). */
  async globalRoles(ids: string[], q: Q = this.env.store.db): Promise<Array<{ id: string; name: string }>> {
    if (ids.length === 0) return [];
    const roles = await q.selectFrom('roles').select(['id', 'name']).where('id', 'in', ids).where('domain_id', 'is', null).execute();
    return roles.sort((a, b) => ids.indexOf(a.id) - ids.indexOf(b.id));
  }

  /** Effective roles (with implied ones) of a user on one target, directly or through groups, each role once. */
  async effectiveRoles(userId: string, targetType: TargetType, targetId: string, q: Q = this.env.store.db): Promise<Array<{ id: string; name: string }>> {
    const direct = await this.grantedRoleIds(userId, targetType, targetId, q);
    if (direct.length === 0) return [];
    // Direct roles first, then inferred ones, as Keystone lists them.
    return this.globalRoles(await this.closure(direct, q), q);
  }

  /**
   * Ids of the projects (or domains) on which the user has any role, directly or through a group;
   * a project also through a grant inherited from its domain or an ancestor (a domain never).
   */
  async targetsOf(userId: string, targetType: 'project' | 'domain'): Promise<string[]> {
    const db = this.env.store.db;
    const groups = db.selectFrom('group_members').select('group_id').where('user_id', '=', userId);
    const rows = await db
      .selectFrom('role_assignments')
      .select(['target_type', 'target_id', 'inherited'])
      .distinct()
      .where((eb) =>
        targetType === 'project'
          ? eb.or([eb('target_type', '=', 'project'), eb.and([eb('target_type', '=', 'domain'), eb('inherited', '=', 1)])])
          : eb.and([eb('target_type', '=', 'domain'), eb('inherited', '=', 0)]),
      )
      .where((eb) =>
        eb.or([eb.and([eb('actor_type', '=', 'user'), eb('actor_id', '=', userId)]), eb.and([eb('actor_type', '=', 'group'), eb('actor_id', 'in', groups)])]),
      )
      .execute();
    const ids = new Set(rows.filter((r) => !r.inherited).map((r) => r.target_id));
    const inherited = rows.filter((r) => r.inherited);
    if (inherited.length) {
      const tree = await this.tree(db);
      for (const r of inherited) for (const id of tree.below(r.target_type as TargetType, r.target_id)) ids.add(id);
    }
    return [...ids];
  }
}
