/**
 * Glance's router (glance/api/v2/router.py) answers a known path called with a method it does not
 * serve with 405 and an `Allow` header (RejectMethodController), not 404. The paths and the
 * methods each reject route names, as the router lists them.
 */
import { DomainError } from '../../core/errors.js';

const SEG = '[^/]+';

const ROUTES: Array<[RegExp, string]> = [
  [new RegExp(`^/v2/schemas/(image|images|member|members|task|tasks|metadefs/${SEG})$`), 'GET'],
  [/^\/v2\/metadefs\/resource_types$/, 'GET'],
  [new RegExp(`^/v2/metadefs/namespaces/${SEG}/resource_types$`), 'GET, POST'],
  [new RegExp(`^/v2/metadefs/namespaces/${SEG}/resource_types/${SEG}$`), 'DELETE'],
  [/^\/v2\/metadefs\/namespaces$/, 'GET, POST'],
  [new RegExp(`^/v2/metadefs/namespaces/${SEG}$`), 'GET, PUT, DELETE'],
  [new RegExp(`^/v2/metadefs/namespaces/${SEG}/(properties|objects|tags)$`), 'GET, POST, DELETE'],
  [new RegExp(`^/v2/metadefs/namespaces/${SEG}/(properties|objects)/${SEG}$`), 'GET, PUT, DELETE'],
  [new RegExp(`^/v2/metadefs/namespaces/${SEG}/tags/${SEG}$`), 'GET, POST, PUT, DELETE'],
  [/^\/v2\/images$/, 'GET, POST'],
  [new RegExp(`^/v2/images/${SEG}$`), 'GET, PATCH, DELETE'],
  [new RegExp(`^/v2/images/${SEG}/import$`), 'POST'],
  [new RegExp(`^/v2/stores/${SEG}/${SEG}$`), 'DELETE'],
  [new RegExp(`^/v2/images/${SEG}/actions/(deactivate|reactivate)$`), 'POST'],
  [new RegExp(`^/v2/images/${SEG}/file$`), 'GET, PUT'],
  [new RegExp(`^/v2/images/${SEG}/stage$`), 'PUT'],
  // Glance's reject route here names POST only, though GET is served too.
  [new RegExp(`^/v2/images/${SEG}/locations$`), 'POST'],
  [new RegExp(`^/v2/images/${SEG}/tags/${SEG}$`), 'PUT, DELETE'],
  [new RegExp(`^/v2/images/${SEG}/members$`), 'GET, POST'],
  [new RegExp(`^/v2/images/${SEG}/members/${SEG}$`), 'GET, PUT, DELETE'],
  [/^\/v2\/tasks$/, 'GET, POST'],
  [new RegExp(`^/v2/tasks/${SEG}$`), 'GET, DELETE'],
  [/^\/v2\/info\/(import|stores|stores\/detail)$/, 'GET'],
  [/^\/v2\/cache$/, 'GET, DELETE'],
  [new RegExp(`^/v2/cache/nodes/${SEG}$`), 'GET'],
  [/^\/v2\/cache\/(clean|prune)$/, 'POST'],
  [new RegExp(`^/v2/cache/${SEG}$`), 'DELETE, PUT'],
];

/** The 405 for `path` when Glance has a reject route for it; undefined when the path is unknown (404). */
export function methodNotAllowed(path: string): DomainError | undefined {
  const hit = ROUTES.find(([re]) => re.test(path));
  if (!hit) return undefined;
  return Object.assign(new DomainError('method_not_allowed', 'HTTPMethodNotAllowed', ''), { headers: { allow: hit[1] } });
}

/** The routes Glance's router marks `body_reject=True`, as `METHOD` and path. */
const BODY_REJECT: Array<[string, RegExp]> = [
  ['GET', new RegExp(`^/v2/schemas/(image|images|member|members|metadefs/${SEG})$`)],
  ['GET', /^\/v2\/metadefs\/resource_types$/],
  ['GET', new RegExp(`^/v2/metadefs/namespaces/${SEG}/resource_types$`)],
  ['DELETE', new RegExp(`^/v2/metadefs/namespaces/${SEG}/resource_types/${SEG}$`)],
  ['GET', new RegExp(`^/v2/metadefs/namespaces/${SEG}$`)],
  ['DELETE', new RegExp(`^/v2/metadefs/namespaces/${SEG}$`)],
  ['GET', new RegExp(`^/v2/metadefs/namespaces/${SEG}/properties$`)],
  ['GET', new RegExp(`^/v2/metadefs/namespaces/${SEG}/objects/${SEG}$`)],
  ['DELETE', new RegExp(`^/v2/metadefs/namespaces/${SEG}/objects/${SEG}$`)],
  ['GET', new RegExp(`^/v2/metadefs/namespaces/${SEG}/tags/${SEG}$`)],
  ['POST', new RegExp(`^/v2/metadefs/namespaces/${SEG}/tags/${SEG}$`)],
  ['DELETE', new RegExp(`^/v2/metadefs/namespaces/${SEG}/tags/${SEG}$`)],
  ['GET', new RegExp(`^/v2/images/${SEG}$`)],
  ['DELETE', new RegExp(`^/v2/images/${SEG}$`)],
  ['GET', new RegExp(`^/v2/images/${SEG}/tasks$`)],
  ['DELETE', new RegExp(`^/v2/stores/${SEG}/${SEG}$`)],
  ['POST', new RegExp(`^/v2/images/${SEG}/actions/(deactivate|reactivate)$`)],
  ['GET', new RegExp(`^/v2/images/${SEG}/file$`)],
  ['PUT', new RegExp(`^/v2/images/${SEG}/tags/${SEG}$`)],
  ['DELETE', new RegExp(`^/v2/images/${SEG}/tags/${SEG}$`)],
  ['GET', new RegExp(`^/v2/images/${SEG}/members$`)],
  ['GET', new RegExp(`^/v2/images/${SEG}/members/${SEG}$`)],
  ['DELETE', new RegExp(`^/v2/images/${SEG}/members/${SEG}$`)],
  ['GET', /^\/v2\/info\/(import|stores|stores\/detail)$/],
  ['GET', /^\/v2\/cache$/],
  ['GET', new RegExp(`^/v2/cache/nodes/${SEG}$`)],
];

/** webob transfer encodings Glance's has_body counts as a body on POST, PUT and PATCH. */
const TRANSFER_ENCODINGS = ['chunked', 'compress', 'deflate', 'gzip', 'identity'];

/**
 * Glance's Resource refuses a body on a `body_reject` route (`A body is not expected with this
 * request.`): a non-zero Content-Length, or a transfer encoding on a method that may have a body.
 */
export function bodyRejected(method: string, path: string, headers: { 'content-length'?: string; 'transfer-encoding'?: string }): boolean {
  if (!BODY_REJECT.some(([m, re]) => m === method && re.test(path))) return false;
  const te = (headers['transfer-encoding'] ?? '').toLowerCase();
  if (TRANSFER_ENCODINGS.includes(te) && ['POST', 'PUT', 'PATCH'].includes(method)) return true;
  return Number(headers['content-length'] ?? 0) > 0;
}
