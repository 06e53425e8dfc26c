/**
 * Nova's request schemas (nova/api/openstack/compute/schemas) for the resources this slice serves,
 * per microversion, and the format checkers Nova registers. Validation errors are worded by
 * SchemaValidator exactly as python-jsonschema words them, then framed as Nova frames them.
 */
import { isUuidLike } from '../../util/ids.js';
import { parseIp } from '../../util/ip.js';
import { type Schema, SchemaValidator, base64Problem } from '../../util/jsonschema.js';
import { pyStrOf } from '../../util/pyrepr.js';
import { novaBadRequest } from '../../core/compute/errors.js';
import type { ApiVersion } from './version.js';
import { boolFromString } from '../../util/bool.js';

/** Printable per Nova's regex ranges (Python's BMP range only; C* and non-space Z* are not). */
function printable(ch: string): boolean {
  const cp = ch.codePointAt(0)!;
  if (cp > 0xfffe) return false;
  if (/\p{C}/u.test(ch)) return false;
  return !/\p{Z}/u.test(ch) || /\p{Zs}/u.test(ch);
}
const noWsPrintable = (ch: string) => printable(ch) && !/\p{Zs}/u.test(ch);

const invalidName = (reason: string) => `An invalid 'name' value was provided. The name must be: ${reason}`;

function nameCheck(v: unknown): boolean | string {
  const reason = invalidName('printable characters. Can not start or end with whitespace.');
  if (typeof v !== 'string') return reason;
  const chars = [...v];
  if (!chars.every(printable)) return reason;
  if (chars.length && (!noWsPrintable(chars[0]) || !noWsPrintable(chars[chars.length - 1]))) return reason;
  return true;
}

function keypairNameCheck(v: unknown): boolean | string {
  const safe = '_- 0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
  if (typeof v !== 'string' || [...v].some((c) => !safe.includes(c))) return invalidName(`Only expected characters: [${safe}]`);
  return true;
}

export const validator = new SchemaValidator({
  numericStrings: true,
  formats: {
    uuid: (v) => typeof v !== 'string' || isUuidLike(v),
    ipv4: (v) => typeof v !== 'string' || parseIp(v)?.version === 4,
    ipv6: (v) => typeof v !== 'string' || parseIp(v)?.version === 6,
    base64: (v) => typeof v !== 'string' || base64Problem(v) === null,
    regex: (v) => {
      if (typeof v !== 'string' || v === '') return false;
      try {
        new RegExp(v);
        return true;
      } catch {
        return false;
      }
    },
    // oslo's parse_isotime (the iso8601 library): ISO 8601 only, not every string a JS Date takes.
    'date-time': (v) =>
      typeof v !== 'string' || (/^\d{4}-\d\d-\d\d([T ]\d\d:\d\d(:\d\d(\.\d+)?)?)?(Z|[+-]\d\d(:?\d\d)?)?$/.test(v) && !Number.isNaN(Date.parse(v))),
    name: nameCheck,
    keypair_name_20: keypairNameCheck,
  },
});

/** Validate a request body; Nova's ValidationError wording on failure (400). */
export function validateBody(schema: Schema, body: unknown): void {
  const e = validator.validate(schema, body);
  if (!e) return;
  if (e.cause) throw novaBadRequest(e.cause);
  if (e.path.length) {
    const field = e.path[e.path.length - 1];
    throw novaBadRequest(`Invalid input for field/attribute ${field}. Value: ${pyStrOf(e.instance)}. ${e.message}`);
  }
  throw novaBadRequest(e.message);
}

/** Validate query parameters ({name: [values]}); Nova's wording for query errors. */
export function validateQuery(schema: Schema, query: Record<string, string[]>): void {
  const e = validator.validate(schema, query);
  if (!e) return;
  if (e.path.length) {
    throw novaBadRequest(`Invalid input for query parameters ${e.path[0]}. Value: ${pyStrOf(e.instance)}. ${e.message}`);
  }
  throw novaBadRequest(e.message);
}

// ---------------------------------------------------------------- parameter types

const copy = <T>(x: T): T => structuredClone(x);
const BOOLEAN = {
  type: ['boolean', 'string'],
  enum: [
    true,
    'True',
    'TRUE',
    'true',
    '1',
    'ON',
    'On',
    'on',
    'YES',
    'Yes',
    'yes',
    false,
    'False',
    'FALSE',
    'false',
    '0',
    'OFF',
    'Off',
    'off',
    'NO',
    'No',
    'no',
  ],
};
const NAME = { type: 'string', minLength: 1, maxLength: 255, format: 'name' };
const POSITIVE_INT = { type: ['integer', 'string'], pattern: '^[0-9]*$', minimum: 1, minLength: 1 };
const NON_NEGATIVE_INT = { type: ['integer', 'string'], pattern: '^[0-9]*$', minimum: 0, minLength: 1 };
const DESCRIPTION = { type: ['string', 'null'], minLength: 0, maxLength: 255, pattern: '^[\\P{C}]*$' };
const METADATA = {
  type: 'object',
  patternProperties: { '^[a-zA-Z0-9-_:. ]{1,255}$': { type: 'string', maxLength: 255 } },
  additionalProperties: false,
};
const IP_ADDRESS = { type: 'string', oneOf: [{ format: 'ipv4' }, { format: 'ipv6' }] };
const TAG = { type: 'string', maxLength: 60, pattern: '^[^,/]*$' };
const multi = (s: Schema) => ({ type: 'array', items: s });
const QUERY_STRING = multi({ type: 'string' });
const QUERY_REGEX = multi({ type: 'string', format: 'regex' });
const FLAVOR_POSITIVE = { type: ['integer', 'string'], pattern: '^[0-9]*$', minimum: 1, maximum: 2147483647, minLength: 1 };
const FLAVOR_NON_NEGATIVE = { type: ['integer', 'string'], pattern: '^[0-9]*$', minimum: 0, maximum: 2147483647, minLength: 1 };

// ---------------------------------------------------------------- servers

const NETWORK_ITEM_21 = {
  type: 'object',
  properties: {
    fixed_ip: IP_ADDRESS,
    port: { oneOf: [{ type: 'string', format: 'uuid' }, { type: 'null' }] },
    uuid: { type: 'string' },
  },
  additionalProperties: false,
};

const CREATE_21: Schema = {
  type: 'object',
  properties: {
    server: {
      type: 'object',
      properties: {
        name: NAME,
        imageRef: {
          oneOf: [
            { type: 'string', format: 'uuid' },
            { type: 'string', maxLength: 0 },
          ],
        },
        flavorRef: { type: ['string', 'integer'], minLength: 1 },
        adminPass: { type: 'string' },
        metadata: METADATA,
        networks: { type: 'array', items: NETWORK_ITEM_21 },
        'OS-DCF:diskConfig': { type: 'string', enum: ['AUTO', 'MANUAL'] },
        accessIPv4: { type: 'string', format: 'ipv4' },
        accessIPv6: { type: 'string', format: 'ipv6' },
        personality: {
          type: 'array',
          items: { type: 'object', properties: { path: { type: 'string' }, contents: { type: 'string', format: 'base64' } }, additionalProperties: false },
        },
        availability_zone: NAME,
        block_device_mapping: { type: 'array', items: { type: 'object' } },
        block_device_mapping_v2: { type: 'array', items: { type: 'object' } },
        config_drive: BOOLEAN,
        key_name: NAME,
        min_count: POSITIVE_INT,
        max_count: POSITIVE_INT,
        return_reservation_id: BOOLEAN,
        security_groups: { type: 'array', items: { type: 'object', properties: { name: NAME }, additionalProperties: false } },
        user_data: { type: 'string', format: 'base64', maxLength: 65535 },
      },
      required: ['name', 'flavorRef'],
      additionalProperties: false,
    },
    'os:scheduler_hints': { type: 'object', additionalProperties: true },
    'OS-SCH-HNT:scheduler_hints': { type: 'object', additionalProperties: true },
  },
  required: ['server'],
  additionalProperties: false,
};

type ServerProps = Record<string, Schema>;
const serverProps = (s: Schema) => (s.properties as Record<string, Schema>).server.properties as ServerProps;

const CREATE_219 = copy(CREATE_21);
serverProps(CREATE_219).description = DESCRIPTION;
const CREATE_232 = copy(CREATE_219);
((serverProps(CREATE_232).networks.items as Schema).properties as ServerProps).tag = TAG;
const CREATE_233 = copy(CREATE_232);
const CREATE_237 = copy(CREATE_219);
((CREATE_237.properties as Record<string, Schema>).server.required as string[]).push('networks');
// 2.37: networks is a list (whose uuids must be UUIDs) or "auto"/"none".
const NETWORK_ITEM_237 = copy(NETWORK_ITEM_21);
(NETWORK_ITEM_237.properties as ServerProps).uuid = { type: 'string', format: 'uuid' };
serverProps(CREATE_237).networks = {
  oneOf: [
    { type: 'array', items: NETWORK_ITEM_237 },
    { type: 'string', enum: ['none', 'auto'] },
  ],
};
const CREATE_242 = copy(CREATE_237);
(((serverProps(CREATE_242).networks.oneOf as Schema[])[0].items as Schema).properties as ServerProps).tag = TAG;

export function serverCreateSchema(v: ApiVersion): Schema {
  if (v.gte('2.42')) return CREATE_242;
  if (v.gte('2.37')) return CREATE_237;
  if (v.gte('2.33')) return CREATE_233;
  if (v.gte('2.32')) return CREATE_232;
  if (v.gte('2.19')) return CREATE_219;
  return CREATE_21;
}

const UPDATE_21: Schema = {
  type: 'object',
  properties: {
    server: {
      type: 'object',
      properties: {
        name: NAME,
        'OS-DCF:diskConfig': { type: 'string', enum: ['AUTO', 'MANUAL'] },
        accessIPv4: { type: 'string', format: 'ipv4' },
        accessIPv6: { type: 'string', format: 'ipv6' },
      },
      additionalProperties: false,
    },
  },
  required: ['server'],
  additionalProperties: false,
};
const UPDATE_219 = copy(UPDATE_21);
serverProps(UPDATE_219).description = DESCRIPTION;

export const serverUpdateSchema = (v: ApiVersion): Schema => (v.gte('2.19') ? UPDATE_219 : UPDATE_21);

export const REBOOT_SCHEMA: Schema = {
  type: 'object',
  properties: {
    reboot: {
      type: 'object',
      properties: { type: { type: 'string', enum: ['HARD', 'Hard', 'hard', 'SOFT', 'Soft', 'soft'] } },
      required: ['type'],
      additionalProperties: false,
    },
  },
  required: ['reboot'],
  additionalProperties: false,
};

export const CONSOLE_OUTPUT_SCHEMA: Schema = {
  type: 'object',
  properties: {
    'os-getConsoleOutput': {
      type: 'object',
      properties: { length: { type: ['integer', 'string', 'null'], pattern: '^-?[0-9]+$', minimum: -1 } },
      additionalProperties: false,
    },
  },
  required: ['os-getConsoleOutput'],
  additionalProperties: false,
};

const ATTACH_21: Schema = {
  type: 'object',
  properties: {
    interfaceAttachment: {
      type: 'object',
      properties: {
        net_id: { type: 'string', format: 'uuid' },
        port_id: { type: 'string', format: 'uuid' },
        fixed_ips: {
          type: 'array',
          minItems: 1,
          maxItems: 1,
          items: { type: 'object', properties: { ip_address: IP_ADDRESS }, required: ['ip_address'], additionalProperties: false },
        },
      },
      additionalProperties: false,
    },
  },
  additionalProperties: false,
};
export const ATTACH_SCHEMA = ATTACH_21;

export const METADATA_SCHEMA: Schema = { type: 'object', properties: { metadata: METADATA }, required: ['metadata'], additionalProperties: false };
export const META_ITEM_SCHEMA: Schema = {
  type: 'object',
  properties: { meta: { ...copy(METADATA), minProperties: 1, maxProperties: 1 } },
  required: ['meta'],
  additionalProperties: false,
};
export const TAGS_SCHEMA: Schema = {
  type: 'object',
  properties: { tags: { type: 'array', items: TAG, maxItems: 50 } },
  required: ['tags'],
  additionalProperties: false,
};
export const TAG_SCHEMA = TAG;

export const EXTERNAL_EVENTS_SCHEMA: Schema = {
  type: 'object',
  properties: {
    events: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        properties: {
          server_uuid: { type: 'string', format: 'uuid' },
          name: { type: 'string', enum: ['network-changed', 'network-vif-plugged', 'network-vif-unplugged', 'network-vif-deleted'] },
          status: { type: 'string', enum: ['failed', 'completed', 'in-progress'] },
          tag: { type: 'string', maxLength: 255 },
        },
        required: ['server_uuid', 'name'],
        additionalProperties: false,
      },
    },
  },
  required: ['events'],
  additionalProperties: false,
};

/** Nova's flavors index query (schemas/flavors.py): sort keys and directions are enums (others: 400). */
const FLAVOR_SORT_KEYS = [
  'created_at',
  'description',
  'disabled',
  'ephemeral_gb',
  'flavorid',
  'id',
  'is_public',
  'memory_mb',
  'name',
  'root_gb',
  'rxtx_factor',
  'swap',
  'updated_at',
  'vcpu_weight',
  'vcpus',
];
export const FLAVOR_QUERY_SCHEMA: Schema = {
  type: 'object',
  properties: {
    sort_key: multi({ type: 'string', enum: FLAVOR_SORT_KEYS }),
    sort_dir: multi({ type: 'string', enum: ['asc', 'desc'] }),
  },
  additionalProperties: true,
};

const SORT_KEYS = [
  'access_ip_v4',
  'access_ip_v6',
  'auto_disk_config',
  'availability_zone',
  'config_drive',
  'created_at',
  'display_description',
  'display_name',
  'host',
  'hostname',
  'image_ref',
  'instance_type_id',
  'kernel_id',
  'key_name',
  'launch_index',
  'launched_at',
  'locked_by',
  'node',
  'power_state',
  'progress',
  'project_id',
  'ramdisk_id',
  'root_device_name',
  'task_state',
  'terminated_at',
  'updated_at',
  'user_id',
  'uuid',
  'vm_state',
];
/** Sort keys Nova accepts but ignores. */
export const IGNORED_SORT_KEYS = [
  'architecture',
  'cell_name',
  'cleaned',
  'default_ephemeral_device',
  'default_swap_device',
  'deleted',
  'deleted_at',
  'disable_terminate',
  'ephemeral_gb',
  'ephemeral_key_uuid',
  'id',
  'key_data',
  'launched_on',
  'locked',
  'memory_mb',
  'os_type',
  'reservation_id',
  'root_gb',
  'shutdown_terminate',
  'user_data',
  'vcpus',
  'vm_mode',
];

const SERVER_QUERY_21: Schema = {
  type: 'object',
  properties: {
    user_id: QUERY_STRING,
    project_id: QUERY_STRING,
    tenant_id: QUERY_STRING,
    image: QUERY_STRING,
    flavor: QUERY_REGEX,
    reservation_id: QUERY_REGEX,
    name: QUERY_REGEX,
    display_name: QUERY_REGEX,
    host: QUERY_STRING,
    sort_key: multi({ type: 'string', enum: [...SORT_KEYS, ...IGNORED_SORT_KEYS] }),
    sort_dir: QUERY_STRING,
    all_tenants: QUERY_STRING,
    deleted: QUERY_STRING,
    status: QUERY_STRING,
    'changes-since': multi({ type: 'string', format: 'date-time' }),
    ip: QUERY_REGEX,
    ip6: QUERY_REGEX,
    limit: multi(NON_NEGATIVE_INT),
    marker: multi({ type: 'string' }),
  },
  additionalProperties: true,
  patternProperties: { '^_': QUERY_STRING },
};
const SERVER_QUERY_226 = copy(SERVER_QUERY_21);
Object.assign(SERVER_QUERY_226.properties as object, { tags: QUERY_REGEX, 'tags-any': QUERY_REGEX, 'not-tags': QUERY_REGEX, 'not-tags-any': QUERY_REGEX });

export const serverQuerySchema = (v: ApiVersion): Schema => (v.gte('2.26') ? SERVER_QUERY_226 : SERVER_QUERY_21);

// ---------------------------------------------------------------- key pairs, flavors, quotas

const KEYPAIR_NAME = { allOf: [NAME, { type: 'string', minLength: 1, maxLength: 255, format: 'keypair_name_20' }] };
const keypairCreate = (extra: Record<string, Schema>): Schema => ({
  type: 'object',
  properties: {
    keypair: {
      type: 'object',
      properties: { name: KEYPAIR_NAME, ...extra, public_key: { type: 'string' } },
      required: ['name'],
      additionalProperties: false,
    },
  },
  required: ['keypair'],
  additionalProperties: false,
});
const KEYPAIR_TYPE = { type: 'string', enum: ['ssh', 'x509'] };
export function keypairCreateSchema(v: ApiVersion): Schema {
  if (v.gte('2.10')) return keypairCreate({ type: KEYPAIR_TYPE, user_id: { type: 'string' } });
  if (v.gte('2.2')) return keypairCreate({ type: KEYPAIR_TYPE });
  return keypairCreate({});
}

export const FLAVOR_CREATE_SCHEMA: Schema = {
  type: 'object',
  properties: {
    flavor: {
      type: 'object',
      properties: {
        name: NAME,
        id: { type: ['string', 'number', 'null'], minLength: 1, maxLength: 255, pattern: '^(?! )[a-zA-Z0-9. _-]+(?<! )$' },
        ram: FLAVOR_POSITIVE,
        vcpus: FLAVOR_POSITIVE,
        disk: FLAVOR_NON_NEGATIVE,
        'OS-FLV-EXT-DATA:ephemeral': FLAVOR_NON_NEGATIVE,
        swap: FLAVOR_NON_NEGATIVE,
        rxtx_factor: { type: ['number', 'string'], pattern: '^[0-9]+(\\.[0-9]+)?$', minimum: 0, exclusiveMinimum: true, maximum: 3.40282e38 },
        'os-flavor-access:is_public': BOOLEAN,
      },
      required: ['name', 'ram', 'vcpus', 'disk'],
      additionalProperties: false,
    },
  },
  required: ['flavor'],
  additionalProperties: false,
};

export const EXTRA_SPECS_SCHEMA: Schema = {
  type: 'object',
  properties: {
    extra_specs: {
      type: 'object',
      patternProperties: { '^[a-zA-Z0-9-_:. ]{1,255}$': { type: ['string', 'number', 'boolean'], minLength: 0, maxLength: 255 } },
      additionalProperties: false,
    },
  },
  required: ['extra_specs'],
  additionalProperties: false,
};

const QUOTA_RESOURCE = { type: ['integer', 'string'], pattern: '^-?[0-9]+$', minimum: -1, maximum: 2147483647 };
export function quotaUpdateSchema(v: ApiVersion): Schema {
  const resources = [
    'instances',
    'cores',
    'ram',
    'metadata_items',
    'injected_files',
    'injected_file_content_bytes',
    'injected_file_path_bytes',
    'key_pairs',
    'server_groups',
    'server_group_members',
  ];
  if (!v.gte('2.36')) resources.push('fixed_ips', 'floating_ips', 'security_groups', 'security_group_rules', 'networks');
  return {
    type: 'object',
    properties: {
      quota_set: {
        type: 'object',
        properties: { ...Object.fromEntries(resources.map((r) => [r, QUOTA_RESOURCE])), force: BOOLEAN },
        additionalProperties: false,
      },
    },
    required: ['quota_set'],
    additionalProperties: false,
  };
}

/** oslo's bool_from_string for the values BOOLEAN accepts. */
/** Nova's strutils.bool_from_string of a value a schema let through (a boolean or a word). */
export const truthy = (v: unknown): boolean => v === true || (typeof v === 'string' && boolFromString(v));
