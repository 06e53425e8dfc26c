/**
 * Metadata definitions as Glance's WSME models write them (json.tojson): attributes in the models'
 * order, an attribute that is None or never set left out, times with seconds precision.
 */
import {
  type MetadefObject,
  type MetadefTag,
  type Namespace,
  type NamespaceDetail,
  type PropertyType,
  propertiesJson,
  type ResourceType,
  type ResourceTypeAssociation,
} from '../../core/image/metadefs/model.js';
import { seconds } from './views.js';

const ns = (name: string) => `/v2/metadefs/namespaces/${name}`;

/** Set `k` when `v` is neither null, undefined nor an empty time. */
function put(out: Record<string, unknown>, k: string, v: unknown): void {
  if (v !== null && v !== undefined && v !== '') out[k] = v;
}

const time = (t: string | null) => (t ? seconds(t) : null);

export function associationView(a: ResourceTypeAssociation): Record<string, unknown> {
  const out: Record<string, unknown> = { name: a.name };
  put(out, 'prefix', a.prefix);
  put(out, 'properties_target', a.properties_target);
  put(out, 'created_at', time(a.created_at));
  put(out, 'updated_at', time(a.updated_at));
  return out;
}

export function resourceTypeView(r: ResourceType): Record<string, unknown> {
  const out: Record<string, unknown> = { name: r.name };
  put(out, 'created_at', time(r.created_at));
  put(out, 'updated_at', time(r.updated_at));
  return out;
}

export const propertyView = (p: PropertyType): PropertyType => ({ ...p });

export function propertiesView(props: ReadonlyMap<string, PropertyType>): Record<string, PropertyType> {
  return propertiesJson(props);
}

/**
 * An object; `namespace` given, with its `self` and `schema` links (an object echoed from a
 * namespace create has neither, nor times).
 */
export function objectView(o: MetadefObject, namespace?: string): Record<string, unknown> {
  const out: Record<string, unknown> = { name: o.name, required: o.required };
  put(out, 'description', o.description);
  out.properties = propertiesJson(o.properties);
  put(out, 'created_at', time(o.created_at));
  put(out, 'updated_at', time(o.updated_at));
  if (namespace !== undefined) {
    out.self = `${ns(namespace)}/objects/${o.name}`;
    out.schema = '/v2/schemas/metadefs/object';
  }
  return out;
}

export function tagView(t: MetadefTag): Record<string, unknown> {
  const out: Record<string, unknown> = { name: t.name };
  put(out, 'created_at', time(t.created_at));
  put(out, 'updated_at', time(t.updated_at));
  return out;
}

/** A namespace, with whatever it is shown with (associations in lists; everything in a show). */
export function namespaceView(n: Namespace & Partial<Omit<NamespaceDetail, keyof Namespace>>, objectLinks = true): Record<string, unknown> {
  const out: Record<string, unknown> = { namespace: n.namespace };
  put(out, 'display_name', n.display_name);
  put(out, 'description', n.description);
  out.visibility = n.visibility;
  out.protected = n.protected;
  out.owner = n.owner;
  put(out, 'created_at', time(n.created_at));
  put(out, 'updated_at', time(n.updated_at));
  if (n.resource_type_associations?.length) out.resource_type_associations = n.resource_type_associations.map(associationView);
  if (n.properties?.size) out.properties = propertiesJson(n.properties);
  if (n.objects?.length) out.objects = n.objects.map((o) => objectView(o, objectLinks ? n.namespace : undefined));
  if (n.tags?.length) out.tags = n.tags.map((name) => ({ name }));
  out.self = ns(n.namespace);
  out.schema = '/v2/schemas/metadefs/namespace';
  return out;
}
