import { type IncomingHttpHeaders, type IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Bindings, ChildLoggerOptions, Logger } from 'pino';
import type { RequestContext } from '../core/context.js';
import { DomainError, isDomainError } from '../core/errors.js';
import { Operation } from '../core/work.js';
import { UnbindableValue } from '../store/db.js';
import { requestId as newRequestId } from '../util/ids.js';
import { parseJson } from '../util/json.js';
import { type EncodedList, encodeLongList, isEncodedList, isLongList } from './listbody.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who calls, set by the auth hook (see AppAuth) on every route that is not public. */
    ctx?: RequestContext;
    /** The raw request body, parsed lazily by each service with its own error messages. */
    rawBody?: string;
  }
}

/** What an error renderer reads of the request (a Fastify request, or nothing but headers). */
export interface RequestView {
  readonly headers: IncomingHttpHeaders;
  /** Glance's 405 names the method (webob's HTTPMethodNotAllowed body). */
  readonly method?: string;
  readonly protocol?: string;
  readonly hostname?: string;
}

/** What an error renderer may set on the answer (a Fastify reply, or the raw answer below the framework). */
export interface ReplyView {
  header(name: string, value: string): unknown;
  headers(values: Record<string, string>): unknown;
  type(contentType: string): unknown;
}

/** What each service supplies: how its errors look on the wire. */
export interface ErrorFormat {
  /** Render a domain error as this service's body; may also set headers on `reply`. */
  render(err: DomainError, req: RequestView, reply: ReplyView): unknown;
}

/**
 * Authentication, installed once per app as an `onRequest` hook: every route needs a token except
 * the ones listed as public, so a route added without thinking about it is closed, not open.
 */
export interface AppAuth {
  /**
   * Routes answered without a token, as `METHOD /path` the way the route is registered
   * (`GET /v2.0`, `POST /v3/auth/tokens`); HEAD follows GET. Each must name a registered route.
   */
  publicRoutes: readonly string[];
  /**
   * What a path no route serves gets without a token: keystonemiddleware in front of Neutron,
   * Nova, Glance and Octavia asks for one before the service routes anything (`authenticated`);
   * Keystone routes first and answers 404 (`public`).
   */
  unmatched: 'public' | 'authenticated';
  /**
   * Authenticate the request and record the caller on it (`req.ctx`); throws the service's 401
   * (or rejects with it). Returns nothing when it could decide at once (a cached token), a
   * promise when it must wait.
   */
  authenticate(req: FastifyRequest): Promise<void> | undefined;
}

export interface AppOptions {
  name: string;
  logger: Logger;
  errors: ErrorFormat;
  auth: AppAuth;
  /** Maximum request body in bytes (413 beyond). */
  bodyLimit?: number;
  /** Rewrite the URL before routing (Neutron's optional `.json` suffix). */
  rewriteUrl?: (url: string) => string;
  /**
   * A path whose percent-encoding is not UTF-8 (`/v2.0/networks/%ff`): `bad_request` answers
   * webob's 400 after authentication, as Neutron, Nova, Glance and Octavia do; `replace` decodes
   * it with U+FFFD in place of the bad bytes and routes it, as Keystone (Flask) does.
   */
  badPathEncoding?: 'bad_request' | 'replace';
}

/** Bodies from this size on leave as bytes (see answerBody). */
const BYTES_FROM = 16 * 1024;

/**
 * The JSON of an answer, as Fastify's default serializer makes it, but handed to Node as bytes
 * once it is large. Node writes a string through V8's UTF-8 encoder while it writes (Fastify's
 * `res.end(payload)`), which cost about 16 ms of a 2,000-port list's 2.3 MB here against about
 * 2 ms for `Buffer.from` (simdutf) and a plain write of the bytes (profile: `writev` self time,
 * issue 17). Small answers stay strings: for them the copy would cost more than it saves.
 */
function answerBody(payload: unknown): string | Buffer {
  const text = JSON.stringify(payload);
  return text.length >= BYTES_FROM ? Buffer.from(text) : text;
}

/**
 * A long list (`{"ports": [...]}`) sent as the bytes the serializer would make (see listbody.ts),
 * with the media type Fastify gives a serialized object; the buffer serves the next long answer
 * once Node has written this one ('finish': handed to the kernel). Short answers (under
 * BYTES_FROM) go back through the serializer, which leaves them strings.
 */
function longListAnswer(reply: FastifyReply, payload: Record<string, unknown>): unknown {
  const list = encodeLongList(payload);
  if (list.bytes.length < BYTES_FROM) {
    list.release();
    return payload;
  }
  return encodedAnswer(reply, list);
}

/** Bytes a list was written into (listbody.ts), sent as longListAnswer sends them. */
function encodedAnswer(reply: FastifyReply, { bytes, release }: EncodedList): Buffer {
  reply.raw.once('finish', release);
  reply.type('application/json; charset=utf-8');
  return bytes;
}

/** What a handler built with a ListAnswer answers: a short list's object, or a long one's bytes. */
export function listAnswer(reply: FastifyReply, answer: Record<string, unknown> | EncodedList): unknown {
  return isEncodedList(answer) ? encodedAnswer(reply, answer) : answer;
}

/**
 * A request's logger, made when the request first logs. Fastify gives every request a child of
 * the app's logger bound to its request id; pino's `child` was about 2 % of the server's CPU on
 * GET port (issue 17's profile), and below level info (`--log-level warn`) most requests log
 * nothing. What does log gets the same child, with the same bindings, as before.
 */
class RequestLogger implements FastifyBaseLogger {
  #child: FastifyBaseLogger | undefined;
  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly bindings: Bindings,
    private readonly options: ChildLoggerOptions,
  ) {}
  private get made(): FastifyBaseLogger {
    this.#child ??= this.parent.child(this.bindings, this.options);
    return this.#child;
  }
  get level(): string {
    return this.#child?.level ?? this.options.level ?? this.parent.level;
  }
  set level(level: string) {
    this.made.level = level;
  }
  private log(level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent', args: unknown[]): void {
    (this.made[level] as (...a: unknown[]) => void)(...args);
  }
  fatal(...args: unknown[]): void {
    this.log('fatal', args);
  }
  error(...args: unknown[]): void {
    this.log('error', args);
  }
  warn(...args: unknown[]): void {
    this.log('warn', args);
  }
  info(...args: unknown[]): void {
    this.log('info', args);
  }
  debug(...args: unknown[]): void {
    this.log('debug', args);
  }
  trace(...args: unknown[]): void {
    this.log('trace', args);
  }
  silent(...args: unknown[]): void {
    this.log('silent', args);
  }
  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.made.child(bindings, options);
  }
}

/**
 * Read every request body, whatever its media type, with `read` (in place of Fastify's parsers).
 * Registered for `*` and once more for `application/json`, with the same function: Fastify keeps
 * the parser it found for a Content-Type in a cache, except the catch-all one (getParser in
 * fastify/lib/content-type-parser.js), so a body only `*` matched had its Content-Type parsed
 * again on every request (RFC 9110 parameters, regular expressions: about 15 µs of a port
 * create's CPU in issue 17's profile). JSON, what nearly every body here is, now finds its own
 * entry once and the cache after; the function that reads it is the same, so nothing else changes.
 */
export function everyBody(app: FastifyInstance, parseAs: 'string' | 'buffer', read: (req: FastifyRequest, body: string | Buffer) => void): void {
  const parser = (req: FastifyRequest, body: string | Buffer, done: (err: Error | null, body?: unknown) => void) => {
    read(req, body);
    done(null, undefined);
  };
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs }, parser);
  app.addContentTypeParser('application/json', { parseAs }, parser);
}

/** webob's HTTPBadRequest explanation, what every service here answers for a request it cannot read. */
export const MALFORMED_REQUEST = 'The server could not comply with the request since it is either malformed or otherwise incorrect.';
const malformedRequest = () => new DomainError('bad_request', 'HTTPBadRequest', MALFORMED_REQUEST);

export const MAX_BODY = 1024 * 1024;

/**
 * A Fastify instance with what every OpenStack service here shares: a request id on every
 * response (`x-openstack-request-id`), bodies read as text (each service parses and words its
 * own errors), errors mapped to the service's own format, and a 500 that logs the cause but never
 * puts a stack trace on the wire.
 */
export function createApp(opts: AppOptions): FastifyInstance {
  const rewrite = opts.rewriteUrl;
  const replaceBadEncoding = opts.badPathEncoding === 'replace';
  const rewriteUrl =
    rewrite || replaceBadEncoding ? (url: string) => (replaceBadEncoding ? lenientPath(rewrite ? rewrite(url) : url) : rewrite!(url)) : undefined;
  const app = Fastify({
    loggerInstance: opts.logger.child({ service: opts.name }) as FastifyBaseLogger,
    bodyLimit: opts.bodyLimit ?? MAX_BODY,
    genReqId: () => newRequestId(),
    childLoggerFactory: (logger, bindings, options) => new RequestLogger(logger, bindings, options),
    logController: new LogController({ requestIdLogLabel: 'request_id', disableRequestLogging: true }),
    // No bound on a path segment below the server's own on the request line: the Python SDK
    // sends names of any length where ids go and expects the service's 404 (then searches by name).
    routerOptions: { ignoreTrailingSlash: true, ignoreDuplicateSlashes: true, maxParamLength: 1 << 30 },
    return503OnClosing: false,
    ...(rewriteUrl ? { rewriteUrl: (req: { url?: string }) => rewriteUrl(req.url ?? '/') } : {}),
    // What the router refuses (a path that does not decode) is answered like any request:
    // authenticated where the service authenticates first, then in the service's format.
    frameworkErrors: (_error, req, frameworkReply) => {
      const reply = frameworkReply as unknown as FastifyReply;
      void (async () => {
        let err: DomainError = malformedRequest();
        if (opts.auth.unmatched === 'authenticated') {
          try {
            await opts.auth.authenticate(req);
          } catch (e) {
            err = toDomainError(e);
          }
        }
        reply.header('x-openstack-request-id', req.id);
        reply.status(err.status).send(opts.errors.render(err, req, reply));
      })();
    },
    // Below the framework (a request Node's parser refuses: a body shorter than its
    // Content-Length, a bad request line, headers too large): the service's 400, not Fastify's.
    clientErrorHandler: (error, socket) => rawError(socket, error, opts.errors),
  });
  // A client that half-closes its socket after the request (FIN once sent, as `nc -N` does) still
  // gets its answer, as from eventlet or uWSGI: Node's default (httpAllowHalfOpen false) aborts the
  // request when the FIN arrives, so an answer that waits on the database was never written.
  (app.server as typeof app.server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  // CONNECT never reaches the router on its own (Node hands the socket to 'connect' listeners and
  // closes it when there are none): route it as any request, which answers in the service's format.
  app.server.on('connect', (req: IncomingMessage, socket: Duplex) => {
    const res = new ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket as Socket);
    res.on('finish', () => {
      res.detachSocket(socket as Socket);
      socket.end();
    });
    app.routing(req, res);
  });

  everyBody(app, 'string', (req, body) => {
    req.rawBody = body as string;
  });

  // Typed as returning a string, but Fastify sends a serializer's Buffer as it is (reply.js onSendEnd).
  app.setReplySerializer(answerBody as (payload: unknown) => string);

  const publicRoutes = new Set(opts.auth.publicRoutes);
  const registered = new Set<string>();
  app.addHook('onRoute', (route) => {
    for (const method of Array.isArray(route.method) ? route.method : [route.method]) registered.add(`${method} ${route.url}`);
    // The request runs as one operation: what its transactions change is published when it is
    // done. The caller carries it to every unit of work the handler runs (UnitOfWork.run's owner).
    const handler = route.handler;
    route.handler = async function (this: FastifyInstance, req, reply) {
      const operation = new Operation();
      if (req.ctx) req.ctx = { ...req.ctx, operation };
      try {
        const out = await handler.call(this, req, reply);
        return isLongList(out) && !reply.hasHeader('content-type') ? longListAnswer(reply, out) : out;
      } finally {
        // The answer is made; what the real service does in the request after it (see
        // Subscription.awaited) is done before it leaves.
        await operation.end();
      }
    };
  });
  ROUTE_TABLES.set(app, { registered, publicRoutes });
  app.addHook('onReady', async () => {
    const unknown = [...publicRoutes].filter((r) => !registered.has(r));
    if (unknown.length) throw new Error(`${opts.name}: public routes that no route serves: ${unknown.join(', ')}`);
  });
  // One hook for what every request needs first (each hook is a step of Fastify's per-request chain):
  // its request id on the answer, then authentication. Not an async function: a public route or
  // a cached token goes on at once (done()), with no promise and no microtask hop before the
  // handler; only a token that needs the store returns the authenticator's promise, which
  // Fastify's hook runner awaits as it awaits an async hook (hooks.js: a result with `then`).
  const unmatchedIsPublic = opts.auth.unmatched === 'public';
  const onRequest = (req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void): Promise<void> | undefined => {
    reply.header('x-openstack-request-id', req.id);
    const url = req.routeOptions.url;
    const open = url === undefined ? unmatchedIsPublic : publicRoutes.has(`${req.method === 'HEAD' ? 'GET' : req.method} ${url}`);
    const pending = open ? undefined : opts.auth.authenticate(req);
    if (pending !== undefined) return pending;
    done();
    return undefined;
  };
  app.addHook('onRequest', onRequest as (req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => void);

  // One line per request at level info; never headers or bodies (they carry tokens and passwords).
  // The level is the logger's for good (nothing here changes it): below info (`--log-level
  // warn`) the hook is not installed, and a request does not pay for it. A callback hook: it waits
  // for nothing, and an async one costs a promise and a microtask hop per request.
  if (opts.logger.isLevelEnabled('info')) {
    app.addHook('onResponse', (req, reply, done) => {
      req.log.info({ method: req.method, url: redactUrl(req.url), status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 }, 'request');
      done();
    });
  }

  app.setErrorHandler((error, req, reply) => {
    const err = toDomainError(error);
    if (err.kind === 'internal') {
      req.log.error({ err: error, request_id: req.id }, 'unexpected error');
    }
    reply.status(err.status);
    return opts.errors.render(err, req, reply);
  });

  return app;
}

/**
 * A path as Flask decodes it: percent-escapes that are not UTF-8 become U+FFFD, a `%` that starts
 * no escape stays a `%`. Valid paths come back unchanged.
 */
export function lenientPath(url: string): string {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  try {
    decodeURIComponent(path);
    return url;
  } catch {
    const bytes: number[] = [];
    for (let i = 0; i < path.length; i++) {
      const hex = path.slice(i + 1, i + 3);
      if (path[i] === '%' && /^[0-9a-fA-F]{2}$/.test(hex)) {
        bytes.push(Number.parseInt(hex, 16));
        i += 2;
      } else {
        bytes.push(...Buffer.from(path[i]));
      }
    }
    return encodeURI(new TextDecoder().decode(Uint8Array.from(bytes))) + (q < 0 ? '' : url.slice(q));
  }
}

/** Answer a request the HTTP parser refused, on the raw socket, in the service's format. */
function rawError(socket: Duplex, error: Error & { code?: string }, format: ErrorFormat): void {
  if (error.code === 'ECONNRESET' || socket.destroyed || !socket.writable) return;
  const headers = new Map<string, string>();
  const reply: ReplyView = {
    header: (name, value) => headers.set(name.toLowerCase(), value),
    headers: (values) => {
      for (const [k, v] of Object.entries(values)) headers.set(k.toLowerCase(), v);
    },
    type: (t) => headers.set('content-type', t),
  };
  const body = format.render(malformedRequest(), { headers: {} }, reply);
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  if (!headers.has('content-type')) headers.set('content-type', typeof body === 'string' ? 'text/plain; charset=UTF-8' : 'application/json');
  headers.set('content-length', String(Buffer.byteLength(text)));
  headers.set('connection', 'close');
  const head = [...headers].map(([k, v]) => `${k}: ${v}\r\n`).join('');
  socket.end(`HTTP/1.1 400 Bad Request\r\n${head}\r\n${text}`);
}

function redactUrl(url: string): string {
  return url.replace(/([?&](?:token|password)=)[^&]*/gi, '$1***');
}

const ROUTE_TABLES = new WeakMap<FastifyInstance, { registered: ReadonlySet<string>; publicRoutes: ReadonlySet<string> }>();

/** Every route of an app as `METHOD /path`, and those it serves without a token (tests check both). */
export function routeTable(app: FastifyInstance): { registered: ReadonlySet<string>; publicRoutes: ReadonlySet<string> } {
  const t = ROUTE_TABLES.get(app);
  if (!t) throw new Error('not an app made by createApp');
  return t;
}

/** Who calls: the caller the auth hook recorded (every non-public route has one). */
export function caller(req: FastifyRequest): RequestContext {
  if (!req.ctx) throw new Error(`${req.method} ${req.routeOptions.url} has no authenticated caller: is it listed as public?`);
  return req.ctx;
}

/** Map anything thrown into a DomainError; Fastify's own errors keep their status. */
export function toDomainError(error: unknown): DomainError {
  if (isDomainError(error)) return error;
  const e = error as { statusCode?: number; code?: string; message?: string };
  if (e?.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || e?.statusCode === 413) {
    return new DomainError('too_large', 'RequestEntityTooLarge', 'Request Entity Too Large');
  }
  if (e?.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || e?.statusCode === 415) {
    return new DomainError('unsupported_media_type', 'HTTPUnsupportedMediaType', 'Unsupported Media Type');
  }
  // A value the store cannot hold (an object where a string goes) reached it: the client's input.
  if (error instanceof UnbindableValue) return malformedRequest();
  // The framework's own 400s (a body cut short, a bad Content-Length) say nothing a client reads.
  if (e?.statusCode === 400 || e?.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || e?.code === 'ECONNRESET') return malformedRequest();
  return new DomainError('internal', 'InternalServerError', 'Request Failed: internal server error while processing your request.');
}

/** Python's http.client reason phrases: the titles Keystone and webob (Glance) put in errors. */
export const REASON_PHRASES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  410: 'Gone',
  412: 'Precondition Failed',
  413: 'Request Entity Too Large',
  415: 'Unsupported Media Type',
  416: 'Requested Range Not Satisfiable',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
};

/** Parse the request body as JSON; `undefined` when there is none. Throws `onInvalid()` when malformed. */
export function jsonBody(req: FastifyRequest, onInvalid: () => Error): unknown {
  const raw = req.rawBody;
  if (raw === undefined || raw.trim() === '') return undefined;
  try {
    return parseJson(raw);
  } catch {
    throw onInvalid();
  }
}

/** Base URL of this service as the client reached it (discovery documents must point back here). */
export function baseUrl(req: RequestView): string {
  const forwarded = req.headers['x-forwarded-proto'];
  const proto = typeof forwarded === 'string' && /^https?$/i.test(forwarded) ? forwarded.toLowerCase() : (req.protocol ?? 'http');
  const host = req.headers.host ?? req.hostname ?? 'localhost';
  // Links are built with `new URL(path, base)`: a Host header no URL can hold must not make them throw.
  return URL.canParse(`${proto}://${host}`) ? `${proto}://${host}` : `${proto}://localhost`;
}

/** Query parameters as lists (`?a=1&a=2` → {a: ['1','2']}), in order. */
export function queryLists(req: FastifyRequest): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const q = req.url.indexOf('?');
  if (q < 0) return out;
  for (const [k, v] of new URLSearchParams(req.url.slice(q + 1))) {
    const list = out.get(k);
    if (list) list.push(v);
    else out.set(k, [v]);
  }
  return out;
}
