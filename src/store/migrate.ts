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
import * as m0030 from './migrations/0030_keymanager.js';
import * as m0040 from './migrations/0040_identity_more.js';
import * as m0060 from './migrations/0060_rbac.js';
import * as m0061 from './migrations/0061_address_scopes_groups.js';
import * as m0062 from './migrations/0062_segments.js';
import * as m0063 from './migrations/0063_port_attributes.js';
import * as m0064 from './migrations/0064_l3_extras.js';
import * as m0065 from './migrations/0065_auto_allocate.js';
import * as m0066 from './migrations/0066_metering_fields.js';

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
  '0030_keymanager': m0030,
  '0040_identity_more': m0040,
  '0060_rbac': m0060,
  '0061_address_scopes_groups': m0061,
  '0062_segments': m0062,
  '0063_port_attributes': m0063,
  '0064_l3_extras': m0064,
  '0065_auto_allocate': m0065,
  '0066_metering_fields': m0066,
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
