#!/usr/bin/env node
/**
 * `npm test`: everything, in order, on a fresh Debian machine.
 *
 *   1. install what the tests need from Debian when missing (root only): the real OpenStack
 *      clients, Tempest, its Neutron, Octavia, Keystone and Barbican plugins and stestr,
 *      openstacksdk's and Gophercloud's own tests (with Go), iproute2, nftables,
 *      iptables, conntrack, HAProxy, and what instances are made of (busybox-static,
 *      dropbear-bin, dnsmasq-base; openssh-client for the tests' ssh; keepalived for HA routers);
 *   2. type-check, lint (`npm run lint`: Biome, then knip), build;
 *   3. the vitest suites `unit` and `api` (seconds);
 *   4. the `api` suite again on PostgreSQL (the store for several servers sharing one cloud):
 *      POCKETSTACK_TEST_DATABASE_URL, else (root) Debian's postgresql, installed and started;
 *   5. the vitest suite `e2e`: the real clients and the real data plane (minutes);
 *   6. OpenStack's own Tempest, six runs, each against a PocketStack its script starts:
 *        scripts/tempest-network.sh  tempest.api.network, less test/tempest/network-exclude.txt;
 *        scripts/tempest-compute.sh  tempest.api.compute, less
 *                                    test/tempest/compute-exclude.txt;
 *        scripts/tempest-octavia.sh  octavia_tempest_plugin.tests.api.v2 (its amphora tests
 *                                    with the amphora provider), and barbican_tempest_plugin's
 *                                    API tests less test/tempest/barbican-exclude.txt;
 *        scripts/tempest-identity.sh tempest.api.identity and keystone_tempest_plugin.tests.api,
 *                                    less test/tempest/identity-exclude.txt;
 *        scripts/tempest-image.sh    tempest.api.image (import, stores, locations, metadefs), less
 *                                    the two exclusions the script lists with reasons;
 *        scripts/tempest-neutron-plugin.sh  neutron_tempest_plugin.api, less
 *                                    test/tempest/neutron-plugin-exclude.txt;
 *      and the SDKs' own suites, each against a PocketStack of its own:
 *        scripts/sdk-functional.sh   openstacksdk's functional tests, less
 *                                    test/sdk/functional-exclude.txt;
 *        scripts/gophercloud-acceptance.sh  Gophercloud's acceptance tests (Go), less
 *                                    test/gophercloud/exclude.txt.
 *
 * Steps 4 to 6 run in three concurrent lanes (e2e; Tempest network, identity, image, then the SDKs' suites;
 * Tempest Octavia, compute, the Neutron plugin, then the API tests on PostgreSQL), each step's output kept in test-artifacts/logs/ and printed whole
 * when it ends. A failed step does not stop the ones after it; the run fails if any step failed.
 * As root (CI), every suite must run: a missing tool is a failure, not a skip. Without root,
 * suites that need root or uninstallable packages are skipped, each with a one-line reason.
 * Options: --fast (steps 2 and 3 only), --no-tempest (all but step 6), --only <vitest filter>
 * (passed to the vitest runs of steps 3 to 5).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync } from 'node:fs';

const args = new Set(process.argv.slice(2));
const isRoot = process.getuid?.() === 0;
const fast = args.has('--fast');
const env = { ...process.env, POCKETSTACK_REQUIRE_ALL: isRoot ? '1' : (process.env.POCKETSTACK_REQUIRE_ALL ?? '') };

const DEBIAN_PACKAGES = {
  '/usr/bin/openstack': 'python3-openstackclient',
  '/usr/bin/nova': 'python3-novaclient',
  '/usr/bin/glance': 'python3-glanceclient',
  '/usr/lib/python3/dist-packages/octaviaclient': 'python3-octaviaclient',
  '/usr/bin/neutron': 'python3-neutronclient',
  '/usr/lib/python3/dist-packages/barbicanclient': 'python3-barbicanclient',
  // keystoneclient's Ec2Signer signs the EC2 requests of test/api/identity-ec2.test.ts.
  '/usr/lib/python3/dist-packages/keystoneclient/contrib/ec2/utils.py': 'python3-keystoneclient',
  '/usr/bin/curl': 'curl',
  '/usr/bin/openssl': 'openssl',
  '/usr/bin/tempest': 'tempest',
  '/usr/lib/python3/dist-packages/neutron_tempest_plugin': 'neutron-tempest-plugin',
  '/usr/lib/python3/dist-packages/octavia_tempest_plugin': 'octavia-tempest-plugin',
  '/usr/lib/python3/dist-packages/keystone_tempest_plugin': 'keystone-tempest-plugin',
  '/usr/lib/python3/dist-packages/barbican_tempest_plugin': 'barbican-tempest-plugin',
  '/usr/bin/stestr': 'python3-stestr',
  // openstacksdk's own functional tests (scripts/sdk-functional.sh), run by pytest on workers.
  '/usr/lib/python3/dist-packages/openstack/tests/functional': 'python3-openstacksdk',
  '/usr/lib/python3/dist-packages/pytest': 'python3-pytest',
  '/usr/lib/python3/dist-packages/xdist': 'python3-pytest-xdist',
  // Gophercloud's own acceptance tests (scripts/gophercloud-acceptance.sh): Debian ships them with
  // the library's source, built offline in GOPATH mode by Debian's Go (the package pulls in the
  // golang-golang-x-*-dev and golang-gopkg-yaml.v2-dev sources it imports).
  '/usr/bin/go': 'golang-go',
  '/usr/share/gocode/src/github.com/gophercloud/gophercloud/acceptance': 'golang-github-gophercloud-gophercloud-dev',
  '/usr/sbin/ip': 'iproute2',
  '/usr/sbin/nft': 'nftables',
  '/usr/sbin/iptables': 'iptables',
  '/usr/sbin/conntrack': 'conntrack',
  '/usr/sbin/haproxy': 'haproxy',
  // Instances (the netns data plane): their init and the default image's shell and tools come
  // from the host's static busybox, the image's ssh server from dropbear; each network's DHCP
  // server is dnsmasq (as Neutron's DHCP agent runs it); the tests ssh into instances.
  '/bin/busybox': 'busybox-static',
  '/usr/sbin/dropbear': 'dropbear-bin',
  '/usr/sbin/dnsmasq': 'dnsmasq-base',
  '/usr/bin/ssh': 'openssh-client',
  // HA routers on several hosts run Debian's keepalived in their namespaces (as Neutron's L3
  // agent does); test/e2e/lab-ha.test.ts fails over between two lab hosts with it.
  '/usr/sbin/keepalived': 'keepalived',
  // Neutron's HA health check script (KeepalivedTrackScript) pings the gateway's next hop with
  // iputils' ping; the lab test turns `ha_vrrp_health_check_interval` on.
  '/usr/bin/ping': 'iputils-ping',
  // Routers announce the addresses they add (gateway, interfaces, floating IPs) with iputils'
  // arping, as Neutron's L3 agent does; the netns data plane refuses to start without it.
  '/usr/bin/arping': 'iputils-arping',
  // Security-group logging reads the switch namespace's NFLOG group with tcpdump.
  '/usr/bin/tcpdump': 'tcpdump',
  // The dashboard's browser tests drive Debian's Chromium with playwright-core (no browser download).
  '/usr/bin/chromium': 'chromium',
};

function step(title) {
  process.stdout.write(`\n=== ${title}\n`);
}

function sh(cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, { stdio: 'inherit', env, ...opts });
  return r.status ?? 1;
}

function ensurePackages() {
  const missing = [
    ...new Set(
      Object.entries(DEBIAN_PACKAGES)
        .filter(([path]) => !existsSync(path))
        .map(([, pkg]) => pkg),
    ),
  ];
  if (missing.length === 0) return true;
  if (!isRoot || !existsSync('/usr/bin/apt-get')) {
    process.stdout.write(`note: missing Debian packages (${missing.join(', ')}); not root, so the suites that need them are skipped\n`);
    return false;
  }
  step(`installing Debian packages: ${missing.join(' ')}`);
  const aptEnv = { ...env, DEBIAN_FRONTEND: 'noninteractive' };
  if (sh('apt-get', ['update', '-qq'], { env: aptEnv }) !== 0) return false;
  return sh('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { env: aptEnv }) === 0;
}

/**
 * A PostgreSQL server for the store tests: POCKETSTACK_TEST_DATABASE_URL if given, else (root)
 * Debian's postgresql package, its cluster started and a `pocketstack` role made.
 */
function ensurePostgres() {
  if (process.env.POCKETSTACK_TEST_DATABASE_URL) return process.env.POCKETSTACK_TEST_DATABASE_URL;
  if (!isRoot || !existsSync('/usr/bin/apt-get')) return undefined;
  const aptEnv = { ...env, DEBIAN_FRONTEND: 'noninteractive' };
  if (!existsSync('/usr/lib/postgresql')) {
    step('installing PostgreSQL');
    if (sh('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'postgresql'], { env: aptEnv }) !== 0) return undefined;
  }
  const list = spawnSync('pg_lsclusters', ['-h'], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean);
  let cluster = list[0]?.split(/\s+/);
  if (!cluster) {
    const version = spawnSync('ls', ['/usr/lib/postgresql'], { encoding: 'utf8' }).stdout.trim().split('\n').pop();
    if (sh('pg_createcluster', [version, 'main']) !== 0) return undefined;
    cluster = [version, 'main', '5432', 'down'];
  }
  const [version, name, port, status] = cluster;
  if (status !== 'online' && sh('pg_ctlcluster', [version, name, 'start']) !== 0) return undefined;
  const role =
    "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pocketstack') THEN CREATE ROLE pocketstack LOGIN SUPERUSER PASSWORD 'pocketstack'; END IF; END $$;";
  if (sh('su', ['postgres', '-c', `psql -q -p ${port} -c "${role.replace(/\$/g, '\\$')}"`]) !== 0) return undefined;
  return `postgres://pocketstack:pocketstack@127.0.0.1:${port}/postgres`;
}

const failures = [];
const run = (title, cmd, argv) => {
  step(title);
  const code = sh(cmd, argv);
  if (code !== 0) failures.push(`${title} (exit ${code})`);
  return code === 0;
};

if (!fast) {
  step('Debian packages');
  if (!ensurePackages() && isRoot) failures.push('installing Debian packages');
}
run('type-check', 'npx', ['tsc', '-p', 'tsconfig.json']);
// `npm run lint` is the one definition of what lint means (package.json); any error fails the run.
run('lint', 'npm', ['run', '--silent', 'lint']);
run('build', 'npx', ['tsc', '-p', 'tsconfig.build.json']);
run('bundle', 'node', ['scripts/bundle.mjs']);
// The dashboard's page script (browser TypeScript): type-checked and built into dist/web/.
run('build the dashboard page', 'npx', ['tsc', '-p', 'tsconfig.web.json']);
const only = process.argv.includes('--only') ? [process.argv[process.argv.indexOf('--only') + 1]] : [];
run('unit and API tests', 'npx', ['vitest', 'run', '--project', 'unit', '--project', 'api', ...only]);
/**
 * One step of a lane: its output goes to test-artifacts/logs/<name>.log and is printed whole when
 * the step ends, so concurrent steps do not interleave in the CI log.
 */
function logged(name, title, cmd, argv, extraEnv = {}) {
  return new Promise((resolve) => {
    mkdirSync('test-artifacts/logs', { recursive: true });
    const file = `test-artifacts/logs/${name}.log`;
    const out = createWriteStream(file);
    const started = Date.now();
    const child = spawn(cmd, argv, { env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.pipe(out, { end: false });
    child.stderr.pipe(out, { end: false });
    child.on('close', (code) => {
      out.end(() => {
        const minutes = ((Date.now() - started) / 60_000).toFixed(1);
        step(`${title} (${minutes} min, exit ${code}; log: ${file})`);
        process.stdout.write(readFileSync(file, 'utf8'));
        if (code !== 0) failures.push(`${title} (exit ${code})`);
        resolve(code === 0);
      });
    });
  });
}

/** Lanes run side by side; the steps of one lane run in order. */
async function lanes(...ls) {
  await Promise.all(
    ls.map(async (steps) => {
      for (const s of steps) await s();
    }),
  );
}

if (!fast) {
  step('PostgreSQL');
  const pgUrl = ensurePostgres();
  if (!pgUrl && isRoot) failures.push('starting PostgreSQL');
  if (!pgUrl && !isRoot) process.stdout.write('note: API tests on PostgreSQL skipped: no POCKETSTACK_TEST_DATABASE_URL and not root to install one\n');
  const tempest = (script, title) => () =>
    existsSync(script) ? logged(script.replace(/^scripts\/|\.sh$/g, ''), title, 'bash', [script], { POCKETSTACK_BUILT: '1' }) : undefined;
  const noTempest = args.has('--no-tempest');
  const apiOnPostgres = () =>
    pgUrl
      ? logged('api-postgres', 'API tests on PostgreSQL', 'npx', ['vitest', 'run', '--project', 'api', ...only], { POCKETSTACK_TEST_DATABASE_URL: pgUrl })
      : undefined;
  // The suites after the unit and API tests are independent (each starts its own servers on free
  // ports and data directories; the data-plane tests take a host lock of their own). Most of
  // their time is waiting (Tempest's 10 s before each subnet delete, load balancers settling),
  // so on CI's two cores three lanes take about as long as the longest one.
  await lanes(
    [
      // The several-hosts e2e runs its agents on PostgreSQL (a database of its own); the other
      // e2e suites stay on SQLite.
      () =>
        logged(
          'e2e',
          'real-client and data-plane tests',
          'npx',
          ['vitest', 'run', '--project', 'e2e', ...only],
          pgUrl ? { POCKETSTACK_E2E_POSTGRES_URL: pgUrl } : {},
        ),
    ],
    noTempest
      ? []
      : [
          tempest('scripts/tempest-network.sh', 'Tempest: tempest.api.network'),
          tempest('scripts/tempest-identity.sh', 'Tempest: tempest.api.identity and keystone_tempest_plugin.tests.api'),
          tempest('scripts/tempest-image.sh', 'Tempest: tempest.api.image'),
          tempest('scripts/sdk-functional.sh', "openstacksdk's functional tests: network, compute, image, identity, load_balancer"),
          // About 3 to 5 minutes: compute/v2 beside the other packages.
          tempest(
            'scripts/gophercloud-acceptance.sh',
            "Gophercloud's acceptance tests: networking v2 and its extensions, compute v2, identity v3, imageservice v2, loadbalancer v2",
          ),
        ],
    [
      ...(noTempest
        ? []
        : [
            tempest('scripts/tempest-octavia.sh', 'Tempest: octavia_tempest_plugin.tests.api.v2 and barbican_tempest_plugin.tests.api'),
            tempest('scripts/tempest-compute.sh', 'Tempest: tempest.api.compute'),
            // About 3 to 5 minutes with its 6 workers.
            tempest('scripts/tempest-neutron-plugin.sh', 'Tempest: neutron_tempest_plugin.api'),
          ]),
      // Last in this lane: Octavia, compute and the plugin take about 7 minutes on a quiet
      // machine and the API tests on PostgreSQL about 8, near the e2e lane's 16 and Tempest
      // network's 16 (when the PostgreSQL run preceded e2e, that lane took 24).
      apiOnPostgres,
    ],
  );
}

// The browser tests' screenshots, one per step (CI keeps this directory as an artifact).
if (existsSync('test-artifacts/screenshots')) process.stdout.write('\nscreenshots of the dashboard tests: test-artifacts/screenshots/\n');

if (failures.length) {
  process.stdout.write(`\nFAILED: ${failures.join('; ')}\n`);
  process.exit(1);
}
process.stdout.write('\nall tests passed\n');
