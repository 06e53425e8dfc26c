/**
 * glance_store with multiple backends (`enabled_backends`): file stores keeping data in a
 * directory each, the read-only http store that serves `http(s)://` locations, and the reserved
 * staging store where glance-direct, web-download and copy-image put data before it reaches a
 * store. Locations are URLs, as Glance records them (`file:///…/<image id>`, `http://…`).
 */
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ImageFiles, type StoredData } from './files.js';
import type { ImageOptions, ImageStoreSpec } from './options.js';

/** glance_store's exceptions, by what the API layer makes of them. */
export class StoreError extends Error {
  constructor(
    readonly kind: 'not_found' | 'unknown_scheme' | 'bad_uri' | 'duplicate' | 'add_disabled' | 'unavailable',
    message: string,
  ) {
    super(message);
  }
}

/** Data added to a store: its location and what Glance records about it. */
export interface Added extends StoredData {
  url: string;
  metadata: Record<string, unknown>;
}

/** An open stream of a location's data, with the size the store reports. */
export interface Opened {
  stream: Readable;
  size: number;
}

/** One backend. */
export interface Store {
  readonly id: string;
  readonly type: 'file' | 'http';
  readonly description?: string;
  /** Glance marks the http store `read-only` in /v2/info/stores and never adds to it. */
  readonly readOnly: boolean;
  /** Does this store hold `url` (glance_store's url_prefix match)? */
  owns(url: string): boolean;
  add(imageId: string, data: Readable, cap: number, expectedSize?: number): Promise<Added>;
  size(url: string): Promise<number>;
  open(url: string, range?: { start: number; end: number }): Promise<Opened>;
  /** Remove the data (the http store cannot: glance_store's StoreDeleteNotSupported, ignored). */
  remove(url: string): void;
}

/** A store in a directory; its files are named by image id. */
export class FileStore implements Store {
  readonly type = 'file';
  readonly readOnly = false;
  readonly files: ImageFiles;

  constructor(
    readonly id: string,
    dir: string,
    readonly description?: string,
  ) {
    this.files = new ImageFiles(dir);
  }

  get dir(): string {
    return this.files.dir;
  }

  url(imageId: string): string {
    return pathToFileURL(this.files.path(imageId)).href;
  }

  owns(url: string): boolean {
    return url.startsWith(`${pathToFileURL(this.dir).href}/`);
  }

  /** The image id a location of this store names. */
  private idOf(url: string): string {
    const path = fileURLToPath(url);
    return path.slice(this.dir.length + 1);
  }

  async add(imageId: string, data: Readable, cap: number, expectedSize = 0): Promise<Added> {
    if (this.files.exists(imageId)) throw new StoreError('duplicate', `Image ${this.files.path(imageId)} already exists`);
    const stored = await this.files.write(imageId, data, cap, expectedSize);
    return { ...stored, url: this.url(imageId), metadata: { store: this.id } };
  }

  async size(url: string): Promise<number> {
    const size = this.files.size(this.idOf(url));
    if (size === null) throw new StoreError('not_found', `Image ${url} not found`);
    return size;
  }

  async open(url: string, range?: { start: number; end: number }): Promise<Opened> {
    const size = await this.size(url);
    return { stream: this.files.read(this.idOf(url), range), size };
  }

  remove(url: string): void {
    if (this.owns(url)) this.files.remove(this.idOf(url));
  }
}

/** glance_store's http driver follows at most this many redirects (301 and 302 only). */
const MAX_REDIRECTS = 5;

/** The read-only http store: sizes by HEAD, data by GET, both following redirects as glance_store does. */
export class HttpStore implements Store {
  readonly type = 'http';
  readonly readOnly = true;

  constructor(
    readonly id: string,
    readonly description?: string,
  ) {}

  owns(url: string): boolean {
    return /^https?:\/\//i.test(url);
  }

  async add(): Promise<Added> {
    throw new StoreError('add_disabled', 'Configuration for store failed. Adding images to this store is disabled.');
  }

  private async query(url: string, method: 'HEAD' | 'GET'): Promise<Response> {
    let target = url;
    for (let followed = 0; followed < MAX_REDIRECTS; followed++) {
      let res: Response;
      try {
        res = await fetch(target, { method, redirect: 'manual' });
      } catch (e) {
        if (method === 'GET') throw new StoreError('unavailable', 'Remote server where the image is present is unavailable.');
        throw new StoreError('bad_uri', `The HTTP URL is invalid: ${(e as Error).message}`);
      }
      if (res.status < 300) return res;
      const body = method === 'GET' ? await res.text().catch(() => '') : '';
      if (res.status >= 400) {
        if (res.status === 404) throw new StoreError('not_found', 'HTTP datastore could not find image at URI.');
        throw new StoreError('bad_uri', `HTTP URL ${new URL(target).pathname} returned a ${res.status} status code. \nThe response body:\n${body}`);
      }
      if (res.status !== 301 && res.status !== 302) {
        throw new StoreError('bad_uri', `The HTTP URL ${new URL(target).pathname} attempted to redirect with an invalid ${res.status} status code.`);
      }
      const location = res.headers.get('location');
      if (!location) throw new StoreError('bad_uri', `The Store URI was malformed: ${target}`);
      target = new URL(location, target).href;
    }
    throw new StoreError('bad_uri', `The HTTP URL exceeded ${MAX_REDIRECTS} maximum redirects.`);
  }

  async size(url: string): Promise<number> {
    const res = await this.query(url, 'HEAD');
    return Number(res.headers.get('content-length') ?? 0) || 0;
  }

  async open(url: string, range?: { start: number; end: number }): Promise<Opened> {
    const res = await this.query(url, 'GET');
    const size = Number(res.headers.get('content-length') ?? 0) || 0;
    const whole = res.body ? Readable.fromWeb(res.body as import('node:stream/web').ReadableStream) : Readable.from([]);
    return { stream: range ? slice(whole, range.start, range.end) : whole, size };
  }

  remove(): void {
    // glance_store's http store cannot delete (StoreDeleteNotSupported); Glance logs and goes on.
  }
}

/** Bytes [start, end] of a stream the source cannot seek (the http store reads from the start). */
function slice(src: Readable, start: number, end: number): Readable {
  const out = new PassThrough();
  let pos = 0;
  src.on('data', (chunk: Buffer) => {
    const from = Math.max(0, start - pos);
    const to = Math.min(chunk.length, end + 1 - pos);
    if (to > from) out.write(chunk.subarray(from, to));
    pos += chunk.length;
    if (pos > end) src.destroy();
  });
  src.on('end', () => out.end());
  src.on('close', () => out.end());
  src.on('error', (e) => out.destroy(e));
  return out;
}

/** glance_store's reserved staging store id. */
export const STAGING_STORE = 'os_glance_staging_store';

/** The configured stores, the default one and the staging area. */
export class ImageStores {
  private readonly byId = new Map<string, Store>();
  readonly staging: FileStore;
  readonly defaultId: string;

  constructor(
    dataDir: string,
    readonly options: Pick<ImageOptions, 'stores' | 'defaultStore'>,
  ) {
    this.defaultId = options.defaultStore;
    for (const spec of options.stores) this.byId.set(spec.id, this.build(dataDir, spec));
    this.staging = new FileStore(STAGING_STORE, join(dataDir, 'staging'));
  }

  private build(dataDir: string, spec: ImageStoreSpec): Store {
    if (spec.type === 'http') return new HttpStore(spec.id, spec.description);
    // The default store keeps the directory images always had, so data from before stores existed is its.
    const dir = spec.id === this.defaultId ? join(dataDir, 'images') : join(dataDir, 'stores', spec.id);
    return new FileStore(spec.id, dir, spec.description);
  }

  /** Every store in configuration order (`enabled_backends`). */
  all(): Store[] {
    return [...this.byId.values()];
  }

  /** glance_store's get_store_from_store_identifier. */
  get(id: string): Store {
    const store = this.byId.get(id);
    if (!store) throw new StoreError('unknown_scheme', `Store for identifier ${id} not found`);
    return store;
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  get default(): FileStore {
    return this.get(this.defaultId) as FileStore;
  }

  /** Stores data can be imported into (Glance's _get_available_stores: all but the http store). */
  writable(): string[] {
    return this.all()
      .filter((s) => !s.readOnly)
      .map((s) => s.id);
  }

  /** The store a URL belongs to (Glance's _get_store_id_from_uri), if any. */
  forUrl(url: string): Store | undefined {
    return this.all().find((s) => s.owns(url));
  }
}
