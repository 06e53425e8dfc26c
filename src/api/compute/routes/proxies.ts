import type { FastifyRequest } from 'fastify';
import { novaBadRequest, novaGone, novaNotFound } from '../../../core/compute/errors.js';
import { ComputeEdge, NOT_FOUND } from '../edge.js';
import { imageBasic, imageView, networkView, tenantNetworkView } from '../proxyviews.js';
import {
  FLOATING_IP_CREATE_SCHEMA,
  IMAGE_METADATA_SCHEMA,
  META_ITEM_SCHEMA,
  SECURITY_GROUP_RULE_SCHEMA,
  SECURITY_GROUP_SCHEMA,
  validateBody,
} from '../schemas.js';

/**
 * The APIs Nova proxies to other services, served until the microversion that removed them
 * (2.36 for images, networks, security groups and floating IPs; 2.39 for image metadata), and
 * those Nova removed outright (410 at every microversion).
 */
export function proxyRoutes(edge: ComputeEdge, imageUrl: () => string): void {
  const { app, compute } = edge;
  const c = (req: FastifyRequest) => edge.caller(req);
  /** MAX_PROXY_API_SUPPORT_VERSION is 2.35: from 2.36 these are 404. */
  const proxy = (req: FastifyRequest, until = '2.36') => {
    if (edge.version(req).gte(until)) throw NOT_FOUND();
  };

  // ------------------------------------------------------------ images

  const listImages = async (req: FastifyRequest, detail: boolean) => {
    proxy(req);
    const q = edge.query(req);
    const one = (k: string) => q.get(k)?.[0];
    const int = (k: string) => (one(k) !== undefined && /^\d+$/.test(one(k)!) ? Number(one(k)) : undefined);
    const { limit, marker } = edge.limitAndMarker(q);
    const images = await compute.proxies.listImages(c(req), {
      name: one('name'),
      status: one('status'),
      changesSince: one('changes-since') ? new Date(one('changes-since')!).toISOString() : undefined,
      server: one('server'),
      type: one('type'),
      minRam: int('minRam'),
      minDisk: int('minDisk'),
      properties: [...q.entries()].filter(([k]) => k.startsWith('property-')).map(([k, v]) => [k.slice('property-'.length), v[0]] as [string, string]),
      limit: q.has('limit') ? limit : undefined,
      marker,
    });
    const v = edge.view(req);
    const out: Record<string, unknown> = { images: images.map((i) => (detail ? imageView(v, imageUrl(), i) : imageBasic(v, imageUrl(), i))) };
    const next = q.has('limit')
      ? edge.nextLinks(
          v,
          detail ? 'images/detail' : 'images',
          q,
          images.map((i) => i.id),
          limit,
        )
      : undefined;
    if (next) out.images_links = next;
    return out;
  };
  app.get('/v2.1/images', (req) => listImages(req, false));
  app.get('/v2.1/images/detail', (req) => listImages(req, true));
  app.get('/v2.1/images/:id', async (req) => {
    proxy(req);
    return { image: imageView(edge.view(req), imageUrl(), await compute.proxies.showImage(c(req), edge.params(req).id)) };
  });
  app.delete('/v2.1/images/:id', async (req, reply) => {
    proxy(req);
    await compute.proxies.deleteImage(c(req), edge.params(req).id);
    return ComputeEdge.noContent(reply);
  });
  app.get('/v2.1/images/:id/metadata', async (req) => {
    proxy(req, '2.39');
    return { metadata: await compute.proxies.imageMetadata(c(req), edge.params(req).id) };
  });
  const setImageMetadata = (mode: 'merge' | 'replace') => async (req: FastifyRequest) => {
    proxy(req, '2.39');
    const b = edge.body(req);
    validateBody(IMAGE_METADATA_SCHEMA, b);
    const md = (b as { metadata: Record<string, string> }).metadata;
    const props = await compute.proxies.setImageMetadata(c(req), edge.params(req).id, md, mode);
    return { metadata: mode === 'replace' ? md : props };
  };
  app.post('/v2.1/images/:id/metadata', setImageMetadata('merge'));
  app.put('/v2.1/images/:id/metadata', setImageMetadata('replace'));
  app.get('/v2.1/images/:id/metadata/:key', async (req) => {
    proxy(req, '2.39');
    const { id, key } = edge.params(req);
    const md = await compute.proxies.imageMetadata(c(req), id);
    if (!Object.hasOwn(md, key)) throw NOT_FOUND();
    return { meta: { [key]: md[key] } };
  });
  app.put('/v2.1/images/:id/metadata/:key', async (req) => {
    proxy(req, '2.39');
    const { id, key } = edge.params(req);
    const b = edge.body(req);
    validateBody(META_ITEM_SCHEMA, b);
    const meta = (b as { meta: Record<string, string> }).meta;
    if (!Object.hasOwn(meta, key)) throw novaBadRequest('Request body and URI mismatch');
    await compute.proxies.setImageMetadata(c(req), id, { [key]: meta[key] }, 'merge');
    return { meta };
  });
  app.delete('/v2.1/images/:id/metadata/:key', async (req, reply) => {
    proxy(req, '2.39');
    const { id, key } = edge.params(req);
    await compute.proxies.deleteImageMetadata(c(req), id, key);
    return ComputeEdge.noContent(reply);
  });

  // ------------------------------------------------------------ networks

  app.get('/v2.1/os-networks', async (req) => {
    proxy(req);
    const ctx = c(req);
    return { networks: (await compute.proxies.networks(ctx)).map((n) => networkView(n, ctx.isAdmin)) };
  });
  app.get('/v2.1/os-networks/:id', async (req) => {
    proxy(req);
    const ctx = c(req);
    return { network: networkView(await compute.proxies.network1(ctx, edge.params(req).id), ctx.isAdmin) };
  });
  app.get('/v2.1/os-tenant-networks', async (req) => {
    proxy(req);
    return { networks: (await compute.proxies.networks(c(req))).map(tenantNetworkView) };
  });
  app.get('/v2.1/os-tenant-networks/:id', async (req) => {
    proxy(req);
    return { network: tenantNetworkView(await compute.proxies.network1(c(req), edge.params(req).id)) };
  });
  // nova-network's network management was removed (21.0.0).
  for (const path of ['/v2.1/os-networks', '/v2.1/os-networks/add', '/v2.1/os-networks/:id/action', '/v2.1/os-tenant-networks']) {
    app.post(path, async () => {
      throw novaGone();
    });
  }
  for (const path of ['/v2.1/os-networks/:id', '/v2.1/os-tenant-networks/:id']) {
    app.delete(path, async () => {
      throw novaGone();
    });
  }

  // ------------------------------------------------------------ security groups

  app.get('/v2.1/os-security-groups', async (req) => {
    proxy(req);
    const q = edge.query(req);
    const int = (k: string) => (q.get(k)?.[0] !== undefined ? Number(q.get(k)![0]) : undefined);
    return {
      security_groups: await compute.proxies.listGroups(c(req), { allTenants: q.has('all_tenants'), limit: int('limit'), offset: int('offset') }),
    };
  });
  app.post('/v2.1/os-security-groups', async (req) => {
    proxy(req);
    const b = edge.body(req);
    validateBody(SECURITY_GROUP_SCHEMA, b);
    const g = (b as { security_group: { name: string; description: string } }).security_group;
    return { security_group: await compute.proxies.createGroup(c(req), g.name, g.description) };
  });
  app.get('/v2.1/os-security-groups/:id', async (req) => {
    proxy(req);
    return { security_group: await compute.proxies.showGroup(c(req), edge.params(req).id) };
  });
  app.put('/v2.1/os-security-groups/:id', async (req) => {
    proxy(req);
    const b = edge.body(req);
    validateBody(SECURITY_GROUP_SCHEMA, b);
    const g = (b as { security_group: { name: string; description: string } }).security_group;
    return { security_group: await compute.proxies.updateGroup(c(req), edge.params(req).id, g.name, g.description) };
  });
  app.delete('/v2.1/os-security-groups/:id', async (req, reply) => {
    proxy(req);
    await compute.proxies.deleteGroup(c(req), edge.params(req).id);
    return ComputeEdge.noContent(reply, 202);
  });
  app.post('/v2.1/os-security-group-rules', async (req) => {
    proxy(req);
    const b = edge.body(req);
    validateBody(SECURITY_GROUP_RULE_SCHEMA, b);
    const r = (b as { security_group_rule: Record<string, unknown> }).security_group_rule;
    const rule = await compute.proxies.createRule(c(req), {
      parentGroupId: String(r.parent_group_id),
      groupId: r.group_id as string | null | undefined,
      ipProtocol: r.ip_protocol === undefined || r.ip_protocol === null ? null : String(r.ip_protocol),
      fromPort: r.from_port as string | number | null | undefined,
      toPort: r.to_port as string | number | null | undefined,
      cidr: r.cidr === undefined || r.cidr === null ? null : String(r.cidr),
    });
    return { security_group_rule: rule };
  });
  app.delete('/v2.1/os-security-group-rules/:id', async (req, reply) => {
    proxy(req);
    await compute.proxies.deleteRule(c(req), edge.params(req).id);
    return ComputeEdge.noContent(reply, 202);
  });
  // os-security-group-default-rules was removed (21.0.0).
  for (const method of ['get', 'post', 'delete'] as const) {
    app[method]('/v2.1/os-security-group-default-rules', async () => {
      throw novaGone();
    });
    app[method]('/v2.1/os-security-group-default-rules/:id', async () => {
      throw novaGone();
    });
  }

  // ------------------------------------------------------------ floating IPs

  app.get('/v2.1/os-floating-ips', async (req) => {
    proxy(req);
    return { floating_ips: await compute.proxies.listFloatingIps(c(req)) };
  });
  app.post('/v2.1/os-floating-ips', async (req) => {
    proxy(req);
    const b = edge.body(req) ?? null;
    validateBody(FLOATING_IP_CREATE_SCHEMA, b);
    const pool = (b as { pool?: string | null } | null)?.pool ?? null;
    return { floating_ip: await compute.proxies.allocateFloatingIp(c(req), pool) };
  });
  app.get('/v2.1/os-floating-ips/:id', async (req) => {
    proxy(req);
    return { floating_ip: await compute.proxies.showFloatingIp(c(req), edge.params(req).id) };
  });
  app.delete('/v2.1/os-floating-ips/:id', async (req, reply) => {
    proxy(req);
    await compute.proxies.releaseFloatingIp(c(req), edge.params(req).id);
    return ComputeEdge.noContent(reply, 202);
  });
  app.get('/v2.1/os-floating-ip-pools', async (req) => {
    proxy(req);
    return { floating_ip_pools: (await compute.proxies.floatingIpPools(c(req))).map((name) => ({ name })) };
  });

  // ------------------------------------------------------------ os-baremetal-nodes (an Ironic proxy)

  app.get('/v2.1/os-baremetal-nodes', async (req) => {
    proxy(req);
    return compute.proxies.baremetalNodes(c(req), 'list');
  });
  app.get('/v2.1/os-baremetal-nodes/:id', async (req) => {
    proxy(req);
    return compute.proxies.baremetalNodes(c(req), 'show');
  });
  app.post('/v2.1/os-baremetal-nodes', async (req) => {
    proxy(req);
    return compute.proxies.baremetalWrite('node-create');
  });
  app.delete('/v2.1/os-baremetal-nodes/:id', async (req) => {
    proxy(req);
    return compute.proxies.baremetalWrite('node-delete');
  });
  app.post('/v2.1/os-baremetal-nodes/:id/action', async (req) => {
    proxy(req);
    const b = edge.body(req);
    const name = typeof b === 'object' && b !== null && !Array.isArray(b) ? Object.keys(b)[0] : undefined;
    if (name === 'add_interface') return compute.proxies.baremetalWrite('port-create');
    if (name === 'remove_interface') return compute.proxies.baremetalWrite('port-delete');
    throw novaBadRequest(`There is no such action: ${name ?? ''}`);
  });

  // ------------------------------------------------------------ removed from Nova: 410 everywhere

  const GONE = [
    '/v2.1/os-fping',
    '/v2.1/os-fping/:id',
    '/v2.1/os-fixed-ips/:id',
    '/v2.1/os-fixed-ips/:id/action',
    '/v2.1/os-floating-ip-dns',
    '/v2.1/os-floating-ip-dns/:domain',
    '/v2.1/os-floating-ip-dns/:domain/entries/:entry',
    '/v2.1/os-floating-ips-bulk',
    '/v2.1/os-floating-ips-bulk/:id',
    '/v2.1/os-cells',
    '/v2.1/os-cells/:id',
    '/v2.1/os-cells/:id/capacities',
    '/v2.1/os-cells/capacities',
    '/v2.1/os-cells/detail',
    '/v2.1/os-cells/info',
    '/v2.1/os-cells/sync_instances',
    '/v2.1/os-agents',
    '/v2.1/os-agents/:id',
    '/v2.1/os-certificates',
    '/v2.1/os-certificates/:id',
    '/v2.1/os-cloudpipe',
    '/v2.1/os-cloudpipe/:id',
    '/v2.1/servers/:id/consoles',
    '/v2.1/servers/:id/consoles/:console',
    '/v2.1/servers/:id/os-virtual-interfaces',
  ];
  for (const path of GONE) {
    for (const method of ['get', 'post', 'put', 'delete'] as const) {
      app[method](path, async () => {
        throw novaGone();
      });
    }
  }

  // The volume proxies reach a block storage service this cloud does not have.
  app.get('/v2.1/servers/:id/os-volume_attachments', async (req) => {
    await compute.servers.get(c(req), edge.params(req).id);
    return { volumeAttachments: [] };
  });
  app.get('/v2.1/servers/:id/os-volume_attachments/:volume', async (req) => {
    await compute.servers.get(c(req), edge.params(req).id);
    throw novaNotFound(`Volume ${edge.params(req).volume} is not attached to instance ${edge.params(req).id}`);
  });
}
