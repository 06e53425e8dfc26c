import { novaNotFound } from '../../../core/compute/errors.js';
import { ComputeEdge } from '../edge.js';
import { ATTACH_SCHEMA, validateBody } from '../schemas.js';
import { addressesView, interfaceView, serverSecurityGroupView } from '../views.js';

/** A server's network side: its addresses (ips), its ports (os-interface) and their security groups. */
export function interfaceRoutes(edge: ComputeEdge): void {
  const { app, compute } = edge;

  app.get('/v2.1/servers/:id/ips', async (req) => {
    return { addresses: addressesView(await compute.servers.get(edge.caller(req), edge.params(req).id)) };
  });
  app.get('/v2.1/servers/:id/ips/:network', async (req) => {
    const { id, network } = edge.params(req);
    const all = addressesView(await compute.servers.get(edge.caller(req), id));
    if (!Object.hasOwn(all, network)) throw novaNotFound('Instance is not a member of specified network');
    return { [network]: all[network] };
  });

  app.get('/v2.1/servers/:id/os-security-groups', async (req) => {
    return { security_groups: (await compute.servers.securityGroups(edge.caller(req), edge.params(req).id)).map(serverSecurityGroupView) };
  });

  app.get('/v2.1/servers/:id/os-interface', async (req) => {
    const ports = await compute.interfaces.list(edge.caller(req), edge.params(req).id);
    const withTag = edge.version(req).gte('2.70');
    return { interfaceAttachments: ports.map((p) => interfaceView(p, withTag)) };
  });
  app.get('/v2.1/servers/:id/os-interface/:port', async (req) => {
    const { id, port } = edge.params(req);
    return { interfaceAttachment: interfaceView(await compute.interfaces.get(edge.caller(req), id, port)) };
  });
  app.post('/v2.1/servers/:id/os-interface', async (req) => {
    const ctx = edge.caller(req);
    const b = edge.body(req);
    if (b !== undefined) validateBody(ATTACH_SCHEMA, b);
    const a = ((b as { interfaceAttachment?: Record<string, unknown> } | undefined)?.interfaceAttachment ?? {}) as Record<string, unknown>;
    const port = await compute.interfaces.attach(ctx, edge.params(req).id, {
      networkId: a.net_id as string | undefined,
      portId: a.port_id as string | undefined,
      fixedIp: (a.fixed_ips as Array<{ ip_address: string }> | undefined)?.[0]?.ip_address,
    });
    return { interfaceAttachment: interfaceView(port) };
  });
  app.delete('/v2.1/servers/:id/os-interface/:port', async (req, reply) => {
    const { id, port } = edge.params(req);
    await compute.interfaces.detach(edge.caller(req), id, port);
    return ComputeEdge.noContent(reply, 202);
  });
}
