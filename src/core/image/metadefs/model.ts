/**
 * Metadata definitions as Glance's WSME models hold them (glance/api/v2/model/metadef_*.py):
 * which attributes a property type, an object, a resource-type association and a namespace have,
 * and in which order WSME writes them. Values a model does not know are dropped, as WSME's
 * fromjson drops them; attributes never set stay absent.
 */
import { isDict } from '../../../util/json.js';

/** PropertyType's attributes, in declaration order (WSME's output order). */
const PROPERTY_ATTRS = [
  'name',
  'type',
  'title',
  'description',
  'operators',
  'default',
  'readonly',
  'minimum',
  'maximum',
  'enum',
  'pattern',
  'minLength',
  'maxLength',
  'confidential',
  'items',
  'uniqueItems',
  'minItems',
  'maxItems',
  'additionalItems',
] as const;

/** A property type: JSON-like values keyed by the attributes above. */
export type PropertyType = Record<string, unknown>;

/** json.fromjson(PropertyType, value): only PropertyType's attributes, `items` only `type` and `enum`. */
export function propertyType(value: unknown): PropertyType {
  const out: PropertyType = Object.create(null);
  if (!isDict(value)) return out;
  for (const attr of PROPERTY_ATTRS) {
    if (!(attr in value)) continue;
    const v = value[attr];
    if (attr === 'items' && isDict(v)) {
      const items: Record<string, unknown> = {};
      if ('type' in v) items.type = v.type;
      if ('enum' in v) items.enum = v.enum;
      out.items = items;
    } else {
      out[attr] = v;
    }
  }
  return out;
}

/** A dict of property types (an object's or a namespace's `properties`), by name. */
export function propertyTypes(value: unknown): Map<string, PropertyType> {
  const out = new Map<string, PropertyType>();
  if (isDict(value)) for (const [k, v] of Object.entries(value)) out.set(k, propertyType(v));
  return out;
}

/** A map of property types as a JSON object (null prototype: names come from clients). */
export function propertiesJson(props: ReadonlyMap<string, PropertyType>): Record<string, PropertyType> {
  const out: Record<string, PropertyType> = Object.create(null);
  for (const [k, v] of props) out[k] = v;
  return out;
}

/** A namespace as Glance's domain holds it (visibility defaults to private, protected to false). */
export interface Namespace {
  id: string;
  namespace: string;
  display_name: string | null;
  description: string | null;
  visibility: string;
  protected: boolean;
  owner: string;
  created_at: string;
  updated_at: string | null;
}

export interface MetadefObject {
  name: string;
  description: string | null;
  required: string[];
  properties: Map<string, PropertyType>;
  created_at: string;
  updated_at: string | null;
}

export interface ResourceTypeAssociation {
  name: string;
  prefix: string | null;
  properties_target: string | null;
  created_at: string;
  updated_at: string | null;
}

export interface ResourceType {
  name: string;
  created_at: string;
  updated_at: string | null;
}

export interface MetadefTag {
  name: string;
  created_at: string;
  updated_at: string | null;
}

/** A namespace with what it contains, as GET …/namespaces/{namespace} shows it. */
export interface NamespaceDetail extends Namespace {
  resource_type_associations: ResourceTypeAssociation[];
  properties: Map<string, PropertyType>;
  objects: MetadefObject[];
  tags: string[];
}

/**
 * What a client sent for a namespace (POST, PUT): the attributes it set, with the nested objects,
 * properties, tags and associations of a create, each as WSME read them.
 */
export interface NamespaceInput {
  namespace: string;
  display_name?: string;
  description?: string;
  visibility?: string;
  protected?: boolean;
  owner?: string;
  resource_type_associations?: Array<{ name: string; prefix?: string; properties_target?: string }>;
  properties?: Map<string, PropertyType>;
  objects?: ObjectInput[];
  tags?: Array<{ name: string }>;
}

export interface ObjectInput {
  name: string;
  description?: string;
  required?: string[];
  properties?: Map<string, PropertyType>;
}
