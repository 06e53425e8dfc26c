import type { FastifyRequest } from 'fastify';
import type { IdentityProvider, Protocol, ServiceProvider } from '../../../core/identity/federation.js';
import { enforce } from '../../../core/identity/policy.js';
import { IdentityEdge } from '../edge.js';
import * as S from '../schemas.js';

type Params = { id: string };
type ProtocolParams = { idp: string; id: string };

/**
 * OS-FEDERATION's configuration API (keystone/api/os_federation.py): identity providers and
 * their protocols, mappings, service providers. The federated sign-in itself is not built; its
 * routes (…/protocols/{id}/auth, /auth/OS-FEDERATION/…, SAML2 and ECP) answer Keystone's 501.
 */
export function federationRoutes(edge: IdentityEdge): void {
  const { identity } = edge;
  const fed = identity.federation;
  const base = (req: FastifyRequest) => `${edge.base(req)}/v3`;
  const F = '/v3/OS-FEDERATION';

  const idpView = (req: FastifyRequest, i: IdentityProvider) => ({
    id: i.id,
    domain_id: i.domain_id,
    enabled: i.enabled,
    description: i.description,
    remote_ids: i.remote_ids,
    authorization_ttl: i.authorization_ttl,
    links: { self: `${base(req)}/OS-FEDERATION/identity_providers/${i.id}`, protocols: `${base(req)}/OS-FEDERATION/identity_providers/${i.id}/protocols` },
  });
  // Keystone's protocol links are as it builds them (missing their OS-FEDERATION segments).
  const protocolView = (req: FastifyRequest, p: Protocol) => ({
    id: p.id,
    mapping_id: p.mapping_id,
    ...(p.remote_id_attribute !== null ? { remote_id_attribute: p.remote_id_attribute } : {}),
    links: { self: `${base(req)}/protocols/${p.id}`, identity_provider: `${base(req)}/${p.idp_id}` },
  });
  const spView = (req: FastifyRequest, s: ServiceProvider) => ({
    auth_url: s.auth_url,
    id: s.id,
    enabled: s.enabled,
    description: s.description,
    relay_state_prefix: s.relay_state_prefix,
    sp_url: s.sp_url,
    links: { self: `${base(req)}/OS-FEDERATION/service_providers/${s.id}` },
  });
  const mappingView = (req: FastifyRequest, m: { id: string; rules: unknown[] }) => ({
    id: m.id,
    rules: m.rules,
    links: { self: `${base(req)}/OS-FEDERATION/mappings/${m.id}` },
  });

  // ------------------------------------------------------------ identity providers
  edge.route('GET', `${F}/identity_providers`, async (req) => {
    enforce('identity:list_identity_providers', edge.caller(req));
    return edge.filtered(
      req,
      'identity_providers',
      (await fed.idps()).map((i) => idpView(req, i)),
      ['id', 'enabled'],
    );
  });
  edge.route('PUT', `${F}/identity_providers/:id`, async (req, reply) => {
    enforce('identity:create_identity_provider', edge.caller(req));
    const input = edge.member(req, 'identity_provider', S.idpCreate);
    reply.status(201);
    return { identity_provider: idpView(req, await fed.createIdp((req.params as Params).id, input)) };
  });
  edge.route('GET', `${F}/identity_providers/:id`, async (req) => {
    enforce('identity:get_identity_provider', edge.caller(req));
    return { identity_provider: idpView(req, await fed.idp((req.params as Params).id)) };
  });
  edge.route('PATCH', `${F}/identity_providers/:id`, async (req) => {
    enforce('identity:update_identity_provider', edge.caller(req));
    const patch = edge.member(req, 'identity_provider', S.idpUpdate);
    return { identity_provider: idpView(req, await fed.updateIdp((req.params as Params).id, patch)) };
  });
  edge.route('DELETE', `${F}/identity_providers/:id`, async (req, reply) => {
    enforce('identity:delete_identity_provider', edge.caller(req));
    await fed.deleteIdp((req.params as Params).id);
    return IdentityEdge.noContent(reply);
  });

  // ------------------------------------------------------------ protocols
  edge.route('GET', `${F}/identity_providers/:idp/protocols`, async (req) => {
    enforce('identity:list_protocols', edge.caller(req));
    const list = (await fed.protocols((req.params as ProtocolParams).idp)).map((p) => protocolView(req, p));
    return edge.collection(req, 'protocols', list);
  });
  edge.route('PUT', `${F}/identity_providers/:idp/protocols/:id`, async (req, reply) => {
    enforce('identity:create_protocol', edge.caller(req));
    const p = req.params as ProtocolParams;
    const input = edge.member(req, 'protocol', S.protocolCreate);
    reply.status(201);
    return { protocol: protocolView(req, await fed.createProtocol(p.idp, p.id, input)) };
  });
  edge.route('GET', `${F}/identity_providers/:idp/protocols/:id`, async (req) => {
    enforce('identity:get_protocol', edge.caller(req));
    const p = req.params as ProtocolParams;
    return { protocol: protocolView(req, await fed.protocol(p.idp, p.id)) };
  });
  edge.route('PATCH', `${F}/identity_providers/:idp/protocols/:id`, async (req) => {
    enforce('identity:update_protocol', edge.caller(req));
    const p = req.params as ProtocolParams;
    const patch = edge.member(req, 'protocol', S.protocolUpdate);
    return { protocol: protocolView(req, await fed.updateProtocol(p.idp, p.id, patch)) };
  });
  edge.route('DELETE', `${F}/identity_providers/:idp/protocols/:id`, async (req, reply) => {
    enforce('identity:delete_protocol', edge.caller(req));
    const p = req.params as ProtocolParams;
    await fed.deleteProtocol(p.idp, p.id);
    return IdentityEdge.noContent(reply);
  });

  // ------------------------------------------------------------ mappings
  edge.route('GET', `${F}/mappings`, async (req) => {
    enforce('identity:list_mappings', edge.caller(req));
    return edge.collection(
      req,
      'mappings',
      (await fed.mappings()).map((m) => mappingView(req, m)),
    );
  });
  for (const method of ['PUT', 'PATCH'] as const) {
    edge.route(method, `${F}/mappings/:id`, async (req, reply) => {
      const create = method === 'PUT';
      enforce(create ? 'identity:create_mapping' : 'identity:update_mapping', edge.caller(req));
      const input = edge.member(req, 'mapping', S.mappingSchema);
      if (create) reply.status(201);
      return { mapping: mappingView(req, await fed.putMapping((req.params as Params).id, input.rules as unknown[], create)) };
    });
  }
  edge.route('GET', `${F}/mappings/:id`, async (req) => {
    enforce('identity:get_mapping', edge.caller(req));
    return { mapping: mappingView(req, await fed.mapping((req.params as Params).id)) };
  });
  edge.route('DELETE', `${F}/mappings/:id`, async (req, reply) => {
    enforce('identity:delete_mapping', edge.caller(req));
    await fed.deleteMapping((req.params as Params).id);
    return IdentityEdge.noContent(reply);
  });

  // ------------------------------------------------------------ service providers
  edge.route('GET', `${F}/service_providers`, async (req) => {
    enforce('identity:list_service_providers', edge.caller(req));
    return edge.filtered(
      req,
      'service_providers',
      (await fed.sps()).map((s) => spView(req, s)),
      ['id', 'enabled'],
    );
  });
  edge.route('PUT', `${F}/service_providers/:id`, async (req, reply) => {
    enforce('identity:create_service_provider', edge.caller(req));
    const input = edge.member(req, 'service_provider', S.spCreate);
    reply.status(201);
    return { service_provider: spView(req, await fed.createSp((req.params as Params).id, input)) };
  });
  edge.route('GET', `${F}/service_providers/:id`, async (req) => {
    enforce('identity:get_service_provider', edge.caller(req));
    return { service_provider: spView(req, await fed.sp((req.params as Params).id)) };
  });
  edge.route('PATCH', `${F}/service_providers/:id`, async (req) => {
    enforce('identity:update_service_provider', edge.caller(req));
    const patch = edge.member(req, 'service_provider', S.spUpdate);
    return { service_provider: spView(req, await fed.updateSp((req.params as Params).id, patch)) };
  });
  edge.route('DELETE', `${F}/service_providers/:id`, async (req, reply) => {
    enforce('identity:delete_service_provider', edge.caller(req));
    await fed.deleteSp((req.params as Params).id);
    return IdentityEdge.noContent(reply);
  });
}
