/**
 * Glance's image and member schemas (what `GET /v2/schemas/image` serves and what requests are
 * validated against). Property types, enums and limits follow Glance v2; the descriptions are ours.
 */
import type { Schema } from '../../util/jsonschema.js';

export const CONTAINER_FORMATS = ['ami', 'ari', 'aki', 'bare', 'ovf', 'ova', 'docker', 'compressed'];
export const DISK_FORMATS = ['ami', 'ari', 'aki', 'vhd', 'vhdx', 'vmdk', 'raw', 'qcow2', 'vdi', 'iso', 'ploop'];
export const VISIBILITIES = ['community', 'public', 'private', 'shared'];
export const IMAGE_STATUSES = ['queued', 'saving', 'active', 'killed', 'deleted', 'uploading', 'importing', 'pending_delete', 'deactivated'];

const UUID_PATTERN = '^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$';

/** The image's own attributes (everything else is an extra property, always a string). */
export function imageProperties(): Record<string, Schema> {
  return {
    id: { type: 'string', description: 'Image id (a UUID)', pattern: UUID_PATTERN },
    name: { type: ['null', 'string'], description: 'Image name', maxLength: 255 },
    status: { type: 'string', readOnly: true, description: 'Lifecycle state of the image', enum: IMAGE_STATUSES },
    visibility: { type: 'string', description: 'Who may see the image', enum: VISIBILITIES },
    protected: { type: 'boolean', description: 'Protected images cannot be deleted' },
    os_hidden: { type: 'boolean', description: 'Hidden images are left out of default listings' },
    checksum: { type: ['null', 'string'], readOnly: true, description: 'MD5 of the image data', maxLength: 32 },
    os_hash_algo: { type: ['null', 'string'], readOnly: true, description: 'Algorithm of os_hash_value', maxLength: 64 },
    os_hash_value: { type: ['null', 'string'], readOnly: true, description: 'Hex digest of the image data', maxLength: 128 },
    owner: { type: ['null', 'string'], description: 'Project that owns the image', maxLength: 255 },
    size: { type: ['null', 'integer'], readOnly: true, description: 'Bytes of image data' },
    virtual_size: { type: ['null', 'integer'], readOnly: true, description: 'Virtual disk size in bytes' },
    container_format: { type: ['null', 'string'], description: 'Container format', enum: [null, ...CONTAINER_FORMATS] },
    disk_format: { type: ['null', 'string'], description: 'Disk format', enum: [null, ...DISK_FORMATS] },
    created_at: { type: 'string', readOnly: true, description: 'Creation time' },
    updated_at: { type: 'string', readOnly: true, description: 'Last modification time' },
    tags: { type: 'array', description: 'Free-form tags', items: { type: 'string', maxLength: 255 } },
    direct_url: { type: 'string', readOnly: true, description: 'Backend location of the data' },
    min_ram: { type: 'integer', description: 'RAM (MB) needed to boot the image' },
    min_disk: { type: 'integer', description: 'Disk (GB) needed to boot the image' },
    self: { type: 'string', readOnly: true, description: 'URL of the image' },
    file: { type: 'string', readOnly: true, description: 'URL of the image data' },
    stores: { type: 'string', readOnly: true, description: 'Stores holding the data' },
    schema: { type: 'string', readOnly: true, description: 'URL of this schema' },
    locations: {
      type: 'array',
      description: 'Backend locations of the data',
      items: {
        type: 'object',
        properties: { url: { type: 'string', maxLength: 255 }, metadata: { type: 'object' } },
        required: ['url', 'metadata'],
      },
    },
  };
}

const IMAGE_LINKS = [
  { rel: 'self', href: '{self}' },
  { rel: 'enclosure', href: '{file}' },
  { rel: 'describedby', href: '{schema}' },
];

/** The schema an image create/patch is validated against (extra properties must be strings). */
export function imageSchema(): Schema {
  return { name: 'image', properties: imageProperties(), additionalProperties: { type: 'string' }, links: IMAGE_LINKS };
}

export function imagesSchema(): Schema {
  return {
    name: 'images',
    properties: {
      images: { type: 'array', items: imageSchema() },
      schema: { type: 'string' },
      first: { type: 'string' },
      next: { type: 'string' },
    },
    links: [
      { rel: 'first', href: '{first}' },
      { rel: 'next', href: '{next}' },
      { rel: 'describedby', href: '{schema}' },
    ],
  };
}

export function memberSchema(): Schema {
  return {
    name: 'member',
    properties: {
      created_at: { type: 'string', description: 'When the member was added' },
      image_id: { type: 'string', description: 'Shared image', pattern: UUID_PATTERN },
      member_id: { type: 'string', description: 'Project the image is shared with' },
      schema: { readOnly: true, type: 'string' },
      status: { type: 'string', description: 'Whether the member accepted the image', enum: ['pending', 'accepted', 'rejected'] },
      updated_at: { type: 'string', description: 'When the member was last changed' },
    },
  };
}

export function membersSchema(): Schema {
  return {
    name: 'members',
    properties: { members: { type: 'array', items: memberSchema() }, schema: { type: 'string' } },
    links: [{ rel: 'describedby', href: '{schema}' }],
  };
}
