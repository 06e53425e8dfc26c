/**
 * Nova's errors are webob exceptions with an explanation; the edge renders them as
 * `{"itemNotFound": {"code": 404, "message": …}}` and so on. These build them with Nova's wording.
 */
import { DomainError } from '../errors.js';

export const novaBadRequest = (msg: string) => new DomainError('bad_request', 'HTTPBadRequest', msg);
export const novaNotFound = (msg: string) => new DomainError('not_found', 'HTTPNotFound', msg);
export const novaConflict = (msg: string) => new DomainError('conflict', 'HTTPConflict', msg);
export const novaForbidden = (msg: string) => new DomainError('forbidden', 'HTTPForbidden', msg);
/** oslo.policy's PolicyNotAuthorized as Nova words it. */
export const policyDenied = (rule: string) => novaForbidden(`Policy doesn't allow ${rule} to be performed.`);
export const instanceNotFound = (id: string) => novaNotFound(`Instance ${id} could not be found.`);

/**
 * InstanceInvalidState → 409 "Cannot '<action>' instance <id> while it is in <attr> <state>"
 * (common.raise_http_conflict_for_instance_invalid_state); a state that is None gets its other
 * wording.
 */
export function invalidState(id: string, action: string, attr: 'vm_state' | 'task_state' | 'launched_at', state: string | null): DomainError {
  if (state === null) return novaConflict(`Instance ${id} is in an invalid state for '${action}'`);
  return novaConflict(`Cannot '${action}' instance ${id} while it is in ${attr} ${state}`);
}

/** webob's HTTPGone, for APIs Nova removed (410 at every microversion). */
export const novaGone = () => new DomainError('gone', 'HTTPGone', 'This resource is no longer available. No forwarding address is given.');
export const novaNotImplemented = (msg: string) => new DomainError('not_implemented', 'HTTPNotImplemented', msg);
