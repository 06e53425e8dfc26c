import * as S from '../../../core/loadbalancer/schemas.js';
import { caller } from '../../http.js';
import type { OctaviaEdge } from '../edge.js';

/** L7 policies and their rules (`/l7policies/{l7policy_id}/rules`). */
export function l7PolicyRoutes(edge: OctaviaEdge): void {
  const { l7policies: policies, l7rules: rules } = edge.service;

  edge.route('/lbaas/l7policies', {
    GET: async (req) => edge.list('l7policies', await policies.list(caller(req), edge.query(req), edge.url(req))),
    POST: async (req, reply) => edge.created(reply, { l7policy: await policies.create(caller(req), edge.body(req, 'l7policy_', 'l7policy', S.l7policyPost)) }),
  });
  edge.route('/lbaas/l7policies/:id', {
    GET: async (req) => ({ l7policy: await policies.show(caller(req), edge.param(req, 'id'), edge.fields(req)) }),
    PUT: async (req) => ({ l7policy: await policies.update(caller(req), edge.param(req, 'id'), edge.body(req, 'l7policy_', 'l7policy', S.l7policyPut)) }),
    DELETE: async (req, reply) => {
      await policies.delete(caller(req), edge.param(req, 'id'));
      return edge.noContent(reply);
    },
  });

  edge.route('/lbaas/l7policies/:id/rules', {
    GET: async (req) => edge.list('rules', await rules.list(caller(req), edge.param(req, 'id'), edge.query(req), edge.url(req))),
    POST: async (req, reply) =>
      edge.created(reply, { rule: await rules.create(caller(req), edge.param(req, 'id'), edge.body(req, 'rule_', 'rule', S.l7rulePost)) }),
  });
  edge.route('/lbaas/l7policies/:id/rules/:rid', {
    GET: async (req) => ({ rule: await rules.show(caller(req), edge.param(req, 'id'), edge.param(req, 'rid'), edge.fields(req)) }),
    PUT: async (req) => ({
      rule: await rules.update(caller(req), edge.param(req, 'id'), edge.param(req, 'rid'), edge.body(req, 'l7rule_', 'rule', S.l7rulePut)),
    }),
    DELETE: async (req, reply) => {
      await rules.delete(caller(req), edge.param(req, 'id'), edge.param(req, 'rid'));
      return edge.noContent(reply);
    },
  });
}
