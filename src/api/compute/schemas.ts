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
import { FLAVOR_SORT_KEYS } from '../../core/compute/flavors.js';

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

/** Nova's valid_az_name_regex: printable, no ':', no leading or trailing whitespace. */
function azNameCheck(v: unknown): boolean | string {
  const reason = invalidName('printable characters except :.Can not start or end with whitespace.');
  if (typeof v !== 'string') return reason;
  const chars = [...v];
  if (!chars.every((c) => printable(c) && c !== ':')) return reason;
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
    az_name: azNameCheck,
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

const SERVER_ID = { type: 'string', format: 'uuid' };
const VOLUME_SIZE = { type: ['integer', 'string'], pattern: '^[0-9]+$', minimum: 1, maximum: 0x7fffffff };
const LEGACY_BDM = {
  type: 'object',
  properties: {
    virtual_name: { type: 'string', maxLength: 255 },
    volume_id: { type: 'string', format: 'uuid' },
    snapshot_id: { type: 'string', format: 'uuid' },
    volume_size: VOLUME_SIZE,
    device_name: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[a-zA-Z0-9._/-]*$' },
    delete_on_termination: BOOLEAN,
    no_device: {},
    connection_info: { type: 'string', maxLength: 16777215 },
  },
  additionalProperties: false,
};
const BDM_V2 = copy(LEGACY_BDM);
Object.assign(BDM_V2.properties as object, {
  source_type: { type: 'string', enum: ['volume', 'image', 'snapshot', 'blank'] },
  uuid: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[a-zA-Z0-9._-]*$' },
  image_id: { type: 'string', format: 'uuid' },
  destination_type: { type: 'string', enum: ['local', 'volume'] },
  guest_format: { type: 'string', maxLength: 255 },
  device_type: { type: 'string', maxLength: 255 },
  disk_bus: { type: 'string', maxLength: 255 },
  boot_index: { type: ['integer', 'string', 'null'], pattern: '^-?[0-9]+$' },
});
const PERSONALITY = {
  type: 'array',
  items: { type: 'object', properties: { path: { type: 'string' }, contents: { type: 'string', format: 'base64' } }, additionalProperties: false },
};
const HINTS = {
  type: 'object',
  properties: {
    group: { oneOf: [{ type: 'array', items: SERVER_ID }, SERVER_ID] },
    different_host: { oneOf: [SERVER_ID, { type: 'array', items: SERVER_ID }] },
    same_host: { type: ['string', 'array'], items: SERVER_ID },
    query: { type: ['string', 'object'] },
    target_cell: NAME,
    different_cell: { type: ['string', 'array'], items: { type: 'string' } },
    build_near_host_ip: IP_ADDRESS,
    cidr: { type: 'string', pattern: '^/[0-9a-f.:]+$' },
  },
  additionalProperties: true,
};
const FQDN = { type: 'string', pattern: '^[a-zA-Z0-9-._]*$', minLength: 1, maxLength: 255 };
const HOSTNAME = { type: 'string', pattern: '^[a-zA-Z0-9]+[a-zA-Z0-9-]*[a-zA-Z0-9]+$', minLength: 2, maxLength: 63 };
const TRUSTED_CERTS = { type: ['array', 'null'], minItems: 1, maxItems: 50, uniqueItems: true, items: { type: 'string', minLength: 1 } };

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
        personality: PERSONALITY,
        availability_zone: NAME,
        block_device_mapping: { type: 'array', items: LEGACY_BDM },
        block_device_mapping_v2: { type: 'array', items: BDM_V2 },
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
    'os:scheduler_hints': HINTS,
    'OS-SCH-HNT:scheduler_hints': HINTS,
  },
  required: ['server'],
  additionalProperties: false,
};

type ServerProps = Record<string, Schema>;
const serverProps = (s: Schema) => (s.properties as Record<string, Schema>).server.properties as ServerProps;
const bdmItemProps = (s: Schema) => (serverProps(s).block_device_mapping_v2.items as Schema).properties as ServerProps;

const CREATE_219 = copy(CREATE_21);
serverProps(CREATE_219).description = DESCRIPTION;
const CREATE_232 = copy(CREATE_219);
((serverProps(CREATE_232).networks.items as Schema).properties as ServerProps).tag = TAG;
bdmItemProps(CREATE_232).tag = TAG;
const CREATE_233 = copy(CREATE_219);
((serverProps(CREATE_233).networks.items as Schema).properties as ServerProps).tag = TAG;
const CREATE_237 = copy(CREATE_233);
((CREATE_237.properties as Record<string, Schema>).server.required as string[]).push('networks');
// 2.37: networks is a list (whose uuids must be UUIDs) or "auto"/"none", without tags (2.42 restores them).
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
bdmItemProps(CREATE_242).tag = TAG;
const CREATE_252 = copy(CREATE_242);
serverProps(CREATE_252).tags = { type: 'array', items: TAG, maxItems: 50 };
const CREATE_257 = copy(CREATE_252);
delete serverProps(CREATE_257).personality;
const CREATE_263 = copy(CREATE_257);
serverProps(CREATE_263).trusted_image_certificates = TRUSTED_CERTS;
const CREATE_267 = copy(CREATE_263);
bdmItemProps(CREATE_267).volume_type = { type: ['string', 'null'], minLength: 0, maxLength: 255 };
const CREATE_274 = copy(CREATE_267);
serverProps(CREATE_274).host = FQDN;
serverProps(CREATE_274).hypervisor_hostname = FQDN;
const CREATE_290 = copy(CREATE_274);
serverProps(CREATE_290).hostname = HOSTNAME;
const CREATE_294 = copy(CREATE_274);
serverProps(CREATE_294).hostname = FQDN;

export function serverCreateSchema(v: ApiVersion): Schema {
  if (v.gte('2.94')) return CREATE_294;
  if (v.gte('2.90')) return CREATE_290;
  if (v.gte('2.74')) return CREATE_274;
  if (v.gte('2.67')) return CREATE_267;
  if (v.gte('2.63')) return CREATE_263;
  if (v.gte('2.57')) return CREATE_257;
  if (v.gte('2.52')) return CREATE_252;
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
const UPDATE_290 = copy(UPDATE_219);
serverProps(UPDATE_290).hostname = HOSTNAME;
const UPDATE_294 = copy(UPDATE_219);
serverProps(UPDATE_294).hostname = FQDN;

export function serverUpdateSchema(v: ApiVersion): Schema {
  if (v.gte('2.94')) return UPDATE_294;
  if (v.gte('2.90')) return UPDATE_290;
  return v.gte('2.19') ? UPDATE_219 : UPDATE_21;
}

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
    launch_index: QUERY_STRING,
    image_ref: QUERY_STRING,
    image: QUERY_STRING,
    kernel_id: QUERY_REGEX,
    ramdisk_id: QUERY_REGEX,
    hostname: QUERY_REGEX,
    key_name: QUERY_REGEX,
    power_state: QUERY_REGEX,
    vm_state: QUERY_STRING,
    task_state: QUERY_STRING,
    host: QUERY_STRING,
    node: QUERY_REGEX,
    flavor: QUERY_REGEX,
    reservation_id: QUERY_REGEX,
    launched_at: QUERY_REGEX,
    terminated_at: QUERY_REGEX,
    availability_zone: QUERY_REGEX,
    name: QUERY_REGEX,
    display_name: QUERY_REGEX,
    description: QUERY_REGEX,
    display_description: QUERY_REGEX,
    locked_by: QUERY_REGEX,
    uuid: QUERY_STRING,
    root_device_name: QUERY_REGEX,
    config_drive: QUERY_REGEX,
    access_ip_v4: QUERY_REGEX,
    access_ip_v6: QUERY_REGEX,
    auto_disk_config: QUERY_REGEX,
    progress: QUERY_REGEX,
    sort_key: multi({ type: 'string', enum: [...SORT_KEYS, ...IGNORED_SORT_KEYS] }),
    sort_dir: QUERY_STRING,
    all_tenants: QUERY_STRING,
    soft_deleted: QUERY_STRING,
    deleted: QUERY_STRING,
    status: QUERY_STRING,
    'changes-since': multi({ type: 'string', format: 'date-time' }),
    ip: QUERY_REGEX,
    ip6: QUERY_REGEX,
    created_at: QUERY_REGEX,
    // JOINED_TABLE_QUERY_PARAMS_SERVERS: kept so that the API can refuse them (400).
    block_device_mapping: QUERY_STRING,
    services: QUERY_STRING,
    metadata: QUERY_STRING,
    system_metadata: QUERY_STRING,
    info_cache: QUERY_STRING,
    security_groups: QUERY_STRING,
    pci_devices: QUERY_STRING,
    limit: multi(NON_NEGATIVE_INT),
    marker: multi({ type: 'string' }),
  },
  additionalProperties: true,
  patternProperties: { '^_': QUERY_STRING },
};
const SERVER_QUERY_226 = copy(SERVER_QUERY_21);
Object.assign(SERVER_QUERY_226.properties as object, { tags: QUERY_REGEX, 'tags-any': QUERY_REGEX, 'not-tags': QUERY_REGEX, 'not-tags-any': QUERY_REGEX });
const SERVER_QUERY_266 = copy(SERVER_QUERY_226);
Object.assign(SERVER_QUERY_266.properties as object, { 'changes-before': multi({ type: 'string', format: 'date-time' }) });
/** 2.73: `locked` becomes a filter and a sort key. */
export const IGNORED_SORT_KEYS_273 = IGNORED_SORT_KEYS.filter((k) => k !== 'locked');
const SERVER_QUERY_273 = copy(SERVER_QUERY_266);
Object.assign(SERVER_QUERY_273.properties as object, {
  sort_key: multi({ type: 'string', enum: ['locked', ...SORT_KEYS, ...IGNORED_SORT_KEYS_273] }),
  locked: QUERY_STRING,
});
/** 2.75: unknown parameters and the ignored sort keys are refused. */
const SERVER_QUERY_275 = copy(SERVER_QUERY_273);
Object.assign(SERVER_QUERY_275.properties as object, { sort_key: multi({ type: 'string', enum: ['locked', ...SORT_KEYS] }) });
SERVER_QUERY_275.additionalProperties = false;

export function serverQuerySchema(v: ApiVersion): Schema {
  if (v.gte('2.75')) return SERVER_QUERY_275;
  if (v.gte('2.73')) return SERVER_QUERY_273;
  if (v.gte('2.66')) return SERVER_QUERY_266;
  return v.gte('2.26') ? SERVER_QUERY_226 : SERVER_QUERY_21;
}

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
/** 2.92: names may hold '@' and '.', and a public key is required (Nova no longer generates key pairs). */
const KEYPAIR_292: Schema = {
  type: 'object',
  properties: {
    keypair: {
      type: 'object',
      properties: {
        name: { allOf: [NAME, { type: 'string', pattern: '^[_\\-\\@\\. a-zA-Z0-9]+$', minLength: 1, maxLength: 255 }] },
        type: KEYPAIR_TYPE,
        public_key: { type: 'string' },
        user_id: { type: 'string' },
      },
      required: ['name', 'public_key'],
      additionalProperties: false,
    },
  },
  required: ['keypair'],
  additionalProperties: false,
};

export function keypairCreateSchema(v: ApiVersion): Schema {
  if (v.gte('2.92')) return KEYPAIR_292;
  if (v.gte('2.10')) return keypairCreate({ type: KEYPAIR_TYPE, user_id: { type: 'string' } });
  if (v.gte('2.2')) return keypairCreate({ type: KEYPAIR_TYPE });
  return keypairCreate({});
}

/** Flavor list query (Nova's index_query): sort_key and sort_dir validated; 2.75 refuses unknown parameters. */
export function flavorQuerySchema(v: ApiVersion): Schema {
  const props: Record<string, Schema> = {
    limit: multi(NON_NEGATIVE_INT),
    marker: multi({ type: 'string' }),
    is_public: QUERY_STRING,
    minRam: QUERY_STRING,
    minDisk: QUERY_STRING,
    sort_key: multi({ type: 'string', enum: FLAVOR_SORT_KEYS }),
    sort_dir: multi({ type: 'string', enum: ['asc', 'desc'] }),
  };
  return { type: 'object', properties: props, additionalProperties: !v.gte('2.75') };
}

export function flavorCreateSchema(v: ApiVersion): Schema {
  if (!v.gte('2.55')) return FLAVOR_CREATE_SCHEMA;
  const s = copy(FLAVOR_CREATE_SCHEMA);
  ((s.properties as Record<string, Schema>).flavor.properties as Record<string, Schema>).description = {
    type: ['string', 'null'],
    minLength: 0,
    maxLength: 65535,
    pattern: '^[\\P{C}]*$',
  };
  return s;
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
  const kept = v.gte('2.57') ? resources.filter((r) => !r.startsWith('injected_file')) : resources;
  return {
    type: 'object',
    properties: {
      quota_set: {
        type: 'object',
        properties: { ...Object.fromEntries(kept.map((r) => [r, QUOTA_RESOURCE])), force: BOOLEAN },
        additionalProperties: false,
      },
    },
    required: ['quota_set'],
    additionalProperties: false,
  };
}

/** os-quota-class-sets update: every resource until 2.50 dropped the nova-network ones, 2.57 the personality ones. */
export function quotaClassUpdateSchema(v: ApiVersion): Schema {
  let resources = [
    'instances',
    'cores',
    'ram',
    'floating_ips',
    'fixed_ips',
    'metadata_items',
    'key_pairs',
    'security_groups',
    'security_group_rules',
    'injected_files',
    'injected_file_content_bytes',
    'injected_file_path_bytes',
    'server_groups',
    'server_group_members',
  ];
  if (v.gte('2.50')) resources = resources.filter((r) => !QUOTA_CLASS_FILTERED_2_50.includes(r));
  if (v.gte('2.57')) resources = resources.filter((r) => !r.startsWith('injected_file'));
  return {
    type: 'object',
    properties: {
      quota_class_set: { type: 'object', properties: Object.fromEntries(resources.map((r) => [r, QUOTA_RESOURCE])), additionalProperties: false },
    },
    required: ['quota_class_set'],
    additionalProperties: false,
  };
}

/** FILTERED_QUOTAS_v250 of quota_classes.py. */
export const QUOTA_CLASS_FILTERED_2_50 = ['fixed_ips', 'floating_ips', 'security_group_rules', 'security_groups'];

/** oslo's bool_from_string for the values BOOLEAN accepts. */
/** Nova's strutils.bool_from_string of a value a schema let through (a boolean or a word). */
export const truthy = (v: unknown): boolean => v === true || (typeof v === 'string' && boolFromString(v));

// ---------------------------------------------------------------- server actions

const action = (name: string, body: Schema, required = true): Schema => ({
  type: 'object',
  properties: { [name]: body },
  required: required ? [name] : [],
  additionalProperties: false,
});
/** An action whose argument Nova does not look at ({"pause": null} and the like). */
export const ANY_ARGUMENT = (name: string): Schema => action(name, {});
const obj = (properties: Record<string, Schema>, required: string[] = []): Schema => ({
  type: 'object',
  properties,
  ...(required.length ? { required } : {}),
  additionalProperties: false,
});

const REBUILD_21 = action(
  'rebuild',
  obj(
    {
      name: NAME,
      imageRef: { type: 'string', format: 'uuid' },
      adminPass: { type: 'string' },
      metadata: METADATA,
      preserve_ephemeral: BOOLEAN,
      'OS-DCF:diskConfig': { type: 'string', enum: ['AUTO', 'MANUAL'] },
      accessIPv4: { type: 'string', format: 'ipv4' },
      accessIPv6: { type: 'string', format: 'ipv6' },
      personality: PERSONALITY,
    },
    ['imageRef'],
  ),
);
const rebuildProps = (s: Schema) => (s.properties as Record<string, Schema>).rebuild.properties as ServerProps;
const REBUILD_219 = copy(REBUILD_21);
rebuildProps(REBUILD_219).description = DESCRIPTION;
const REBUILD_254 = copy(REBUILD_219);
rebuildProps(REBUILD_254).key_name = {
  oneOf: [{ type: 'string', minLength: 1, maxLength: 255 }, { type: 'null' }],
};
const REBUILD_257 = copy(REBUILD_254);
delete rebuildProps(REBUILD_257).personality;
rebuildProps(REBUILD_257).user_data = { type: ['string', 'null'], format: 'base64', maxLength: 65535 };
const REBUILD_263 = copy(REBUILD_257);
rebuildProps(REBUILD_263).trusted_image_certificates = TRUSTED_CERTS;
const REBUILD_290 = copy(REBUILD_263);
rebuildProps(REBUILD_290).hostname = HOSTNAME;
const REBUILD_294 = copy(REBUILD_263);
rebuildProps(REBUILD_294).hostname = FQDN;

export function rebuildSchema(v: ApiVersion): Schema {
  if (v.gte('2.94')) return REBUILD_294;
  if (v.gte('2.90')) return REBUILD_290;
  if (v.gte('2.63')) return REBUILD_263;
  if (v.gte('2.57')) return REBUILD_257;
  if (v.gte('2.54')) return REBUILD_254;
  if (v.gte('2.19')) return REBUILD_219;
  return REBUILD_21;
}

export const RESIZE_SCHEMA = action(
  'resize',
  obj({ flavorRef: { type: ['string', 'integer'], minLength: 1 }, 'OS-DCF:diskConfig': { type: 'string', enum: ['AUTO', 'MANUAL'] } }, ['flavorRef']),
);
export const CREATE_IMAGE_SCHEMA = action('createImage', obj({ name: NAME, metadata: METADATA }, ['name']));
export const CREATE_BACKUP_SCHEMA = action(
  'createBackup',
  obj({ name: NAME, backup_type: { type: 'string' }, rotation: NON_NEGATIVE_INT, metadata: METADATA }, ['name', 'backup_type', 'rotation']),
);
export const lockSchema = (v: ApiVersion): Schema =>
  v.gte('2.73')
    ? action('lock', { type: ['object', 'null'], properties: { locked_reason: { type: 'string', minLength: 1, maxLength: 255 } }, additionalProperties: false })
    : action('lock', {});
export const RESCUE_SCHEMA = action('rescue', {
  type: ['object', 'null'],
  properties: { adminPass: { type: 'string' }, rescue_image_ref: { type: 'string', format: 'uuid' } },
  additionalProperties: false,
});
export function unshelveSchema(v: ApiVersion): Schema {
  if (v.gte('2.91')) {
    return action('unshelve', {
      type: ['object', 'null'],
      properties: { availability_zone: { type: ['string', 'null'] }, host: { type: 'string' } },
      additionalProperties: false,
    });
  }
  if (v.gte('2.77')) {
    return action('unshelve', {
      type: ['object', 'null'],
      properties: { availability_zone: NAME },
      required: ['availability_zone'],
      additionalProperties: false,
    });
  }
  return action('unshelve', {});
}
const NULLABLE_FQDN = { ...FQDN, type: ['string', 'null'] };
export const migrateSchema = (v: ApiVersion): Schema =>
  v.gte('2.56') ? action('migrate', { type: ['object', 'null'], properties: { host: NULLABLE_FQDN }, additionalProperties: false }) : action('migrate', {});
export function migrateLiveSchema(v: ApiVersion): Schema {
  const block = v.gte('2.25') ? { ...BOOLEAN, enum: [...BOOLEAN.enum, 'auto'] } : BOOLEAN;
  const props: Record<string, Schema> = { block_migration: block, host: NULLABLE_FQDN };
  if (!v.gte('2.25')) props.disk_over_commit = BOOLEAN;
  if (v.gte('2.30') && !v.gte('2.68')) props.force = BOOLEAN;
  return action('os-migrateLive', obj(props, v.gte('2.25') ? ['block_migration', 'host'] : ['block_migration', 'disk_over_commit', 'host']));
}
export function evacuateSchema(v: ApiVersion): Schema {
  const props: Record<string, Schema> = { host: FQDN, adminPass: { type: 'string' } };
  if (!v.gte('2.14')) props.onSharedStorage = BOOLEAN;
  if (v.gte('2.29') && !v.gte('2.68')) props.force = BOOLEAN;
  return action('evacuate', obj(props, v.gte('2.14') ? [] : ['onSharedStorage']));
}
export const CHANGE_PASSWORD_SCHEMA = action('changePassword', obj({ adminPass: { type: 'string' } }, ['adminPass']));
export const RESET_STATE_SCHEMA = action('os-resetState', obj({ state: { type: 'string', enum: ['active', 'error'] } }, ['state']));
export const ADD_FLOATING_IP_SCHEMA = action('addFloatingIp', obj({ address: IP_ADDRESS, fixed_address: IP_ADDRESS }, ['address']));
export const REMOVE_FLOATING_IP_SCHEMA = action('removeFloatingIp', obj({ address: IP_ADDRESS }, ['address']));
export const ADD_FIXED_IP_SCHEMA = action('addFixedIp', obj({ networkId: { type: ['string', 'number'], minLength: 1, maxLength: 36 } }, ['networkId']));
export const REMOVE_FIXED_IP_SCHEMA = action('removeFixedIp', obj({ address: IP_ADDRESS }, ['address']));
export const securityGroupActionSchema = (name: string): Schema => action(name, obj({ name: { type: 'string', minLength: 1 } }, ['name']));
export const TRIGGER_CRASH_DUMP_SCHEMA: Schema = {
  type: 'object',
  properties: { trigger_crash_dump: { type: 'null' } },
  required: ['trigger_crash_dump'],
  additionalProperties: false,
};
export const consoleActionSchema = (name: string, types: string[]): Schema => action(name, obj({ type: { type: 'string', enum: types } }, ['type']));
export const REMOTE_CONSOLE_SCHEMA: Schema = {
  type: 'object',
  properties: {
    remote_console: obj(
      {
        protocol: { type: 'string', enum: ['vnc', 'spice', 'rdp', 'serial', 'mks'] },
        type: { type: 'string', enum: ['novnc', 'xvpvnc', 'rdp-html5', 'spice-html5', 'serial', 'webmks'] },
      },
      ['protocol', 'type'],
    ),
  },
  required: ['remote_console'],
  additionalProperties: false,
};

// ---------------------------------------------------------------- server groups, aggregates, services

export function serverGroupCreateSchema(v: ApiVersion): Schema {
  const policies = v.gte('2.15') ? ['anti-affinity', 'affinity', 'soft-anti-affinity', 'soft-affinity'] : ['anti-affinity', 'affinity'];
  if (v.gte('2.64')) {
    return action(
      'server_group',
      obj(
        {
          name: NAME,
          policy: { type: 'string', enum: policies },
          rules: obj({ max_server_per_host: POSITIVE_INT }),
        },
        ['name', 'policy'],
      ),
    );
  }
  return action(
    'server_group',
    obj({ name: NAME, policies: { type: 'array', items: { type: 'string', enum: policies }, uniqueItems: true, minItems: 1, maxItems: 1 } }, [
      'name',
      'policies',
    ]),
  );
}

const AZ_NAME = { oneOf: [{ type: 'string', format: 'az_name', minLength: 1, maxLength: 255 }, { type: 'null' }] };
export const AGGREGATE_CREATE_SCHEMA = action('aggregate', obj({ name: NAME, availability_zone: AZ_NAME }, ['name']));
export const AGGREGATE_UPDATE_SCHEMA = action('aggregate', {
  type: 'object',
  properties: { name: { type: 'string', minLength: 1, maxLength: 255 }, availability_zone: AZ_NAME },
  additionalProperties: false,
  anyOf: [{ required: ['name'] }, { required: ['availability_zone'] }],
});
export const AGGREGATE_HOST_SCHEMA = (name: 'add_host' | 'remove_host'): Schema => action(name, obj({ host: FQDN }, ['host']));
export const AGGREGATE_METADATA_SCHEMA = action(
  'set_metadata',
  obj(
    {
      metadata: {
        type: 'object',
        patternProperties: { '^[a-zA-Z0-9-_:. ]{1,255}$': { type: ['string', 'null'], maxLength: 255 } },
        additionalProperties: false,
      },
    },
    ['metadata'],
  ),
);

/** aggregate_images (2.81): the images to cache, by id. */
export const AGGREGATE_IMAGES_SCHEMA: Schema = {
  type: 'object',
  properties: {
    cache: {
      type: ['array'],
      minItems: 1,
      items: { type: 'object', properties: { id: { type: 'string', format: 'uuid' } }, additionalProperties: false, required: ['id'] },
    },
  },
  required: ['cache'],
  additionalProperties: false,
};

export function serviceUpdateSchema(v: ApiVersion): Schema {
  const reason = { type: 'string', minLength: 1, maxLength: 255 };
  if (v.gte('2.53')) return obj({ status: { type: 'string', enum: ['enabled', 'disabled'] }, disabled_reason: reason, forced_down: BOOLEAN });
  const props: Record<string, Schema> = { host: FQDN, binary: { type: 'string', minLength: 1, maxLength: 255 }, disabled_reason: reason };
  if (v.gte('2.11')) props.forced_down = BOOLEAN;
  return obj(props, ['host', 'binary']);
}

// ---------------------------------------------------------------- flavors

export const FLAVOR_UPDATE_SCHEMA = action(
  'flavor',
  obj({ description: { type: ['string', 'null'], minLength: 0, maxLength: 65535, pattern: '^[\\P{C}]*$' } }, ['description']),
);

// ---------------------------------------------------------------- proxies

/** os-security-groups create/update (extra properties were never refused). */
export const SECURITY_GROUP_SCHEMA: Schema = {
  type: 'object',
  properties: {
    security_group: {
      type: 'object',
      properties: { name: { type: 'string', minLength: 0, maxLength: 255 }, description: { type: 'string', minLength: 0, maxLength: 255 } },
      required: ['name', 'description'],
      additionalProperties: true,
    },
  },
  required: ['security_group'],
  additionalProperties: true,
};
/** os-security-group-rules create: ports, protocol and cidr were never validated by the schema. */
export const SECURITY_GROUP_RULE_SCHEMA: Schema = {
  type: 'object',
  properties: {
    security_group_rule: {
      type: 'object',
      properties: {
        group_id: { type: ['string', 'null'], format: 'uuid' },
        parent_group_id: { type: 'string', format: 'uuid' },
        to_port: {},
        from_port: {},
        ip_protocol: {},
        cidr: {},
      },
      required: ['parent_group_id'],
      additionalProperties: true,
    },
  },
  required: ['security_group_rule'],
  additionalProperties: true,
};
export const FLOATING_IP_CREATE_SCHEMA: Schema = { type: ['object', 'null'], properties: { pool: { type: ['string', 'null'] } } };
export const IMAGE_METADATA_SCHEMA: Schema = { type: 'object', properties: { metadata: METADATA }, required: ['metadata'], additionalProperties: false };
