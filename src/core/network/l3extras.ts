/**
 * A router's extras: NDP proxies (`l3-ndp-proxy`, with the router's `enable_ndp_proxy` of
 * `l3-ext-ndp-proxy`) and conntrack helpers (`l3-conntrack-helper`, a sub-resource of routers,
 * shown on the router by `expose-l3-conntrack-helper`). The API and its rules as Neutron's plugins
 * keep them; making the kernel proxy neighbour discovery or load a helper is the data plane's.
 */
import type { Q, Tx } from '../../store/db.js';
import { isUniqueViolation } from '../../store/db.js';
import { uuid as newUuid } from '../../util/ids.js';
import { parseIp } from '../../util/ip.js';
import { DomainError, conflict, neutronBadRequest, notFound } from '../errors.js';
import { ipAddressOrNone, range, string, toInt, uuid } from './attributes.js';
import type { ResourceOps } from './registry.js';
import { type ResourceDef, bumpRevision, getRow, insertRow, standardAttrs, toColumns, updateRow } from './resource.js';
import { IP_PROTOCOLS } from './securitygroups.js';

// ---------------------------------------------------------------- NDP proxies

const ndpNotFound = (id: string) => notFound('NDPProxyNotFound', `Ndp proxy ${id} could not be found.`);
const gatewayNotValid = (router: string, reason: string) => conflict('RouterGatewayNotValid', `Can not enable ndp proxy on router ${router}, ${reason}.`);

export const ndpProxyDef: ResourceDef<'ndp_proxies'> = {
  name: 'ndp_proxy',
  collection: 'ndp_proxies',
  table: 'ndp_proxies',
  label: 'Ndp proxy',
  notFound: ndpNotFound,
  attrs: {
    id: { sort: true, filter: true, column: 'id', validate: uuid },
    name: { post: true, put: true, default: '', filter: true, sort: true, column: 'name', validate: string(255) },
    project_id: { ...standardAttrs().project_id },
    router_id: { post: true, filter: true, sort: true, column: 'router_id', validate: uuid },
    port_id: { post: true, filter: true, sort: true, column: 'port_id', validate: uuid },
    ip_address: { post: true, default: null, filter: true, sort: true, column: 'ip_address', validate: ipAddressOrNone },
    description: { post: true, put: true, default: '', column: 'description', validate: string(1024) },
    revision_number: standardAttrs().revision_number,
    created_at: standardAttrs().created_at,
    updated_at: standardAttrs().updated_at,
    tenant_id: standardAttrs().tenant_id,
  },
};

/** The IPv6 address scope of a network (its IPv6 subnets' pool's scope), as the plugin compares them. */
async function ipv6ScopeOf(q: Q, networkId: string): Promise<string | null> {
  const row = await q
    .selectFrom('subnets')
    .innerJoin('subnetpools', 'subnetpools.id', 'subnets.subnetpool_id')
    .select('subnetpools.address_scope_id')
    .where('subnets.network_id', '=', networkId)
    .where('subnets.ip_version', '=', 6)
    .executeTakeFirst();
  return row?.address_scope_id ?? null;
}

/** NDPProxyPlugin._check_ext_gw_network: an IPv6 subnet and an IPv6 address scope. */
export async function gatewaySupportsNdp(q: Q, networkId: string): Promise<boolean> {
  if (!(await ipv6ScopeOf(q, networkId))) return false;
  return !!(await q.selectFrom('subnets').select('id').where('network_id', '=', networkId).where('ip_version', '=', 6).executeTakeFirst());
}

/**
 * The router's enable_ndp_proxy on create (NDPProxyPlugin._process_ndp_proxy_state_for_create_router):
 * true needs a gateway on a network that supports it; unset follows the default (off).
 */
export async function ndpStateForCreate(q: Q, routerId: string, requested: boolean | undefined, gatewayNetwork: string | null): Promise<boolean> {
  if (!gatewayNetwork && requested === true) throw gatewayNotValid(routerId, 'The request body not contain external gateway information');
  if (!gatewayNetwork || requested === false) return false;
  const supported = await gatewaySupportsNdp(q, gatewayNetwork);
  if (!supported && requested === true) {
    throw gatewayNotValid(
      routerId,
      `The external network ${gatewayNetwork} don't support IPv6 ndp proxy, the network has no IPv6 subnets or has no IPv6 address scope`,
    );
  }
  return requested === true;
}

/** On update: true needs a gateway with an IPv6 address on such a network. */
export async function checkNdpStateForUpdate(q: Q, routerId: string, gwPortId: string | null): Promise<void> {
  let ok = false;
  if (gwPortId) {
    const port = await q.selectFrom('ports').select('network_id').where('id', '=', gwPortId).executeTakeFirst();
    const v6 = await q.selectFrom('ip_allocations').select('ip_address').where('port_id', '=', gwPortId).execute();
    ok = !!port && (await gatewaySupportsNdp(q, port.network_id)) && v6.some((a) => a.ip_address.includes(':'));
  }
  if (!ok) throw gatewayNotValid(routerId, 'The router has no external gateway or the external gateway port has no IPv6 address or IPv6 address scope');
}

/** A gateway may not go while NDP proxies use the router. */
export async function checkNoNdpProxies(q: Q, routerId: string): Promise<void> {
  if (await q.selectFrom('ndp_proxies').select('id').where('router_id', '=', routerId).executeTakeFirst()) {
    throw conflict(
      'RouterGatewayInUseByNDPProxy',
      `Unable to unset external gateway of router ${routerId}, There are one or more ndp proxies still in use on the router.`,
    );
  }
}

/** An interface's subnet may not go while an NDP proxy's address is on it. */
export async function checkSubnetNotProxied(q: Q, routerId: string, subnetId: string): Promise<void> {
  const proxies = await q.selectFrom('ndp_proxies').select(['port_id', 'ip_address']).where('router_id', '=', routerId).execute();
  for (const p of proxies) {
    const alloc = await q
      .selectFrom('ip_allocations')
      .select('subnet_id')
      .where('port_id', '=', p.port_id)
      .where('ip_address', '=', p.ip_address)
      .executeTakeFirst();
    if (alloc?.subnet_id === subnetId) {
      throw conflict(
        'RouterInterfaceInUseByNDPProxy',
        `Unable to remove subnet ${subnetId} from router ${routerId}, There are one or more ndp proxies still in use on the subnet.`,
      );
    }
  }
}

export function ndpProxyOps(routerDef: ResourceDef<'routers'>): ResourceOps<'ndp_proxies'> {
  return {
    def: ndpProxyDef,
    async create(w, ctx, p) {
      const { trx } = w;
      const v = p.values;
      const routerId = v.router_id as string;
      const portId = v.port_id as string;
      const port = await trx.selectFrom('ports').selectAll().where('id', '=', portId).executeTakeFirst();
      if (!port || (!ctx.isAdmin && port.project_id !== ctx.projectId)) throw notFound('PortNotFound', `Port ${portId} could not be found.`);
      const routerPorts = await trx.selectFrom('ports').select('id').where('device_id', '=', routerId).where('network_id', '=', port.network_id).execute();
      const unreachable = () => conflict('PortUnreachableRouter', `The port ${portId} cannot reach the router ${routerId} by IPv6 subnet.`);
      if (routerPorts.length === 0) throw unreachable();
      const router = await getRow(trx, routerDef, ctx, routerId);
      const gw = router.gw_port_id ? await trx.selectFrom('ports').select('network_id').where('id', '=', router.gw_port_id).executeTakeFirst() : undefined;
      if (!gw || router.enable_ndp_proxy !== 1) {
        throw conflict(
          'RouterNDPProxyNotEnable',
          `The enable_ndp_proxy parameter of router ${routerId} must be set as True while create ndp proxy entry on it.`,
        );
      }
      const extScope = await ipv6ScopeOf(trx, gw.network_id);
      const portIps = (await trx.selectFrom('ip_allocations').select(['subnet_id', 'ip_address']).where('port_id', '=', portId).execute()).filter((a) =>
        a.ip_address.includes(':'),
      );
      if (portIps.length === 0) throw neutronBadRequest('ndp_proxy', `Requested port ${portId} must allocate one IPv6 address at least`);
      const routerIps = await trx
        .selectFrom('ip_allocations')
        .select('subnet_id')
        .where(
          'port_id',
          'in',
          routerPorts.map((r) => r.id),
        )
        .execute();
      const routerSubnets = new Set(routerIps.map((r) => r.subnet_id));
      let address = v.ip_address as string | null;
      if (!address) {
        const hit = portIps.find((a) => routerSubnets.has(a.subnet_id));
        if (!hit) throw unreachable();
        address = hit.ip_address;
      } else {
        const want = parseIp(address);
        const hit = portIps.find((a) => parseIp(a.ip_address)?.value === want?.value);
        const invalid = (reason: string) => new DomainError('bad_request', 'InvalidAddress', `The address ${address} is invalid, reason: ${reason}.`);
        if (!hit) throw invalid(`This address not belong to the port ${portId}`);
        if (!routerSubnets.has(hit.subnet_id)) throw invalid(`This address cannot reach the router ${routerId}`);
      }
      const intScope = await ipv6ScopeOf(trx, port.network_id);
      if (extScope !== intScope) {
        throw conflict(
          'AddressScopeConflict',
          `The IPv6 address scope ${extScope} of external network conflict with internal network's IPv6 address scope ${intScope}.`,
        );
      }
      const id = newUuid();
      await insertRow(trx, ndpProxyDef, id, {
        project_id: v.project_id as string,
        name: v.name as string,
        description: v.description as string,
        router_id: routerId,
        port_id: portId,
        ip_address: address,
      });
      return id;
    },
    async update(w, _ctx, row, p) {
      await updateRow(w.trx, ndpProxyDef, row, toColumns(ndpProxyDef, p.values));
    },
    async delete(w, _ctx, row) {
      await w.trx.deleteFrom('ndp_proxies').where('id', '=', row.id).execute();
    },
  };
}

// ---------------------------------------------------------------- conntrack helpers

/** neutron.conf's allowed_conntrack_helpers (its default), helper → protocols. */
const ALLOWED_HELPERS: ReadonlyMap<string, readonly string[]> = new Map([
  ['amanda', ['tcp']],
  ['ftp', ['tcp']],
  ['h323', ['udp', 'tcp']],
  ['irc', ['tcp']],
  ['netbios-ns', ['udp']],
  ['pptp', ['tcp']],
  ['sane', ['tcp']],
  ['sip', ['udp', 'tcp']],
  ['snmp', ['udp']],
  ['tftp', ['udp']],
]);

/** neutron-lib's convert_to_protocol: a name it knows, or a number 0-255 (as a string). */
const toProtocol = (v: unknown): unknown => {
  if (typeof v === 'string' && Object.hasOwn(IP_PROTOCOLS, v.toLowerCase())) return v.toLowerCase();
  if (typeof v === 'number' || (typeof v === 'string' && /^\d+$/.test(v))) {
    const n = Number(v);
    if (n >= 0 && n <= 255) return String(n);
  }
  throw new DomainError(
    'bad_request',
    'InvalidInput',
    `Invalid input for operation: IP protocol '${String(v)}' is not supported. Only protocol names and their integer representation (0 to 255) are supported.`,
  );
};

export const conntrackHelperDef: ResourceDef<'conntrack_helpers'> = {
  name: 'conntrack_helper',
  collection: 'conntrack_helpers',
  table: 'conntrack_helpers',
  label: 'Conntrack Helper',
  notFound: (id) => notFound('ConntrackHelperNotFound', `Conntrack Helper ${id} could not be found.`),
  // The router's; a router the caller cannot see hides its helpers behind a plain 404.
  parent: { path: 'routers', column: 'router_id', notFound: () => notFound('HTTPNotFound', 'The resource could not be found.') },
  attrs: {
    id: { filter: true, sort: true, column: 'id', validate: uuid },
    protocol: { post: true, put: true, filter: true, sort: true, column: 'protocol', convert: toProtocol },
    port: { post: true, put: true, filter: true, sort: true, column: 'port', codec: 'int', convert: toInt, validate: range(1, 65535) },
    helper: {
      post: true,
      put: true,
      filter: true,
      sort: true,
      column: 'helper',
      convert: (v) => (typeof v === 'string' ? v : String(v)),
      validate: string(64),
    },
    project_id: { ...standardAttrs().project_id, visible: false, filter: false },
    tenant_id: { ...standardAttrs().tenant_id, visible: false, filter: false },
  },
};

function checkHelper(helper: string, protocol: string): void {
  const protocols = ALLOWED_HELPERS.get(helper);
  if (!protocols) throw new DomainError('bad_request', 'ConntrackHelperNotAllowed', `Conntrack Helper ${helper} is not allowed.`);
  if (!protocols.includes(protocol)) {
    throw new DomainError(
      'bad_request',
      'InvalidProtocolForHelper',
      `Conntrack Helper ${helper} does not support: ${protocol}. Supported protocols are: ${protocols.join(', ')}`,
    );
  }
}

const duplicateHelper = (h: { router_id: string; protocol: string; port: number; helper: string }) =>
  neutronBadRequest(
    'conntrack_helper',
    `A duplicate conntrack helper entry with same attributes already exists, conflicting values are {'router_id': '${h.router_id}', 'protocol': '${h.protocol}', 'port': ${h.port}, 'helper': '${h.helper}'}`,
  );

export function conntrackHelperOps(): ResourceOps<'conntrack_helpers'> {
  const write = async (
    trx: Tx,
    row: { id: string; project_id: string; router_id: string; protocol: string; port: number; helper: string },
    insert: boolean,
  ) => {
    try {
      if (insert) await trx.insertInto('conntrack_helpers').values(row).execute();
      else await trx.updateTable('conntrack_helpers').set(row).where('id', '=', row.id).execute();
    } catch (e) {
      if (isUniqueViolation(e)) throw duplicateHelper(row);
      throw e;
    }
  };
  return {
    def: conntrackHelperDef,
    async create(w, _ctx, p) {
      const v = p.values;
      const router = await w.trx.selectFrom('routers').select(['id', 'project_id']).where('id', '=', p.parent!).executeTakeFirstOrThrow();
      const row = {
        id: newUuid(),
        project_id: router.project_id,
        router_id: router.id,
        protocol: v.protocol as string,
        port: v.port as number,
        helper: v.helper as string,
      };
      checkHelper(row.helper, row.protocol);
      await write(w.trx, row, true);
      // A router's helpers are part of it: each change revises the router.
      await bumpRevision(w.trx, 'routers', router.id);
      w.changed('router', router.id, router.project_id, 'update');
      return row.id;
    },
    async update(w, _ctx, row, p) {
      const next = { ...row, ...(p.values as Partial<typeof row>) };
      checkHelper(next.helper, next.protocol);
      await write(w.trx, next, false);
      await bumpRevision(w.trx, 'routers', row.router_id);
      w.changed('router', row.router_id, row.project_id, 'update');
    },
    async delete(w, _ctx, row) {
      await w.trx.deleteFrom('conntrack_helpers').where('id', '=', row.id).execute();
      await bumpRevision(w.trx, 'routers', row.router_id);
      w.changed('router', row.router_id, row.project_id, 'update');
    },
  };
}

/** The helpers a router shows (protocol, port, helper), by router. */
export async function routerHelpers(q: Q, routerIds: string[]): Promise<Map<string, Array<{ protocol: string; port: number; helper: string }>>> {
  const out = new Map<string, Array<{ protocol: string; port: number; helper: string }>>();
  if (routerIds.length === 0) return out;
  const rows = await q.selectFrom('conntrack_helpers').select(['router_id', 'protocol', 'port', 'helper']).where('router_id', 'in', routerIds).execute();
  for (const r of rows) {
    const entry = { protocol: r.protocol, port: Number(r.port), helper: r.helper };
    const list = out.get(r.router_id);
    if (list) list.push(entry);
    else out.set(r.router_id, [entry]);
  }
  return out;
}
