/**
 * Glance's default metadata definitions catalog (data/glance/metadefs/, copied from Glance's
 * etc/metadefs/), written into the database as glance/db/sqlalchemy/metadata.py's
 * _populate_metadata writes it: namespace owner `admin` unless a file names one, seeded resource
 * types protected, each object's properties as its JSON schema (its `required` list is not
 * loaded, as Glance's loader does not), and `updated_at` left empty.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Tx } from '../../../store/db.js';
import { uuid } from '../../../util/ids.js';
import { isDict } from '../../../util/json.js';
import { PROJECT_ROOT } from '../../../util/root.js';

/** The catalog directory, in the project (not copied into dist/). */
const CATALOG_DIR = join(PROJECT_ROOT, 'data', 'glance', 'metadefs');

interface CatalogFile {
  namespace: string;
  display_name?: string;
  description?: string;
  visibility?: string;
  protected?: boolean;
  owner?: string;
  resource_type_associations?: Array<{ name: string; prefix?: string; properties_target?: string }>;
  properties?: Record<string, unknown>;
  objects?: Array<{ name: string; description?: string; properties?: Record<string, unknown> }>;
  tags?: Array<{ name: string }>;
}

/** The catalog's files, in name order (Glance reads a directory listing; its order is the filesystem's). */
export function catalogFiles(dir = CATALOG_DIR): CatalogFile[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as CatalogFile)
    .filter((f) => isDict(f) && typeof f.namespace === 'string');
}

/** Write the catalog; namespaces already present are skipped (Glance's loader without --merge). */
export async function loadCatalog(trx: Tx, files = catalogFiles()): Promise<void> {
  // One clock tick per namespace keeps Glance's order (newest first lists the last loaded first).
  let tick = Date.now();
  const stamp = () => new Date(tick++).toISOString();
  for (const f of files) {
    const exists = await trx.selectFrom('metadef_namespaces').select('id').where('namespace', '=', f.namespace).executeTakeFirst();
    if (exists) continue;
    const now = stamp();
    const nsId = uuid();
    await trx
      .insertInto('metadef_namespaces')
      .values({
        id: nsId,
        namespace: f.namespace,
        display_name: f.display_name ?? null,
        description: f.description ?? null,
        visibility: f.visibility ?? null,
        protected: f.protected === undefined || f.protected === null ? null : f.protected ? 1 : 0,
        owner: f.owner ?? 'admin',
        created_at: now,
        updated_at: null,
      })
      .execute();
    for (const a of f.resource_type_associations ?? []) {
      let rt = await trx.selectFrom('metadef_resource_types').select('id').where('name', '=', a.name).executeTakeFirst();
      if (!rt) {
        rt = { id: uuid() };
        await trx.insertInto('metadef_resource_types').values({ id: rt.id, name: a.name, protected: 1, created_at: now, updated_at: null }).execute();
      }
      await trx
        .insertInto('metadef_namespace_resource_types')
        .values({
          resource_type_id: rt.id,
          namespace_id: nsId,
          properties_target: a.properties_target ?? null,
          prefix: a.prefix ?? null,
          created_at: now,
          updated_at: null,
        })
        .execute();
    }
    for (const [name, schema] of Object.entries(f.properties ?? {})) {
      await trx
        .insertInto('metadef_properties')
        .values({ id: uuid(), namespace_id: nsId, name, json_schema: JSON.stringify(schema), created_at: now, updated_at: null })
        .execute();
    }
    for (const o of f.objects ?? []) {
      await trx
        .insertInto('metadef_objects')
        .values({
          id: uuid(),
          namespace_id: nsId,
          name: o.name,
          description: o.description ?? null,
          required: null,
          json_schema: JSON.stringify(o.properties ?? null),
          created_at: now,
          updated_at: null,
        })
        .execute();
    }
    for (const t of f.tags ?? []) {
      await trx.insertInto('metadef_tags').values({ id: uuid(), namespace_id: nsId, name: t.name, created_at: now, updated_at: null }).execute();
    }
  }
}
