/**
 * Server snapshots through the image service in-process, as Nova's API and compute manager make
 * them: the API creates a queued Glance image with the instance's properties
 * (compute_utils.create_image: instance_uuid, user_id, image_type, the boot image's inherited
 * properties, base_image_ref), the manager then uploads the instance's disk and sets the driver's
 * snapshot metadata (image_location=snapshot, image_state=available, owner_id). Instances here
 * never write to their disk, so the disk is the image they booted from: a snapshot boots back
 * into the same server. Backups are snapshots with a backup_type and rotation.
 */
import { Readable } from 'node:stream';
import type { ServersTable } from '../../store/schema.js';
import { type RequestContext, systemContext } from '../context.js';
import type { Image, ImageChange, ImageService } from '../image/service.js';
import { fromJson } from '../../store/db.js';

/** Keys of system metadata that go back into a snapshot's base attributes (SM_INHERITABLE_KEYS). */
const INHERITABLE = ['min_ram', 'min_disk', 'disk_format', 'container_format'];
/** Image properties a snapshot never inherits (NON_INHERITABLE_IMAGE_PROPERTIES, os_glance*). */
const NON_INHERITABLE = [
  'cinder_encryption_key_id',
  'cinder_encryption_key_deletion_policy',
  'img_signature',
  'img_signature_hash_method',
  'img_signature_key_type',
  'img_signature_certificate_uuid',
];
/** Keys of system metadata that are not image properties (SM_SKIP_KEYS). */
const SKIP = ['image_id', 'size', 'name', 'checksum', 'hw_cpu_policy', 'hw_cpu_thread_policy'];

/**
 * What a server keeps of the image it booted from (system metadata `image_*`, as
 * utils.get_system_metadata_from_image does): the inheritable attributes and every property.
 */
export function systemMetadataFromImage(image: Image): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(image.properties)) out[`image_${k}`] = v;
  out.image_min_ram = String(image.min_ram);
  out.image_min_disk = String(image.min_disk);
  if (image.disk_format) out.image_disk_format = image.disk_format;
  if (image.container_format) out.image_container_format = image.container_format;
  out.image_base_image_ref = image.id;
  return out;
}

export interface SnapshotRequest {
  name: string;
  imageType: 'snapshot' | 'backup';
  /** Extra properties (createImage's metadata; backup_type for backups). */
  properties: Record<string, string>;
}

export class Snapshots {
  constructor(private readonly images: ImageService) {}

  /**
   * create_image: a queued image owned by the caller's project (shared with, and marked as the
   * instance owner's when an admin snapshots another project's server).
   */
  async create(ctx: RequestContext, row: ServersTable, r: SnapshotRequest): Promise<Image> {
    const sys = fromJson<Record<string, string>>(row.system_metadata, {});
    const base: Record<string, unknown> = { name: r.name };
    const properties: Record<string, string> = {};
    for (const [key0, value] of Object.entries(sys)) {
      if (!key0.startsWith('image_')) continue;
      const key = key0.slice('image_'.length);
      if (SKIP.includes(key)) continue;
      if (INHERITABLE.includes(key)) {
        if (r.imageType === 'snapshot' && (key === 'disk_format' || key === 'container_format')) continue;
        base[key] = key === 'min_ram' || key === 'min_disk' ? Number(value) : value;
      } else if (!NON_INHERITABLE.includes(key) && !key.startsWith('os_glance')) {
        properties[key] = value;
      }
    }
    if (ctx.projectId !== row.project_id) {
      base.visibility = 'shared';
      properties.instance_owner = row.project_id;
    } else {
      base.visibility = 'private';
    }
    Object.assign(properties, { instance_uuid: row.id, user_id: ctx.userId, image_type: r.imageType }, r.properties);
    return this.images.create(ctx, { ...base, ...properties });
  }

  /**
   * The compute manager's upload (libvirt's snapshot): the driver's metadata, then the disk. Returns
   * false when the image is no longer there to upload into (deleted meanwhile).
   */
  async upload(row: ServersTable, imageId: string): Promise<boolean> {
    const admin = systemContext(`req-snapshot-${row.id}`);
    let image: Image;
    try {
      image = await this.images.show(admin, imageId);
    } catch {
      return false;
    }
    if (image.status === 'active') return true;
    const base = await this.images.forBoot(admin, row.image_id);
    const set = (path: string, value: unknown): ImageChange => ({ op: 'add', path: [path], value, draft: 10 });
    const changes: ImageChange[] = [set('image_location', 'snapshot'), set('image_state', 'available'), set('owner_id', row.project_id)];
    if (!image.disk_format) changes.push(set('disk_format', base?.disk_format ?? 'qcow2'));
    if (!image.container_format) changes.push(set('container_format', 'bare'));
    await this.images.update(admin, imageId, changes);
    const data = base && base.status === 'active' && this.images.files.size(base.id) !== null ? this.images.files.read(base.id) : Readable.from([]);
    await this.images.upload(admin, imageId, data);
    return true;
  }

  /** An image the manager gives up on (a snapshot that cannot complete), if it is still there. */
  async discard(imageId: string): Promise<void> {
    try {
      await this.images.delete(systemContext('req-snapshot-cleanup'), imageId);
    } catch {
      // already gone
    }
  }

  /** The status of an image the manager is working on, or null when it is gone. */
  async status(imageId: string): Promise<string | null> {
    try {
      return (await this.images.show(systemContext('req-snapshot'), imageId)).status;
    } catch {
      return null;
    }
  }

  /**
   * Backup rotation (compute manager's _rotate_backups): the newest `rotation` backups of this type
   * of the server are kept, older ones deleted.
   */
  async rotate(row: ServersTable, backupType: string, rotation: number): Promise<void> {
    const admin = systemContext(`req-backup-${row.id}`);
    const { images } = await this.images.list(admin, {
      params: [
        ['instance_uuid', row.id],
        ['image_type', 'backup'],
        ['backup_type', backupType],
        ['sort_key', 'created_at'],
        ['sort_dir', 'desc'],
        ['limit', '1000'],
      ],
    });
    for (const old of images.slice(rotation)) await this.discard(old.id);
  }
}
