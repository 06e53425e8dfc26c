import * as S from '../../../core/loadbalancer/schemas.js';
import { caller } from '../../http.js';
import type { OctaviaEdge } from '../edge.js';

/** Providers and their capabilities, flavor profiles and flavors, availability zone profiles and zones. */
export function catalogRoutes(edge: OctaviaEdge): void {
  const { providers, flavorProfiles, flavors, azProfiles, availabilityZones: zones } = edge.service;

  edge.route('/lbaas/providers', { GET: async (req) => ({ providers: providers.list(edge.query(req)) }) });
  edge.route('/lbaas/providers/:p/flavor_capabilities', {
    GET: async (req) => ({ flavor_capabilities: providers.flavorCapabilities(caller(req), edge.param(req, 'p'), edge.query(req)) }),
  });
  edge.route('/lbaas/providers/:p/availability_zone_capabilities', {
    GET: async (req) => ({ availability_zone_capabilities: providers.azCapabilities(caller(req), edge.param(req, 'p'), edge.query(req)) }),
  });

  edge.route('/lbaas/flavorprofiles', {
    GET: async (req) => edge.list('flavorprofiles', await flavorProfiles.list(caller(req), edge.query(req), edge.url(req)), 'flavorprofile_links'),
    POST: async (req, reply) =>
      edge.created(reply, { flavorprofile: await flavorProfiles.create(caller(req), edge.body(req, 'flavor_profile_', 'flavorprofile', S.flavorProfilePost)) }),
  });
  edge.route('/lbaas/flavorprofiles/:id', {
    GET: async (req) => ({ flavorprofile: await flavorProfiles.show(caller(req), edge.param(req, 'id'), edge.fields(req)) }),
    PUT: async (req) => ({
      flavorprofile: await flavorProfiles.update(caller(req), edge.param(req, 'id'), edge.body(req, 'flavor_profile_', 'flavorprofile', S.flavorProfilePut)),
    }),
    DELETE: async (req, reply) => {
      await flavorProfiles.delete(caller(req), edge.param(req, 'id'));
      return edge.noContent(reply);
    },
  });

  edge.route('/lbaas/flavors', {
    GET: async (req) => edge.list('flavors', await flavors.list(caller(req), edge.query(req), edge.url(req))),
    POST: async (req, reply) => edge.created(reply, { flavor: await flavors.create(caller(req), edge.body(req, 'flavor_', 'flavor', S.flavorPost)) }),
  });
  edge.route('/lbaas/flavors/:id', {
    GET: async (req) => ({ flavor: await flavors.show(caller(req), edge.param(req, 'id'), edge.fields(req)) }),
    PUT: async (req) => ({ flavor: await flavors.update(caller(req), edge.param(req, 'id'), edge.body(req, 'flavor_', 'flavor', S.flavorPut)) }),
    DELETE: async (req, reply) => {
      await flavors.delete(caller(req), edge.param(req, 'id'));
      return edge.noContent(reply);
    },
  });

  edge.route('/lbaas/availabilityzoneprofiles', {
    GET: async (req) =>
      edge.list('availability_zone_profiles', await azProfiles.list(caller(req), edge.query(req), edge.url(req)), 'availability_zone_profile_links'),
    POST: async (req, reply) =>
      edge.created(reply, {
        availability_zone_profile: await azProfiles.create(
          caller(req),
          edge.body(req, 'availability_zone_profile_', 'availability_zone_profile', S.azProfilePost),
        ),
      }),
  });
  edge.route('/lbaas/availabilityzoneprofiles/:id', {
    GET: async (req) => ({ availability_zone_profile: await azProfiles.show(caller(req), edge.param(req, 'id'), edge.fields(req)) }),
    PUT: async (req) => ({
      availability_zone_profile: await azProfiles.update(
        caller(req),
        edge.param(req, 'id'),
        edge.body(req, 'availability_zone_profile_', 'availability_zone_profile', S.azProfilePut),
      ),
    }),
    DELETE: async (req, reply) => {
      await azProfiles.delete(caller(req), edge.param(req, 'id'));
      return edge.noContent(reply);
    },
  });

  edge.route('/lbaas/availabilityzones', {
    GET: async (req) => edge.list('availability_zones', await zones.list(caller(req), edge.query(req), edge.url(req))),
    POST: async (req, reply) =>
      edge.created(reply, { availability_zone: await zones.create(caller(req), edge.body(req, 'availability_zone_', 'availability_zone', S.azPost)) }),
  });
  edge.route('/lbaas/availabilityzones/:name', {
    GET: async (req) => ({ availability_zone: await zones.show(caller(req), edge.param(req, 'name'), edge.fields(req)) }),
    PUT: async (req) => ({
      availability_zone: await zones.update(caller(req), edge.param(req, 'name'), edge.body(req, 'availability_zone_', 'availability_zone', S.azPut)),
    }),
    DELETE: async (req, reply) => {
      await zones.delete(caller(req), edge.param(req, 'name'));
      return edge.noContent(reply);
    },
  });
}
