import type { ExpressionBuilder } from 'kysely';
import type { Logger } from 'pino';
import { VIF_TYPE_BINDING_FAILED } from '../core/network/binding.js';
import type { NetworkService } from '../core/network/service.js';
import type { Change } from '../core/work.js';
import { prepared } from '../store/db.js';
import type { DB } from '../store/schema.js';
import { type DataPlaneDriver, Reconciler } from './driver.js';

/** A port whose status is not what its binding and admin state say: up and bound but not ACTIVE, or ACTIVE but not. */
const statusWrong = (eb: ExpressionBuilder<DB, 'ports'>) =>
  eb.or([
    eb.and([
      eb('status', '!=', 'ACTIVE'),
      eb('admin_state_up', '=', 1),
      eb('binding_host_id', '!=', ''),
      eb('binding_vif_type', '!=', VIF_TYPE_BINDING_FAILED),
    ]),
    eb.and([
      eb('status', '=', 'ACTIVE'),
      eb.or([eb('admin_state_up', '=', 0), eb('binding_host_id', '=', ''), eb('binding_vif_type', '=', VIF_TYPE_BINDING_FAILED)]),
    ]),
  ]);

/**
 * One port's check (a pass after a create or an update hears of one or two): building and
 * compiling this condition was most of the pass (issue 17's port-create profile).
 */
const wrongPort = prepared(['id'], (q, a) =>
  q
    .selectFrom('ports')
    .select(['id', 'status', 'admin_state_up', 'binding_host_id', 'binding_vif_type', 'revision_number'])
    .where('id', '=', a.id)
    .where(statusWrong),
);
type StatusReport = Parameters<NetworkService['setStatuses']>[0][number];

/** Up to this many ports are checked one statement each; more, with one `IN` list. */
const FEW = 8;

/**
 * No kernel state at all, like Neutron's noop drivers: it reports what a working data plane
 * would. A bound, administratively up port is ACTIVE; anything else is DOWN; an associated
 * floating IP is ACTIVE, an unassociated one DOWN. This lets the
 * control plane (and Nova's BUILD → ACTIVE) run anywhere, without root.
 */
export class NoopDataPlane implements DataPlaneDriver {
  readonly kind = 'noop';
  private readonly reconciler: Reconciler;

  /** `host`: report only on that host's ports and routers' floating IPs (`pocketstack agent`); absent: on all. */
  constructor(
    private readonly network: NetworkService,
    private readonly log: Logger,
    private readonly host: string | null = null,
  ) {
    this.reconciler = new Reconciler(
      () => this.pass(),
      (e) => this.log.error({ err: e }, 'noop data plane pass failed'),
      10_000,
      () => (this.full = true),
    );
  }

  private unsubscribe: (() => void) | null = null;

  /** Ports and floating IPs changed since the last pass; a full pass runs at start and periodically. */
  private dirty = new Set<string>();
  private dirtyFips = new Set<string>();
  /** A deleted port silently disassociates its floating IPs: re-check them all. */
  private allFips = true;
  private full = true;

  private readonly onChange = (c: Change) => {
    if (c.kind === 'port') {
      // A deleted port or floating IP has no status left to report (reading it again finds nothing).
      if (c.op === 'delete') {
        this.dirty.delete(c.id);
        this.allFips = true;
      } else this.dirty.add(c.id);
    } else if (c.op === 'delete') this.dirtyFips.delete(c.id);
    else this.dirtyFips.add(c.id);
    this.reconciler.kick();
  };

  async start(): Promise<void> {
    // Only ports and floating IPs matter here (status writes are our own echo, and not heard).
    this.unsubscribe = this.network.uow.changes.subscribe({ kinds: ['port', 'floatingip'] }, this.onChange);
    this.reconciler.start();
  }

  /** An explicit kick (start-up, an operator, a test) re-checks every port. */
  kick(): void {
    this.full = true;
    this.reconciler.kick();
  }

  idle(): Promise<void> {
    return this.reconciler.idle();
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = null;
    await this.reconciler.stop();
  }

  private async pass(): Promise<void> {
    const ids = [...this.dirty];
    const fipIds = [...this.dirtyFips];
    const full = this.full;
    const allFips = full || this.allFips;
    this.dirty.clear();
    this.dirtyFips.clear();
    this.full = false;
    this.allFips = false;
    // What this pass finds to report is written in one transaction (and published with it).
    const reports: StatusReport[] = [];
    if (allFips || fipIds.length) await this.floatingIps(reports, allFips ? undefined : fipIds);
    if (full || ids.length) await this.ports(reports, full, ids);
    await this.network.setStatuses(reports);
  }

  private async ports(reports: StatusReport[], full: boolean, ids: string[]): Promise<void> {
    const db = this.network.store.db;
    const host = this.host;
    // A few ports (the usual pass: one create each): the statement for one port, compiled once.
    let wrong: Awaited<ReturnType<typeof this.wrongPorts>> = [];
    if (!full && host === null && ids.length <= FEW) for (const id of ids) wrong.push(...(await wrongPort.execute(db, { id })));
    else wrong = await this.wrongPorts(full ? undefined : ids);
    for (const p of wrong) {
      // A port whose binding failed stays DOWN (ML2's _port_provisioned refuses it).
      const up = p.admin_state_up === 1 && p.binding_host_id !== '' && p.binding_vif_type !== VIF_TYPE_BINDING_FAILED;
      // Only on the revision it was decided on: an update since (a binding that failed) wins.
      reports.push({ resource: 'port', id: p.id, status: up ? 'ACTIVE' : 'DOWN', revision: p.revision_number });
    }
  }

  /** Ports whose status is not what their binding says (all, or those of `ids`). */
  private async wrongPorts(ids?: string[]) {
    let q = this.network.store.db.selectFrom('ports').select(['id', 'status', 'admin_state_up', 'binding_host_id', 'binding_vif_type', 'revision_number']);
    if (ids) q = q.where('id', 'in', ids);
    // A host's agent: its own ports, and unbound ones left ACTIVE (DOWN, whoever says it).
    const host = this.host;
    if (host !== null) q = q.where((eb) => eb.or([eb('binding_host_id', '=', host), eb('binding_host_id', '=', '')]));
    return q.where(statusWrong).execute();
  }

  /** A floating IP is ACTIVE once associated (a real L3 agent would have set up its NAT), DOWN otherwise. */
  private async floatingIps(reports: StatusReport[], ids?: string[]): Promise<void> {
    const db = this.network.store.db;
    let q = db.selectFrom('floating_ips').select(['id', 'fixed_port_id']);
    if (ids) q = q.where('id', 'in', ids);
    // A host's agent: floating IPs of the routers its L3 agent holds, and unassociated ones.
    const host = this.host;
    if (host !== null) {
      const hosted = db
        .selectFrom('router_l3_agent_bindings')
        .innerJoin('agents', 'agents.id', 'router_l3_agent_bindings.l3_agent_id')
        .select('router_l3_agent_bindings.router_id')
        .where('agents.host', '=', host)
        .where('agents.admin_state_up', '=', 1);
      q = q.where((eb) => eb.or([eb('router_id', 'is', null), eb('router_id', 'in', hosted)]));
    }
    const fips = await q
      .where((eb) =>
        eb.or([
          eb.and([eb('fixed_port_id', 'is not', null), eb('status', '!=', 'ACTIVE')]),
          eb.and([eb('fixed_port_id', 'is', null), eb('status', '!=', 'DOWN')]),
        ]),
      )
      .execute();
    for (const f of fips) reports.push({ resource: 'floatingip', id: f.id, status: f.fixed_port_id ? 'ACTIVE' : 'DOWN' });
  }
}
