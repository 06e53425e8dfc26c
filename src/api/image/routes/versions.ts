import type { FastifyInstance, FastifyRequest } from 'fastify';
import { METADEF_SCHEMAS } from '../../../core/image/metadefs/schemas.js';
import { TASK_SCHEMA, TASKS_SCHEMA, imageSchema, imagesSchema, memberSchema, membersSchema } from '../../../core/image/schema.js';
import { baseUrl } from '../../http.js';

/**
 * The versions glance/api/versions.py lists with multiple stores (`enabled_backends`) and no
 * image cache: 2.16 and 2.14 (the cache API) are not offered, 2.17 is CURRENT, in Glance's order.
 */
const VERSIONS: Array<[string, 'CURRENT' | 'SUPPORTED']> = [
  ['2.15', 'SUPPORTED'],
  ['2.13', 'SUPPORTED'],
  ['2.12', 'SUPPORTED'],
  ['2.11', 'SUPPORTED'],
  ['2.10', 'SUPPORTED'],
  ['2.9', 'SUPPORTED'],
  ['2.8', 'SUPPORTED'],
  ['2.17', 'CURRENT'],
  ['2.7', 'SUPPORTED'],
  ['2.6', 'SUPPORTED'],
  ['2.5', 'SUPPORTED'],
  ['2.4', 'SUPPORTED'],
  ['2.3', 'SUPPORTED'],
  ['2.2', 'SUPPORTED'],
  ['2.1', 'SUPPORTED'],
  ['2.0', 'SUPPORTED'],
];

/** Version documents (open: `/` answers 300 as Glance's does) and the v2 schemas. */
export function versionRoutes(app: FastifyInstance): void {
  const versions = (req: FastifyRequest) => {
    const href = `${baseUrl(req)}/v2/`;
    return { versions: VERSIONS.map(([v, status]) => ({ id: `v${v}`, status, links: [{ rel: 'self', href }] })) };
  };
  app.get('/', async (req, reply) => {
    reply.status(300);
    return versions(req);
  });
  app.get('/versions', async (req) => versions(req));

  const schemas = new Map<string, () => unknown>([
    ['image', imageSchema],
    ['images', imagesSchema],
    ['member', memberSchema],
    ['members', membersSchema],
    ['task', () => TASK_SCHEMA],
    ['tasks', () => TASKS_SCHEMA],
    ...[...METADEF_SCHEMAS].map(([name, schema]): [string, () => unknown] => [name, () => schema]),
  ]);
  for (const [name, schema] of schemas) app.get(`/v2/schemas/${name}`, async () => schema());
}
