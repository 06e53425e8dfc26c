import type { Readable } from 'node:stream';
import { type Expression, type SqlBool, sql } from 'kysely';
import type { Logger } from 'pino';
import type { Q, Store, Tx } from '../../store/db.js';
import type { ImagesTable } from '../../store/schema.js';
import { uuid } from '../../util/ids.js';
import { SchemaValidator } from '../../util/jsonschema.js';
import { pyRepr } from '../../util/pyrepr.js';
import type { RequestContext } from '../context.js';
import type { UnitOfWork } from '../work.js';
import { DomainError } from '../errors.js';
import { inspectFormat, inspected } from './formats.js';
import { ImageTooLarge, SizeMismatch } from './files.js';
import { ImageImports } from './imports.js';
import { type LocationOutcome, LocationRules } from './locations.js';
import { MetadefService } from './metadefs/service.js';
import { DEFAULT_IMAGE_OPTIONS, type ImageOptions } from './options.js';
import { bad, conflict, forbidden, type Image, ImageRecords, notFound, nowIso } from './records.js';
import { imageSchema } from './schema.js';
import { ImageStores, StoreError } from './stores.js';
import { TaskApi } from './taskapi.js';
import { type Task, TaskRepo } from './tasks.js';
import { cacheRefusal, importInfo, storesInfo, usage } from './discovery.js';
import { digestBytes, hexBytes } from './locations.js';

export type { Image } from './records.js';

export interface ImageMember {
  image_id: string;
  member: string;
  status: string;
  created_at: string;
  updated_at: string;
}

export interface ImageListQuery {
  /** Query parameters in order, repeated ones kept (`tag=a&tag=b`). */
  params: Array<[string, string]>;
}

export interface ImageChange {
  op: 'add' | 'remove' | 'replace';
  path: string[];
  value?: unknown;
  draft: 4 | 10;
}

const READ_ONLY_ON_CREATE = ['direct_url', 'self', 'file', 'schema', 'stores'];
/** Glance's read-only image attributes: refused on create and in every PATCH (the API checks a PATCH first). */
export const READ_ONLY = [
  'created_at',
  'updated_at',
  'status',
  'checksum',
  'size',
  'virtual_size',
  'direct_url',
  'self',
  'file',
  'schema',
  'id',
  'os_hash_algo',
  'os_hash_value',
];
const RESERVED = ['location', 'deleted', 'deleted_at'];
const RESERVED_NS = 'os_glance';
/** Attributes of the image itself (not extra properties). */
const BASE = [
  'checksum',
  'created_at',
  'container_format',
  'disk_format',
  'id',
  'min_disk',
  'min_ram',
  'name',
  'size',
  'virtual_size',
  'status',
  'tags',
  'owner',
  'updated_at',
  'visibility',
  'protected',
  'os_hidden',
];
/** Attributes a PATCH may set on the image itself. */
const SETTABLE = ['name', 'visibility', 'protected', 'os_hidden', 'min_disk', 'min_ram', 'container_format', 'disk_format', 'owner', 'tags'];
const SORT_KEYS = ['name', 'status', 'container_format', 'disk_format', 'size', 'id', 'created_at', 'updated_at'];
const TRANSITIONS: Record<string, string[]> = {
  queued: ['saving', 'uploading', 'importing', 'active', 'deleted'],
  saving: ['active', 'killed', 'deleted', 'queued'],
  uploading: ['importing', 'queued', 'deleted'],
  importing: ['active', 'deleted', 'queued'],
  active: ['pending_delete', 'deleted', 'deactivated'],
  killed: ['deleted'],
  pending_delete: ['deleted', 'active'],
  deleted: [],
  deactivated: ['active', 'deleted'],
};

const LIMIT_DEFAULT = 25;
const LIMIT_MAX = 1000;

const validator = new SchemaValidator();

/** python-jsonschema's str(ValidationError), as Glance's InvalidObject puts it on the wire (first lines). */
function schemaFailure(schemaName: string, body: unknown): DomainError | null {
  const e = validator.validate(imageSchema(), body);
  if (!e) return null;
  const where = e.path.map((p) => `[${pyRepr(p)}]`).join('');
  return bad(`Provided object does not match schema '${schemaName}': ${e.message}\n\nOn instance${where}:\n    ${pyRepr(e.instance)}`);
}

export interface ImageServiceOptions extends Partial<ImageOptions> {
  dataDir: string;
  /** Largest accepted upload in bytes (Glance's image_size_cap). */
  sizeCap: number;
  logger?: Logger;
  /** The image endpoints of the caller's service catalog, for glance-download. */
  imageEndpoints?: (caller: { userId: string; projectId: string | null }) => Promise<Array<{ region: string; interface: string; url: string }>>;
}

/** What GET …/file sends: the image, its size and a way to read (part of) its data. */
export interface ImageData {
  image: Image;
  size: number;
  open(range?: { start: number; end: number }): Promise<Readable>;
}

/**
 * Glance v2 without HTTP: images, their data in stores, tags, properties and members, with
 * Glance's visibility rules (public, community, shared with members, private) and ownership
 * checks; the interoperable import with its tasks (`imports`), and the metadata definitions
 * catalog (`metadefs`).
 */
export class ImageService {
  readonly options: ImageOptions;
  readonly stores: ImageStores;
  readonly records: ImageRecords;
  readonly tasks = new TaskRepo();
  readonly imports: ImageImports;
  readonly locations: LocationRules;
  readonly metadefs: MetadefService;
  readonly taskApi: TaskApi;

  constructor(
    readonly uow: UnitOfWork,
    readonly opts: ImageServiceOptions,
  ) {
    this.options = {
      stores: opts.stores ?? DEFAULT_IMAGE_OPTIONS.stores,
      defaultStore: opts.defaultStore ?? opts.stores?.find((s) => s.type === 'file')?.id ?? DEFAULT_IMAGE_OPTIONS.defaultStore,
      importMethods: opts.importMethods ?? DEFAULT_IMAGE_OPTIONS.importMethods,
      importFilter: opts.importFilter ?? DEFAULT_IMAGE_OPTIONS.importFilter,
      showMultipleLocations: opts.showMultipleLocations ?? DEFAULT_IMAGE_OPTIONS.showMultipleLocations,
      showDirectUrl: opts.showDirectUrl ?? DEFAULT_IMAGE_OPTIONS.showDirectUrl,
    };
    this.stores = new ImageStores(opts.dataDir, this.options);
    this.records = new ImageRecords(uow);
    this.imports = new ImageImports(this.records, this.tasks, this.stores, {
      importMethods: this.options.importMethods,
      importFilter: this.options.importFilter,
      sizeCap: opts.sizeCap,
      logger: opts.logger,
      imageEndpoints: opts.imageEndpoints,
    });
    this.locations = new LocationRules(this.stores, this.options.showMultipleLocations);
    this.metadefs = new MetadefService(uow);
    this.taskApi = new TaskApi(this.records, this.tasks, this.stores, { importFilter: this.options.importFilter, sizeCap: opts.sizeCap, logger: opts.logger });
  }

  get store(): Store {
    return this.uow.store;
  }

  /**
   * On every start: the default metadata definitions catalog once, locations for data written
   * before stores existed, and the imports and uploads a stop interrupted.
   */
  async start(): Promise<void> {
    await this.metadefs.loadDefaultCatalog();
    await this.adoptLegacyData();
    await this.imports.recover();
  }

  /** Let running import tasks finish (tests, shutdown). */
  async stop(): Promise<void> {
    await this.imports.idle();
    await this.taskApi.idle();
  }

  /** Images with data in the default store's directory but no location (written before stores) get one. */
  private async adoptLegacyData(): Promise<void> {
    const rows = await this.store.db
      .selectFrom('images')
      .select('id')
      .where('status', 'in', ['active', 'deactivated'])
      .where((eb) =>
        eb.not(eb.exists(eb.selectFrom('image_locations').select('image_locations.image_id').whereRef('image_locations.image_id', '=', 'images.id'))),
      )
      .execute();
    const store = this.stores.default;
    for (const { id } of rows) {
      if (!store.files.exists(id)) continue;
      await this.records.write(id, 'update', (trx) =>
        this.records.saveLocations(trx, id, [{ url: store.url(id), metadata: { store: store.id }, status: 'active' }]),
      );
    }
  }

  private write<T>(id: string, op: 'create' | 'update' | 'delete', fn: (trx: Tx) => Promise<T>): Promise<T> {
    return this.records.write(id, op, (trx) => fn(trx));
  }

  private getRow(q: Q, ctx: RequestContext, id: string): Promise<ImagesTable> {
    return this.records.getRow(q, ctx, id);
  }

  private mustOwn(ctx: RequestContext, row: ImagesTable): void {
    this.records.mustOwn(ctx, row);
  }

  private visible(q: Q, ctx: RequestContext, row: ImagesTable): Promise<boolean> {
    return this.records.visible(q, ctx, row);
  }

  private load(q: Q, rows: ImagesTable[]): Promise<Image[]> {
    return this.records.load(q, rows);
  }

  private checkVisibilityPolicy(ctx: RequestContext, visibility: unknown): void {
    if (visibility === 'public' && !ctx.isAdmin) throw forbidden('You are not authorized to complete publicize_image action.');
  }

  async show(ctx: RequestContext, id: string): Promise<Image> {
    const [img] = await this.load(this.store.db, [await this.getRow(this.store.db, ctx, id)]);
    return img;
  }

  /** Nova's view of an image to boot: visible to the caller and active. */
  async forBoot(ctx: RequestContext, id: string): Promise<Image | null> {
    const row = await this.store.db.selectFrom('images').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row || !(await this.visible(this.store.db, ctx, row))) return null;
    const [img] = await this.load(this.store.db, [row]);
    return img;
  }

  /** Names and ids for many images at once (Nova's views, novaclient's image column). */
  async byIds(ids: string[]): Promise<Map<string, ImagesTable>> {
    if (ids.length === 0) return new Map();
    const rows = await this.store.db
      .selectFrom('images')
      .selectAll()
      .where('id', 'in', [...new Set(ids)])
      .execute();
    return new Map(rows.map((r) => [r.id, r]));
  }

  // ------------------------------------------------------------ list

  async list(ctx: RequestContext, query: ImageListQuery): Promise<{ images: Image[]; nextMarker?: string }> {
    const params = [...query.params];
    const take = (k: string): string | undefined => {
      const i = params.findIndex(([key]) => key === k);
      if (i < 0) return undefined;
      return params.splice(i, 1)[0][1];
    };
    const takeAll = (k: string): string[] => {
      const out: string[] = [];
      for (let v = take(k); v !== undefined; v = take(k)) out.push(v);
      return out;
    };

    const rawLimit = take('limit');
    const marker = take('marker');
    const memberStatus = take('member_status') ?? 'accepted';
    if (!['pending', 'accepted', 'rejected', 'all'].includes(memberStatus)) throw bad(`Invalid status: ${memberStatus}`);
    const tags = takeAll('tag').map((t) => t.trim());

    let limit = LIMIT_DEFAULT;
    if (rawLimit !== undefined) {
      if (!/^\s*[-+]?\d+\s*$/.test(rawLimit)) throw bad('limit param must be an integer');
      limit = Number(rawLimit);
      if (limit < 0) throw bad('limit param must be positive');
    }
    limit = Math.min(LIMIT_MAX, limit);

    // Sorting: classic sort_key/sort_dir or `sort=name:asc,size:desc`.
    const sortKeys: string[] = [];
    const sortDirs: string[] = [];
    const validKey = (k: string) => {
      if (!SORT_KEYS.includes(k)) throw bad(`Invalid sort key: ${k}. It must be one of the following: ${SORT_KEYS.join(', ')}.`);
      return k;
    };
    const validDir = (d: string) => {
      if (d !== 'asc' && d !== 'desc') throw bad(`Invalid sort direction: ${d}`);
      return d;
    };
    const sort = take('sort');
    if (sort !== undefined) {
      if (params.some(([k]) => k === 'sort_key' || k === 'sort_dir')) throw bad('Old and new sorting syntax cannot be combined');
      for (const part of sort.trim().split(',')) {
        const [k, d] = part.split(':');
        sortKeys.push(validKey(k.trim()));
        sortDirs.push(validDir((d ?? 'desc').trim() || 'desc'));
      }
    } else {
      for (const k of takeAll('sort_key')) sortKeys.push(validKey(k.trim()));
      for (const d of takeAll('sort_dir')) sortDirs.push(validDir(d.trim()));
      if (sortDirs.length > 1 && sortDirs.length !== sortKeys.length) throw bad('Number of sort dirs does not match the number of sort keys');
    }
    if (sortKeys.length === 0) sortKeys.push('created_at');
    if (sortDirs.length === 0) sortDirs.push('desc');
    while (sortDirs.length < sortKeys.length) sortDirs.push(sortDirs[0]);
    for (const k of ['created_at', 'id']) {
      if (!sortKeys.includes(k)) {
        sortKeys.push(k);
        sortDirs.push(sortDirs[0]);
      }
    }

    const visibility = take('visibility');
    if (visibility && !['community', 'public', 'private', 'shared', 'all'].includes(visibility)) throw bad(`Invalid visibility value: ${visibility}`);
    if (take('changes-since') !== undefined) throw bad('The "changes-since" filter is no longer available on v2.');
    const osHidden = (take('os_hidden') ?? 'false').toLowerCase();
    if (osHidden !== 'true' && osHidden !== 'false') throw bad(`Invalid value '${osHidden}' for 'os_hidden' filter. Valid values are 'true' or 'false'.`);
    const prot = take('protected');
    if (prot !== undefined && prot !== 'true' && prot !== 'false')
      throw bad(`Invalid value '${prot}' for 'protected' filter. Valid values are 'true' or 'false'.`);

    const db = this.store.db;
    let qb = db.selectFrom('images').selectAll('images');
    qb = qb.where('images.status', '!=', 'killed').where('images.status', '!=', 'deleted');
    qb = qb.where('images.os_hidden', '=', osHidden === 'true' ? 1 : 0);
    if (prot !== undefined) qb = qb.where('images.protected', '=', prot === 'true' ? 1 : 0);
    for (const t of tags) {
      qb = qb.where((eb) =>
        eb.exists(eb.selectFrom('image_tags').select('image_tags.tag').whereRef('image_tags.image_id', '=', 'images.id').where('image_tags.tag', '=', t)),
      );
    }

    const project = ctx.projectId;
    const regular = !ctx.isAdmin;
    if (regular) {
      qb = qb.where((eb) => {
        const own: Expression<SqlBool>[] = [eb('images.visibility', 'in', ['public', 'community'])];
        if (project !== null) own.push(eb('images.owner', '=', project));
        let member = eb.selectFrom('image_members').select('image_members.member').whereRef('image_members.image_id', '=', 'images.id');
        if (project !== null) member = member.where('image_members.member', '=', project);
        if (memberStatus !== 'all') member = member.where('image_members.status', '=', memberStatus);
        own.push(eb.and([eb('images.visibility', '=', 'shared'), eb.exists(member)]));
        return eb.or(own);
      });
    }
    if (visibility !== undefined) {
      if (visibility !== 'all') qb = qb.where('images.visibility', '=', visibility);
    } else if (project === null) {
      qb = qb.where('images.visibility', '!=', 'community');
    } else {
      qb = qb.where((eb) => eb.or([eb('images.owner', '=', project), eb('images.visibility', '!=', 'community')]));
    }

    // Column filters (with Glance's `in:` operator on a few), ranges, times, then extra properties.
    // A filter named twice is one filter, the last value winning (webob's MultiDict.get, as Glance
    // reads them): a thousand repeats are not a thousand conditions.
    for (const [k, v] of new Map(params)) {
      if (k === 'sort_key' || k === 'sort_dir') continue;
      if (k.endsWith('_min') || k.endsWith('_max')) {
        const col = k.slice(0, -4);
        if (!/^\s*[-+]?\d+\s*$/.test(v)) throw bad('Unable to filter on a range with a non-numeric value.');
        if (!['size', 'virtual_size', 'min_ram', 'min_disk'].includes(col)) continue;
        qb = qb.where(`images.${col}` as 'images.size', k.endsWith('_min') ? '>=' : '<=', Number(v));
        continue;
      }
      if (k === 'created_at' || k === 'updated_at') {
        const m = /^(gt|gte|lt|lte|eq|neq):(.*)$/.exec(v);
        const op = m ? m[1] : 'eq';
        const when = Date.parse(m ? m[2] : v);
        if (Number.isNaN(when)) throw bad(`Bad "${k}" query filter format. Use ISO 8601 DateTime notation.`);
        const sqlOp = { gt: '>', gte: '>=', lt: '<', lte: '<=', eq: '=', neq: '!=' }[op] as '>';
        qb = qb.where(`images.${k}`, sqlOp, new Date(when).toISOString());
        continue;
      }
      if (['name', 'id', 'status', 'container_format', 'disk_format'].includes(k)) {
        const col = `images.${k}` as 'images.name';
        if (v.startsWith('in:')) qb = qb.where(col, 'in', splitQuoted(v.slice(3)));
        else if (/^[a-z]+:/.test(v) && !v.startsWith('eq:') && k !== 'name') throw bad(`Unable to filter by unknown operator '${v.split(':')[0]}'.`);
        else qb = qb.where(col, '=', v.startsWith('eq:') ? v.slice(3) : v);
        continue;
      }
      if (['owner', 'size', 'virtual_size', 'checksum', 'os_hash_value', 'min_ram', 'min_disk'].includes(k)) {
        qb = qb.where(`images.${k}` as 'images.owner', '=', v);
        continue;
      }
      qb = qb.where((eb) =>
        eb.exists(
          eb
            .selectFrom('image_properties')
            .select('image_properties.name')
            .whereRef('image_properties.image_id', '=', 'images.id')
            .where('image_properties.name', '=', k)
            .where('image_properties.value', '=', v),
        ),
      );
    }

    if (marker !== undefined) {
      const m = await db.selectFrom('images').selectAll().where('id', '=', marker).executeTakeFirst();
      if (!m || !(await this.visible(db, ctx, m))) throw bad(`No image found with ID ${marker}`);
      // Keyset pagination over (sort keys…, created_at, id) as Glance's paginate_query does.
      qb = qb.where((eb) =>
        eb.or(
          sortKeys.map((k, i) =>
            eb.and([
              ...sortKeys
                .slice(0, i)
                .map((p) =>
                  m[p as keyof ImagesTable] === null
                    ? eb(`images.${p}` as 'images.id', 'is', null)
                    : eb(`images.${p}` as 'images.id', '=', m[p as keyof ImagesTable] as string),
                ),
              nullSafeCompare(eb, `images.${k}`, sortDirs[i] === 'asc' ? '>' : '<', m[k as keyof ImagesTable]),
            ]),
          ),
        ),
      );
    }
    for (let i = 0; i < sortKeys.length; i++) {
      // Glance (MySQL/PostgreSQL default) orders NULLs as smallest.
      const col = `images.${sortKeys[i]}`;
      const asc = sortDirs[i] === 'asc';
      qb = qb.orderBy(sql`(${sql.ref(col)} is null)`, asc ? 'desc' : 'asc').orderBy(sql.ref(col), asc ? 'asc' : 'desc');
    }
    const rows = await qb.limit(limit).execute();
    const images = await this.load(db, rows);
    return { images, nextMarker: images.length !== 0 && rows.length === limit ? images[images.length - 1].id : undefined };
  }

  // ------------------------------------------------------------ create / update / delete

  async create(ctx: RequestContext, body: unknown): Promise<Image> {
    if (body === undefined) throw bad('Body expected in request.');
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      // Glance validates the body against the image schema, whatever it is.
      throw schemaFailure('image', body) ?? bad('Body expected in request.');
    }
    const b = { ...(body as Record<string, unknown>) };
    for (const k of READ_ONLY_ON_CREATE) if (k in b) throw forbidden(`Attribute '${k}' is read-only.`);
    const invalid = schemaFailure('image', b);
    if (invalid) throw invalid;
    const tags = (b.tags as string[] | undefined) ?? [];
    delete b.tags;
    const base: Record<string, unknown> = {};
    for (const k of BASE) {
      if (k in b) {
        base[k] = b[k];
        delete b[k];
      }
    }
    const extra = b as Record<string, string>;
    for (const k of Object.keys(extra)) {
      if (k.length > 255) throw bad('Custom property should not be greater than 255 characters.');
      if (RESERVED.includes(k) || k.startsWith(RESERVED_NS)) throw forbidden(`Attribute '${k}' is reserved.`);
    }
    const owner = (base.owner as string | null | undefined) ?? ctx.projectId;
    if (!ctx.isAdmin && 'owner' in base && base.owner !== ctx.projectId)
      throw forbidden(`You are not permitted to create images owned by '${String(base.owner)}'.`);
    this.checkVisibilityPolicy(ctx, base.visibility);
    for (const k of READ_ONLY) if (k in base && k !== 'id') throw forbidden(`Attribute '${k}' is read-only.`);
    for (const k of ['min_disk', 'min_ram'] as const) {
      const v = base[k] as number | undefined;
      if (v !== undefined && v < 0) throw bad(`Invalid value '${v}' for parameter '${k}': Cannot be a negative value`);
    }
    const id = (base.id as string | undefined) ?? uuid();
    const now = nowIso();
    await this.write(id, 'create', async (trx) => {
      const exists = await trx.selectFrom('images').select('id').where('id', '=', id).executeTakeFirst();
      if (exists) throw conflict(`Image with identifier ${id} already exists!`);
      await trx
        .insertInto('images')
        .values({
          id,
          name: (base.name as string | null | undefined) ?? null,
          owner: owner ?? null,
          visibility: (base.visibility as string | undefined) ?? 'shared',
          status: 'queued',
          container_format: (base.container_format as string | null | undefined) ?? null,
          disk_format: (base.disk_format as string | null | undefined) ?? null,
          size: null,
          virtual_size: null,
          checksum: null,
          os_hash_algo: null,
          os_hash_value: null,
          min_disk: (base.min_disk as number | undefined) ?? 0,
          min_ram: (base.min_ram as number | undefined) ?? 0,
          protected: base.protected ? 1 : 0,
          os_hidden: base.os_hidden ? 1 : 0,
          created_at: now,
          updated_at: now,
        })
        .execute();
      await this.writeTags(trx, id, tags);
      for (const [name, value] of Object.entries(extra)) await trx.insertInto('image_properties').values({ image_id: id, name, value }).execute();
    });
    return this.show(ctx, id);
  }

  private async writeTags(trx: Tx, id: string, tags: string[]): Promise<void> {
    await trx.deleteFrom('image_tags').where('image_id', '=', id).execute();
    let position = 0;
    for (const tag of [...new Set(tags)]) await trx.insertInto('image_tags').values({ image_id: id, tag, position: position++ }).execute();
  }

  /** Apply JSON-patch changes (already parsed by the edge) in one transaction. */
  /**
   * Apply JSON-patch changes (already parsed by the edge) in one transaction. Every value is
   * checked against the image schema first (Glance's deserializer), then the changes apply in
   * order (the controller); `locations` changes follow glance/location.py (see locations.ts).
   */
  async update(ctx: RequestContext, id: string, changes: ImageChange[]): Promise<Image> {
    for (const c of changes) {
      if (c.op === 'remove') continue;
      const root = c.path[0];
      // A one-property image, or for `/locations/<n>` a one-element list (Glance's _validate_change).
      const invalid = schemaFailure('image', { [root]: c.path.length === 1 ? c.value : [c.value] });
      if (invalid) throw invalid;
    }
    // Locations are checked against their stores (a HEAD for http) before the transaction.
    const urls: string[] = [];
    for (const c of changes) {
      if (c.path[0] !== 'locations' || c.op === 'remove') continue;
      for (const v of c.path.length === 1 && Array.isArray(c.value) ? c.value : [c.value]) {
        if (typeof v === 'object' && v !== null && typeof (v as { url?: unknown }).url === 'string') urls.push((v as { url: string }).url);
      }
    }
    const sizes = urls.length ? await this.locations.probe(urls) : new Map<string, number>();
    const dropped = await this.write(id, 'update', async (trx) => {
      const row = await this.getRow(trx, ctx, id);
      const [img] = await this.load(trx, [row]);
      const cols: Partial<ImagesTable> = {};
      // Property names come from the patch: no prototype for them to collide with.
      const props: Record<string, string> = Object.assign(Object.create(null), img.properties);
      let tags: string[] | undefined;
      const locs: LocationOutcome = { locations: [...img.locations], removed: [], fields: {} };
      let locationsChanged = false;
      const setBase = (k: string, value: unknown) => {
        if (k === 'visibility') this.checkVisibilityPolicy(ctx, value);
        this.mustOwn(ctx, row);
        if ((k === 'container_format' || k === 'disk_format') && !['queued', 'importing'].includes(img.status)) {
          throw forbidden(`Attribute ${k} can be only replaced for a queued image.`);
        }
        if ((k === 'min_disk' || k === 'min_ram') && typeof value === 'number' && value < 0) {
          throw bad(`Invalid value '${value}' for parameter '${k}': Cannot be a negative value`);
        }
        if (k === 'tags') tags = value as string[];
        else if (k === 'protected' || k === 'os_hidden') (cols as Record<string, unknown>)[k] = value ? 1 : 0;
        else {
          (cols as Record<string, unknown>)[k] = value;
          (img as unknown as Record<string, unknown>)[k] = value;
        }
      };
      for (const c of changes) {
        const root = c.path[0];
        if (root === 'locations') {
          locationsChanged = true;
          if (c.op === 'add') this.locations.add(ctx, img, c.path[1], c.value, sizes, locs);
          else if (c.op === 'replace') this.locations.replace(ctx, img, c.value, sizes, locs);
          else this.locations.remove(ctx, img, c.path[1], locs);
          continue;
        }
        const isBase = SETTABLE.includes(root);
        if (c.op === 'replace') {
          if (root === 'owner' && !ctx.isAdmin) throw forbidden("Owner can't be updated by non admin.");
          if (isBase) setBase(root, c.value);
          else if (root in props) {
            this.mustOwn(ctx, row);
            props[root] = c.value as string;
          } else throw conflict(`Property ${root} does not exist.`);
        } else if (c.op === 'add') {
          if (c.draft === 4 && (isBase || root in props)) throw conflict(`Property ${root} already present.`);
          if (isBase) setBase(root, c.value);
          else {
            this.mustOwn(ctx, row);
            props[root] = c.value as string;
          }
        } else {
          if (isBase || BASE.includes(root)) throw forbidden(`Property ${root} may not be removed.`);
          if (!(root in props)) throw conflict(`Property ${root} does not exist.`);
          this.mustOwn(ctx, row);
          delete props[root];
        }
      }
      if (changes.length === 0) return [];
      await trx
        .updateTable('images')
        .set({ ...cols, ...locs.fields, updated_at: nowIso() })
        .where('id', '=', id)
        .execute();
      if (tags !== undefined) await this.writeTags(trx, id, tags);
      if (locationsChanged) await this.records.saveLocations(trx, id, locs.locations);
      await trx.deleteFrom('image_properties').where('image_id', '=', id).execute();
      for (const [name, value] of Object.entries(props)) await trx.insertInto('image_properties').values({ image_id: id, name, value }).execute();
      return locs.removed;
    });
    // A removed location's data goes with it (StoreLocations.pop deletes from the backend).
    for (const l of dropped) this.stores.forUrl(l.url)?.remove(l.url);
    return this.show(ctx, id);
  }

  async delete(ctx: RequestContext, id: string): Promise<void> {
    const locations = await this.write(id, 'delete', async (trx) => {
      const row = await trx.selectFrom('images').selectAll().where('id', '=', id).executeTakeFirst();
      if (!row || !(await this.visible(trx, ctx, row))) throw notFound(`Failed to find image ${id} to delete`);
      this.mustOwn(ctx, row);
      if (row.protected) throw forbidden(`Image ${id} is protected and cannot be deleted.`);
      const [img] = await this.load(trx, [row]);
      await trx.deleteFrom('images').where('id', '=', id).execute();
      return img.locations;
    });
    // The data goes from every store holding it, and from staging (a stage or import in progress).
    for (const l of locations) this.stores.forUrl(l.url)?.remove(l.url);
    this.stores.staging.files.remove(id);
  }

  // ------------------------------------------------------------ data

  private transition(row: ImagesTable, to: string): void {
    if (!TRANSITIONS[row.status]?.includes(to)) throw conflict(`Image status transition from ${row.status} to ${to} is not allowed`);
  }

  /**
   * Stream data into the image: queued → saving (committed, so a second upload is refused) →
   * active with size, hashes and a location in the store (`storeId`: the `X-Image-Meta-Store`
   * header, else the default store). A failed or refused upload puts the image back to queued.
   */
  async upload(ctx: RequestContext, id: string, data: Readable, storeId?: string, expectedSize?: number): Promise<void> {
    let store: ReturnType<ImageStores['get']>;
    try {
      store = this.stores.get(storeId ?? this.stores.defaultId);
    } catch (e) {
      throw bad((e as Error).message);
    }
    const row = await this.write(id, 'update', async (trx) => {
      const row = await this.getRow(trx, ctx, id);
      this.mustOwn(ctx, row);
      this.transition(row, 'saving');
      const missing = ['disk_format', 'container_format'].filter((k) => !row[k as keyof ImagesTable]);
      if (missing.length) throw bad(`${missing.length === 1 ? 'Property' : 'Properties'} ${missing.join(', ')} must be set prior to saving data.`);
      await trx.updateTable('images').set({ status: 'saving', updated_at: nowIso() }).where('id', '=', id).execute();
      return row;
    });
    // location.py set_data: the data's format inspected in flight, unless a virtual size is known.
    const inspection = row.virtual_size === null ? inspectFormat(row.disk_format, row.container_format) : null;
    let added: Awaited<ReturnType<typeof store.add>>;
    try {
      added = await store.add(id, inspected(data, inspection), this.opts.sizeCap, expectedSize ?? 0);
    } catch (e) {
      await this.write(id, 'update', (trx) =>
        trx
          .updateTable('images')
          .set({ status: 'queued', size: null, virtual_size: null, updated_at: nowIso() })
          .where('id', '=', id)
          .where('status', '=', 'saving')
          .execute(),
      );
      if (e instanceof ImageTooLarge) {
        throw new DomainError('too_large', 'HTTPRequestEntityTooLarge', `The incoming image is too large: ${e.message}`);
      }
      if (e instanceof SizeMismatch) throw bad(e.message);
      if (e instanceof StoreError && e.kind === 'add_disabled') {
        throw new DomainError('gone', 'HTTPGone', 'Error in store configuration. Adding images to store is disabled.');
      }
      throw e;
    }
    const virtualSize = inspection?.virtualSize();
    const done = await this.write(id, 'update', async (trx) => {
      const res = await trx
        .updateTable('images')
        .set({
          status: 'active',
          size: added.size,
          checksum: added.checksum,
          os_hash_algo: added.hashAlgo,
          os_hash_value: added.hashValue,
          ...(virtualSize ? { virtual_size: virtualSize } : {}),
          updated_at: nowIso(),
        })
        .where('id', '=', id)
        .where('status', '=', 'saving')
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) !== 0) await this.records.saveLocations(trx, id, [{ url: added.url, metadata: added.metadata, status: 'active' }]);
      return res;
    });
    if (Number(done.numUpdatedRows) === 0) {
      store.remove(added.url);
      throw new DomainError(
        'gone',
        'HTTPGone',
        `Image ${id} could not be found after upload. The image may have been deleted during the upload, cleaning up the chunks uploaded.`,
      );
    }
  }

  /**
   * What to send for GET …/file: null when the image has no data (Glance answers 204). The data
   * comes from the first location that can be read, as Glance's get_data tries them in order.
   */
  async download(ctx: RequestContext, id: string): Promise<ImageData | null> {
    const image = await this.show(ctx, id);
    if (image.status === 'deactivated' && !ctx.isAdmin) {
      throw forbidden('The requested image has been deactivated. Image data download is forbidden.');
    }
    if (image.status !== 'active' && image.status !== 'deactivated') return null;
    for (const l of image.locations) {
      const store = this.stores.forUrl(l.url);
      if (!store) continue;
      // A file store's data must be there; the size sent is the image's (Glance's Content-Length).
      const size = store.type === 'file' ? await store.size(l.url).catch(() => null) : (image.size ?? (await store.size(l.url).catch(() => null)));
      if (size === null) continue;
      return { image, size: image.size ?? size, open: async (range) => (await store.open(l.url, range)).stream };
    }
    return null;
  }

  async deactivate(ctx: RequestContext, id: string): Promise<void> {
    await this.setActive(ctx, id, false);
  }

  async reactivate(ctx: RequestContext, id: string): Promise<void> {
    await this.setActive(ctx, id, true);
  }

  private async setActive(ctx: RequestContext, id: string, active: boolean): Promise<void> {
    await this.write(id, 'update', async (trx) => {
      const row = await this.getRow(trx, ctx, id);
      this.mustOwn(ctx, row);
      const [from, to] = active ? ['deactivated', 'active'] : ['active', 'deactivated'];
      if (row.status === to) return;
      if (row.status !== from) throw forbidden(`Not allowed to ${active ? 'reactivate' : 'deactivate'} image in status '${row.status}'`);
      await trx.updateTable('images').set({ status: to, updated_at: nowIso() }).where('id', '=', id).execute();
    });
  }

  // ------------------------------------------------------------ tags

  async addTag(ctx: RequestContext, id: string, tag: string): Promise<void> {
    if (tag.length > 255) throw bad(`Provided object does not match schema 'image': ${pyRepr(tag)} is too long`);
    await this.write(id, 'update', async (trx) => {
      const row = await this.getRow(trx, ctx, id);
      this.mustOwn(ctx, row);
      const exists = await trx.selectFrom('image_tags').select('tag').where('image_id', '=', id).where('tag', '=', tag).executeTakeFirst();
      if (!exists) {
        const n = await trx
          .selectFrom('image_tags')
          .select(({ fn }) => fn.countAll<number>().as('n'))
          .where('image_id', '=', id)
          .executeTakeFirst();
        await trx
          .insertInto('image_tags')
          .values({ image_id: id, tag, position: Number(n?.n ?? 0) })
          .execute();
      }
      await trx.updateTable('images').set({ updated_at: nowIso() }).where('id', '=', id).execute();
    });
  }

  async deleteTag(ctx: RequestContext, id: string, tag: string): Promise<void> {
    await this.write(id, 'update', async (trx) => {
      const row = await this.getRow(trx, ctx, id);
      this.mustOwn(ctx, row);
      const res = await trx.deleteFrom('image_tags').where('image_id', '=', id).where('tag', '=', tag).executeTakeFirst();
      if (Number(res.numDeletedRows) === 0) throw new DomainError('not_found', 'HTTPNotFound', `Tag ${tag} not found`);
      await trx.updateTable('images').set({ updated_at: nowIso() }).where('id', '=', id).execute();
    });
  }

  // ------------------------------------------------------------ members

  private async memberImage(q: Q, ctx: RequestContext, id: string): Promise<ImagesTable> {
    const row = await this.getRow(q, ctx, id);
    if (row.visibility !== 'shared') throw forbidden('Only shared images have members.');
    return row;
  }

  async listMembers(ctx: RequestContext, id: string): Promise<ImageMember[]> {
    const row = await this.memberImage(this.store.db, ctx, id);
    let qb = this.store.db.selectFrom('image_members').selectAll().where('image_id', '=', id);
    // A member sees only its own membership; the owner (and admins) see all.
    if (!ctx.isAdmin && row.owner !== ctx.projectId) qb = qb.where('member', '=', ctx.projectId ?? '');
    return qb.orderBy('created_at').execute();
  }

  async showMember(ctx: RequestContext, id: string, member: string): Promise<ImageMember> {
    const row = await this.memberImage(this.store.db, ctx, id);
    const m = await this.store.db.selectFrom('image_members').selectAll().where('image_id', '=', id).where('member', '=', member).executeTakeFirst();
    if (!m || (!ctx.isAdmin && row.owner !== ctx.projectId && member !== ctx.projectId)) {
      throw new DomainError('not_found', 'HTTPNotFound', `Member ${member} not found`);
    }
    return m;
  }

  async addMember(ctx: RequestContext, id: string, body: unknown): Promise<ImageMember> {
    const member = (body as { member?: unknown } | undefined)?.member;
    if (typeof member !== 'string' || member === '') throw bad('Member to be added not specified');
    await this.write(id, 'update', async (trx) => {
      const row = await this.memberImage(trx, ctx, id);
      this.mustOwn(ctx, row);
      const exists = await trx.selectFrom('image_members').select('member').where('image_id', '=', id).where('member', '=', member).executeTakeFirst();
      if (exists) throw conflict(`Member ${member} already associated with image ${id}.`);
      const now = nowIso();
      await trx.insertInto('image_members').values({ image_id: id, member, status: 'pending', created_at: now, updated_at: now }).execute();
    });
    return this.showMember(ctx, id, member);
  }

  async updateMember(ctx: RequestContext, id: string, member: string, body: unknown): Promise<ImageMember> {
    const status = (body as { status?: unknown } | undefined)?.status;
    if (typeof status !== 'string') throw bad('Status not specified');
    if (!['pending', 'accepted', 'rejected'].includes(status)) throw bad(`Invalid status: ${status}`);
    await this.write(id, 'update', async (trx) => {
      await this.memberImage(trx, ctx, id);
      const m = await trx.selectFrom('image_members').selectAll().where('image_id', '=', id).where('member', '=', member).executeTakeFirst();
      if (!m) throw new DomainError('not_found', 'HTTPNotFound', `Member ${member} not found`);
      // Only the member itself accepts or rejects what was shared with it.
      if (member !== ctx.projectId) throw forbidden(`You are not permitted to modify 'status' on this image member.`);
      await trx.updateTable('image_members').set({ status, updated_at: nowIso() }).where('image_id', '=', id).where('member', '=', member).execute();
    });
    return this.showMember(ctx, id, member);
  }

  async deleteMember(ctx: RequestContext, id: string, member: string): Promise<void> {
    await this.write(id, 'update', async (trx) => {
      const row = await this.memberImage(trx, ctx, id);
      this.mustOwn(ctx, row);
      const res = await trx.deleteFrom('image_members').where('image_id', '=', id).where('member', '=', member).executeTakeFirst();
      if (Number(res.numDeletedRows) === 0) throw new DomainError('not_found', 'HTTPNotFound', `Member ${member} not found`);
    });
  }

  // ------------------------------------------------------------ tasks, stores, locations, cache

  /** GET /v2/images/{id}/tasks: an image the caller cannot get is a bare 404 (get_task_info). */
  async tasksOfImage(ctx: RequestContext, id: string): Promise<Task[]> {
    const row = await this.store.db.selectFrom('images').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row || !(await this.visible(this.store.db, ctx, row))) throw notFound();
    return this.tasks.byImage(this.store.db, ctx, id);
  }

  importInfo() {
    return importInfo(this.options.importMethods);
  }

  storesInfo(ctx: RequestContext, detail: boolean) {
    return storesInfo(ctx, this.stores, detail);
  }

  usage() {
    return usage();
  }

  /**
   * DELETE /v2/stores/{store}/{image}: the image's data leaves one store (Glance's
   * delete_from_store; deleting locations is admin-only by default).
   */
  async deleteFromStore(ctx: RequestContext, storeId: string, id: string): Promise<void> {
    if (!this.stores.has(storeId)) throw conflict(`The selected store ${storeId} is not available on this node.`);
    const removed = await this.write(id, 'update', async (trx) => {
      const row = await trx.selectFrom('images').selectAll().where('id', '=', id).executeTakeFirst();
      if (!row || !(await this.visible(trx, ctx, row))) throw notFound(`Failed to find image ${id}`);
      // get_image_location (admin or the owner's readers), then delete_image_location (admin).
      if (!ctx.isAdmin && row.owner !== ctx.projectId) throw forbidden('You are not authorized to complete get_image_location action.');
      if (!ctx.isAdmin) throw forbidden('You are not authorized to complete delete_image_location action.');
      const [img] = await this.load(trx, [row]);
      if (img.status !== 'active') throw conflict("It's not allowed to remove image data from store if image status is not 'active'");
      if (img.locations.length === 1) {
        throw forbidden('Cannot delete image data from the only store containing it. Consider deleting the image instead.');
      }
      const at = img.locations.findIndex((l) => l.metadata.store === storeId);
      if (at < 0) throw notFound(`Image ${id} is not stored in store ${storeId}.`);
      const [gone] = img.locations.splice(at, 1);
      await this.records.saveLocations(trx, id, img.locations);
      await trx.updateTable('images').set({ updated_at: nowIso() }).where('id', '=', id).execute();
      return gone;
    });
    this.stores.forUrl(removed.url)?.remove(removed.url);
  }

  /** GET /v2/images/{id}/locations (API 2.17): for the service role (fetch_image_location). */
  async getLocations(ctx: RequestContext, id: string): Promise<Array<{ url: string; metadata: Record<string, unknown> }>> {
    const img = await this.show(ctx, id);
    if (!ctx.isAdmin && !ctx.roles.includes('service')) throw forbidden('You are not authorized to complete fetch_image_location action.');
    return img.locations.map((l) => ({ url: l.url, metadata: l.metadata }));
  }

  /**
   * POST /v2/images/{id}/locations (API 2.17): a location for a queued image, checked and hashed
   * by a `location_import` task, as Glance's add_location and location_import flow do.
   */
  async addLocation(ctx: RequestContext, id: string, body: unknown): Promise<void> {
    if (body === undefined) throw bad('Body expected in request.');
    const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
    const url = typeof b.url === 'string' ? b.url : '';
    const val = (typeof b.validation_data === 'object' && b.validation_data !== null ? b.validation_data : {}) as Record<string, unknown>;
    await this.write(id, 'update', async (trx) => {
      const row = await this.getRow(trx, ctx, id);
      if (row.status !== 'queued') throw conflict(`It's not allowed to add locations if image status is ${row.status}.`);
      // add_image_location: the service role, or a member of the owning project.
      if (!ctx.isAdmin && !ctx.roles.includes('service') && row.owner !== ctx.projectId) {
        throw forbidden('You are not authorized to complete add_image_location action.');
      }
      if (!ctx.roles.includes('service') && !(url.startsWith('http') && this.stores.all().some((s) => s.type === 'http'))) {
        throw forbidden('http store must be enabled to use location API by normal user.');
      }
      if (typeof val.os_hash_value === 'string') {
        const n = hexBytes(val.os_hash_value);
        if (n === null) throw bad(`os_hash_value (${val.os_hash_value}) is not a valid hexadecimal value`);
        const algo = typeof val.os_hash_algo === 'string' ? val.os_hash_algo : 'sha512';
        const want = digestBytes(algo) ?? 0;
        if (n !== want) throw bad(`os_hash_value: (${val.os_hash_value}) is not the correct size for (${algo}) (should be (${want}) bytes)`);
      }
    });
    await this.imports.addLocation(ctx, id, url, val);
  }

  /** The cache API: Glance without `image_cache_dir` (versions 2.14 and 2.16 are not offered). */
  async cache(ctx: RequestContext, imageId?: string): Promise<never> {
    if (imageId !== undefined) {
      const row = await this.store.db.selectFrom('images').selectAll().where('id', '=', imageId).executeTakeFirst();
      // For an unknown image delete_cache_entry asks the absent cache and Glance fails with a 500;
      // here it is the 404 queueing answers (no request is answered with a 5xx, issue #14).
      if (!row || !(await this.visible(this.store.db, ctx, row))) throw notFound(`Image ${imageId} not found.`);
    }
    throw cacheRefusal(ctx);
  }

  // ------------------------------------------------------------ bootstrap

  /**
   * A public, active image owned by `owner` whose data is `data` (DevStack's cirros on first
   * start): the operator's own, so the upload size cap (for clients) does not apply.
   */
  async createPublicImage(owner: string, name: string, data: Readable, formats: { disk: string; container: string }): Promise<string> {
    const id = uuid();
    const now = nowIso();
    const added = await this.stores.default.add(id, data, Number.MAX_SAFE_INTEGER);
    await this.write(id, 'create', async (trx) => {
      await trx
        .insertInto('images')
        .values({
          id,
          name,
          owner,
          visibility: 'public',
          status: 'active',
          container_format: formats.container,
          disk_format: formats.disk,
          size: added.size,
          virtual_size: null,
          checksum: added.checksum,
          os_hash_algo: added.hashAlgo,
          os_hash_value: added.hashValue,
          min_disk: 0,
          min_ram: 0,
          protected: 0,
          os_hidden: 0,
          created_at: now,
          updated_at: now,
        })
        .execute();
      await this.records.saveLocations(trx, id, [{ url: added.url, metadata: added.metadata, status: 'active' }]);
    });
    return id;
  }
}

/** Glance's split_filter_value_for_quotes: `in:a,"b,c"` → ['a', 'b,c']. */
function splitQuoted(v: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|([^,]+)/g;
  for (const m of v.matchAll(re)) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]);
  return out;
}

/** `col <op> value` where NULL sorts first (smallest), for keyset pagination. */
function nullSafeCompare(
  eb: import('kysely').ExpressionBuilder<import('../../store/schema.js').DB, 'images'>,
  col: string,
  op: '>' | '<',
  value: unknown,
): Expression<SqlBool> {
  const c = col as 'images.id';
  if (value === null || value === undefined) return op === '>' ? eb(c, 'is not', null) : sql<SqlBool>`1 = 0`;
  return op === '>' ? eb(c, '>', value as string) : eb.or([eb(c, '<', value as string), eb(c, 'is', null)]);
}
