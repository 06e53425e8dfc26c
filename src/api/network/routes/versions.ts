import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { NetworkService } from '../../../core/network/service.js';
import { baseUrl } from '../../http.js';

/** The version list (`/`, open) and the v2.0 root listing the core resources. */
export function versionRoutes(app: FastifyInstance, service: NetworkService): void {
  app.get('/', async (req) => ({
    versions: [{ id: 'v2.0', status: 'CURRENT', links: [{ rel: 'self', href: `${baseUrl(req)}/v2.0/` }] }],
  }));

  app.get('/v2.0', async (req: FastifyRequest) => ({
    resources: ['network', 'subnet', 'subnetpool', 'port']
      .filter((r) => (r === 'subnetpool' ? service.resource('subnetpools') : true))
      .map((r) => ({ name: r, collection: `${r}s`, links: [{ rel: 'self', href: `${baseUrl(req)}/v2.0/${r}s` }] })),
  }));
}
