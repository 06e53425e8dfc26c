import { tierUserData } from './app.js';
import { ApiError, type OpenStack } from './client.js';
import { buildFractalImage, readImage, removeImageDir } from './image.js';

/**
 * `pocketstack demo fractal`: the seed's deployment of the Fractal app, through the real APIs as
 * the tutorial's commands make it: three networks and subnets (worker 10.0.1.0/24, webserver
 * 10.0.2.0/24, api 10.0.3.0/24), a router with the public gateway and an interface on each,
 * security groups per tier, the instances with their tier's user_data, floating IPs, and a load
 * balancer in front of the web servers (pool, members, HTTP health monitor, VIP with a floating IP).
 * Everything it makes is tagged `fractal-demo` (servers: metadata demo=fractal), which is what
 * `--down` removes, and nothing else.
 */
export const TAG = 'fractal-demo';

type Say = (line: string) => void;
type Obj = Record<string, unknown>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, fn: () => Promise<T | null | undefined>, ms: number, every = 250): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== null && v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await sleep(every);
  }
}

export interface DeployOptions {
  say: Say;
  /** The dashboard's URL (to check the data plane, and to print). */
  dashboard: string;
  /** Seconds to wait for the web UI to show a computed image. */
  waitSeconds?: number;
}

export interface Deployment {
  url: string;
  imageUrl: string;
  ids: Record<string, string>;
}

/** Refuse unless this cloud runs instances for real: the netns data plane with user_data. */
export async function checkCloud(os: OpenStack, dashboard: string): Promise<void> {
  let info: { dataplane?: string; run_user_data?: boolean };
  try {
    const res = await fetch(`${dashboard}/api/info`, { headers: { 'x-auth-token': os.token } });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    info = (await res.json()) as typeof info;
  } catch (e) {
    throw new Error(`cannot ask the dashboard at ${dashboard} which data plane this cloud runs (${(e as Error).message}); give --dashboard-url`);
  }
  if (info.dataplane !== 'netns') {
    throw new Error(
      `the Fractal demo needs real instances and networks: this cloud runs the '${info.dataplane}' data plane.\n` +
        'Start it as root with:  pocketstack serve --dataplane netns --run-user-data',
    );
  }
  if (!info.run_user_data) {
    throw new Error(
      "the Fractal demo's tiers are their instances' user_data: start the cloud with --run-user-data (pocketstack serve --dataplane netns --run-user-data)",
    );
  }
}

async function tag(os: OpenStack, collection: string, id: string): Promise<void> {
  await os.put('network', `/v2.0/${collection}/${id}/tags/${TAG}`);
}

async function tagged(os: OpenStack, collection: string, key: string): Promise<Obj[]> {
  return ((await os.get('network', `/v2.0/${collection}?tags=${TAG}`)).body[key] as Obj[]) ?? [];
}

export async function deployFractal(os: OpenStack, opts: DeployOptions): Promise<Deployment> {
  const { say } = opts;
  await checkCloud(os, opts.dashboard);
  if ((await tagged(os, 'networks', 'networks')).length)
    throw new Error('the Fractal demo is already deployed in this project: remove it first with  pocketstack demo fractal --down');
  const ids: Record<string, string> = {};
  const step = async <T>(words: string, fn: () => Promise<T>): Promise<T> => {
    const started = Date.now();
    const v = await fn();
    say(`  ${words.padEnd(64)} ${Date.now() - started} ms`);
    return v;
  };

  // ------------------------------------------------------------ the image
  const image = await step('image create fractal-node (node + busybox root file system)', async () => {
    const built = buildFractalImage();
    try {
      const img = (
        await os.post('image', '/v2/images', { name: 'fractal-node', container_format: 'docker', disk_format: 'raw', visibility: 'private', tags: [TAG] })
      ).body as Obj;
      await os.request('PUT', 'image', `/v2/images/${img.id}/file`, new Uint8Array(readImage(built.file)), { 'content-type': 'application/octet-stream' });
      return String(img.id);
    } finally {
      removeImageDir(built.dir);
    }
  });
  ids.image = image;

  // ------------------------------------------------------------ networks, subnets, router
  const pub = ((await os.get('network', '/v2.0/networks?router:external=true')).body.networks as Obj[])[0];
  if (!pub) throw new Error('no external network (public) in this cloud');
  const router = await step('router create project_router; router set --external-gateway public', async () => {
    const r = (await os.post('network', '/v2.0/routers', { router: { name: 'project_router', external_gateway_info: { network_id: pub.id } } })).body
      .router as Obj;
    await tag(os, 'routers', String(r.id));
    return String(r.id);
  });
  ids.router = router;
  const nets: Record<string, { net: string; subnet: string }> = {};
  for (const [tier, cidr] of [
    ['worker', '10.0.1.0/24'],
    ['webserver', '10.0.2.0/24'],
    ['api', '10.0.3.0/24'],
  ] as const) {
    nets[tier] = await step(`network create ${tier}_network; subnet create ${tier}_subnet ${cidr}; router add subnet`, async () => {
      const n = (await os.post('network', '/v2.0/networks', { network: { name: `${tier}_network` } })).body.network as Obj;
      await tag(os, 'networks', String(n.id));
      const s = (await os.post('network', '/v2.0/subnets', { subnet: { name: `${tier}_subnet`, network_id: n.id, cidr, ip_version: 4 } })).body.subnet as Obj;
      await tag(os, 'subnets', String(s.id));
      await os.put('network', `/v2.0/routers/${router}/add_router_interface`, { subnet_id: s.id });
      return { net: String(n.id), subnet: String(s.id) };
    });
    ids[`${tier}_network`] = nets[tier].net;
  }

  // ------------------------------------------------------------ security groups
  const group = async (name: string, description: string) => {
    const g = (await os.post('network', '/v2.0/security-groups', { security_group: { name, description } })).body.security_group as Obj;
    await tag(os, 'security-groups', String(g.id));
    return String(g.id);
  };
  const rule = (sg: string, r: Obj) =>
    os.post('network', '/v2.0/security-group-rules', { security_group_rule: { security_group_id: sg, direction: 'ingress', ethertype: 'IPv4', ...r } });
  const groups = await step('security group create web, api, worker (and their rules)', async () => {
    const web = await group('web', 'Fractal web tier: HTTP and ping from anywhere');
    const api = await group('api', 'Fractal API tier: HTTP from the web and worker tiers');
    const worker = await group('worker', 'Fractal workers: ping only');
    await rule(web, { protocol: 'tcp', port_range_min: 80, port_range_max: 80 });
    await rule(web, { protocol: 'icmp' });
    await rule(api, { protocol: 'tcp', port_range_min: 80, port_range_max: 80, remote_group_id: web });
    await rule(api, { protocol: 'tcp', port_range_min: 80, port_range_max: 80, remote_group_id: worker });
    await rule(api, { protocol: 'icmp' });
    await rule(worker, { protocol: 'icmp' });
    return { web, api, worker };
  });
  for (const [tier, id] of Object.entries(groups)) ids[`${tier}_security_group`] = id;

  // ------------------------------------------------------------ instances
  const boot = async (name: string, tier: 'api' | 'worker' | 'web', net: string, sg: string, apiUrl: string) => {
    const s = (
      await os.post('compute', '/servers', {
        server: {
          name,
          flavorRef: '1',
          imageRef: image,
          networks: [{ uuid: net }],
          security_groups: [{ name: sg }],
          metadata: { demo: 'fractal', tier },
          user_data: Buffer.from(tierUserData(tier, name, apiUrl)).toString('base64'),
        },
      })
    ).body.server as Obj;
    return String(s.id);
  };
  const active = async (id: string) =>
    until(
      `server ${id} to be ACTIVE`,
      async () => {
        const s = (await os.get('compute', `/servers/${id}`)).body.server as Obj;
        if (s.status === 'ERROR') throw new Error(`server ${s.name} is in ERROR: ${JSON.stringify(s.fault ?? {})}`);
        return s.status === 'ACTIVE' ? s : null;
      },
      120_000,
    );
  const addressOf = (s: Obj) => {
    const all = Object.values((s.addresses ?? {}) as Record<string, Array<{ addr: string; 'OS-EXT-IPS:type'?: string }>>).flat();
    return all.find((a) => a['OS-EXT-IPS:type'] !== 'floating' && !a.addr.includes(':'))?.addr ?? '';
  };
  const api1 = await step('server create api1 --network api_network --security-group api --user-data api.sh', async () => {
    const s = await active(await boot('api1', 'api', nets.api.net, 'api', 'http://127.0.0.1'));
    return { id: String(s.id), ip: addressOf(s) };
  });
  ids.api1 = api1.id;
  const apiUrl = `http://${api1.ip}`;
  const others: Array<[string, 'worker' | 'web', string, string]> = [
    ['worker1', 'worker', nets.worker.net, 'worker'],
    ['worker2', 'worker', nets.worker.net, 'worker'],
    ['web1', 'web', nets.webserver.net, 'web'],
    ['web2', 'web', nets.webserver.net, 'web'],
  ];
  const servers = await step('server create worker1 worker2 (worker_network), web1 web2 (webserver_network)', async () => {
    const made = await Promise.all(others.map(([name, tier, net, sg]) => boot(name, tier, net, sg, apiUrl)));
    const out: Record<string, { id: string; ip: string }> = {};
    for (const [i, id] of made.entries()) {
      const s = await active(id);
      out[others[i][0]] = { id, ip: addressOf(s) };
    }
    return out;
  });
  for (const [n, s] of Object.entries(servers)) ids[n] = s.id;

  // ------------------------------------------------------------ floating IPs
  const fip = async (portId: string | null) => {
    const f = (await os.post('network', '/v2.0/floatingips', { floatingip: { floating_network_id: pub.id, ...(portId ? { port_id: portId } : {}) } })).body
      .floatingip as Obj;
    await tag(os, 'floatingips', String(f.id));
    return f;
  };
  const portOf = async (server: string) => ((await os.get('network', `/v2.0/ports?device_id=${server}`)).body.ports as Obj[])[0];
  const apiFip = await step('floating ip create public; server add floating ip api1', async () => fip(String((await portOf(api1.id)).id)));
  ids.api_floating_ip = String(apiFip.id);

  // ------------------------------------------------------------ the load balancer
  const lbActive = async (lbId: string) =>
    until(
      'the load balancer to be ACTIVE',
      async () => {
        const lb = (await os.get('load-balancer', `/v2/lbaas/loadbalancers/${lbId}`)).body.loadbalancer as Obj;
        if (lb.provisioning_status === 'ERROR') throw new Error('the load balancer is in ERROR');
        return lb.provisioning_status === 'ACTIVE' ? lb : null;
      },
      120_000,
      100,
    );
  const lb = await step('loadbalancer create fractal-lb --vip-subnet-id webserver_subnet', async () => {
    const created = (
      await os.post('load-balancer', '/v2/lbaas/loadbalancers', { loadbalancer: { name: 'fractal-lb', vip_subnet_id: nets.webserver.subnet, tags: [TAG] } })
    ).body.loadbalancer as Obj;
    return lbActive(String(created.id));
  });
  ids.loadbalancer = String(lb.id);
  const pool = await step('listener HTTP:80, pool ROUND_ROBIN, members web1 web2, HTTP monitor', async () => {
    const listener = (
      await os.post('load-balancer', '/v2/lbaas/listeners', { listener: { name: 'fractal-http', loadbalancer_id: lb.id, protocol: 'HTTP', protocol_port: 80 } })
    ).body.listener as Obj;
    await lbActive(String(lb.id));
    const p = (
      await os.post('load-balancer', '/v2/lbaas/pools', {
        pool: { name: 'fractal-web', listener_id: listener.id, protocol: 'HTTP', lb_algorithm: 'ROUND_ROBIN' },
      })
    ).body.pool as Obj;
    await lbActive(String(lb.id));
    for (const name of ['web1', 'web2']) {
      await os.post('load-balancer', `/v2/lbaas/pools/${p.id}/members`, {
        member: { name, address: servers[name].ip, protocol_port: 80, subnet_id: nets.webserver.subnet },
      });
      await lbActive(String(lb.id));
    }
    await os.post('load-balancer', '/v2/lbaas/healthmonitors', {
      healthmonitor: { name: 'fractal-http', pool_id: p.id, type: 'HTTP', delay: 3, timeout: 3, max_retries: 3, url_path: '/' },
    });
    await lbActive(String(lb.id));
    return p;
  });
  ids.pool = String(pool.id);
  const vip = await step('floating ip create public; floating ip set --port <VIP port>', async () => fip(String(lb.vip_port_id)));
  ids.vip_floating_ip = String(vip.id);

  // ------------------------------------------------------------ it answers
  const url = `http://${vip.floating_ip_address}/`;
  const image$ = await step(`wait: ${url} shows an image the workers computed`, async () =>
    until(
      'the web UI to show a computed fractal',
      async () => {
        const list = (await (await fetch(`${url}api`, { signal: AbortSignal.timeout(3000) })).json()) as { objects: Array<{ uuid: string; status: string }> };
        const done = list.objects.find((j) => j.status === 'done');
        if (!done) return null;
        const png = Buffer.from(await (await fetch(`${url}fractal/${done.uuid}.png`, { signal: AbortSignal.timeout(3000) })).arrayBuffer());
        return png.subarray(0, 4).toString('latin1') === '\x89PNG' ? `${url}fractal/${done.uuid}.png` : null;
      },
      (opts.waitSeconds ?? 90) * 1000,
      500,
    ),
  );
  return {
    url,
    imageUrl: image$,
    ids: {
      ...ids,
      vip_address: String(lb.vip_address),
      vip_floating_ip_address: String(vip.floating_ip_address),
      api_floating_ip_address: String(apiFip.floating_ip_address),
    },
  };
}

/** Remove everything the demo made in this project (tagged), in dependency order. */
export async function removeFractal(os: OpenStack, say: Say): Promise<number> {
  let removed = 0;
  const ignoreGone = async (fn: () => Promise<unknown>) => {
    try {
      await fn();
      removed++;
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 404)) throw e;
    }
  };
  const lbs = ((await os.get('load-balancer', `/v2/lbaas/loadbalancers?tags=${TAG}`)).body.loadbalancers as Obj[]) ?? [];
  for (const lb of lbs) {
    await ignoreGone(() => os.delete('load-balancer', `/v2/lbaas/loadbalancers/${lb.id}?cascade=true`));
    say(`  loadbalancer delete --cascade ${lb.name}`);
  }
  for (const lb of lbs) {
    await until(
      `load balancer ${lb.name} to go`,
      async () => {
        try {
          await os.get('load-balancer', `/v2/lbaas/loadbalancers/${lb.id}`);
          return null;
        } catch (e) {
          return e instanceof ApiError && e.status === 404 ? true : null;
        }
      },
      60_000,
    );
  }
  for (const f of await tagged(os, 'floatingips', 'floatingips')) {
    await ignoreGone(() => os.delete('network', `/v2.0/floatingips/${f.id}`));
    say(`  floating ip delete ${f.floating_ip_address}`);
  }
  const servers = (((await os.get('compute', '/servers/detail')).body.servers as Obj[]) ?? []).filter(
    (s) => (s.metadata as Obj | undefined)?.demo === 'fractal',
  );
  for (const s of servers) {
    await ignoreGone(() => os.delete('compute', `/servers/${s.id}`));
    say(`  server delete ${s.name}`);
  }
  for (const s of servers) {
    await until(
      `server ${s.name} to go`,
      async () => {
        try {
          await os.get('compute', `/servers/${s.id}`);
          return null;
        } catch (e) {
          return e instanceof ApiError && e.status === 404 ? true : null;
        }
      },
      60_000,
    );
  }
  const subnets = await tagged(os, 'subnets', 'subnets');
  for (const r of await tagged(os, 'routers', 'routers')) {
    for (const s of subnets) {
      try {
        await os.put('network', `/v2.0/routers/${r.id}/remove_router_interface`, { subnet_id: s.id });
      } catch (e) {
        if (!(e instanceof ApiError && (e.status === 404 || e.status === 400))) throw e;
      }
    }
    await ignoreGone(() => os.delete('network', `/v2.0/routers/${r.id}`));
    say(`  router delete ${r.name}`);
  }
  for (const n of await tagged(os, 'networks', 'networks')) {
    await ignoreGone(() => os.delete('network', `/v2.0/networks/${n.id}`));
    say(`  network delete ${n.name}`);
  }
  for (const g of await tagged(os, 'security-groups', 'security_groups')) {
    await ignoreGone(() => os.delete('network', `/v2.0/security-groups/${g.id}`));
    say(`  security group delete ${g.name}`);
  }
  const images = ((await os.get('image', `/v2/images?tag=${TAG}`)).body.images as Obj[]) ?? [];
  for (const i of images) {
    await ignoreGone(() => os.delete('image', `/v2/images/${i.id}`));
    say(`  image delete ${i.name}`);
  }
  return removed;
}
