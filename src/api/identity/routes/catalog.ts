import type { FastifyRequest } from 'fastify';
import { enforce } from '../../../core/identity/policy.js';
import { IdentityEdge } from '../edge.js';
import * as S from '../schemas.js';
import { endpointGroupView, endpointView, projectView, regionView, serviceView } from '../views.js';

type Params = { id: string };

/**
 * The catalog, writable as Keystone's: services, endpoints (interface, region, enabled), regions
 * with parents, endpoint groups and project–endpoint associations (OS-EP-FILTER). It starts
 * with PocketStack's own services; tokens and /v3/auth/catalog show every change at once.
 */
export function catalogRoutes(edge: IdentityEdge): void {
  const { identity } = edge;
  const catalog = identity.catalog;
  const base = (req: FastifyRequest) => edge.base(req);

  // ------------------------------------------------------------ services

  edge.route('GET', '/v3/services', async (req) => {
    enforce('identity:list_services', edge.caller(req));
    const list = (await catalog.services()).map((s) => serviceView(base(req), s));
    return edge.filtered(req, 'services', list, ['type', 'name']);
  });
  edge.route('POST', '/v3/services', async (req, reply) => {
    enforce('identity:create_service', edge.caller(req));
    const input = edge.member(req, 'service', S.serviceCreate, 'null');
    reply.status(201);
    return { service: serviceView(base(req), await catalog.createService(input)) };
  });
  edge.route('GET', '/v3/services/:id', async (req) => {
    enforce('identity:get_service', edge.caller(req));
    return { service: serviceView(base(req), await catalog.service((req.params as Params).id)) };
  });
  edge.route('PATCH', '/v3/services/:id', async (req) => {
    enforce('identity:update_service', edge.caller(req));
    const patch = edge.member(req, 'service', S.serviceUpdate, 'null');
    return { service: serviceView(base(req), await catalog.updateService((req.params as Params).id, patch)) };
  });
  edge.route('DELETE', '/v3/services/:id', async (req, reply) => {
    enforce('identity:delete_service', edge.caller(req));
    await catalog.deleteService((req.params as Params).id);
    return IdentityEdge.noContent(reply);
  });

  // ------------------------------------------------------------ endpoints

  edge.route('GET', '/v3/endpoints', async (req) => {
    enforce('identity:list_endpoints', edge.caller(req));
    const list = (await catalog.endpoints()).map((e) => endpointView(base(req), e));
    return edge.filtered(req, 'endpoints', list, ['interface', 'service_id', 'region_id']);
  });
  edge.route('POST', '/v3/endpoints', async (req, reply) => {
    enforce('identity:create_endpoint', edge.caller(req));
    const input = edge.member(req, 'endpoint', S.endpointCreate, 'null');
    reply.status(201);
    return { endpoint: endpointView(base(req), await catalog.createEndpoint(input)) };
  });
  edge.route('GET', '/v3/endpoints/:id', async (req) => {
    enforce('identity:get_endpoint', edge.caller(req));
    return { endpoint: endpointView(base(req), await catalog.endpoint((req.params as Params).id)) };
  });
  edge.route('PATCH', '/v3/endpoints/:id', async (req) => {
    enforce('identity:update_endpoint', edge.caller(req));
    const patch = edge.member(req, 'endpoint', S.endpointUpdate);
    return { endpoint: endpointView(base(req), await catalog.updateEndpoint((req.params as Params).id, patch)) };
  });
  edge.route('DELETE', '/v3/endpoints/:id', async (req, reply) => {
    enforce('identity:delete_endpoint', edge.caller(req));
    await catalog.deleteEndpoint((req.params as Params).id);
    return IdentityEdge.noContent(reply);
  });

  // ------------------------------------------------------------ regions

  edge.route('GET', '/v3/regions', async (req) => {
    enforce('identity:list_regions', edge.caller(req));
    const list = (await catalog.regions()).map((r) => regionView(base(req), r));
    return edge.filtered(req, 'regions', list, ['parent_region_id']);
  });
  edge.route('POST', '/v3/regions', async (req, reply) => {
    enforce('identity:create_region', edge.caller(req));
    const input = edge.member(req, 'region', S.regionCreate, 'null');
    reply.status(201);
    return { region: regionView(base(req), await catalog.createRegion(input)) };
  });
  // PUT /v3/regions/{id}: create with the id in the path (Keystone's older way).
  edge.route('PUT', '/v3/regions/:id', async (req, reply) => {
    enforce('identity:create_region', edge.caller(req));
    const input = edge.member(req, 'region', S.regionCreate, 'null');
    reply.status(201);
    return { region: regionView(base(req), await catalog.createRegion({ ...input, id: (req.params as Params).id })) };
  });
  edge.route('GET', '/v3/regions/:id', async (req) => {
    enforce('identity:get_region', edge.caller(req));
    return { region: regionView(base(req), await catalog.region((req.params as Params).id)) };
  });
  edge.route('PATCH', '/v3/regions/:id', async (req) => {
    enforce('identity:update_region', edge.caller(req));
    const patch = edge.member(req, 'region', S.regionUpdate, 'null');
    return { region: regionView(base(req), await catalog.updateRegion((req.params as Params).id, patch)) };
  });
  edge.route('DELETE', '/v3/regions/:id', async (req, reply) => {
    enforce('identity:delete_region', edge.caller(req));
    await catalog.deleteRegion((req.params as Params).id);
    return IdentityEdge.noContent(reply);
  });

  // ------------------------------------------------------------ OS-EP-FILTER

  const EF = '/v3/OS-EP-FILTER';
  edge.route('GET', `${EF}/endpoint_groups`, async (req) => {
    enforce('identity:list_endpoint_groups', edge.caller(req));
    const list = (await catalog.endpointGroups()).map((g) => endpointGroupView(base(req), g));
    return edge.filtered(req, 'endpoint_groups', list, ['name']);
  });
  edge.route('POST', `${EF}/endpoint_groups`, async (req, reply) => {
    enforce('identity:create_endpoint_group', edge.caller(req));
    const input = edge.member(req, 'endpoint_group', S.endpointGroupCreate);
    reply.status(201);
    return { endpoint_group: endpointGroupView(base(req), await catalog.createEndpointGroup(input)) };
  });
  // HEAD (Fastify answers it with this GET, body dropped) is the group's existence check: 200.
  edge.route('GET', `${EF}/endpoint_groups/:id`, async (req) => {
    enforce('identity:get_endpoint_group', edge.caller(req));
    return { endpoint_group: endpointGroupView(base(req), await catalog.endpointGroup((req.params as Params).id)) };
  });
  edge.route('PATCH', `${EF}/endpoint_groups/:id`, async (req) => {
    enforce('identity:update_endpoint_group', edge.caller(req));
    const patch = edge.member(req, 'endpoint_group', S.endpointGroupUpdate);
    return { endpoint_group: endpointGroupView(base(req), await catalog.updateEndpointGroup((req.params as Params).id, patch)) };
  });
  edge.route('DELETE', `${EF}/endpoint_groups/:id`, async (req, reply) => {
    enforce('identity:delete_endpoint_group', edge.caller(req));
    await catalog.deleteEndpointGroup((req.params as Params).id);
    return IdentityEdge.noContent(reply);
  });
  edge.route('GET', `${EF}/endpoint_groups/:id/endpoints`, async (req) => {
    enforce('identity:list_endpoints_associated_with_endpoint_group', edge.caller(req));
    const list = (await catalog.endpointsInGroup((req.params as Params).id)).map((e) => endpointView(base(req), e));
    return edge.collection(req, 'endpoints', list);
  });
  edge.route('GET', `${EF}/endpoint_groups/:id/projects`, async (req) => {
    enforce('identity:list_projects_associated_with_endpoint_group', edge.caller(req));
    const ids = await catalog.projectIdsForEndpointGroup((req.params as Params).id);
    const projects = await identity.projects.list({ ids });
    return edge.collection(
      req,
      'projects',
      projects.map((p) => projectView(base(req), p)),
    );
  });
  type Assoc = { group: string; project: string };
  edge.route('GET', `${EF}/endpoint_groups/:group/projects/:project`, async (req) => {
    enforce('identity:get_endpoint_group_in_project', edge.caller(req));
    const p = req.params as Assoc;
    const project = await identity.projects.get(p.project);
    await catalog.checkProjectEndpointGroup(p.project, p.group);
    return { project: projectView(base(req), project) };
  });
  edge.route('PUT', `${EF}/endpoint_groups/:group/projects/:project`, async (req, reply) => {
    enforce('identity:add_endpoint_group_to_project', edge.caller(req));
    const p = req.params as Assoc;
    await identity.projects.get(p.project);
    await catalog.addProjectEndpointGroup(p.project, p.group);
    return IdentityEdge.noContent(reply);
  });
  edge.route('DELETE', `${EF}/endpoint_groups/:group/projects/:project`, async (req, reply) => {
    enforce('identity:remove_endpoint_group_from_project', edge.caller(req));
    const p = req.params as Assoc;
    await catalog.removeProjectEndpointGroup(p.project, p.group);
    return IdentityEdge.noContent(reply);
  });
  edge.route('GET', `${EF}/projects/:id/endpoint_groups`, async (req) => {
    enforce('identity:list_endpoint_groups_for_project', edge.caller(req));
    const { id } = req.params as Params;
    await identity.projects.get(id);
    const ids = new Set(await catalog.endpointGroupIdsForProject(id));
    const list = (await catalog.endpointGroups()).filter((g) => ids.has(g.id)).map((g) => endpointGroupView(base(req), g));
    return edge.collection(req, 'endpoint_groups', list);
  });

  type PE = { project: string; endpoint: string };
  edge.route('GET', `${EF}/projects/:id/endpoints`, async (req) => {
    enforce('identity:list_endpoints_for_project', edge.caller(req));
    const { id } = req.params as Params;
    await identity.projects.get(id);
    const ids = await catalog.endpointIdsForProject(id);
    const list = (await catalog.endpoints()).filter((e) => ids.has(e.id)).map((e) => endpointView(base(req), e));
    return edge.collection(req, 'endpoints', list);
  });
  edge.route('GET', `${EF}/endpoints/:id/projects`, async (req) => {
    enforce('identity:list_projects_for_endpoint', edge.caller(req));
    const ids = await catalog.projectIdsForEndpoint((req.params as Params).id);
    const projects = await identity.projects.list({ ids });
    return edge.collection(
      req,
      'projects',
      projects.map((p) => projectView(base(req), p)),
    );
  });
  edge.route('GET', `${EF}/projects/:project/endpoints/:endpoint`, async (req, reply) => {
    enforce('identity:check_endpoint_in_project', edge.caller(req));
    const p = req.params as PE;
    await identity.projects.get(p.project);
    await catalog.endpoint(p.endpoint);
    await catalog.checkProjectEndpoint(p.project, p.endpoint);
    return IdentityEdge.noContent(reply);
  });
  edge.route('PUT', `${EF}/projects/:project/endpoints/:endpoint`, async (req, reply) => {
    enforce('identity:add_endpoint_to_project', edge.caller(req));
    const p = req.params as PE;
    await identity.projects.get(p.project);
    await catalog.addProjectEndpoint(p.project, p.endpoint);
    return IdentityEdge.noContent(reply);
  });
  edge.route('DELETE', `${EF}/projects/:project/endpoints/:endpoint`, async (req, reply) => {
    enforce('identity:remove_endpoint_from_project', edge.caller(req));
    const p = req.params as PE;
    await catalog.removeProjectEndpoint(p.project, p.endpoint);
    return IdentityEdge.noContent(reply);
  });
}
