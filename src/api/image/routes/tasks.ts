import type { FastifyInstance } from 'fastify';
import type { ImageService } from '../../../core/image/service.js';
import { baseUrl, caller } from '../../http.js';
import { body } from '../request.js';
import { taskStubView, taskView } from '../views.js';

/** The (deprecated, admin-only) tasks API. */
export function taskRoutes(app: FastifyInstance, service: ImageService): void {
  app.get('/v2/tasks', async (req) => {
    const url = new URL(req.url, baseUrl(req));
    const params = [...url.searchParams.entries()];
    const one = (k: string) => url.searchParams.get(k) ?? undefined;
    const filters = new Map(params.filter(([k]) => !['limit', 'marker', 'sort_key', 'sort_dir'].includes(k)));
    const res = await service.taskApi.list(caller(req), {
      limit: one('limit'),
      marker: one('marker'),
      sortKey: one('sort_key'),
      sortDir: one('sort_dir'),
      filters,
    });
    const rest = params.filter(([k]) => k !== 'marker');
    const query = new URLSearchParams(rest).toString();
    const out: Record<string, unknown> = {
      tasks: res.tasks.map(taskStubView),
      first: query ? `/v2/tasks?${query}` : '/v2/tasks',
      schema: '/v2/schemas/tasks',
    };
    if (res.nextMarker) out.next = `/v2/tasks?${new URLSearchParams([...rest, ['marker', res.nextMarker]]).toString()}`;
    return out;
  });

  app.post('/v2/tasks', async (req, reply) => {
    const task = await service.taskApi.create(caller(req), body(req));
    reply.status(201).header('location', `/v2/tasks/${task.id}`);
    return taskView(task);
  });

  app.get('/v2/tasks/:id', async (req) => taskView(await service.taskApi.show(caller(req), (req.params as { id: string }).id)));

  app.delete('/v2/tasks/:id', async (req) => service.taskApi.delete(caller(req)));
}
