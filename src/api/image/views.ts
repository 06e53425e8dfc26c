/** Images, members and tasks as Glance v2 renders them. */
import type { ImageOptions } from '../../core/image/options.js';
import type { Image, ImageMember } from '../../core/image/service.js';
import type { Task } from '../../core/image/tasks.js';

/** Glance renders times with seconds precision ("2016-11-06T23:23:29Z"). */
export const seconds = (iso: string) => iso.replace(/\.\d+Z$/, 'Z');

/** oslo's jsonutils.to_primitive of a datetime ("2020-12-18T05:20:38.000000"), for raw DB records. */
const perfect = (iso: string | null) =>
  iso === null ? null : iso.replace(/(\.\d+)?Z$/, (_m, frac: string | undefined) => `.${(frac ?? '.').slice(1).padEnd(6, '0')}`);

/** Properties Glance keeps on the image but never shows (ResponseSerializer._hidden_properties). */
const HIDDEN = ['os_glance_stage_host', 'os_glance_hash_op_host'];

/** What the operator's options change in an image view: `locations`, `direct_url`. */
export type ViewOptions = Pick<ImageOptions, 'showMultipleLocations' | 'showDirectUrl'>;

export function imageView(img: Image, opts: ViewOptions = { showMultipleLocations: false, showDirectUrl: false }): Record<string, unknown> {
  const extra = Object.fromEntries(Object.entries(img.properties).filter(([k]) => !HIDDEN.includes(k)));
  const view: Record<string, unknown> = {
    ...extra,
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
  };
  if (opts.showMultipleLocations) view.locations = img.locations.map((l) => ({ url: l.url, metadata: l.metadata }));
  if (opts.showDirectUrl && img.locations.length) view.direct_url = img.locations[0].url;
  Object.assign(view, {
    tags: img.tags,
    self: `/v2/images/${img.id}`,
    file: `/v2/images/${img.id}/file`,
    schema: '/v2/schemas/image',
  });
  // Multiple stores: the stores holding the data, in location order.
  const stores = img.locations.map((l) => l.metadata.store).filter((s): s is string => typeof s === 'string' && s !== '');
  if (stores.length) view.stores = stores.join(',');
  return view;
}

export const memberView = (m: ImageMember) => ({
  created_at: seconds(m.created_at),
  image_id: m.image_id,
  member_id: m.member,
  schema: '/v2/schemas/member',
  status: m.status,
  updated_at: seconds(m.updated_at),
});

/** A task as GET /v2/tasks/{id} shows it (tasks.ResponseSerializer._format_task). */
export function taskView(t: Task): Record<string, unknown> {
  const view: Record<string, unknown> = {
    id: t.id,
    input: t.input,
    type: t.type,
    status: t.status,
    owner: t.owner,
    message: t.message,
    result: t.result,
    created_at: seconds(t.created_at),
    updated_at: seconds(t.updated_at),
    self: `/v2/tasks/${t.id}`,
    schema: '/v2/schemas/task',
  };
  if (t.image_id) view.image_id = t.image_id;
  if (t.request_id) view.request_id = t.request_id;
  if (t.user_id) view.user_id = t.user_id;
  if (t.expires_at) view.expires_at = seconds(t.expires_at);
  return view;
}

/** A task in GET /v2/tasks (the stub: no input, result or message). */
export function taskStubView(t: Task): Record<string, unknown> {
  const view: Record<string, unknown> = {
    id: t.id,
    type: t.type,
    status: t.status,
    owner: t.owner,
    created_at: seconds(t.created_at),
    updated_at: seconds(t.updated_at),
    self: `/v2/tasks/${t.id}`,
    schema: '/v2/schemas/task',
  };
  if (t.expires_at) view.expires_at = seconds(t.expires_at);
  return view;
}

/** A task in GET /v2/images/{id}/tasks: the database record as Glance dumps it (_task_format). */
export function imageTaskView(t: Task): Record<string, unknown> {
  return {
    id: t.id,
    type: t.type,
    status: t.status,
    owner: t.owner,
    expires_at: perfect(t.expires_at),
    created_at: perfect(t.created_at),
    updated_at: perfect(t.updated_at),
    deleted_at: null,
    deleted: false,
    image_id: t.image_id,
    request_id: t.request_id,
    user_id: t.user_id,
    input: t.input,
    result: t.result,
    message: t.message,
  };
}
