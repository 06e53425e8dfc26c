/**
 * Glance's discovery calls (glance/api/v2/discovery.py) and its image cache API without a cache
 * (glance/api/v2/cached_images.py when `image_cache_dir` is unset).
 */
import type { RequestContext } from '../context.js';
import { DomainError } from '../errors.js';
import { forbidden, notFound } from './records.js';
import { type FileStore, type ImageStores, STAGING_STORE } from './stores.js';

/** GET /v2/info/import. */
export function importInfo(methods: readonly string[]) {
  return { 'import-methods': { description: 'Import methods available.', type: 'array', value: [...methods] } };
}

/**
 * GET /v2/info/stores (and /detail, admin or service only): every store but the reserved ones,
 * the default marked, the http store read-only.
 */
export function storesInfo(ctx: RequestContext, stores: ImageStores, detail: boolean): { stores: Array<Record<string, unknown>> } {
  const list = stores
    .all()
    .filter((s) => s.id !== STAGING_STORE)
    .map((s) => {
      const out: Record<string, unknown> = { id: s.id };
      if (s.description) out.description = s.description;
      if (s.id === stores.defaultId) out.default = 'true';
      if (s.type === 'http') out['read-only'] = 'true';
      return { store: s, out };
    });
  if (!detail) return { stores: list.map((s) => s.out) };
  // stores_info_detail: admin, or the service role (glance/policies/discovery.py).
  if (!ctx.isAdmin && !ctx.roles.includes('service')) throw forbidden('You are not authorized to complete stores_info_detail action.');
  return {
    stores: list.map(({ store, out }) => ({
      ...out,
      type: store.type,
      // glance_store's filesystem defaults: 64 KiB chunks, no thin provisioning; http exposes nothing.
      properties: store.type === 'file' ? { data_dir: (store as FileStore).dir, chunk_size: 65536, thin_provisioning: false } : {},
      weight: 0,
    })),
  };
}

/** GET /v2/info/usage: without Keystone unified limits (`use_keystone_limits`), Glance reports none. */
export function usage() {
  return { usage: {} };
}

/**
 * Glance's CacheController._enforce with no cache configured: each call's policy (cache_list,
 * cache_delete, cache_image, cache_clean, cache_prune, list_cached_nodes) is admin-only, so a
 * non-admin is refused (webob's bare 403) and an admin told the cache is not there.
 */
export function cacheRefusal(ctx: RequestContext): DomainError {
  if (!ctx.isAdmin) return new DomainError('forbidden', 'HTTPForbidden', 'Access was denied to this resource.');
  return notFound('Caching via API is not supported at this site.');
}
