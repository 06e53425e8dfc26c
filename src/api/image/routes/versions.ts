import type { FastifyInstance, FastifyRequest } from 'fastify';
import { imageSchema, imagesSchema, memberSchema, membersSchema } from '../../../core/image/schema.js';
import { baseUrl } from '../../http.js';

/** Version documents (open: `/` answers 300 as Glance's does), the v2 schemas and the import info. */
export function versionRoutes(app: FastifyInstance): void {
  const versions = (req: FastifyRequest) => {
    const href = `${baseUrl(req)}/v2/`;
    const ids = ['2.15', '2.9', '2.7', '2.6', '2.5', '2.4', '2.3', '2.2', '2.1', '2.0'];
    return { versions: ids.map((v, i) => ({ id: `v${v}`, status: i === 0 ? 'CURRENT' : 'SUPPORTED', links: [{ rel: 'self', href }] })) };
  };
  app.get('/', async (req, reply) => {
    reply.status(300);
    return versions(req);
  });
  app.get('/versions', async (req) => versions(req));

  for (const [name, schema] of Object.entries({ image: imageSchema, images: imagesSchema, member: memberSchema, members: membersSchema })) {
    app.get(`/v2/schemas/${name}`, async () => schema());
  }
  app.get('/v2/info/import', async () => ({ 'import-methods': { description: 'Import methods available.', type: 'array', value: [] } }));
}
