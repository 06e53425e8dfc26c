import { DomainError, type ErrorKind } from '../errors.js';

/**
 * Keystone's errors, worded as keystone/exception.py words them (non-debug mode: security
 * errors never say which part of a credential was wrong).
 */

const CLIENT_AT_FAULT =
  ' The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.';

/** A Keystone error that carries extra members for the `error` body (e.g. `identity`). */
export class KeystoneError extends DomainError {
  constructor(
    kind: ErrorKind,
    type: string,
    message: string,
    readonly extra?: Record<string, unknown>,
  ) {
    super(kind, type, message);
  }
}

/** ValidationError: "Expecting to find <attribute> in <target>. The server could not comply …" */
export const expecting = (attribute: string, target: string) =>
  new DomainError('bad_request', 'ValidationError', `Expecting to find ${attribute} in ${target}.${CLIENT_AT_FAULT}`);

/** ValidationError with its own message and Keystone's "client is assumed to be in error" tail. */
export const validationAmended = (message: string) => new DomainError('bad_request', 'ValidationError', `${message}${CLIENT_AT_FAULT}`);

/** ValidationError with its own message. */
export const validationError = (message: string) => new DomainError('bad_request', 'ValidationError', message);

export const malformedJson = () => expecting('valid JSON', 'request body');

export type Entity = 'domain' | 'project' | 'user' | 'role' | 'service' | 'endpoint' | 'region' | 'trust' | 'group' | 'credential' | 'project tag';

const TYPE_NAMES: Record<Entity, string> = {
  domain: 'DomainNotFound',
  project: 'ProjectNotFound',
  user: 'UserNotFound',
  role: 'RoleNotFound',
  service: 'ServiceNotFound',
  endpoint: 'EndpointNotFound',
  region: 'RegionNotFound',
  trust: 'TrustNotFound',
  group: 'GroupNotFound',
  credential: 'CredentialNotFound',
  'project tag': 'ProjectTagNotFound',
};

/** "Could not find project: <id>." */
export const notFound = (entity: Entity, id: string) => new DomainError('not_found', TYPE_NAMES[entity], `Could not find ${entity}: ${id}.`);

/** Not-found errors Keystone words in their own way. */
export const appCredNotFound = (id: string) => new DomainError('not_found', 'ApplicationCredentialNotFound', `Could not find Application Credential: ${id}.`);
export const accessRuleNotFound = (id: string) => new DomainError('not_found', 'AccessRuleNotFound', `Could not find Access Rule: ${id}.`);
export const endpointGroupNotFound = (id: string) => new DomainError('not_found', 'EndpointGroupNotFound', `Could not find Endpoint Group: ${id}.`);
export const limitNotFound = (id: string) => new DomainError('not_found', 'LimitNotFound', `Could not find limit for ${id}.`);
export const registeredLimitNotFound = (id: string) => new DomainError('not_found', 'RegisteredLimitNotFound', `Could not find registered limit for ${id}.`);
/** keystone.exception.NotFound raised with its own message (shown as given). */
export const notFoundTarget = (message: string) => new DomainError('not_found', 'NotFound', message);

export const roleAssignmentNotFound = (roleId: string, actorId: string, targetId: string) =>
  new DomainError(
    'not_found',
    'RoleAssignmentNotFound',
    `Could not find role assignment with role: ${roleId}, user or group: ${actorId}, project, domain, or system: ${targetId}.`,
  );

export const impliedRoleNotFound = (priorId: string, impliedId: string) =>
  new DomainError('not_found', 'ImpliedRoleNotFound', `${priorId} does not imply ${impliedId}.`);

export const tokenNotFound = (message: 'Could not recognize Fernet token' | 'Failed to validate token' | 'No token in the request') =>
  new DomainError('not_found', 'TokenNotFound', message);

/** Policy refusal: "You are not authorized to perform the requested action: identity:list_users." */
export const forbiddenAction = (action: string) =>
  new DomainError('forbidden', 'ForbiddenAction', `You are not authorized to perform the requested action: ${action}.`);

/** Forbidden is a security error: its own message is never shown. */
export const forbidden = () => new DomainError('forbidden', 'Forbidden', 'You are not authorized to perform the requested action.');

/** A 403 whose message is safe to show. */
export const forbiddenNotSecurity = (message: string) => new DomainError('forbidden', 'ForbiddenNotSecurity', message);

export const immutableDelete = (type: string, id: string) =>
  forbiddenNotSecurity(`Unable to delete immutable ${type} resource: \`${id}. Set resource option "immutable" to false first.`);
export const immutableUpdate = (type: string, id: string) =>
  forbiddenNotSecurity(`Unable to update immutable ${type} resource: \`${id}. Set resource option "immutable" to false first.`);

/** "Conflict occurred attempting to store <type> - <details>." */
export const conflict = (type: string, details: string) =>
  new DomainError('conflict', 'Conflict', `Conflict occurred attempting to store ${type} - ${details}.`);

export const unsupportedAuthMethod = (methods: string[]) =>
  new KeystoneError('unauthorized', 'AuthMethodNotSupported', 'Attempted to authenticate with an unsupported method.', {
    identity: { methods },
  });

export const notImplemented = () => new DomainError('not_implemented', 'NotImplemented', 'The action you have requested has not been implemented.');
