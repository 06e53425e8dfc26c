import type { Kysely } from 'kysely';

/**
 * Issue 11 item 7 / issue 18, multi-segment networks on the wire: the segment a port's binding
 * chose on its host (ML2's ml2_port_binding_levels.segment_id for the bottom level, a port here
 * being bound at one level by the Linux bridge mechanism driver). The host's agent builds the
 * network's bridge from it (a flat or VLAN segment's interface, a vxlan segment's VXLAN device);
 * null while unbound or after a failed binding, and for ports bound before it was kept.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('ports').addColumn('binding_segment_id', 'varchar(36)').execute();
}
