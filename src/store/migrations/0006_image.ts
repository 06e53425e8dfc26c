import type { Kysely } from 'kysely';

/** Glance v2: images, their tags, extra properties and members (sharing). */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('images')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('name', 'varchar(255)')
    .addColumn('owner', 'varchar(255)')
    .addColumn('visibility', 'varchar(16)', (c) => c.notNull())
    .addColumn('status', 'varchar(30)', (c) => c.notNull())
    .addColumn('container_format', 'varchar(32)')
    .addColumn('disk_format', 'varchar(32)')
    .addColumn('size', 'bigint')
    .addColumn('virtual_size', 'bigint')
    .addColumn('checksum', 'varchar(32)')
    .addColumn('os_hash_algo', 'varchar(64)')
    .addColumn('os_hash_value', 'varchar(128)')
    .addColumn('min_disk', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('min_ram', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('protected', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('os_hidden', 'integer', (c) => c.notNull().defaultTo(0))
    // Millisecond ISO times so the default sort (created_at desc) is stable within a second.
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('images_owner').on('images').columns(['owner']).execute();
  await db.schema.createIndex('images_name').on('images').columns(['name']).execute();
  await db.schema.createIndex('images_created').on('images').columns(['created_at', 'id']).execute();

  await db.schema
    .createTable('image_properties')
    .addColumn('image_id', 'varchar(36)', (c) => c.notNull().references('images.id').onDelete('cascade'))
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('value', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('image_properties_pk', ['image_id', 'name'])
    .execute();

  await db.schema
    .createTable('image_tags')
    .addColumn('image_id', 'varchar(36)', (c) => c.notNull().references('images.id').onDelete('cascade'))
    .addColumn('tag', 'varchar(255)', (c) => c.notNull())
    .addColumn('position', 'integer', (c) => c.notNull().defaultTo(0))
    .addPrimaryKeyConstraint('image_tags_pk', ['image_id', 'tag'])
    .execute();
  await db.schema.createIndex('image_tags_tag').on('image_tags').columns(['tag']).execute();

  await db.schema
    .createTable('image_members')
    .addColumn('image_id', 'varchar(36)', (c) => c.notNull().references('images.id').onDelete('cascade'))
    .addColumn('member', 'varchar(255)', (c) => c.notNull())
    .addColumn('status', 'varchar(20)', (c) => c.notNull())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
    .addPrimaryKeyConstraint('image_members_pk', ['image_id', 'member'])
    .execute();
  await db.schema.createIndex('image_members_member').on('image_members').columns(['member']).execute();
}
