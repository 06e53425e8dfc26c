import { novaBadRequest, novaNotFound } from '../../../core/compute/errors.js';
import type { ComputeEdge } from '../edge.js';
import { NOVA_EXTENSIONS } from '../extensions.js';

/** /extensions, a server's diagnostics and its NUMA topology, console auth tokens. */
export function extraRoutes(edge: ComputeEdge): void {
  const { app, compute } = edge;

  app.get('/v2.1/extensions', async () => ({ extensions: NOVA_EXTENSIONS }));
  app.get('/v2.1/extensions/:alias', async (req) => {
    const ext = NOVA_EXTENSIONS.find((e) => e.alias === edge.params(req).alias);
    if (!ext) throw novaNotFound('The resource could not be found.');
    return { extension: ext };
  });

  app.get('/v2.1/servers/:id/diagnostics', async (req) => {
    const d = await compute.diagnostics.get(edge.caller(req), edge.params(req).id);
    if (edge.version(req).gte('2.48')) return d;
    // Before 2.48, the driver's own form (libvirt's keys).
    const out: Record<string, number | null> = { memory: d.memory_details.maximum * 1024 };
    d.cpu_details.forEach((c) => {
      out[`cpu${c.id}_time`] = c.time ?? 0;
    });
    d.nic_details.forEach((_, i) => {
      out[`tap${i}_rx`] = 0;
      out[`tap${i}_tx`] = 0;
    });
    return out;
  });

  /** 2.78: instances here have no NUMA topology. */
  app.get('/v2.1/servers/:id/topology', async (req) => {
    edge.needs(req, '2.78');
    await compute.servers.get(edge.caller(req), edge.params(req).id);
    return { nodes: [], pagesize_kb: null };
  });

  /** Before 2.31 only RDP consoles had tokens, and Nova removed RDP: a bare 400. */
  app.get('/v2.1/os-console-auth-tokens/:token', async (req) => {
    if (!edge.version(req).gte('2.31')) {
      throw novaBadRequest('The server could not comply with the request since it is either malformed or otherwise incorrect.');
    }
    return compute.actions.consoleAuthToken(edge.caller(req), edge.params(req).token);
  });
}
