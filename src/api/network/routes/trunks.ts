import type { FastifyInstance } from 'fastify';
import { getSubports } from '../../../core/network/trunks.js';
import type { Store } from '../../../store/db.js';
import { caller } from '../../http.js';
import { ALL_METHODS, methodNotAllowed } from '../request.js';

/**
 * The one trunk action answered to GET (`get_subports`); the PUT ones (`add_subports`,
 * `remove_subports`) are member actions of the generic resource routes.
 */
export function trunkRoutes(app: FastifyInstance, store: Store): void {
  app.route({
    method: [...ALL_METHODS],
    url: '/v2.0/trunks/:id/get_subports',
    handler: async (req) => {
      const ctx = caller(req);
      if (req.method !== 'GET' && req.method !== 'HEAD') throw methodNotAllowed();
      return getSubports(store.db, ctx, (req.params as { id: string }).id);
    },
  });
}
