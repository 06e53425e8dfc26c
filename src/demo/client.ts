import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A small OpenStack client for the `pocketstack` commands that act as a user (`explain`, `demo`):
 * credentials from the usual OS_* variables (an openrc), or from the data directory's
 * openrc-demo.sh when none are set; a Keystone v3 token; endpoints from its catalog. It talks HTTP
 * to the real APIs like any other client.
 */
export interface Credentials {
  authUrl: string;
  username: string;
  password: string;
  projectName: string;
  userDomain: string;
  projectDomain: string;
}

/** `export K='v'` lines of an openrc, as a shell would read them (single-quoted values). */
function parseOpenrc(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^export ([A-Z_]+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    let v = m[2];
    if (v.startsWith("'") && v.endsWith("'")) v = v.slice(1, -1).replace(/'\\''/g, "'");
    else if (v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
    out.set(m[1], v);
  }
  return out;
}

export function credentials(env: NodeJS.ProcessEnv, dataDir: string): Credentials {
  let get = (k: string): string | undefined => env[k];
  let from = 'the OS_* environment';
  if (!env.OS_AUTH_URL) {
    const file = join(dataDir, 'openrc-demo.sh');
    if (!existsSync(file)) throw new Error(`no credentials: source an openrc (OS_AUTH_URL …) or start pocketstack serve with --data-dir ${dataDir}`);
    const vars = parseOpenrc(readFileSync(file, 'utf8'));
    get = (k) => vars.get(k);
    from = file;
  }
  const need = (k: string) => {
    const v = get(k);
    if (!v) throw new Error(`${k} is not set (credentials from ${from})`);
    return v;
  };
  let authUrl = need('OS_AUTH_URL').replace(/\/+$/, '');
  if (!/\/v3$/.test(authUrl)) authUrl = `${authUrl.replace(/\/v2\.0$/, '')}/v3`;
  return {
    authUrl,
    username: need('OS_USERNAME'),
    password: need('OS_PASSWORD'),
    projectName: get('OS_PROJECT_NAME') ?? get('OS_TENANT_NAME') ?? need('OS_USERNAME'),
    userDomain: get('OS_USER_DOMAIN_NAME') ?? 'Default',
    projectDomain: get('OS_PROJECT_DOMAIN_NAME') ?? 'Default',
  };
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

interface CatalogEntry {
  type: string;
  endpoints: Array<{ interface: string; url: string }>;
}

/** The message an OpenStack service put in its error body, whatever its format. */
function errorMessage(body: unknown): string {
  if (typeof body !== 'object' || body === null) return String(body ?? '').slice(0, 300);
  const b = body as Record<string, unknown>;
  for (const v of [b.NeutronError, b.error, b.badRequest, b.itemNotFound, b.conflictingRequest, b.forbidden, b]) {
    if (typeof v === 'object' && v !== null) {
      const o = v as Record<string, unknown>;
      const m = o.message ?? o.faultstring ?? o.description;
      if (typeof m === 'string' && m) return m;
    }
  }
  return JSON.stringify(body).slice(0, 300);
}

export class OpenStack {
  private constructor(
    readonly token: string,
    readonly projectId: string,
    readonly endpoints: Map<string, string>,
    readonly authUrl: string,
  ) {}

  static async login(c: Credentials): Promise<OpenStack> {
    const res = await fetch(`${c.authUrl}/auth/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        auth: {
          identity: { methods: ['password'], password: { user: { name: c.username, domain: { name: c.userDomain }, password: c.password } } },
          scope: { project: { name: c.projectName, domain: { name: c.projectDomain } } },
        },
      }),
    }).catch((e: Error) => {
      throw new Error(`cannot reach Keystone at ${c.authUrl}: ${e.message} (is pocketstack serve running?)`);
    });
    const body = (await res.json().catch(() => ({}))) as { token?: { project?: { id: string }; catalog?: CatalogEntry[] } };
    if (res.status !== 201) throw new ApiError(res.status, `Keystone refused ${c.username}: ${errorMessage(body)}`);
    const endpoints = new Map<string, string>();
    for (const e of body.token?.catalog ?? []) {
      const pub = e.endpoints.find((x) => x.interface === 'public') ?? e.endpoints[0];
      if (pub) endpoints.set(e.type, pub.url.replace(/\/+$/, ''));
    }
    return new OpenStack(res.headers.get('x-subject-token') ?? '', body.token?.project?.id ?? '', endpoints, c.authUrl);
  }

  url(service: string, path: string): string {
    const base = this.endpoints.get(service);
    if (!base) throw new Error(`the catalog has no ${service} service`);
    return `${base}${path}`;
  }

  async request<T = Record<string, unknown>>(
    method: string,
    service: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: T }> {
    const url = service === 'raw' ? path : this.url(service, path);
    const isBytes = body instanceof Uint8Array;
    const res = await fetch(url, {
      method,
      headers: {
        'x-auth-token': this.token,
        accept: 'application/json',
        ...(body !== undefined ? { 'content-type': isBytes ? 'application/octet-stream' : 'application/json' } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : isBytes ? (body as Uint8Array) : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // not JSON: keep the text
    }
    if (res.status >= 400) throw new ApiError(res.status, `${method} ${url.replace(/^https?:\/\/[^/]+/, '')}: ${res.status} ${errorMessage(parsed)}`);
    return { status: res.status, body: parsed as T };
  }

  get = <T = Record<string, unknown>>(service: string, path: string) => this.request<T>('GET', service, path);
  post = <T = Record<string, unknown>>(service: string, path: string, body?: unknown) => this.request<T>('POST', service, path, body);
  put = <T = Record<string, unknown>>(service: string, path: string, body?: unknown, headers?: Record<string, string>) =>
    this.request<T>('PUT', service, path, body, headers);
  delete = (service: string, path: string) => this.request('DELETE', service, path);
}

/** The dashboard's URL: given, or the identity endpoint's host with the dashboard's port. */
export function dashboardUrl(explicit: string | undefined, authUrl: string, env: NodeJS.ProcessEnv): string {
  if (explicit) return explicit.replace(/\/+$/, '');
  if (env.POCKETSTACK_DASHBOARD_URL) return env.POCKETSTACK_DASHBOARD_URL.replace(/\/+$/, '');
  const u = new URL(authUrl);
  return `${u.protocol}//${u.hostname}:${env.POCKETSTACK_DASHBOARD_PORT || '8080'}`;
}
