import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { validationError } from '../../core/identity/errors.js';
import { pyRepr } from '../../util/pyrepr.js';

/**
 * Request-body validation with JSON Schema, as Keystone does it (jsonschema, Draft 4). Keystone
 * reports the first error jsonschema meets, worded by jsonschema (`'name' is a required
 * property`, `Invalid input for field 'enabled': 'yes' is not of type 'boolean'`), followed by a
 * dump of the schema; we send that first line.
 */
const ajv = new Ajv({ allErrors: true, strict: false, verbose: true, coerceTypes: false, useDefaults: false, removeAdditional: false });

export type Schema = Record<string, unknown>;

export type BodyValidator = (value: unknown) => void;

/** Compile `schema` into a function that throws Keystone's 400 on the first violation. */
export function validator(schema: Schema): BodyValidator {
  const fn: ValidateFunction = ajv.compile(schema);
  return (value: unknown) => {
    if (fn(value)) return;
    const errors = fn.errors ?? [];
    throw validationError(describe(firstError(schema, errors), errors));
  };
}

/**
 * jsonschema walks a schema's keywords in the order they are written (and `properties` in the
 * order they are listed); ajv reports in its own order. Sort ajv's errors by their position in
 * the schema to find the one jsonschema would have raised.
 */
function firstError(schema: Schema, errors: ErrorObject[]): ErrorObject {
  const rank = (e: ErrorObject): number[] => {
    const out: number[] = [];
    let node: unknown = schema;
    for (const seg of e.schemaPath.replace(/^#\/?/, '').split('/').filter(Boolean)) {
      const key = decodeURIComponent(seg.replace(/~1/g, '/').replace(/~0/g, '~'));
      if (node && typeof node === 'object') {
        const keys = Object.keys(node as object);
        out.push(keys.indexOf(key));
        node = (node as Record<string, unknown>)[key];
      } else {
        out.push(0);
      }
    }
    return out;
  };
  const cmp = (a: number[], b: number[]) => {
    for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i];
    return a.length - b.length;
  };
  return [...errors].sort((a, b) => cmp(rank(a), rank(b)))[0];
}

function describe(e: ErrorObject, all: ErrorObject[]): string {
  // Keystone would echo the offending value; a password's, an application credential's secret
  // or a credential's blob never leaves, whatever its type.
  const v = /password|secret|blob/i.test(e.instancePath.split('/').pop() ?? '') ? '***' : e.data;
  let msg: string;
  switch (e.keyword) {
    case 'required':
      msg = `${pyRepr((e.params as { missingProperty: string }).missingProperty)} is a required property`;
      break;
    case 'type': {
      const types = Array.isArray(e.schema) ? (e.schema as string[]) : [String(e.schema)];
      msg = `${pyRepr(v)} is not of type ${types.map((t) => pyRepr(t)).join(', ')}`;
      break;
    }
    case 'enum':
      msg = `${pyRepr(v)} is not one of ${pyRepr(e.schema)}`;
      break;
    case 'minLength':
    case 'minItems':
      msg = `${pyRepr(v)} is too short`;
      break;
    case 'maxLength':
    case 'maxItems':
      msg = `${pyRepr(v)} is too long`;
      break;
    case 'pattern':
      msg = `${pyRepr(v)} does not match ${pyRepr(e.schema)}`;
      break;
    case 'additionalProperties': {
      const extras = all
        .filter((x) => x.keyword === 'additionalProperties' && x.instancePath === e.instancePath)
        .map((x) => (x.params as { additionalProperty: string }).additionalProperty)
        .sort()
        .map((k) => pyRepr(k));
      msg = `Additional properties are not allowed (${extras.join(', ')} ${extras.length === 1 ? 'was' : 'were'} unexpected)`;
      break;
    }
    case 'minProperties':
      msg = `${pyRepr(v)} does not have enough properties`;
      break;
    case 'uniqueItems':
      msg = `${pyRepr(v)} has non-unique elements`;
      break;
    case 'minimum':
      msg = `${pyRepr(v)} is less than the minimum of ${pyRepr(e.schema)}`;
      break;
    case 'maximum':
      msg = `${pyRepr(v)} is greater than the maximum of ${pyRepr(e.schema)}`;
      break;
    case 'oneOf':
      msg = `${pyRepr(v)} is not valid under any of the given schemas`;
      break;
    case 'maxProperties':
      msg = `${pyRepr(v)} has too many properties`;
      break;
    default:
      msg = `${pyRepr(v)} is not valid under the given schema`;
  }
  const path = e.instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  return path.length ? `Invalid input for field '${path.join('/')}': ${msg}` : msg;
}
