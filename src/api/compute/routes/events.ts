import type { ExternalEvent } from '../../../core/compute/events.js';
import type { ComputeEdge } from '../edge.js';
import { EXTERNAL_EVENTS_SCHEMA, validateBody } from '../schemas.js';

/** os-server-external-events: what Neutron tells Nova about a server's ports. */
export function eventRoutes(edge: ComputeEdge): void {
  const { app, compute } = edge;

  app.post('/v2.1/os-server-external-events', async (req, reply) => {
    const events = await compute.events.receive(edge.caller(req), () => {
      const b = edge.body(req);
      validateBody(EXTERNAL_EVENTS_SCHEMA, b);
      return (b as { events: ExternalEvent[] }).events;
    });
    // Some events for servers it does not know: Nova answers 207 with each event's own code.
    reply.status(events.every((e) => e.code === 200) ? 200 : 207);
    return { events };
  });
}
