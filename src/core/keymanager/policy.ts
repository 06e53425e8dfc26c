/**
 * Who may do what with a secret or container: Barbican Zed's default policy
 * (barbican/common/policies), its new defaults OR'd with the deprecated rules as Zed enforces them
 * (`enforce_new_defaults = False`): the deprecated `creator` role counts as `member`, `observer`
 * may read metadata. A read ACL names users of any project; `project-access: false` makes an
 * entity private to its creator, the project's admins and the ACL's users.
 */
import type { RequestContext } from '../context.js';

export interface Guarded {
  project_id: string;
  creator_id: string | null;
}

/** The read ACL in effect: Barbican's implicit default is project access for everyone in it. */
export interface ReadAcl {
  projectAccess: boolean;
  users: readonly string[];
}

const has = (ctx: RequestContext, ...roles: string[]) => roles.some((r) => ctx.roles.includes(r));
const inProject = (ctx: RequestContext, e: Guarded) => ctx.projectId !== null && ctx.projectId === e.project_id;

/** May create and list in the caller's own project (secrets:post, secrets:get, containers:…). */
export const mayCreate = (ctx: RequestContext): boolean => ctx.projectId !== null && has(ctx, 'member', 'creator', 'admin');
export const mayList = (ctx: RequestContext): boolean => ctx.projectId !== null && has(ctx, 'member', 'creator', 'admin', 'observer', 'reader');

/** Change or delete (secret:put, secret:delete, the ACL writes, container:delete). */
export function mayWrite(ctx: RequestContext, e: Guarded, acl: ReadAcl): boolean {
  if (!inProject(ctx, e)) return false;
  if (has(ctx, 'admin')) return true;
  return has(ctx, 'member', 'creator') && (ctx.userId === e.creator_id || acl.projectAccess);
}

/** Read metadata or the payload (secret:get, secret:decrypt, container:get). */
export function mayRead(ctx: RequestContext, e: Guarded, acl: ReadAcl, payload: boolean): boolean {
  if (acl.users.includes(ctx.userId)) return true;
  if (!inProject(ctx, e)) return false;
  if (has(ctx, 'admin')) return true;
  const roles = payload ? ['member', 'creator'] : ['member', 'creator', 'observer'];
  return has(ctx, ...roles) && (ctx.userId === e.creator_id || acl.projectAccess);
}

/** orders:get (new default `role:member`, deprecated `all_but_audit`: admin, observer, creator). */
export const mayListOrders = (ctx: RequestContext): boolean => ctx.projectId !== null && has(ctx, 'member', 'creator', 'admin', 'observer');

/** Barbican's `rule:all_users`: admin, observer, creator, audit and key-manager:service-admin. */
const allUsers = (ctx: RequestContext) => has(ctx, 'admin', 'observer', 'creator', 'audit', 'key-manager:service-admin');

/** order:get — the order's own project (another project's order is not found at all). */
export const mayReadOrder = (ctx: RequestContext): boolean => has(ctx, 'member') || allUsers(ctx);

/** quotas:get — `role:reader` (new) or `rule:all_users` (deprecated). */
export const mayReadQuotas = (ctx: RequestContext): boolean => ctx.projectId !== null && (has(ctx, 'reader', 'member') || allUsers(ctx));

/** order:delete — `role:member` (new) or `rule:admin` (deprecated) in the order's project. */
export const mayDeleteOrder = (ctx: RequestContext): boolean => has(ctx, 'member', 'admin');

/**
 * project_quotas:get/put/delete — `rule:service_admin`, the `key-manager:service-admin` role
 * (the new defaults' system-scoped admin has no equivalent here: tokens are project-scoped).
 */
export const mayManageQuotas = (ctx: RequestContext): boolean => has(ctx, 'key-manager:service-admin');
