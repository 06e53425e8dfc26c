/**
 * What floating IPs and ports see of port forwardings (portforwardings.ts serves them): a
 * floating IP's `port_forwardings` (expose-port-forwarding-in-fip), the refusals of a floating
 * IP that forwards ports, and the forwardings that go with a port. Kept apart from the service so
 * that the floating IP and port modules can use it without importing the router code it needs.
 */
import type { Q, Tx } from '../../store/db.js';
import { IN_CHUNK, binaryOrder, chunks, jsonRowObject } from '../../store/db.js';
import type { FloatingIpsTable, PortForwardingsTable } from '../../store/schema.js';
import { isoSeconds } from '../../util/time.js';
import { conflict } from '../errors.js';
import type { Work } from '../work.js';
import { type InlineAttr, type Loaded, bumpRevision } from './resource.js';

export /** A floating IP's forwardings changed: it is revised (and told to the data plane). */
async function fipChanged(w: Work, fip: FloatingIpsTable, routerId?: string | null): Promise<void> {
  if (routerId !== undefined && routerId !== fip.router_id) {
    await w.trx.updateTable('floating_ips').set({ router_id: routerId, updated_at: isoSeconds() }).where('id', '=', fip.id).execute();
  }
  await bumpRevision(w.trx, 'floating_ips', fip.id);
  w.changed('floatingip', fip.id, fip.project_id, 'update');
}

/** What a floating IP shows of a forwarding, from these of its columns. */
const FORWARDING_VIEW_COLUMNS = [
  'id',
  'protocol',
  'internal_ip_address',
  'internal_port_id',
  'internal_port_start',
  'internal_port_end',
  'external_port_start',
  'external_port_end',
  'created_at',
] as const satisfies ReadonlyArray<keyof PortForwardingsTable>;
type ForwardingViewRow = Pick<PortForwardingsTable, (typeof FORWARDING_VIEW_COLUMNS)[number]>;

/** One forwarding as its floating IP shows it: a single port as `internal_port`/`external_port`, a range without. */
function forwardingView(pf: ForwardingViewRow): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: pf.id,
    protocol: pf.protocol,
    internal_ip_address: pf.internal_ip_address,
    internal_port_id: pf.internal_port_id,
  };
  if (pf.internal_port_start === pf.internal_port_end) out.internal_port = pf.internal_port_start;
  if (pf.external_port_start === pf.external_port_end) out.external_port = pf.external_port_start;
  return out;
}

/** expose-port-forwarding-in-fip: what a floating IP shows of its forwardings. */
export async function loadFipPortForwardings(q: Q, rows: Array<Loaded<'floating_ips'> & { __port_forwardings?: unknown[] }>): Promise<void> {
  const byFip = new Map<string, unknown[]>(rows.map((r) => [r.id, []]));
  for (const chunk of chunks([...byFip.keys()], IN_CHUNK)) {
    const pfs = await q.selectFrom('port_forwardings').selectAll().where('floatingip_id', 'in', chunk).orderBy('created_at').execute();
    for (const pf of pfs) byFip.get(pf.floatingip_id)?.push(forwardingView(pf));
  }
  for (const r of rows) r.__port_forwardings = byFip.get(r.id) ?? [];
}

/** A floating IP's forwardings read with it by a show (`ResourceDef.inline`), as loadFipPortForwardings gives them. */
export const fipPortForwardingsInline: InlineAttr<'floating_ips'> = {
  rows: (eb) =>
    eb
      .selectFrom('port_forwardings')
      .select(FORWARDING_VIEW_COLUMNS.map((c) => `port_forwardings.${c}` as const))
      .whereRef('port_forwardings.floatingip_id', '=', 'floating_ips.id'),
  columns: FORWARDING_VIEW_COLUMNS,
  value: (rows) => {
    const pfs = rows.map((r) => jsonRowObject(FORWARDING_VIEW_COLUMNS, r) as ForwardingViewRow);
    // In creation order (a stable sort keeps the index's order between equals, as the list's ORDER BY does).
    return pfs.sort((a, b) => binaryOrder(a.created_at, b.created_at)).map(forwardingView);
  },
};

/** A floating IP that forwards ports takes no port of its own, nor goes (FipInUseByPortForwarding). */
export async function assertNotForwarding(q: Q, fipId: string): Promise<void> {
  if (await hasPortForwardings(q, fipId)) throw conflict('FipInUseByPortForwarding', `Floating IP ${fipId} in use by Port Forwarding resources.`);
}

export async function hasPortForwardings(q: Q, fipId: string): Promise<boolean> {
  return !!(await q.selectFrom('port_forwardings').select('id').where('floatingip_id', '=', fipId).executeTakeFirst());
}

/**
 * A port goes (or loses addresses): its forwardings go with it, and a floating IP left without
 * any lets go of its router (PortForwardingPlugin._process_port_request).
 */
export async function dropPortForwardings(w: Work, portId: string, keepAddresses: ReadonlySet<string> = new Set()): Promise<void> {
  const pfs = await w.trx.selectFrom('port_forwardings').selectAll().where('internal_port_id', '=', portId).execute();
  const gone = pfs.filter((pf) => !keepAddresses.has(pf.internal_ip_address));
  if (!gone.length) return;
  await dropForwardings(w.trx, gone);
  for (const fipId of new Set(gone.map((pf) => pf.floatingip_id))) {
    const fip = await w.trx.selectFrom('floating_ips').selectAll().where('id', '=', fipId).executeTakeFirst();
    if (!fip) continue;
    const left = await hasPortForwardings(w.trx, fipId);
    await fipChanged(w, fip, left ? undefined : null);
  }
  for (const pf of gone) w.changed('port_forwarding', pf.id, pf.project_id, 'delete');
}

async function dropForwardings(trx: Tx, pfs: PortForwardingsTable[]): Promise<void> {
  await trx
    .deleteFrom('port_forwardings')
    .where(
      'id',
      'in',
      pfs.map((pf) => pf.id),
    )
    .execute();
}
