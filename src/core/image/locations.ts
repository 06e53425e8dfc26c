/**
 * Image locations changed through PATCH (`/locations` add, replace, remove), as Glance's
 * ImagesController._do_*_locations and glance/location.py's StoreLocations check them: only
 * with `show_multiple_locations`, only locations a configured store serves (the http store here;
 * `file://` is restricted), each answering a non-zero size, with the hashes a location may carry
 * (`validation_data`) set on a queued image.
 */
import { pyRepr } from '../../util/pyrepr.js';
import { isDict } from '../../util/json.js';
import type { RequestContext } from '../context.js';
import { bad, conflict, forbidden, type Image, type ImageLocation } from './records.js';
import type { ImageStores } from './stores.js';

/** `[DEFAULT] hashing_algorithm`. */
export const HASHING_ALGORITHM = 'sha512';

/** Digest sizes of the algorithms Python's hashlib.new() accepts here. */
const DIGEST_BYTES = new Map<string, number>([
  ['md5', 16],
  ['sha1', 20],
  ['sha224', 28],
  ['sha256', 32],
  ['sha384', 48],
  ['sha512', 64],
]);

/** bytearray.fromhex: pairs of hex digits, whitespace between them; the byte count, or null. */
export function hexBytes(v: string): number | null {
  if (!/^\s*(?:[0-9a-fA-F]{2}\s*)*$/.test(v)) return null;
  return v.replace(/\s/g, '').length / 2;
}

export const digestBytes = (algo: string): number | undefined => DIGEST_BYTES.get(algo);

/** The validation data a location may carry, as the image schema allows it. */
type ValidationData = Partial<Record<'checksum' | 'os_hash_algo' | 'os_hash_value', string>>;

/** What a PATCH of locations leaves to write: the new list, hashes and status for a queued image. */
export interface LocationOutcome {
  locations: ImageLocation[];
  /** Locations removed from the image, whose data goes once the change committed. */
  removed: ImageLocation[];
  fields: Partial<Record<'checksum' | 'os_hash_algo' | 'os_hash_value' | 'status', string>> & { size?: number };
}

export class LocationRules {
  constructor(
    private readonly stores: ImageStores,
    readonly show: boolean,
  ) {}

  /**
   * Sizes of the locations `urls` name, from their stores (HEAD for http), read before the
   * transaction: 0 when the store cannot serve one (Glance's "Invalid location").
   */
  async probe(urls: readonly string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const url of urls) {
      const store = this.stores.forUrl(url);
      // validate_external_location: file:// (and unknown schemes) never name an external location.
      if (store?.type !== 'http') {
        out.set(url, 0);
        continue;
      }
      out.set(url, await store.size(url).catch(() => 0));
    }
    return out;
  }

  /** glance_store's get_updated_store_location: each location gets the id of the store serving it. */
  private withStore(loc: Record<string, unknown>): ImageLocation {
    const url = String(loc.url);
    const metadata = isDict(loc.metadata) ? { ...loc.metadata } : {};
    const store = this.stores.forUrl(url);
    if (store) metadata.store = store.id;
    return { url, metadata, status: 'active' };
  }

  /** _check_image_location: a store serves it and it has data. */
  private check(loc: ImageLocation, sizes: ReadonlyMap<string, number>): void {
    if (!((sizes.get(loc.url) ?? 0) > 0)) throw bad('Invalid location');
  }

  /** Glance's _validate_validation_data: the hashes to set, or 409s for conflicting ones. */
  private validationData(image: Image, locs: readonly unknown[]): ValidationData {
    const val = new Map<string, unknown>();
    for (const loc of locs) {
      if (!isDict(loc) || !isDict(loc.validation_data)) continue;
      for (const [k, v] of Object.entries(loc.validation_data)) {
        if (val.has(k) && val.get(k) !== v) throw conflict(`Conflicting values for ${k}`);
        val.set(k, v);
      }
    }
    const fresh = new Map<string, string>();
    for (const [k, v] of val) {
      const current = (image as unknown as Record<string, unknown>)[k];
      if (v === current) continue;
      if (current) throw conflict(`${k} is already set with a different value`);
      fresh.set(k, String(v));
    }
    if (fresh.size === 0) return {};
    if (image.status !== 'queued') throw conflict(`New value(s) for ${[...fresh.keys()].join(', ')} may only be provided when image status is 'queued'`);
    const checksum = fresh.get('checksum');
    if (checksum !== undefined) {
      const n = hexBytes(checksum);
      if (n === null) throw conflict(`checksum (${checksum}) is not a valid hexadecimal value`);
      if (n !== 16) throw conflict(`checksum (${checksum}) is not the correct size for md5 (should be 16 bytes)`);
    }
    const algo = fresh.get('os_hash_algo');
    if (algo !== HASHING_ALGORITHM) throw conflict(`os_hash_algo must be ${HASHING_ALGORITHM}, not ${algo ?? 'None'}`);
    const value = fresh.get('os_hash_value') ?? '';
    const n = hexBytes(value);
    if (n === null) throw conflict(`os_hash_value (${value}) is not a valid hexadecimal value`);
    const want = DIGEST_BYTES.get(algo) ?? 0;
    if (n !== want) throw conflict(`os_hash_value (${value}) is not the correct size for ${algo} (should be ${want} bytes)`);
    return Object.fromEntries(fresh) as ValidationData;
  }

  /** A queued image with its first location becomes active, with the hashes given (if any). */
  private activate(image: Image, val: ValidationData, out: LocationOutcome): void {
    if (image.status !== 'queued') return;
    const missing = ['disk_format', 'container_format'].filter((k) => !image[k as 'disk_format']);
    if (missing.length) throw bad(`${missing.length === 1 ? 'Property' : 'Properties'} ${missing.join(', ')} must be set prior to saving data.`);
    Object.assign(out.fields, val, { status: 'active' });
    image.status = 'active';
  }

  /** _set_image_size: an image without a size takes its new location's. */
  private size(image: Image, locs: readonly ImageLocation[], sizes: ReadonlyMap<string, number>, out: LocationOutcome): void {
    if (image.size) return;
    const found = locs.map((l) => sizes.get(l.url) ?? 0).find((s) => s > 0);
    if (found) {
      out.fields.size = found;
      image.size = found;
    }
  }

  /** The set_image_location policy (admin, or a member of the owning project). */
  private mayChange(ctx: RequestContext, image: Image): void {
    if (!ctx.isAdmin && (image.owner === null || image.owner !== ctx.projectId)) {
      throw forbidden('You are not authorized to complete set_image_location action.');
    }
  }

  /** PATCH add /locations/<pos>. */
  add(ctx: RequestContext, image: Image, pos: string, value: unknown, sizes: ReadonlyMap<string, number>, out: LocationOutcome): void {
    this.mayChange(ctx, image);
    if (!this.show) throw forbidden("It's not allowed to add locations if locations are invisible.");
    if (image.status !== 'active' && image.status !== 'queued') throw conflict(`It's not allowed to add locations if image status is ${image.status}.`);
    const val = this.validationData(image, [value]);
    const loc = this.withStore(isDict(value) ? value : {});
    // _get_locations_op_pos with allow_max: '-' is the end, a number may be past it (insert appends).
    const at = pos === '-' ? out.locations.length : /^\d+$/.test(pos) ? Number(pos) : null;
    if (at === null) throw bad('Invalid position for adding a location.');
    this.check(loc, sizes);
    if (out.locations.some((l) => l.url === loc.url && sameJson(l.metadata, loc.metadata))) throw bad(`The location ${loc.url} already exists`);
    out.locations.splice(at, 0, loc);
    this.size(image, [loc], sizes, out);
    this.activate(image, val, out);
  }

  /** PATCH replace /locations: the same URLs (metadata may change), or any URLs while there are none. */
  replace(ctx: RequestContext, image: Image, value: unknown, sizes: ReadonlyMap<string, number>, out: LocationOutcome): void {
    if (Array.isArray(value) && value.length === 0) throw forbidden('Cannot set locations to empty list.');
    this.mayChange(ctx, image);
    if (!this.show) throw forbidden("It's not allowed to update locations if locations are invisible.");
    if (image.status !== 'active' && image.status !== 'queued') throw conflict(`It's not allowed to replace locations if image status is ${image.status}.`);
    if (!Array.isArray(value)) throw bad('Invalid locations');
    const val = this.validationData(image, value);
    const locs = value.map((v) => this.withStore(isDict(v) ? v : {}));
    const before = out.locations;
    const urls = locs.map((l) => l.url).sort();
    const beforeUrls = before.map((l) => l.url).sort();
    const sameUrls = urls.length === beforeUrls.length && urls.every((u, i) => u === beforeUrls[i]);
    if (!sameJson(before, locs)) {
      if (before.length > 0 && !sameUrls) {
        const repr = before.map((l, i) => ({ id: i + 1, url: l.url, metadata: l.metadata, status: l.status }));
        throw bad(`Original locations is not empty: ${pyRepr(repr)}`);
      }
      if (!sameUrls) {
        for (const l of locs) {
          this.check(l, sizes);
          if (locs.filter((o) => o.url === l.url && sameJson(o.metadata, l.metadata)).length > 1) throw bad(`The location ${l.url} already exists`);
        }
        this.size(image, locs, sizes, out);
      }
      out.locations = locs;
    }
    this.activate(image, val, out);
  }

  /** PATCH remove /locations/<pos>: admin only by default, never the last one. */
  remove(ctx: RequestContext, image: Image, pos: string, out: LocationOutcome): void {
    // delete_image_location is admin-only (glance/policies/image.py).
    if (!ctx.isAdmin) throw forbidden('You are not authorized to complete delete_image_location action.');
    if (!this.show) throw forbidden("It's not allowed to remove locations if locations are invisible.");
    if (image.status !== 'active') throw conflict(`It's not allowed to remove locations if image status is ${image.status}.`);
    if (out.locations.length === 1) throw forbidden('Cannot remove last location in the image.');
    const at = pos === '-' ? out.locations.length - 1 : /^\d+$/.test(pos) ? Number(pos) : null;
    if (at === null || at >= out.locations.length) throw bad('Invalid position for removing a location.');
    out.removed.push(...out.locations.splice(at, 1));
  }
}

/** Python's == on JSON-like values (dict order does not matter). */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => sameJson(x, b[i]));
  }
  if (isDict(a) && isDict(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => k in b && sameJson(a[k], b[k]));
  }
  return false;
}
