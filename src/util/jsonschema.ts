/**
 * The subset of JSON Schema (draft 4) that Nova and Glance validate request bodies with, reporting
 * the FIRST error the way python-jsonschema's `iter_errors` finds it: keywords in the order the
 * schema declares them, properties in schema order. Messages are python-jsonschema's wording
 * ("'x' is not of type 'string'"), because the services put them on the wire and clients show them.
 * No JavaScript validator words its errors like that, hence this small one.
 */
import { pyRepr } from './pyrepr.js';
import { isDict } from './json.js';

export type Schema = Record<string, unknown>;

export interface SchemaError {
  /** Path of property names / array indexes from the root to the failing value. */
  path: Array<string | number>;
  /** The failing value. */
  instance: unknown;
  /** python-jsonschema's message. */
  message: string;
  /** Set when a format checker explained itself (Nova's InvalidName): the whole user-facing text. */
  cause?: string;
}

/** A format check: true when valid; false or a reason string (used as `cause`) when not. */
type FormatCheck = (value: unknown) => boolean | string;

export interface ValidatorOptions {
  formats?: Record<string, FormatCheck>;
  /** Nova compares `minimum`/`maximum` on numeric strings too ("5" ≥ 1). */
  numericStrings?: boolean;
}

function isType(v: unknown, t: string): boolean {
  switch (t) {
    case 'string':
      return typeof v === 'string';
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v);
    case 'number':
      return typeof v === 'number';
    case 'boolean':
      return typeof v === 'boolean';
    case 'null':
      return v === null;
    case 'array':
      return Array.isArray(v);
    case 'object':
      return isDict(v);
    default:
      return false;
  }
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/** Python's len() of a str counts code points, not UTF-16 units. */
const pyLen = (s: string): number => [...s].length;

/** Python `re.search` semantics for the patterns these schemas use (JS regexes, unicode mode). */
const patternCache = new Map<string, RegExp>();
function pattern(p: string): RegExp {
  let re = patternCache.get(p);
  if (!re) {
    try {
      re = new RegExp(p, 'u');
    } catch {
      // Python's re accepts identity escapes such as \@ that a Unicode-mode RegExp refuses.
      re = new RegExp(p);
    }
    patternCache.set(p, re);
  }
  return re;
}

const sortedRepr = (xs: string[]) => [...xs].sort().map(pyRepr).join(', ');

export class SchemaValidator {
  constructor(private readonly opts: ValidatorOptions = {}) {}

  /** The first error, or null when `value` is valid. */
  validate(schema: Schema, value: unknown): SchemaError | null {
    return this.first(schema, value, []);
  }

  private toNumber(v: unknown): number | null {
    if (typeof v === 'number') return v;
    if (this.opts.numericStrings && typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
    return null;
  }

  private first(schema: Schema, v: unknown, path: Array<string | number>): SchemaError | null {
    const fail = (message: string, cause?: string): SchemaError => ({ path, instance: v, message, cause });
    for (const [kw, arg] of Object.entries(schema)) {
      switch (kw) {
        case 'type': {
          const types = Array.isArray(arg) ? (arg as string[]) : [arg as string];
          if (!types.some((t) => isType(v, t))) return fail(`${pyRepr(v)} is not of type ${types.map(pyRepr).join(', ')}`);
          break;
        }
        case 'enum':
          if (!(arg as unknown[]).some((e) => deepEqual(e, v))) return fail(`${pyRepr(v)} is not one of ${pyRepr(arg)}`);
          break;
        case 'minLength':
          if (typeof v === 'string' && pyLen(v) < (arg as number)) return fail(`${pyRepr(v)} is too short`);
          break;
        case 'maxLength':
          if (typeof v === 'string' && pyLen(v) > (arg as number)) return fail(`${pyRepr(v)} is too long`);
          break;
        case 'pattern':
          if (typeof v === 'string' && !pattern(arg as string).test(v)) return fail(`${pyRepr(v)} does not match ${pyRepr(arg)}`);
          break;
        case 'format': {
          const check = this.opts.formats?.[arg as string];
          if (!check) break;
          const ok = check(v);
          if (ok === true) break;
          return fail(`${pyRepr(v)} is not a ${pyRepr(arg)}`, typeof ok === 'string' ? ok : undefined);
        }
        case 'minimum': {
          const n = this.toNumber(v);
          if (n === null || typeof v === 'boolean') break;
          // Draft 4: `exclusiveMinimum: true` turns the bound strict.
          if (schema.exclusiveMinimum === true && n <= (arg as number)) return fail(`${pyRepr(v)} is less than or equal to the minimum of ${pyRepr(arg)}`);
          if (n < (arg as number)) return fail(`${pyRepr(v)} is less than the minimum of ${pyRepr(arg)}`);
          break;
        }
        case 'maximum': {
          const n = this.toNumber(v);
          if (n !== null && typeof v !== 'boolean' && n > (arg as number)) return fail(`${pyRepr(v)} is greater than the maximum of ${pyRepr(arg)}`);
          break;
        }
        case 'minItems':
          if (Array.isArray(v) && v.length < (arg as number)) return fail(`${pyRepr(v)} is too short`);
          break;
        case 'maxItems':
          if (Array.isArray(v) && v.length > (arg as number)) return fail(`${pyRepr(v)} is too long`);
          break;
        case 'uniqueItems':
          if (arg && Array.isArray(v) && v.some((x, i) => v.findIndex((y) => deepEqual(x, y)) !== i)) return fail(`${pyRepr(v)} has non-unique elements`);
          break;
        case 'minProperties':
          if (isDict(v) && Object.keys(v).length < (arg as number)) return fail(`${pyRepr(v)} does not have enough properties`);
          break;
        case 'maxProperties':
          if (isDict(v) && Object.keys(v).length > (arg as number)) return fail(`${pyRepr(v)} has too many properties`);
          break;
        case 'items':
          if (Array.isArray(v)) {
            for (let i = 0; i < v.length; i++) {
              const e = this.first(arg as Schema, v[i], [...path, i]);
              if (e) return e;
            }
          }
          break;
        case 'properties':
          if (isDict(v)) {
            for (const [name, sub] of Object.entries(arg as Record<string, Schema>)) {
              if (!Object.hasOwn(v, name)) continue;
              const e = this.first(sub, v[name], [...path, name]);
              if (e) return e;
            }
          }
          break;
        case 'patternProperties':
          if (isDict(v)) {
            for (const [p, sub] of Object.entries(arg as Record<string, Schema>)) {
              for (const [k, x] of Object.entries(v)) {
                if (!pattern(p).test(k)) continue;
                const e = this.first(sub, x, [...path, k]);
                if (e) return e;
              }
            }
          }
          break;
        case 'additionalProperties': {
          if (!isDict(v)) break;
          const props = (schema.properties ?? {}) as Record<string, unknown>;
          const patterns = Object.keys((schema.patternProperties ?? {}) as object);
          const extras = Object.keys(v).filter((k) => !Object.hasOwn(props, k) && !patterns.some((p) => pattern(p).test(k)));
          if (isDict(arg)) {
            for (const k of extras) {
              const e = this.first(arg, v[k], [...path, k]);
              if (e) return e;
            }
          } else if (arg === false && extras.length) {
            if (patterns.length) {
              const verb = extras.length === 1 ? 'does' : 'do';
              return fail(`${sortedRepr(extras)} ${verb} not match any of the regexes: ${sortedRepr(patterns)}`);
            }
            const verb = extras.length === 1 ? 'was' : 'were';
            return fail(`Additional properties are not allowed (${sortedRepr(extras)} ${verb} unexpected)`);
          }
          break;
        }
        case 'required':
          if (isDict(v)) {
            for (const name of arg as string[]) if (!Object.hasOwn(v, name)) return fail(`${pyRepr(name)} is a required property`);
          }
          break;
        case 'oneOf': {
          const subs = arg as Schema[];
          const errors = subs.map((s) => this.first(s, v, path));
          const valid = errors.filter((e) => e === null).length;
          if (valid === 0) return fail(`${pyRepr(v)} is not valid under any of the given schemas`);
          if (valid > 1)
            return fail(
              `${pyRepr(v)} is valid under each of ${subs
                .filter((_s, i) => errors[i] === null)
                .map(pyRepr)
                .join(', ')}`,
            );
          break;
        }
        case 'anyOf': {
          const subs = arg as Schema[];
          if (!subs.some((s) => this.first(s, v, path) === null)) return fail(`${pyRepr(v)} is not valid under any of the given schemas`);
          break;
        }
        case 'allOf':
          for (const s of arg as Schema[]) {
            const e = this.first(s, v, path);
            if (e) return e;
          }
          break;
        default:
          // Annotations (description, readOnly …) and keywords these schemas do not use.
          break;
      }
    }
    return null;
  }
}

/**
 * Python's `base64.b64decode(s)` (non-strict) acceptance: characters outside the alphabet are
 * skipped, padding completes a quantum. Returns the reason Python would give, or null when valid.
 */
export function base64Problem(s: string): string | null {
  let quad = 0;
  let pads = 0;
  let data = 0;
  for (const ch of s) {
    if (ch === '=') {
      if (quad >= 2 && quad + ++pads >= 4) return null;
      continue;
    }
    if (!/[A-Za-z0-9+/]/.test(ch)) continue;
    data++;
    pads = 0;
    quad = (quad + 1) % 4;
  }
  if (quad === 0) return null;
  return quad === 1 ? `Invalid base64-encoded string: number of data characters (${data}) cannot be 1 more than a multiple of 4` : 'Incorrect padding';
}

/** Decode what base64Problem accepted (the skipped characters are dropped first). */
export function decodeBase64Lenient(s: string): Buffer {
  const cut = s.replace(/[^A-Za-z0-9+/=]/g, '');
  return Buffer.from(cut, 'base64');
}
