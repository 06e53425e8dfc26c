/**
 * Glance's interoperable image import: staging (PUT …/stage), the import call (POST …/import)
 * and the `api_image_import` task that moves the data into the stores, as
 * glance/api/v2/images.py, glance/api/v2/image_data.py and glance/async_/flows/api_image_import.py
 * do it. The image carries the task's lock (`os_glance_import_task`) and its progress
 * (`os_glance_importing_to_stores`, `os_glance_failed_import`) as extra properties, as in Glance.
 *
 * A task runs in this process once its request is answered; a restart finds it unfinished and
 * fails it, undoing what it did to the image (Glance leaves such a task `processing` until its
 * lock expires an hour later).
 */
import { inspectFormat, inspected } from './formats.js';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Tx } from '../../store/db.js';
import type { ImagesTable } from '../../store/schema.js';
import { isDict } from '../../util/json.js';
import type { RequestContext } from '../context.js';
import { DomainError } from '../errors.js';
import { ImageTooLarge, SizeMismatch } from './files.js';
import type { ImportFilter } from './options.js';
import { bad, conflict, forbidden, type Image, type ImageRecords, imageNotFound, notFound, nowIso } from './records.js';
import { type ImageStores, StoreError } from './stores.js';
import type { Task, TaskRepo } from './tasks.js';
import { importUriAllowed, openImportUrl } from './uri.js';

export const IMPORTING = 'os_glance_importing_to_stores';
export const FAILED = 'os_glance_failed_import';
export const LOCK = 'os_glance_import_task';
export const STAGE_HOST = 'os_glance_stage_host';

/** A lock older than this may be taken over (twice as long while its task is still pending). */
const LOCK_EXPIRY_MS = 60 * 60_000;

/** Glance's webob 500 explanation, for the paths where Glance itself fails with one. */
const internalError = () =>
  new DomainError('internal', 'HTTPInternalServerError', 'The server has either erred or is incapable of performing the requested operation.');

/** An import step failing (Glance's ImportTaskError and kin): the task records Glance's generic message. */
class TaskFailure extends Error {}

/** Glance's UploadException: the one failure whose own words become the task's message. */
class UploadFailure extends TaskFailure {}

/** Glance's `_ImportActions.merge_store_list`: a sorted comma list, `subtract` or add. */
function mergeStores(current: string | undefined, stores: readonly string[], subtract = false): string {
  const existing = new Set((current ?? '').split(','));
  const given = stores.filter((s) => s);
  const merged = subtract ? [...existing].filter((s) => !given.includes(s)) : [...existing, ...given];
  return [...new Set(merged.filter((s) => s))].sort().join(',');
}

/** The body of POST /v2/images/{id}/import, checked as Glance's deserializer checks it. */
export interface ImportBody {
  method: Record<string, unknown> & { name: string };
  raw: Record<string, unknown>;
  allStores: boolean;
  allStoresMustSucceed: boolean;
}

export interface ImportOptions {
  importMethods: readonly string[];
  importFilter: ImportFilter;
  sizeCap: number;
  logger?: Logger;
  /** The image endpoints of the caller's service catalog (glance-download finds its Glance there). */
  imageEndpoints?: (caller: { userId: string; projectId: string | null }) => Promise<Array<{ region: string; interface: string; url: string }>>;
}

/** `[glance_download_properties] extra_properties`: what glance-download copies from the source image. */
const GLANCE_DOWNLOAD_PROPERTIES = ['hw_', 'trait:', 'os_distro', 'os_secure_boot', 'os_type'];

/** Which steps of an import flow ran (and which store step raised). */
interface Ran {
  attempted: string[];
  failed?: string;
  download: boolean;
  verify: boolean;
  /** glance-download's _ImportMetadata ran (its revert requeues the image even when it failed early). */
  metadataRan?: boolean;
  /** What it changed, to restore on revert. */
  metadata?: { size: number; old: Map<string, string>; copied: string[]; formats: { disk_format: string | null; container_format: string | null } };
}

/** The tasks an import runs: what each step needs to know. */
interface Flow {
  task: Task;
  image: string;
  method: string;
  uri?: string;
  stores: string[];
  allMust: boolean;
  /** glance-download: the caller's token, sent to the remote Glance as the caller's own (memory only). */
  token?: string;
  /** glance-download: whose catalog names the remote Glance (the token's, as keystonemiddleware passes it). */
  caller?: { userId: string; projectId: string | null };
  /** glance-download: the remote Glance, once _ImportMetadata found it. */
  endpoint?: string;
}

export class ImageImports {
  /** Tasks running in this process (tests and shutdown wait for them). */
  private readonly running = new Set<Promise<void>>();

  constructor(
    private readonly records: ImageRecords,
    private readonly tasks: TaskRepo,
    private readonly stores: ImageStores,
    private readonly opts: ImportOptions,
  ) {}

  get methods(): readonly string[] {
    return this.opts.importMethods;
  }

  /** Resolves when no import task runs in this process. */
  async idle(): Promise<void> {
    while (this.running.size) await Promise.allSettled([...this.running]);
  }

  // ------------------------------------------------------------ stage

  /** The stage call's first check (its deserializer's): is glance-direct offered here? */
  checkStageAvailable(): void {
    if (!this.opts.importMethods.includes('glance-direct')) throw notFound("'glance-direct' method is not available at this site.");
  }

  /**
   * PUT /v2/images/{id}/stage: queued → uploading (committed first, so a second stage is refused),
   * data into the staging area, then the image's `size`. A refused or broken stage puts the image
   * back to queued, as Glance's _unstage/_restore do.
   */
  async stage(ctx: RequestContext, id: string, data: Readable, expectedSize: number | null): Promise<void> {
    await this.records.write(id, 'update', async (trx) => {
      const row = await this.records.getRow(trx, ctx, id);
      this.records.mustOwn(ctx, row);
      if (row.status !== 'queued') throw conflict(`Image status transition from ${row.status} to uploading is not allowed`);
      // The status setter raises ValueError for missing formats, which stage() does not catch: a 500.
      if (!row.disk_format || !row.container_format) throw internalError();
      await trx.updateTable('images').set({ status: 'uploading', updated_at: nowIso() }).where('id', '=', id).execute();
    });
    const restore = (unstage: boolean) =>
      this.records.write(id, 'update', async (trx) => {
        if (unstage) this.stores.staging.files.remove(id);
        await trx
          .updateTable('images')
          .set({ status: 'queued', size: null, virtual_size: null, updated_at: nowIso() })
          .where('id', '=', id)
          .where('status', '=', 'uploading')
          .execute();
      });
    let size: number;
    try {
      if (this.stores.staging.files.exists(id)) throw conflict(`The image ${id} has data on staging`);
      size = (await this.stores.staging.files.write(id, data, this.opts.sizeCap, expectedSize ?? 0)).size;
    } catch (e) {
      if (e instanceof ImageTooLarge) {
        await restore(true);
        throw new DomainError('too_large', 'HTTPRequestEntityTooLarge', `The incoming image is too large: ${e.message}`);
      }
      if (e instanceof SizeMismatch) {
        await restore(false);
        throw bad(e.message);
      }
      await restore(false);
      throw e;
    }
    const saved = await this.records.write(id, 'update', (trx) =>
      trx.updateTable('images').set({ size, updated_at: nowIso() }).where('id', '=', id).where('status', '=', 'uploading').executeTakeFirst(),
    );
    if (Number(saved.numUpdatedRows) === 0) {
      // Deleted while staging: nothing to keep.
      this.stores.staging.files.remove(id);
      throw imageNotFound(id);
    }
  }

  // ------------------------------------------------------------ import

  /** Glance's RequestDeserializer._validate_import_body. */
  parseBody(body: unknown): ImportBody {
    if (body === undefined) throw bad('Body expected in request.');
    if (!isDict(body)) throw bad("Import request requires a 'method' field.");
    const method = body.method;
    if (method === undefined) throw bad("Import request requires a 'method' field.");
    if (!isDict(method) || method.name === undefined) throw bad("Import request requires a 'name' field.");
    if (typeof method.name !== 'string' || !this.opts.importMethods.includes(method.name)) {
      throw bad(`Unknown import method name '${String(method.name)}'.`);
    }
    const must = body.all_stores_must_succeed ?? true;
    if (typeof must !== 'boolean') throw bad("'all_stores_must_succeed' must be boolean value only");
    const all = body.all_stores ?? false;
    if (typeof all !== 'boolean') throw bad("'all_stores' must be boolean value only");
    return { method: method as ImportBody['method'], raw: body, allStores: all, allStoresMustSucceed: must };
  }

  /** Glance's utils.get_stores_from_request. */
  private storesOf(body: ImportBody, header: string | undefined): string[] {
    let stores: string[];
    if (body.allStores) {
      if ('stores' in body.raw || header !== undefined) {
        throw bad("All_stores parameter can't be used with x-image-meta-store header or stores parameter");
      }
      stores = this.stores.writable();
    } else if ('stores' in body.raw) {
      if (header !== undefined) throw bad("Stores parameter and x-image-meta-store header can't be both specified");
      stores = Array.isArray(body.raw.stores) ? body.raw.stores.map(String) : [];
    } else {
      stores = [header ?? this.stores.defaultId];
    }
    for (const s of stores) if (!this.stores.has(s)) throw conflict(`Store for identifier ${s} not found`);
    return stores;
  }

  /**
   * POST /v2/images/{id}/import: Glance's ImagesController.import_image. Answers once the task is
   * recorded and the image locked by it; the task runs after the answer.
   */
  async importImage(ctx: RequestContext, id: string, body: ImportBody, storeHeader: string | undefined, token?: string): Promise<void> {
    const method = body.method.name;
    const uri = typeof body.method.uri === 'string' ? body.method.uri : undefined;
    // The URI filter may look a name up: do it before the transaction, use it in Glance's order.
    const uriAllowed = method === 'web-download' ? await importUriAllowed(uri, this.opts.importFilter) : true;

    await this.records.write(id, 'update', async (trx, w) => {
      const row = await this.records.getRow(trx, ctx, id);
      const [image] = await this.records.load(trx, [row]);
      this.checkStatus(row, method);
      if (method === 'glance-download') this.checkGlanceDownload(body);
      if (method === 'copy-image') {
        // copy_image is admin-only by default (glance/policies/image.py).
        if (!ctx.isAdmin) throw forbidden('You are not authorized to complete copy_image action.');
      } else {
        this.records.mustOwn(ctx, row);
      }
      const stolen = LOCK in image.properties ? await this.bustLock(trx, image) : undefined;

      const stores = this.storesOf(body, storeHeader);
      const present = image.locations.map((l) => l.metadata.store).filter((s): s is string => typeof s === 'string');
      if (method === 'copy-image' && body.allStores) {
        const left = stores.filter((s) => !present.includes(s));
        stores.splice(0, stores.length, ...left);
        // Already in every store: Glance answers 202 and starts nothing.
        if (stores.length === 0) return;
      }
      if (method === 'copy-image' && !body.allStores) {
        const there = present.find((s) => stores.includes(s));
        if (there !== undefined) throw bad(`Image is already present at store '${there}'`);
      }
      if (method === 'web-download' && !uriAllowed) throw bad(`URI for web-download does not pass filtering: ${uri ?? 'None'}`);

      const task = await this.tasks.create(trx, ctx, 'api_image_import', id, { image_id: id, import_req: body.raw, backend: stores });
      // Taking the lock: the property row is the lock (a second writer finds it, or collides).
      const held = await trx.selectFrom('image_properties').select('value').where('image_id', '=', id).where('name', '=', LOCK).executeTakeFirst();
      if (held) throw conflict(`New operation on image '${id}' is not permitted as prior operation is still in progress`);
      const props = new Map<string, string | null>([[LOCK, task.id]]);
      if (stolen) {
        // Clean up the stale progress of the task whose lock was taken over.
        for (const key of [IMPORTING, FAILED]) {
          if (image.properties[key] !== undefined) props.set(key, mergeStores(image.properties[key], stolen.stores, true));
        }
      }
      await this.records.setProperties(trx, id, props);
      w.afterCommit(() =>
        this.spawn({
          task,
          image: id,
          method,
          uri,
          stores,
          allMust: body.allStoresMustSucceed,
          token,
          caller: { userId: ctx.userId, projectId: ctx.projectId },
        }),
      );
    });
  }

  /** The status and format preconditions of import_image, in Glance's order. */
  private checkStatus(row: ImagesTable, method: string): void {
    if (row.status === 'active' && method !== 'copy-image') throw conflict('Image with status active cannot be target for import');
    if (row.status !== 'active' && method === 'copy-image') throw conflict('Only images with status active can be targeted for copying');
    if (row.status !== 'queued' && (method === 'web-download' || method === 'glance-download')) {
      throw conflict(`Image needs to be in 'queued' state to use '${method}' method`);
    }
    if (row.status !== 'uploading' && method === 'glance-direct') throw conflict("Image needs to be staged before 'glance-direct' method can be used");
    if (!row.container_format) throw conflict("'container_format' needs to be set before import");
    if (!row.disk_format) throw conflict("'disk_format' needs to be set before import");
  }

  private checkGlanceDownload(body: ImportBody): void {
    const m = body.method;
    if (!('glance_region' in m)) throw bad("'glance_region' needs to be set for glance-download import method");
    if (!('glance_image_id' in m)) throw bad("'glance_image_id' needs to be set for glance-download import method");
    if (
      typeof m.glance_image_id !== 'string' ||
      !/^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i.test(m.glance_image_id.replace(/^urn:uuid:/, ''))
    ) {
      throw bad(`Remote image id does not look like a UUID: ${String(m.glance_image_id)}`);
    }
    if (!('glance_service_interface' in m)) m.glance_service_interface = 'public';
  }

  /**
   * Glance's _enforce_import_lock: a lock whose task finished or went quiet an hour ago (two while
   * pending), or whose task is gone, may be taken over; otherwise 409.
   */
  private async bustLock(trx: Tx, image: Image): Promise<{ stores: string[] } | undefined> {
    const other = await this.tasks.get(trx, image.properties[LOCK]);
    const age = other ? Date.now() - Date.parse(other.updated_at) : Number.POSITIVE_INFINITY;
    const expiry = other?.status === 'pending' ? 2 * LOCK_EXPIRY_MS : LOCK_EXPIRY_MS;
    if (other && age < expiry) throw conflict('Image has active task');
    if (other) await this.tasks.transition(trx, other.id, 'failure', { message: 'Expired lock preempted' });
    await this.records.setProperties(trx, image.id, new Map([[LOCK, null]]));
    const backend = other?.input?.backend;
    return { stores: Array.isArray(backend) ? backend.map(String) : [] };
  }

  // ------------------------------------------------------------ running a task

  private spawn(flow: Flow): void {
    this.track(this.run(flow));
  }

  /** Change the image under this task's lock; false when the lock is gone (Glance's TaskAbortedError). */
  private async act(flow: Flow, fn: (trx: Tx, image: Image) => Promise<void>): Promise<boolean> {
    return this.records.write(flow.image, 'update', async (trx) => {
      const image = await this.records.find(trx, flow.image);
      if (!image || image.properties[LOCK] !== flow.task.id) return false;
      await fn(trx, image);
      await trx.updateTable('images').set({ updated_at: nowIso() }).where('id', '=', flow.image).execute();
      return true;
    });
  }

  private setStatus(trx: Tx, id: string, status: string): Promise<unknown> {
    const fields = status === 'queued' ? { status, size: null, virtual_size: null } : { status };
    return trx.updateTable('images').set(fields).where('id', '=', id).execute();
  }

  private async progress(trx: Tx, image: Image, key: string, stores: readonly string[], subtract = false): Promise<void> {
    image.properties[key] = mergeStores(image.properties[key], stores, subtract);
    await this.records.setProperties(trx, image.id, new Map([[key, image.properties[key]]]));
  }

  /** The api_image_import flow: stage (web-download, copy-image), one step per store, verify, complete. */
  private async run(flow: Flow): Promise<void> {
    const { task } = flow;
    const begun = await this.records.uow.run((w) => this.tasks.transition(w.trx, task.id, 'processing'));
    if (!begun) return;
    // get_flow's own changes, made before the flow runs.
    const started = await this.act(flow, async (trx, image) => {
      if (flow.method !== 'copy-image') await this.setStatus(trx, image.id, 'importing');
      await this.progress(trx, image, IMPORTING, flow.stores);
      await this.progress(trx, image, FAILED, flow.stores, true);
      await this.records.setProperties(trx, image.id, new Map([[STAGE_HOST, null]]));
    });
    if (!started) return this.fail(flow, 'Task failed due to Internal Error');

    // What ran, for the revert: taskflow reverts only the steps that executed.
    const ran: Ran = { attempted: [], download: false, verify: false };
    try {
      if (flow.method === 'web-download') {
        ran.download = true;
        await this.webDownload(flow);
      } else if (flow.method === 'copy-image') {
        await this.copyToStaging(flow);
      } else if (flow.method === 'glance-download') {
        ran.metadataRan = true;
        ran.metadata = await this.glanceMetadata(flow);
        ran.download = true;
        await this.glanceDownload(flow, ran.metadata.size);
      }
      for (const [i, store] of flow.stores.entries()) {
        const setActive = flow.method !== 'copy-image' && (!flow.allMust || i === flow.stores.length - 1);
        ran.attempted.push(store);
        try {
          await this.importToStore(flow, store, setActive);
        } catch (e) {
          if (flow.allMust) {
            ran.failed = store;
            throw e;
          }
          await this.act(flow, (trx, image) => this.progress(trx, image, FAILED, [store]));
        }
        await this.act(flow, (trx, image) => this.progress(trx, image, IMPORTING, [store], true));
      }
      // _DeleteFromFS
      this.stores.staging.files.remove(flow.image);
      // _VerifyImageState
      ran.verify = true;
      const image = await this.records.find(this.records.uow.store.db, flow.image);
      if (image?.status !== 'active') throw new TaskFailure('None of the uploads finished!');
      // _CompleteTask: the task succeeds, then the lock goes.
      await this.records.uow.run((w) => this.tasks.transition(w.trx, task.id, 'success', { result: { image_id: flow.image } }));
      await this.records.write(flow.image, 'update', (trx) => this.dropLock(trx, flow));
    } catch (e) {
      await this.revert(flow, ran);
      // The executor records UploadException's words, and its generic message for anything else.
      await this.fail(flow, e instanceof UploadFailure ? e.message : 'Task failed due to Internal Error');
      this.opts.logger?.info({ task: task.id, image: flow.image, reason: (e as Error).message }, 'image import task failed');
    }
  }

  /**
   * Undo the steps that ran, in reverse, as taskflow reverts the flow. Glance leaves an image whose
   * store step failed `importing` (only _VerifyImageState and the download step requeue it); the
   * lock always goes.
   */
  private async revert(flow: Flow, ran: Ran): Promise<void> {
    await this.records.write(flow.image, 'update', async (trx) => {
      const image = await this.records.find(trx, flow.image);
      if (!image || image.properties[LOCK] !== flow.task.id) return;
      // _VerifyImageState.revert: back to queued unless copying.
      if (ran.verify && flow.method !== 'copy-image') await this.requeue(trx, image);
      // _ImportToStore.revert, last first: the store's location goes, it is no longer importing,
      // and the store whose step raised is marked failed.
      for (const store of [...ran.attempted].reverse()) {
        const at = image.locations.findIndex((l) => l.metadata.store === store);
        if (at >= 0) {
          const [gone] = image.locations.splice(at, 1);
          this.stores.forUrl(gone.url)?.remove(gone.url);
          await this.records.saveLocations(trx, image.id, image.locations);
          if (image.locations.length === 0) {
            await trx.updateTable('images').set({ checksum: null, os_hash_algo: null, os_hash_value: null, size: null }).where('id', '=', image.id).execute();
          }
        }
        await this.progress(trx, image, IMPORTING, [store], true);
        if (store === ran.failed) await this.progress(trx, image, FAILED, [store]);
      }
      // BaseDownload.revert: queued, every store out of importing and failed, the download gone.
      if (ran.download) {
        await this.requeue(trx, image);
        await this.progress(trx, image, IMPORTING, flow.stores, true);
        await this.progress(trx, image, FAILED, flow.stores);
        this.stores.staging.files.remove(image.id);
      }
      // _ImportMetadata.revert: the properties it copied go, the old ones and formats come back.
      if (ran.metadataRan) await this.requeue(trx, image);
      const meta = ran.metadata;
      if (meta) {
        const props = new Map<string, string | null>(meta.copied.filter((k) => !meta.old.has(k)).map((k) => [k, null]));
        for (const [k, v] of meta.old) if (!k.startsWith('os_glance')) props.set(k, v);
        await this.records.setProperties(trx, image.id, props);
        await trx.updateTable('images').set(meta.formats).where('id', '=', image.id).execute();
      }
      // _ImageLock.revert
      await this.dropLock(trx, flow);
    });
  }

  /** Back to queued, where Glance's status machine allows it (size and virtual size cleared). */
  private async requeue(trx: Tx, image: Image): Promise<void> {
    if (['saving', 'uploading', 'importing'].includes(image.status)) {
      await this.setStatus(trx, image.id, 'queued');
      image.status = 'queued';
    }
  }

  private async dropLock(trx: Tx, flow: Flow): Promise<void> {
    await trx.deleteFrom('image_properties').where('image_id', '=', flow.image).where('name', '=', LOCK).where('value', '=', flow.task.id).execute();
  }

  private async fail(flow: Flow, message: string): Promise<void> {
    await this.records.uow.run((w) => this.tasks.transition(w.trx, flow.task.id, 'failure', { message }));
  }

  /** _WebDownload: the URL's data into staging, redirects checked against the import filter. */
  private async webDownload(flow: Flow): Promise<void> {
    const { body, size } = await openImportUrl(flow.uri ?? '', this.opts.importFilter);
    const written = await this.stores.staging.add(flow.image, body, this.opts.sizeCap);
    if (written.size !== size && size !== 0) {
      throw new TaskFailure(`Task ${flow.task.id} failed because downloaded data size ${written.size} is different from expected ${size}`);
    }
  }

  /** Glance's get_glance_endpoint: the `<interface>URL` of the region's image service, if any. */
  private async glanceEndpoint(flow: Flow): Promise<string | undefined> {
    const req = isDict(flow.task.input?.import_req) ? flow.task.input.import_req : {};
    const m = isDict(req.method) ? req.method : {};
    const region = String(m.glance_region ?? '').toLowerCase();
    const iface = String(m.glance_service_interface ?? 'public');
    if (!this.opts.imageEndpoints || !flow.caller) return undefined;
    const endpoints = await this.opts.imageEndpoints(flow.caller);
    return endpoints.find((e) => e.region.toLowerCase() === region && e.interface === iface)?.url;
  }

  private remoteImageId(flow: Flow): string {
    const req = isDict(flow.task.input?.import_req) ? flow.task.input.import_req : {};
    return isDict(req.method) ? String(req.method.glance_image_id) : '';
  }

  /**
   * glance-download's _ImportMetadata: the remote image (as the caller) must be active; its formats
   * and the properties `[glance_download_properties]` names are set on this image.
   */
  private async glanceMetadata(flow: Flow): Promise<NonNullable<Ran['metadata']>> {
    const endpoint = await this.glanceEndpoint(flow);
    if (!endpoint) throw new TaskFailure('glance endpoint not found');
    flow.endpoint = endpoint;
    const res = await fetch(`${endpoint}/v2/images/${this.remoteImageId(flow)}`, { headers: { 'x-auth-token': flow.token ?? '' } });
    if (!res.ok) throw new TaskFailure(`HTTP Error ${res.status}`);
    const data: unknown = await res.json();
    if (!isDict(data)) throw new TaskFailure('remote image unreadable');
    if (data.status !== 'active') throw new TaskFailure(`Source image status should be active instead of ${String(data.status)}`);
    const copied = Object.keys(data).filter((k) => GLANCE_DOWNLOAD_PROPERTIES.some((p) => k.startsWith(p)) && !k.startsWith('os_glance'));
    // What _ImportMetadata would set and then revert: checked first, so nothing needs undoing.
    if (!Number.isInteger(Number(data.size)) || data.size === null) {
      throw new TaskFailure(`Size attribute of remote image ${this.remoteImageId(flow)} could not be determined.`);
    }
    let out: NonNullable<Ran['metadata']> | undefined;
    const ok = await this.act(flow, async (trx, image) => {
      out = {
        size: Number(data.size),
        old: new Map(Object.entries(image.properties)),
        copied,
        formats: { disk_format: image.disk_format, container_format: image.container_format },
      };
      await trx
        .updateTable('images')
        .set({ disk_format: data.disk_format as string, container_format: data.container_format as string })
        .where('id', '=', image.id)
        .execute();
      await this.records.setProperties(trx, image.id, new Map(copied.map((k) => [k, String(data[k])])));
    });
    if (!ok || !out) throw new TaskFailure('Task was aborted externally');
    return out;
  }

  /** glance-download's _DownloadGlanceImage: the remote image's data (through the import filter) into staging. */
  private async glanceDownload(flow: Flow, size: number): Promise<void> {
    const url = `${flow.endpoint}/v2/images/${this.remoteImageId(flow)}/file`;
    if (!(await importUriAllowed(url, this.opts.importFilter))) throw new TaskFailure(`Processed URI for glance-download does not pass filtering: ${url}`);
    const res = await fetch(url, { headers: { 'x-auth-token': flow.token ?? '' } });
    if (!res.ok) throw new TaskFailure(`HTTP Error ${res.status}`);
    const body = res.body ? Readable.fromWeb(res.body as import('node:stream/web').ReadableStream) : Readable.from([]);
    const written = await this.stores.staging.add(flow.image, body, this.opts.sizeCap);
    if (written.size !== size) {
      throw new TaskFailure(`Task ${flow.task.id} failed because downloaded data size ${written.size} is different from expected ${size}`);
    }
  }

  /** _CopyImage: the image's data into staging, from the default store first, else any other. */
  private async copyToStaging(flow: Flow): Promise<void> {
    const image = await this.records.find(this.records.uow.store.db, flow.image);
    if (!image) throw new TaskFailure('Image has been deleted, aborting import.');
    const staging = this.stores.staging.files;
    if (staging.exists(flow.image)) {
      // A copy interrupted earlier left data: reuse it when complete, else stage again.
      if (staging.size(flow.image) === image.size) return;
      staging.remove(flow.image);
    }
    const ordered = [
      ...image.locations.filter((l) => l.metadata.store === this.stores.defaultId),
      ...image.locations.filter((l) => l.metadata.store !== this.stores.defaultId && this.stores.has(String(l.metadata.store))),
    ];
    for (const l of ordered) {
      const store = this.stores.forUrl(l.url);
      if (!store) continue;
      try {
        const { stream } = await store.open(l.url);
        await this.stores.staging.add(flow.image, stream, this.opts.sizeCap);
        return;
      } catch (e) {
        if (e instanceof StoreError && e.kind === 'not_found') continue;
        throw e;
      }
    }
    throw new TaskFailure('Image not found in any configured store');
  }

  /** _ImportToStore: staged data into one store; a location, hashes and size on the image. */
  private async importToStore(flow: Flow, storeId: string, setActive: boolean): Promise<void> {
    const image = await this.records.find(this.records.uow.store.db, flow.image);
    if (!image || image.status === 'deleted') throw new TaskFailure('Image has been deleted, aborting import.');
    const staged = this.stores.staging.files.size(flow.image);
    if (staged === null) throw new TaskFailure(`Task ${flow.task.id}: staged data not found`);
    if (image.size !== null && image.size !== staged) {
      throw new TaskFailure(`Task ${flow.task.id}: Image size mismatch. Expected ${image.size} but got ${staged}`);
    }
    const store = this.stores.get(storeId);
    // image.set_data, as an upload: the format inspected in flight unless a virtual size is known.
    const inspection = image.virtual_size === null ? inspectFormat(image.disk_format, image.container_format) : null;
    const data = inspected(createReadStream(this.stores.staging.files.path(flow.image)), inspection);
    const added = await store.add(flow.image, data, this.opts.sizeCap, staged);
    const virtualSize = inspection?.virtualSize();
    const ok = await this.act(flow, async (trx, current) => {
      for (const [attr, value] of [
        ['size', added.size],
        ['os_hash_value', added.hashValue],
        ['checksum', added.checksum],
      ] as const) {
        const have = current[attr];
        if (have !== null && have !== value) throw new UploadFailure(`${attr} of uploaded data is different from current value set on the image.`);
      }
      await this.records.saveLocations(trx, current.id, [...current.locations, { url: added.url, metadata: added.metadata, status: 'active' }]);
      await trx
        .updateTable('images')
        .set({
          size: added.size,
          checksum: added.checksum,
          os_hash_algo: added.hashAlgo,
          os_hash_value: added.hashValue,
          ...(virtualSize && current.virtual_size === null ? { virtual_size: virtualSize } : {}),
        })
        .where('id', '=', current.id)
        .execute();
      if (setActive && current.status !== 'active') await this.setStatus(trx, current.id, 'active');
    });
    if (!ok) {
      store.remove(added.url);
      throw new TaskFailure('Task was aborted externally');
    }
  }

  // ------------------------------------------------------------ the location API (2.17)

  /**
   * POST /v2/images/{id}/locations after its checks: a `location_import` task holding the image's
   * lock adds the location, hashes the data and activates the image (glance/async_/flows/location_import.py).
   */
  async addLocation(ctx: RequestContext, id: string, url: string, val: Record<string, unknown>): Promise<void> {
    await this.records.write(id, 'update', async (trx, w) => {
      const image = await this.records.find(trx, id);
      if (!image) throw imageNotFound(id);
      if (LOCK in image.properties) await this.bustLock(trx, image);
      const held = await trx.selectFrom('image_properties').select('value').where('image_id', '=', id).where('name', '=', LOCK).executeTakeFirst();
      if (held) throw conflict(`New operation on image '${id}' is not permitted as prior operation is still in progress`);
      const task = await this.tasks.create(trx, ctx, 'location_import', id, { image_id: id, loc_url: url, validation_data: val });
      await this.records.setProperties(trx, id, new Map([[LOCK, task.id]]));
      const flow: Flow = { task, image: id, method: 'location_import', uri: url, stores: [], allMust: true };
      w.afterCommit(() => this.track(this.runLocation(flow, val)));
    });
  }

  private track(p: Promise<void>): void {
    const q = p.catch((e: unknown) => this.opts.logger?.error({ err: e }, 'image location task failed unexpectedly')).finally(() => this.running.delete(q));
    this.running.add(q);
  }

  private async runLocation(flow: Flow, val: Record<string, unknown>): Promise<void> {
    if (!(await this.records.uow.run((w) => this.tasks.transition(w.trx, flow.task.id, 'processing')))) return;
    const url = flow.uri ?? '';
    const algo = typeof val.os_hash_algo === 'string' ? val.os_hash_algo : 'sha512';
    const store = this.stores.forUrl(url);
    let added = false;
    try {
      // _UpdateLocationTask: a store serves it, it has data, it is not there yet.
      const size = store && store.type === 'http' ? await store.size(url).catch(() => 0) : 0;
      if (!(size > 0)) throw new TaskFailure('Invalid location');
      const ok = await this.act(flow, async (trx, image) => {
        const loc = { url, metadata: { store: store?.id }, status: 'active' };
        if (image.locations.some((l) => l.url === url)) throw new TaskFailure(`The location ${url} already exists`);
        await this.records.saveLocations(trx, image.id, [...image.locations, loc]);
        if (!image.size) await trx.updateTable('images').set({ size }).where('id', '=', image.id).execute();
        // With validation data the image waits `importing` for its hash; without, it is active at once.
        await this.setStatus(trx, image.id, Object.keys(val).length ? 'importing' : 'active');
        await trx.updateTable('images').set({ os_hash_algo: algo }).where('id', '=', image.id).execute();
      });
      if (!ok) throw new TaskFailure('Task was aborted externally');
      added = true;
      // _CalculateHash
      const { stream } = await (store ?? this.stores.default).open(url);
      const md5 = createHash('md5');
      const h = createHash(algo);
      for await (const chunk of stream) {
        md5.update(chunk as Buffer);
        h.update(chunk as Buffer);
      }
      const hash = h.digest('hex');
      if (Object.keys(val).length && val.os_hash_value !== hash) {
        throw new TaskFailure(`os_hash_value: (${String(val.os_hash_value)}) not matched with actual os_hash_value: (${hash})`);
      }
      await this.act(flow, async (trx, image) => {
        await trx
          .updateTable('images')
          .set({ checksum: md5.digest('hex'), os_hash_value: hash })
          .where('id', '=', image.id)
          .execute();
        if (image.status !== 'active') await this.setStatus(trx, image.id, 'active');
      });
      await this.records.uow.run((w) => this.tasks.transition(w.trx, flow.task.id, 'success', { result: { image_id: flow.image } }));
      await this.records.write(flow.image, 'update', (trx) => this.dropLock(trx, flow));
    } catch (e) {
      await this.records.write(flow.image, 'update', async (trx) => {
        const image = await this.records.find(trx, flow.image);
        if (!image || image.properties[LOCK] !== flow.task.id) return;
        if (added && image.status !== 'active') {
          // The reverts pop the location unless it is http (the http store cannot delete).
          if (!url.startsWith('http')) await this.records.saveLocations(trx, image.id, image.locations.slice(0, -1));
          await this.setStatus(trx, image.id, 'queued');
          await trx.updateTable('images').set({ os_hash_algo: null, os_hash_value: null, checksum: null }).where('id', '=', image.id).execute();
        }
        await this.dropLock(trx, flow);
      });
      await this.fail(flow, 'Task failed due to Internal Error');
      this.opts.logger?.info({ task: flow.task.id, reason: (e as Error).message }, 'image location task failed');
    }
  }

  // ------------------------------------------------------------ restart

  /**
   * On start: every task a stop interrupted fails, its image undone as a failed run undoes it, so
   * nothing stays `importing` or locked; a stage cut short goes back to queued.
   */
  async recover(): Promise<void> {
    const db = this.records.uow.store.db;
    for (const task of await this.tasks.unfinished(db)) {
      const image = task.image_id ? await this.records.find(db, task.image_id) : undefined;
      if (image && image.properties[LOCK] === task.id) {
        const input = task.input ?? {};
        const stores = Array.isArray(input.backend) ? input.backend.map(String) : [];
        await this.records.write(image.id, 'update', async (trx) => {
          // Unlike a failed run, a stop never leaves the image importing: it goes back to queued,
          // with what reached a store and any staged data gone (a new stage or import can start).
          if (image.status === 'importing') {
            for (const l of image.locations) this.stores.forUrl(l.url)?.remove(l.url);
            await this.records.saveLocations(trx, image.id, []);
            await trx.updateTable('images').set({ checksum: null, os_hash_algo: null, os_hash_value: null }).where('id', '=', image.id).execute();
            await this.requeue(trx, image);
            this.stores.staging.files.remove(image.id);
          }
          await this.progress(trx, image, IMPORTING, stores, true);
          if (stores.length) await this.progress(trx, image, FAILED, stores);
          await trx.deleteFrom('image_properties').where('image_id', '=', image.id).where('name', '=', LOCK).where('value', '=', task.id).execute();
        });
      }
      await this.records.uow.run((w) => this.tasks.transition(w.trx, task.id, 'failure', { message: 'Task failed due to Internal Error' }));
    }
    const stuck = await db.selectFrom('images').select(['id', 'status']).where('status', 'in', ['uploading', 'saving']).execute();
    for (const row of stuck) {
      const staged = this.stores.staging.files;
      // A complete stage (the file renamed into place) stays: the image is ready for glance-direct.
      if (row.status === 'uploading' && staged.exists(row.id)) continue;
      staged.remove(row.id);
      await this.records.write(row.id, 'update', (trx) =>
        trx
          .updateTable('images')
          .set({ status: 'queued', size: null, virtual_size: null, updated_at: nowIso() })
          .where('id', '=', row.id)
          .where('status', '=', row.status)
          .execute(),
      );
    }
  }
}
