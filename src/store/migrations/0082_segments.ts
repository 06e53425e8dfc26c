import { type Kysely, sql } from 'kysely';
import { uuid } from '../../util/ids.js';

/**
 * Network segments (Neutron's `segment`, `multi-provider`): a network's provider attributes are
 * its segments, one or more. Every existing network gets the segment its columns describe (those
 * columns stay, naming the first segment, for the data plane). Network segment ranges
 * (`network-segment-range`), and the network's `dns_domain` (`dns-integration`).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('network_segments')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    // The engine's tables carry an owner; a segment's is its network's (admins manage segments).
    .addColumn('project_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('network_id', 'varchar(36)', (c) => c.notNull().references('networks.id').onDelete('cascade'))
    .addColumn('name', 'varchar(255)')
    .addColumn('description', 'varchar(255)')
    .addColumn('network_type', 'varchar(32)', (c) => c.notNull())
    .addColumn('physical_network', 'varchar(64)')
    .addColumn('segmentation_id', 'integer')
    .addColumn('segment_index', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('revision_number', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.createIndex('network_segments_network').on('network_segments').columns(['network_id']).execute();
  const nets = await sql<{
    id: string;
    project_id: string;
    network_type: string;
    physical_network: string | null;
    segmentation_id: number | null;
    created_at: string;
  }>`select id, project_id, network_type, physical_network, segmentation_id, created_at from networks`.execute(db);
  for (const n of nets.rows) {
    await sql`insert into network_segments (id, project_id, network_id, name, description, network_type, physical_network, segmentation_id, segment_index, created_at, updated_at, revision_number)
      values (${uuid()}, ${n.project_id}, ${n.id}, null, null, ${n.network_type}, ${n.physical_network}, ${n.segmentation_id}, 0, ${n.created_at}, ${n.created_at}, 0)`.execute(
      db,
    );
  }
  await db.schema.alterTable('segment_allocations').addColumn('segment_id', 'varchar(36)').execute();

  await db.schema
    .createTable('network_segment_ranges')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    // '' for a range shared with every project (Neutron's null).
    .addColumn('project_id', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('name', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('description', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .addColumn('is_default', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('shared', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('network_type', 'varchar(32)', (c) => c.notNull())
    .addColumn('physical_network', 'varchar(64)')
    .addColumn('minimum', 'integer', (c) => c.notNull())
    .addColumn('maximum', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('revision_number', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();

  await db.schema
    .alterTable('networks')
    .addColumn('dns_domain', 'varchar(255)', (c) => c.notNull().defaultTo(''))
    .execute();
}
