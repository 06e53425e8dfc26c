/**
 * Request bodies the way Octavia's API layer (WSME types) reads them: JSON values are coerced to
 * the declared type (`"80"` becomes 80, `"yes"` becomes true), unknown keys are refused naming the
 * argument path, `null` is accepted for any attribute (controllers treat it as "reset"), and every
 * refusal is worded as Octavia words it, because clients and Tempest compare those strings.
 * A parsed object holds only the keys the client sent plus declared defaults ("Unset" is absence).
 */
import { DomainError } from '../errors.js';
import { ALPN_PROTOCOLS } from './constants.js';
import { cidrToString, parseCidr, parseIp } from '../../util/ip.js';
import { FALSE_WORDS, TRUE_WORDS } from '../../util/bool.js';
import { parseJson } from '../../util/json.js';
import { pyStrOf } from '../../util/pyrepr.js';

/** StringType(min_length, max_length, pattern). */
export interface WsStr {
  kind: 'str';
  min?: number;
  max?: number;
  pattern?: RegExp;
  patternText?: string;
}
/** wtypes.text: any string, not validated. */
export interface WsText {
  kind: 'text';
}
export interface WsInt {
  kind: 'int';
  min?: number;
  max?: number;
}
export interface WsEnum<V extends string | number = string | number> {
  kind: 'enum';
  base: 'str' | 'int' | 'float';
  values: readonly V[];
}
/** Strings of a checked form, stored as sent (cidr: canonical). */
export interface WsFormatted {
  kind: 'uuid' | 'ip' | 'cidr' | 'urlpath' | 'alpn';
}
export interface WsUrl {
  kind: 'url';
  requireScheme?: boolean;
}
export interface WsBool {
  kind: 'bool';
}
/** DictType(str, str). */
export interface WsDict {
  kind: 'dict';
}
export interface WsList<I extends WsType = WsType> {
  kind: 'list';
  item: I;
}
export interface WsObject<F extends Fields = Fields> {
  kind: 'object';
  fields: F;
}
export type WsType = WsStr | WsText | WsInt | WsEnum | WsFormatted | WsUrl | WsBool | WsDict | WsList | WsObject;

/**
 * An attribute of a body type (wsattr). `mandatory` ones must be sent; a `default` is filled in
 * when the attribute is absent. The two literal markers let BodyOf tell the three kinds apart.
 */
export type WsField<T extends WsType = WsType> = { type: T; mandatory: true } | { type: T; mandatory: false; default: unknown } | { type: T; mandatory: false };
export type Fields = Record<string, WsField>;

/**
 * The value a parsed attribute of type `T` holds. WSME accepts null for every attribute,
 * mandatory ones and list items included (controllers read it as "reset" or refuse it), so null
 * is part of every value type.
 */
export type ValueOf<T extends WsType> =
  | (T extends WsStr | WsText | WsFormatted | WsUrl
      ? string
      : T extends WsInt
        ? number
        : T extends WsBool
          ? boolean
          : T extends WsEnum<infer V>
            ? V
            : T extends WsDict
              ? Record<string, string>
              : T extends WsList<infer I>
                ? ValueOf<I>[]
                : T extends WsObject<infer F>
                  ? BodyOf<F>
                  : never)
  | null;

type Present<F extends Fields> = { [K in keyof F]: F[K] extends { mandatory: true } | { default: unknown } ? K : never }[keyof F];
type Simplify<O> = { [K in keyof O]: O[K] };

/**
 * The type of a parsed body of `fields`, derived from the field specs themselves (so the two
 * cannot drift): mandatory and defaulted attributes are always there, the others only when sent.
 *
 * Where an operation passes a mandatory attribute on as sent (`b.protocol!`), a null one goes
 * where it always went: into a message, a lookup that finds nothing, or the store, which refuses
 * it.
 */
export type BodyOf<F extends Fields> = Simplify<{ [K in Present<F>]: ValueOf<F[K]['type']> } & { [K in Exclude<keyof F, Present<F>>]?: ValueOf<F[K]['type']> }>;

/** Octavia's `{"faultstring"}` for a client error (faultcode Client). */
const octaviaBadRequest = (message: string) => new DomainError('bad_request', 'ClientSideError', message);

/** "Invalid input for field/attribute X. Value: 'V'. msg" */
export const invalidInput = (field: string, value: unknown, msg: string) =>
  octaviaBadRequest(`Invalid input for field/attribute ${field}. Value: '${pyStrOf(value)}'. ${msg}`);

class Coercion extends Error {}
class UnknownAttr extends Error {
  constructor(
    public path: string | null,
    readonly attrs: string[],
  ) {
    super('unknown attribute');
  }
  add(name: string): void {
    this.path = this.path === null ? name : `${name}.${this.path}`;
  }
  message2(): string {
    const word = this.attrs.length > 1 ? 'attributes' : 'attribute';
    return `Unknown ${word} for argument ${this.path}: ${this.attrs.join(', ')}`;
  }
}

/** Python's int(x) for JSON values. */
function pyInt(v: unknown): number {
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Coercion(`cannot convert float ${v} to integer`);
    return Math.trunc(v);
  }
  if (typeof v === 'string' && /^\s*[-+]?\d+\s*$/.test(v.replace(/_/g, ''))) return Number.parseInt(v.replace(/_/g, ''), 10);
  if (typeof v === 'string') throw new Coercion(`invalid literal for int() with base 10: '${v}'`);
  throw new Coercion(`int() argument must be a string, a bytes-like object or a real number, not '${pyTypeName(v)}'`);
}

function pyFloat(v: unknown): number {
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  if (typeof v === 'string') throw new Coercion(`could not convert string to float: '${v}'`);
  throw new Coercion(`float() argument must be a string or a real number, not '${pyTypeName(v)}'`);
}

function pyTypeName(v: unknown): string {
  if (v === null) return 'NoneType';
  if (Array.isArray(v)) return 'list';
  if (typeof v === 'object') return 'dict';
  if (typeof v === 'string') return 'str';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  return typeof v;
}

const UUID_RE = /^(?:urn:uuid:)?\{?([0-9a-f]{8})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{12})\}?$/i;

/** Python's str(uuid.UUID(v)), or null. */
export function canonicalUuid(v: unknown): string | null {
  if (typeof v !== 'string') return null;
  const m = UUID_RE.exec(v.trim() === v ? v : '');
  if (!m) return null;
  return `${m[1]}-${m[2]}-${m[3]}-${m[4]}-${m[5]}`.toLowerCase();
}

/** rfc3986-ish URL check used by Octavia's URLType (scheme http/https and a host required). */
export function isValidUrl(s: string, requireScheme = true): boolean {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rfc3986 refuses control characters (and space) anywhere in a URL
  if (/[\x00-\x20\x7f-\x9f]/.test(s)) return false;
  if (!requireScheme) return /^[^\s]*$/.test(s);
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$/.exec(s);
  if (!m) return false;
  if (!['http', 'https'].includes(m[1].toLowerCase())) return false;
  const authority = m[2].replace(/^[^@]*@/, '');
  const host = authority.replace(/:\d*$/, '');
  if (host === '') return false;
  if (host.startsWith('[')) return /^\[[0-9A-Fa-f:.]+\]$/.test(host);
  return /^[A-Za-z0-9._~%!$&'()*+,;=-]+$/.test(host);
}

/** Octavia's url_path(): a path that starts with '/', no whitespace, no scheme or host. */
function isValidUrlPath(s: string): boolean {
  if (/\s/.test(s)) return false;
  if (!s.startsWith('/') || s.startsWith('//')) return false;
  return /^[A-Za-z0-9\-._~%!$&'()*+,;=:@/?#[\]]*$/.test(s);
}

/** Convert a JSON value to the declared type (wsme fromjson); throws Coercion or UnknownAttr. */
function fromJson(t: WsType, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  switch (t.kind) {
    case 'int':
      return pyInt(v);
    case 'bool':
      if (typeof v === 'boolean') return v;
      if (typeof v === 'number') return v !== 0;
      // WSME's bool_fromjson compares the words as sent: 'True' is not one of them.
      if (typeof v === 'string' && TRUE_WORDS.has(v)) return true;
      if (typeof v === 'string' && FALSE_WORDS.has(v)) return false;
      throw new Coercion(`Value not an unambiguous boolean: ${pyStrOf(v)}`);
    case 'enum':
      if (t.base === 'int') return pyInt(v);
      if (t.base === 'float') return pyFloat(v);
      return v;
    case 'list':
      if (!Array.isArray(v)) throw new Coercion(`Value not a valid list: ${pyStrOf(v)}`);
      return v.map((x) => fromJson(t.item, x));
    case 'dict':
      if (typeof v !== 'object' || Array.isArray(v)) throw new Coercion(`Value not a valid dict: ${pyStrOf(v)}`);
      return { ...(v as Record<string, unknown>) };
    case 'object':
      return parseObject(t.fields, v);
    default:
      return v;
  }
}

/** Validate a coerced value (wsme validate_value); returns the stored value or throws a message. */
function validate(t: WsType, v: unknown): unknown {
  if (v === null) return null;
  switch (t.kind) {
    case 'str':
      if (typeof v !== 'string') throw new Coercion('Value should be string');
      if (t.min !== undefined && v.length < t.min) throw new Coercion(`Value should have a minimum character requirement of ${t.min}`);
      if (t.max !== undefined && v.length > t.max) throw new Coercion(`Value should have a maximum character requirement of ${t.max}`);
      if (t.pattern && !t.pattern.test(v)) throw new Coercion(`Value should match the pattern ${t.patternText ?? t.pattern.source}`);
      return v;
    case 'text':
      if (typeof v !== 'string') throw new Coercion(`Wrong type. Expected '<class 'str'>', got '<class '${pyTypeName(v)}'>'`);
      return v;
    case 'uuid': {
      const u = canonicalUuid(v);
      if (!u) throw new Coercion('Value should be UUID format');
      return u;
    }
    case 'int':
      if (t.min !== undefined && (v as number) < t.min) throw new Coercion(`Value should be greater or equal to ${t.min}`);
      if (t.max !== undefined && (v as number) > t.max) throw new Coercion(`Value should be lower or equal to ${t.max}`);
      return v;
    case 'bool':
      return v;
    case 'enum':
      if (!t.values.some((x) => x === v)) throw new Coercion(`Value should be one of: ${t.values.map((x) => pyStrOf(x)).join(', ')}`);
      return v;
    case 'ip':
      if (typeof v !== 'string' || !parseIp(v)) throw new Coercion('Value should be IPv4 or IPv6 format');
      return v;
    case 'cidr': {
      const ip = typeof v === 'string' && !v.includes('/') ? parseIp(v) : null;
      const c = typeof v === 'string' ? parseCidr(ip ? `${v}/${ip.version === 4 ? 32 : 128}` : v) : null;
      if (!c) throw new Coercion('Value should be IPv4 or IPv6 CIDR format');
      return cidrToString(c);
    }
    case 'url':
      if (typeof v !== 'string' || !isValidUrl(v, t.requireScheme ?? true)) throw new Coercion('Value must be a valid URL string');
      return v;
    case 'urlpath':
      if (typeof v !== 'string' || !isValidUrlPath(v)) throw new Coercion('Value must be a valid URL Path string');
      return v;
    case 'alpn':
      if (typeof v !== 'string' || !ALPN_PROTOCOLS.includes(v)) throw new Coercion('Value should be a valid ALPN protocol ID');
      return v;
    case 'dict':
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        if (typeof x !== 'string' || typeof k !== 'string') throw new Coercion('Value should be string');
        if (x.length > 255) throw new Coercion('Value should have a maximum character requirement of 255');
      }
      return v;
    case 'list':
      // WSME lets a null item through and Octavia then fails on it (a 500, or a NOT NULL column
      // refusing it); refused here as the client's input, whatever list it is in.
      if ((v as unknown[]).includes(null)) throw new Coercion('Value should be a list without None items');
      return (v as unknown[]).map((x) => validate(t.item, x));
    case 'object':
      return v;
  }
}

class FieldError extends Error {
  constructor(
    readonly field: string,
    readonly value: unknown,
    readonly msg: string,
  ) {
    super(msg);
  }
}

function parseObject(fields: Fields, v: unknown): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new Coercion(`'${pyTypeName(v)}' object has no attribute 'keys'`);
  }
  const obj = v as Record<string, unknown>;
  // Attribute names come from the client: only the declared ones are known (`constructor` is not).
  const unknown = Object.keys(obj).filter((k) => !Object.hasOwn(fields, k));
  if (unknown.length) throw new UnknownAttr(null, unknown);
  const out: Record<string, unknown> = {};
  for (const [name, f] of Object.entries(fields)) {
    if (Object.hasOwn(obj, name)) {
      let coerced: unknown;
      try {
        coerced = fromJson(f.type, obj[name]);
      } catch (e) {
        if (e instanceof UnknownAttr) e.add(name);
        throw e;
      }
      try {
        out[name] = validate(f.type, coerced);
      } catch (e) {
        if (e instanceof Coercion) throw new FieldError(name, coerced, e.message);
        throw e;
      }
    } else if (f.mandatory) {
      throw new FieldError(name, null, 'Mandatory field missing.');
    } else if ('default' in f) {
      out[name] = structuredClone(f.default);
    }
  }
  return out;
}

/**
 * Parse a request body `{"<root>": {...}}` for the controller argument `argName`
 * (`load_balancer`, `listener_` …). Returns the inner object, coerced, validated, defaulted.
 */
export function parseBody<F extends Fields>(argName: string, root: string, fields: F, raw: string | undefined): BodyOf<F> {
  // parseObject built it from `fields`: every key a declared attribute, every value of its type.
  return parseRoot(argName, root, { kind: 'object', fields }, raw, (inner) => inner !== undefined && inner !== null) as BodyOf<F>;
}

/** Parse a list body `{"members": [...]}` (member batch update). */
export function parseListBody<F extends Fields>(argName: string, root: string, fields: F, raw: string | undefined): Array<BodyOf<F> | null> {
  return parseRoot(argName, root, { kind: 'list', item: { kind: 'object', fields } }, raw, Array.isArray) as Array<BodyOf<F> | null>;
}

/** JSON → `{root: …}` coerced by WSME's rules, with Octavia's wording for every failure. */
function parseRoot(argName: string, root: string, type: WsType, raw: string | undefined, present: (inner: unknown) => boolean): unknown {
  let body: unknown;
  try {
    body = parseJson(raw === undefined || raw.trim() === '' ? 'null' : raw);
  } catch {
    throw octaviaBadRequest('Request is not in valid JSON format');
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw invalidInput(argName, body, `'${pyTypeName(body)}' object has no attribute 'keys'`);
  }
  try {
    const inner = parseObject({ [root]: { type, mandatory: false } }, body)[root];
    if (!present(inner)) throw invalidInput(argName, body, `Missing mandatory attribute: ${root}`);
    return inner;
  } catch (e) {
    if (e instanceof UnknownAttr) {
      e.add(argName);
      throw octaviaBadRequest(e.message2());
    }
    if (e instanceof FieldError) throw invalidInput(e.field, e.value, e.msg);
    if (e instanceof Coercion) throw invalidInput(argName, body, e.message);
    throw e;
  }
}

// ------------------------------------------------------------ type shorthands

export const T = {
  str: (max?: number, extra: { min?: number; pattern?: RegExp; patternText?: string } = {}): WsStr => ({ kind: 'str', max, ...extra }),
  text: { kind: 'text' } as WsText,
  uuid: { kind: 'uuid' } as WsFormatted,
  int: (min?: number, max?: number): WsInt => ({ kind: 'int', min, max }),
  bool: { kind: 'bool' } as WsBool,
  enumStr: <V extends string>(values: readonly V[]): WsEnum<V> => ({ kind: 'enum', base: 'str', values }),
  enumInt: (values: readonly number[]): WsEnum<number> => ({ kind: 'enum', base: 'int', values }),
  enumFloat: (values: readonly number[]): WsEnum<number> => ({ kind: 'enum', base: 'float', values }),
  ip: { kind: 'ip' } as WsFormatted,
  cidr: { kind: 'cidr' } as WsFormatted,
  url: { kind: 'url' } as WsUrl,
  urlpath: { kind: 'urlpath' } as WsFormatted,
  alpn: { kind: 'alpn' } as WsFormatted,
  dict: { kind: 'dict' } as WsDict,
  list: <I extends WsType>(item: I): WsList<I> => ({ kind: 'list', item }),
  object: <F extends Fields>(fields: F): WsObject<F> => ({ kind: 'object', fields }),
};

/** An optional attribute; with a default (checked against its type), filled in when absent. */
export function opt<T extends WsType>(type: T): { type: T; mandatory: false };
export function opt<T extends WsType>(type: T, dflt: ValueOf<T>): { type: T; mandatory: false; default: ValueOf<T> };
export function opt<T extends WsType>(type: T, ...dflt: [] | [ValueOf<T>]): WsField<T> {
  return dflt.length ? { type, mandatory: false, default: dflt[0] } : { type, mandatory: false };
}
export const req = <T extends WsType>(type: T): { type: T; mandatory: true } => ({ type, mandatory: true });
