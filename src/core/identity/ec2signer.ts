import { createHash, createHmac } from 'node:crypto';
import { DomainError } from '../errors.js';
import { isDict } from '../../util/json.js';

/**
 * keystoneclient's Ec2Signer (keystoneclient/contrib/ec2/utils.py), which Keystone's
 * /v3/ec2tokens calls to recompute the signature of an EC2 request: versions 0, 1 and 2 by
 * `params.SignatureVersion`, AWS Signature v4 by an `Authorization: AWS4-HMAC-SHA256 …` header or
 * an `X-Amz-Algorithm` parameter.
 */

/**
 * Where Ec2Signer raises something Keystone does not catch (a missing `params`, `verb` or
 * `body_hash`, an unknown version, a date that is not the credential scope's): Keystone answers
 * its 500.
 */
export class Ec2SignerFault extends DomainError {
  constructor(reason: string) {
    super('internal', 'Ec2SignerError', reason);
  }
}

const fault = (reason: string): never => {
  throw new Ec2SignerFault(reason);
};

/** `d[k]` or a KeyError, as Python's subscript. */
function key(d: unknown, k: string): unknown {
  if (!isDict(d)) return fault(`not a dict where '${k}' was read`);
  if (!Object.hasOwn(d, k)) return fault(`KeyError: '${k}'`);
  return d[k];
}

/** `d.get(k)`: undefined when absent. */
function get(d: unknown, k: string): unknown {
  if (!isDict(d)) return fault(`not a dict where '${k}' was read`);
  return Object.hasOwn(d, k) ? d[k] : undefined;
}

/** Python's str() of a JSON value, for the values clients sign (strings, numbers, booleans, null). */
function pyStr(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v === null || v === undefined) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number' && Number.isInteger(v)) return String(v);
  // A float's or a container's repr is Python's own; no client signs one.
  return fault('unsupported value in signed parameters');
}

const str = (v: unknown): string => (typeof v === 'string' ? v : fault('not a string'));

/** Python's sort of str keys: by code point (not UTF-16 unit, as Array.sort). */
function byCodePoint(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = (x[i].codePointAt(0) ?? 0) - (y[i].codePointAt(0) ?? 0);
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

/** urllib.parse.quote(s, safe='-_~') (and safe=''): only letters, digits and `_.-~` stay. */
function quote(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Ec2Signer._canonical_qs: the parameters sorted by name, percent-encoded, joined by `&`. */
function canonicalQs(params: Record<string, unknown>): string {
  return Object.keys(params)
    .sort(byCodePoint)
    .map((k) => `${quote(k)}=${quote(pyStr(params[k]))}`)
    .join('&');
}

const b64hmac = (alg: 'sha1' | 'sha256', secret: string, msg: string | Buffer) => createHmac(alg, secret).update(msg).digest('base64');

/** Ec2Signer._v4_creds. */
function isV4(credentials: Record<string, unknown>): boolean {
  const headers = Object.hasOwn(credentials, 'headers') ? credentials.headers : undefined;
  if (headers !== undefined && get(headers, 'Authorization') !== undefined) {
    const auth = get(headers, 'Authorization');
    return typeof auth === 'string' ? auth.startsWith('AWS4-HMAC-SHA256') : fault('Authorization is not a string');
  }
  const params = Object.hasOwn(credentials, 'params') ? credentials.params : undefined;
  return params !== undefined && get(params, 'X-Amz-Algorithm') === 'AWS4-HMAC-SHA256';
}

/** Ec2Signer._calc_signature_4: AWS Signature v4 over the canonical request Keystone rebuilds. */
function signatureV4(secret: string, credentials: Record<string, unknown>): string {
  const params = key(credentials, 'params') as Record<string, unknown>;
  const verb = str(key(credentials, 'verb'));
  // generate() reads `host` too (a KeyError without it), though v4 signs the Host header instead.
  key(credentials, 'host');
  const path = key(credentials, 'path');
  const headers = key(credentials, 'headers');
  const bodyHash = key(credentials, 'body_hash');
  if (!isDict(headers)) return fault('headers is not a dict');
  const hasAuth = Object.hasOwn(headers, 'Authorization');
  // The Authorization header's `Name=value` (up to the next comma), else the X-Amz-Name parameter.
  const authParam = (name: string): string => {
    if (hasAuth) return str(headers.Authorization).split(`${name}=`).slice(1).join(`${name}=`).split(',')[0];
    return str(get(params, `X-Amz-${name}`));
  };
  const date = Object.hasOwn(headers, 'X-Amz-Date') ? str(headers['X-Amz-Date']) : str(get(params, 'X-Amz-Date'));

  const lower = new Map<string, string>();
  for (const [k, v] of Object.entries(headers)) lower.set(k.toLowerCase().trim(), str(v).trim());
  // Boto before 2.9.3 signed the Host header without its port.
  const stripPort = /^Boto\/2\.[0-9]\.[0-2]/.test(lower.get('user-agent') ?? '');
  const signedHeaders = authParam('SignedHeaders');
  const lines: string[] = [];
  for (const h of signedHeaders.split(';')) {
    const v = lower.get(h);
    if (v === undefined) continue;
    lines.push(`${h}:${h === 'host' && stripPort ? v.split(':')[0] : v}`);
  }
  const canonicalHeaders = `${lines.join('\n')}\n`;
  const query = verb.toUpperCase() !== 'POST' ? canonicalQs(params) : '';
  const canonicalRequest = [verb.toUpperCase(), pyStr(path), query, canonicalHeaders, signedHeaders, pyStr(bodyHash)].join('\n');

  const credential = authParam('Credential').split('/');
  if (credential.length < 2) fault('IndexError: credential scope');
  const credentialDate = credential[1];
  if (!date.startsWith(credentialDate)) fault('Request date mismatch error');
  const scope = credential.slice(1).join('/');
  const stringToSign = ['AWS4-HMAC-SHA256', date, scope, createHash('sha256').update(canonicalRequest, 'utf8').digest('hex')].join('\n');
  if (credential.length < 4) fault('ValueError: credential scope');
  const [region, service] = credential.slice(2, 4);
  let k = createHmac('sha256', `AWS4${secret}`).update(credentialDate, 'utf8').digest();
  for (const part of [region, service, 'aws4_request']) k = createHmac('sha256', k).update(part, 'utf8').digest();
  return createHmac('sha256', k).update(stringToSign, 'utf8').digest('hex');
}

/** Ec2Signer.generate: the signature `credentials` should carry, signed with `secret`. */
export function ec2Signature(secret: string, credentials: Record<string, unknown>): string {
  const params = key(credentials, 'params');
  if (!isDict(params)) return fault('params is not a dict');
  const version = get(params, 'SignatureVersion');
  if (version === '0') {
    return b64hmac('sha1', secret, str(key(params, 'Action')) + str(key(params, 'Timestamp')));
  }
  if (version === '1') {
    // Each name and value in turn, names sorted without case.
    const h = createHmac('sha1', secret);
    for (const k of Object.keys(params).sort((a, b) => byCodePoint(a.toLowerCase(), b.toLowerCase()))) {
      h.update(k, 'utf8');
      h.update(pyStr(params[k]), 'utf8');
    }
    return h.digest('base64');
  }
  if (version === '2') {
    const verb = pyStr(key(credentials, 'verb'));
    const host = pyStr(key(credentials, 'host'));
    const path = pyStr(key(credentials, 'path'));
    // The signer sets SignatureMethod itself (HMAC-SHA256 whenever hashlib has it: always).
    const signed = { ...params, SignatureMethod: 'HmacSHA256' };
    return b64hmac('sha256', secret, `${verb}\n${host}\n${path}\n${canonicalQs(signed)}`);
  }
  if (isV4(credentials)) return signatureV4(secret, credentials);
  return version !== undefined ? fault(`Unknown signature version: ${pyStr(version)}`) : fault('Unexpected signature format');
}

/** urllib.parse.urlsplit('//' + host).hostname: the host without port or user info, lower-cased. */
export function hostnameOf(host: string): string {
  const netloc = host.split(/[/?#]/)[0];
  const hostport = netloc.slice(netloc.lastIndexOf('@') + 1);
  const name = hostport.startsWith('[') ? hostport.slice(1, hostport.indexOf(']') < 0 ? undefined : hostport.indexOf(']')) : hostport.split(':')[0];
  return name === '' ? 'None' : name.toLowerCase();
}
