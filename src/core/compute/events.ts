/** os-server-external-events: Neutron's notifications about a server's ports (network-vif-plugged …). */
import type { RequestContext } from '../context.js';
import type { UnitOfWork } from '../work.js';
import { novaNotFound } from './errors.js';
import { type AfterPolicy, adminOnly } from './policy.js';

export interface ExternalEvent {
  name: string;
  server_uuid: string;
  tag?: string;
  status?: string;
}

/** An event as Nova answers it: `completed` (200) for a server on a host, else `failed` (404). */
export type ExternalEventResult = ExternalEvent & { status: 'completed' | 'failed'; code: 200 | 404 };

export class ExternalEvents {
  constructor(private readonly uow: UnitOfWork) {}

  /** Admins only; Nova's 404 when no event names a server it knows on a host. */
  async receive(ctx: RequestContext, input: AfterPolicy<ExternalEvent[]>): Promise<ExternalEventResult[]> {
    adminOnly(ctx, 'os_compute_api:os-server-external-events:create');
    const events = input();
    const ids = [...new Set(events.map((e) => e.server_uuid))];
    const rows = (
      await this.uow.store.db
        .selectFrom('servers')
        .select(['id', 'host', 'project_id'])
        .where('id', 'in', ids.length ? ids : [''])
        .execute()
    ).filter((r) => r.host);
    const found = new Set(rows.map((r) => r.id));
    const out = events.map((e): ExternalEventResult => {
      const ok = found.has(e.server_uuid);
      return { ...e, status: ok ? 'completed' : 'failed', code: ok ? 200 : 404 };
    });
    // Neutron's word on a server's ports is a report of what runs, as an instance host's is.
    this.uow.announce(
      rows.map((r) => ({ kind: 'server', id: r.id, projectId: r.project_id, op: 'status' })),
      ctx,
    );
    if (!out.some((e) => e.code === 200)) throw novaNotFound('No instances found for any event');
    return out;
  }
}
