/**
 * The deprecated tasks API (/v2/tasks, glance/api/v2/tasks.py): admin-only by default
 * (`tasks_api_access`), tasks listed as stubs, never deleted by hand, and the legacy `import`
 * task, which creates an image from a URL.
 */
import { inspectFormat, inspected } from './formats.js';
import type { Logger } from 'pino';
import { isUuidLike, uuid } from '../../util/ids.js';
import { isDict } from '../../util/json.js';
import { SchemaValidator } from '../../util/jsonschema.js';
import { pyRepr } from '../../util/pyrepr.js';
import type { RequestContext } from '../context.js';
import { DomainError } from '../errors.js';
import type { ImportFilter } from './options.js';
import { bad, forbidden, type ImageRecords, notFound, nowIso } from './records.js';
import { TASK_SCHEMA } from './schema.js';
import type { ImageStores } from './stores.js';
import { type Task, TASK_STATUSES, type TaskRepo } from './tasks.js';
import { importUriAllowed, openImportUrl } from './uri.js';

const validator = new SchemaValidator();

export interface TaskListQuery {
  limit?: string;
  marker?: string;
  sortKey?: string;
  sortDir?: string;
  /** Every other query parameter: filters. */
  filters: Map<string, string>;
}

/** Image attributes a legacy import's `image_properties` may set (get_base_properties' settable ones). */
const BASE_ATTRS = ['name', 'visibility', 'protected', 'os_hidden', 'min_ram', 'min_disk', 'container_format', 'disk_format'];

export class TaskApi {
  private readonly running = new Set<Promise<void>>();

  constructor(
    private readonly records: ImageRecords,
    private readonly tasks: TaskRepo,
    private readonly stores: ImageStores,
    private readonly opts: { importFilter: ImportFilter; sizeCap: number; logger?: Logger },
  ) {}

  /** tasks_api_access: admin only by default. */
  private access(ctx: RequestContext): void {
    if (!ctx.isAdmin) throw forbidden('You are not authorized to complete tasks_api_access action.');
  }

  async list(ctx: RequestContext, q: TaskListQuery): Promise<{ tasks: Task[]; nextMarker?: string }> {
    this.access(ctx);
    let limit = 25;
    if (q.marker !== undefined && q.marker !== '' && !isUuidLike(q.marker)) throw bad('Invalid marker format');
    if (q.limit !== undefined) {
      if (!/^\s*[-+]?\d+\s*$/.test(q.limit)) throw bad('limit param must be an integer');
      limit = Number(q.limit);
      if (limit < 0) throw bad('limit param must be positive');
    }
    const dir = q.sortDir ?? 'desc';
    if (dir !== 'asc' && dir !== 'desc') throw bad(`Invalid sort direction: ${dir}`);
    const status = q.filters.get('status');
    if (status && !(TASK_STATUSES as readonly string[]).includes(status)) throw bad(`Invalid status value: ${status}`);
    const type = q.filters.get('type');
    if (type && type !== 'import') throw bad(`Invalid type value: ${type}`);
    const sortKey = q.sortKey ?? 'created_at';
    if (!['created_at', 'updated_at', 'id', 'type', 'status', 'owner', 'expires_at', 'image_id', 'user_id', 'request_id'].includes(sortKey)) {
      throw bad('Sort key supplied was not valid.');
    }
    const db = this.records.uow.store.db;
    let marker: Task | undefined;
    if (q.marker) {
      marker = await this.tasks.visibleTask(db, ctx, q.marker);
      if (!marker) throw bad(`Task with the given id ${q.marker} was not found`);
    }
    limit = Math.min(1000, limit);
    const tasks = await this.tasks.list(db, ctx, { filters: q.filters, sortKey, sortDir: dir, limit, marker });
    return { tasks, nextMarker: tasks.length !== 0 && tasks.length === limit ? tasks[tasks.length - 1].id : undefined };
  }

  async show(ctx: RequestContext, id: string): Promise<Task> {
    this.access(ctx);
    const t = await this.tasks.visibleTask(this.records.uow.store.db, ctx, id);
    if (!t) throw notFound(`Could not find task ${id}`);
    return t;
  }

  /** DELETE /v2/tasks/{id}: never (tasks expire); a 405 whose body is the explanation alone. */
  delete(ctx: RequestContext): never {
    this.access(ctx);
    throw Object.assign(
      new DomainError(
        'method_not_allowed',
        'HTTPMethodNotAllowed',
        'This operation is currently not permitted on Glance Tasks. They are auto deleted after reaching the time based on their expires_at property.',
      ),
      { headers: { allow: 'GET' }, bare: true },
    );
  }

  /** POST /v2/tasks: a task of Glance's types; an `import` task creates an image from `input.import_from`. */
  async create(ctx: RequestContext, body: unknown): Promise<Task> {
    this.access(ctx);
    if (body === undefined) throw bad('Body expected in request.');
    const b = body as Record<string, unknown>;
    for (const p of ['type', 'input']) if (!isDict(b) || !(p in b)) throw bad(`Task '${p}' is required`);
    const e = validator.validate({ ...TASK_SCHEMA, additionalProperties: false } as Record<string, unknown>, b);
    if (e) {
      const where = e.path.map((x) => `[${pyRepr(x)}]`).join('');
      throw bad(`Provided object does not match schema 'task': ${e.message}\n\nOn instance${where}:\n    ${pyRepr(e.instance)}`);
    }
    const type = String(b.type);
    const input = isDict(b.input) ? b.input : {};
    if (type === 'import') await this.legacyUri(input.import_from);
    return this.records.uow.run(async (w) => {
      const task = await this.tasks.create(w.trx, ctx, type, typeof input.image_id === 'string' ? input.image_id : null, input);
      w.afterCommit(() => this.spawn(ctx, task));
      return task;
    }, ctx);
  }

  /** validate_legacy_import_from_uri: http(s) only, through the import filter. */
  private async legacyUri(location: unknown): Promise<string> {
    if (!location) throw bad(`Invalid location: ${location === undefined ? 'None' : pyRepr(location)}`);
    const uri = String(location);
    if (/^https?:\/\//.test(uri)) {
      if (!(await importUriAllowed(uri, this.opts.importFilter))) throw bad(`URI for legacy import task does not pass filtering: ${uri}`);
      return uri;
    }
    if (uri.startsWith('file:///') || uri.startsWith('filesystem:///')) {
      throw bad('File based imports are not allowed. Please use a non-local source of image data.');
    }
    throw bad("The given uri is not valid. Please specify a valid uri from the following list of supported uri ['http']");
  }

  private spawn(ctx: RequestContext, task: Task): void {
    const p = this.run(ctx, task)
      .catch((e: unknown) => this.opts.logger?.error({ err: e, task: task.id }, 'task failed unexpectedly'))
      .finally(() => this.running.delete(p));
    this.running.add(p);
  }

  async idle(): Promise<void> {
    while (this.running.size) await Promise.allSettled([...this.running]);
  }

  private async run(ctx: RequestContext, task: Task): Promise<void> {
    const uow = this.records.uow;
    if (!(await uow.run((w) => this.tasks.transition(w.trx, task.id, 'processing'), ctx))) return;
    const fail = (message: string) => uow.run((w) => this.tasks.transition(w.trx, task.id, 'failure', { message }), ctx);
    const input = task.input ?? {};
    // unpack_task_input
    if (task.type !== 'import') return void (await fail('Task failed due to Internal Error'));
    for (const key of ['import_from', 'import_from_format', 'image_properties']) {
      if (!(key in input)) return void (await fail(`Input does not contain '${key}' field`));
    }
    const props = isDict(input.image_properties) ? { ...input.image_properties } : {};
    // set_base_image_properties: an empty dict gets qcow2/bare.
    if (Object.keys(props).length === 0) Object.assign(props, { disk_format: 'qcow2', container_format: 'bare' });
    const id = uuid();
    try {
      const now = nowIso();
      await this.records.write(id, 'create', async (trx) => {
        const base = Object.fromEntries(BASE_ATTRS.filter((k) => k in props).map((k) => [k, props[k]]));
        await trx
          .insertInto('images')
          .values({
            id,
            name: typeof base.name === 'string' ? base.name : null,
            owner: ctx.projectId,
            visibility: typeof base.visibility === 'string' ? base.visibility : 'shared',
            status: 'saving',
            container_format: typeof base.container_format === 'string' ? base.container_format : null,
            disk_format: typeof base.disk_format === 'string' ? base.disk_format : null,
            size: null,
            virtual_size: null,
            checksum: null,
            os_hash_algo: null,
            os_hash_value: null,
            min_disk: Number(base.min_disk ?? 0) || 0,
            min_ram: Number(base.min_ram ?? 0) || 0,
            protected: base.protected ? 1 : 0,
            os_hidden: base.os_hidden ? 1 : 0,
            created_at: now,
            updated_at: now,
          })
          .execute();
        for (const [name, value] of Object.entries(props)) {
          if (BASE_ATTRS.includes(name)) continue;
          await trx
            .insertInto('image_properties')
            .values({ image_id: id, name, value: String(value) })
            .execute();
        }
      });
      const { body } = await openImportUrl(String(input.import_from), this.opts.importFilter);
      // The flow's _ImportToStore sets the data as an upload does: its format inspected in flight.
      const str = (v: unknown) => (typeof v === 'string' ? v : null);
      const inspection = inspectFormat(str(props.disk_format), str(props.container_format));
      const added = await this.stores.default.add(id, inspected(body, inspection), this.opts.sizeCap);
      const virtualSize = inspection?.virtualSize();
      await this.records.write(id, 'update', async (trx) => {
        await trx
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
          .execute();
        await this.records.saveLocations(trx, id, [{ url: added.url, metadata: added.metadata, status: 'active' }]);
      });
      await uow.run((w) => this.tasks.transition(w.trx, task.id, 'success', { result: { image_id: id } }), ctx);
    } catch (e) {
      // _CreateImage.revert: the image made for the import goes.
      await this.records.write(id, 'delete', (trx) => trx.deleteFrom('images').where('id', '=', id).execute());
      this.stores.default.files.remove(id);
      await fail('Task failed due to Internal Error');
      this.opts.logger?.info({ task: task.id, reason: (e as Error).message }, 'legacy import task failed');
    }
  }
}
