/**
 * Neutron API extensions: what each alias is called and says about itself (as real Neutron lists
 * them). Which aliases are *advertised* is decided by what is registered at start-up, never by
 * this table: GET /v2.0/extensions lists exactly what is implemented.
 */
export interface ExtensionInfo {
  name: string;
  description: string;
  updated: string;
}

export const EXTENSIONS: Record<string, ExtensionInfo> = {
  // As Neutron Zed lists them (test/fixtures/neutron-ext/extensions.json).
  'address-group': { name: 'Address group', description: 'Support address group', updated: '2020-07-15T10:00:00-00:00' },
  'address-scope': { name: 'Address scope', description: 'Address scopes extension.', updated: '2015-07-26T10:00:00-00:00' },
  agent: { name: 'agent', description: 'The agent management extension.', updated: '2013-02-03T10:00:00-00:00' },
  'agent-resources-synced': {
    name: "Agent's Resource View Synced to Placement",
    description: 'Stores success/failure of last sync to Placement',
    updated: '2018-12-19T00:00:00-00:00',
  },
  'allowed-address-pairs': { name: 'Allowed Address Pairs', description: 'Provides allowed address pairs', updated: '2013-07-23T10:00:00-00:00' },
  'auto-allocated-topology': {
    name: 'Auto Allocated Topology Services',
    description: 'Auto Allocated Topology Services.',
    updated: '2016-01-01T00:00:00-00:00',
  },
  availability_zone: { name: 'Availability Zone', description: 'The availability zone extension.', updated: '2015-01-01T10:00:00-00:00' },
  availability_zone_filter: {
    name: 'Availability Zone Filter Extension',
    description: 'Add filter parameters to AvailabilityZone resource',
    updated: '2018-06-22T10:00:00-00:00',
  },
  binding: { name: 'Port Binding', description: 'Expose port bindings of a virtual port to external application', updated: '2014-02-03T10:00:00-00:00' },
  'binding-extended': {
    name: 'Port Bindings Extended',
    description: 'Expose port bindings of a virtual port to external application',
    updated: '2017-07-17T10:00:00-00:00',
  },
  'data-plane-status': {
    name: 'Port data plane status extension',
    description: 'Expose status of underlying data plane',
    updated: '2017-01-24T10:00:00-00:00',
  },
  'default-subnetpools': {
    name: 'Default Subnetpools',
    description: 'Provides ability to mark and use a subnetpool as the default.',
    updated: '2016-02-18T18:00:00-00:00',
  },
  dhcp_agent_scheduler: { name: 'DHCP Agent Scheduler', description: 'Schedule networks among dhcp agents', updated: '2013-02-07T10:00:00-00:00' },
  'dns-domain-ports': {
    name: 'dns_domain for ports',
    description: 'Allows the DNS domain to be specified for a network port.',
    updated: '2017-04-24T10:00:00-00:00',
  },
  'dns-integration': { name: 'DNS Integration', description: 'Provides integration with DNS.', updated: '2015-08-15T18:00:00-00:00' },
  'dns-integration-domain-keywords': {
    name: 'DNS domain names with keywords allowed',
    description: 'Allows to use keywords like <project_id>, <project_name>, <user_id> and <user_name> as DNS domain name',
    updated: '2020-06-15T18:00:00-00:00',
  },
  dvr: { name: 'Distributed Virtual Router', description: 'Enables configuration of Distributed Virtual Routers.', updated: '2014-06-1T10:00:00-00:00' },
  'empty-string-filtering': {
    name: 'Empty String Filtering Extension',
    description: 'Allow filtering by attributes with empty string value',
    updated: '2018-05-01T10:00:00-00:00',
  },
  'expose-l3-conntrack-helper': {
    name: 'Expose CT target rules for conntrack helper',
    description: 'Expose allow adding CT target rules for conntrack helper',
    updated: '2019-04-04T10:00:00-00:00',
  },
  'expose-port-forwarding-in-fip': {
    name: 'Expose Floating IP port forwardings',
    description: 'Expose port forwarding fields in floating IP response',
    updated: '2018-06-28T16:00:00-00:00',
  },
  'ext-gw-mode': {
    name: 'Neutron L3 Configurable external gateway mode',
    description: 'Extension of the router abstraction for specifying whether SNAT should occur on the external gateway',
    updated: '2013-03-28T10:00:00-00:00',
  },
  'external-net': {
    name: 'Neutron external network',
    description: 'Adds external network attribute to network resource.',
    updated: '2013-01-14T10:00:00-00:00',
  },
  extra_dhcp_opt: {
    name: 'Neutron Extra DHCP options',
    description:
      'Extra options configuration for DHCP. For example PXE boot options to DHCP clients can be specified (e.g. tftp-server, server-ip-address, bootfile-name)',
    updated: '2013-03-17T12:00:00-00:00',
  },
  extraroute: { name: 'Neutron Extra Route', description: 'Extra routes configuration for L3 router', updated: '2013-02-01T10:00:00-00:00' },
  'extraroute-atomic': {
    name: 'Atomically add/remove extra routes',
    description: 'Edit extra routes of a router on server side by atomically adding/removing extra routes',
    updated: '2019-07-10T00:00:00+00:00',
  },
  'filter-validation': { name: 'Filter parameters validation', description: 'Provides validation on filter parameters.', updated: '2018-07-04T10:00:00-00:00' },
  'fip-port-details': {
    name: 'Floating IP Port Details Extension',
    description: 'Add port_details attribute to Floating IP resource',
    updated: '2018-04-09T10:00:00-00:00',
  },
  flavors: { name: 'Neutron Service Flavors', description: 'Flavor specification for Neutron advanced services.', updated: '2015-09-17T10:00:00-00:00' },
  'floating-ip-port-forwarding': {
    name: 'Floating IP Port Forwarding',
    description: 'Allow port forwarding from floating IP port to an internal port',
    updated: '2018-01-19T10:00:00-00:00',
  },
  'floating-ip-port-forwarding-description': {
    name: 'Floating IP Port Forwarding new attribute description',
    description: 'Add a description field to Port Forwarding rules',
    updated: '2019-11-01T10:00:00-00:00',
  },
  'floating-ip-port-forwarding-detail': {
    name: 'Floating IP port forwarding detail',
    description: "Allow list floating ip return more port forwarding data, include'id' and 'internal_port_id'",
    updated: '2022-05-06T10:00:00-00:00',
  },
  'floating-ip-port-forwarding-port-ranges': {
    name: 'Floating IP Port Forwarding support port ranges',
    description: 'Add suport to port ranges',
    updated: '2020-07-01T10:00:00-00:00',
  },
  'floatingip-pools': { name: 'Floating IP Pools Extension', description: 'Provides a floating IP pools API.', updated: '2018-03-21T10:00:00-00:00' },
  'ip-substring-filtering': {
    name: 'IP address substring filtering',
    description: 'Provides IP address substring filtering when listing ports',
    updated: '2017-11-28T09:00:00-00:00',
  },
  ip_allocation: { name: 'IP Allocation', description: 'IP allocation extension.', updated: '2016-06-10T23:00:00-00:00' },
  l2_adjacency: { name: 'L2 Adjacency', description: 'Display L2 Adjacency for Neutron Networks.', updated: '2016-04-12T16:00:00-00:00' },
  'l3-conntrack-helper': {
    name: 'L3 Conntrack helper',
    description: 'Allow adding CT target rules for conntrack helper',
    updated: '2019-04-04T10:00:00-00:00',
  },
  'l3-ext-ndp-proxy': { name: 'Router support to enable NDP proxy', description: 'Router extension to enable ndp proxy', updated: '2020-08-25T00:00:00-00:00' },
  'l3-flavors': { name: 'Router Flavor Extension', description: 'Flavor support for routers.', updated: '2016-05-17T00:00:00-00:00' },
  'l3-ha': { name: 'HA Router extension', description: 'Adds HA capability to routers.', updated: '2014-04-26T00:00:00-00:00' },
  'l3-ndp-proxy': { name: 'name', description: 'description', updated: '2021-06-29T10:00:00-00:00' },
  'l3-port-ip-change-not-allowed': {
    name: 'Prevent L3 router ports IP address change extension',
    description: 'Prevent change of IP address for some L3 router ports',
    updated: '2018-10-09T10:00:00-00:00',
  },
  l3_agent_scheduler: { name: 'L3 Agent Scheduler', description: 'Schedule routers among l3 agents', updated: '2013-02-07T10:00:00-00:00' },
  local_ip: { name: 'Local IP', description: 'Support Node Local Virtual IP', updated: '2021-07-26T10:00:00-00:00' },
  logging: {
    name: 'Logging API Extension',
    description: 'Provides a logging API for resources such as security group and firewall.',
    updated: '2017-01-01T10:00:00-00:00',
  },
  metering: { name: 'Neutron Metering', description: 'Neutron Metering extension.', updated: '2013-06-12T10:00:00-00:00' },
  metering_source_and_destination_fields: {
    name: 'Neutron Metering with source and destination filtering',
    description: 'Neutron Metering extension that enables the use of source and destination IP prefixes to create metering label rules.',
    updated: '2020-08-21T08:12:00-00:00',
  },
  'multi-provider': {
    name: 'Multi Provider Network',
    description: 'Expose mapping of virtual networks to multiple physical networks',
    updated: '2013-06-27T10:00:00-00:00',
  },
  'net-mtu': { name: 'Network MTU', description: 'Provides MTU attribute for a network resource.', updated: '2015-03-25T10:00:00-00:00' },
  'net-mtu-writable': {
    name: 'Network MTU (writable)',
    description: 'Provides a writable MTU attribute for a network resource.',
    updated: '2017-07-12T00:00:00-00:00',
  },
  'network-ip-availability': {
    name: 'Network IP Availability',
    description: 'Provides IP availability data for each network and subnet.',
    updated: '2015-09-24T00:00:00-00:00',
  },
  'network-segment-range': {
    name: 'Neutron Network Segment Range',
    description: 'Provides support for the network segment range management',
    updated: '2018-11-29T00:00:00-00:00',
  },
  network_availability_zone: { name: 'Network Availability Zone', description: 'Availability zone support for network.', updated: '2015-01-01T10:00:00-00:00' },
  pagination: { name: 'Pagination support', description: 'Extension that indicates that pagination is enabled.', updated: '2016-06-12T00:00:00-00:00' },
  'port-device-profile': { name: 'Port device profile', description: 'Expose the port device profile (Cyborg)', updated: '2020-12-17T10:00:00-00:00' },
  'port-mac-address-regenerate': {
    name: 'Neutron Port MAC address regenerate',
    description: 'Network port MAC address regenerate',
    updated: '2018-05-03T10:00:00-00:00',
  },
  'port-mac-override': {
    name: 'Neutron Port MAC address override',
    description: 'Allow overriding the MAC address of a direct-physical Port via the active binding profile',
    updated: '2022-03-18T10:00:00-00:00',
  },
  'port-numa-affinity-policy': { name: 'Port NUMA affinity policy', description: 'Expose the port NUMA affinity policy', updated: '2020-07-08T10:00:00-00:00' },
  'port-resource-request': { name: 'Port Resource Request', description: 'Expose resource request to Port', updated: '2018-05-08T10:00:00-00:00' },
  'port-resource-request-groups': {
    name: 'Port Resource Request Groups',
    description: 'Support requesting multiple groups of resources and traits from the same RP subtree in resource_request',
    updated: '2021-08-02T10:00:00-00:00',
  },
  'port-security': { name: 'Port Security', description: 'Provides port security', updated: '2012-07-23T10:00:00-00:00' },
  'port-security-groups-filtering': {
    name: 'Port filtering on security groups',
    description: 'Provides security groups filtering when listing ports',
    updated: '2018-01-09T09:00:00-00:00',
  },
  'project-id': {
    name: 'project_id field enabled',
    description: 'Extension that indicates that project_id field is enabled.',
    updated: '2016-09-09T09:09:09-09:09',
  },
  provider: { name: 'Provider Network', description: 'Expose mapping of virtual networks to physical networks', updated: '2012-09-07T10:00:00-00:00' },
  qos: { name: 'Quality of Service', description: 'The Quality of Service extension.', updated: '2015-06-08T10:00:00-00:00' },
  'qos-bw-limit-direction': {
    name: 'Direction for QoS bandwidth limit rule',
    description: 'Allow to configure QoS bandwidth limit rule with specific direction: ingress or egress',
    updated: '2017-04-10T10:00:00-00:00',
  },
  'qos-bw-minimum-ingress': {
    name: 'Ingress direction for QoS minimum bandwidth rule',
    description: 'Allow to configure QoS minumum bandwidth rule with ingress direction.',
    updated: '2018-07-09T10:00:00-00:00',
  },
  'qos-default': { name: 'QoS default policy', description: 'Expose the QoS default policy per project', updated: '2017-041-06T10:00:00-00:00' },
  'qos-fip': { name: 'Floating IP QoS', description: 'The floating IP Quality of Service extension', updated: '2017-07-20T00:00:00-00:00' },
  'qos-gateway-ip': { name: 'Router gateway IP QoS', description: 'The Router gateway IP Quality of Service extension', updated: '2018-02-24T00:00:00-00:00' },
  'qos-port-network-policy': {
    name: 'QoS port network policy ID',
    description: 'Adds a the QoS network ID to the port definition',
    updated: '2019-11-01T10:00:00-00:00',
  },
  'qos-pps': { name: 'QoS Rule Type Packet per Second Extension', description: 'Add QoS Rule Type Packet per Second', updated: '2021-05-12T10:00:00-00:00' },
  'qos-pps-minimum': {
    name: 'QoS minimum packet rate rule',
    description: 'Allow to configure QoS minimum packet rate rule.',
    updated: '2021-07-14T10:00:00-00:00',
  },
  'qos-pps-minimum-rule-alias': {
    name: 'QoS minimum packet rate rule alias',
    description: 'API to enable GET, PUT and DELETE operations on QoS minimum packet rate rule without specifying policy ID',
    updated: '2021-10-22T10:00:00-00:00',
  },
  'qos-rule-type-details': {
    name: 'Details of QoS rule types',
    description: 'Expose details about QoS rule types supported by loaded backend drivers',
    updated: '2017-06-22T10:00:00-00:00',
  },
  'qos-rule-type-filter': {
    name: 'Allow to filter the list of QoS rule types',
    description:
      'Allows to filter the QoS rule type list adding two new flags. "all_rules" prints all implemented QoS rule types."all_supported" prints all supported QoS rule types by the loaded mechanism drivers',
    updated: '2022-02-02T10:00:00-00:00',
  },
  'qos-rules-alias': {
    name: 'Quality of Service rules alias API',
    description: 'API to enable GET, PUT and DELETE operations on QoS policy rules without specifying policy ID',
    updated: '2018-10-07T10:00:00-00:00',
  },
  'quota-check-limit': {
    name: 'Quota engine limit check',
    description: 'Support for checking the resource usage before applying a new quota limit',
    updated: '2021-09-08T16:00:00-00:00',
  },
  quota_details: {
    name: 'Quota details management support',
    description: 'Expose functions for quotas usage statistics per project',
    updated: '2017-02-10T10:00:00-00:00',
  },
  quotas: { name: 'Quota management support', description: 'Expose functions for quotas management per project', updated: '2012-07-29T10:00:00-00:00' },
  'rbac-address-group': { name: 'Add address_group type to RBAC', description: 'Add address_group type to network RBAC', updated: '2021-01-20T00:00:00-00:00' },
  'rbac-address-scope': { name: 'Add address_scope type to RBAC', description: 'Add address_scope type to RBAC', updated: '2020-02-12T00:00:00-00:00' },
  'rbac-policies': {
    name: 'RBAC Policies',
    description: 'Allows creation and modification of policies that control tenant access to resources.',
    updated: '2015-06-17T12:15:12-00:00',
  },
  'rbac-security-groups': {
    name: 'Add security_group type to network RBAC',
    description: 'Add security_group type to network RBAC',
    updated: '2019-02-14T00:00:00-00:00',
  },
  'rbac-subnetpool': { name: 'Add subnetpool type to RBAC', description: 'Add subnetpool type to RBAC', updated: '2020-02-05T00:00:00-00:00' },
  'revision-if-match': {
    name: 'If-Match constraints based on revision_number',
    description: 'Extension indicating that If-Match based on revision_number is supported.',
    updated: '2016-12-11T00:00:00-00:00',
  },
  router: {
    name: 'Neutron L3 Router',
    description: 'Router abstraction for basic L3 forwarding between L2 Neutron networks and access to external networks via a NAT gateway.',
    updated: '2012-07-20T10:00:00-00:00',
  },
  'router-admin-state-down-before-update': {
    name: "Enforce Router's Admin State Down Before Update Extension",
    description: 'Ensure that the admin state of a router is DOWN (admin_state_up=False) before updating the distributed attribute',
    updated: '2019-07-02T15:56:00',
  },
  router_availability_zone: { name: 'Router Availability Zone', description: 'Availability zone support for router.', updated: '2015-01-01T10:00:00-00:00' },
  'security-group': { name: 'security-group', description: 'The security groups extension.', updated: '2012-10-05T10:00:00-00:00' },
  'security-groups-normalized-cidr': {
    name: 'Normalized CIDR field for security group rules',
    description: 'Add new field with normalized remote_ip_prefix cidr in SG rule',
    updated: '2020-07-28T10:00:00-00:00',
  },
  'security-groups-remote-address-group': {
    name: 'Remote address group id field for security group rules',
    description: 'Add new field of remote address group id in SG rules',
    updated: '2020-08-25T10:00:00-00:00',
  },
  'security-groups-shared-filtering': {
    name: 'Security group filtering on the shared field',
    description: 'Support filtering security groups on the shared field',
    updated: '2021-10-05T09:00:00-00:00',
  },
  segment: { name: 'Segment', description: 'Segments extension.', updated: '2016-02-24T17:00:00-00:00' },
  'segments-peer-subnet-host-routes': {
    name: 'Segments peer-subnet host routes',
    description: 'Add host routes to subnets on a routed network (segments)',
    updated: '2018-06-12T10:00:00-00:00',
  },
  'service-type': {
    name: 'Neutron Service Type Management',
    description: 'API for retrieving service providers for Neutron advanced services',
    updated: '2013-01-20T00:00:00-00:00',
  },
  sorting: { name: 'Sorting support', description: 'Extension that indicates that sorting is enabled.', updated: '2016-06-12T00:00:00-00:00' },
  'standard-attr-description': {
    name: 'standard-attr-description',
    description: 'Extension to add descriptions to standard attributes',
    updated: '2016-02-10T10:00:00-00:00',
  },
  'standard-attr-revisions': {
    name: 'Resource revision numbers',
    description: 'This extension will display the revision number of neutron resources.',
    updated: '2016-04-11T10:00:00-00:00',
  },
  'standard-attr-segment': {
    name: 'Standard Attribute Segment Extension',
    description: 'Add standard attributes to Segment resource',
    updated: '2018-04-09T10:00:00-00:00',
  },
  'standard-attr-tag': {
    name: 'Tag support for resources with standard attribute: port, subnet, subnetpool, network, security_group, router, floatingip, policy, trunk, network_segment_range',
    description: 'Enables to set tag on resources with standard attribute.',
    updated: '2017-01-01T00:00:00-00:00',
  },
  'standard-attr-timestamp': {
    name: 'Resource timestamps',
    description: 'Adds created_at and updated_at fields to all Neutron resources that have Neutron standard attributes.',
    updated: '2016-09-12T10:00:00-00:00',
  },
  'stateful-security-group': {
    name: 'Stateful security group',
    description: 'Indicates if the security group is stateful or not',
    updated: '2019-11-26T09:00:00-00:00',
  },
  'subnet-dns-publish-fixed-ip': {
    name: 'Subnet DNS publish fixed IP',
    description: 'Support choosing to publish DNS records for IPs from a subnet',
    updated: '2019-05-24T10:00:00-00:00',
  },
  'subnet-segmentid-writable': {
    name: 'Subnet SegmentID (writable)',
    description: 'Provides a writable segment_id attribute for a subnet resource.',
    updated: '2018-03-12T00:00:00-00:00',
  },
  'subnet-service-types': {
    name: 'Subnet service types',
    description: 'Provides ability to set the subnet service_types field',
    updated: '2016-03-15T18:00:00-00:00',
  },
  subnet_allocation: { name: 'Subnet Allocation', description: 'Enables allocation of subnets from a subnet pool', updated: '2015-03-30T10:00:00-00:00' },
  subnet_onboard: { name: 'Subnet Onboard', description: 'Provides support for onboarding subnets into subnet pools', updated: '2018-12-18T09:00:00-00:00' },
  'subnetpool-prefix-ops': {
    name: 'Subnet Pool Prefix Operations',
    description: 'Provides support for adjusting the prefix list of subnet pools',
    updated: '2019-02-08T10:00:00-00:00',
  },
  'tag-ports-during-bulk-creation': {
    name: 'Tag Ports During Bulk Creation',
    description: 'Allow to tag ports during bulk creation',
    updated: '2019-12-29T19:00:00-00:00',
  },
  trunk: { name: 'Trunk Extension', description: 'Provides support for trunk ports', updated: '2016-01-01T10:00:00-00:00' },
  'trunk-details': { name: 'Trunk port details', description: 'Expose trunk port details', updated: '2016-01-01T10:00:00-00:00' },
  'uplink-status-propagation': {
    name: 'Uplink status propagation extension',
    description: 'Provides ability to propagate port uplink status.',
    updated: '2018-05-31T18:00:00-00:00',
  },
  // Served here beyond Zed's list: the older tag extensions and LBaaS v1.
  tag: { name: 'Tag support', description: 'Enables to set tag on resources.', updated: '2016-01-01T00:00:00-00:00' },
  'tag-ext': {
    name: 'Tag support for resources: subnet, subnetpool, port, router',
    description: 'Extension class supporting tags for the resources: subnet, subnetpool, port, router.',
    updated: '2017-01-01T00:00:00-00:00',
  },
  lbaas: { name: 'LoadBalancing service', description: 'Extension for LoadBalancing service', updated: '2012-10-07T10:00:00-00:00' },
};

export function extensionBody(alias: string) {
  const e = EXTENSIONS[alias];
  return { name: e.name, alias, description: e.description, updated: e.updated, links: [] as unknown[] };
}
