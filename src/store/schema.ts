/**
 * Row types of every table, as Kysely sees them. Booleans are 0/1 integers and JSON is text in
 * both dialects, so rows read the same from SQLite and PostgreSQL.
 */
export interface DomainsTable {
  id: string;
  name: string;
  description: string;
  enabled: number;
  /** JSON array of strings. */
  tags: string;
  /** JSON object of attributes Keystone does not know, echoed back as given. */
  extra: string;
  created_at: string;
}

export interface ProjectsTable {
  id: string;
  name: string;
  domain_id: string;
  description: string;
  enabled: number;
  parent_id: string | null;
  tags: string;
  extra: string;
  options: string;
  created_at: string;
}

export interface UsersTable {
  id: string;
  name: string;
  domain_id: string;
  password_hash: string | null;
  enabled: number;
  default_project_id: string | null;
  extra: string;
  options: string;
  created_at: string;
}

export interface RolesTable {
  id: string;
  name: string;
  domain_id: string | null;
  description: string | null;
  extra: string;
  options: string;
}

export interface ImpliedRolesTable {
  prior_role_id: string;
  implied_role_id: string;
}

export interface RoleAssignmentsTable {
  actor_id: string;
  /** 'user' or 'group'. */
  actor_type: string;
  target_type: string; // 'project' | 'domain' | 'system' (target_id 'all')
  target_id: string;
  role_id: string;
  /** OS-INHERIT: 1 for a grant the projects below the target inherit (not the target's own). */
  inherited: number;
}

export interface TokensTable {
  /** sha256 of the token: a leaked database does not leak usable tokens. */
  id_hash: string;
  user_id: string;
  project_id: string | null;
  domain_id: string | null;
  system_scope: number;
  methods: string;
  audit_ids: string;
  issued_at: string;
  expires_at: string;
  revoked: number;
  /** The application credential the token was issued through, if one. */
  app_cred_id: string | null;
  /** The trust the token was issued through, if one. */
  trust_id: string | null;
  /** The OAuth1 access token the token was issued through, if one. */
  oauth_access_token_id: string | null;
}

export interface GroupsTable {
  id: string;
  name: string;
  domain_id: string;
  description: string | null;
  extra: string;
  created_at: string;
}

export interface GroupMembersTable {
  group_id: string;
  user_id: string;
}

export interface ApplicationCredentialsTable {
  id: string;
  name: string;
  user_id: string;
  project_id: string;
  secret_hash: string;
  description: string | null;
  expires_at: string | null;
  unrestricted: number;
  /** JSON list of role ids. */
  roles: string;
  created_at: string;
}

export interface AccessRulesTable {
  id: string;
  /** Keystone's autoincrement id: the order rules are listed in (migration 0230). */
  seq: number;
  user_id: string;
  service: string;
  path: string;
  method: string;
}

export interface ApplicationCredentialAccessRulesTable {
  application_credential_id: string;
  access_rule_id: string;
}

export interface TrustsTable {
  id: string;
  trustor_user_id: string;
  trustee_user_id: string;
  project_id: string | null;
  impersonation: number;
  expires_at: string | null;
  remaining_uses: number | null;
  redelegated_trust_id: string | null;
  redelegation_count: number | null;
  /** JSON list of role ids. */
  roles: string;
  extra: string;
  deleted_at: string | null;
  created_at: string;
}

export interface CredentialsTable {
  id: string;
  user_id: string;
  project_id: string | null;
  type: string;
  /** AES-256-GCM: base64 of iv, tag and ciphertext joined by '.'. */
  encrypted_blob: string;
  extra: string;
  created_at: string;
}

export interface RegisteredLimitsTable {
  id: string;
  service_id: string;
  region_id: string | null;
  resource_name: string;
  default_limit: number;
  description: string | null;
}

export interface LimitsTable {
  id: string;
  project_id: string | null;
  domain_id: string | null;
  service_id: string;
  region_id: string | null;
  resource_name: string;
  resource_limit: number;
  description: string | null;
}

export interface CatalogRegionsTable {
  id: string;
  description: string;
  parent_region_id: string | null;
  extra: string;
}

export interface CatalogServicesTable {
  id: string;
  type: string;
  enabled: number;
  /** JSON: name, description and any other attribute given. */
  extra: string;
  position: number;
}

export interface CatalogEndpointsTable {
  id: string;
  service_id: string;
  interface: string;
  region_id: string | null;
  url: string;
  enabled: number;
  extra: string;
  position: number;
}

export interface CatalogSeededTable {
  type: string;
}

export interface EndpointGroupsTable {
  id: string;
  name: string;
  description: string | null;
  /** JSON object of endpoint attributes. */
  filters: string;
}

export interface ProjectEndpointsTable {
  project_id: string;
  endpoint_id: string;
}

export interface FederationIdpsTable {
  id: string;
  domain_id: string;
  enabled: number;
  description: string | null;
  authorization_ttl: number | null;
  /** JSON list of strings. */
  remote_ids: string;
  created_at: string;
}

export interface FederationProtocolsTable {
  idp_id: string;
  id: string;
  mapping_id: string;
  remote_id_attribute: string | null;
}

export interface FederationMappingsTable {
  id: string;
  /** JSON list of rules. */
  rules: string;
}

export interface FederationSpsTable {
  id: string;
  auth_url: string;
  sp_url: string;
  description: string | null;
  enabled: number;
  relay_state_prefix: string;
  created_at: string;
}

export interface PoliciesTable {
  id: string;
  type: string;
  blob: string;
  extra: string;
  created_at: string;
}

export interface OauthConsumersTable {
  id: string;
  description: string | null;
  encrypted_secret: string;
  extra: string;
  created_at: string;
}

export interface OauthRequestTokensTable {
  id: string;
  encrypted_secret: string;
  consumer_id: string;
  requested_project_id: string;
  role_ids: string | null;
  authorizing_user_id: string | null;
  verifier: string | null;
  expires_at: string | null;
}

export interface OauthAccessTokensTable {
  id: string;
  encrypted_secret: string;
  consumer_id: string;
  authorizing_user_id: string;
  project_id: string;
  role_ids: string;
  expires_at: string | null;
}

export interface DomainConfigsTable {
  domain_id: string;
  grp: string;
  option: string;
  /** JSON value. */
  value: string;
  sensitive: number;
}

export interface ProjectEndpointGroupsTable {
  project_id: string;
  endpoint_group_id: string;
}

export interface StdAttrs {
  id: string;
  project_id: string;
  name: string;
  description: string;
  created_at: string;
  updated_at: string;
  revision_number: number;
}

export interface NetworksTable extends StdAttrs {
  admin_state_up: number;
  status: string;
  shared: number;
  external: number;
  is_default: number;
  mtu: number;
  port_security_enabled: number;
  network_type: string;
  physical_network: string | null;
  segmentation_id: number | null;
  availability_zone_hints: string;
  dns_domain: string;
}

export interface SegmentAllocationsTable {
  network_type: string;
  physical_network: string;
  segmentation_id: number;
  network_id: string;
  /** The segment holding it (null: allocated before segments were kept). */
  segment_id: string | null;
}

/** A network's segments (Neutron's networksegments); the network's own columns name the first. */
export interface NetworkSegmentsTable {
  id: string;
  /** The network's project (segments are an admin's, listed with their network's visibility). */
  project_id: string;
  network_id: string;
  name: string | null;
  description: string | null;
  network_type: string;
  physical_network: string | null;
  segmentation_id: number | null;
  segment_index: number;
  created_at: string;
  updated_at: string;
  revision_number: number;
}

export interface NetworkSegmentRangesTable {
  id: string;
  /** '' when shared with every project. */
  project_id: string;
  name: string;
  description: string;
  is_default: number;
  shared: number;
  network_type: string;
  physical_network: string | null;
  minimum: number;
  maximum: number;
  created_at: string;
  updated_at: string;
  revision_number: number;
}

export interface SubnetsTable extends StdAttrs {
  network_id: string;
  ip_version: number;
  cidr: string;
  gateway_ip: string | null;
  enable_dhcp: number;
  ipv6_ra_mode: string | null;
  ipv6_address_mode: string | null;
  subnetpool_id: string | null;
  segment_id: string | null;
  dns_nameservers: string;
  host_routes: string;
  allocation_pools: string;
  service_types: string;
  dns_publish_fixed_ip: number;
}

/** Free address ranges of a subnet's allocation pools, as fixed-width hex keys (IPv6-safe). */
export interface IpamRangesTable {
  subnet_id: string;
  first_key: string;
  last_key: string;
}

export interface IpAllocationsTable {
  port_id: string;
  network_id: string;
  subnet_id: string;
  ip_address: string;
  ip_key: string;
  /** Order of the fixed IP within its port, as the client gave it. */
  position: number;
}

export interface PortsTable extends StdAttrs {
  network_id: string;
  mac_address: string;
  admin_state_up: number;
  status: string;
  device_id: string;
  device_owner: string;
  port_security_enabled: number;
  binding_host_id: string;
  binding_vif_type: string;
  binding_vnic_type: string;
  binding_profile: string;
  binding_vif_details: string;
  /**
   * The segment the binding chose on binding_host_id (ML2's bottom binding level; migration
   * 0200): null while unbound, after a failed binding, or for a port bound before it was kept.
   */
  binding_segment_id: string | null;
  allowed_address_pairs: string;
  extra_dhcp_opts: string;
  dns_name: string;
  dns_domain: string;
  propagate_uplink_status: number;
  device_profile: string | null;
  numa_affinity_policy: string | null;
  data_plane_status: string | null;
  /** immediate, or none for a port made with `fixed_ips: []`. */
  ip_allocation: string;
}

export interface SecurityGroupsTable extends StdAttrs {
  stateful: number;
}

export interface SecurityGroupRulesTable {
  id: string;
  project_id: string;
  security_group_id: string;
  direction: string;
  ethertype: string;
  protocol: string | null;
  port_range_min: number | null;
  port_range_max: number | null;
  remote_ip_prefix: string | null;
  remote_group_id: string | null;
  remote_address_group_id: string | null;
  normalized_cidr: string | null;
  /** NULL for the rules Neutron makes itself (a group's egress rules, the default group's). */
  description: string | null;
  created_at: string;
  updated_at: string;
  revision_number: number;
  /** Neutron's standard attribute id, rendered for rules embedded in their group. */
  standard_attr_id: number;
}

export interface PortSecurityGroupsTable {
  port_id: string;
  security_group_id: string;
}

/** One row per project that has had its `default` security group made (race-free creation). */
export interface DefaultSecurityGroupsTable {
  project_id: string;
  security_group_id: string;
}

export interface TagsTable {
  resource_type: string;
  resource_id: string;
  tag: string;
}

export interface QuotasTable {
  project_id: string;
  resource: string;
  hard_limit: number;
}

export interface FlavorsTable {
  id: string;
  name: string;
  memory_mb: number;
  vcpus: number;
  root_gb: number;
  ephemeral_gb: number;
  swap: number;
  rxtx_factor: number;
  is_public: number;
  disabled: number;
  description: string | null;
  extra_specs: string;
  created_at: string;
}

export interface FlavorProjectsTable {
  flavor_id: string;
  project_id: string;
}

export interface ServersTable {
  id: string;
  internal_id: number;
  project_id: string;
  user_id: string;
  name: string;
  description: string | null;
  hostname: string;
  flavor_id: string;
  /** JSON: the flavor as booted ({id, name, ram, vcpus, disk, ephemeral, swap, extra_specs}). */
  flavor: string;
  image_id: string;
  key_name: string | null;
  key_data: string | null;
  /** Base64 as the client sent it. */
  user_data: string | null;
  metadata: string;
  availability_zone: string | null;
  access_ipv4: string | null;
  access_ipv6: string | null;
  config_drive: string;
  auto_disk_config: number;
  vm_state: string;
  task_state: string | null;
  power_state: number;
  power_desired: string;
  reboot_seq: number;
  /** The reboot the instance host last reported done (see migration 0009). */
  reboot_done_seq: number;
  /** Bumped by a rebuild: the instance boots from a fresh root file system (migration 0020). */
  rebuild_seq: number;
  progress: number;
  host: string | null;
  locked_by: string | null;
  reservation_id: string;
  launch_index: number;
  requested_networks: string | null;
  security_groups: string;
  fault: string | null;
  launched_at: string | null;
  terminated_at: string | null;
  created_at: string;
  updated_at: string;
  /** JSON object: Nova's instance system metadata (locked_reason, shelved_*, old_vm_state …; migration 0010). */
  system_metadata: string;
  /** JSON [{path, contents (base64)}] or null: personality files, never shown. */
  personality: string | null;
  /** JSON list of certificate ids or null (trusted_image_certificates, 2.63). */
  trusted_certs: string | null;
  /** The availability zone the user asked for (the request spec's; pinned_availability_zone). */
  pinned_az: string | null;
  /** JSON object: the scheduler hints of the create request. */
  scheduler_hints: string;
  /** JSON flavors (as `flavor`) during a resize. */
  old_flavor: string | null;
  new_flavor: string | null;
  /** 1: the instance host boots the rescue image instead of the server's own. */
  rescue: number;
  /**
   * JSON: a build's retry state (Nova's filter_properties['retry'] and the scheduler's alternate
   * hosts: nova/scheduler/utils.py populate_retry, conductor build_instances); null when the
   * build is not retried (a forced host, max_attempts 1) or has ended (migration 0150).
   */
  build_retry: string | null;
}

export interface InstanceActionsTable {
  id: number;
  instance_uuid: string;
  action: string;
  request_id: string;
  user_id: string;
  project_id: string;
  start_time: string;
  finish_time: string | null;
  message: string | null;
  updated_at: string;
}

export interface InstanceActionEventsTable {
  id: number;
  action_id: number;
  event: string;
  start_time: string;
  finish_time: string | null;
  result: string | null;
  traceback: string | null;
  host: string | null;
  details: string | null;
}

export interface MigrationsTable {
  id: number;
  uuid: string;
  instance_uuid: string;
  migration_type: string;
  status: string;
  source_compute: string | null;
  dest_compute: string | null;
  source_node: string | null;
  dest_node: string | null;
  dest_host: string | null;
  old_flavor_id: string | null;
  new_flavor_id: string | null;
  project_id: string;
  user_id: string;
  created_at: string;
  updated_at: string;
}

export interface ServerGroupsTable {
  id: string;
  internal_id: number;
  project_id: string;
  user_id: string;
  name: string;
  policy: string;
  /** JSON object (max_server_per_host). */
  rules: string;
  created_at: string;
}

export interface ServerGroupMembersTable {
  server_id: string;
  group_id: string;
}

export interface AggregatesTable {
  id: number;
  uuid: string;
  name: string;
  created_at: string;
  updated_at: string | null;
}

export interface AggregateHostsTable {
  aggregate_id: number;
  host: string;
}

export interface AggregateMetadataTable {
  aggregate_id: number;
  key: string;
  value: string;
}

export interface ComputeServicesTable {
  id: number;
  uuid: string;
  host: string;
  binary: string;
  topic: string | null;
  disabled: number;
  disabled_reason: string | null;
  forced_down: number;
  report_count: number;
  last_seen_up: string | null;
  created_at: string;
  updated_at: string | null;
}

/** A nova-compute host's compute node (migration 0110): the capacity its host reports. */
export interface ComputeNodesTable {
  host: string;
  vcpus: number;
  memory_mb: number;
  local_gb: number;
  /** Consecutive failed builds on this node (Nova's stats['failed_builds']; migration 0150). */
  failed_builds: number;
  /** The kernel its instances run on (/proc/sys/kernel/random/boot_id); null: it runs no machines. */
  boot_id: string | null;
  /** Its instance host's data-plane prefix and data directory (where a handed-over machine goes). */
  instance_prefix: string | null;
  instance_dir: string | null;
  created_at: string;
  updated_at: string;
}

export interface ComputeQuotaClassesTable {
  class_name: string;
  resource: string;
  hard_limit: number;
}

export interface ServerTombstonesTable {
  id: string;
  project_id: string;
  user_id: string;
  deleted_at: string;
  /** JSON: the ServersTable row when deleted. */
  row: string;
}

export interface ServerInterfacesTable {
  port_id: string;
  server_id: string;
  position: number;
  preserve: number;
  tag: string | null;
}

export interface ServerTagsTable {
  server_id: string;
  tag: string;
}

/** Neutron's agents (migrations 0021, 0090): every host's L2, DHCP, L3 and metadata agents. */
export interface AgentsTable {
  id: string;
  agent_type: string;
  binary: string;
  topic: string;
  host: string;
  admin_state_up: number;
  description: string | null;
  /** JSON: what the agent reports of itself. */
  configurations: string;
  created_at: string;
  started_at: string;
  heartbeat_timestamp: string;
  /** What the agent reports (DHCP and L3 agents; null for the others). */
  availability_zone: string | null;
}

/** Routers scheduled to L3 agents (migration 0090; binding_index 1 for a legacy router). */
export interface RouterL3AgentBindingsTable {
  router_id: string;
  l3_agent_id: string;
  binding_index: number;
}

/** Each project's HA network (l3-ha, migration 0120). */
export interface HaRouterNetworksTable {
  project_id: string;
  network_id: string;
}

/** VRRP ids in use on an HA network. */
export interface HaRouterVridAllocationsTable {
  network_id: string;
  vr_id: number;
}

/** An HA router's port for one L3 agent, and the state that agent reports (active, standby, unknown). */
export interface HaRouterAgentPortBindingsTable {
  port_id: string;
  router_id: string;
  l3_agent_id: string | null;
  state: string;
}

/** Networks scheduled to DHCP agents (migration 0021). */
export interface NetworkDhcpAgentBindingsTable {
  network_id: string;
  dhcp_agent_id: string;
}

export interface KeypairsTable {
  id: number;
  user_id: string;
  name: string;
  type: string;
  public_key: string;
  fingerprint: string;
  created_at: string;
}

export interface ComputeQuotasTable {
  project_id: string;
  resource: string;
  hard_limit: number;
}

export interface ImagesTable {
  id: string;
  name: string | null;
  owner: string | null;
  visibility: string;
  status: string;
  container_format: string | null;
  disk_format: string | null;
  size: number | string | null;
  virtual_size: number | string | null;
  checksum: string | null;
  os_hash_algo: string | null;
  os_hash_value: string | null;
  min_disk: number;
  min_ram: number;
  protected: number;
  os_hidden: number;
  created_at: string;
  updated_at: string;
}

export interface ImagePropertiesTable {
  image_id: string;
  name: string;
  value: string;
}

export interface ImageTagsTable {
  image_id: string;
  tag: string;
  position: number;
}

export interface ImageMembersTable {
  image_id: string;
  member: string;
  status: string;
  created_at: string;
  updated_at: string;
}

/** Where an image's data lives: ordered, `metadata` is JSON text carrying the store id. */
export interface ImageLocationsTable {
  image_id: string;
  position: number;
  url: string;
  metadata: string;
  status: string;
}

/** Glance's tasks; `input` and `result` are JSON text. */
export interface ImageTasksTable {
  id: string;
  type: string;
  status: string;
  owner: string;
  image_id: string | null;
  user_id: string | null;
  request_id: string | null;
  input: string | null;
  result: string | null;
  message: string;
  expires_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface MetadefNamespacesTable {
  id: string;
  namespace: string;
  display_name: string | null;
  description: string | null;
  visibility: string | null;
  protected: number | null;
  owner: string;
  created_at: string;
  updated_at: string | null;
}

export interface MetadefObjectsTable {
  id: string;
  namespace_id: string;
  name: string;
  description: string | null;
  /** Comma-separated property names, as Glance stores them. */
  required: string | null;
  /** JSON text: property name → property type. */
  json_schema: string;
  created_at: string;
  updated_at: string | null;
}

export interface MetadefPropertiesTable {
  id: string;
  namespace_id: string;
  name: string;
  /** JSON text: the property type. */
  json_schema: string;
  created_at: string;
  updated_at: string | null;
}

export interface MetadefTagsTable {
  id: string;
  namespace_id: string;
  name: string;
  created_at: string;
  updated_at: string | null;
}

export interface MetadefResourceTypesTable {
  id: string;
  name: string;
  protected: number;
  created_at: string;
  updated_at: string | null;
}

export interface MetadefNamespaceResourceTypesTable {
  resource_type_id: string;
  namespace_id: string;
  properties_target: string | null;
  prefix: string | null;
  created_at: string;
  updated_at: string | null;
}

export interface MetadefCatalogLoadsTable {
  name: string;
  loaded_at: string;
}

export interface RoutersTable {
  id: string;
  project_id: string;
  name: string;
  description: string;
  admin_state_up: number;
  status: string;
  gw_port_id: string | null;
  enable_snat: number;
  /** l3-ext-ndp-proxy's state (shown only while the router has a gateway). */
  enable_ndp_proxy: number;
  flavor_id: string | null;
  /** JSON list (router_availability_zone, migration 0090). */
  availability_zone_hints: string;
  /** l3-ha: 1 for an HA router (migration 0120). */
  ha: number;
  /** The router's VRRP id on its project's HA network, once it is scheduled (1..254). */
  ha_vr_id: number | null;
  created_at: string;
  updated_at: string;
  revision_number: number;
}

export interface RouterPortsTable {
  port_id: string;
  router_id: string;
  /** network:router_gateway or network:router_interface. */
  port_type: string;
}

export interface RouterRoutesTable {
  router_id: string;
  destination: string;
  nexthop: string;
  position: number;
}

export interface FloatingIpsTable {
  id: string;
  project_id: string;
  description: string;
  floating_network_id: string;
  floating_ip_address: string;
  floating_port_id: string;
  fixed_port_id: string | null;
  fixed_ip_address: string | null;
  router_id: string | null;
  status: string;
  created_at: string;
  updated_at: string;
  revision_number: number;
}

/** Columns every load-balancing object shares (Octavia's provisioning/operating status pair). */
export interface LbBase {
  id: string;
  project_id: string;
  name: string | null;
  provisioning_status: string;
  operating_status: string;
  admin_state_up: number;
  /** Which API created the object: 'v2' (Octavia) or 'v1' (Neutron LBaaS v1). */
  api: string;
  created_at: string;
  updated_at: string | null;
}

export interface LbLoadBalancersTable extends LbBase {
  description: string | null;
  provider: string;
  flavor_id: string | null;
  availability_zone: string | null;
  vip_address: string | null;
  vip_port_id: string | null;
  vip_subnet_id: string | null;
  vip_network_id: string | null;
  vip_qos_policy_id: string | null;
  vip_kind: string;
}

export interface LbListenersTable extends LbBase {
  description: string | null;
  loadbalancer_id: string;
  protocol: string;
  transport: string;
  protocol_port: number;
  connection_limit: number;
  default_pool_id: string | null;
  timeout_client_data: number;
  timeout_member_connect: number;
  timeout_member_data: number;
  timeout_tcp_inspect: number;
  insert_headers: string;
  allowed_cidrs: string | null;
  default_tls_container_ref: string | null;
  sni_container_refs: string;
  client_ca_tls_container_ref: string | null;
  client_authentication: string;
  client_crl_container_ref: string | null;
  tls_ciphers: string | null;
  tls_versions: string | null;
  alpn_protocols: string | null;
}

export interface LbPoolsTable extends LbBase {
  description: string | null;
  loadbalancer_id: string | null;
  protocol: string;
  lb_algorithm: string;
  sp_type: string | null;
  sp_cookie_name: string | null;
  sp_persistence_timeout: number | null;
  sp_persistence_granularity: string | null;
  tls_enabled: number;
  tls_container_ref: string | null;
  ca_tls_container_ref: string | null;
  crl_container_ref: string | null;
  tls_ciphers: string | null;
  tls_versions: string | null;
  alpn_protocols: string | null;
  subnet_id: string | null;
  status_description: string | null;
}

export interface LbMembersTable extends LbBase {
  pool_id: string;
  address: string;
  protocol_port: number;
  weight: number;
  backup: number;
  subnet_id: string | null;
  monitor_address: string | null;
  monitor_port: number | null;
  status_description: string | null;
}

export interface LbHealthMonitorsTable extends LbBase {
  pool_id: string | null;
  type: string;
  delay: number;
  timeout: number;
  max_retries: number;
  max_retries_down: number;
  http_method: string | null;
  url_path: string | null;
  expected_codes: string | null;
  http_version: string | null;
  domain_name: string | null;
}

export interface LbV1PoolMonitorsTable {
  pool_id: string;
  monitor_id: string;
  status: string;
  status_description: string | null;
  created_at: string;
}

export interface LbL7PoliciesTable extends LbBase {
  description: string | null;
  listener_id: string;
  action: string;
  redirect_pool_id: string | null;
  redirect_url: string | null;
  redirect_prefix: string | null;
  redirect_http_code: number | null;
  position: number;
}

export interface LbL7RulesTable extends LbBase {
  l7policy_id: string;
  type: string;
  compare_type: string;
  key: string | null;
  value: string;
  invert: number;
}

export interface LbQuotasTable {
  project_id: string;
  load_balancer: number | null;
  listener: number | null;
  pool: number | null;
  health_monitor: number | null;
  member: number | null;
  l7policy: number | null;
  l7rule: number | null;
}

export interface LbFlavorProfilesTable {
  id: string;
  name: string;
  provider_name: string;
  flavor_data: string;
  created_at: string;
}

export interface LbFlavorsTable {
  id: string;
  name: string;
  description: string | null;
  enabled: number;
  flavor_profile_id: string;
  created_at: string;
}

export interface LbAzProfilesTable {
  id: string;
  name: string;
  provider_name: string;
  availability_zone_data: string;
  created_at: string;
}

export interface LbAvailabilityZonesTable {
  name: string;
  description: string | null;
  enabled: number;
  availability_zone_profile_id: string;
  created_at: string;
}

export interface LbAmphoraeTable {
  id: string;
  loadbalancer_id: string;
  compute_id: string;
  status: string;
  role: string;
  lb_network_ip: string | null;
  vrrp_ip: string | null;
  ha_ip: string | null;
  vrrp_port_id: string | null;
  ha_port_id: string | null;
  created_at: string;
  updated_at: string | null;
}

export interface LbListenerStatsTable {
  listener_id: string;
  loadbalancer_id: string;
  bytes_in: number;
  bytes_out: number;
  active_connections: number;
  total_connections: number;
  request_errors: number;
}

export interface SubnetpoolsTable {
  id: string;
  project_id: string;
  name: string;
  description: string;
  ip_version: number;
  default_prefixlen: number;
  min_prefixlen: number;
  max_prefixlen: number;
  default_quota: number | null;
  is_default: number;
  shared: number;
  address_scope_id: string | null;
  created_at: string;
  updated_at: string;
  revision_number: number;
}

export interface SubnetpoolPrefixesTable {
  subnetpool_id: string;
  cidr: string;
}

export interface MeteringLabelsTable {
  id: string;
  project_id: string;
  name: string;
  description: string;
  shared: number;
}

export interface MeteringLabelRulesTable {
  id: string;
  project_id: string;
  metering_label_id: string;
  direction: string;
  remote_ip_prefix: string | null;
  source_ip_prefix: string | null;
  destination_ip_prefix: string | null;
  excluded: number;
}

/** An RBAC policy (Neutron keeps one table per object type; here one, told apart by object_type). */
export interface RbacPoliciesTable {
  id: string;
  project_id: string;
  object_type: string;
  object_id: string;
  action: string;
  /** A project id, or `*` for every project. */
  target_tenant: string;
}

/** Address scopes: no standard attributes in Neutron (no description, revision or timestamps). */
export interface AddressScopesTable {
  id: string;
  project_id: string;
  name: string;
  ip_version: number;
}

export interface AddressGroupsTable extends StdAttrs {}

export interface AddressGroupAddressesTable {
  address_group_id: string;
  /** Normalised CIDR text. */
  address: string;
}

export interface NdpProxiesTable extends StdAttrs {
  router_id: string;
  port_id: string;
  ip_address: string;
}

export interface ConntrackHelpersTable {
  id: string;
  /** The router's project. */
  project_id: string;
  router_id: string;
  protocol: string;
  port: number;
  helper: string;
}

export interface LocalIpsTable extends StdAttrs {
  local_port_id: string;
  network_id: string;
  local_ip_address: string;
  ip_mode: string;
}

/** A port associated with a local IP; `id` is the port's id. */
export interface LocalIpAssociationsTable {
  id: string;
  project_id: string;
  local_ip_id: string;
  fixed_ip: string;
}

export interface LogsTable extends StdAttrs {
  resource_type: string;
  resource_id: string | null;
  target_id: string | null;
  event: string;
  enabled: number;
}

/** Neutron's service flavors (Nova's flavors are `flavors`). */
export interface NetworkFlavorsTable {
  id: string;
  project_id: string;
  name: string;
  description: string;
  service_type: string;
  enabled: number;
}

export interface ServiceProfilesTable {
  id: string;
  project_id: string;
  description: string;
  driver: string;
  enabled: number;
  metainfo: string;
}

/** A service profile bound to a flavor; `id` is the profile's id. */
export interface FlavorServiceProfilesTable {
  id: string;
  project_id: string;
  flavor_id: string;
}

export interface AutoAllocatedTopologiesTable {
  project_id: string;
  network_id: string;
  router_id: string | null;
}

/** A QoS policy; `shared` until RBAC policies share it (then derived from them). */
export interface QosPoliciesTable extends StdAttrs {
  shared: number;
}

export interface QosDefaultPoliciesTable {
  project_id: string;
  policy_id: string;
}

/** One rule of a policy; the columns its kind does not use are null. */
export interface QosRulesTable {
  id: string;
  policy_id: string;
  /** The policy's project. */
  project_id: string;
  /** bandwidth_limit, dscp_marking, minimum_bandwidth, minimum_packet_rate, packet_rate_limit. */
  type: string;
  direction: string | null;
  max_kbps: number | null;
  max_burst_kbps: number | null;
  min_kbps: number | null;
  dscp_mark: number | null;
  max_kpps: number | null;
  max_burst_kpps: number | null;
  min_kpps: number | null;
  created_at: string;
}

export interface QosNetworkBindingsTable {
  network_id: string;
  policy_id: string;
}

export interface QosPortBindingsTable {
  port_id: string;
  policy_id: string;
}

export interface QosFipBindingsTable {
  fip_id: string;
  policy_id: string;
}

export interface QosRouterBindingsTable {
  router_id: string;
  policy_id: string;
}

export interface TrunksTable extends StdAttrs {
  admin_state_up: number;
  status: string;
  port_id: string;
}

export interface TrunkSubportsTable {
  port_id: string;
  trunk_id: string;
  segmentation_type: string;
  segmentation_id: number;
  /** Order of addition (a trunk lists its subports in it). */
  position: number;
}

export interface PortForwardingsTable {
  id: string;
  floatingip_id: string;
  /** The floating IP's project. */
  project_id: string;
  protocol: string;
  internal_port_id: string;
  internal_ip_address: string;
  internal_port_start: number;
  internal_port_end: number;
  external_port_start: number;
  external_port_end: number;
  description: string;
  created_at: string;
}

export interface KmSecretsTable {
  id: string;
  project_id: string;
  creator_id: string | null;
  name: string | null;
  secret_type: string;
  algorithm: string | null;
  bit_length: number | null;
  mode: string | null;
  expiration: string | null;
  status: string;
  content_type: string | null;
  /** Sealed (core/keymanager/seal.ts), never the clear payload. */
  payload: string | null;
  created_at: string;
  updated_at: string;
}

export interface KmContainersTable {
  id: string;
  project_id: string;
  creator_id: string | null;
  name: string | null;
  type: string;
  status: string;
  created_at: string;
  updated_at: string;
}

export interface KmContainerSecretsTable {
  container_id: string;
  name: string | null;
  secret_id: string;
  position: number;
}

export interface KmContainerConsumersTable {
  container_id: string;
  name: string;
  url: string;
  created_at: string;
  /** The project that registered it (null for consumers registered before 0250). */
  project_id: string | null;
}

export interface KmOrdersTable {
  id: string;
  project_id: string;
  creator_id: string | null;
  /** 'key' or 'asymmetric'. */
  type: string;
  /** PENDING, ACTIVE or ERROR. */
  status: string;
  /** The order's `meta` as validated, JSON text. */
  meta: string;
  secret_id: string | null;
  container_id: string | null;
  error_status_code: string | null;
  error_reason: string | null;
  created_at: string;
  updated_at: string;
}

export interface KmProjectQuotasTable {
  project_id: string;
  secrets: number | null;
  orders: number | null;
  containers: number | null;
  consumers: number | null;
  cas: number | null;
  created_at: string;
  updated_at: string;
}

export interface KmSecretMetadataTable {
  secret_id: string;
  key: string;
  value: string;
  created_at: string;
  updated_at: string;
}

export interface KmSecretConsumersTable {
  secret_id: string;
  project_id: string;
  service: string;
  resource_type: string;
  resource_id: string;
  created_at: string;
}

export interface KmAclsTable {
  entity_type: string;
  entity_id: string;
  operation: string;
  project_access: number;
  created_at: string;
  updated_at: string;
}

export interface KmAclUsersTable {
  entity_type: string;
  entity_id: string;
  operation: string;
  user_id: string;
}

/**
 * Integer ids that are never given twice, as a database's autoincrement gives them (migration
 * 0191): `last` is the highest id a sequence has handed out, whatever was deleted since.
 */
export interface IdSequencesTable {
  name: string;
  last: number;
}

export interface DB {
  domains: DomainsTable;
  projects: ProjectsTable;
  users: UsersTable;
  roles: RolesTable;
  implied_roles: ImpliedRolesTable;
  role_assignments: RoleAssignmentsTable;
  tokens: TokensTable;
  groups: GroupsTable;
  group_members: GroupMembersTable;
  application_credentials: ApplicationCredentialsTable;
  access_rules: AccessRulesTable;
  application_credential_access_rules: ApplicationCredentialAccessRulesTable;
  trusts: TrustsTable;
  credentials: CredentialsTable;
  registered_limits: RegisteredLimitsTable;
  limits: LimitsTable;
  catalog_regions: CatalogRegionsTable;
  catalog_services: CatalogServicesTable;
  catalog_endpoints: CatalogEndpointsTable;
  catalog_seeded: CatalogSeededTable;
  endpoint_groups: EndpointGroupsTable;
  project_endpoints: ProjectEndpointsTable;
  project_endpoint_groups: ProjectEndpointGroupsTable;
  federation_idps: FederationIdpsTable;
  federation_protocols: FederationProtocolsTable;
  federation_mappings: FederationMappingsTable;
  federation_sps: FederationSpsTable;
  policies: PoliciesTable;
  oauth_consumers: OauthConsumersTable;
  oauth_request_tokens: OauthRequestTokensTable;
  oauth_access_tokens: OauthAccessTokensTable;
  domain_configs: DomainConfigsTable;
  networks: NetworksTable;
  segment_allocations: SegmentAllocationsTable;
  subnets: SubnetsTable;
  ipam_ranges: IpamRangesTable;
  ip_allocations: IpAllocationsTable;
  ports: PortsTable;
  security_groups: SecurityGroupsTable;
  security_group_rules: SecurityGroupRulesTable;
  port_security_groups: PortSecurityGroupsTable;
  default_security_groups: DefaultSecurityGroupsTable;
  tags: TagsTable;
  quotas: QuotasTable;
  flavors: FlavorsTable;
  flavor_projects: FlavorProjectsTable;
  servers: ServersTable;
  server_interfaces: ServerInterfacesTable;
  server_tags: ServerTagsTable;
  agents: AgentsTable;
  network_dhcp_agent_bindings: NetworkDhcpAgentBindingsTable;
  router_l3_agent_bindings: RouterL3AgentBindingsTable;
  ha_router_networks: HaRouterNetworksTable;
  ha_router_vrid_allocations: HaRouterVridAllocationsTable;
  ha_router_agent_port_bindings: HaRouterAgentPortBindingsTable;
  keypairs: KeypairsTable;
  compute_quotas: ComputeQuotasTable;
  instance_actions: InstanceActionsTable;
  instance_action_events: InstanceActionEventsTable;
  migrations: MigrationsTable;
  server_groups: ServerGroupsTable;
  server_group_members: ServerGroupMembersTable;
  aggregates: AggregatesTable;
  id_sequences: IdSequencesTable;
  aggregate_hosts: AggregateHostsTable;
  aggregate_metadata: AggregateMetadataTable;
  compute_services: ComputeServicesTable;
  compute_nodes: ComputeNodesTable;
  server_tombstones: ServerTombstonesTable;
  compute_quota_classes: ComputeQuotaClassesTable;
  images: ImagesTable;
  image_properties: ImagePropertiesTable;
  image_tags: ImageTagsTable;
  image_members: ImageMembersTable;
  image_locations: ImageLocationsTable;
  image_tasks: ImageTasksTable;
  metadef_namespaces: MetadefNamespacesTable;
  metadef_objects: MetadefObjectsTable;
  metadef_properties: MetadefPropertiesTable;
  metadef_tags: MetadefTagsTable;
  metadef_resource_types: MetadefResourceTypesTable;
  metadef_namespace_resource_types: MetadefNamespaceResourceTypesTable;
  metadef_catalog_loads: MetadefCatalogLoadsTable;
  routers: RoutersTable;
  router_ports: RouterPortsTable;
  router_routes: RouterRoutesTable;
  floating_ips: FloatingIpsTable;
  lb_loadbalancers: LbLoadBalancersTable;
  lb_listeners: LbListenersTable;
  lb_pools: LbPoolsTable;
  lb_members: LbMembersTable;
  lb_healthmonitors: LbHealthMonitorsTable;
  lb_v1_pool_monitors: LbV1PoolMonitorsTable;
  lb_l7policies: LbL7PoliciesTable;
  lb_l7rules: LbL7RulesTable;
  lb_quotas: LbQuotasTable;
  lb_flavor_profiles: LbFlavorProfilesTable;
  lb_flavors: LbFlavorsTable;
  lb_az_profiles: LbAzProfilesTable;
  lb_availability_zones: LbAvailabilityZonesTable;
  lb_listener_stats: LbListenerStatsTable;
  lb_amphorae: LbAmphoraeTable;
  subnetpools: SubnetpoolsTable;
  subnetpool_prefixes: SubnetpoolPrefixesTable;
  metering_labels: MeteringLabelsTable;
  metering_label_rules: MeteringLabelRulesTable;
  rbac_policies: RbacPoliciesTable;
  address_scopes: AddressScopesTable;
  address_groups: AddressGroupsTable;
  address_group_addresses: AddressGroupAddressesTable;
  network_segments: NetworkSegmentsTable;
  network_segment_ranges: NetworkSegmentRangesTable;
  ndp_proxies: NdpProxiesTable;
  conntrack_helpers: ConntrackHelpersTable;
  local_ips: LocalIpsTable;
  local_ip_associations: LocalIpAssociationsTable;
  logs: LogsTable;
  network_flavors: NetworkFlavorsTable;
  service_profiles: ServiceProfilesTable;
  flavor_service_profiles: FlavorServiceProfilesTable;
  auto_allocated_topologies: AutoAllocatedTopologiesTable;
  qos_policies: QosPoliciesTable;
  qos_default_policies: QosDefaultPoliciesTable;
  qos_rules: QosRulesTable;
  qos_network_bindings: QosNetworkBindingsTable;
  qos_port_bindings: QosPortBindingsTable;
  qos_fip_bindings: QosFipBindingsTable;
  qos_router_bindings: QosRouterBindingsTable;
  trunks: TrunksTable;
  trunk_subports: TrunkSubportsTable;
  port_forwardings: PortForwardingsTable;
  km_secrets: KmSecretsTable;
  km_containers: KmContainersTable;
  km_container_secrets: KmContainerSecretsTable;
  km_container_consumers: KmContainerConsumersTable;
  km_orders: KmOrdersTable;
  km_project_quotas: KmProjectQuotasTable;
  km_secret_metadata: KmSecretMetadataTable;
  km_secret_consumers: KmSecretConsumersTable;
  km_acls: KmAclsTable;
  km_acl_users: KmAclUsersTable;
}
