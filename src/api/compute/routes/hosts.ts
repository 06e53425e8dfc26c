import type { ComputeEdge } from '../edge.js';
import { hypervisorView, zonesDetailView } from '../views.js';

/** Where servers run: availability zones and the one hypervisor (this machine). */
export function hostRoutes(edge: ComputeEdge): void {
  const { app, compute } = edge;

  app.get('/v2.1/os-availability-zone', async () => {
    return { availabilityZoneInfo: compute.zones.list().map((name) => ({ zoneName: name, zoneState: { available: true }, hosts: null })) };
  });
  app.get('/v2.1/os-availability-zone/detail', async (req) => {
    return zonesDetailView(compute.zones.detail(edge.caller(req)));
  });

  app.get('/v2.1/os-hypervisors', async (req) => {
    return { hypervisors: (await compute.hypervisors.list(edge.caller(req))).map((h) => hypervisorView(h, false)) };
  });
  app.get('/v2.1/os-hypervisors/detail', async (req) => {
    return { hypervisors: (await compute.hypervisors.detail(edge.caller(req))).map((h) => hypervisorView(h, true)) };
  });
  app.get('/v2.1/os-hypervisors/:id', async (req) => {
    return { hypervisor: hypervisorView(await compute.hypervisors.show(edge.caller(req), edge.params(req).id), true) };
  });
}
