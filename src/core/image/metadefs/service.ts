/**
 * Glance's metadata definitions (metadefs): namespaces and the objects, properties, tags and
 * resource-type associations in them, as glance/api/v2/metadef_*.py and
 * glance/db/sqlalchemy/metadef_api/ answer. Everyone reads what is visible (public namespaces,
 * and their own project's private ones); writing is admin-only, as Glance's default policy has it
 * (glance/policies/metadef.py); a protected namespace's content cannot be deleted.
 */
import type { Q, Tx } from '../../../store/db.js';
import type { MetadefNamespacesTable, MetadefObjectsTable } from '../../../store/schema.js';
import { uuid } from '../../../util/ids.js';
import { isDict } from '../../../util/json.js';
import { SchemaValidator } from '../../../util/jsonschema.js';
import { pyRepr } from '../../../util/pyrepr.js';
import type { RequestContext } from '../../context.js';
import { DomainError } from '../../errors.js';
import type { UnitOfWork } from '../../work.js';
import { jsonObject, nowIso } from '../records.js';
import { loadCatalog } from './catalog.js';
import {
  type MetadefObject,
  type MetadefTag,
  type Namespace,
  type NamespaceDetail,
  type NamespaceInput,
  type ObjectInput,
  type PropertyType,
  propertyType,
  propertyTypes,
  type ResourceType,
  type ResourceTypeAssociation,
} from './model.js';
import { METADEF_SCHEMAS, OBJECT_PROPERTY_SCHEMA, TAGS_BODY_SCHEMA } from './schemas.js';

const bad = (msg: string) => new DomainError('bad_request', 'HTTPBadRequest', msg);
const forbidden = (msg: string) => new DomainError('forbidden', 'HTTPForbidden', msg);
const conflict = (msg: string) => new DomainError('conflict', 'HTTPConflict', msg);
const notFound = (msg = 'The resource could not be found.') => new DomainError('not_found', 'HTTPNotFound', msg);
const internalError = () =>
  new DomainError('internal', 'HTTPInternalServerError', 'The server has either erred or is incapable of performing the requested operation.');

const validator = new SchemaValidator();

/** Glance's Schema.validate: InvalidObject's message, python-jsonschema's str(ValidationError) head. */
function validate(name: string, schema: Record<string, unknown>, body: unknown): void {
  const e = validator.validate(schema, body);
  if (!e) return;
  const where = e.path.map((p) => `[${pyRepr(p)}]`).join('');
  throw bad(`Provided object does not match schema '${name}': ${e.message}\n\nOn instance${where}:\n    ${pyRepr(e.instance)}`);
}

const schemaOf = (name: string) => METADEF_SCHEMAS.get(name) as Record<string, unknown>;

/** The deserializers' _check_allowed: read-only attributes in a body are a 403. */
function checkAllowed(body: Record<string, unknown>, disallowed: readonly string[]): void {
  for (const k of disallowed) if (k in body) throw forbidden(`Attribute '${k}' is read-only.`);
}

function needBody(body: unknown): Record<string, unknown> {
  if (body === undefined) throw bad('Body expected in request.');
  // Glance's from_json accepts any object or list; a list then fails the schema.
  return body as Record<string, unknown>;
}

/** Policy: metadef writes are `role:admin` (metadef_admin). */
function adminOnly(ctx: RequestContext, action: string): void {
  if (!ctx.isAdmin) throw forbidden(`You are not authorized to complete ${action} action.`);
}

const NAMESPACE_COLUMNS = ['id', 'namespace', 'display_name', 'description', 'visibility', 'protected', 'owner', 'created_at', 'updated_at'];

function toNamespace(r: MetadefNamespacesTable): Namespace {
  return {
    id: r.id,
    namespace: r.namespace,
    display_name: r.display_name,
    description: r.description,
    visibility: r.visibility || 'private',
    protected: Boolean(r.protected),
    owner: r.owner,
    created_at: r.created_at,
    updated_at: r.updated_at,
  };
}

function toObject(r: MetadefObjectsTable): MetadefObject {
  return {
    name: r.name,
    description: r.description,
    required: r.required ? r.required.split(',') : [],
    properties: propertyTypes(jsonObject(r.json_schema)),
    created_at: r.created_at,
    updated_at: r.updated_at,
  };
}

/** Glance's _is_namespace_visible. */
function nsVisible(ctx: RequestContext, r: { owner: string; visibility: string | null }): boolean {
  return ctx.isAdmin || r.visibility === 'public' || (ctx.projectId !== null && r.owner === ctx.projectId);
}

/** How a namespace lookup failed: absent (MetadefNamespaceNotFound) or not visible (MetadefForbidden). */
type NsMiss = 'absent' | 'hidden';

class NamespaceMiss extends Error {
  constructor(
    readonly miss: NsMiss,
    readonly namespace: string,
  ) {
    super(miss);
  }
}

/** The messages of Glance's controllers for a namespace they cannot get. */
const nsMsg = {
  /** MetadefNamespaceNotFound. */
  absent: (name: string) => notFound(`Metadata definition namespace=${name} was not found.`),
  /** The property, tag and resource-type controllers: "Namespace %s not found" either way. */
  either: (name: string) => notFound(`Namespace ${name} not found`),
};

interface ListQuery {
  limit: number;
  marker?: string;
  sortKey: string;
  sortDir: 'asc' | 'desc';
  visibility?: string;
  resourceTypes?: string[];
}

/** The loader's catalog name in metadef_catalog_loads. */
const DEFAULT_CATALOG = 'glance-etc-metadefs';

export class MetadefService {
  constructor(readonly uow: UnitOfWork) {}

  private get db() {
    return this.uow.store.db;
  }

  /** Load Glance's default catalog once per database, as DevStack's `glance-manage db_load_metadefs`. */
  async loadDefaultCatalog(): Promise<void> {
    await this.uow.run(async (w) => {
      const done = await w.trx.selectFrom('metadef_catalog_loads').select('name').where('name', '=', DEFAULT_CATALOG).executeTakeFirst();
      if (done) return;
      await loadCatalog(w.trx);
      await w.trx.insertInto('metadef_catalog_loads').values({ name: DEFAULT_CATALOG, loaded_at: nowIso() }).execute();
    });
  }

  // ------------------------------------------------------------ namespace lookup

  private async nsRow(q: Q, ctx: RequestContext, name: string): Promise<MetadefNamespacesTable> {
    const row = await q.selectFrom('metadef_namespaces').selectAll().where('namespace', '=', name).executeTakeFirst();
    if (!row) throw new NamespaceMiss('absent', name);
    if (!nsVisible(ctx, row)) throw new NamespaceMiss('hidden', name);
    return row;
  }

  /** A namespace for the controllers that say "Namespace %s not found" for any miss. */
  private async nsEither(q: Q, ctx: RequestContext, name: string): Promise<MetadefNamespacesTable> {
    try {
      return await this.nsRow(q, ctx, name);
    } catch (e) {
      if (e instanceof NamespaceMiss) throw nsMsg.either(name);
      throw e;
    }
  }

  /** A namespace for the objects controller: hidden ones "Namespace %s not found", absent ones Glance's own words. */
  private async nsForObjects(q: Q, ctx: RequestContext, name: string): Promise<MetadefNamespacesTable> {
    try {
      return await this.nsRow(q, ctx, name);
    } catch (e) {
      if (e instanceof NamespaceMiss) throw e.miss === 'absent' ? nsMsg.absent(name) : nsMsg.either(name);
      throw e;
    }
  }

  /** Glance's domain refuses to delete anything of a protected namespace. */
  private checkDeletable(ns: MetadefNamespacesTable): void {
    if (ns.protected) throw forbidden(`Metadata definition namespace ${ns.namespace} is protected and cannot be deleted.`);
  }

  // ------------------------------------------------------------ namespaces

  async listNamespaces(
    ctx: RequestContext,
    query: ListQuery,
  ): Promise<{ namespaces: Array<Namespace & { resource_type_associations: ResourceTypeAssociation[] }>; next?: string }> {
    if (!NAMESPACE_COLUMNS.includes(query.sortKey)) throw internalError();
    const db = this.db;
    let marker: MetadefNamespacesTable | undefined;
    if (query.marker !== undefined) {
      try {
        marker = await this.nsRow(db, ctx, query.marker);
      } catch (e) {
        if (!(e instanceof NamespaceMiss)) throw e;
        if (e.miss === 'absent') throw nsMsg.absent(query.marker);
        throw forbidden(`Forbidding request, metadata definition namespace=${query.marker} is not visible.`);
      }
    }
    let qb = db.selectFrom('metadef_namespaces').selectAll();
    if (!ctx.isAdmin) {
      const project = ctx.projectId;
      qb = qb.where((eb) => (project !== null ? eb.or([eb('owner', '=', project), eb('visibility', '=', 'public')]) : eb('visibility', '=', 'public')));
    }
    if (query.visibility !== undefined) qb = qb.where('visibility', '=', query.visibility);
    if (query.resourceTypes !== undefined) {
      const ids = await db
        .selectFrom('metadef_namespace_resource_types as a')
        .innerJoin('metadef_resource_types as t', 't.id', 'a.resource_type_id')
        .select('a.namespace_id')
        .where('t.name', 'in', query.resourceTypes.length ? query.resourceTypes : [''])
        .execute();
      if (ids.length === 0) return { namespaces: [] };
      qb = qb.where(
        'id',
        'in',
        ids.map((i) => i.namespace_id),
      );
    }
    const keys = [query.sortKey, ...['created_at', 'id'].filter((k) => k !== query.sortKey)] as Array<keyof MetadefNamespacesTable>;
    let rows = await qb.execute();
    rows.sort((a, b) => {
      for (const k of keys) {
        const c = compare(a[k], b[k]);
        if (c !== 0) return query.sortDir === 'asc' ? c : -c;
      }
      return 0;
    });
    if (marker) {
      const at = rows.findIndex((r) => r.id === marker?.id);
      rows = at < 0 ? [] : rows.slice(at + 1);
    }
    rows = rows.slice(0, query.limit);
    const assoc = await this.associations(
      db,
      rows.map((r) => r.id),
    );
    const namespaces = rows.map((r) => ({ ...toNamespace(r), resource_type_associations: assoc.get(r.id) ?? [] }));
    return { namespaces, next: namespaces.length !== 0 && namespaces.length === query.limit ? namespaces[namespaces.length - 1].namespace : undefined };
  }

  private async associations(q: Q, namespaceIds: string[]): Promise<Map<string, ResourceTypeAssociation[]>> {
    const out = new Map<string, ResourceTypeAssociation[]>();
    if (namespaceIds.length === 0) return out;
    const rows = await q
      .selectFrom('metadef_namespace_resource_types as a')
      .innerJoin('metadef_resource_types as t', 't.id', 'a.resource_type_id')
      .select(['a.namespace_id', 't.name', 'a.prefix', 'a.properties_target', 'a.created_at', 'a.updated_at'])
      .where('a.namespace_id', 'in', namespaceIds)
      .orderBy('a.created_at')
      .orderBy('t.name')
      .execute();
    for (const r of rows) {
      const list = out.get(r.namespace_id) ?? [];
      list.push({ name: r.name, prefix: r.prefix, properties_target: r.properties_target, created_at: r.created_at, updated_at: r.updated_at });
      out.set(r.namespace_id, list);
    }
    return out;
  }

  /** GET …/namespaces/{namespace}: everything in it; `resourceType` prefixes the property names. */
  async showNamespace(ctx: RequestContext, name: string, resourceType?: string): Promise<NamespaceDetail> {
    const db = this.db;
    let row: MetadefNamespacesTable;
    try {
      row = await this.nsRow(db, ctx, name);
    } catch (e) {
      if (!(e instanceof NamespaceMiss)) throw e;
      throw e.miss === 'absent' ? nsMsg.absent(name) : notFound();
    }
    const objects = (await db.selectFrom('metadef_objects').selectAll().where('namespace_id', '=', row.id).orderBy('created_at').orderBy('name').execute()).map(
      toObject,
    );
    const assoc = (await this.associations(db, [row.id])).get(row.id) ?? [];
    const props = await db.selectFrom('metadef_properties').selectAll().where('namespace_id', '=', row.id).orderBy('created_at').orderBy('name').execute();
    const tags = await db.selectFrom('metadef_tags').select('name').where('namespace_id', '=', row.id).orderBy('created_at').orderBy('name').execute();
    const detail: NamespaceDetail = {
      ...toNamespace(row),
      resource_type_associations: assoc,
      properties: new Map(props.map((p) => [p.name, propertyType(jsonObject(p.json_schema))])),
      objects,
      tags: tags.map((t) => t.name),
    };
    // _prefix_property_name: the association's prefix before every property name.
    const prefix = resourceType ? assoc.find((a) => a.name === resourceType)?.prefix : undefined;
    if (prefix) {
      detail.properties = new Map([...detail.properties].map(([k, v]) => [prefix + k, v]));
      for (const o of detail.objects) {
        o.properties = new Map([...o.properties].map(([k, v]) => [prefix + k, v]));
        o.required = o.required.map((r) => prefix + r);
      }
    }
    return detail;
  }

  /** WSME's fromjson of a namespace body (the schema already checked its shape). */
  private namespaceInput(b: Record<string, unknown>): NamespaceInput {
    const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
    const input: NamespaceInput = { namespace: String(b.namespace) };
    for (const k of ['display_name', 'description', 'visibility', 'owner'] as const) if (typeof b[k] === 'string') input[k] = b[k] as string;
    if (typeof b.protected === 'boolean') input.protected = b.protected;
    if (Array.isArray(b.resource_type_associations)) {
      input.resource_type_associations = b.resource_type_associations.filter(isDict).map((a) => {
        if (typeof a.name !== 'string') throw internalError();
        return { name: a.name, prefix: str(a.prefix), properties_target: str(a.properties_target) };
      });
    }
    if (isDict(b.properties)) input.properties = propertyTypes(b.properties);
    if (Array.isArray(b.objects)) input.objects = b.objects.filter(isDict).map((o) => this.objectInput(o));
    if (Array.isArray(b.tags)) {
      input.tags = b.tags.filter(isDict).map((t) => {
        if (typeof t.name !== 'string') throw internalError();
        return { name: t.name };
      });
    }
    return input;
  }

  private objectInput(o: Record<string, unknown>): ObjectInput {
    // WSME: a mandatory attribute missing is an InvalidInput (only a list body gets past the schema
    // to here). Glance lets it through as a 500; it is answered as the 400 it describes.
    if (typeof o.name !== 'string') throw bad('Invalid input for field/attribute name. Value: None. Mandatory field missing.');
    const out: ObjectInput = { name: o.name };
    if (typeof o.description === 'string') out.description = o.description;
    if (Array.isArray(o.required)) out.required = o.required.map(String);
    if (isDict(o.properties)) out.properties = propertyTypes(o.properties);
    return out;
  }

  /** POST /v2/metadefs/namespaces, with any resource types, objects, tags and properties in it. */
  async createNamespace(ctx: RequestContext, body: unknown): Promise<NamespaceDetail> {
    const b = needBody(body);
    if (isDict(b)) checkAllowed(b, ['self', 'schema', 'created_at', 'updated_at']);
    validate('namespace', schemaOf('metadefs/namespace'), b);
    const input = this.namespaceInput(b);
    adminOnly(ctx, 'add_metadef_namespace');
    if (input.resource_type_associations?.length) adminOnly(ctx, 'add_metadef_resource_type_association');
    if (input.objects?.length) adminOnly(ctx, 'add_metadef_object');
    if (input.properties?.size) adminOnly(ctx, 'add_metadef_property');
    if (input.tags?.length) adminOnly(ctx, 'add_metadef_tag');
    const now = nowIso();
    return this.uow.run(async (w) => {
      const trx = w.trx;
      const taken = await trx.selectFrom('metadef_namespaces').select('id').where('namespace', '=', input.namespace).executeTakeFirst();
      if (taken) throw conflict(`The metadata definition namespace=${input.namespace} already exists.`);
      const row: MetadefNamespacesTable = {
        id: uuid(),
        namespace: input.namespace,
        display_name: input.display_name ?? null,
        description: input.description ?? null,
        visibility: input.visibility ?? 'private',
        protected: input.protected ? 1 : 0,
        owner: input.owner ?? ctx.projectId ?? '',
        created_at: now,
        updated_at: now,
      };
      await trx.insertInto('metadef_namespaces').values(row).execute();
      const associations: ResourceTypeAssociation[] = [];
      for (const a of input.resource_type_associations ?? []) {
        associations.push(await this.addAssociation(trx, row, a, now));
      }
      const objects: MetadefObject[] = [];
      for (const o of input.objects ?? []) objects.push(await this.addObject(trx, row, o, now));
      for (const t of input.tags ?? []) await this.addTag(trx, row, t.name, now);
      for (const [name, p] of input.properties ?? []) await this.addProperty(trx, row, name, p, now);
      // The answer echoes what was sent for the contents (Glance returns the request's models).
      return {
        ...toNamespace(row),
        resource_type_associations: (input.resource_type_associations ?? []).map((a) => ({
          name: a.name,
          prefix: a.prefix ?? null,
          properties_target: a.properties_target ?? null,
          created_at: '',
          updated_at: null,
        })),
        properties: input.properties ?? new Map(),
        objects: (input.objects ?? []).map((o) => ({
          name: o.name,
          description: o.description ?? null,
          required: o.required ?? [],
          properties: o.properties ?? new Map(),
          created_at: '',
          updated_at: null,
        })),
        tags: (input.tags ?? []).map((t) => t.name),
      };
    }, ctx);
  }

  /** PUT …/namespaces/{namespace}: what the body leaves out is cleared or defaulted, as Glance does. */
  async updateNamespace(ctx: RequestContext, name: string, body: unknown): Promise<Namespace> {
    const b = needBody(body);
    if (isDict(b)) checkAllowed(b, ['self', 'schema', 'created_at', 'updated_at']);
    validate('namespace', schemaOf('metadefs/namespace'), b);
    const input = this.namespaceInput(b);
    return this.uow.run(async (w) => {
      const row = await this.nsEither(w.trx, ctx, name);
      adminOnly(ctx, 'modify_metadef_namespace');
      if (input.namespace !== row.namespace) {
        const taken = await w.trx.selectFrom('metadef_namespaces').select('id').where('namespace', '=', input.namespace).executeTakeFirst();
        if (taken) {
          throw conflict(`Invalid update. It would result in a duplicate metadata definition namespace with the same name of ${input.namespace}`);
        }
      }
      const fields = {
        namespace: input.namespace,
        display_name: input.display_name ?? null,
        description: input.description ?? null,
        visibility: input.visibility || 'private',
        protected: input.protected ? 1 : 0,
        owner: input.owner || ctx.projectId || '',
      };
      await w.trx
        .updateTable('metadef_namespaces')
        .set({ ...fields, updated_at: nowIso() })
        .where('id', '=', row.id)
        .execute();
      // Glance answers with the namespace as it was loaded, its times unchanged.
      return toNamespace({ ...row, ...fields });
    }, ctx);
  }

  async deleteNamespace(ctx: RequestContext, name: string): Promise<void> {
    await this.uow.run(async (w) => {
      const row = await this.nsEither(w.trx, ctx, name);
      adminOnly(ctx, 'delete_metadef_namespace');
      this.checkDeletable(row);
      // delete_cascade: its contents and associations go with it.
      await w.trx.deleteFrom('metadef_namespaces').where('id', '=', row.id).execute();
    }, ctx);
  }

  /** DELETE …/{namespace}/objects|properties|tags: all of one kind (a protected namespace refuses). */
  async deleteNamespaceContent(ctx: RequestContext, name: string, what: 'objects' | 'properties' | 'tags'): Promise<void> {
    await this.uow.run(async (w) => {
      const row = await this.nsEither(w.trx, ctx, name);
      adminOnly(ctx, 'delete_metadef_namespace');
      if (what === 'tags') adminOnly(ctx, 'delete_metadef_tags');
      this.checkDeletable(row);
      const table = what === 'objects' ? 'metadef_objects' : what === 'properties' ? 'metadef_properties' : 'metadef_tags';
      await w.trx.deleteFrom(table).where('namespace_id', '=', row.id).execute();
    }, ctx);
  }

  // ------------------------------------------------------------ objects

  private async addObject(trx: Tx, ns: MetadefNamespacesTable, o: ObjectInput, now: string): Promise<MetadefObject> {
    const taken = await trx.selectFrom('metadef_objects').select('id').where('namespace_id', '=', ns.id).where('name', '=', o.name).executeTakeFirst();
    if (taken) throw conflict(`A metadata definition object with name=${o.name} already exists in namespace=${ns.namespace}.`);
    const props = o.properties ?? new Map<string, PropertyType>();
    await trx
      .insertInto('metadef_objects')
      .values({
        id: uuid(),
        namespace_id: ns.id,
        name: o.name,
        description: o.description ?? null,
        required: o.required?.length ? o.required.join(',') : null,
        json_schema: JSON.stringify(Object.fromEntries(props)),
        created_at: now,
        updated_at: now,
      })
      .execute();
    return { name: o.name, description: o.description ?? null, required: o.required ?? [], properties: props, created_at: now, updated_at: now };
  }

  /** An object body: Glance's object schema, then each property against the property schema. */
  private parseObject(body: unknown): ObjectInput {
    const b = needBody(body);
    if (isDict(b)) checkAllowed(b, ['self', 'schema', 'created_at', 'updated_at']);
    validate('object', schemaOf('metadefs/object'), b);
    if (isDict(b.properties)) for (const p of Object.values(b.properties)) validate('property', OBJECT_PROPERTY_SCHEMA, p);
    return this.objectInput(b);
  }

  async listObjects(ctx: RequestContext, ns: string): Promise<MetadefObject[]> {
    const row = await this.nsForObjects(this.db, ctx, ns);
    const rows = await this.db.selectFrom('metadef_objects').selectAll().where('namespace_id', '=', row.id).orderBy('created_at').orderBy('name').execute();
    return rows.map(toObject);
  }

  private async objectRow(q: Q, ns: MetadefNamespacesTable, name: string): Promise<MetadefObjectsTable> {
    const row = await q.selectFrom('metadef_objects').selectAll().where('namespace_id', '=', ns.id).where('name', '=', name).executeTakeFirst();
    if (!row) throw notFound(`Could not find metadata object ${name}`);
    return row;
  }

  async showObject(ctx: RequestContext, ns: string, name: string): Promise<MetadefObject> {
    const row = await this.nsForObjects(this.db, ctx, ns);
    return toObject(await this.objectRow(this.db, row, name));
  }

  async createObject(ctx: RequestContext, ns: string, body: unknown): Promise<MetadefObject> {
    const input = this.parseObject(body);
    return this.uow.run(async (w) => {
      const row = await this.nsForObjects(w.trx, ctx, ns);
      adminOnly(ctx, 'add_metadef_object');
      return this.addObject(w.trx, row, input, nowIso());
    }, ctx);
  }

  async updateObject(ctx: RequestContext, ns: string, name: string, body: unknown): Promise<MetadefObject> {
    const input = this.parseObject(body);
    return this.uow.run(async (w) => {
      const row = await this.nsForObjects(w.trx, ctx, ns);
      adminOnly(ctx, 'modify_metadef_object');
      const obj = await this.objectRow(w.trx, row, name);
      if (input.name !== obj.name) {
        const taken = await w.trx
          .selectFrom('metadef_objects')
          .select('id')
          .where('namespace_id', '=', row.id)
          .where('name', '=', input.name)
          .executeTakeFirst();
        if (taken) {
          throw conflict(`Invalid update. It would result in a duplicate metadata definition object with the same name=${input.name} in namespace=${ns}.`);
        }
      }
      const props = input.properties ?? new Map<string, PropertyType>();
      await w.trx
        .updateTable('metadef_objects')
        .set({
          name: input.name,
          description: input.description ?? null,
          required: input.required?.length ? input.required.join(',') : null,
          json_schema: JSON.stringify(Object.fromEntries(props)),
          updated_at: nowIso(),
        })
        .where('id', '=', obj.id)
        .execute();
      // Answered with the times it was loaded with, as Glance does.
      return {
        name: input.name,
        description: input.description ?? null,
        required: input.required ?? [],
        properties: props,
        created_at: obj.created_at,
        updated_at: obj.updated_at,
      };
    }, ctx);
  }

  async deleteObject(ctx: RequestContext, ns: string, name: string): Promise<void> {
    await this.uow.run(async (w) => {
      const row = await this.nsForObjects(w.trx, ctx, ns);
      adminOnly(ctx, 'delete_metadef_object');
      const obj = await this.objectRow(w.trx, row, name);
      if (row.protected) throw forbidden(`Metadata definition object ${name} is protected and cannot be deleted.`);
      await w.trx.deleteFrom('metadef_objects').where('id', '=', obj.id).execute();
    }, ctx);
  }

  // ------------------------------------------------------------ properties

  private async addProperty(trx: Tx, ns: MetadefNamespacesTable, name: string, p: PropertyType, now: string): Promise<void> {
    const taken = await trx.selectFrom('metadef_properties').select('id').where('namespace_id', '=', ns.id).where('name', '=', name).executeTakeFirst();
    if (taken) throw conflict(`A metadata definition property with name=${name} already exists in namespace=${ns.namespace}.`);
    await trx
      .insertInto('metadef_properties')
      .values({ id: uuid(), namespace_id: ns.id, name, json_schema: JSON.stringify(p), created_at: now, updated_at: now })
      .execute();
  }

  /** A property body: Glance's property schema (name, title and type required), read by WSME. */
  private parseProperty(body: unknown): PropertyType {
    const b = needBody(body);
    if (isDict(b)) checkAllowed(b, ['created_at', 'updated_at']);
    validate('property', schemaOf('metadefs/property'), b);
    return propertyType(b);
  }

  async listProperties(ctx: RequestContext, ns: string): Promise<Map<string, PropertyType>> {
    const row = await this.nsEither(this.db, ctx, ns);
    const rows = await this.db.selectFrom('metadef_properties').selectAll().where('namespace_id', '=', row.id).orderBy('created_at').orderBy('name').execute();
    return new Map(rows.map((p) => [p.name, propertyType(jsonObject(p.json_schema))]));
  }

  async showProperty(ctx: RequestContext, ns: string, name: string, resourceType?: string): Promise<PropertyType> {
    const row = await this.nsEither(this.db, ctx, ns);
    let prop = name;
    if (resourceType) {
      const assoc = await this.associationOf(this.db, row, resourceType);
      if (assoc.prefix && name.startsWith(assoc.prefix)) prop = name.slice(assoc.prefix.length);
      else throw notFound(`Property ${name} does not start with the expected resource type association prefix of '${assoc.prefix ?? ''}'.`);
    }
    const p = await this.db.selectFrom('metadef_properties').selectAll().where('namespace_id', '=', row.id).where('name', '=', prop).executeTakeFirst();
    if (!p) throw notFound(`Could not find property ${prop}`);
    return { ...propertyType(jsonObject(p.json_schema)), name: p.name };
  }

  async createProperty(ctx: RequestContext, ns: string, body: unknown): Promise<PropertyType> {
    const p = this.parseProperty(body);
    return this.uow.run(async (w) => {
      const row = await this.nsEither(w.trx, ctx, ns);
      adminOnly(ctx, 'add_metadef_property');
      const name = String(p.name);
      await this.addProperty(w.trx, row, name, p, nowIso());
      return p;
    }, ctx);
  }

  async updateProperty(ctx: RequestContext, ns: string, name: string, body: unknown): Promise<PropertyType> {
    const p = this.parseProperty(body);
    return this.uow.run(async (w) => {
      const row = await this.nsEither(w.trx, ctx, ns);
      adminOnly(ctx, 'modify_metadef_property');
      const old = await w.trx
        .selectFrom('metadef_properties')
        .select(['id', 'name'])
        .where('namespace_id', '=', row.id)
        .where('name', '=', name)
        .executeTakeFirst();
      if (!old) throw notFound(`Could not find property ${name}`);
      const newName = String(p.name);
      if (newName !== old.name) {
        const taken = await w.trx
          .selectFrom('metadef_properties')
          .select('id')
          .where('namespace_id', '=', row.id)
          .where('name', '=', newName)
          .executeTakeFirst();
        if (taken) {
          throw conflict(`Invalid update. It would result in a duplicate metadata definition property with the same name=${newName} in namespace=${ns}.`);
        }
      }
      await w.trx
        .updateTable('metadef_properties')
        .set({ name: newName, json_schema: JSON.stringify(p), updated_at: nowIso() })
        .where('id', '=', old.id)
        .execute();
      return p;
    }, ctx);
  }

  async deleteProperty(ctx: RequestContext, ns: string, name: string): Promise<void> {
    await this.uow.run(async (w) => {
      const row = await this.nsEither(w.trx, ctx, ns);
      adminOnly(ctx, 'remove_metadef_property');
      const p = await w.trx.selectFrom('metadef_properties').select('id').where('namespace_id', '=', row.id).where('name', '=', name).executeTakeFirst();
      if (!p) throw notFound(`Could not find property ${name}`);
      if (row.protected) throw forbidden(`Metadata definition property ${name} is protected and cannot be deleted.`);
      await w.trx.deleteFrom('metadef_properties').where('id', '=', p.id).execute();
    }, ctx);
  }

  // ------------------------------------------------------------ resource types

  async listResourceTypes(): Promise<ResourceType[]> {
    const rows = await this.db.selectFrom('metadef_resource_types').selectAll().orderBy('created_at').orderBy('id').execute();
    return rows.map((r) => ({ name: r.name, created_at: r.created_at, updated_at: r.updated_at }));
  }

  async listAssociations(ctx: RequestContext, ns: string): Promise<ResourceTypeAssociation[]> {
    const row = await this.nsEither(this.db, ctx, ns);
    return (await this.associations(this.db, [row.id])).get(row.id) ?? [];
  }

  /** metadef_resource_type_association_get: the resource type, then the association, or 404. */
  private async associationOf(q: Q, ns: MetadefNamespacesTable, resourceType: string): Promise<ResourceTypeAssociation> {
    const rt = await q.selectFrom('metadef_resource_types').selectAll().where('name', '=', resourceType).executeTakeFirst();
    if (!rt) throw notFound(`The metadata definition resource-type with name=${resourceType}, was not found.`);
    const a = await q
      .selectFrom('metadef_namespace_resource_types')
      .selectAll()
      .where('namespace_id', '=', ns.id)
      .where('resource_type_id', '=', rt.id)
      .executeTakeFirst();
    if (!a) {
      throw notFound(`The metadata definition resource-type association of resource-type=${resourceType} to namespace=${ns.namespace}, was not found.`);
    }
    return { name: rt.name, prefix: a.prefix, properties_target: a.properties_target, created_at: a.created_at, updated_at: a.updated_at };
  }

  private async addAssociation(
    trx: Tx,
    ns: MetadefNamespacesTable,
    a: { name: string; prefix?: string; properties_target?: string },
    now: string,
  ): Promise<ResourceTypeAssociation> {
    // A resource type named for the first time is created (unprotected: only seeded ones are).
    let rt = await trx.selectFrom('metadef_resource_types').select('id').where('name', '=', a.name).executeTakeFirst();
    if (!rt) {
      rt = { id: uuid() };
      await trx.insertInto('metadef_resource_types').values({ id: rt.id, name: a.name, protected: 0, created_at: now, updated_at: now }).execute();
    }
    const taken = await trx
      .selectFrom('metadef_namespace_resource_types')
      .select('namespace_id')
      .where('namespace_id', '=', ns.id)
      .where('resource_type_id', '=', rt.id)
      .executeTakeFirst();
    if (taken) {
      throw conflict(`The metadata definition resource-type association of resource-type=${a.name} to namespace=${ns.namespace} already exists.`);
    }
    const values = {
      resource_type_id: rt.id,
      namespace_id: ns.id,
      prefix: a.prefix ?? null,
      properties_target: a.properties_target ?? null,
      created_at: now,
      updated_at: now,
    };
    await trx.insertInto('metadef_namespace_resource_types').values(values).execute();
    return { name: a.name, prefix: values.prefix, properties_target: values.properties_target, created_at: now, updated_at: now };
  }

  async associate(ctx: RequestContext, ns: string, body: unknown): Promise<ResourceTypeAssociation> {
    const b = needBody(body);
    if (isDict(b)) checkAllowed(b, ['created_at', 'updated_at']);
    validate('resource_type_association', schemaOf('metadefs/resource_type'), b);
    const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
    const input = { name: String(b.name), prefix: str(b.prefix), properties_target: str(b.properties_target) };
    return this.uow.run(async (w) => {
      const row = await this.nsEither(w.trx, ctx, ns);
      adminOnly(ctx, 'add_metadef_resource_type_association');
      return this.addAssociation(w.trx, row, input, nowIso());
    }, ctx);
  }

  async dissociate(ctx: RequestContext, ns: string, resourceType: string): Promise<void> {
    await this.uow.run(async (w) => {
      const row = await this.nsEither(w.trx, ctx, ns);
      adminOnly(ctx, 'remove_metadef_resource_type_association');
      const found = (await this.associations(w.trx, [row.id])).get(row.id)?.find((a) => a.name === resourceType);
      if (!found) throw notFound(`Failed to find resource type ${resourceType} to delete`);
      if (row.protected) throw forbidden(`Metadata definition resource-type-association ${resourceType} is protected and cannot be deleted.`);
      const rt = await w.trx.selectFrom('metadef_resource_types').select('id').where('name', '=', resourceType).executeTakeFirstOrThrow();
      await w.trx.deleteFrom('metadef_namespace_resource_types').where('namespace_id', '=', row.id).where('resource_type_id', '=', rt.id).execute();
    }, ctx);
  }

  // ------------------------------------------------------------ tags

  /** Tag names are unique per namespace whatever their case (Glance's MySQL collation). */
  private async tagTaken(trx: Tx, ns: MetadefNamespacesTable, name: string, except?: string): Promise<boolean> {
    const rows = await trx.selectFrom('metadef_tags').select(['id', 'name']).where('namespace_id', '=', ns.id).execute();
    return rows.some((r) => r.id !== except && r.name.toLowerCase() === name.toLowerCase());
  }

  private tagExists = (name: string, ns: string) =>
    conflict(`A metadata tag with name=${name} already exists in namespace=${ns}. (Please note that metadata tag names are case insensitive).`);

  private async addTag(trx: Tx, ns: MetadefNamespacesTable, name: string, now: string): Promise<MetadefTag> {
    if (await this.tagTaken(trx, ns, name)) throw this.tagExists(name, ns.namespace);
    await trx.insertInto('metadef_tags').values({ id: uuid(), namespace_id: ns.id, name, created_at: now, updated_at: now }).execute();
    return { name, created_at: now, updated_at: now };
  }

  async listTags(ctx: RequestContext, ns: string, query: { limit?: number; marker?: string; sortKey: string; sortDir: 'asc' | 'desc' }): Promise<string[]> {
    const row = await this.nsEither(this.db, ctx, ns);
    let rows = await this.db.selectFrom('metadef_tags').selectAll().where('namespace_id', '=', row.id).execute();
    if (!['id', 'name', 'created_at', 'updated_at', 'namespace_id'].includes(query.sortKey)) throw internalError();
    const keys = [query.sortKey, ...['created_at', 'id'].filter((k) => k !== query.sortKey)] as Array<keyof (typeof rows)[number]>;
    rows.sort((a, b) => {
      for (const k of keys) {
        const c = compare(a[k], b[k]);
        if (c !== 0) return query.sortDir === 'asc' ? c : -c;
      }
      return 0;
    });
    if (query.marker !== undefined) {
      const at = rows.findIndex((r) => r.name === query.marker);
      if (at < 0) throw notFound(`Could not find metadata tag ${query.marker}`);
      rows = rows.slice(at + 1);
    }
    if (query.limit !== undefined) rows = rows.slice(0, query.limit);
    return rows.map((r) => r.name);
  }

  private async tagRow(q: Q, ns: MetadefNamespacesTable, name: string) {
    const t = await q.selectFrom('metadef_tags').selectAll().where('namespace_id', '=', ns.id).where('name', '=', name).executeTakeFirst();
    if (!t) throw notFound(`Could not find metadata tag ${name}`);
    return t;
  }

  async showTag(ctx: RequestContext, ns: string, name: string): Promise<MetadefTag> {
    const row = await this.nsEither(this.db, ctx, ns);
    const t = await this.tagRow(this.db, row, name);
    return { name: t.name, created_at: t.created_at, updated_at: t.updated_at };
  }

  /** POST …/tags/{tag}: the name checked against the tag schema after the namespace, before the policy. */
  async createTag(ctx: RequestContext, ns: string, name: string): Promise<MetadefTag> {
    return this.uow.run(async (w) => {
      const row = await this.nsEither(w.trx, ctx, ns);
      validate('tag', schemaOf('metadefs/tag'), { name });
      adminOnly(ctx, 'add_metadef_tag');
      return this.addTag(w.trx, row, name, nowIso());
    }, ctx);
  }

  /** POST …/tags: several at once; without `X-Openstack-Append` they replace the namespace's tags. */
  async createTags(ctx: RequestContext, ns: string, body: unknown, append: boolean): Promise<string[]> {
    const b = needBody(body);
    if (isDict(b)) checkAllowed(b, ['created_at', 'updated_at']);
    validate('tags', TAGS_BODY_SCHEMA, b);
    const names = Array.isArray(b.tags) ? b.tags.filter(isDict).map((t) => String(t.name)) : [];
    return this.uow.run(async (w) => {
      const row = await this.nsEither(w.trx, ctx, ns);
      adminOnly(ctx, 'add_metadef_tags');
      if (names.length === 0) return [];
      if (!append) await w.trx.deleteFrom('metadef_tags').where('namespace_id', '=', row.id).execute();
      const now = nowIso();
      for (const name of names) await this.addTag(w.trx, row, name, now);
      return names;
    }, ctx);
  }

  async updateTag(ctx: RequestContext, ns: string, name: string, body: unknown): Promise<MetadefTag> {
    const b = needBody(body);
    if (isDict(b)) checkAllowed(b, ['created_at', 'updated_at']);
    validate('tag', schemaOf('metadefs/tag'), b);
    const newName = String(b.name);
    return this.uow.run(async (w) => {
      const row = await this.nsEither(w.trx, ctx, ns);
      adminOnly(ctx, 'modify_metadef_tag');
      const t = await this.tagRow(w.trx, row, name);
      if (await this.tagTaken(w.trx, row, newName, t.id)) throw this.tagExists(newName, ns);
      await w.trx.updateTable('metadef_tags').set({ name: newName, updated_at: nowIso() }).where('id', '=', t.id).execute();
      return { name: newName, created_at: t.created_at, updated_at: t.updated_at };
    }, ctx);
  }

  async deleteTag(ctx: RequestContext, ns: string, name: string): Promise<void> {
    await this.uow.run(async (w) => {
      const row = await this.nsEither(w.trx, ctx, ns);
      adminOnly(ctx, 'delete_metadef_tag');
      const t = await this.tagRow(w.trx, row, name);
      if (row.protected) throw forbidden(`Metadata definition tag ${name} is protected and cannot be deleted.`);
      await w.trx.deleteFrom('metadef_tags').where('id', '=', t.id).execute();
    }, ctx);
  }
}

/** SQL-like ordering: NULLs first (smallest), then by value. */
function compare(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === null || a === undefined) return -1;
  if (b === null || b === undefined) return 1;
  return (a as string | number) < (b as string | number) ? -1 : 1;
}
