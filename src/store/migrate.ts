import { Migrator, type Migration, type MigrationProvider } from 'kysely';
import type { Store } from './db.js';
import * as m0001 from './migrations/0001_identity.js';
import * as m0002 from './migrations/0002_network.js';
import * as m0003 from './migrations/0003_l3.js';
import * as m0004 from './migrations/0004_subnetpools.js';
import * as m0005 from './migrations/0005_compute.js';
import * as m0006 from './migrations/0006_image.js';
import * as m0007 from './migrations/0007_loadbalancer.js';
import * as m0008 from './migrations/0008_metering.js';
import * as m0009 from './migrations/0009_instance_reports.js';
import * as m0010 from './migrations/0010_compute_nova.js';
import * as m0011 from './migrations/0011_compute_quota_classes.js';
import * as m0020 from './migrations/0020_instances_machines.js';
import * as m0021 from './migrations/0021_instances_agents.js';
import * as m0030 from './migrations/0030_keymanager.js';
import * as m0040 from './migrations/0040_identity_more.js';
import * as m0050 from './migrations/0050_image_import.js';
import * as m0070 from './migrations/0070_qos.js';
import * as m0071 from './migrations/0071_trunks.js';
import * as m0072 from './migrations/0072_port_forwardings.js';
import * as m0080 from './migrations/0080_rbac.js';
import * as m0081 from './migrations/0081_address_scopes_groups.js';
import * as m0082 from './migrations/0082_segments.js';
import * as m0083 from './migrations/0083_port_attributes.js';
import * as m0084 from './migrations/0084_l3_extras.js';
import * as m0085 from './migrations/0085_auto_allocate.js';
import * as m0086 from './migrations/0086_metering_fields.js';
import * as m0090 from './migrations/0090_agents_hosts.js';
import * as m0091 from './migrations/0091_read_order_indexes.js';
import * as m0110 from './migrations/0110_compute_nodes.js';
import * as m0120 from './migrations/0120_l3_ha.js';
import * as m0130 from './migrations/0130_compute_node_kernel.js';
import * as m0150 from './migrations/0150_build_retries.js';
import * as m0190 from './migrations/0190_compute_growth_indexes.js';
import * as m0191 from './migrations/0191_id_sequences.js';
import * as m0192 from './migrations/0192_inherited_grants.js';
import * as m0200 from './migrations/0200_port_binding_segment.js';
import * as m0230 from './migrations/0230_access_rule_seq.js';
import * as m0250 from './migrations/0250_keymanager_orders_quotas.js';
import * as m0260 from './migrations/0260_ports_network_order.js';

/** Migrations are listed here in order; each file only ever gains successors, never edits. */
const MIGRATIONS: Record<string, Migration> = {
  '0001_identity': m0001,
  '0002_network': m0002,
  '0003_l3': m0003,
  '0004_subnetpools': m0004,
  '0005_compute': m0005,
  '0006_image': m0006,
  '0007_loadbalancer': m0007,
  '0008_metering': m0008,
  '0009_instance_reports': m0009,
  '0010_compute_nova': m0010,
  '0011_compute_quota_classes': m0011,
  '0020_instances_machines': m0020,
  '0021_instances_agents': m0021,
  '0030_keymanager': m0030,
  '0040_identity_more': m0040,
  '0050_image_import': m0050,
  '0070_qos': m0070,
  '0071_trunks': m0071,
  '0072_port_forwardings': m0072,
  '0080_rbac': m0080,
  '0081_address_scopes_groups': m0081,
  '0082_segments': m0082,
  '0083_port_attributes': m0083,
  '0084_l3_extras': m0084,
  '0085_auto_allocate': m0085,
  '0086_metering_fields': m0086,
  '0090_agents_hosts': m0090,
  '0091_read_order_indexes': m0091,
  '0110_compute_nodes': m0110,
  '0120_l3_ha': m0120,
  '0130_compute_node_kernel': m0130,
  '0150_build_retries': m0150,
  '0190_compute_growth_indexes': m0190,
  '0191_id_sequences': m0191,
  '0192_inherited_grants': m0192,
  '0200_port_binding_segment': m0200,
  '0230_access_rule_seq': m0230,
  '0250_keymanager_orders_quotas': m0250,
  '0260_ports_network_order': m0260,
};

class StaticProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    return MIGRATIONS;
  }
}

export async function migrate(store: Store): Promise<void> {
  const migrator = new Migrator({ db: store.db, provider: new StaticProvider() });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    throw new Error(`database migration ${failed?.migrationName ?? ''} failed: ${String(error)}`);
  }
}
