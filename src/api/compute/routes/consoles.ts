import type { FastifyRequest } from 'fastify';
import { unavailable } from '../../../core/compute/consoles.js';
import { baseUrl } from '../../http.js';
import type { ComputeEdge } from '../edge.js';
import { REMOTE_CONSOLE_SCHEMA, REMOTE_CONSOLE_SCHEMA_28, validateBody } from '../schemas.js';

/** The serial proxy's URL base: the compute endpoint as the client reached it, as a websocket (see serial.ts). */
export const serialBase = (req: FastifyRequest) => `${baseUrl(req).replace(/^http/, 'ws')}/serial/`;

/** POST /servers/{id}/remote-consoles (2.6): a serial console's websocket URL; other protocols are unavailable here. */
export function consoleRoutes(edge: ComputeEdge): void {
  const { app, compute } = edge;
  app.post('/v2.1/servers/:id/remote-consoles', async (req) => {
    edge.needs(req, '2.6');
    const ctx = edge.caller(req);
    const body = edge.body(req);
    validateBody(edge.version(req).gte('2.8') ? REMOTE_CONSOLE_SCHEMA_28 : REMOTE_CONSOLE_SCHEMA, body);
    const { protocol, type } = (body as { remote_console: { protocol: string; type: string } }).remote_console;
    if (protocol !== 'serial') {
      // Nova asks the host first (a server it cannot find is a 404 before the type is refused).
      await compute.servers.get(ctx, edge.params(req).id);
      throw unavailable(type);
    }
    const { url } = await compute.consoles.serial(ctx, edge.params(req).id, type, serialBase(req));
    return { remote_console: { protocol, type, url } };
  });
}
