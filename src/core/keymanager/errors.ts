/**
 * Barbican's refusals (barbican/api/controllers, common/exception.py, validators.py), worded as
 * Barbican words them: the API renders each as `{"code", "title", "description"}` (its
 * JSONErrorHook over webob's errors).
 */
import { DomainError } from '../errors.js';

export const kmErrors = {
  /** pecan.abort(404, …) */
  notFound: (description: string) => new DomainError('not_found', 'HTTPNotFound', description),
  secretNotFound: () => kmErrors.notFound('Secret not found.'),
  invalidSecretId: () => kmErrors.notFound('Not Found. Provided secret id is invalid.'),
  containerNotFound: () => kmErrors.notFound('Secrets container not found.'),
  invalidContainerId: () => kmErrors.notFound('Not Found. Provided container id is invalid.'),
  noPayload: () => kmErrors.notFound('Not Found. Sorry but your secret has no payload.'),
  /** generate_safe_exception_message for a PolicyNotAuthorized. */
  forbidden: (operation: string) =>
    new DomainError('forbidden', 'PolicyNotAuthorized', `${operation} attempt not allowed - please review your user/project privileges`),
  /** InvalidObject, as load_body aborts with its client message. */
  invalidObject: (schema: string, reason: string, property: string) =>
    new DomainError('bad_request', 'InvalidObject', `Provided object does not match schema '${schema}': ${reason}. Invalid property: '${property}'`),
  malformedJson: () => new DomainError('bad_request', 'HTTPBadRequest', 'Malformed JSON'),
  badQuery: () => new DomainError('bad_request', 'HTTPBadRequest', 'URI provided invalid query string parameters.'),
  /** A BarbicanHTTPException raised inside an operation: "<operation> issue seen - <reason>." */
  issue: (kind: 'bad_request' | 'not_found' | 'conflict' | 'too_large', operation: string, reason: string) =>
    new DomainError(kind, 'BarbicanHTTPException', `${operation} issue seen - ${reason}.`),
  orderNotFound: () => kmErrors.notFound('Order not found.'),
  projectQuotasNotFound: () => kmErrors.notFound('Project quotas not found.'),
  secretMetadataNotFound: () => kmErrors.notFound('Secret metadata not found.'),
  consumerNotFound: () => kmErrors.notFound('Consumer not found.'),
  /** exception.LimitExceeded raised by a validator: load_body aborts with its client message. */
  tooLarge: () => new DomainError('too_large', 'LimitExceeded', 'Provided information too large to process'),
  /** exception.QuotaReached, raised inside the operation (quota.QuotaEnforcer.enforce). */
  quotaReached: (operation: string) =>
    new DomainError('forbidden', 'QuotaReached', `${operation} issue seen - Creation not allowed because a quota has been reached.`),
  /** consumers._consumer_ownership_mismatch. */
  consumerNotOwned: () => new DomainError('forbidden', 'HTTPForbidden', 'Not Allowed. Sorry, only the creator of a consumer can delete it.'),
  conflict: (description: string) => new DomainError('conflict', 'HTTPConflict', description),
  contentType: (expected: string[]) =>
    new DomainError(
      'unsupported_media_type',
      'HTTPUnsupportedMediaType',
      `Unexpected content type. Expected content types are: [${expected.map((x) => `'${x}'`).join(', ')}]`,
    ),
  notAcceptable: (description: string) => new DomainError('not_acceptable', 'HTTPNotAcceptable', description),
  methodNotAllowedWith: (description: string) => new DomainError('method_not_allowed', 'HTTPMethodNotAllowed', description),
  methodNotAllowed: () =>
    new DomainError(
      'method_not_allowed',
      'HTTPMethodNotAllowed',
      'The server could not comply with the request since it is either malformed or otherwise incorrect.',
    ),
};
