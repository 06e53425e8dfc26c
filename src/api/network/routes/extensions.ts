import type { FastifyInstance } from 'fastify';
import { EXTENSIONS, extensionBody } from '../../../core/network/extensions.js';
import { resourceNotFound } from '../request.js';

/** GET /v2.0/extensions[/{alias}]: exactly the aliases this cloud serves (`advertised`). */
export function extensionRoutes(app: FastifyInstance, advertised: () => string[]): void {
  app.get('/v2.0/extensions', async () => ({ extensions: advertised().map(extensionBody) }));
  app.get('/v2.0/extensions/:alias', async (req) => {
    const { alias } = req.params as { alias: string };
    if (!advertised().includes(alias) || !EXTENSIONS[alias]) throw resourceNotFound();
    return { extension: extensionBody(alias) };
  });
}
