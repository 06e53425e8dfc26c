import type { Kysely } from 'kysely';

/** metering_source_and_destination_fields: a rule may match by source and destination instead of remote. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('metering_label_rules').addColumn('source_ip_prefix', 'varchar(64)').execute();
  await db.schema.alterTable('metering_label_rules').addColumn('destination_ip_prefix', 'varchar(64)').execute();
}
