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
