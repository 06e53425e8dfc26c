/**
 * Barbican's request validators (barbican/common/validators.py, Zed) and the content types its
 * plugins accept (plugin/util/mime_types.py): each refusal is InvalidObject's "Provided object
 * does not match schema '<schema>': <reason>. Invalid property: '<property>'", the reason
 * worded as jsonschema words it, or the validator's own BarbicanHTTPException.
 */
import { isDict } from '../../util/json.js';
import { DomainError } from '../errors.js';
import { type Json, parseRef, pyList, pyRepr } from './common.js';
import { kmErrors } from './errors.js';

const SECRET_TYPES = ['symmetric', 'passphrase', 'private', 'public', 'certificate', 'opaque'];
const PLAIN_TEXT = ['text/plain', 'text/plain;charset=utf-8', 'text/plain; charset=utf-8'];
export const BINARY = ['application/octet-stream', 'application/pkcs8'];
const SUPPORTED = [...PLAIN_TEXT, ...BINARY];
/** Barbican's max_allowed_secret_in_bytes default. */
export const MAX_SECRET_BYTES = 10_000;

/** mime_types.normalize_content_type: the internal form of a content type, or it as given. */
export function normalizeContentType(t: string): string {
  const parts = t.split(';').map((x) => x.trim());
  const mime = parts[0].toLowerCase();
  if (parts.length > 1) {
    const cs = parts[1].toLowerCase();
    if (!cs.includes('=')) return t;
    if (cs.split('=')[1]?.trim() !== 'utf-8') return t;
  }
  const internal = new Map([
    ['text/plain', 'text/plain'],
    ['application/octet-stream', 'application/octet-stream'],
    ['application/pkcs8', 'application/pkcs8'],
  ]);
  return internal.get(mime) ?? t;
}
export const isSupported = (t: string): boolean => SUPPORTED.includes(normalizeContentType(t));
const encodingsOf = (t: string) => (normalizeContentType(t) === 'text/plain' ? null : ['base64', 'binary']);

export interface NewSecret {
  name: string | null;
  secretType: string;
  algorithm: string | null;
  bitLength: number | null;
  mode: string | null;
  expiration: string | null;
  payload: { contentType: string; body: Buffer } | null;
  /** payload_content_type as given, normalized (an order's meta may name one without a payload). */
  contentType: string | null;
}

const strOrNull = (v: unknown) => (typeof v === 'string' ? v.trim() : null);

/**
 * validators.NewSecretValidator: the JSON schema first, then Barbican's own checks, in its order.
 * `parent` is the schema an order's `meta` is checked within ("Secret' within 'Order"), where a
 * content type without a payload is allowed.
 */
export function validateNewSecret(raw: unknown, parent?: string): NewSecret {
  const S = parent ? `Secret' within '${parent}` : 'Secret';
  if (!isDict(raw)) throw kmErrors.invalidObject(S, `${pyRepr(raw)} is not of type 'object'`, 'None');
  const b = raw;
  const str = (k: string, max: number, nullable = false) => {
    if (!Object.hasOwn(b, k)) return;
    const v = b[k];
    if (v === null && nullable) return;
    if (typeof v !== 'string') throw kmErrors.invalidObject(S, `${pyRepr(v)} is not of type ${nullable ? "'string', 'null'" : "'string'"}`, k);
    if (v.length > max) throw kmErrors.invalidObject(S, `${pyRepr(v)} is too long`, k);
  };
  str('name', 255, true);
  str('algorithm', 255);
  str('mode', 255);
  if (Object.hasOwn(b, 'bit_length')) {
    const v = b.bit_length;
    if (typeof v !== 'number' || !Number.isInteger(v)) throw kmErrors.invalidObject(S, `${pyRepr(v)} is not of type 'integer'`, 'bit_length');
    if (v < 1) throw kmErrors.invalidObject(S, `${v} is less than the minimum of 1`, 'bit_length');
    if (v > 32767) throw kmErrors.invalidObject(S, `${v} is greater than the maximum of 32767`, 'bit_length');
  }
  str('expiration', 255);
  str('payload', Number.MAX_SAFE_INTEGER);
  if (Object.hasOwn(b, 'secret_type') && (typeof b.secret_type !== 'string' || !SECRET_TYPES.includes(b.secret_type))) {
    if (typeof b.secret_type !== 'string') throw kmErrors.invalidObject(S, `${pyRepr(b.secret_type)} is not of type 'string'`, 'secret_type');
    throw kmErrors.invalidObject(S, `${pyRepr(b.secret_type)} is not one of ${pyList(SECRET_TYPES)}`, 'secret_type');
  }
  str('payload_content_type', 255, true);
  if (Object.hasOwn(b, 'payload_content_encoding') && b.payload_content_encoding !== 'base64') {
    if (typeof b.payload_content_encoding !== 'string')
      throw kmErrors.invalidObject(S, `${pyRepr(b.payload_content_encoding)} is not of type 'string'`, 'payload_content_encoding');
    throw kmErrors.invalidObject(S, `${pyRepr(b.payload_content_encoding)} is not one of ['base64']`, 'payload_content_encoding');
  }
  let expiration: string | null = null;
  const rawExp = strOrNull(b.expiration);
  if (rawExp) {
    const t = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(rawExp) ? rawExp : `${rawExp}Z`);
    if (Number.isNaN(t)) throw kmErrors.invalidObject(S, "Invalid date for 'expiration'", 'expiration');
    if (t <= Date.now()) throw kmErrors.invalidObject(S, "'expiration' is before current time", 'expiration');
    expiration = new Date(t).toISOString().slice(0, 19);
  }
  const contentType = typeof b.payload_content_type === 'string' ? b.payload_content_type : null;
  let payload: NewSecret['payload'] = null;
  if (Object.hasOwn(b, 'payload')) {
    const encoding = typeof b.payload_content_encoding === 'string' ? b.payload_content_encoding : null;
    if (contentType === null)
      throw kmErrors.invalidObject(S, "If 'payload' is supplied, 'payload_content_type' must also be supplied.", 'payload_content_type');
    if (!isSupported(contentType)) throw kmErrors.invalidObject(S, `payload_content_type is not one of ${pyList(SUPPORTED)}`, 'payload_content_type');
    const encodings = encodingsOf(contentType);
    if (encodings ? !encodings.includes(encoding ?? '') : encoding !== null) {
      throw kmErrors.invalidObject(S, `payload_content_encoding is not one of ${encodings ? pyList(encodings) : 'None'}`, 'payload_content_encoding');
    }
    const text = (b.payload as string).trim();
    if (Buffer.byteLength(text) > MAX_SECRET_BYTES) throw kmErrors.tooLarge();
    if (!text) throw kmErrors.invalidObject(S, "If 'payload' specified, must be non empty", 'payload');
    if (encoding === 'base64' && !/^[A-Za-z0-9+/]*={0,2}$/.test(text.replace(/\s/g, ''))) {
      throw kmErrors.invalidObject(S, 'Invalid payload for payload_content_encoding', 'payload');
    }
    const type = normalizeContentType(contentType);
    payload = { contentType: type, body: encoding === 'base64' ? Buffer.from(text, 'base64') : Buffer.from(text, 'utf8') };
  } else if (Object.hasOwn(b, 'payload_content_type')) {
    if (!parent) throw kmErrors.invalidObject(S, 'payload must be provided when payload_content_type is specified', 'payload');
    if (contentType && !isSupported(contentType))
      throw kmErrors.invalidObject(S, `payload_content_type is not one of ${pyList(SUPPORTED)}`, 'payload_content_type');
  }
  return {
    name: strOrNull(b.name),
    secretType: typeof b.secret_type === 'string' ? b.secret_type : 'opaque',
    algorithm: strOrNull(b.algorithm),
    bitLength: typeof b.bit_length === 'number' ? b.bit_length : null,
    mode: strOrNull(b.mode),
    expiration,
    payload,
    contentType: contentType ? normalizeContentType(contentType) : null,
  };
}

export interface NewOrder {
  type: 'key' | 'asymmetric';
  /** The meta as Barbican stores it: the request's, name and expiration normalized. */
  meta: Json;
  secret: NewSecret;
  passphrase: unknown;
}

const ORDER_TYPES = ['key', 'asymmetric'];

/**
 * validators.TypeOrderValidator. Certificate orders are gone from Barbican (deprecated in Newton,
 * refused by the schema since 2024.2: "Prohibit certificate order resource"), so `certificate`
 * is refused here as Barbican now refuses it.
 */
export function validateOrder(raw: unknown): NewOrder {
  const S = 'Order';
  if (!isDict(raw)) throw kmErrors.invalidObject(S, `${pyRepr(raw)} is not of type 'object'`, 'None');
  // jsonschema's best_match over the draft-03 schema: `type` is reported before `meta`.
  if (!Object.hasOwn(raw, 'type')) throw kmErrors.invalidObject(S, "'type' is a required property", 'type');
  if (typeof raw.type !== 'string') throw kmErrors.invalidObject(S, `${pyRepr(raw.type)} is not of type 'string'`, 'type');
  if (!ORDER_TYPES.includes(raw.type)) throw kmErrors.invalidObject(S, `${pyRepr(raw.type)} is not one of ${pyList(ORDER_TYPES)}`, 'type');
  if (!Object.hasOwn(raw, 'meta')) throw kmErrors.invalidObject(S, "'meta' is a required property", 'meta');
  if (!isDict(raw.meta)) throw kmErrors.invalidObject(S, `${pyRepr(raw.meta)} is not of type 'object'`, 'meta');
  const type = raw.type as NewOrder['type'];
  const meta = raw.meta;
  const secret = validateNewSecret(meta, S);
  const label = type === 'key' ? 'key' : 'asymmetric';
  if (typeof meta.payload === 'string' && meta.payload.trim() !== '') throw kmErrors.invalidObject(S, `'payload' not allowed for ${label} type order`, 'meta');
  const kind = type === 'key' ? 'key' : 'asymmetric key';
  if (!secret.algorithm) throw kmErrors.invalidObject(S, `'algorithm' is required field for ${kind} type order`, 'meta');
  if (!secret.bitLength) throw kmErrors.invalidObject(S, `'bit_length' is required field for ${kind} type order`, 'meta');
  if (secret.bitLength % 8 !== 0) throw new DomainError('bad_request', 'UnsupportedField', 'Provided field value is not supported');
  // NewSecretValidator writes the stripped name and the parsed expiration back into the meta.
  const stored: Json = { ...meta, name: secret.name, expiration: secret.expiration };
  return { type, meta: stored, secret, passphrase: meta.passphrase };
}

/** validators.ProjectQuotaValidator: `{"project_quotas": {resource: integer}}`, nothing else. */
export function validateProjectQuotas(raw: unknown): Map<string, number> {
  const S = 'Project Quota';
  if (!isDict(raw)) throw kmErrors.invalidObject(S, `${pyRepr(raw)} is not of type 'object'`, 'None');
  const extra = Object.keys(raw).filter((k) => k !== 'project_quotas');
  if (extra.length)
    throw kmErrors.invalidObject(
      S,
      `Additional properties are not allowed (${extra.map(pyRepr).join(', ')} ${extra.length > 1 ? 'were' : 'was'} unexpected)`,
      'None',
    );
  if (!Object.hasOwn(raw, 'project_quotas')) throw kmErrors.invalidObject(S, "'project_quotas' is a required property", 'None');
  const q = raw.project_quotas;
  if (!isDict(q)) throw kmErrors.invalidObject(S, `${pyRepr(q)} is not of type 'object'`, 'project_quotas');
  const unknown = Object.keys(q).filter((k) => !QUOTA_RESOURCES.includes(k));
  if (unknown.length)
    throw kmErrors.invalidObject(
      S,
      `Additional properties are not allowed (${unknown.map(pyRepr).join(', ')} ${unknown.length > 1 ? 'were' : 'was'} unexpected)`,
      'project_quotas',
    );
  const out = new Map<string, number>();
  for (const r of QUOTA_RESOURCES) {
    if (!Object.hasOwn(q, r)) continue;
    const v = q[r];
    if (typeof v !== 'number' || !Number.isInteger(v)) throw kmErrors.invalidObject(S, `${pyRepr(v)} is not of type 'integer'`, 'project_quotas');
    out.set(r, v);
  }
  return out;
}

/** The resources a Barbican quota limits (quota.QuotaDriver._get_resources). */
export const QUOTA_RESOURCES = ['secrets', 'orders', 'containers', 'consumers', 'cas'];

const URL_SAFE = /^[A-Za-z0-9_-]*$/;
const invalidMetadataKey = () => new DomainError('bad_request', 'InvalidMetadataKey', 'Invalid Key. Key must be URL safe.');

/** validators.NewSecretMetadataValidator: `{"metadata": {key: string}}`, keys lowered. */
export function validateSecretMetadata(raw: unknown): Map<string, string> {
  const S = 'SecretMetadata';
  if (!isDict(raw)) throw kmErrors.invalidObject(S, `${pyRepr(raw)} is not of type 'object'`, 'None');
  if (!Object.hasOwn(raw, 'metadata')) throw kmErrors.invalidObject(S, "'metadata' is a required property", 'metadata');
  const m = raw.metadata;
  if (!isDict(m)) throw kmErrors.invalidObject(S, `${pyRepr(m)} is not of type 'object'`, 'metadata');
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(m)) {
    if (!URL_SAFE.test(k)) throw invalidMetadataKey();
    if (typeof v !== 'string') throw new DomainError('bad_request', 'InvalidMetadataRequest', 'Invalid Metadata. Keys and Values must be Strings.');
    // load_body strips every string value; a key not in lower case is replaced by its lower case.
    out.set(k.toLowerCase(), v.trim());
  }
  return out;
}

/** validators.NewSecretMetadatumValidator: `{"key": …, "value": …}`, nothing else. */
export function validateSecretMetadatum(raw: unknown): { key: string; value: string } {
  const S = 'SecretMetadatum';
  if (!isDict(raw)) throw kmErrors.invalidObject(S, `${pyRepr(raw)} is not of type 'object'`, 'None');
  // jsonschema's best_match over the draft-03 schema: additional properties, then `value`, then `key`.
  const extra = Object.keys(raw).filter((k) => k !== 'key' && k !== 'value');
  if (extra.length)
    throw kmErrors.invalidObject(
      S,
      `Additional properties are not allowed (${extra.map(pyRepr).join(', ')} ${extra.length > 1 ? 'were' : 'was'} unexpected)`,
      'None',
    );
  for (const k of ['value', 'key']) {
    if (!Object.hasOwn(raw, k)) throw kmErrors.invalidObject(S, `'${k}' is a required property`, k);
    const v = raw[k];
    if (typeof v !== 'string') throw kmErrors.invalidObject(S, `${pyRepr(v)} is not of type 'string'`, k);
    if (v.trim().length > 255) throw kmErrors.invalidObject(S, `${pyRepr(v.trim())} is too long`, k);
  }
  const key = (raw.key as string).trim();
  if (!URL_SAFE.test(key)) throw invalidMetadataKey();
  return { key: key.toLowerCase(), value: (raw.value as string).trim() };
}

/** A string property of 1..max characters (after load_body's strip), in jsonschema's words. */
function checkString(schema: string, v: unknown, k: string, max: number): void {
  if (typeof v !== 'string') throw kmErrors.invalidObject(schema, `${pyRepr(v)} is not of type 'string'`, k);
  if (v.trim().length < 1) throw kmErrors.invalidObject(schema, `${pyRepr(v.trim())} should be non-empty`, k);
  if (v.trim().length > max) throw kmErrors.invalidObject(schema, `${pyRepr(v.trim())} is too long`, k);
}

/** validators.SecretConsumerValidator: service, resource_type (1..255) and resource_id (1..), strings. */
export function validateSecretConsumer(raw: unknown): { service: string; resourceType: string; resourceId: string } {
  const S = 'Secret Consumer';
  if (!isDict(raw)) throw kmErrors.invalidObject(S, `${pyRepr(raw)} is not of type 'object'`, 'None');
  const props: Array<[string, number]> = [
    ['service', 255],
    ['resource_type', 255],
    ['resource_id', Number.MAX_SAFE_INTEGER],
  ];
  // jsonschema's best_match: a missing property before a wrong one.
  for (const [k] of props) if (!Object.hasOwn(raw, k)) throw kmErrors.invalidObject(S, `'${k}' is a required property`, 'None');
  for (const [k, max] of props) checkString(S, raw[k], k, max);
  return { service: (raw.service as string).trim(), resourceType: (raw.resource_type as string).trim(), resourceId: (raw.resource_id as string).trim() };
}

/** validators.ContainerConsumerValidator: name (1..36) and URL (1..255), strings. */
export function validateContainerConsumer(raw: unknown): { name: string; url: string } {
  const S = 'Consumer';
  if (!isDict(raw)) throw kmErrors.invalidObject(S, `${pyRepr(raw)} is not of type 'object'`, 'None');
  for (const k of ['name', 'URL']) if (!Object.hasOwn(raw, k)) throw kmErrors.invalidObject(S, `'${k}' is a required property`, 'None');
  checkString(S, raw.name, 'name', 36);
  checkString(S, raw.URL, 'URL', 255);
  return { name: (raw.name as string).trim(), url: (raw.URL as string).trim() };
}

export interface NewContainer {
  name: string | null;
  type: string;
  refs: Array<{ name: string | null; secretId: string }>;
}

/** validators.ContainerValidator. */
export function validateContainer(raw: unknown): NewContainer {
  const S = 'Container';
  if (!isDict(raw)) throw kmErrors.invalidObject(S, `${pyRepr(raw)} is not of type 'object'`, 'None');
  const b = raw;
  if (b.name !== undefined && b.name !== null && (typeof b.name !== 'string' || b.name.length > 255)) {
    throw kmErrors.invalidObject(S, `${pyRepr(b.name)} is not of type 'string', 'null'`, 'name');
  }
  if (!Object.hasOwn(b, 'type')) throw kmErrors.invalidObject(S, "'type' is a required property", 'None');
  const types = ['generic', 'rsa', 'certificate'];
  if (typeof b.type !== 'string' || !types.includes(b.type)) throw kmErrors.invalidObject(S, `${pyRepr(b.type)} is not one of ${pyList(types)}`, 'type');
  const list = b.secret_refs ?? [];
  if (!Array.isArray(list)) throw kmErrors.invalidObject(S, `${pyRepr(list)} is not of type 'array'`, 'secret_refs');
  const refs: NewContainer['refs'] = [];
  for (const r of list) {
    if (!isDict(r) || typeof r.secret_ref !== 'string' || r.secret_ref.length < 1) {
      throw kmErrors.invalidObject(S, "'secret_ref' is a required property", 'secret_refs');
    }
    const name = typeof r.name === 'string' ? r.name.trim() : null;
    const parsed = parseRef(r.secret_ref.trim());
    const id = parsed?.type === 'secret' ? parsed.id : r.secret_ref.trim().replace(/\/$/, '').split('/').pop()!;
    refs.push({ name, secretId: id });
  }
  if (refs.length) {
    const names = new Set(refs.map((r) => r.name ?? ''));
    if (names.size !== refs.length) throw kmErrors.invalidObject(S, 'Duplicate reference names are not allowed', 'secret_refs');
    if (new Set(refs.map((r) => r.secretId)).size !== refs.length) throw kmErrors.invalidObject(S, 'Duplicate secret ids are not allowed', 'secret_refs');
    const only = (allowed: string[]) => [...names].every((n) => allowed.includes(n));
    if (b.type === 'rsa') {
      if (!only(['public_key', 'private_key', 'private_key_passphrase'])) {
        throw kmErrors.invalidObject(
          S,
          "only 'private_key', 'public_key' and 'private_key_passphrase' reference names are allowed for RSA type",
          'secret_refs',
        );
      }
      if (!names.has('public_key') || !names.has('private_key')) {
        throw kmErrors.invalidObject(S, "The minimum required reference names are 'public_key' and'private_key' for RSA type", 'secret_refs');
      }
    } else if (b.type === 'certificate') {
      if (!only(['certificate', 'private_key', 'private_key_passphrase', 'intermediates'])) {
        throw kmErrors.invalidObject(
          S,
          "only 'private_key', 'certificate' , 'private_key_passphrase',  or 'intermediates' reference names are allowed for Certificate type",
          'secret_refs',
        );
      }
      if (!names.has('certificate'))
        throw kmErrors.invalidObject(S, "The minimum required reference name is 'certificate' for Certificate type", 'secret_refs');
    }
  }
  return { name: typeof b.name === 'string' ? b.name.trim() : null, type: b.type, refs };
}

/** validators.ACLValidator: `{"read": {"users": [...], "project-access": bool}}`. */
export function validateAcl(raw: unknown): { users?: string[]; projectAccess?: boolean } | null {
  const S = 'ACL';
  if (!isDict(raw)) throw kmErrors.invalidObject(S, `${pyRepr(raw)} is not of type 'object'`, 'None');
  for (const k of Object.keys(raw)) if (k !== 'read') throw kmErrors.invalidObject(S, `Additional properties are not allowed ('${k}' was unexpected)`, 'None');
  const read = raw.read;
  if (read === undefined || read === null) return null;
  if (!isDict(read)) throw kmErrors.invalidObject(S, `${pyRepr(read)} is not of type 'object'`, 'read');
  const out: { users?: string[]; projectAccess?: boolean } = {};
  if (Object.hasOwn(read, 'users')) {
    const u = read.users;
    if (!Array.isArray(u) || u.some((x) => typeof x !== 'string' || x.length > 255))
      throw kmErrors.invalidObject(S, `${pyRepr(u)} is not of type 'array'`, 'read');
    out.users = u as string[];
  }
  if (Object.hasOwn(read, 'project-access')) {
    if (typeof read['project-access'] !== 'boolean') throw kmErrors.invalidObject(S, `${pyRepr(read['project-access'])} is not of type 'boolean'`, 'read');
    out.projectAccess = read['project-access'];
  }
  return out;
}
