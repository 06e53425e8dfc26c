import { ComputeEdge } from '../edge.js';
import { CONSOLE_OUTPUT_SCHEMA, REBOOT_SCHEMA, validateBody } from '../schemas.js';

/** POST /servers/{id}/action: the body's one key names the action (os-getConsoleOutput answers with the log). */
export function actionRoutes(edge: ComputeEdge): void {
  const { app, compute } = edge;

  app.post('/v2.1/servers/:id/action', async (req, reply) => {
    const ctx = edge.caller(req);
    const id = edge.params(req).id;
    const [name, b] = edge.actionBody(req);
    if (name === 'os-getConsoleOutput') {
      validateBody(CONSOLE_OUTPUT_SCHEMA, b);
      const raw = (b as { 'os-getConsoleOutput': { length?: number | string | null } })['os-getConsoleOutput'].length;
      const output = await compute.actions.consoleOutput(ctx, id, raw === undefined || raw === null ? null : Number(raw));
      return { output };
    }
    if (name === 'reboot') validateBody(REBOOT_SCHEMA, b);
    await compute.actions.run(ctx, id, name, b);
    return ComputeEdge.noContent(reply, 202);
  });
}
