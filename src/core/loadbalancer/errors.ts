/**
 * Octavia's API exceptions (octavia/common/exceptions.py): status and wording as clients see
 * them in `faultstring`.
 */
import { DomainError } from '../errors.js';
import { pyStrOf } from '../../util/pyrepr.js';

const bad = (type: string, msg: string) => new DomainError('bad_request', type, msg);

export const lbErrors = {
  notFound: (resource: string, id: string) => new DomainError('not_found', 'NotFound', `${resource} ${id} not found.`),
  policyForbidden: () => new DomainError('forbidden', 'PolicyForbidden', 'Policy does not allow this request to be performed.'),
  validation: (detail: string) => bad('ValidationException', `Validation failure: ${detail}`),
  vipValidation: (objects: string) => bad('VIPValidationException', `Validation failure: VIP must contain one of: ${objects}.`),
  invalidSubresource: (resource: string, id: string) => bad('InvalidSubresource', `${resource} ${id} not found.`),
  immutable: (resource: string, id: string) => new DomainError('conflict', 'ImmutableObject', `${resource} ${id} is immutable and cannot be updated.`),
  lbPending: (state: string, id: string) => new DomainError('conflict', 'LBPendingStateError', `Invalid state ${state} of loadbalancer resource ${id}`),
  duplicateListener: (protocol: string, port: number) =>
    new DomainError(
      'conflict',
      'DuplicateListenerEntry',
      `Another Listener on this Load Balancer is already using protocol ${protocol} and protocol_port ${port}`,
    ),
  duplicateMember: (ip: string, port: number) =>
    new DomainError('conflict', 'DuplicateMemberEntry', `Another member on this pool is already using ip ${ip} on protocol_port ${port}`),
  duplicateMonitor: () => new DomainError('conflict', 'DuplicateHealthMonitor', 'This pool already has a health monitor'),
  duplicatePool: () => new DomainError('conflict', 'DuplicatePoolEntry', 'This listener already has a default pool'),
  poolInUseByL7Policy: (id: string, policyId: string) => new DomainError('conflict', 'PoolInUseByL7Policy', `Pool ${id} is in use by L7 policy ${policyId}`),
  tooManyL7Rules: (id: string) => new DomainError('conflict', 'TooManyL7RulesOnL7Policy', `Too many rules on L7 policy ${id}`),
  objectInUse: (object: string, id: string) => new DomainError('conflict', 'ObjectInUse', `${object} ${id} is in use and cannot be modified.`),
  invalidOption: (value: unknown, option: string) => bad('InvalidOption', `${pyStrOf(value)} is not a valid option for ${option}`),
  disabledOption: (option: string, value: string) => bad('DisabledOption', `The selected ${option} is not allowed in this deployment: ${value}`),
  quota: (resource: string) => new DomainError('forbidden', 'QuotaException', `Quota has been met for resources: ${resource}`),
  flavorMismatch: (flav: string, prov: string) => bad('ProviderFlavorMismatchError', `Flavor '${flav}' is not compatible with provider '${prov}'`),
  providerNotEnabled: (prov: string) => bad('ProviderNotEnabled', `Provider '${prov}' is not enabled.`),
  unsupportedOption: (prov: string, msg: string) =>
    new DomainError('not_implemented', 'ProviderUnsupportedOptionError', `Provider '${prov}' does not support a requested option: ${msg}`),
  notImplementedAction: (prov: string, msg: string) =>
    new DomainError('not_implemented', 'ProviderNotImplementedError', `Provider '${prov}' does not support a requested action: ${msg}`),
  l7ruleValidation: (error: string) => bad('L7RuleValidation', `Error parsing L7Rule: ${error}`),
  invalidL7PolicyArgs: (msg: string) => bad('InvalidL7PolicyArgs', `Invalid L7 Policy arguments: ${msg}`),
  invalidL7PolicyAction: (action: string) => bad('InvalidL7PolicyAction', `Invalid L7 Policy action specified: ${action}`),
  singleCreateDetailsMissing: (type: string, name: string) => bad('SingleCreateDetailsMissing', `Missing details for ${type} object: ${name}`),
  listenerNoChildren: (protocol: string) => bad('ListenerNoChildren', `Protocol ${protocol} listeners cannot have child objects.`),
  invalidFilter: () => bad('InvalidFilterArgument', 'One or more arguments are either duplicate or invalid'),
  invalidSortKey: (key: string) => bad('InvalidSortKey', `Supplied sort key '${key}' is not valid.`),
  invalidSortDir: (key: string) => bad('InvalidSortDirection', `Supplied sort direction '${key}' is not valid.`),
  invalidMarker: (key: string) => bad('InvalidMarker', `Supplied pagination marker '${key}' is not valid.`),
  invalidLimit: (key: string) => bad('InvalidLimit', `Supplied pagination limit '${key}' is not valid.`),
  /** `ref` a list from the API's own check, a single reference from the driver's (Octavia words both). */
  certificateRetrieval: (refs: string[] | string) => bad('CertificateRetrievalException', `Could not retrieve certificate: ${pyStrOf(refs)}`),
  unreadablePkcs12: (error: string) =>
    bad(
      'UnreadablePKCS12',
      `The PKCS12 bundle is unreadable. Please check the PKCS12 bundle validity. In addition, make sure it does not require a pass phrase. Error: ${error}`,
    ),
  recordExists: (field: string, name: string) => new DomainError('conflict', 'RecordAlreadyExists', `A ${field} of ${name} already exists.`),
  idAlreadyExists: () => new DomainError('conflict', 'IDAlreadyExists', 'Already an entity with that specified id.'),
  missingProject: () =>
    bad(
      'ValidationException',
      'Validation failure: Missing project ID in request where one is required. An administrator should check the keystone settings in the Octavia configuration.',
    ),
};
