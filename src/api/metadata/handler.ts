/**
 * The HTTP edge of Nova's metadata API as instances reach it: through Neutron's metadata proxy
 * and agent (the agent passes Nova's 200 answers through with their content type, and answers
 * errors with webob's own 400/404/409/500 pages). It is served only on the listeners the data
 * plane makes inside router and DHCP namespaces (never on an API port, and not in the catalog,
 * as nova-api-metadata is not): the caller is identified by where it came from.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { GuestMetadata } from '../../core/compute/guest/service.js';
import type { MetadataVia } from '../../core/compute/guest/source.js';

/** Largest request body read (a password is at most 1020 bytes). */
const MAX_BODY = 64 * 1024;

const STATUS: Record<number, { title: string; explanation: string }> = {
  400: { title: '400 Bad Request', explanation: 'The server could not comply with the request since it is either malformed or otherwise incorrect.' },
  404: { title: '404 Not Found', explanation: 'The resource could not be found.' },
  409: { title: '409 Conflict', explanation: 'There was a conflict when trying to complete your request.' },
  500: { title: '500 Internal Server Error', explanation: 'An unknown error has occurred. Please try your request again.' },
};

/** webob's error page, HTML when the client accepts it (curl's `*\/*` does), else plain text. */
export function webobError(status: number, accept: string | undefined): { contentType: string; body: string } {
  const s = STATUS[status] ?? STATUS[500];
  const a = (accept ?? '*/*').toLowerCase();
  if (a.includes('html') || a.includes('*/*')) {
    return {
      contentType: 'text/html; charset=UTF-8',
      body: `<html>\n <head>\n  <title>${s.title}</title>\n </head>\n <body>\n  <h1>${s.title}</h1>\n  ${s.explanation}<br /><br />\n\n\n\n </body>\n</html>`,
    };
  }
  return { contentType: 'text/plain; charset=UTF-8', body: `${s.title}\n\n${s.explanation}\n\n   ` };
}

export function metadataHandler(guest: GuestMetadata, log: Logger) {
  return (via: MetadataVia, address: string, req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (b: Buffer) => {
      size += b.length;
      if (size <= MAX_BODY) chunks.push(b);
    });
    req.on('end', () => {
      const path = decodeURIComponent(new URL(req.url ?? '/', 'http://169.254.169.254').pathname);
      guest
        .answer(via, address, req.method ?? 'GET', path, Buffer.concat(chunks))
        .then((r) => {
          if (r.status === 200) {
            const type = r.contentType.startsWith('text/') ? `${r.contentType}; charset=UTF-8` : r.contentType;
            res.writeHead(200, { 'Content-Type': type, 'Content-Length': r.body.length });
            res.end(req.method === 'HEAD' ? undefined : r.body);
            return;
          }
          const e = webobError(r.status, req.headers.accept);
          res.writeHead(r.status, { 'Content-Type': e.contentType, 'Content-Length': Buffer.byteLength(e.body) });
          res.end(e.body);
        })
        .catch((err: unknown) => {
          log.error({ err, via, address, path }, 'metadata request failed');
          const e = webobError(500, req.headers.accept);
          res.writeHead(500, { 'Content-Type': e.contentType });
          res.end(e.body);
        });
    });
  };
}
