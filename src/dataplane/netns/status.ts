import type { InstanceReport } from '../../core/compute/host.js';
import { ROUTER_GATEWAY_OWNER, ROUTER_INTERFACE_OWNERS } from './desired.js';
import type { Desired, InstanceFreeze, Snapshot } from './model.js';
import type { Names } from './names.js';
import { type Owner, ownerKey } from './owners.js';

/**
 * What the API shows once a pass is done, from the snapshot it rendered, what it built and the
 * errors it met (owner → reason). Pure: the driver writes only what differs from the store.
 */

export type PortStatus = 'ACTIVE' | 'DOWN' | 'ERROR';

export interface Statuses {
  /** Ports we manage or wired, in snapshot order; `error` is the reason for ERROR. */
  ports: Array<{ id: string; was: string; status: PortStatus; error?: string }>;
  /** Routers: ERROR while the kernel refuses part of them, else ACTIVE. */
  routers: Array<{ id: string; was: string; status: 'ACTIVE' | 'ERROR'; error?: string }>;
  /** Floating IPs: ACTIVE once their NAT is loaded in a running router, DOWN when unassociated. */
  floatingIps: Array<{ id: string; was: string; status: PortStatus }>;
}

/** Device owners whose ports this data plane reports on even when it did not wire them. */
const managed = (deviceOwner: string) =>
  deviceOwner.startsWith('compute:') || deviceOwner === ROUTER_GATEWAY_OWNER || ROUTER_INTERFACE_OWNERS.includes(deviceOwner);

/** The first wired port of namespace `ns` in ERROR, with its reason. */
function portErrorIn(desired: Desired, ns: string, errors: Map<Owner, string>): string | undefined {
  for (const w of desired.wired.values()) {
    const e = w.ns === ns ? errors.get(ownerKey.port(w.portId)) : undefined;
    if (e !== undefined) return e;
  }
  return undefined;
}

export function statuses(snap: Snapshot, desired: Desired, errors: Map<Owner, string>, names: Names): Statuses {
  const out: Statuses = { ports: [], routers: [], floatingIps: [] };
  for (const p of snap.ports) {
    // A load balancer's namespace failing is its VIP port failing.
    const error = errors.get(ownerKey.port(p.id)) ?? errors.get(ownerKey.loadbalancer(p.id));
    const w = desired.wired.get(p.id);
    if (!managed(p.deviceOwner) && !w && !error) continue;
    const status: PortStatus = error ? 'ERROR' : w?.up ? 'ACTIVE' : 'DOWN';
    out.ports.push({ id: p.id, was: p.status, status, ...(error ? { error } : {}) });
  }
  const routerNs = new Set(desired.namespaces.filter((n) => n.kind === 'router').map((n) => n.objectId));
  for (const r of snap.routers) {
    // A route through a refused leg fails only because of it: the leg's reason.
    const error = errors.get(ownerKey.router(r.id)) ?? portErrorIn(desired, names.routerNs(r.id), errors);
    out.routers.push({ id: r.id, was: r.status, status: error ? 'ERROR' : 'ACTIVE', ...(error ? { error } : {}) });
  }
  const loaded = new Set(desired.namespaces.flatMap((n) => n.nat?.fips.map((f) => f.owner) ?? []));
  // The L3 agent's port_forwarding extension reports a forwarding floating IP ACTIVE once its rules are in.
  const forwarding = new Set(desired.namespaces.flatMap((n) => n.nat?.forwards?.map((f) => f.owner) ?? []));
  for (const f of snap.floatingIps) {
    const key = ownerKey.floatingip(f.id);
    const error = errors.get(key) ?? (f.routerId ? errors.get(ownerKey.router(f.routerId)) : undefined);
    let status: PortStatus = 'DOWN';
    if (f.routerId && routerNs.has(f.routerId) && ((f.portId && loaded.has(key)) || forwarding.has(key))) status = error ? 'ERROR' : 'ACTIVE';
    out.floatingIps.push({ id: f.id, was: f.status, status });
  }
  return out;
}

/**
 * What each instance does, for compute: running, paused, suspended or shutdown as asked once its namespace exists,
 * or the reason it cannot run. Instances whose namespace does not exist yet, without an error,
 * have nothing to report.
 */
export function instanceReports(
  desired: Desired,
  errors: Map<Owner, string>,
  existing: Map<string, number>,
  frozenAs: (id: string) => InstanceFreeze,
): Array<{ id: string; report: InstanceReport }> {
  const out: Array<{ id: string; report: InstanceReport }> = [];
  for (const i of desired.instances) {
    // The port's reason first: a route through a refused link fails only because of it.
    const error = portErrorIn(desired, i.ns, errors) ?? errors.get(ownerKey.instance(i.id));
    if (!existing.has(i.ns) && !error) continue;
    // Paused or suspended: the processes are frozen (SIGSTOP), which the runner knows.
    const power: InstanceReport['power'] = !i.running ? 'shutdown' : (frozenAs(i.id) ?? 'running');
    out.push({ id: i.id, report: { power, rebootSeq: i.bootGeneration, ...(error ? { error } : {}) } });
  }
  return out;
}
