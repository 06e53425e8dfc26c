import { novaBadRequest } from '../../../core/compute/errors.js';
import { ComputeEdge } from '../edge.js';
import { quotaClassUpdateSchema, quotaUpdateSchema, truthy, validateBody } from '../schemas.js';
import { limitsView, quotaClassSetView, quotaSetView } from '../views.js';

/** os-quota-sets (show, defaults, detail, update, revert), os-quota-class-sets and the caller's limits. */
export function quotaRoutes(edge: ComputeEdge): void {
  const { app, compute } = edge;

  app.get('/v2.1/limits', async (req) => {
    const { limits, usage } = await compute.quotas.limits(edge.caller(req), edge.query(req).get('tenant_id')?.[0]);
    return limitsView(edge.version(req), limits, usage);
  });

  app.get('/v2.1/os-quota-sets/:project', async (req) => {
    const project = edge.params(req).project;
    return quotaSetView(edge.version(req), await compute.quotas.show(edge.caller(req), project), project);
  });
  app.get('/v2.1/os-quota-sets/:project/defaults', async (req) => {
    return quotaSetView(edge.version(req), await compute.quotas.defaults(), edge.params(req).project);
  });
  app.get('/v2.1/os-quota-sets/:project/detail', async (req) => {
    const project = edge.params(req).project;
    return quotaSetView(edge.version(req), await compute.quotas.detail(edge.caller(req), project), project);
  });
  app.put('/v2.1/os-quota-sets/:project', async (req) => {
    const version = edge.version(req);
    const b = edge.body(req);
    const values = await compute.quotas.update(edge.caller(req), edge.params(req).project, () => {
      validateBody(quotaUpdateSchema(version), b);
      const qs = (b as { quota_set: Record<string, unknown> }).quota_set;
      if ('networks' in qs) throw novaBadRequest('The networks quota has been removed');
      return {
        force: qs.force !== undefined && truthy(qs.force),
        values: Object.fromEntries(
          Object.entries(qs)
            .filter(([k]) => k !== 'force')
            .map(([k, x]) => [k, Number(x)]),
        ),
      };
    });
    return quotaSetView(version, values);
  });
  app.delete('/v2.1/os-quota-sets/:project', async (req, reply) => {
    await compute.quotas.revert(edge.caller(req), edge.params(req).project);
    return ComputeEdge.noContent(reply, 202);
  });

  app.get('/v2.1/os-quota-class-sets/:id', async (req) => {
    const id = edge.params(req).id;
    return quotaClassSetView(edge.version(req), await compute.quotas.showClass(edge.caller(req), id), id);
  });
  app.put('/v2.1/os-quota-class-sets/:id', async (req) => {
    const version = edge.version(req);
    const b = edge.body(req);
    const values = await compute.quotas.updateClass(edge.caller(req), edge.params(req).id, () => {
      validateBody(quotaClassUpdateSchema(version), b);
      const qs = (b as { quota_class_set: Record<string, unknown> }).quota_class_set;
      return Object.fromEntries(Object.entries(qs).map(([k, x]) => [k, Number(x)]));
    });
    return quotaClassSetView(version, values);
  });
}
