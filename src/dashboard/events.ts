import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RequestContext } from '../core/context.js';
import type { Change, ChangeBus } from '../core/work.js';

/**
 * Live updates as server-sent events, from the unit of work's change bus: every change committed
 * through any API (and every status a driver reports) is heard the moment it is published, so the
 * page redraws well within a second. A viewer hears only of objects it could GET: its own
 * project's (an admin: every project's), never identity changes; a change names the kind, id and
 * operation, and the page then reads the objects through the APIs with its own token.
 *
 * The stream ends when the token expires (`event: expired`, and the page goes back to login) or
 * when an identity change (a revocation, a removed role) makes it invalid.
 */
export interface EventStreamOptions {
  changes: ChangeBus;
  /** Is the token still valid? (Keystone's validation, as any API call would do it.) */
  stillValid(): Promise<boolean>;
  /** Milliseconds between keep-alive comments. */
  heartbeatMs?: number;
}

export function visibleTo(ctx: RequestContext, c: Change): boolean {
  if (c.kind === 'identity') return false;
  if (ctx.isAdmin) return true;
  return c.projectId !== null && c.projectId === ctx.projectId;
}

export function streamChanges(req: FastifyRequest, reply: FastifyReply, ctx: RequestContext, opts: EventStreamOptions): void {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  let closed = false;
  const send = (event: string, data: unknown) => {
    if (!closed) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  };
  const end = (event?: string) => {
    if (closed) return;
    if (event) send(event, {});
    closed = true;
    cleanup();
    res.end();
  };
  // Batched per tick: a request that touches twenty objects is one message.
  let batch: Array<{ kind: string; id: string; op: string }> = [];
  let flush: NodeJS.Immediate | null = null;
  let checking = false;
  const unsubscribe = opts.changes.subscribe({ status: true }, (c) => {
    if (c.kind === 'identity') {
      if (checking) return;
      checking = true;
      void opts
        .stillValid()
        .then((ok) => {
          if (!ok) end('expired');
        })
        .catch(() => end('expired'))
        .finally(() => {
          checking = false;
        });
      return;
    }
    if (!visibleTo(ctx, c)) return;
    batch.push({ kind: c.kind, id: c.id, op: c.op });
    flush ??= setImmediate(() => {
      flush = null;
      const out = batch;
      batch = [];
      send('change', { changes: out });
    });
  });
  const heartbeat = setInterval(() => {
    if (!closed) res.write(': keep-alive\n\n');
  }, opts.heartbeatMs ?? 15_000);
  const expiresIn = Date.parse(ctx.expiresAt) - Date.now();
  const expiry = Number.isFinite(expiresIn) ? setTimeout(() => end('expired'), Math.max(0, Math.min(expiresIn, 2 ** 31 - 1))) : null;
  function cleanup() {
    unsubscribe();
    clearInterval(heartbeat);
    if (expiry) clearTimeout(expiry);
    if (flush) clearImmediate(flush);
  }
  req.raw.on('close', () => {
    if (!closed) {
      closed = true;
      cleanup();
    }
  });
  // The apps keep a half-closed socket open until they have answered (src/api/http.ts); a stream
  // never finishes answering, so a client's FIN ends it here.
  req.raw.socket.once('end', () => end());
  send('hello', { project: ctx.projectId, admin: ctx.isAdmin });
}
