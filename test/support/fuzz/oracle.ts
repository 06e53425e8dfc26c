/**
 * What every answer must be, whatever was asked: not a 5xx (501 is the services' own "not
 * implemented"), and every error in the envelope of the service that answered, checked by
 * structure: keystonemiddleware's and Keystone's `{"error": {code, title, message}}`, Neutron's
 * `{"NeutronError": {type, message, detail}}`, Nova's `{"<fault>": {code, message}}`, Glance's
 * webob page (HTML, JSON or text by Accept), Octavia's WSME fault or pecan's own 404/405.
 */
export interface Answer {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: string;
}

export type Failure = '5xx' | 'foreign-format' | 'slow' | 'crash';

const NOVA_FAULTS = new Set([
  'badRequest',
  'unauthorized',
  'forbidden',
  'itemNotFound',
  'badMethod',
  'conflictingRequest',
  'overLimit',
  'badMediaType',
  'notImplemented',
  'serviceUnavailable',
  'computeFault',
  'notAcceptable',
]);

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const keysAre = (v: Record<string, unknown>, keys: string[]) => {
  const k = Object.keys(v).sort();
  return k.length === keys.length && [...keys].sort().every((x, i) => x === k[i]);
};

function json(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

/** keystonemiddleware's 401 (and Keystone's every error). */
function keystoneEnvelope(b: unknown, status: number): boolean {
  return isObj(b) && isObj(b.error) && b.error.code === status && typeof b.error.title === 'string' && typeof b.error.message === 'string';
}

/** Why this answer is wrong, or undefined when it is one the service could give. */
export function checkAnswer(service: string, method: string, accept: string | undefined, a: Answer): Failure | undefined {
  if (a.status >= 500 && a.status !== 501) return '5xx';
  if (a.status < 400 || method === 'HEAD') return undefined;
  const b = json(a.body);
  if (a.status === 401) return keystoneEnvelope(b, 401) && a.headers['www-authenticate'] ? undefined : 'foreign-format';
  switch (service) {
    case 'identity':
      // Flask's own 405 body is not the envelope (Keystone answers it so).
      if (a.status === 405 && isObj(b) && keysAre(b, ['message'])) return undefined;
      return keystoneEnvelope(b, a.status) ? undefined : 'foreign-format';
    case 'network':
      return isObj(b) &&
        keysAre(b, ['NeutronError']) &&
        isObj(b.NeutronError) &&
        keysAre(b.NeutronError, ['type', 'message', 'detail']) &&
        typeof b.NeutronError.message === 'string'
        ? undefined
        : 'foreign-format';
    case 'compute': {
      if (!isObj(b) || Object.keys(b).length !== 1) return 'foreign-format';
      const [name] = Object.keys(b);
      const f = b[name];
      return NOVA_FAULTS.has(name) && isObj(f) && f.code === a.status && typeof f.message === 'string' ? undefined : 'foreign-format';
    }
    case 'image': {
      const type = String(a.headers['content-type'] ?? '');
      if (type.startsWith('application/json')) {
        return isObj(b) && keysAre(b, ['message', 'code', 'title']) && String(b.code).startsWith(String(a.status)) ? undefined : 'foreign-format';
      }
      if (type.startsWith('text/html')) return a.body.startsWith('<html>') && a.body.includes(`<h1>${a.status} `) ? undefined : 'foreign-format';
      if (type.startsWith('text/plain')) return a.body.startsWith(`${a.status} `) ? undefined : 'foreign-format';
      void accept;
      return 'foreign-format';
    }
    case 'load-balancer': {
      if (
        isObj(b) &&
        keysAre(b, ['faultcode', 'faultstring', 'debuginfo']) &&
        b.faultcode === (a.status >= 500 ? 'Server' : 'Client') &&
        typeof b.faultstring === 'string'
      )
        return undefined;
      // pecan's own answers for paths and methods the controllers do not serve.
      if ((a.status === 404 || a.status === 405) && isObj(b) && keysAre(b, ['code', 'title', 'description'])) return undefined;
      return 'foreign-format';
    }
    case 'key-manager':
      // Barbican's JSONErrorHook over pecan: {"code", "title", "description"} for every error.
      return isObj(b) && keysAre(b, ['code', 'title', 'description']) && b.code === a.status ? undefined : 'foreign-format';
    default:
      return 'foreign-format';
  }
}
