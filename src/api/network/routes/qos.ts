import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { httpBadRequest } from '../../../core/errors.js';
import type { QosRules } from '../../../core/network/qosrules.js';
import { caller } from '../../http.js';
import { ALL_METHODS, body, fieldsOf, methodNotAllowed, query } from '../request.js';

type Handler = (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

const noBodyOnDelete = (req: FastifyRequest) => {
  if (req.rawBody && req.rawBody.trim() !== '') throw httpBadRequest('Request body is not supported in DELETE.');
};

/**
 * QoS beyond policies (which are a resource like any other): the rule types, each kind of rule
 * under its policy (`/qos/policies/{id}/bandwidth_limit_rules[/{rule}]`) and the rule aliases
 * (`/qos/alias_bandwidth_limit_rules/{rule}`). Every path is static up to its ids, so these routes
 * win over the generic `/v2.0/qos/:collection/…` ones.
 */
export function qosRoutes(app: FastifyInstance, rules: QosRules): void {
  const route = (url: string, handler: Handler) => app.route({ method: [...ALL_METHODS], url, handler });

  route('/v2.0/qos/rule-types', async (req) => {
    caller(req);
    if (req.method !== 'GET' && req.method !== 'HEAD') throw methodNotAllowed();
    return { rule_types: rules.ruleTypes() };
  });
  route('/v2.0/qos/rule-types/:type', async (req) => {
    const ctx = caller(req);
    if (req.method !== 'GET' && req.method !== 'HEAD') throw methodNotAllowed();
    return { rule_type: rules.ruleType(ctx, (req.params as { type: string }).type) };
  });

  for (const kind of rules.kinds()) {
    const member = kind.def.name;
    route(`/v2.0/qos/policies/:policy/${kind.collection}`, async (req, reply) => {
      const ctx = caller(req);
      const { policy } = req.params as { policy: string };
      if (req.method === 'GET' || req.method === 'HEAD') return { [kind.collection]: await rules.list(ctx, policy, kind, query(req)) };
      if (req.method !== 'POST') throw methodNotAllowed();
      const out = await rules.create(ctx, policy, kind, body(req));
      reply.status(201);
      return { [member]: out };
    });
    route(`/v2.0/qos/policies/:policy/${kind.collection}/:rule`, async (req, reply) => {
      const ctx = caller(req);
      const { policy, rule } = req.params as { policy: string; rule: string };
      switch (req.method) {
        case 'GET':
        case 'HEAD':
          return { [member]: await rules.show(ctx, policy, kind, rule, fieldsOf(req)) };
        case 'PUT':
          return { [member]: await rules.update(ctx, policy, kind, rule, body(req)) };
        case 'DELETE':
          noBodyOnDelete(req);
          await rules.delete(ctx, policy, kind, rule);
          reply.status(204);
          return reply.send();
        default:
          throw methodNotAllowed();
      }
    });
    const alias = kind.alias.name;
    route(`/v2.0/qos/${kind.alias.collection}/:rule`, async (req, reply) => {
      const ctx = caller(req);
      const { rule } = req.params as { rule: string };
      switch (req.method) {
        case 'GET':
        case 'HEAD':
          return { [alias]: await rules.showAlias(ctx, kind, rule, fieldsOf(req)) };
        case 'PUT':
          return { [alias]: await rules.updateAlias(ctx, kind, rule, body(req)) };
        case 'DELETE':
          noBodyOnDelete(req);
          await rules.deleteAlias(ctx, kind, rule);
          reply.status(204);
          return reply.send();
        default:
          throw methodNotAllowed();
      }
    });
  }
}
