import { createHash } from 'node:crypto';
import type { Config } from '../config.js';

export interface CatalogEndpoint {
  id: string;
  interface: 'public' | 'internal' | 'admin';
  region: string;
  region_id: string;
  url: string;
}

export interface CatalogService {
  id: string;
  type: string;
  name: string;
  endpoints: CatalogEndpoint[];
}

/** Services PocketStack serves, in catalog order; `path` is appended to the service's base URL. */
const SERVICES: Array<{ type: string; name: string; port: keyof Config['ports']; path: string; enabled?: (c: Config) => boolean }> = [
  { type: 'identity', name: 'keystone', port: 'identity', path: '/v3' },
  { type: 'network', name: 'neutron', port: 'network', path: '' },
  { type: 'compute', name: 'nova', port: 'compute', path: '/v2.1' },
  { type: 'image', name: 'glance', port: 'image', path: '' },
  { type: 'load-balancer', name: 'octavia', port: 'loadBalancer', path: '' },
  // Barbican, for TLS-terminated listeners' certificates (DevStack registers it unversioned too).
  { type: 'key-manager', name: 'barbican', port: 'keyManager', path: '' },
];

/** Stable ids: the same config gives the same catalog on every start and every server. */
const stableId = (...parts: string[]) => createHash('sha256').update(parts.join('/')).digest('hex').slice(0, 32);

export function serviceUrl(config: Config, port: keyof Config['ports'], path = ''): string {
  const host = config.publicHost.includes(':') ? `[${config.publicHost}]` : config.publicHost;
  return `http://${host}:${config.ports[port]}${path}`;
}

/**
 * The service catalog. Only services that are actually mounted are listed (`served`), so clients
 * never discover an endpoint that is not there.
 */
export function buildCatalog(config: Config, served: ReadonlySet<string>): CatalogService[] {
  return SERVICES.filter((s) => served.has(s.type)).map((s) => ({
    id: stableId('service', s.type),
    type: s.type,
    name: s.name,
    endpoints: (['public', 'internal', 'admin'] as const).map((iface) => ({
      id: stableId('endpoint', s.type, iface, config.region),
      interface: iface,
      region: config.region,
      region_id: config.region,
      url: serviceUrl(config, s.port, s.path),
    })),
  }));
}
