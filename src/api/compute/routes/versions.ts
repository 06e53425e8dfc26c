import { type ComputeEdge, NOT_FOUND } from '../edge.js';
import { MAX_VERSION, MIN_VERSION } from '../version.js';

const DESCRIBED_BY = { rel: 'describedby', type: 'text/html', href: 'http://docs.openstack.org/' };

/** Nova's VERSIONS (nova/api/openstack/compute/versions.py): the legacy v2.0 and v2.1. */
const VERSIONS = [
  {
    id: 'v2.0',
    path: 'v2',
    status: 'DEPRECATED',
    version: '',
    min_version: '',
    updated: '2025-07-04T12:00:00Z',
    'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.compute+json;version=2' }],
  },
  {
    id: 'v2.1',
    path: 'v2.1',
    status: 'CURRENT',
    version: MAX_VERSION.toString(),
    min_version: MIN_VERSION.toString(),
    updated: '2013-07-23T11:33:21Z',
    'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.compute+json;version=2.1' }],
  },
];

/**
 * Version discovery: the root document (public) listing v2.0 then v2.1, and each one's own
 * document. Only the document is served under /v2: the API itself is v2.1's.
 */
export function versionRoutes(edge: ComputeEdge): void {
  const { app } = edge;
  app.get('/', async (req) => ({
    versions: VERSIONS.map(({ id, path, status, version, min_version, updated }) => ({
      id,
      status,
      version,
      min_version,
      updated,
      links: [{ rel: 'self', href: `${edge.base(req)}/${path}/` }],
    })),
  }));
  for (const { path, ...doc } of VERSIONS) {
    app.get(`/${path}`, async (req) => ({
      version: { ...doc, links: [{ rel: 'self', href: `${edge.base(req)}/${path}/` }, DESCRIBED_BY] },
    }));
  }
  // VersionsController.show by id: either document, its self link the endpoint it was asked at.
  app.get('/v2.1/versions/:id', async (req) => {
    const found = VERSIONS.find((v) => v.id === edge.params(req).id);
    if (!found) throw NOT_FOUND();
    const { path: _, ...doc } = found;
    return { version: { ...doc, links: [{ rel: 'self', href: `${edge.base(req)}/v2.1/` }, DESCRIBED_BY] } };
  });
}
