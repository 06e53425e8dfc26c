import { type Kysely, sql } from 'kysely';
import { uuid } from '../../util/ids.js';

/**
 * RBAC policies (Neutron's `rbac-policies`): one table for every object type Neutron keeps in a
 * table of its own (networkrbacs, securitygrouprbacs, …), told apart by `object_type`. Sharing
 * that was a column becomes policies, as Neutron's own migration did: a shared network or subnet
 * pool gets an `access_as_shared` policy for `*`, an external network an `access_as_external` one.
 * The columns stay as a cache of "shared with everyone" that other services read.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('rbac_policies')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('project_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('object_type', 'varchar(32)', (c) => c.notNull())
    .addColumn('object_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('action', 'varchar(255)', (c) => c.notNull())
    .addColumn('target_tenant', 'varchar(255)', (c) => c.notNull())
    .addUniqueConstraint('rbac_policies_unique', ['object_type', 'object_id', 'action', 'target_tenant'])
    .execute();
  await db.schema.createIndex('rbac_policies_project').on('rbac_policies').columns(['project_id']).execute();
  await db.schema.createIndex('rbac_policies_target').on('rbac_policies').columns(['object_type', 'target_tenant']).execute();

  const row = (project: string, type: string, object: string, action: string) => ({
    id: uuid(),
    project_id: project,
    object_type: type,
    object_id: object,
    action,
    target_tenant: '*',
  });
  const networks = await sql<{ id: string; project_id: string; shared: number; external: number }>`
    select id, project_id, shared, external from networks where shared = 1 or external = 1`.execute(db);
  const pools = await sql<{ id: string; project_id: string }>`select id, project_id from subnetpools where shared = 1`.execute(db);
  const rows = [
    ...networks.rows.filter((n) => Number(n.shared) === 1).map((n) => row(n.project_id, 'network', n.id, 'access_as_shared')),
    ...networks.rows.filter((n) => Number(n.external) === 1).map((n) => row(n.project_id, 'network', n.id, 'access_as_external')),
    ...pools.rows.map((p) => row(p.project_id, 'subnetpool', p.id, 'access_as_shared')),
  ];
  const table = db as unknown as Kysely<{ rbac_policies: ReturnType<typeof row> }>;
  for (const r of rows) await table.insertInto('rbac_policies').values(r).execute();
}
