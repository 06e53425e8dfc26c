/**
 * Nova's policy as this slice applies it (nova/policies, default rules): every decision is made
 * in core, beside the operation it guards; the edge parses and renders and never asks who calls.
 * Rules that depend on the resource (a project's own quotas, another user's key pairs, an admin's
 * lock) stay with their operation; the admin-only ones read the same everywhere through here.
 */
import type { RequestContext } from '../context.js';
import { policyDenied } from './errors.js';

/** A rule whose default is `rule:admin_api` (PolicyNotAuthorized, 403, for anyone else). */
export function adminOnly(ctx: RequestContext, rule: string): void {
  if (!ctx.isAdmin) throw policyDenied(rule);
}

/**
 * A request's input, read by the operation only once the caller has passed its policy: a caller
 * without the right is refused (403) whatever it sent, before its input is validated (400), the
 * order this service has always answered in.
 */
export type AfterPolicy<T> = () => T;

/**
 * What of a server the caller may see. Nova's view builders ask these with `fatal=False`: the
 * attributes are left out, the request is not refused.
 */
export interface ServerDisclosure {
  /** os_compute_api:os-extended-server-attributes: the OS-EXT-SRV-ATTR:* attributes. */
  extendedAttributes: boolean;
  /** os_compute_api:servers:show:host_status (2.16). */
  hostStatus: boolean;
  /** A fault's details when its code is 500 (Nova's view shows them to admins only). */
  faultDetails: boolean;
}

export function serverDisclosure(ctx: RequestContext): ServerDisclosure {
  return { extendedAttributes: ctx.isAdmin, hostStatus: ctx.isAdmin, faultDetails: ctx.isAdmin };
}

/** A rule whose default is `project_reader_or_admin` on a project named by the request. */
export function policyOwnProject(ctx: RequestContext, projectId: string, rule: string): void {
  if (!ctx.isAdmin && ctx.projectId !== projectId) throw policyDenied(rule);
}
