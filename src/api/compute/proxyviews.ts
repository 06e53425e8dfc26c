/**
 * Views of the proxy APIs (below 2.36): images as Nova's image view builder shows Glance's, and
 * Neutron's networks, security groups and floating IPs in nova-network's shapes.
 */
import type { Image } from '../../core/image/service.js';
import { boolFromString } from '../../util/bool.js';
import { isotime, links } from './views.js';
import type { ViewContext } from './views.js';

const IMAGE_STATUS: Record<string, string> = {
  active: 'ACTIVE',
  queued: 'SAVING',
  saving: 'SAVING',
  deleted: 'DELETED',
  pending_delete: 'DELETED',
  killed: 'ERROR',
};
const IMAGE_PROGRESS: Record<string, number> = { queued: 25, saving: 50, active: 100 };

/** self, bookmark and Glance's `alternate` link. */
function imageLinks(v: ViewContext, imageUrl: string, id: string) {
  return [...links(v, 'images', id), { rel: 'alternate', type: 'application/vnd.openstack.image', href: `${imageUrl}/images/${id}` }];
}

export function imageBasic(v: ViewContext, imageUrl: string, i: Image) {
  return { id: i.id, name: i.name, links: imageLinks(v, imageUrl, i.id) };
}

export function imageView(v: ViewContext, imageUrl: string, i: Image) {
  const out: Record<string, unknown> = {
    id: i.id,
    name: i.name,
    minRam: i.min_ram,
    minDisk: i.min_disk,
    metadata: i.properties,
    created: isotime(i.created_at),
    updated: isotime(i.updated_at),
    status: Object.hasOwn(IMAGE_STATUS, i.status) ? IMAGE_STATUS[i.status] : 'UNKNOWN',
    progress: Object.hasOwn(IMAGE_PROGRESS, i.status) ? IMAGE_PROGRESS[i.status] : 0,
    'OS-EXT-IMG-SIZE:size': i.size,
    links: imageLinks(v, imageUrl, i.id),
  };
  const server = Object.hasOwn(i.properties, 'instance_uuid') ? i.properties.instance_uuid : undefined;
  if (server !== undefined) out.server = { id: server, links: links(v, 'servers', server) };
  const adc = Object.hasOwn(i.properties, 'auto_disk_config') ? i.properties.auto_disk_config : undefined;
  if (adc !== undefined) out['OS-DCF:diskConfig'] = boolFromString(adc) ? 'AUTO' : 'MANUAL';
  return out;
}

const NETWORK_FIELDS = ['id', 'cidr', 'netmask', 'gateway', 'broadcast', 'dns1', 'dns2', 'cidr_v6', 'gateway_v6', 'label', 'netmask_v6'];
const NETWORK_ADMIN_FIELDS = [
  'created_at',
  'updated_at',
  'deleted_at',
  'deleted',
  'injected',
  'bridge',
  'vlan',
  'vpn_public_address',
  'vpn_public_port',
  'vpn_private_address',
  'dhcp_start',
  'project_id',
  'host',
  'bridge_interface',
  'multi_host',
  'priority',
  'rxtx_base',
  'mtu',
  'dhcp_server',
  'enable_dhcp',
  'share_address',
];

/** os-networks: a Neutron network as nova-network's (id and label; everything else None). */
export function networkView(n: Record<string, unknown>, admin: boolean) {
  const out: Record<string, unknown> = {};
  for (const f of admin ? [...NETWORK_FIELDS, ...NETWORK_ADMIN_FIELDS] : NETWORK_FIELDS) {
    out[f] = f === 'id' ? n.id : f === 'label' ? n.name : null;
  }
  return out;
}

/** os-tenant-networks: id, label and the string 'None' as cidr (str(None), as Nova sends it). */
export function tenantNetworkView(n: Record<string, unknown>) {
  return { id: n.id, cidr: 'None', label: n.name };
}
