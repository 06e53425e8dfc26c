import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { Readable } from 'node:stream';
import { buildComputeApi } from './api/compute/app.js';
import { metadataHandler } from './api/metadata/handler.js';
import { buildIdentityApi } from './api/identity/app.js';
import { buildLoadBalancerApi } from './api/loadbalancer/app.js';
import { buildImageApi } from './api/image/app.js';
import { buildKeyManagerApi } from './api/keymanager/app.js';
import { buildNetworkApi } from './api/network/app.js';
import type { Config } from './config.js';
import { buildCatalog, serviceUrl } from './core/catalog.js';
import { GuestMetadata } from './core/compute/guest/service.js';
import { ComputeManager } from './core/compute/manager.js';
import { type ComputeHost, machineCapacity, startComputeHost } from './core/compute/nodes.js';
import { ComputeService } from './core/compute/service.js';
import { type RequestContext, systemContext } from './core/context.js';
import { ImageService } from './core/image/service.js';
import { Sealer } from './core/keymanager/seal.js';
import { KeyManagerService } from './core/keymanager/service.js';
import { DEFAULT_DOMAIN_ID, IdentityService } from './core/identity/service.js';
import { Agents } from './core/network/agents.js';
import { checkL3HaOptions } from './core/network/l3ha.js';
import { hostAgentReports } from './core/network/agentreports.js';
import { floatingIpOps } from './core/network/floatingips.js';
import { meteringLabelOps, meteringLabelRuleOps } from './core/network/metering.js';
import { networkOps, networkRbacType } from './core/network/networks.js';
import { configureDnsDomain } from './core/network/dns.js';
import { configureAgentDownTime } from './core/network/liveness.js';
import { rbacPolicyOps } from './core/network/rbac.js';
import { segmentOps, segmentRangeOps, syncDefaultRanges } from './core/network/segments.js';
import { configureDefaultQuotas } from './core/network/quotas.js';
import { portOps } from './core/network/ports.js';
import { L3_SERVICE_PROVIDERS, routerDef, routerOps } from './core/network/routers.js';
import { conntrackHelperOps, ndpProxyOps } from './core/network/l3extras.js';
import { localIpAssociationOps, localIpOps } from './core/network/localips.js';
import { logOps } from './core/network/logs.js';
import { flavorOps, flavorProfileOps, serviceProfileOps } from './core/network/flavors.js';
import { securityGroupOps, securityGroupRbacType, securityGroupRuleOps } from './core/network/securitygroups.js';
import { PortForwardings } from './core/network/portforwardings.js';
import { qosPolicyOps, qosPolicyRbacType } from './core/network/qos.js';
import { QosRules } from './core/network/qosrules.js';
import { trunkOps } from './core/network/trunks.js';
import { NetworkService } from './core/network/service.js';
import { subnetOps } from './core/network/subnets.js';
import { subnetpoolOps, subnetpoolRbacType } from './core/network/subnetpools.js';
import { addressGroupOps, addressGroupRbacType } from './core/network/addressgroups.js';
import { addressScopeOps, addressScopeRbacType } from './core/network/addressscopes.js';
import type { DataPlaneDriver } from './dataplane/driver.js';
import type { MachineSource } from './dataplane/netns/control.js';
import { NetnsDataPlane } from './dataplane/netns/driver.js';
import { checkVrrpOptions } from './dataplane/netns/harouter.js';
import { CIRROS_NAME, buildCirrosImage } from './dataplane/netns/machines/cirros.js';
import { machineHome } from './dataplane/netns/machines/paths.js';
import { NoopDataPlane } from './dataplane/noop.js';
import { LoadBalancerService } from './core/loadbalancer/service.js';
import { createLbEngine } from './lb/factory.js';
import type { LbEngine } from './lb/engine.js';
import { Store } from './store/db.js';
import { InProcessApis } from './dashboard/apis.js';
import { buildDashboardApi } from './dashboard/app.js';
import { Explainer } from './dashboard/explain/service.js';
import { storeControlPlane } from './dataplane/netns/control.js';
import { Names } from './dataplane/netns/names.js';
import { ROOT_NS } from './dataplane/netns/model.js';
import { parseProtocols } from './dataplane/netns/secgroups.js';
import { ChangeBus, UnitOfWork } from './core/work.js';
import type { ChannelListener } from './store/db.js';
import { migrate } from './store/migrate.js';
import { closeDataDir, privateDir } from './util/private.js';
import { which } from './util/which.js';
import { machineTrees } from './dataplane/netns/machines/paths.js';

/** Extensions the Neutron core of this build implements. */
const CORE_EXTENSIONS = [
  'address-group',
  'address-scope',
  'agent',
  'allowed-address-pairs',
  'auto-allocated-topology',
  'availability_zone',
  'availability_zone_filter',
  'binding',
  'data-plane-status',
  'default-subnetpools',
  'dhcp_agent_scheduler',
  'dns-domain-ports',
  'dns-integration',
  'dns-integration-domain-keywords',
  'expose-l3-conntrack-helper',
  'ext-gw-mode',
  'external-net',
  'extra_dhcp_opt',
  'extraroute',
  'extraroute-atomic',
  'filter-validation',
  'fip-port-details',
  'flavors',
  'floatingip-pools',
  'ip-substring-filtering',
  'ip_allocation',
  'l2_adjacency',
  'l3-conntrack-helper',
  'l3-ext-ndp-proxy',
  'l3-flavors',
  'l3-ha',
  'l3-ndp-proxy',
  'l3_agent_scheduler',
  'local_ip',
  'logging',
  'metering',
  'metering_source_and_destination_fields',
  'multi-provider',
  'net-mtu',
  'net-mtu-writable',
  'network-ip-availability',
  'network-segment-range',
  'network_availability_zone',
  'pagination',
  'port-device-profile',
  'port-mac-address-regenerate',
  'port-numa-affinity-policy',
  'port-security',
  'port-security-groups-filtering',
  'project-id',
  'provider',
  'quota-check-limit',
  'quota_details',
  'quotas',
  'rbac-address-group',
  'rbac-address-scope',
  'rbac-policies',
  'rbac-security-groups',
  'rbac-subnetpool',
  'revision-if-match',
  'router',
  'router_availability_zone',
  'security-group',
  'security-groups-normalized-cidr',
  'security-groups-remote-address-group',
  'security-groups-shared-filtering',
  'segment',
  'service-type',
  'sorting',
  'standard-attr-description',
  'standard-attr-revisions',
  'standard-attr-segment',
  'standard-attr-tag',
  'standard-attr-timestamp',
  'stateful-security-group',
  'subnet-dns-publish-fixed-ip',
  'subnet-segmentid-writable',
  'subnet-service-types',
  'subnet_allocation',
  'subnetpool-prefix-ops',
  'tag',
  'tag-ext',
  'tag-ports-during-bulk-creation',
  'uplink-status-propagation',
];

/** QoS, trunks and port forwarding (issue 11): served with the rest of Neutron. */
const QOS_TRUNK_PF_EXTENSIONS = [
  'qos',
  'qos-bw-limit-direction',
  'qos-default',
  'qos-rule-type-details',
  'qos-rule-type-filter',
  'qos-rules-alias',
  'qos-fip',
  'qos-gateway-ip',
  'qos-bw-minimum-ingress',
  'qos-pps-minimum',
  'qos-pps-minimum-rule-alias',
  'qos-pps',
  'qos-port-network-policy',
  'port-resource-request',
  'port-resource-request-groups',
  'trunk',
  'trunk-details',
  'floating-ip-port-forwarding',
  'floating-ip-port-forwarding-description',
  'floating-ip-port-forwarding-port-ranges',
  'floating-ip-port-forwarding-detail',
  'expose-port-forwarding-in-fip',
];

/** What GET /v2.0/service-providers lists: the drivers of the services this build runs. */
const SERVICE_PROVIDERS = [...L3_SERVICE_PROVIDERS];

/** Which configured port each API app listens on (app name → Config.ports key). */
export const APP_PORTS: Record<string, keyof Config['ports']> = {
  identity: 'identity',
  network: 'network',
  compute: 'compute',
  image: 'image',
  'load-balancer': 'loadBalancer',
  'key-manager': 'keyManager',
};

export interface Services {
  store: Store;
  identity: IdentityService;
  network: NetworkService;
  /** Neutron's agents: this host's DHCP agent and the networks scheduled to it. */
  agents: Agents;
  extensions: Set<string>;
  dataplane: DataPlaneDriver;
  loadBalancer: LoadBalancerService;
  lbEngine: LbEngine;
  keyManager: KeyManagerService;
  image: ImageService;
  compute: ComputeService;
  computeManager: ComputeManager;
}

/**
 * What a process is: `serve`, the API servers (Neutron's server: it schedules networks and
 * routers to agents and moves networks off dead DHCP agents), with this host's agents unless
 * `localAgent` is off; or `agent`, one host's agents only (`pocketstack agent --host`): no API,
 * its heartbeats, and the data plane of that host's part of the cloud, woken by the changes
 * other processes commit (PostgreSQL's LISTEN).
 */
export type Role = 'serve' | 'agent';

/** A running PocketStack: the store, the services and the HTTP servers in front of them. */
export class Cloud {
  readonly apps = new Map<string, FastifyInstance>();
  /** The dashboard (topology, explain): a client of the apps above, on its own port. */
  dashboard!: FastifyInstance;
  private timers: NodeJS.Timeout[] = [];
  /** Subscriptions to end on close. */
  private stops: Array<() => void> = [];
  private listener: ChannelListener | null = null;
  private dataPlaneStarted = false;
  private computeHost: ComputeHost | null = null;

  private constructor(
    readonly config: Config,
    readonly log: Logger,
    readonly services: Services,
    readonly role: Role,
  ) {}

  get store(): Store {
    return this.services.store;
  }

  /** Open the store, migrate, bootstrap on first start, and build (not yet listen on) every API. */
  static async create(config: Config, log: Logger = pino({ level: config.logLevel }, pino.destination(2)), role: Role = 'serve'): Promise<Cloud> {
    // Private before anything is written to it: 0700, every file in it 0600 (see util/private.ts).
    privateDir(config.dataDir);
    // Instances' file systems are theirs: image trees and each instance's writes, seed and init
    // files keep the modes their owners inside gave them (0755 binaries a non-root user runs).
    const opened = closeDataDir(config.dataDir, machineTrees(config.dataDir));
    if (opened.length) {
      log.warn(
        { dataDir: config.dataDir, changed: opened.length, examples: opened.slice(0, 5).map((c) => `${c.was} ${c.path}`) },
        'the data directory was readable by other users: its directories are now 0700 and its files 0600',
      );
    }
    const store = await Store.open({
      url: config.databaseUrl,
      onIdleConnectionError: (err) =>
        log.warn({ code: err.code, reason: err.message }, 'the database closed an idle connection; the next query opens a new one'),
      onCheckpointError: (reason) => log.warn({ reason }, 'SQLite WAL checkpoint off the request path failed; commits checkpoint themselves again'),
    });
    await migrate(store);
    const changes = new ChangeBus((err, c) => log.error({ err, change: c }, 'a change listener failed'));
    const uow = new UnitOfWork(store, changes);
    const served = new Set(['identity', 'network', 'compute', 'image', 'load-balancer', 'key-manager']);
    const identity = new IdentityService(uow, {
      tokenTtlSeconds: config.tokenTtlSeconds,
      catalog: () => buildCatalog(config, served),
      dataDir: config.dataDir,
    });
    configureDefaultQuotas(config.quotas);
    const network = new NetworkService(uow);
    const typeDrivers = { vxlanRange: () => config.vxlanRange, vlanRanges: () => config.vlanRanges };
    configureDnsDomain(config.dnsDomain);
    network.register(networkOps(typeDrivers));
    network.rbac.register(networkRbacType);
    network.register(segmentOps(typeDrivers));
    network.register(segmentRangeOps());
    // The ranges are the server's configuration (ml2_conf), not an agent's.
    if (role === 'serve') await uow.run(({ trx }) => syncDefaultRanges(trx, typeDrivers));
    network.register(subnetOps());
    network.register(subnetpoolOps());
    network.rbac.register(subnetpoolRbacType);
    network.register(addressScopeOps());
    network.rbac.register(addressScopeRbacType);
    network.register(addressGroupOps());
    network.rbac.register(addressGroupRbacType);
    network.register(portOps());
    network.register(securityGroupOps(uow));
    network.rbac.register(securityGroupRbacType);
    network.register(securityGroupRuleOps(uow));
    checkL3HaOptions(config.l3Ha);
    // ML2's binding refuses dead agents by the same agent_down_time the agents API shows.
    configureAgentDownTime(config.agentDownTime);
    const agents = new Agents(uow, config.agentDownTime, config.l3Ha);
    network.register(routerOps({ options: config.l3Ha, networks: (w) => network.within(w), schedule: (w, id) => agents.scheduleHaRouter(w, id) }));
    network.register(conntrackHelperOps());
    network.register(ndpProxyOps(routerDef));
    network.register(localIpOps());
    network.register(localIpAssociationOps());
    network.register(logOps());
    network.register(flavorOps());
    network.register(serviceProfileOps());
    network.register(flavorProfileOps());
    network.register(floatingIpOps());
    network.register(meteringLabelOps());
    network.register(meteringLabelRuleOps());
    network.register(rbacPolicyOps(network.rbac));
    network.register(qosPolicyOps());
    network.rbac.register(qosPolicyRbacType);
    network.register(trunkOps());
    const qosRules = new QosRules(uow);
    const portForwardings = new PortForwardings(uow);
    const extensions = new Set([...CORE_EXTENSIONS, ...QOS_TRUNK_PF_EXTENSIONS]);
    const image = new ImageService(uow, {
      dataDir: config.dataDir,
      sizeCap: config.imageSizeCap,
      ...config.image,
      logger: log.child({ component: 'image' }),
      // glance-download's Glance is found in the caller's catalog (Keystone's, which is writable).
      imageEndpoints: async (who) => (await identity.catalog.forToken(who)).find((s) => s.type === 'image')?.endpoints ?? [],
    });
    // With netns, instances are namespaces the data plane runs: compute waits for its reports.
    const compute = new ComputeService(uow, network, image, {
      dataDir: config.dataDir,
      hostname: config.agentHost,
      instanceHost: config.dataplane === 'netns',
      hostCapacity: config.hostCapacity,
      computeHost: config.localAgent,
      scheduler: config.scheduler,
      machineHome: config.dataplane === 'netns' ? machineHome(config.dataplanePrefix, config.dataDir) : null,
    });
    const computeManager = new ComputeManager(compute, changes, log.child({ component: 'compute-manager' }), {
      buildTimeoutMs: 300_000,
      actionMs: config.computeActionMs,
      periodMs: config.computeResyncMs,
    });
    // Scheduling is the server's (Neutron's notifiers): an agent process only runs what it is given.
    if (role === 'serve') agents.attach(changes);
    const guest = new GuestMetadata(uow);
    const metadata = metadataHandler(guest, log.child({ component: 'metadata' }));
    const machines: MachineSource = { reports: compute, guest, metadata };
    const dataplane = await createDataPlane(config, role, network, agents, machines, log);
    if (dataplane instanceof NetnsDataPlane) compute.attachHost(dataplane);

    // Payloads sealed under a key of the data directory (core/keymanager/seal.ts).
    const keyManager = new KeyManagerService(uow, Sealer.fromFile(join(config.dataDir, 'keymanager.key')));
    const loadBalancer = new LoadBalancerService(uow, network, { networkDriver: config.lbNetworkDriver, host: config.agentHost, keyManager });
    // Each host's engine serves the load balancers placed on its host (core/loadbalancer/hosts.ts);
    // the API server's local one also completes those without a real VIP (noop network driver).
    const lbEngine = await createLbEngine(config, loadBalancer, log.child({ component: 'lb-engine' }), dataplane instanceof NetnsDataPlane ? dataplane : null, {
      name: config.agentHost,
      noop: role === 'serve',
    });
    if (config.lbaasV1) extensions.add('lbaas');

    const cloud = new Cloud(
      config,
      log,
      {
        store,
        identity,
        network,
        agents,
        extensions,
        dataplane,
        image,
        compute,
        computeManager,
        loadBalancer,
        lbEngine,
        keyManager,
      },
      role,
    );
    const identityUrl = () => serviceUrl(config, 'identity');
    cloud.apps.set('identity', buildIdentityApi({ logger: log, identity }));
    cloud.apps.set(
      'network',
      buildNetworkApi({
        logger: log,
        service: network,
        uow,
        auth: identity,
        identityUrl,
        extensions: () => [...extensions].sort(),
        serviceProviders: () => SERVICE_PROVIDERS,
        lbaasV1: config.lbaasV1 ? loadBalancer : undefined,
        agents,
        qosRules,
        portForwardings,
        trunks: true,
      }),
    );
    cloud.apps.set('compute', buildComputeApi({ logger: log, compute, auth: identity, identityUrl, imageUrl: () => serviceUrl(config, 'image') }));
    cloud.apps.set('image', buildImageApi({ logger: log, service: image, auth: identity, identityUrl }));
    cloud.apps.set('load-balancer', buildLoadBalancerApi({ logger: log, service: loadBalancer, auth: identity, identityUrl }));
    cloud.apps.set('key-manager', buildKeyManagerApi({ logger: log, service: keyManager, auth: identity, identityUrl }));
    cloud.dashboard = buildDashboard(config, log, cloud, uow, machines);
    return cloud;
  }

  /**
   * First start: identity, the `public` network (with `--default-subnetpools`, DevStack's shared
   * default subnet pools), DevStack's flavors and the public cirros image; writes openrc files and
   * clouds.yaml.
   */
  async bootstrap(): Promise<{ firstStart: boolean; files: string[] }> {
    const { identity, network, compute, image } = this.services;
    const result = await identity.bootstrap({ adminPassword: this.config.adminPassword, demoPassword: this.config.demoPassword });
    if (result.firstStart) {
      const projects = new Map(
        (
          await this.store.db
            .selectFrom('projects')
            .select(['id', 'name'])
            .where('name', 'in', ['admin', 'demo'])
            .where('domain_id', '=', DEFAULT_DOMAIN_ID)
            .execute()
        ).map((p) => [p.name, p.id]),
      );
      const adminId = projects.get('admin') as string;
      const ctx = { ...systemContext('req-bootstrap'), projectId: adminId, projectName: 'admin' };
      const publicId = await createPublicNetwork(network, ctx, this.config.defaultSubnetpools);
      if (this.config.initialNetworks) await createInitialNetworks(network, ctx, projects.get('demo') as string, publicId);
      await compute.flavors.bootstrap();
      await this.createDefaultImage(adminId);
    }
    // Glance's metadefs catalog (once), and imports or uploads a stop interrupted.
    await image.start();
    // clouds.yaml is rewritten only when both passwords are known; its application-credential
    // cloud then gets a fresh credential (a secret is shown once, so an old one cannot be reused).
    const appCred = result.adminPassword !== null && result.demoPassword !== null ? await identity.demoAppCredential() : null;
    const files = this.writeCredentials(result.adminPassword, result.demoPassword, appCred);
    return { firstStart: result.firstStart, files };
  }

  /**
   * DevStack's cirros image, built from this host's busybox-static and dropbear (a tar of its
   * root file system; Glance's formats stay DevStack's, as clients and Tempest expect them).
   * Without busybox-static the image is made empty: it can be named at boot, but a server booted
   * from it on the netns data plane goes to ERROR saying the image has no data.
   */
  private async createDefaultImage(owner: string): Promise<void> {
    const built = await buildCirrosImage().catch((e: unknown) => ({ why: e instanceof Error ? e.message : String(e) }));
    if ('why' in built) this.log.warn({ reason: built.why }, `${CIRROS_NAME} is empty: servers cannot boot from it on the netns data plane`);
    else if (built.missing.length) this.log.warn({ missing: built.missing }, `${CIRROS_NAME} has no ssh server`);
    const data = 'why' in built ? Readable.from([]) : Readable.from([built.data]);
    await this.services.image.createPublicImage(owner, CIRROS_NAME, data, { disk: 'qcow2', container: 'bare' });
  }

  private writeCredentials(adminPassword: string | null, demoPassword: string | null, appCred: { id: string; secret: string } | null = null): string[] {
    const dir = this.config.dataDir;
    privateDir(dir);
    const authUrl = `${serviceUrl(this.config, 'identity')}/v3`;
    const written: string[] = [];
    const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const users: Array<[string, string | null]> = [
      ['admin', adminPassword],
      ['demo', demoPassword],
    ];
    for (const [user, password] of users) {
      const file = join(dir, `openrc-${user}.sh`);
      if (password === null && existsSync(file)) continue;
      if (password === null) continue;
      const text = [
        `# PocketStack credentials for ${user}: source this file, then run openstack commands.`,
        `export OS_AUTH_URL=${q(authUrl)}`,
        'export OS_IDENTITY_API_VERSION=3',
        `export OS_USERNAME=${q(user)}`,
        `export OS_PASSWORD=${q(password)}`,
        `export OS_PROJECT_NAME=${q(user)}`,
        "export OS_USER_DOMAIN_NAME='Default'",
        "export OS_PROJECT_DOMAIN_NAME='Default'",
        `export OS_REGION_NAME=${q(this.config.region)}`,
        "export OS_INTERFACE='public'",
        '',
      ].join('\n');
      writeFileSync(file, text, { mode: 0o600 });
      chmodSync(file, 0o600);
      written.push(file);
    }
    if (adminPassword !== null && demoPassword !== null) {
      const file = join(dir, 'clouds.yaml');
      const cloud = (user: string, password: string) =>
        [
          `  ${user === 'admin' ? 'pocketstack-admin' : 'pocketstack'}:`,
          '    auth:',
          `      auth_url: ${JSON.stringify(authUrl)}`,
          `      username: ${JSON.stringify(user)}`,
          `      password: ${JSON.stringify(password)}`,
          `      project_name: ${JSON.stringify(user)}`,
          '      user_domain_name: "Default"',
          '      project_domain_name: "Default"',
          `    region_name: ${JSON.stringify(this.config.region)}`,
          '    interface: "public"',
          '    identity_api_version: 3',
        ].join('\n');
      const appCredCloud = appCred
        ? [
            '  pocketstack-appcred:',
            '    auth_type: "v3applicationcredential"',
            '    auth:',
            `      auth_url: ${JSON.stringify(authUrl)}`,
            `      application_credential_id: ${JSON.stringify(appCred.id)}`,
            `      application_credential_secret: ${JSON.stringify(appCred.secret)}`,
            `    region_name: ${JSON.stringify(this.config.region)}`,
            '    interface: "public"',
            '    identity_api_version: 3',
            '',
          ].join('\n')
        : '';
      writeFileSync(file, `clouds:\n${cloud('demo', demoPassword)}\n${cloud('admin', adminPassword)}\n${appCredCloud}`, { mode: 0o600 });
      chmodSync(file, 0o600);
      written.push(file);
    }
    return written;
  }

  /** Listen on every service's port. */
  async listen(): Promise<Array<{ service: string; url: string }>> {
    const out: Array<{ service: string; url: string }> = [];
    for (const [name, app] of this.apps) {
      const portKey = APP_PORTS[name];
      await app.listen({ host: this.config.host, port: this.config.ports[portKey] });
      out.push({ service: name, url: serviceUrl(this.config, portKey) });
    }
    this.timers.push(setInterval(() => void this.services.identity.purgeExpired().catch(() => undefined), 3600_000).unref());
    return out;
  }

  /**
   * Listen with the dashboard on its port. A port already taken is not fatal: the APIs are what
   * the cloud is for; the reason is returned for the start-up summary.
   */
  async listenDashboard(): Promise<{ url: string } | { error: string }> {
    try {
      await this.dashboard.listen({ host: this.config.host, port: this.config.dashboardPort });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      return {
        error: `not started: ${this.config.host}:${this.config.dashboardPort} ${code === 'EADDRINUSE' ? 'is in use' : String((e as Error).message)} (POCKETSTACK_DASHBOARD_PORT)`,
      };
    }
    const addr = this.dashboard.server.address();
    const port = addr && typeof addr === 'object' ? addr.port : this.config.dashboardPort;
    return { url: `http://${this.config.publicHost}:${port}` };
  }

  /**
   * Start reconciling the store into the machine (the noop driver only records status) and the
   * compute manager that moves servers through their states.
   */
  async startDataPlane(): Promise<void> {
    if (this.role === 'agent') return this.startAgent();
    // Neutron's DHCP agent status check: every agent_down_time / 2, networks leave dead agents.
    const checkMs = Math.max(1, Math.floor(this.config.agentDownTime / 2)) * 1000;
    this.timers.push(setInterval(() => void this.services.agents.rescheduleFromDeadDhcpAgents().catch(() => undefined), checkMs).unref());
    // And, where the operator allows it, the L3 agents' (add_periodic_l3_agent_status_check).
    if (this.config.allowAutomaticL3agentFailover) {
      const l3Check = async () => {
        const moved = await this.services.agents.rescheduleFromDeadL3Agents();
        for (const id of moved) this.log.warn({ router: id }, 'router rescheduled from an L3 agent that did not report in twice agent_down_time');
      };
      this.timers.push(setInterval(() => void l3Check().catch((err: unknown) => this.log.error({ err }, 'L3 agent status check failed')), checkMs).unref());
    }
    // Octavia's health manager: load balancers on a host whose agent died are rebuilt on another.
    const lbCheck = async () => {
      for (const m of await this.services.loadBalancer.failoverFromLostHosts()) {
        this.log.warn({ loadbalancer: m.id, from: m.from, to: m.to }, "load balancer failed over: its host's agent is not alive");
      }
    };
    this.timers.push(setInterval(() => void lbCheck().catch((err: unknown) => this.log.error({ err }, 'load-balancer host check failed')), checkMs).unref());
    if (this.config.localAgent) {
      await this.reportAgents();
      await this.services.dataplane.start();
      this.dataPlaneStarted = true;
      // This host's engine: the load balancers placed on it, as every `pocketstack agent` runs its own.
      await this.services.lbEngine.start();
    }
    // nova-compute, -conductor and -scheduler register (and start reporting) as they start.
    await this.services.compute.start();
    const { computeManager, network, store } = this.services;
    computeManager.start();
    // On the shared PostgreSQL store, agents elsewhere report what they built (a port ACTIVE, an
    // instance running) in commits of their own: heard here (LISTEN), the compute manager moves
    // the server on at once, as nova-compute's external events do, not at its next periodic
    // pass. Only status reports are taken in: requests other API servers serve stay theirs.
    if (store.dialect === 'postgres') {
      this.listener = await network.uow.listenToOthers({
        accept: (c) => c.op === 'status',
        onMissed: () => computeManager.kick(),
        onError: (err) => this.log.warn({ reason: err.message }, "lost the connection that hears agents' reports; opening it again"),
      });
    }
  }

  /**
   * This host's agents (L2, DHCP, L3, metadata) report at start and every report_interval, as
   * Neutron's agents call report_state (their `host` is config.agentHost).
   */
  private async reportAgents(): Promise<void> {
    const host = this.config.agentHost;
    const { agents, store } = this.services;
    // With its heartbeat the L3 agent reports the states of its HA routers (update_routers_states).
    // An agent on netns runs keepalived: its data plane reports the states VRRP decides
    // (updateHaStates); elsewhere the agents make the election keepalived would.
    const elect = !(this.role === 'agent' && this.config.dataplane === 'netns');
    const report = async (start: boolean) => {
      await agents.report(
        host,
        await hostAgentReports(store.db, agents, host, this.config.dataplane, {
          tunnelIp: this.config.tunnelIp,
          interfaceMappings: this.config.interfaceMappings,
          bridgeMappings: this.config.bridgeMappings,
        }),
        start,
      );
      if (start) await agents.autoScheduleHaRouters(host);
      if (elect) await agents.reportHaStates(host);
    };
    await report(true);
    const warn = (err: unknown) => this.log.warn({ err }, 'agent report failed (the next one tries again)');
    this.timers.push(setInterval(() => void report(false).catch(warn), this.config.reportInterval * 1000).unref());
    // A router created, made HA or moved reaches the agent at once (routers_updated), whose
    // keepalived would take its state within an advertisement or two.
    let pending: Promise<unknown> = Promise.resolve();
    // A burst of router changes needs one election after it, not one each: a report queued and
    // not yet started reads the store when it starts, so it covers every change heard until then.
    let queued = false;
    if (!elect) return;
    const unsubscribe = this.services.network.uow.changes.subscribe({ kinds: ['router'] }, () => {
      if (queued) return;
      queued = true;
      pending = pending
        .then(() => {
          queued = false;
          return agents.reportHaStates(host);
        })
        .catch(warn);
    });
    this.stops.push(unsubscribe);
  }

  /**
   * One host's agents in a process of their own (`pocketstack agent`): heartbeats, and the data
   * plane of this host's part, woken by what other processes commit (LISTEN) — and, since a
   * notification can be missed while the connection is down, by its periodic full resync.
   */
  private async startAgent(): Promise<void> {
    const { network, dataplane, lbEngine } = this.services;
    this.listener = await network.uow.listenToOthers({
      onMissed: () => {
        dataplane.kick('changes may have been missed');
        void lbEngine.resync().catch((err: unknown) => this.log.warn({ err }, 'load-balancer resync failed'));
      },
      onError: (err) => this.log.warn({ reason: err.message }, 'lost the connection that hears changes; opening it again'),
    });
    await this.reportAgents();
    // Its host is a nova-compute host too: registered, its capacity reported, heartbeating.
    this.computeHost = await startComputeHost(network.uow, {
      host: this.config.agentHost,
      capacity: machineCapacity(this.config.dataDir, this.config.hostCapacity),
      home: this.config.dataplane === 'netns' ? machineHome(this.config.dataplanePrefix, this.config.dataDir) : null,
      onError: (err) => this.log.warn({ err }, 'nova-compute heartbeat failed (the next one tries again)'),
    });
    await dataplane.start();
    this.dataPlaneStarted = true;
    // The load balancers placed on this host, served here as the API server's local agent does.
    await lbEngine.start();
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.computeHost?.stop();
    for (const stop of this.stops) stop();
    await this.listener?.close();
    this.services.agents.detach();
    await this.services.lbEngine.stop();
    await this.services.computeManager.stop();
    if (this.dataPlaneStarted) await this.services.dataplane.stop();
    for (const app of this.apps.values()) await app.close();
    await this.services.image.stop();
    await this.dashboard.close();
    await this.store.close();
  }
}

function buildDashboard(config: Config, log: Logger, cloud: Cloud, uow: UnitOfWork, machines: MachineSource): FastifyInstance {
  const { dataplane, network, identity, store } = cloud.services;
  const apis = new InProcessApis(cloud.apps);
  let protocols = '';
  try {
    protocols = readFileSync('/etc/protocols', 'utf8');
  } catch {
    // numbers are printed as numbers then
  }
  // explain reads the state exactly as the data plane does: its own snapshot when netns runs.
  const netns = dataplane instanceof NetnsDataPlane ? dataplane : null;
  const plain = storeControlPlane(network, machines);
  const explainer = new Explainer(apis, {
    snapshot: () => (netns ? netns.snapshot() : plain.snapshot()),
    names: netns ? netns.names : new Names(config.dataplanePrefix),
    protocolNames: parseProtocols(protocols),
    store,
    netns: netns !== null,
    publicPhysnet: 'public',
  });
  return buildDashboardApi({
    logger: log,
    changes: uow.changes,
    auth: identity,
    apis,
    identityUrl: () => serviceUrl(config, 'identity'),
    explainer,
    // On netns every instance runs its user_data (as root inside it); --run-user-data is only accepted.
    info: { dataplane: config.dataplane, runUserData: config.dataplane === 'netns' },
  });
}

async function createDataPlane(
  config: Config,
  role: Role,
  network: NetworkService,
  agents: Agents,
  machines: MachineSource,
  log: Logger,
): Promise<DataPlaneDriver> {
  const dlog = log.child({ component: 'dataplane' });
  // An API-only server has no data plane: one never started (the dashboard's explain then reads
  // the store as the agents do).
  if (role === 'serve' && !config.localAgent) return new NoopDataPlane(network, dlog);
  // An agent process runs its host's part; so does serve's local agent (its host's ports, the
  // networks and routers scheduled to its agents), so `agent` processes on other hosts keep theirs.
  const only = role === 'agent';
  switch (config.dataplane) {
    case 'noop':
      return new NoopDataPlane(network, dlog, only ? config.agentHost : null);
    case 'netns':
      if (!Number.isInteger(config.sendArpForHa) || config.sendArpForHa < 0) {
        throw new Error(`send_arp_for_ha (POCKETSTACK_SEND_ARP_FOR_HA) must be a whole number from 0, not '${config.sendArpForHa}'.`);
      }
      if (only) {
        checkVrrpOptions(config.haVrrp);
        // KeepalivedTrackScript's script pings the gateway with iputils' ping (ping6 for IPv6):
        // without it every check fails and keepalived puts each master in FAULT.
        if (config.haVrrp.healthCheckInterval && !which('ping')) {
          throw new Error('ha_vrrp_health_check_interval needs ping (iputils-ping) for its health check script, and there is none on PATH.');
        }
      }
      return NetnsDataPlane.create(
        network,
        {
          prefix: config.dataplanePrefix,
          dataDir: config.dataDir,
          instanceIds: { base: config.instanceIdBase, count: 65536 },
          publicPhysnet: 'public',
          resyncMs: config.dataplaneResyncMs,
          host: { name: config.agentHost, publicLeg: !only },
          // A host of several runs its HA routers with keepalived; one machine's one L3 agent needs none.
          ...(only ? { vrrp: config.haVrrp, childProcesses: config.checkChildProcesses } : {}),
          ...(config.tunnelIp
            ? { tunnel: { ip: config.tunnelIp, underlayNs: config.underlayNetns ?? ROOT_NS, ...(config.vxlanArpResponder ? { arpResponder: true } : {}) } }
            : {}),
          ...(config.interfaceMappings.size ? { interfaceMappings: { mappings: config.interfaceMappings, home: config.underlayNetns ?? ROOT_NS } } : {}),
          sendArpForHa: config.sendArpForHa,
          ...(config.bridgeMappings.size ? { bridgeMappings: config.bridgeMappings } : {}),
        },
        dlog,
        machines,
        agents,
      );
    default:
      throw new Error(`unknown data plane '${String(config.dataplane)}' (use --dataplane noop or netns)`);
  }
}

/**
 * DevStack's `public` network: flat on physnet `public`, 172.24.4.0/24 and 2001:db8::/64. With
 * `defaultPools`, as DevStack's create_neutron_initial_network does where auto-allocated-topology
 * and subnet_allocation are served: `public` is the default external network (`--is-default`) and
 * the shared default subnet pools (one per IP version, both named `shared-default-subnetpool`:
 * SUBNETPOOL_PREFIX_V4 10.0.0.0/8 by /24, SUBNETPOOL_PREFIX_V6 2001:db8:8000::/48 by /64) exist,
 * so `GET /v2.0/auto-allocated-topology/{project}` builds a project's topology from them.
 */
export async function createPublicNetwork(network: NetworkService, ctx: RequestContext, defaultPools = false): Promise<string> {
  if (defaultPools) {
    for (const [prefix, length] of [
      ['10.0.0.0/8', 24],
      ['2001:db8:8000::/48', 64],
    ] as const) {
      await network.create(ctx, 'subnetpools', {
        subnetpool: { name: 'shared-default-subnetpool', prefixes: [prefix], default_prefixlen: length, shared: true, is_default: true },
      });
    }
  }
  const created = await network.create(ctx, 'networks', {
    network: {
      name: 'public',
      'router:external': true,
      'provider:network_type': 'flat',
      'provider:physical_network': 'public',
      admin_state_up: true,
      ...(defaultPools ? { is_default: true } : {}),
    },
  });
  const id = created.items[0].id as string;
  await network.create(ctx, 'subnets', {
    subnet: {
      name: 'public-subnet',
      network_id: id,
      ip_version: 4,
      cidr: '172.24.4.0/24',
      gateway_ip: '172.24.4.1',
      allocation_pools: [{ start: '172.24.4.2', end: '172.24.4.254' }],
      enable_dhcp: false,
    },
  });
  await network.create(ctx, 'subnets', {
    subnet: { name: 'ipv6-public-subnet', network_id: id, ip_version: 6, cidr: '2001:db8::/64', gateway_ip: '2001:db8::2', enable_dhcp: false },
  });
  return id;
}

/**
 * DevStack's initial tenant networking (lib/neutron_plugins/services/l3,
 * create_neutron_initial_network, with IP_VERSION 4+6 and a tenant router): the demo project's
 * `private` network with `private-subnet` (FIXED_RANGE, 10.0.0.0/22, gateway NETWORK_GATEWAY
 * 10.0.0.1) and `ipv6-private-subnet` (FIXED_RANGE_V6: `fd` and a random 40-bit global ID, as
 * RFC 4193 asks, /64, gateway ::1, SLAAC for both modes), and its `router1`: the IPv4 subnet as an
 * interface, `public` as the gateway, then the IPv6 subnet, in DevStack's order. Made by the admin
 * for the demo project, as DevStack's `--tenant-id` does.
 */
export async function createInitialNetworks(network: NetworkService, ctx: RequestContext, demoProjectId: string, publicId: string): Promise<void> {
  const tenant = { tenant_id: demoProjectId };
  const [net] = (await network.create(ctx, 'networks', { network: { name: 'private', admin_state_up: true, ...tenant } })).items;
  const subnet = async (body: Record<string, unknown>) =>
    (await network.create(ctx, 'subnets', { subnet: { network_id: net.id, ...tenant, ...body } })).items[0].id as string;
  const v4 = await subnet({ name: 'private-subnet', ip_version: 4, cidr: '10.0.0.0/22', gateway_ip: '10.0.0.1' });
  const globalId = randomBytes(5)
    .toString('hex')
    .replace(/^(..)(....)(....)$/, '$1:$2:$3');
  const v6 = await subnet({
    name: 'ipv6-private-subnet',
    ip_version: 6,
    cidr: `fd${globalId}::/64`,
    gateway_ip: `fd${globalId}::1`,
    ipv6_ra_mode: 'slaac',
    ipv6_address_mode: 'slaac',
  });
  const [router] = (await network.create(ctx, 'routers', { router: { name: 'router1', admin_state_up: true, ...tenant } })).items;
  const routerId = router.id as string;
  await network.action(ctx, 'routers', routerId, 'add_router_interface', { subnet_id: v4 });
  await network.update(ctx, 'routers', routerId, { router: { external_gateway_info: { network_id: publicId } } });
  await network.action(ctx, 'routers', routerId, 'add_router_interface', { subnet_id: v6 });
}
