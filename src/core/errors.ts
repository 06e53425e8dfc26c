/**
 * Domain errors. They carry no HTTP: each API edge maps `kind` to its own status code and
 * error body (Neutron's NeutronError, Keystone's error, Nova's itemNotFound, Octavia's fault).
 * `type` is the exception name real OpenStack reports (Neutron's "type" field).
 */
export type ErrorKind =
  | 'bad_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'method_not_allowed'
  | 'not_acceptable'
  | 'conflict'
  | 'gone'
  | 'precondition_failed'
  | 'too_large'
  | 'range_not_satisfiable'
  | 'unsupported_media_type'
  | 'over_limit'
  | 'internal'
  | 'not_implemented'
  | 'unavailable';

export const STATUS_OF_KIND: Record<ErrorKind, number> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  not_acceptable: 406,
  conflict: 409,
  gone: 410,
  precondition_failed: 412,
  too_large: 413,
  range_not_satisfiable: 416,
  unsupported_media_type: 415,
  over_limit: 413,
  internal: 500,
  not_implemented: 501,
  unavailable: 503,
};

export class DomainError extends Error {
  constructor(
    readonly kind: ErrorKind,
    readonly type: string,
    message: string,
    readonly detail = '',
  ) {
    super(message);
    this.name = type;
  }
  get status(): number {
    return STATUS_OF_KIND[this.kind];
  }
}

export const conflict = (type: string, message: string) => new DomainError('conflict', type, message);
export const notFound = (type: string, message: string) => new DomainError('not_found', type, message);
/** A 400 with the service's own error type name. */
export const badRequest = (type: string, message: string) => new DomainError('bad_request', type, message);
export const unauthorized = (message = 'The request you have made requires authentication.') => new DomainError('unauthorized', 'Unauthorized', message);

/** Neutron's InvalidInput: "Invalid input for operation: <msg>." */
export const invalidInput = (msg: string) => new DomainError('bad_request', 'InvalidInput', `Invalid input for operation: ${msg}.`);

/** Neutron's BadRequest: "Bad <resource> request: <msg>." */
export const neutronBadRequest = (resource: string, msg: string) => new DomainError('bad_request', 'BadRequest', `Bad ${resource} request: ${msg}.`);

/** webob's HTTPBadRequest with an explanation, as Neutron raises it from its API layer. */
export const httpBadRequest = (msg: string) => new DomainError('bad_request', 'HTTPBadRequest', msg);

/** "<Resource> <id> could not be found." with type "<Resource>NotFound". */
export const resourceNotFound = (label: string, id: string, typeName = label.replace(/ /g, '')) =>
  new DomainError('not_found', `${typeName}NotFound`, `${label} ${id} could not be found.`);

export const isDomainError = (e: unknown): e is DomainError => e instanceof DomainError;
