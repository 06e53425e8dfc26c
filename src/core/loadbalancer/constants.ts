/**
 * Octavia's vocabulary (octavia-lib / Octavia 11 "Zed" constants): protocols, algorithms,
 * statuses, limits and defaults. Values and messages here are what real clients compare.
 */

/** Octavia's provisioning_status: what the control plane is doing with an object. */
export type ProvisioningStatus = 'ACTIVE' | 'PENDING_CREATE' | 'PENDING_UPDATE' | 'PENDING_DELETE' | 'DELETED' | 'ERROR';
export type PendingStatus = Extract<ProvisioningStatus, `PENDING_${string}`>;
export const PROVISIONING: { readonly [S in ProvisioningStatus]: S } = {
  ACTIVE: 'ACTIVE',
  PENDING_CREATE: 'PENDING_CREATE',
  PENDING_UPDATE: 'PENDING_UPDATE',
  PENDING_DELETE: 'PENDING_DELETE',
  DELETED: 'DELETED',
  ERROR: 'ERROR',
};

/** Octavia's operating_status: what the health manager observes. */
export type OperatingStatus = 'ONLINE' | 'OFFLINE' | 'DEGRADED' | 'ERROR' | 'DRAINING' | 'NO_MONITOR';
export const OPERATING: { readonly [S in OperatingStatus]: S } = {
  ONLINE: 'ONLINE',
  OFFLINE: 'OFFLINE',
  DEGRADED: 'DEGRADED',
  ERROR: 'ERROR',
  DRAINING: 'DRAINING',
  NO_MONITOR: 'NO_MONITOR',
};

export const isPending = (s: ProvisioningStatus): s is PendingStatus => s.startsWith('PENDING_');

/** Protocols a listener may have (octavia-lib LISTENER_SUPPORTED_PROTOCOLS). */
export const LISTENER_PROTOCOLS = ['TCP', 'HTTPS', 'HTTP', 'TERMINATED_HTTPS', 'UDP', 'SCTP', 'PROMETHEUS'];
/** Protocols a pool may have (octavia-lib SUPPORTED_PROTOCOLS). */
export const POOL_PROTOCOLS = ['TCP', 'HTTPS', 'HTTP', 'TERMINATED_HTTPS', 'PROXY', 'PROXYV2', 'UDP', 'SCTP', 'PROMETHEUS'];

/** Which pool protocols a listener protocol may forward to. */
export const LISTENER_POOL_PROTOCOLS: Record<string, string[]> = {
  TCP: ['HTTP', 'HTTPS', 'PROXY', 'PROXYV2', 'TCP'],
  HTTP: ['HTTP', 'PROXY', 'PROXYV2'],
  HTTPS: ['HTTPS', 'PROXY', 'PROXYV2', 'TCP'],
  TERMINATED_HTTPS: ['HTTP', 'PROXY', 'PROXYV2'],
  UDP: ['UDP'],
  SCTP: ['SCTP'],
  PROMETHEUS: [],
};

/** The transport each protocol runs on: listeners may share a port only across transports. */
export const L4_PROTOCOL: Record<string, 'TCP' | 'UDP' | 'SCTP'> = {
  TCP: 'TCP',
  HTTP: 'TCP',
  HTTPS: 'TCP',
  TERMINATED_HTTPS: 'TCP',
  PROXY: 'TCP',
  PROXYV2: 'TCP',
  UDP: 'UDP',
  SCTP: 'SCTP',
  PROMETHEUS: 'TCP',
};

export const LB_ALGORITHMS = ['LEAST_CONNECTIONS', 'ROUND_ROBIN', 'SOURCE_IP', 'SOURCE_IP_PORT'];
export const SP_TYPES = ['SOURCE_IP', 'HTTP_COOKIE', 'APP_COOKIE'];
export const HM_TYPES = ['HTTP', 'HTTPS', 'PING', 'TCP', 'TLS-HELLO', 'UDP-CONNECT', 'SCTP'];
export const HM_HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'TRACE', 'OPTIONS', 'CONNECT', 'PATCH'];
export const HTTP_VERSIONS = [1.0, 1.1];
export const L7POLICY_ACTIONS = ['REJECT', 'REDIRECT_TO_URL', 'REDIRECT_TO_POOL', 'REDIRECT_PREFIX'];
export const L7RULE_COMPARE_TYPES = ['REGEX', 'STARTS_WITH', 'ENDS_WITH', 'CONTAINS', 'EQUAL_TO'];
export const L7RULE_TYPES = ['HOST_NAME', 'PATH', 'FILE_TYPE', 'HEADER', 'COOKIE', 'SSL_CONN_HAS_CERT', 'SSL_VERIFY_RESULT', 'SSL_DN_FIELD'];
export const REDIRECT_HTTP_CODES = [301, 302, 303, 307, 308];
export const CLIENT_AUTH_MODES = ['NONE', 'OPTIONAL', 'MANDATORY'];
export const ALPN_PROTOCOLS = ['h2', 'http/1.1', 'http/1.0'];
export const TLS_VERSIONS = ['SSLv3', 'TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];

export const HTTP_HEADERS = ['X-Forwarded-For', 'X-Forwarded-Port', 'X-Forwarded-Proto'];
export const SSL_HEADERS = [
  'X-SSL-Client-Verify',
  'X-SSL-Client-Has-Cert',
  'X-SSL-Client-DN',
  'X-SSL-Client-CN',
  'X-SSL-Issuer',
  'X-SSL-Client-SHA1',
  'X-SSL-Client-Not-Before',
  'X-SSL-Client-Not-After',
];
export const HEADER_INSERTION_PROTOCOLS = ['HTTP', 'TERMINATED_HTTPS'];

export const MIN_PORT = 1;
export const MAX_PORT = 65535;
export const DEFAULT_CONNECTION_LIMIT = -1;
export const MIN_WEIGHT = 0;
export const MAX_WEIGHT = 256;
export const DEFAULT_WEIGHT = 1;
export const MIN_HM_RETRIES = 1;
export const MAX_HM_RETRIES = 10;
export const DEFAULT_MAX_RETRIES_DOWN = 3;
export const MIN_TIMEOUT = 0;
export const MAX_TIMEOUT = 24 * 24 * 60 * 60 * 1000;
export const DEFAULT_TIMEOUT_CLIENT_DATA = 50000;
export const DEFAULT_TIMEOUT_MEMBER_CONNECT = 5000;
export const DEFAULT_TIMEOUT_MEMBER_DATA = 50000;
export const DEFAULT_TIMEOUT_TCP_INSPECT = 0;
export const MIN_POLICY_POSITION = 1;
export const MAX_POLICY_POSITION = 2147483647;
export const MAX_L7RULES_PER_POLICY = 50;
export const UDP_CONNECT_MIN_INTERVAL = 3;
export const QUOTA_UNLIMITED = -1;
export const MAX_QUOTA = 2000000000;

export const HTTP_HEADER_NAME_RE = /^[a-zA-Z0-9!#$%&'*+\-.^_`|~]+$/;
export const HTTP_COOKIE_VALUE_RE = /^[a-zA-Z0-9!#$%&'()*+\-./:<=>?@[\]^_`{|}~]+$/;
export const HTTP_HEADER_VALUE_RE = /^[a-zA-Z0-9!"#$%&'()*+,\-./:;<=>?@[\]^_`{|}~\\]+$/;
export const HTTP_QUOTED_HEADER_VALUE_RE = /^"[a-zA-Z0-9 \t!"#$%&'()*+,\-./:;<=>?@[\]^_`{|}~\\]*"$/;
export const DOMAIN_NAME_RE = /^(?=.{1,253}\.?$)(?:(?!-|[^.]+_)[A-Za-z0-9-_]{1,63}(?<!-)(?:\.|$))+$/;
export const EXPECTED_CODES_RE = /^(\d{3}(\s*,\s*\d{3})*)$|^(\d{3}-\d{3})$/;
export const DN_FIELD_RE = /^([a-zA-Z][A-Za-z0-9-]*)$/;

/** Octavia's readable model names (data_models.X._name()). */
export const MODEL_NAMES = {
  loadbalancer: 'Load Balancer',
  listener: 'Listener',
  pool: 'Pool',
  member: 'Member',
  healthmonitor: 'Health Monitor',
  l7policy: 'L7 Policy',
  l7rule: 'L7 Rule',
} as const;

/**
 * The providers this build serves: one engine, `pocketstack`, also answering to Octavia's own
 * provider names so clients that ask for the default (`amphora`, or its alias `octavia`) work
 * unchanged. New load balancers default to `amphora`, as in Octavia.
 */
export const PROVIDERS: Array<{ name: string; description: string }> = [
  { name: 'pocketstack', description: 'The PocketStack load-balancer engine: HAProxy or a built-in proxy in a namespace per load balancer.' },
  { name: 'amphora', description: "Alias of the pocketstack provider under the name of Octavia's default amphora provider." },
  { name: 'octavia', description: 'Deprecated alias of the amphora provider.' },
];
export const DEFAULT_PROVIDER = 'amphora';

/** What a flavor profile may set for this provider (Octavia amphora driver's capabilities). */
export const FLAVOR_CAPABILITIES = [
  {
    name: 'loadbalancer_topology',
    description: 'The load balancer topology. One of: SINGLE - One amphora per load balancer. ACTIVE_STANDBY - Two amphora per load balancer.',
  },
  { name: 'compute_flavor', description: 'The compute driver flavor ID.' },
  { name: 'amp_image_tag', description: 'The amphora image tag.' },
];
export const AZ_CAPABILITIES = [
  { name: 'compute_zone', description: 'The compute availability zone.' },
  { name: 'management_network', description: 'The management network ID for the amphora.' },
  {
    name: 'valid_vip_networks',
    description: 'List of network IDs that are allowed for VIP use. This overrides/replaces the list of allowed networks configured in `octavia.conf`.',
  },
];
