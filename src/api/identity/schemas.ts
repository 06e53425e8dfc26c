import type { Schema } from './validate.js';

/**
 * Keystone's request-body schemas (Zed), written out as JSON Schema. Keyword order matters:
 * the first violation in this order is the one reported.
 */

const str = { type: 'string' };
const boolean = { type: 'boolean', enum: [true, false] };
const nullable = (s: Record<string, unknown>) => ({
  ...s,
  type: [s.type, 'null'],
  ...(Array.isArray(s.enum) ? { enum: [...s.enum, null] } : {}),
});
const idString = { type: 'string', minLength: 1, maxLength: 64, pattern: '^[a-zA-Z0-9-]+$' };
const name255 = { type: 'string', minLength: 1, maxLength: 255, pattern: '[\\S]+' };
const name64 = { type: 'string', minLength: 1, maxLength: 64, pattern: '[\\S]+' };
const tags = { type: 'array', items: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[^,/]*$' }, maxItems: 80, uniqueItems: true };
const nameRef = { type: 'object', properties: { id: str, name: str } };

/** Resource options: every option nullable (null removes it), nothing else allowed. */
const options = (props: Record<string, unknown>) => ({
  type: 'object',
  properties: Object.fromEntries(Object.entries(props).map(([k, v]) => [k, nullable(v as Record<string, unknown>)])),
  additionalProperties: false,
});
const immutableOption = options({ immutable: boolean });

export const tokenIssue: Schema = {
  type: 'object',
  properties: {
    identity: {
      type: 'object',
      properties: {
        methods: { type: 'array', items: str },
        password: {
          type: 'object',
          properties: {
            user: { type: 'object', properties: { id: str, name: str, password: str, domain: nameRef } },
          },
        },
        token: { type: 'object', properties: { id: str }, required: ['id'] },
      },
      required: ['methods'],
    },
    scope: {
      type: ['object', 'string'],
      properties: {
        project: { type: 'object', properties: { name: str, id: str, domain: nameRef } },
        domain: nameRef,
        'OS-TRUST:trust': { type: 'object', properties: { id: str } },
        system: { type: 'object', properties: { all: boolean } },
      },
    },
  },
  required: ['identity'],
};

const projectProps = {
  description: nullable(str),
  domain_id: nullable(idString),
  enabled: boolean,
  is_domain: boolean,
  parent_id: nullable(idString),
  name: name64,
  tags,
  options: immutableOption,
};
export const projectCreate: Schema = { type: 'object', properties: projectProps, required: ['name'], additionalProperties: true };
export const projectUpdate: Schema = { type: 'object', properties: projectProps, minProperties: 1, additionalProperties: true };

const domainProps = { description: nullable(str), enabled: boolean, name: name64, tags };
export const domainCreate: Schema = { type: 'object', properties: domainProps, required: ['name'], additionalProperties: true };
export const domainUpdate: Schema = { type: 'object', properties: domainProps, minProperties: 1, additionalProperties: true };

const userProps = {
  default_project_id: nullable(idString),
  description: nullable(str),
  domain_id: idString,
  enabled: boolean,
  federated: {
    type: 'array',
    items: {
      type: 'object',
      properties: {
        idp_id: str,
        protocols: {
          type: 'array',
          items: { type: 'object', properties: { protocol_id: str, unique_id: str }, required: ['protocol_id', 'unique_id'] },
          minItems: 1,
        },
      },
      required: ['idp_id', 'protocols'],
    },
  },
  name: name255,
  password: { type: ['string', 'null'] },
  options: options({
    ignore_change_password_upon_first_use: boolean,
    ignore_password_expiry: boolean,
    ignore_lockout_failure_attempts: boolean,
    lock_password: boolean,
    ignore_user_inactivity: boolean,
    multi_factor_auth_rules: { type: 'array', items: { type: 'array', items: str, minItems: 1, uniqueItems: true }, uniqueItems: true },
    multi_factor_auth_enabled: boolean,
  }),
};
export const userCreate: Schema = { type: 'object', properties: userProps, required: ['name'], additionalProperties: true };
export const userUpdate: Schema = { type: 'object', properties: userProps, minProperties: 1, additionalProperties: true };

export const passwordChange: Schema = {
  type: 'object',
  properties: { original_password: str, password: str },
  required: ['original_password', 'password'],
  additionalProperties: false,
};

const roleProps = { name: name255, description: str, options: immutableOption };
export const roleCreate: Schema = { type: 'object', properties: roleProps, required: ['name'], additionalProperties: true };
export const roleUpdate: Schema = { type: 'object', properties: roleProps, minProperties: 1, additionalProperties: true };

// ------------------------------------------------------------ issue 13: groups, delegation, catalog, limits

const description = { type: 'string' };
const externalId = { type: 'string', minLength: 1, maxLength: 64 };
const url = { type: 'string', minLength: 0, maxLength: 225, pattern: '^[a-zA-Z0-9+.-]+:.+' };
const roleRefs = {
  type: 'array',
  items: { type: 'object', properties: { id: idString, name: name255 }, minProperties: 1, maxProperties: 1, additionalProperties: false },
};

const groupProps = { description: nullable(description), domain_id: idString, name: name255 };
export const groupCreate: Schema = { type: 'object', properties: groupProps, required: ['name'], additionalProperties: true };
export const groupUpdate: Schema = { type: 'object', properties: groupProps, minProperties: 1, additionalProperties: true };

export const projectTag: Schema = tags.items;
export const projectTags: Schema = tags;

export const appCredCreate: Schema = {
  type: 'object',
  properties: {
    name: name255,
    description: nullable(description),
    secret: { type: ['null', 'string'] },
    expires_at: { type: ['null', 'string'] },
    roles: roleRefs,
    unrestricted: boolean,
    access_rules: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          path: { type: 'string', minLength: 0, maxLength: 225, pattern: '^\\/.*' },
          method: { type: 'string', pattern: '^(POST|GET|HEAD|PATCH|PUT|DELETE)$' },
          service: idString,
          id: idString,
        },
        additionalProperties: false,
      },
    },
  },
  required: ['name'],
  additionalProperties: true,
};

export const trustCreate: Schema = {
  type: 'object',
  properties: {
    trustor_user_id: externalId,
    trustee_user_id: externalId,
    impersonation: boolean,
    project_id: nullable(idString),
    remaining_uses: { type: ['integer', 'null'], minimum: 1 },
    expires_at: { type: ['null', 'string'] },
    allow_redelegation: { type: ['boolean', 'null'] },
    redelegation_count: { type: ['integer', 'null'], minimum: 0 },
    roles: roleRefs,
  },
  required: ['trustor_user_id', 'trustee_user_id', 'impersonation'],
  additionalProperties: true,
};

const credentialProps = { blob: str, project_id: str, type: str, user_id: str };
export const credentialCreate: Schema = {
  type: 'object',
  properties: credentialProps,
  additionalProperties: true,
  oneOf: [
    { title: 'ec2 credential requires project_id', required: ['blob', 'type', 'user_id', 'project_id'], properties: { type: { enum: ['ec2'] } } },
    { title: 'non-ec2 credential does not require project_id', required: ['blob', 'type', 'user_id'], properties: { type: { not: { enum: ['ec2'] } } } },
  ],
};
export const credentialUpdate: Schema = { type: 'object', properties: credentialProps, minProperties: 1, additionalProperties: true };

const regionProps = { description: nullable(description), id: str, parent_region_id: { type: ['string', 'null'] } };
export const regionCreate: Schema = { type: 'object', properties: regionProps, additionalProperties: true };
export const regionUpdate: Schema = { type: 'object', properties: regionProps, minProperties: 1, additionalProperties: true };

const serviceProps = { enabled: boolean, name: name255, type: { type: 'string', minLength: 1, maxLength: 255 } };
export const serviceCreate: Schema = { type: 'object', properties: serviceProps, required: ['type'], additionalProperties: true };
export const serviceUpdate: Schema = { type: 'object', properties: serviceProps, minProperties: 1, additionalProperties: true };

const endpointProps = {
  enabled: boolean,
  interface: { type: 'string', enum: ['admin', 'internal', 'public'] },
  region_id: str,
  region: str,
  service_id: str,
  url,
};
export const endpointCreate: Schema = { type: 'object', properties: endpointProps, required: ['interface', 'service_id', 'url'], additionalProperties: true };
export const endpointUpdate: Schema = { type: 'object', properties: endpointProps, minProperties: 1, additionalProperties: true };

const endpointGroupProps = { description: nullable(description), filters: { type: 'object' }, name: name255 };
export const endpointGroupCreate: Schema = { type: 'object', properties: endpointGroupProps, required: ['name', 'filters'] };
export const endpointGroupUpdate: Schema = { type: 'object', properties: endpointGroupProps, minProperties: 1 };

const limitValue = { type: 'integer', minimum: -1, maximum: 0x7fffffff };
const resourceName = { type: 'string', minLength: 1, maxLength: 255 };
const registeredLimitProps = {
  service_id: idString,
  region_id: { type: ['null', 'string'] },
  resource_name: resourceName,
  default_limit: limitValue,
  description: nullable(description),
};
export const registeredLimitsCreate: Schema = {
  type: 'array',
  items: { type: 'object', properties: registeredLimitProps, additionalProperties: false, required: ['service_id', 'resource_name', 'default_limit'] },
  minItems: 1,
};
export const registeredLimitUpdate: Schema = { type: 'object', properties: registeredLimitProps, additionalProperties: false };
const limitCommon = { service_id: idString, region_id: str, resource_name: resourceName, resource_limit: limitValue, description: nullable(description) };
export const limitsCreate: Schema = {
  type: 'array',
  items: {
    type: 'object',
    oneOf: [
      {
        properties: { project_id: idString, ...limitCommon },
        required: ['project_id', 'service_id', 'resource_name', 'resource_limit'],
        additionalProperties: false,
      },
      {
        properties: { domain_id: idString, ...limitCommon },
        required: ['domain_id', 'service_id', 'resource_name', 'resource_limit'],
        additionalProperties: false,
      },
    ],
  },
  minItems: 1,
};
export const limitUpdate: Schema = {
  type: 'object',
  properties: { resource_limit: limitValue, description: nullable(description) },
  additionalProperties: false,
};

// ------------------------------------------------------------ OS-FEDERATION configuration

const spProps = { auth_url: url, sp_url: url, description: nullable(description), enabled: boolean, relay_state_prefix: nullable(description) };
export const spCreate: Schema = { type: 'object', properties: spProps, required: ['auth_url', 'sp_url'], additionalProperties: false };
export const spUpdate: Schema = { type: 'object', properties: spProps, minProperties: 1, additionalProperties: false };
const remoteIds = { type: ['array', 'null'], items: { type: 'string' }, uniqueItems: true };
const ttl = { type: ['integer', 'null'], minimum: 0 };
export const idpCreate: Schema = {
  type: 'object',
  properties: { enabled: boolean, description: nullable(description), domain_id: nullable(idString), authorization_ttl: ttl, remote_ids: remoteIds },
  additionalProperties: false,
};
export const idpUpdate: Schema = {
  type: 'object',
  properties: { enabled: boolean, description: nullable(description), authorization_ttl: ttl, remote_ids: remoteIds },
  minProperties: 1,
  additionalProperties: false,
};
const protocolProps = {
  mapping_id: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[a-zA-Z0-9-_]+$' },
  remote_id_attribute: { type: 'string', maxLength: 64 },
};
export const protocolCreate: Schema = { type: 'object', properties: protocolProps, required: ['mapping_id'], additionalProperties: false };
export const protocolUpdate: Schema = { type: 'object', properties: protocolProps, minProperties: 1, additionalProperties: false };
/** Keystone's mapping schema, in outline: rules, each with `local` and a non-empty `remote`. */
export const mappingSchema: Schema = {
  type: 'object',
  required: ['rules'],
  properties: {
    rules: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['local', 'remote'],
        additionalProperties: false,
        properties: {
          local: { type: 'array', items: { type: 'object' } },
          remote: { type: 'array', minItems: 1, items: { type: 'object', required: ['type'], properties: { type: str } } },
        },
      },
    },
    schema_version: { type: ['string', 'null'] },
  },
};

const policyProps = { blob: str, type: { type: 'string', maxLength: 255 } };
export const policyCreate: Schema = { type: 'object', properties: policyProps, required: ['blob', 'type'], additionalProperties: true };
export const policyUpdate: Schema = { type: 'object', properties: policyProps, minProperties: 1, additionalProperties: true };

export const consumerCreate: Schema = { type: 'object', properties: { description: nullable(description) }, additionalProperties: true };
export const consumerUpdate: Schema = {
  type: 'object',
  properties: { description: nullable(description) },
  not: { required: ['secret'] },
  minProperties: 1,
  additionalProperties: true,
};
export const requestTokenAuthorize: Schema = {
  type: 'array',
  items: { type: 'object', properties: { id: idString, name: name255 }, minProperties: 1, maxProperties: 1, additionalProperties: false },
};
