import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import { unauthorized } from '../../core/errors.js';
import { expecting, malformedJson } from '../../core/identity/errors.js';
import { applyHints, hintsFrom, type QueryArgs } from '../../core/identity/hints.js';
import type { IdentityService, TokenInfo } from '../../core/identity/service.js';
import { parseJson } from '../../util/json.js';
import { baseUrl } from '../http.js';
import { type Schema, validator } from './validate.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Identity's caller: the validated token, set by the auth hook on every non-public route. */
    token?: TokenInfo;
  }
}

type Handler = (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

/**
 * The auth hook: the caller's token (X-Auth-Token) validated, or Keystone's bare 401. A cached
 * validation answers without a promise (as tokenAuth does for the other services).
 */
export function identityAuth(identity: IdentityService): (req: FastifyRequest) => Promise<void> | undefined {
  const accept = (req: FastifyRequest, info: TokenInfo | null) => {
    if (!info) throw unauthorized();
    req.token = info;
  };
  return (req) => {
    const t = req.headers['x-auth-token'];
    if (typeof t !== 'string' || t === '') throw unauthorized();
    const cached = identity.cachedValidation(t);
    if (cached !== undefined) {
      accept(req, cached);
      return undefined;
    }
    return identity.validate(t).then((info) => accept(req, info));
  };
}

/** What the identity route modules share: the service, the route table and Keystone's request rules. */
export class IdentityEdge {
  /** Registered paths (Fastify patterns) and their methods, for 405 and OPTIONS answers. */
  private readonly table: Array<{ re: RegExp; methods: Set<string> }> = [];

  constructor(
    readonly app: FastifyInstance,
    readonly identity: IdentityService,
  ) {}

  route(methods: HTTPMethods | HTTPMethods[], path: string, handler: Handler): void {
    const list = Array.isArray(methods) ? methods : [methods];
    this.app.route({ method: list, url: path, handler });
    const re = new RegExp(
      `^${path
        .replace(/[.]/g, '\\.')
        .replace(/:[^/]+/g, '[^/]+')
        .replace(/\*/g, '.*')}/?$`,
    );
    let entry = this.table.find((t) => t.re.source === re.source);
    if (!entry) {
      entry = { re, methods: new Set() };
      this.table.push(entry);
    }
    for (const m of list) entry.methods.add(m);
  }

  /** Methods served on a concrete path (empty when the path is unknown), as an Allow header lists them. */
  allowed(path: string): string[] {
    const entry = this.table.find((t) => t.re.test(path));
    if (!entry) return [];
    const out = [...entry.methods];
    if (out.includes('GET') && !out.includes('HEAD')) out.splice(out.indexOf('GET') + 1, 0, 'HEAD');
    return [...out, 'OPTIONS'];
  }

  /** Who calls (see identityAuth). */
  caller(req: FastifyRequest): TokenInfo {
    if (!req.token) throw new Error(`${req.method} ${req.routeOptions.url} has no authenticated caller: is it listed as public?`);
    return req.token;
  }

  /**
   * The request body as Keystone reads it: nothing sent is `{}`; a body must be JSON (or carry
   * no Content-Type) and a JSON object.
   */
  json(req: FastifyRequest): Record<string, unknown> {
    const raw = req.rawBody;
    if (raw === undefined || raw === '') return {};
    const type = String(req.headers['content-type'] ?? '')
      .split(';')[0]
      .trim()
      .toLowerCase();
    if (type !== '' && !/^application\/([\w.+-]+\+)?json$/.test(type)) throw expecting('application/json', 'Content-Type header');
    let parsed: unknown;
    try {
      parsed = parseJson(raw);
    } catch {
      throw malformedJson();
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw malformedJson();
    return parsed as Record<string, unknown>;
  }

  /**
   * `body[key]`, validated against `schema`. Absent, it is `{}` (Keystone's `.get(key, {})`), or
   * null where Keystone reads `.get(key)` (the catalog's services, endpoints and regions), which
   * its schema refuses as "None is not of type 'object'".
   */
  member(req: FastifyRequest, key: string, schema: Schema, absent: 'empty' | 'null' = 'empty'): Record<string, unknown> {
    const body = this.json(req);
    const value = Object.hasOwn(body, key) ? body[key] : absent === 'null' ? null : {};
    compiled(schema)(value);
    return value as Record<string, unknown>;
  }

  base(req: FastifyRequest): string {
    return baseUrl(req);
  }

  /** The full request URL, as Keystone's collection `self` link gives it. */
  selfUrl(req: FastifyRequest): string {
    return `${baseUrl(req)}${req.url.replace(/\?$/, '')}`;
  }

  collection<T>(req: FastifyRequest, key: string, items: T[]) {
    return { [key]: items, links: { next: null, self: this.selfUrl(req), previous: null } };
  }

  /**
   * A collection after Keystone's list filters on `supported` attributes (`name`,
   * `name__icontains` …), applied to the rendered entities as Keystone's wrap_collection does.
   */
  filtered<T extends Record<string, unknown>>(req: FastifyRequest, key: string, items: T[], supported: readonly string[], insensitive?: ReadonlySet<string>) {
    return this.collection(req, key, applyHints(items, hintsFrom(req.query as QueryArgs, supported), insensitive));
  }

  /** A query parameter's first value. */
  query(req: FastifyRequest, name: string): string | undefined {
    const v = (req.query as Record<string, string | string[] | undefined>)[name];
    return Array.isArray(v) ? v[0] : v;
  }

  /** Keystone's query flag: present means true, except `=0`. */
  flag(req: FastifyRequest, name: string): boolean {
    const v = this.query(req, name);
    return v !== undefined && v !== '0';
  }

  static noContent(reply: FastifyReply) {
    reply.status(204);
    return reply.send();
  }
}

const cache = new WeakMap<Schema, ReturnType<typeof validator>>();
function compiled(schema: Schema) {
  let v = cache.get(schema);
  if (!v) {
    v = validator(schema);
    cache.set(schema, v);
  }
  return v;
}
