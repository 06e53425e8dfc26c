/**
 * Request body types of the Octavia v2 API (octavia/api/v2/types), field by field: what is
 * mandatory, what defaults, and each attribute's type and bounds.
 */
import * as C from './constants.js';
import { type BodyOf, type Fields, T, opt, req } from './wsme.js';

const tags = opt(T.list(T.str(255)));
const timeout = opt(T.int(C.MIN_TIMEOUT, C.MAX_TIMEOUT));
const port = T.int(C.MIN_PORT, C.MAX_PORT);
const hmRetries = T.int(C.MIN_HM_RETRIES, C.MAX_HM_RETRIES);
const expectedCodes = T.str(undefined, { pattern: C.EXPECTED_CODES_RE, patternText: String.raw`^(\d{3}(\s*,\s*\d{3})*)$|^(\d{3}-\d{3})$` });
const domainName = T.str(255, {
  min: 1,
  pattern: C.DOMAIN_NAME_RE,
  patternText: String.raw`^(?=.{1,253}\.?$)(?:(?!-|[^.]+_)[A-Za-z0-9-_]{1,63}(?<!-)(?:\.|$))+$`,
});
const noNewline = { pattern: /^[^\r\n]*$/, patternText: String.raw`^[^\r\n]*$` };

const spPost = {
  type: req(T.enumStr(C.SP_TYPES)),
  cookie_name: opt(T.str(255, { pattern: /^[^\s,;\\]+$/, patternText: String.raw`^[^\s,;\\]+$` }), null),
  persistence_timeout: opt(T.int(), null),
  persistence_granularity: opt(T.ip, null),
} satisfies Fields;
const spPut = { ...spPost, type: opt(T.enumStr(C.SP_TYPES)) } satisfies Fields;

/**
 * The `*SingleCreate` types of a fully populated create (octavia/api/v2/types): the children a
 * load balancer create may carry, nested as Octavia nests them. A pool's protocol and algorithm
 * are not mandatory here: `{"name": …}` alone is a reference to a pool defined elsewhere in the
 * same body (LoadBalancersController._graph_create decides which is which).
 */
export const memberSingleCreate = {
  name: opt(T.str(255)),
  admin_state_up: opt(T.bool, true),
  address: req(T.ip),
  protocol_port: req(port),
  weight: opt(T.int(C.MIN_WEIGHT, C.MAX_WEIGHT), C.DEFAULT_WEIGHT),
  backup: opt(T.bool, false),
  subnet_id: opt(T.uuid),
  monitor_port: opt(port),
  monitor_address: opt(T.ip),
  tags,
} satisfies Fields;

export const monitorSingleCreate = {
  name: opt(T.str(255)),
  type: req(T.enumStr(C.HM_TYPES)),
  delay: req(T.int(0)),
  timeout: req(T.int(0)),
  max_retries_down: opt(hmRetries, C.DEFAULT_MAX_RETRIES_DOWN),
  max_retries: req(hmRetries),
  http_method: opt(T.enumStr(C.HM_HTTP_METHODS)),
  url_path: opt(T.urlpath),
  expected_codes: opt(expectedCodes),
  admin_state_up: opt(T.bool, true),
  tags,
  http_version: opt(T.enumFloat(C.HTTP_VERSIONS)),
  domain_name: opt(domainName),
} satisfies Fields;

export const poolSingleCreate = {
  name: opt(T.str(255)),
  description: opt(T.str(255)),
  admin_state_up: opt(T.bool, true),
  protocol: opt(T.enumStr(C.POOL_PROTOCOLS)),
  lb_algorithm: opt(T.enumStr(C.LB_ALGORITHMS)),
  session_persistence: opt(T.object(spPost)),
  healthmonitor: opt(T.object(monitorSingleCreate)),
  members: opt(T.list(T.object(memberSingleCreate))),
  tags,
  tls_container_ref: opt(T.str(255)),
  ca_tls_container_ref: opt(T.str(255)),
  crl_container_ref: opt(T.str(255)),
  tls_enabled: opt(T.bool, false),
  tls_ciphers: opt(T.str(2048)),
  tls_versions: opt(T.list(T.str(32))),
  alpn_protocols: opt(T.list(T.alpn)),
} satisfies Fields;

export const l7ruleSingleCreate = {
  type: req(T.enumStr(C.L7RULE_TYPES)),
  compare_type: req(T.enumStr(C.L7RULE_COMPARE_TYPES)),
  key: opt(T.str(255, noNewline)),
  value: req(T.str(255, noNewline)),
  invert: opt(T.bool, false),
  admin_state_up: opt(T.bool, true),
  tags,
} satisfies Fields;

export const l7policySingleCreate = {
  name: opt(T.str(255)),
  description: opt(T.str(255)),
  admin_state_up: opt(T.bool, true),
  action: req(T.enumStr(C.L7POLICY_ACTIONS)),
  redirect_pool: opt(T.object(poolSingleCreate)),
  redirect_url: opt(T.url),
  redirect_prefix: opt(T.url),
  position: opt(T.int(C.MIN_POLICY_POSITION, C.MAX_POLICY_POSITION), C.MAX_POLICY_POSITION),
  rules: opt(T.list(T.object(l7ruleSingleCreate))),
  tags,
  redirect_http_code: opt(T.enumInt(C.REDIRECT_HTTP_CODES)),
} satisfies Fields;

export const listenerSingleCreate = {
  name: opt(T.str(255)),
  description: opt(T.str(255)),
  admin_state_up: opt(T.bool, true),
  protocol: req(T.enumStr(C.LISTENER_PROTOCOLS)),
  protocol_port: req(port),
  connection_limit: opt(T.int(C.DEFAULT_CONNECTION_LIMIT), C.DEFAULT_CONNECTION_LIMIT),
  default_tls_container_ref: opt(T.str(255)),
  sni_container_refs: opt(T.list(T.str(255))),
  default_pool_id: opt(T.uuid),
  default_pool: opt(T.object(poolSingleCreate)),
  l7policies: opt(T.list(T.object(l7policySingleCreate)), []),
  insert_headers: opt(T.dict),
  timeout_client_data: timeout,
  timeout_member_connect: timeout,
  timeout_member_data: timeout,
  timeout_tcp_inspect: timeout,
  tags,
  client_ca_tls_container_ref: opt(T.str(255)),
  client_authentication: opt(T.enumStr(C.CLIENT_AUTH_MODES), 'NONE'),
  client_crl_container_ref: opt(T.str(255)),
  allowed_cidrs: opt(T.list(T.cidr)),
  tls_ciphers: opt(T.str(2048)),
  tls_versions: opt(T.list(T.str(32))),
  alpn_protocols: opt(T.list(T.alpn)),
} satisfies Fields;

export const loadBalancerPost = {
  name: opt(T.str(255)),
  description: opt(T.str(255)),
  admin_state_up: opt(T.bool, true),
  vip_address: opt(T.ip),
  vip_port_id: opt(T.uuid),
  vip_subnet_id: opt(T.uuid),
  vip_network_id: opt(T.uuid),
  vip_qos_policy_id: opt(T.uuid),
  additional_vips: opt(T.list(T.object({ subnet_id: req(T.uuid), ip_address: opt(T.ip) })), []),
  project_id: opt(T.str(36)),
  // A fully populated create: the load balancer with its listeners and pools in one call.
  listeners: opt(T.list(T.object(listenerSingleCreate)), []),
  pools: opt(T.list(T.object(poolSingleCreate)), []),
  provider: opt(T.str(64)),
  tags,
  flavor_id: opt(T.uuid),
  availability_zone: opt(T.str(255)),
} satisfies Fields;

export const loadBalancerPut = {
  name: opt(T.str(255)),
  description: opt(T.str(255)),
  vip_qos_policy_id: opt(T.uuid),
  admin_state_up: opt(T.bool),
  tags,
} satisfies Fields;

const listenerCommon = {
  name: opt(T.str(255)),
  description: opt(T.str(255)),
  default_tls_container_ref: opt(T.str(255)),
  sni_container_refs: opt(T.list(T.str(255))),
  default_pool_id: opt(T.uuid),
  insert_headers: opt(T.dict),
  timeout_client_data: timeout,
  timeout_member_connect: timeout,
  timeout_member_data: timeout,
  timeout_tcp_inspect: timeout,
  tags,
  client_ca_tls_container_ref: opt(T.str(255)),
  client_crl_container_ref: opt(T.str(255)),
  allowed_cidrs: opt(T.list(T.cidr)),
  tls_ciphers: opt(T.str(2048)),
  tls_versions: opt(T.list(T.str(32))),
  alpn_protocols: opt(T.list(T.alpn)),
} satisfies Fields;

export const listenerPost = {
  ...listenerCommon,
  admin_state_up: opt(T.bool, true),
  protocol: req(T.enumStr(C.LISTENER_PROTOCOLS)),
  protocol_port: req(port),
  connection_limit: opt(T.int(C.DEFAULT_CONNECTION_LIMIT), C.DEFAULT_CONNECTION_LIMIT),
  project_id: opt(T.str(36)),
  default_pool: opt(T.object(poolSingleCreate)),
  l7policies: opt(T.list(T.object(l7policySingleCreate)), []),
  loadbalancer_id: req(T.uuid),
  client_authentication: opt(T.enumStr(C.CLIENT_AUTH_MODES), 'NONE'),
} satisfies Fields;

export const listenerPut = {
  ...listenerCommon,
  admin_state_up: opt(T.bool),
  connection_limit: opt(T.int(C.DEFAULT_CONNECTION_LIMIT)),
  client_authentication: opt(T.enumStr(C.CLIENT_AUTH_MODES)),
} satisfies Fields;

const poolTls = {
  tls_container_ref: opt(T.str(255)),
  ca_tls_container_ref: opt(T.str(255)),
  crl_container_ref: opt(T.str(255)),
  tls_ciphers: opt(T.str(2048)),
  tls_versions: opt(T.list(T.str(32))),
  alpn_protocols: opt(T.list(T.alpn)),
} satisfies Fields;

export const poolPost = {
  name: opt(T.str(255)),
  description: opt(T.str(255)),
  admin_state_up: opt(T.bool, true),
  listener_id: opt(T.uuid),
  loadbalancer_id: opt(T.uuid),
  protocol: req(T.enumStr(C.POOL_PROTOCOLS)),
  lb_algorithm: req(T.enumStr(C.LB_ALGORITHMS)),
  session_persistence: opt(T.object(spPost)),
  project_id: opt(T.str(36)),
  healthmonitor: opt(T.object(monitorSingleCreate)),
  members: opt(T.list(T.object(memberSingleCreate))),
  tags,
  ...poolTls,
  tls_enabled: opt(T.bool, false),
} satisfies Fields;

export const poolPut = {
  name: opt(T.str(255)),
  description: opt(T.str(255)),
  admin_state_up: opt(T.bool),
  lb_algorithm: opt(T.enumStr(C.LB_ALGORITHMS)),
  session_persistence: opt(T.object(spPut)),
  tags,
  ...poolTls,
  tls_enabled: opt(T.bool),
} satisfies Fields;

export const memberPost = {
  ...memberSingleCreate,
  project_id: opt(T.str(36)),
  monitor_port: opt(port, null),
  monitor_address: opt(T.ip, null),
} satisfies Fields;

export const memberPut = {
  name: opt(T.str(255)),
  admin_state_up: opt(T.bool),
  weight: opt(T.int(C.MIN_WEIGHT, C.MAX_WEIGHT)),
  backup: opt(T.bool),
  monitor_port: opt(port),
  monitor_address: opt(T.ip),
  tags,
} satisfies Fields;

export const monitorPost = {
  ...monitorSingleCreate,
  project_id: opt(T.str(36)),
  pool_id: req(T.uuid),
} satisfies Fields;

export const monitorPut = {
  name: opt(T.str(255)),
  delay: opt(T.int(0)),
  timeout: opt(T.int(0)),
  max_retries_down: opt(hmRetries),
  max_retries: opt(hmRetries),
  http_method: opt(T.enumStr(C.HM_HTTP_METHODS)),
  url_path: opt(T.urlpath),
  expected_codes: opt(expectedCodes),
  admin_state_up: opt(T.bool),
  tags,
  http_version: opt(T.enumFloat(C.HTTP_VERSIONS)),
  domain_name: opt(domainName),
} satisfies Fields;

export const l7policyPost = {
  name: opt(T.str(255)),
  description: opt(T.str(255)),
  admin_state_up: opt(T.bool, true),
  project_id: opt(T.str(36)),
  action: req(T.enumStr(C.L7POLICY_ACTIONS)),
  redirect_pool_id: opt(T.uuid),
  redirect_url: opt(T.url),
  redirect_prefix: opt(T.url),
  position: opt(T.int(C.MIN_POLICY_POSITION, C.MAX_POLICY_POSITION), C.MAX_POLICY_POSITION),
  listener_id: req(T.uuid),
  rules: opt(T.list(T.dict)),
  tags,
  redirect_http_code: opt(T.enumInt(C.REDIRECT_HTTP_CODES)),
} satisfies Fields;

export const l7policyPut = {
  name: opt(T.str(255)),
  description: opt(T.str(255)),
  admin_state_up: opt(T.bool),
  action: opt(T.enumStr(C.L7POLICY_ACTIONS)),
  redirect_pool_id: opt(T.uuid),
  redirect_url: opt(T.url),
  redirect_prefix: opt(T.url),
  position: opt(T.int(C.MIN_POLICY_POSITION, C.MAX_POLICY_POSITION)),
  tags,
  redirect_http_code: opt(T.enumInt(C.REDIRECT_HTTP_CODES)),
} satisfies Fields;

export const l7rulePost = {
  ...l7ruleSingleCreate,
  project_id: opt(T.str(36)),
} satisfies Fields;

export const l7rulePut = {
  type: opt(T.enumStr(C.L7RULE_TYPES)),
  compare_type: opt(T.enumStr(C.L7RULE_COMPARE_TYPES)),
  key: opt(T.str(255, noNewline)),
  value: opt(T.str(255, noNewline)),
  invert: opt(T.bool),
  admin_state_up: opt(T.bool),
  tags,
} satisfies Fields;

const quotaValue = opt(T.int(C.QUOTA_UNLIMITED, C.MAX_QUOTA));
export const quotaPut = {
  loadbalancer: quotaValue,
  load_balancer: quotaValue,
  listener: quotaValue,
  member: quotaValue,
  pool: quotaValue,
  healthmonitor: quotaValue,
  health_monitor: quotaValue,
  l7policy: quotaValue,
  l7rule: quotaValue,
} satisfies Fields;

export const flavorProfilePost = {
  name: req(T.str(255)),
  provider_name: req(T.str(255)),
  flavor_data: req(T.str(4096)),
} satisfies Fields;
export const flavorProfilePut = {
  name: opt(T.str(255)),
  provider_name: opt(T.str(255)),
  flavor_data: opt(T.str(4096)),
} satisfies Fields;
export const flavorPost = {
  name: req(T.str(255)),
  description: opt(T.str(255)),
  enabled: opt(T.bool, true),
  flavor_profile_id: req(T.uuid),
} satisfies Fields;
export const flavorPut = {
  name: opt(T.str(255)),
  description: opt(T.str(255)),
  enabled: opt(T.bool),
} satisfies Fields;
export const azProfilePost = {
  name: req(T.str(255)),
  provider_name: req(T.str(255)),
  availability_zone_data: req(T.str(4096)),
} satisfies Fields;
export const azProfilePut = {
  name: opt(T.str(255)),
  provider_name: opt(T.str(255)),
  availability_zone_data: opt(T.str(4096)),
} satisfies Fields;
export const azPost = {
  name: req(T.str(255)),
  description: opt(T.str(255)),
  enabled: opt(T.bool, true),
  availability_zone_profile_id: req(T.uuid),
} satisfies Fields;
export const azPut = {
  description: opt(T.str(255)),
  enabled: opt(T.bool),
} satisfies Fields;

// ------------------------------------------------------------ parsed bodies, typed from the specs above

export type LoadBalancerPost = BodyOf<typeof loadBalancerPost>;
export type LoadBalancerPut = BodyOf<typeof loadBalancerPut>;
export type ListenerPost = BodyOf<typeof listenerPost>;
export type ListenerPut = BodyOf<typeof listenerPut>;
export type PoolPost = BodyOf<typeof poolPost>;
export type PoolPut = BodyOf<typeof poolPut>;
export type SessionPersistence = BodyOf<typeof spPut>;
export type MemberPost = BodyOf<typeof memberPost>;
export type MemberPut = BodyOf<typeof memberPut>;
export type MonitorPost = BodyOf<typeof monitorPost>;
export type MonitorPut = BodyOf<typeof monitorPut>;
export type L7PolicyPost = BodyOf<typeof l7policyPost>;
export type L7PolicyPut = BodyOf<typeof l7policyPut>;
export type L7RulePost = BodyOf<typeof l7rulePost>;
export type L7RulePut = BodyOf<typeof l7rulePut>;
export type ListenerSingle = BodyOf<typeof listenerSingleCreate>;
export type PoolSingle = BodyOf<typeof poolSingleCreate>;
export type MemberSingle = BodyOf<typeof memberSingleCreate>;
export type MonitorSingle = BodyOf<typeof monitorSingleCreate>;
export type L7PolicySingle = BodyOf<typeof l7policySingleCreate>;
export type L7RuleSingle = BodyOf<typeof l7ruleSingleCreate>;
export type QuotaPut = BodyOf<typeof quotaPut>;
export type FlavorProfilePost = BodyOf<typeof flavorProfilePost>;
export type FlavorProfilePut = BodyOf<typeof flavorProfilePut>;
export type FlavorPost = BodyOf<typeof flavorPost>;
export type FlavorPut = BodyOf<typeof flavorPut>;
export type AzProfilePost = BodyOf<typeof azProfilePost>;
export type AzProfilePut = BodyOf<typeof azProfilePut>;
export type AzPost = BodyOf<typeof azPost>;
export type AzPut = BodyOf<typeof azPut>;
