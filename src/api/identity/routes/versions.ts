import type { IdentityEdge } from '../edge.js';

/** A version document, keys in Keystone's order. */
const versionDoc = (id: string, status: string, updated: string, self: string, mediaType: string) => ({
  id,
  status,
  updated,
  links: [{ rel: 'self', href: self }],
  'media-types': [{ base: 'application/json', type: mediaType }],
});
const v3 = (base: string) => versionDoc('v3.14', 'stable', '2020-04-07T00:00:00Z', `${base}/v3/`, 'application/vnd.openstack.identity-v3+json');

/**
 * Keystone dropped v2.0 in Queens; keystoneauth still speaks it when OS_AUTH_URL ends in /v2.0.
 * We answer its discovery as a deprecated version, so an old openrc authenticates.
 */
const v2 = (base: string) => versionDoc('v2.0', 'deprecated', '2016-08-04T00:00:00Z', `${base}/v2.0/`, 'application/vnd.openstack.identity-v2.0+json');

/** Version discovery: `/` (300, as Keystone), `/v3` and the deprecated `/v2.0`. */
export function versionRoutes(edge: IdentityEdge): void {
  edge.route('GET', '/', async (req, reply) => {
    reply.status(300).header('location', `${edge.base(req)}/v3/`);
    return { versions: { values: [v3(edge.base(req))] } };
  });
  edge.route('GET', '/v3', async (req) => ({ version: v3(edge.base(req)) }));
  edge.route('GET', '/v2.0', async (req) => ({ version: v2(edge.base(req)) }));
}
