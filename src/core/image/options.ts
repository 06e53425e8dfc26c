/**
 * What a Glance operator configures and PocketStack lets one choose: the stores (glance-api.conf's
 * `enabled_backends`, `[glance_store] default_backend`), the import methods, the web-download URL
 * filter (`[import_filtering_opts]`) and whether locations are shown. Defaults are Glance's, except
 * that multiple stores are always on (with one file store), so the store APIs answer.
 */
import { boolFromString } from '../../util/bool.js';

/** A store: `file` keeps data in a directory, `http` is Glance's read-only http store (locations). */
export interface ImageStoreSpec {
  id: string;
  type: 'file' | 'http';
  description?: string;
}

/** Glance's `[import_filtering_opts]`: what web-download may fetch from. */
export interface ImportFilter {
  allowedSchemes: string[];
  disallowedSchemes: string[];
  allowedHosts: string[];
  disallowedHosts: string[];
  allowedPorts: number[];
  disallowedPorts: number[];
}

export interface ImageOptions {
  stores: ImageStoreSpec[];
  /** The store uploads and imports use when none is named (`default_backend`). */
  defaultStore: string;
  /** `enabled_import_methods`. */
  importMethods: string[];
  importFilter: ImportFilter;
  /** `show_multiple_locations`: images show `locations`, which PATCH may then change. */
  showMultipleLocations: boolean;
  /** `show_image_direct_url`: images show `direct_url`. */
  showDirectUrl: boolean;
}

export const IMPORT_METHODS = ['glance-direct', 'web-download', 'copy-image', 'glance-download'] as const;

export const DEFAULT_IMPORT_FILTER: ImportFilter = {
  allowedSchemes: ['http', 'https'],
  disallowedSchemes: [],
  allowedHosts: [],
  disallowedHosts: [],
  allowedPorts: [80, 443],
  disallowedPorts: [],
};

export const DEFAULT_IMAGE_OPTIONS: ImageOptions = {
  stores: [{ id: 'file', type: 'file' }],
  defaultStore: 'file',
  // Glance's default enabled_import_methods (glance-download needs a federated deployment).
  importMethods: ['glance-direct', 'web-download', 'copy-image'],
  importFilter: DEFAULT_IMPORT_FILTER,
  showMultipleLocations: false,
  showDirectUrl: false,
};

const list = (v: string | undefined): string[] | undefined =>
  v === undefined
    ? undefined
    : v
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x !== '');

/**
 * Options from `POCKETSTACK_IMAGE_*` variables: STORES (`id:type,…`, types `file` and `http`),
 * DEFAULT_STORE, IMPORT_METHODS, IMPORT_{ALLOWED,DISALLOWED}_{SCHEMES,HOSTS,PORTS} (comma lists),
 * SHOW_MULTIPLE_LOCATIONS and SHOW_DIRECT_URL. Refuses what Glance refuses to start with.
 */
export function imageOptionsFromEnv(env: NodeJS.ProcessEnv): ImageOptions {
  const stores: ImageStoreSpec[] = (list(env.POCKETSTACK_IMAGE_STORES) ?? ['file:file']).map((s) => {
    const [id, type = 'file'] = s.split(':');
    if (type !== 'file' && type !== 'http') throw new Error(`POCKETSTACK_IMAGE_STORES: store '${id}' has type '${type}' (file or http)`);
    // glance_store reserves the os_glance_ prefix for its own stores (staging, tasks).
    if (id.startsWith('os_glance_')) throw new Error(`POCKETSTACK_IMAGE_STORES: store id '${id}' uses the reserved prefix os_glance_`);
    return { id, type };
  });
  if (new Set(stores.map((s) => s.id)).size !== stores.length) throw new Error('POCKETSTACK_IMAGE_STORES: store ids must be unique');
  const writable = stores.filter((s) => s.type === 'file');
  if (writable.length === 0) throw new Error('POCKETSTACK_IMAGE_STORES: at least one store must be a file store');
  const defaultStore = env.POCKETSTACK_IMAGE_DEFAULT_STORE || writable[0].id;
  if (!writable.some((s) => s.id === defaultStore))
    throw new Error(`POCKETSTACK_IMAGE_DEFAULT_STORE: '${defaultStore}' is not a file store of POCKETSTACK_IMAGE_STORES`);
  const importMethods = list(env.POCKETSTACK_IMAGE_IMPORT_METHODS) ?? DEFAULT_IMAGE_OPTIONS.importMethods;
  for (const m of importMethods) {
    if (!(IMPORT_METHODS as readonly string[]).includes(m))
      throw new Error(`POCKETSTACK_IMAGE_IMPORT_METHODS: unknown method '${m}' (${IMPORT_METHODS.join(', ')})`);
  }
  const ports = (v: string | undefined, d: number[]) => list(v)?.map((p) => Number.parseInt(p, 10)) ?? d;
  const f = DEFAULT_IMPORT_FILTER;
  return {
    stores,
    defaultStore,
    importMethods,
    importFilter: {
      allowedSchemes: list(env.POCKETSTACK_IMAGE_IMPORT_ALLOWED_SCHEMES) ?? f.allowedSchemes,
      disallowedSchemes: list(env.POCKETSTACK_IMAGE_IMPORT_DISALLOWED_SCHEMES) ?? f.disallowedSchemes,
      allowedHosts: list(env.POCKETSTACK_IMAGE_IMPORT_ALLOWED_HOSTS) ?? f.allowedHosts,
      disallowedHosts: list(env.POCKETSTACK_IMAGE_IMPORT_DISALLOWED_HOSTS) ?? f.disallowedHosts,
      allowedPorts: ports(env.POCKETSTACK_IMAGE_IMPORT_ALLOWED_PORTS, f.allowedPorts),
      disallowedPorts: ports(env.POCKETSTACK_IMAGE_IMPORT_DISALLOWED_PORTS, f.disallowedPorts),
    },
    showMultipleLocations: boolFromString(env.POCKETSTACK_IMAGE_SHOW_MULTIPLE_LOCATIONS),
    showDirectUrl: boolFromString(env.POCKETSTACK_IMAGE_SHOW_DIRECT_URL),
  };
}
