import type { FastifyInstance } from 'fastify';
import type { ImageService } from '../../../core/image/service.js';
import { caller } from '../../http.js';
import { body } from '../request.js';
import { memberView } from '../views.js';

/** Image members: who a shared image is shared with, and each member's accept/reject. */
export function memberRoutes(app: FastifyInstance, service: ImageService): void {
  app.get('/v2/images/:id/members', async (req) => {
    const ctx = caller(req);
    const members = await service.listMembers(ctx, (req.params as { id: string }).id);
    return { members: members.map(memberView), schema: '/v2/schemas/members' };
  });
  app.post('/v2/images/:id/members', async (req) => {
    const ctx = caller(req);
    return memberView(await service.addMember(ctx, (req.params as { id: string }).id, body(req)));
  });
  app.get('/v2/images/:id/members/:member', async (req) => {
    const ctx = caller(req);
    const { id, member } = req.params as { id: string; member: string };
    return memberView(await service.showMember(ctx, id, member));
  });
  app.put('/v2/images/:id/members/:member', async (req) => {
    const ctx = caller(req);
    const { id, member } = req.params as { id: string; member: string };
    return memberView(await service.updateMember(ctx, id, member, body(req)));
  });
  app.delete('/v2/images/:id/members/:member', async (req, reply) => {
    const ctx = caller(req);
    const { id, member } = req.params as { id: string; member: string };
    await service.deleteMember(ctx, id, member);
    reply.status(204);
    return reply.send();
  });
}
