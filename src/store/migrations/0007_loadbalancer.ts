import type { CreateTableBuilder, Kysely } from 'kysely';

/**
 * Load balancing: one object model behind both Octavia v2 and Neutron LBaaS v1. `api` records
 * which API created an object ('v2' or 'v1'); the engine does not care.
 */
function base<T extends string>(t: CreateTableBuilder<T, never>) {
  return t
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('project_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('name', 'varchar(255)')
    .addColumn('provisioning_status', 'varchar(16)', (c) => c.notNull())
    .addColumn('operating_status', 'varchar(16)', (c) => c.notNull())
    .addColumn('admin_state_up', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('api', 'varchar(4)', (c) => c.notNull().defaultTo('v2'))
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)');
}

export async function up(db: Kysely<unknown>): Promise<void> {
  await base(db.schema.createTable('lb_loadbalancers'))
    .addColumn('description', 'varchar(255)')
    .addColumn('provider', 'varchar(64)', (c) => c.notNull())
    .addColumn('flavor_id', 'varchar(36)')
    .addColumn('availability_zone', 'varchar(255)')
    .addColumn('vip_address', 'varchar(64)')
    .addColumn('vip_port_id', 'varchar(36)')
    .addColumn('vip_subnet_id', 'varchar(36)')
    .addColumn('vip_network_id', 'varchar(36)')
    .addColumn('vip_qos_policy_id', 'varchar(36)')
    // 'neutron': the VIP is a Neutron port the engine serves; 'noop': accepted as Octavia's noop
    // network driver would (no port, nothing served); 'user': a port the user supplied.
    .addColumn('vip_kind', 'varchar(8)', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('lb_loadbalancers_project').on('lb_loadbalancers').columns(['project_id']).execute();

  await base(db.schema.createTable('lb_listeners'))
    .addColumn('description', 'varchar(255)')
    .addColumn('loadbalancer_id', 'varchar(36)', (c) => c.notNull().references('lb_loadbalancers.id'))
    .addColumn('protocol', 'varchar(32)', (c) => c.notNull())
    .addColumn('transport', 'varchar(8)', (c) => c.notNull())
    .addColumn('protocol_port', 'integer', (c) => c.notNull())
    .addColumn('connection_limit', 'integer', (c) => c.notNull())
    .addColumn('default_pool_id', 'varchar(36)')
    .addColumn('timeout_client_data', 'integer', (c) => c.notNull())
    .addColumn('timeout_member_connect', 'integer', (c) => c.notNull())
    .addColumn('timeout_member_data', 'integer', (c) => c.notNull())
    .addColumn('timeout_tcp_inspect', 'integer', (c) => c.notNull())
    .addColumn('insert_headers', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('allowed_cidrs', 'text')
    .addColumn('default_tls_container_ref', 'varchar(255)')
    .addColumn('sni_container_refs', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('client_ca_tls_container_ref', 'varchar(255)')
    .addColumn('client_authentication', 'varchar(16)', (c) => c.notNull().defaultTo('NONE'))
    .addColumn('client_crl_container_ref', 'varchar(255)')
    .addColumn('tls_ciphers', 'varchar(2048)')
    .addColumn('tls_versions', 'text')
    .addColumn('alpn_protocols', 'text')
    // Listeners of one load balancer share a port only across transports (TCP vs UDP).
    .addUniqueConstraint('lb_listeners_port', ['loadbalancer_id', 'transport', 'protocol_port'])
    .execute();

  await base(db.schema.createTable('lb_pools'))
    .addColumn('description', 'varchar(255)')
    // NULL for a v1 pool that has no VIP yet.
    .addColumn('loadbalancer_id', 'varchar(36)', (c) => c.references('lb_loadbalancers.id'))
    .addColumn('protocol', 'varchar(32)', (c) => c.notNull())
    .addColumn('lb_algorithm', 'varchar(32)', (c) => c.notNull())
    .addColumn('sp_type', 'varchar(16)')
    .addColumn('sp_cookie_name', 'varchar(255)')
    .addColumn('sp_persistence_timeout', 'integer')
    .addColumn('sp_persistence_granularity', 'varchar(64)')
    .addColumn('tls_enabled', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('tls_container_ref', 'varchar(255)')
    .addColumn('ca_tls_container_ref', 'varchar(255)')
    .addColumn('crl_container_ref', 'varchar(255)')
    .addColumn('tls_ciphers', 'varchar(2048)')
    .addColumn('tls_versions', 'text')
    .addColumn('alpn_protocols', 'text')
    // LBaaS v1 only.
    .addColumn('subnet_id', 'varchar(36)')
    .addColumn('status_description', 'varchar(255)')
    .execute();
  await db.schema.createIndex('lb_pools_lb').on('lb_pools').columns(['loadbalancer_id']).execute();

  await base(db.schema.createTable('lb_members'))
    .addColumn('pool_id', 'varchar(36)', (c) => c.notNull().references('lb_pools.id'))
    .addColumn('address', 'varchar(64)', (c) => c.notNull())
    .addColumn('protocol_port', 'integer', (c) => c.notNull())
    .addColumn('weight', 'integer', (c) => c.notNull())
    .addColumn('backup', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('subnet_id', 'varchar(36)')
    .addColumn('monitor_address', 'varchar(64)')
    .addColumn('monitor_port', 'integer')
    .addColumn('status_description', 'varchar(255)')
    .addUniqueConstraint('lb_members_address', ['pool_id', 'address', 'protocol_port'])
    .execute();

  await base(db.schema.createTable('lb_healthmonitors'))
    // NULL for a v1 monitor not associated with a pool through v2; unique: one monitor per pool.
    .addColumn('pool_id', 'varchar(36)', (c) => c.unique().references('lb_pools.id'))
    .addColumn('type', 'varchar(16)', (c) => c.notNull())
    .addColumn('delay', 'integer', (c) => c.notNull())
    .addColumn('timeout', 'integer', (c) => c.notNull())
    .addColumn('max_retries', 'integer', (c) => c.notNull())
    .addColumn('max_retries_down', 'integer', (c) => c.notNull())
    .addColumn('http_method', 'varchar(16)')
    .addColumn('url_path', 'varchar(2048)')
    .addColumn('expected_codes', 'varchar(64)')
    .addColumn('http_version', 'varchar(8)')
    .addColumn('domain_name', 'varchar(255)')
    .execute();

  // LBaaS v1: a monitor is associated with any number of pools.
  await db.schema
    .createTable('lb_v1_pool_monitors')
    .addColumn('pool_id', 'varchar(36)', (c) => c.notNull().references('lb_pools.id'))
    .addColumn('monitor_id', 'varchar(36)', (c) => c.notNull().references('lb_healthmonitors.id'))
    .addColumn('status', 'varchar(16)', (c) => c.notNull())
    .addColumn('status_description', 'varchar(255)')
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addPrimaryKeyConstraint('lb_v1_pool_monitors_pk', ['pool_id', 'monitor_id'])
    .execute();

  await base(db.schema.createTable('lb_l7policies'))
    .addColumn('description', 'varchar(255)')
    .addColumn('listener_id', 'varchar(36)', (c) => c.notNull().references('lb_listeners.id'))
    .addColumn('action', 'varchar(32)', (c) => c.notNull())
    .addColumn('redirect_pool_id', 'varchar(36)')
    .addColumn('redirect_url', 'varchar(2048)')
    .addColumn('redirect_prefix', 'varchar(2048)')
    .addColumn('redirect_http_code', 'integer')
    .addColumn('position', 'integer', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('lb_l7policies_listener').on('lb_l7policies').columns(['listener_id']).execute();

  await base(db.schema.createTable('lb_l7rules'))
    .addColumn('l7policy_id', 'varchar(36)', (c) => c.notNull().references('lb_l7policies.id'))
    .addColumn('type', 'varchar(32)', (c) => c.notNull())
    .addColumn('compare_type', 'varchar(32)', (c) => c.notNull())
    .addColumn('key', 'varchar(255)')
    .addColumn('value', 'varchar(255)', (c) => c.notNull())
    .addColumn('invert', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.createIndex('lb_l7rules_policy').on('lb_l7rules').columns(['l7policy_id']).execute();

  // Octavia quotas: NULL means "the default".
  await db.schema
    .createTable('lb_quotas')
    .addColumn('project_id', 'varchar(255)', (c) => c.primaryKey())
    .addColumn('load_balancer', 'integer')
    .addColumn('listener', 'integer')
    .addColumn('pool', 'integer')
    .addColumn('health_monitor', 'integer')
    .addColumn('member', 'integer')
    .addColumn('l7policy', 'integer')
    .addColumn('l7rule', 'integer')
    .execute();

  await db.schema
    .createTable('lb_flavor_profiles')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('provider_name', 'varchar(255)', (c) => c.notNull())
    .addColumn('flavor_data', 'varchar(4096)', (c) => c.notNull())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('lb_flavors')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('name', 'varchar(255)', (c) => c.notNull().unique())
    .addColumn('description', 'varchar(255)')
    .addColumn('enabled', 'integer', (c) => c.notNull())
    .addColumn('flavor_profile_id', 'varchar(36)', (c) => c.notNull().references('lb_flavor_profiles.id'))
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('lb_az_profiles')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('provider_name', 'varchar(255)', (c) => c.notNull())
    .addColumn('availability_zone_data', 'varchar(4096)', (c) => c.notNull())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('lb_availability_zones')
    .addColumn('name', 'varchar(255)', (c) => c.primaryKey())
    .addColumn('description', 'varchar(255)')
    .addColumn('enabled', 'integer', (c) => c.notNull())
    .addColumn('availability_zone_profile_id', 'varchar(36)', (c) => c.notNull().references('lb_az_profiles.id'))
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .execute();

  // What serves a load balancer (a namespace with HAProxy or the built-in proxy, or nothing for
  // a noop VIP), shown through Octavia's amphora API; a failover replaces it.
  await db.schema
    .createTable('lb_amphorae')
    .addColumn('id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('loadbalancer_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('compute_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('status', 'varchar(36)', (c) => c.notNull())
    .addColumn('role', 'varchar(36)', (c) => c.notNull())
    // Where the engine serves it when that is not the VIP (loopback placement), else null.
    .addColumn('lb_network_ip', 'varchar(64)')
    .addColumn('vrrp_ip', 'varchar(64)')
    .addColumn('ha_ip', 'varchar(64)')
    .addColumn('vrrp_port_id', 'varchar(36)')
    .addColumn('ha_port_id', 'varchar(36)')
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)')
    .execute();
  await db.schema.createIndex('lb_amphorae_lb').on('lb_amphorae').columns(['loadbalancer_id']).execute();

  // Cumulative traffic counters per listener, written by the engine (they survive reloads).
  await db.schema
    .createTable('lb_listener_stats')
    .addColumn('listener_id', 'varchar(36)', (c) => c.primaryKey())
    .addColumn('loadbalancer_id', 'varchar(36)', (c) => c.notNull())
    .addColumn('bytes_in', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('bytes_out', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('active_connections', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('total_connections', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('request_errors', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute();
}
