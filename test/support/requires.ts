import { existsSync } from 'node:fs';

/**
 * Suites that need something this machine may lack (a Debian package, root). As root — CI —
 * `npm test` installs the packages and sets POCKETSTACK_REQUIRE_ALL, so a missing requirement
 * fails loudly there; elsewhere the suite is skipped with a one-line reason.
 */
export function missing(reqs: Array<{ path?: string; root?: boolean; why: string }>): string | undefined {
  const isRoot = process.getuid?.() === 0;
  for (const r of reqs) {
    const lacking = (r.path && !existsSync(r.path)) || (r.root && !isRoot);
    if (!lacking) continue;
    if (process.env.POCKETSTACK_REQUIRE_ALL === '1') throw new Error(`required for this suite: ${r.why}`);
    return r.why;
  }
  return undefined;
}

export const OPENSTACK_CLIENT = { path: '/usr/bin/openstack', why: "needs Debian's python3-openstackclient (npm test installs it when run as root)" };
export const NOVA_CLIENT = { path: '/usr/bin/nova', why: "needs Debian's python3-novaclient (npm test installs it when run as root)" };
export const GLANCE_CLIENT = { path: '/usr/bin/glance', why: "needs Debian's python3-glanceclient (npm test installs it when run as root)" };
export const NEUTRON_CLIENT = { path: '/usr/bin/neutron', why: "needs Debian's python3-neutronclient (npm test installs it when run as root)" };
export const BARBICAN_CLIENT = {
  path: '/usr/lib/python3/dist-packages/barbicanclient',
  why: "needs Debian's python3-barbicanclient (npm test installs it when run as root)",
};
export const KEYSTONE_CLIENT = {
  path: '/usr/lib/python3/dist-packages/keystoneclient/contrib/ec2/utils.py',
  why: "needs Debian's python3-keystoneclient (npm test installs it when run as root)",
};
export const CURL = { path: '/usr/bin/curl', why: "needs Debian's curl (npm test installs it when run as root)" };
export const KEEPALIVED = { path: '/usr/sbin/keepalived', why: "needs Debian's keepalived (npm test installs it when run as root)" };
export const PING = { path: '/usr/bin/ping', why: "needs Debian's iputils-ping (npm test installs it when run as root)" };
export const ROOT = { root: true, why: 'needs root to create network namespaces (CI runs as root)' };

/** The PostgreSQL server the multi-host e2e suites make their databases on (scripts/test.mjs sets it). */
export const E2E_POSTGRES = process.env.POCKETSTACK_E2E_POSTGRES_URL;

/** As root (CI) PostgreSQL is required: a missing URL fails there, and elsewhere skips. */
export function needsE2ePostgres(): string | undefined {
  if (E2E_POSTGRES) return undefined;
  const why = 'needs POCKETSTACK_E2E_POSTGRES_URL=postgres://…/postgres (npm test provides it as root)';
  if (process.env.POCKETSTACK_REQUIRE_ALL === '1') throw new Error(`required for this suite: ${why}`);
  return why;
}
