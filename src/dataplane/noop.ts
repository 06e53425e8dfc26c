import type { Logger } from 'pino';
import type { NetworkService } from '../core/network/service.js';
import { type DataPlaneDriver, Reconciler } from './driver.js';

/**
 * No kernel state at all, like Neutron's noop drivers: it reports what a working data plane
 * would. A bound, administratively up port is ACTIVE; anything else is DOWN; an associated
 * floating IP is ACTIVE, an unassociated one DOWN. This lets the
 * control plane (and Nova's BUILD → ACTIVE) run anywhere, without root.
 */
export class NoopDataPlane implements DataPlaneDriver {
  readonly kind = 'noop';
  private readonly reconciler: Reconciler;

  constructor(
    private readonly network: NetworkService,
    private readonly log: Logger,
  ) {
    this.reconciler = new Reconciler(
      () => this.pass(),
      (e) => this.log.error({ err: e }, 'noop data plane pass failed'),
    );
    this.network.events.on('change', this.onChange);
  }

  private readonly onChange = (e: { op: string }) => {
    // Status writes are our own echo; everything else may change what should be up.
    if (e.op !== 'status') this.kick();
  };

  async start(): Promise<void> {
    this.reconciler.start();
  }

  kick(): void {
    this.reconciler.kick();
  }

  idle(): Promise<void> {
    return this.reconciler.idle();
  }

  async stop(): Promise<void> {
    this.network.events.off('change', this.onChange);
    await this.reconciler.stop();
  }

  private async pass(): Promise<void> {
    const db = this.network.store.db;
    const wrong = await db
      .selectFrom('ports')
      .select(['id', 'status', 'admin_state_up', 'binding_host_id'])
      .where((eb) =>
        eb.or([
          eb.and([eb('status', '!=', 'ACTIVE'), eb('admin_state_up', '=', 1), eb('binding_host_id', '!=', '')]),
          eb.and([eb('status', '=', 'ACTIVE'), eb.or([eb('admin_state_up', '=', 0), eb('binding_host_id', '=', '')])]),
        ]),
      )
      .execute();
    for (const p of wrong) {
      const up = p.admin_state_up === 1 && p.binding_host_id !== '';
      await this.network.setStatus('port', p.id, up ? 'ACTIVE' : 'DOWN');
    }
    // A floating IP is ACTIVE once associated (a real L3 agent would have set up its NAT), DOWN otherwise.
    const fips = await db
      .selectFrom('floating_ips')
      .select(['id', 'fixed_port_id'])
      .where((eb) =>
        eb.or([
          eb.and([eb('fixed_port_id', 'is not', null), eb('status', '!=', 'ACTIVE')]),
          eb.and([eb('fixed_port_id', 'is', null), eb('status', '!=', 'DOWN')]),
        ]),
      )
      .execute();
    for (const f of fips) await this.network.setStatus('floatingip', f.id, f.fixed_port_id ? 'ACTIVE' : 'DOWN');
  }
}
