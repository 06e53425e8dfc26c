import type { InstanceReport } from '../../core/compute/host.js';
import type { InstancePower } from './machine.js';
import { DHCP_OWNER, ROUTER_GATEWAY_OWNER, ROUTER_INTERFACE_OWNERS } from './desired.js';
import type { Desired, Snapshot } from './model.js';
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
  /** Trunks, as Neutron's trunk drivers report them once the agent has wired (or failed to wire) them. */
  trunks: Array<{ id: string; was: string; status: TrunkStatus }>;
  /**
   * Subports to bind to their parent's host (`trunk:subport`, TrunkSkeleton.update_subport_bindings)
   * or, once out of every trunk, to unbind (host '', no device owner).
   */
  subportBindings: Array<{ portId: string; host: string }>;
}

/** neutron-lib's trunk statuses (BUILD lasts only while a pass applies: not reported). */
export type TrunkStatus = 'ACTIVE' | 'DOWN' | 'DEGRADED' | 'ERROR';

/** neutron-lib's trunk constants: a bound subport's device owner. */
export const TRUNK_SUBPORT_OWNER = 'trunk:subport';

/** Device owners whose ports this data plane reports on even when it did not wire them. */
const managed = (deviceOwner: string) =>
  deviceOwner.startsWith('compute:') ||
  deviceOwner === ROUTER_GATEWAY_OWNER ||
  deviceOwner === TRUNK_SUBPORT_OWNER ||
  ROUTER_INTERFACE_OWNERS.includes(deviceOwner);

/**
 * The first wired port of namespace `ns` in ERROR, with its reason. A trunk's subport is not
 * counted: its failure is the trunk's (DEGRADED), the instance runs on (as with Neutron's agents).
 */
function portErrorIn(desired: Desired, ns: string, errors: Map<Owner, string>): string | undefined {
  for (const w of desired.wired.values()) {
    const e = w.ns === ns && !w.subport ? errors.get(ownerKey.port(w.portId)) : undefined;
    if (e !== undefined) return e;
  }
  return undefined;
}

export function statuses(snap: Snapshot, desired: Desired, errors: Map<Owner, string>, names: Names): Statuses {
  const out: Statuses = { ports: [], routers: [], floatingIps: [], trunks: [], subportBindings: [] };
  for (const p of snap.ports) {
    // A load balancer's namespace failing is its VIP port failing; a DHCP server failing, its DHCP port.
    const error =
      errors.get(ownerKey.port(p.id)) ??
      errors.get(ownerKey.loadbalancer(p.id)) ??
      (p.deviceOwner === DHCP_OWNER ? errors.get(ownerKey.dhcp(p.networkId)) : undefined);
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
  trunkStatuses(snap, desired, errors, out);
  return out;
}

/**
 * What the trunk driver reports (neutron's TrunkSkeleton and the agents' trunk handlers): DOWN
 * while the parent port is not wired on this host (not bound to a running instance), ERROR when
 * the parent itself is refused, DEGRADED when some subport could not be wired, ACTIVE when all
 * are. Subports of a wired parent are bound to its host with device owner `trunk:subport`; a
 * port that still says `trunk:subport` but is in no trunk any more is unbound again.
 */
function trunkStatuses(snap: Snapshot, desired: Desired, errors: Map<Owner, string>, out: Statuses): void {
  const ports = new Map(snap.ports.map((p) => [p.id, p]));
  const inTrunk = new Set<string>();
  for (const t of snap.trunks ?? []) {
    for (const sp of t.subports) inTrunk.add(sp.portId);
    const parent = ports.get(t.portId);
    const wired = parent ? desired.wired.get(parent.id) : undefined;
    let status: TrunkStatus = 'DOWN';
    if (parent && errors.has(ownerKey.port(parent.id))) status = 'ERROR';
    else if (parent && wired) {
      const failed = t.subports.some((sp) => errors.has(ownerKey.port(sp.portId)) || !desired.wired.has(sp.portId));
      status = failed ? 'DEGRADED' : 'ACTIVE';
      for (const sp of t.subports) {
        const port = ports.get(sp.portId);
        if (port && (port.bindingHost !== parent.bindingHost || port.deviceOwner !== TRUNK_SUBPORT_OWNER)) {
          out.subportBindings.push({ portId: port.id, host: parent.bindingHost });
        }
      }
    }
    out.trunks.push({ id: t.id, was: t.status, status });
  }
  for (const p of snap.ports) if (p.deviceOwner === TRUNK_SUBPORT_OWNER && !inTrunk.has(p.id)) out.subportBindings.push({ portId: p.id, host: '' });
}

/**
 * What each instance does, for compute: a machine's power as its runner sees it (`powerOf`), a
 * bare namespace's as asked once it exists, or the reason it cannot run. Instances not booted
 * yet (or whose namespace does not exist yet), without an error, have nothing to report.
 */
export function instanceReports(
  desired: Desired,
  errors: Map<Owner, string>,
  existing: Map<string, number>,
  powerOf: (i: Desired['instances'][number]) => InstancePower | null,
): Array<{ id: string; report: InstanceReport }> {
  const out: Array<{ id: string; report: InstanceReport }> = [];
  for (const i of desired.instances) {
    // The port's reason first: a route through a refused link fails only because of it.
    const portError = portErrorIn(desired, i.ns, errors);
    const error = portError ?? errors.get(ownerKey.instance(i.id));
    if (!existing.has(i.ns) && !error) continue;
    // A bare namespace has nothing to freeze: paused or suspended as asked.
    const power = i.machine ? powerOf(i) : i.power === 'stopped' ? 'shutdown' : i.power;
    if (power === null && !error) continue;
    // The instance's own failure (its namespace or machine could not be made or started) is a
    // spawn failure, which compute reschedules; a port's is not.
    const failure = error ? { error, ...(portError ? {} : { spawnFailed: true }) } : {};
    out.push({ id: i.id, report: { power: power ?? 'shutdown', rebootSeq: i.bootGeneration, ...failure } });
  }
  return out;
}
