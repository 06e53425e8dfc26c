/**
 * Namespace placement, for the netns data plane: a load balancer runs in the namespace the data
 * plane builds for its VIP port (the VIP's addresses on `eth0`, plugged into the VIP network's
 * bridge, routes via the subnet's gateway), so it is reached at its VIP from that network, from
 * a floating IP on the VIP port, and reaches members the way an instance on that network would.
 * The engine waits for the data plane to report the VIP port ACTIVE before binding to it.
 */
import type { Logger } from 'pino';
import type { LbGraph } from '../core/loadbalancer/model.js';
import type { Store } from '../store/db.js';
import type { PlacementProvider } from './engine.js';
import type { Placement } from './runtime.js';

/** What the placement needs from the netns data plane. */
export interface NamespaceHost {
  readonly names: { loadBalancerNs(vipPortId: string): string };
  /** Ports the kernel refused, with the reason. */
  readonly portErrors: Map<string, string>;
  kick(reason?: string): void;
}

export interface NetnsPlacementOptions {
  /** How long the data plane may take to wire a VIP port. */
  wireTimeoutMs?: number;
  /** The unprivileged user the proxies run as. */
  user?: { uid: number; gid: number };
}

export class NetnsPlacement implements PlacementProvider {
  readonly kind = 'netns';

  constructor(
    private readonly host: NamespaceHost,
    private readonly store: Store,
    private readonly log: Logger,
    private readonly opts: NetnsPlacementOptions = {},
  ) {}

  async acquire(g: LbGraph): Promise<Placement> {
    const portId = g.lb.vip_port_id;
    const address = g.lb.vip_address;
    if (!portId || !address) throw new Error('the load balancer has no VIP port');
    this.host.kick(`load balancer ${g.lb.id}`);
    const deadline = Date.now() + (this.opts.wireTimeoutMs ?? 30_000);
    for (;;) {
      const port = await this.store.db.selectFrom('ports').select('status').where('id', '=', portId).executeTakeFirst();
      if (!port) throw new Error(`VIP port ${portId} no longer exists`);
      if (port.status === 'ACTIVE') break;
      const refused = this.host.portErrors.get(portId);
      if (port.status === 'ERROR' && refused) throw new Error(`the data plane cannot wire VIP port ${portId}: ${refused}`);
      if (Date.now() > deadline) throw new Error(`VIP port ${portId} was not wired within ${this.opts.wireTimeoutMs ?? 30_000} ms (status ${port.status})`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const netns = this.host.names.loadBalancerNs(portId);
    this.log.debug({ lb: g.lb.id, netns, address }, 'load balancer placed');
    return { address, netns, ...(this.opts.user ? { user: this.opts.user } : {}) };
  }

  /** The namespace goes with the VIP port (the data plane removes it). */
  async release(): Promise<void> {}
}
