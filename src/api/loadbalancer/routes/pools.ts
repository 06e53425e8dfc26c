import * as S from '../../../core/loadbalancer/schemas.js';
import { boolFromString } from '../../../util/bool.js';
import { caller } from '../../http.js';
import type { OctaviaEdge } from '../edge.js';

/** Pools and their members (`/pools/{pool_id}/members`, with the batch update). */
export function poolRoutes(edge: OctaviaEdge): void {
  const { pools, members } = edge.service;

  edge.route('/lbaas/pools', {
    GET: async (req) => edge.list('pools', await pools.list(caller(req), edge.query(req), edge.url(req))),
    POST: async (req, reply) => edge.created(reply, { pool: await pools.create(caller(req), edge.body(req, 'pool_', 'pool', S.poolPost)) }),
  });
  edge.route('/lbaas/pools/:id', {
    GET: async (req) => ({ pool: await pools.show(caller(req), edge.param(req, 'id'), edge.fields(req)) }),
    PUT: async (req) => ({ pool: await pools.update(caller(req), edge.param(req, 'id'), edge.body(req, 'pool_', 'pool', S.poolPut)) }),
    DELETE: async (req, reply) => {
      await pools.delete(caller(req), edge.param(req, 'id'));
      return edge.noContent(reply);
    },
  });

  edge.route('/lbaas/pools/:id/members', {
    GET: async (req) => edge.list('members', await members.list(caller(req), edge.param(req, 'id'), edge.query(req), edge.url(req))),
    POST: async (req, reply) =>
      edge.created(reply, { member: await members.create(caller(req), edge.param(req, 'id'), edge.body(req, 'member_', 'member', S.memberPost)) }),
    PUT: async (req, reply) => {
      const batch = edge.bodyList(req, 'members_', 'members', S.memberPost);
      await members.batchUpdate(caller(req), edge.param(req, 'id'), batch, boolFromString(edge.query(req).get('additive_only')?.[0]));
      return edge.noContent(reply, 202);
    },
  });
  edge.route('/lbaas/pools/:id/members/:mid', {
    GET: async (req) => ({ member: await members.show(caller(req), edge.param(req, 'id'), edge.param(req, 'mid'), edge.fields(req)) }),
    PUT: async (req) => ({
      member: await members.update(caller(req), edge.param(req, 'id'), edge.param(req, 'mid'), edge.body(req, 'member_', 'member', S.memberPut)),
    }),
    DELETE: async (req, reply) => {
      await members.delete(caller(req), edge.param(req, 'id'), edge.param(req, 'mid'));
      return edge.noContent(reply);
    },
  });
}
