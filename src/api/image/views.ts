/** Images and members as Glance v2 renders them. */
import type { Image, ImageMember } from '../../core/image/service.js';

/** Glance renders times with seconds precision ("2016-11-06T23:23:29Z"). */
const seconds = (iso: string) => iso.replace(/\.\d+Z$/, 'Z');

export function imageView(img: Image): Record<string, unknown> {
  return {
    ...img.properties,
    name: img.name,
    disk_format: img.disk_format,
    container_format: img.container_format,
    visibility: img.visibility,
    size: img.size,
    virtual_size: img.virtual_size,
    status: img.status,
    checksum: img.checksum,
    protected: img.protected === 1,
    min_ram: img.min_ram,
    min_disk: img.min_disk,
    owner: img.owner,
    os_hidden: img.os_hidden === 1,
    os_hash_algo: img.os_hash_algo,
    os_hash_value: img.os_hash_value,
    id: img.id,
    created_at: seconds(img.created_at),
    updated_at: seconds(img.updated_at),
    tags: img.tags,
    self: `/v2/images/${img.id}`,
    file: `/v2/images/${img.id}/file`,
    schema: '/v2/schemas/image',
  };
}

export const memberView = (m: ImageMember) => ({
  created_at: seconds(m.created_at),
  image_id: m.image_id,
  member_id: m.member,
  schema: '/v2/schemas/member',
  status: m.status,
  updated_at: seconds(m.updated_at),
});
