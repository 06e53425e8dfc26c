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
