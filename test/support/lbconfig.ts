import type { RtListener, RtMember, RtMonitor, RtPool } from '../../src/lb/config.js';
import type { CfgOptions } from '../../src/lb/haproxy/cfg.js';

/** An HTTP listener on port 80 with Octavia's default timeouts, its default pool `poolId`. */
export const rtListener = (id: string, poolId: string, o: Partial<RtListener> = {}): RtListener => ({
  id,
  protocol: 'HTTP',
  port: 80,
  connectionLimit: -1,
  timeoutClientData: 50000,
  timeoutMemberConnect: 5000,
  timeoutMemberData: 50000,
  timeoutTcpInspect: 0,
  insertHeaders: { forwardedFor: false, forwardedPort: false, forwardedProto: false },
  allowedCidrs: [],
  defaultPoolId: poolId,
  policies: [],
  ...o,
});

/** An HTTP health monitor: GET / expecting 200, every 2 s. */
export const RT_HTTP_MONITOR: RtMonitor = {
  id: 'H',
  type: 'HTTP',
  delay: 2,
  timeout: 1,
  rise: 2,
  fall: 3,
  httpMethod: 'GET',
  urlPath: '/',
  expectedCodes: '200',
  httpVersion: '1.0',
  domainName: null,
};

/** An enabled round-robin HTTP pool without persistence, TLS or monitor. */
export const rtPool = (id: string, members: RtMember[], o: Partial<RtPool> = {}): RtPool => ({
  id,
  protocol: 'HTTP',
  algorithm: 'ROUND_ROBIN',
  persistence: null,
  tls: false,
  enabled: true,
  monitor: null,
  members,
  ...o,
});

/** HAProxy configuration options for tests that only read the text. */
export const CFG_OPTIONS: CfgOptions = { bindAddress: '127.0.0.1', statsSocket: '/run/s.sock', pingScript: null, maxconn: 4000 };
