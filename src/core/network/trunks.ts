/**
 * Trunks (Neutron's `trunk` service plugin with `trunk-details`): a parent port and subports,
 * each a port of its own reached on the parent's link by its segmentation (a VLAN id), as the
 * ML2/OVS trunk driver offers them (segmentation type `vlan`; `inherit` takes the subport's
 * network's type, which is `vxlan` for tenant networks and so refused, as there). The checks and
 * their order are Neutron's TrunkPortValidator and SubPortsValidator; a port in a trunk cannot
 * be deleted. Status is DOWN until the data plane has wired the trunk (ACTIVE), as an agent reports.
 */
import type { Q, Tx } from '../../store/db.js';
import { IN_CHUNK, binaryOrder, chunks, isUniqueViolation } from '../../store/db.js';
import type { PortsTable, TrunkSubportsTable, TrunksTable } from '../../store/schema.js';
import { uuid as newUuid } from '../../util/ids.js';
import { isUuidLike } from '../../util/ids.js';
import { pyStrOf } from '../../util/pyrepr.js';
import type { RequestContext } from '../context.js';
import { conflict, invalidInput, notFound, resourceNotFound } from '../errors.js';
import type { Work } from '../work.js';
import { type Validator, string, toBoolean, uuid } from './attributes.js';
import { type ResourceOps, actionMap } from './registry.js';
import { type InlineAttr, type ResourceDef, bumpRevision, getRow, insertRow, omitted, renderRows, standardAttrs, toColumns, updateRow } from './resource.js';

/** A subport as a trunk lists it. */
export interface SubPort {
  port_id: string;
  segmentation_type: string;
  segmentation_id: number;
}

/** A subport as a request names it (validated by validateSubports). */
interface SubPortRequest {
  port_id: string;
  segmentation_type?: string;
  segmentation_id?: unknown;
}

/** neutron-lib's validate_subports, message for message. */
const validateSubports: Validator = (data) => {
  if (!Array.isArray(data)) return `Invalid data format for subports: '${pyStrOf(data)}' is not a list`;
  const ids = new Set<unknown>();
  const segmentations = new Map<unknown, Set<unknown>>();
  for (const s of data) {
    if (typeof s !== 'object' || s === null || Array.isArray(s)) return `Invalid data format for subport: '${pyStrOf(s)}' is not a dict`;
    const sub = s as Record<string, unknown>;
    if (!('port_id' in sub)) return 'A valid port UUID must be specified';
    if (!isUuidLike(sub.port_id)) return `Invalid UUID for subport: '${pyStrOf(sub.port_id)}'`;
    if (ids.has(sub.port_id)) return `Non unique UUID for subport: '${pyStrOf(sub.port_id)}'`;
    ids.add(sub.port_id);
    const type = sub.segmentation_type;
    // An inherited segmentation ends the checks (neutron-lib returns there).
    if (type === 'inherit') return undefined;
    const id = sub.segmentation_id;
    if ((!type || id === null || id === undefined) && Object.keys(sub).length > 1) {
      return `Invalid subport details '${pyStrOf(sub)}': missing segmentation information. Must specify both segmentation_id and segmentation_type`;
    }
    if (segmentations.get(type)?.has(id)) return `Segmentation ID '${pyStrOf(id)}' for '${pyStrOf(sub.port_id)}' is not unique`;
    if (id !== null && id !== undefined) {
      if (!segmentations.has(type)) segmentations.set(type, new Set());
      segmentations.get(type)!.add(id);
    }
  }
  return undefined;
};

/** Attributes computed for rendering. */
interface TrunkComputed {
  sub_ports: SubPort[];
}

/** neutron-lib's `trunks`, in the order Neutron renders a trunk. */
export const trunkDef: ResourceDef<'trunks', TrunkComputed> = {
  name: 'trunk',
  collection: 'trunks',
  table: 'trunks',
  label: 'Trunk',
  notFound: (id) => trunkNotFound(id),
  bulk: true,
  taggable: true,
  attrs: {
    admin_state_up: { post: true, put: true, default: true, filter: true, sort: true, column: 'admin_state_up', codec: 'bool', convert: toBoolean },
    id: { filter: true, sort: true, column: 'id', validate: uuid },
    project_id: standardAttrs().project_id,
    name: { post: true, put: true, default: '', filter: true, sort: true, column: 'name', validate: string(255) },
    port_id: { post: true, filter: true, sort: true, column: 'port_id', validate: uuid },
    status: { sort: true, filter: true, column: 'status' },
    sub_ports: { post: true, default: [], validate: validateSubports },
    revision_number: standardAttrs().revision_number,
    description: standardAttrs().description,
    created_at: standardAttrs().created_at,
    updated_at: standardAttrs().updated_at,
    tenant_id: standardAttrs().tenant_id,
    tags: standardAttrs().tags,
  },
  async load(q, rows) {
    const subs = await subportsOf(
      q,
      rows.map((r) => r.id),
    );
    for (const r of rows) r.__sub_ports = (subs.get(r.id) ?? []).map(subPortView);
  },
};

const subPortView = (s: TrunkSubportsTable): SubPort => ({ port_id: s.port_id, segmentation_type: s.segmentation_type, segmentation_id: s.segmentation_id });

async function subportsOf(q: Q, trunkIds: string[]): Promise<Map<string, TrunkSubportsTable[]>> {
  const out = new Map<string, TrunkSubportsTable[]>(trunkIds.map((id) => [id, []]));
  for (const chunk of chunks(trunkIds, IN_CHUNK)) {
    const rows = await q.selectFrom('trunk_subports').selectAll().where('trunk_id', 'in', chunk).orderBy('position').orderBy('port_id').execute();
    for (const s of rows) out.get(s.trunk_id)?.push(s);
  }
  return out;
}

// ---------------------------------------------------------------- errors

const trunkNotFound = (id: string) => notFound('TrunkNotFound', `Trunk ${id} could not be found.`);
const parentPortInUse = (portId: string) => conflict('ParentPortInUse', `Port ${portId} is currently in use and is not eligible for use as a parent port.`);
const trunkPortInUse = (portId: string) => conflict('TrunkPortInUse', `Port ${portId} is in use by another trunk.`);
const trunkDisabled = (id: string) => conflict('TrunkDisabled', `Trunk ${id} is currently disabled.`);

/** The segmentation types the trunk driver takes, with the check of their ids (OVS: VLAN only). */
const SEGMENTATION_TYPES: ReadonlyMap<string, (id: number) => boolean> = new Map([['vlan', (id: number) => id >= 1 && id <= 4094]]);

/** A port as the caller may see it (the core plugin's get_port): PortNotFound otherwise. */
async function visiblePort(q: Q, ctx: RequestContext, id: string): Promise<PortsTable> {
  const port = await q.selectFrom('ports').selectAll().where('id', '=', id).executeTakeFirst();
  if (!port || (!ctx.isAdmin && port.project_id !== ctx.projectId)) throw resourceNotFound('Port', id);
  return port;
}

/** TrunkPortValidator.validate: the port is in no trunk yet (and, for a parent, exists). */
async function validateTrunkPort(q: Q, ctx: RequestContext, portId: string, parent: boolean): Promise<void> {
  if (await q.selectFrom('trunk_subports').select('port_id').where('port_id', '=', portId).executeTakeFirst()) throw trunkPortInUse(portId);
  if (await q.selectFrom('trunks').select('id').where('port_id', '=', portId).executeTakeFirst()) throw parentPortInUse(portId);
  const port = await visiblePort(q, ctx, portId);
  if (!parent && port.device_id) {
    throw conflict(
      'PortInUse',
      `Unable to complete operation on port ${port.id} for network ${port.network_id}. Port already has an attached device ${port.device_id}.`,
    );
  }
}

/** The MTU of a port's network, or null when either is not found. */
async function portMtu(q: Q, portId: string): Promise<number | null> {
  const row = await q.selectFrom('ports as p').innerJoin('networks as n', 'n.id', 'p.network_id').select('n.mtu').where('p.id', '=', portId).executeTakeFirst();
  return row ? row.mtu : null;
}

/**
 * SubPortsValidator.validate with trunk validation: `inherit` resolved from each subport's
 * network, then per subport: not the parent, an MTU the parent's can carry, a known segmentation
 * in range, a port in no other trunk and attached to nothing.
 */
async function validateSubports2(q: Q, ctx: RequestContext, parentId: string, subports: SubPortRequest[]): Promise<SubPort[]> {
  const parentMtu = await portMtu(q, parentId);
  const out: SubPort[] = [];
  const resolved = subports.map((s) => ({ ...s }));
  const ports = resolved.length
    ? await q
        .selectFrom('ports as p')
        .innerJoin('networks as n', 'n.id', 'p.network_id')
        .select(['p.id', 'p.project_id', 'n.mtu', 'n.network_type', 'n.segmentation_id'])
        .where(
          'p.id',
          'in',
          resolved.map((s) => s.port_id),
        )
        .execute()
    : [];
  const visible = new Map(ports.filter((p) => ctx.isAdmin || p.project_id === ctx.projectId).map((p) => [p.id, p]));
  for (const s of resolved) {
    const port = visible.get(s.port_id);
    if (s.segmentation_type === 'inherit' && port) {
      s.segmentation_type = port.network_type;
      s.segmentation_id = port.segmentation_id;
    }
  }
  for (const s of resolved) {
    if (s.port_id === parentId) throw parentPortInUse(s.port_id);
    const mtu = visible.get(s.port_id)?.mtu;
    if (parentMtu !== null && mtu !== undefined && mtu > parentMtu) {
      throw conflict('SubPortMtuGreaterThanTrunkPortMtu', `MTU ${mtu} of subport ${s.port_id} cannot be greater than MTU ${parentMtu} of trunk ${parentId}.`);
    }
    if (s.segmentation_type === undefined || s.segmentation_id === undefined) {
      throw invalidInput(`Invalid subport details '${pyStrOf(s)}': missing segmentation information. Must specify both segmentation_id and segmentation_type`);
    }
    const id = typeof s.segmentation_id === 'number' ? s.segmentation_id : Number.NaN;
    if (!Number.isInteger(id) && !(typeof s.segmentation_id === 'string' && /^\s*[-+]?\d+\s*$/.test(s.segmentation_id))) {
      throw invalidInput(`Invalid subport details: segmentation_id '${pyStrOf(s.segmentation_id)}' is not an integer`);
    }
    const segId = Number.isInteger(id) ? id : Number.parseInt(String(s.segmentation_id), 10);
    const check = SEGMENTATION_TYPES.get(String(s.segmentation_type));
    if (!check) throw invalidInput(`Unknown segmentation_type '${pyStrOf(s.segmentation_type)}'`);
    if (!check(segId)) throw invalidInput(`Segmentation ID '${segId}' is not in range`);
    await validateTrunkPort(q, ctx, s.port_id, false);
    out.push({ port_id: s.port_id, segmentation_type: String(s.segmentation_type), segmentation_id: segId });
  }
  return out;
}

/** Insert subports after the trunk's last; a segmentation taken on the trunk is DuplicateSubPort. */
async function addSubports(trx: Tx, trunkId: string, subports: SubPort[]): Promise<void> {
  const last = await trx
    .selectFrom('trunk_subports')
    .select(({ fn }) => fn.max('position').as('max'))
    .where('trunk_id', '=', trunkId)
    .executeTakeFirst();
  let position = Number(last?.max ?? -1) + 1;
  for (const s of subports) {
    const taken = await trx
      .selectFrom('trunk_subports')
      .select('port_id')
      .where('trunk_id', '=', trunkId)
      .where('segmentation_type', '=', s.segmentation_type)
      .where('segmentation_id', '=', s.segmentation_id)
      .executeTakeFirst();
    const duplicate = () =>
      conflict('DuplicateSubPort', `segmentation_type ${s.segmentation_type} and segmentation_id ${s.segmentation_id} already in use on trunk ${trunkId}.`);
    if (taken) throw duplicate();
    try {
      await trx
        .insertInto('trunk_subports')
        .values({ ...s, trunk_id: trunkId, position: position++ })
        .execute();
    } catch (e) {
      if (isUniqueViolation(e)) throw duplicate();
      throw e;
    }
  }
}

/** The `sub_ports` list of an add/remove_subports body. */
function subportsBody(body: unknown): SubPortRequest[] {
  const list = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as { sub_ports?: unknown }).sub_ports : undefined;
  const why = validateSubports(list);
  if (why) throw invalidInput(why);
  return list as SubPortRequest[];
}

export function trunkOps(): ResourceOps<'trunks', TrunkComputed> {
  const rendered = async (q: Q, ctx: RequestContext, id: string) => {
    const row = await q.selectFrom('trunks').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    const [out] = await renderRows(q, trunkDef, ctx, [row]);
    return out;
  };
  const changed = (w: Work, trunk: TrunksTable, subports: string[]) => {
    for (const p of subports) w.changed('port', p, trunk.project_id, 'update');
  };

  return {
    def: trunkDef,
    async create(w, ctx, p) {
      const { trx } = w;
      const v = p.values;
      const portId = v.port_id as string;
      await validateTrunkPort(trx, ctx, portId, true);
      const subports = await validateSubports2(trx, ctx, portId, v.sub_ports as SubPortRequest[]);
      const id = newUuid();
      try {
        await insertRow(trx, trunkDef, id, { ...toColumns(trunkDef, v), status: 'DOWN', port_id: portId });
      } catch (e) {
        if (isUniqueViolation(e)) throw parentPortInUse(portId);
        throw e;
      }
      await addSubports(trx, id, subports);
      w.changed('port', portId, v.project_id as string, 'update');
      return id;
    },

    async update(w, _ctx, row, p) {
      await updateRow(w.trx, trunkDef, row, toColumns(trunkDef, p.values));
    },

    async delete(w, _ctx, row) {
      if (row.admin_state_up !== 1) throw trunkDisabled(row.id);
      const subs = (await subportsOf(w.trx, [row.id])).get(row.id)!;
      await w.trx.deleteFrom('trunk_subports').where('trunk_id', '=', row.id).execute();
      await w.trx.deleteFrom('trunks').where('id', '=', row.id).execute();
      changed(
        w,
        row,
        subs.map((s) => s.port_id),
      );
    },

    actions: actionMap({
      async add_subports(w, ctx, row, body) {
        const { trx } = w;
        const requested = subportsBody(body);
        const subports = await validateSubports2(trx, ctx, row.port_id, requested);
        if (row.admin_state_up !== 1) throw trunkDisabled(row.id);
        if (row.status === 'ERROR') {
          throw conflict('TrunkInErrorState', `Trunk ${row.id} is in error state. Attempt to resolve the error condition before proceeding.`);
        }
        if (subports.length) {
          await addSubports(trx, row.id, subports);
          await trx.updateTable('trunks').set({ status: 'DOWN' }).where('id', '=', row.id).execute();
          await bumpRevision(trx, 'trunks', row.id);
          changed(
            w,
            row,
            subports.map((s) => s.port_id),
          );
        }
        return rendered(trx, ctx, row.id);
      },
      async remove_subports(w, ctx, row, body) {
        const { trx } = w;
        const requested = subportsBody(body);
        if (row.admin_state_up !== 1) throw trunkDisabled(row.id);
        const current = new Map((await subportsOf(trx, [row.id])).get(row.id)!.map((s) => [s.port_id, s]));
        for (const s of requested) {
          if (!current.delete(s.port_id)) throw notFound('SubPortNotFound', `SubPort ${s.port_id} on trunk ${row.id} could not be found.`);
        }
        if (requested.length) {
          await trx
            .deleteFrom('trunk_subports')
            .where('trunk_id', '=', row.id)
            .where(
              'port_id',
              'in',
              requested.map((s) => s.port_id),
            )
            .execute();
          await trx.updateTable('trunks').set({ status: 'DOWN' }).where('id', '=', row.id).execute();
          await bumpRevision(trx, 'trunks', row.id);
          changed(
            w,
            row,
            requested.map((s) => s.port_id),
          );
        }
        return rendered(trx, ctx, row.id);
      },
    }),
  };
}

/** GET /trunks/{id}/get_subports. */
export async function getSubports(q: Q, ctx: RequestContext, trunkId: string): Promise<{ sub_ports: SubPort[] }> {
  const row = await getRow(q, trunkDef, ctx, trunkId);
  return { sub_ports: ((await subportsOf(q, [row.id])).get(row.id) ?? []).map(subPortView) };
}

/** rules.enforce_port_deletion_rules: a port in a trunk stays until it leaves the trunk. */
export async function assertPortNotInTrunk(q: Q, portId: string): Promise<void> {
  const sub = await q.selectFrom('trunk_subports').select('trunk_id').where('port_id', '=', portId).executeTakeFirst();
  if (sub) throw conflict('PortInUseAsSubPort', `Port ${portId} is currently a subport for trunk ${sub.trunk_id}.`);
  const trunk = await q.selectFrom('trunks').select('id').where('port_id', '=', portId).executeTakeFirst();
  if (trunk) throw conflict('PortInUseAsTrunkParent', `Port ${portId} is currently a parent port for trunk ${trunk.id}.`);
}

/** trunk-details: what a parent port shows of its trunk (its subports with their MACs). */
export interface TrunkDetails {
  trunk_id: string;
  sub_ports: Array<SubPort & { mac_address: string }>;
}

/**
 * `trunk_details` read with the port itself (a show, see showRow): the port's trunk joined with
 * its subports and their MACs, one row per subport (one with no subport for an empty trunk), put
 * in loadTrunkDetails's order (position, then port id) here, not by an ORDER BY (see InlineAttr).
 * A port that is no trunk's parent does not show the key.
 */
export const trunkDetailsInline: InlineAttr<'ports'> = {
  rows: (eb) =>
    eb
      .selectFrom('trunks')
      .leftJoin('trunk_subports as ts', 'ts.trunk_id', 'trunks.id')
      .leftJoin('ports as sp', 'sp.id', 'ts.port_id')
      .select(['trunks.id as trunk_id', 'ts.segmentation_id', 'ts.segmentation_type', 'ts.port_id', 'sp.mac_address', 'ts.position'])
      .whereRef('trunks.port_id', '=', 'ports.id'),
  columns: ['trunk_id', 'segmentation_id', 'segmentation_type', 'port_id', 'mac_address', 'position'],
  value(rows) {
    if (rows.length === 0) return omitted<TrunkDetails>();
    if (rows.length > 1) rows.sort((a, b) => (a[5] as number) - (b[5] as number) || binaryOrder(a[3] as string, b[3] as string));
    const details: TrunkDetails = { trunk_id: rows[0][0] as string, sub_ports: [] };
    for (const [, segmentation_id, segmentation_type, port_id, mac] of rows) {
      if (port_id === null) continue;
      details.sub_ports.push({
        segmentation_id: segmentation_id as number,
        segmentation_type: segmentation_type as string,
        port_id: port_id as string,
        mac_address: (mac as string | null) ?? '',
      });
    }
    return details;
  },
};

/** `trunk_details` of ports being rendered: set on parents only (others do not show the key). */
export async function loadTrunkDetails(q: Q, rows: Array<{ id: string; __trunk_details?: TrunkDetails }>): Promise<void> {
  const byPort = new Map<string, string>();
  for (const chunk of chunks(
    rows.map((r) => r.id),
    IN_CHUNK,
  )) {
    for (const t of await q.selectFrom('trunks').select(['id', 'port_id']).where('port_id', 'in', chunk).execute()) byPort.set(t.port_id, t.id);
  }
  if (!byPort.size) return;
  const subs = await subportsOf(q, [...byPort.values()]);
  const macs = new Map<string, string>();
  const subIds = [...subs.values()].flat().map((s) => s.port_id);
  for (const chunk of chunks(subIds, IN_CHUNK)) {
    for (const p of await q.selectFrom('ports').select(['id', 'mac_address']).where('id', 'in', chunk).execute()) macs.set(p.id, p.mac_address);
  }
  for (const r of rows) {
    const trunkId = byPort.get(r.id);
    if (!trunkId) continue;
    r.__trunk_details = {
      trunk_id: trunkId,
      sub_ports: (subs.get(trunkId) ?? []).map((s) => ({
        segmentation_id: s.segmentation_id,
        segmentation_type: s.segmentation_type,
        port_id: s.port_id,
        mac_address: macs.get(s.port_id) ?? '',
      })),
    };
  }
}
