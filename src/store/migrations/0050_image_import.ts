import type { Kysely } from 'kysely';

/**
 * Glance's interoperable import, multiple stores and metadata definitions: image locations (where
 * an image's data lives, per store), tasks (the import flows and their results), and the metadef
 * catalog (namespaces with their objects, properties, tags and resource-type associations).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // Glance's image_locations: ordered, each with its store in `metadata` (JSON text).
  await db.schema
    .createTable('image_locations')
    .addColumn('image_id', 'varchar(36)', (c) => c.notNull().references('images.id').onDelete('cascade'))
    .addColumn('position', 'integer', (c) => c.notNull())
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('metadata', 'text', (c) => c.notNull())
    .addColumn('status', 'varchar(30)', (c) => c.notNull())
    .addPrimaryKeyConstraint('image_locations_pk', ['image_id', 'position'])
    .execute();

  // Glance's tasks (and task_info): no foreign key to images, a task outlives its image.
  await db.schema
    .createTable('image_tasks')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('type', 'varchar(30)', (c) => c.notNull())
    .addColumn('status', 'varchar(30)', (c) => c.notNull())
    .addColumn('owner', 'varchar(255)', (c) => c.notNull())
    .addColumn('image_id', 'varchar(36)')
    .addColumn('user_id', 'varchar(64)')
    .addColumn('request_id', 'varchar(64)')
    .addColumn('input', 'text')
    .addColumn('result', 'text')
    .addColumn('message', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'varchar(32)')
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('image_tasks_image').on('image_tasks').columns(['image_id']).execute();
  await db.schema.createIndex('image_tasks_owner').on('image_tasks').columns(['owner']).execute();

  // Metadata definitions. Times are ISO text; `updated_at` stays NULL for rows the catalog loader
  // wrote, as Glance's loader leaves it.
  await db.schema
    .createTable('metadef_namespaces')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('namespace', 'varchar(80)', (c) => c.notNull().unique())
    .addColumn('display_name', 'varchar(80)')
    .addColumn('description', 'text')
    .addColumn('visibility', 'varchar(32)')
    .addColumn('protected', 'integer')
    .addColumn('owner', 'varchar(255)', (c) => c.notNull())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)')
    .execute();
  await db.schema.createIndex('metadef_namespaces_owner').on('metadef_namespaces').columns(['owner']).execute();

  for (const table of ['metadef_objects', 'metadef_properties', 'metadef_tags']) {
    let t = db.schema
      .createTable(table)
      .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
      .addColumn('namespace_id', 'varchar(36)', (c) => c.notNull().references('metadef_namespaces.id').onDelete('cascade'))
      .addColumn('name', 'varchar(80)', (c) => c.notNull());
    if (table === 'metadef_objects') t = t.addColumn('description', 'text').addColumn('required', 'text');
    if (table !== 'metadef_tags') t = t.addColumn('json_schema', 'text', (c) => c.notNull());
    await t
      .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
      .addColumn('updated_at', 'varchar(32)')
      .addUniqueConstraint(`${table}_namespace_name`, ['namespace_id', 'name'])
      .execute();
  }

  await db.schema
    .createTable('metadef_resource_types')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('name', 'varchar(80)', (c) => c.notNull().unique())
    .addColumn('protected', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)')
    .execute();

  await db.schema
    .createTable('metadef_namespace_resource_types')
    .addColumn('resource_type_id', 'varchar(36)', (c) => c.notNull().references('metadef_resource_types.id'))
    .addColumn('namespace_id', 'varchar(36)', (c) => c.notNull().references('metadef_namespaces.id').onDelete('cascade'))
    .addColumn('properties_target', 'varchar(80)')
    .addColumn('prefix', 'varchar(80)')
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)')
    .addPrimaryKeyConstraint('metadef_namespace_resource_types_pk', ['resource_type_id', 'namespace_id'])
    .execute();
  await db.schema.createIndex('metadef_ns_res_types_namespace').on('metadef_namespace_resource_types').columns(['namespace_id']).execute();

  // Which bundled catalogs were loaded (once: what an admin deletes afterwards stays deleted).
  await db.schema
    .createTable('metadef_catalog_loads')
    .addColumn('name', 'varchar(80)', (c) => c.primaryKey())
    .addColumn('loaded_at', 'varchar(32)', (c) => c.notNull())
    .execute();
}
