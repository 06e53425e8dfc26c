import { MAX_VERSION, MIN_VERSION } from '../version.js';
import type { ComputeEdge } from '../edge.js';

const VERSION_DOC = {
  id: 'v2.1',
  status: 'CURRENT',
  version: MAX_VERSION.toString(),
  min_version: MIN_VERSION.toString(),
  updated: '2013-07-23T11:33:21Z',
};
const MEDIA_TYPES = [{ base: 'application/json', type: 'application/vnd.openstack.compute+json;version=2.1' }];
const DESCRIBED_BY = { rel: 'describedby', type: 'text/html', href: 'http://docs.openstack.org/' };

/** Version discovery: the root document (public) and the v2.1 document. */
export function versionRoutes(edge: ComputeEdge): void {
  const { app } = edge;
  app.get('/', async (req) => ({
    versions: [{ ...VERSION_DOC, links: [{ rel: 'self', href: `${edge.base(req)}/v2.1/` }] }],
  }));
  app.get('/v2.1', async (req) => {
    return { version: { ...VERSION_DOC, links: [{ rel: 'self', href: `${edge.base(req)}/v2.1/` }, DESCRIBED_BY], 'media-types': MEDIA_TYPES } };
  });
}
