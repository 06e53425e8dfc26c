/** A tiny JSON client over real HTTP (fetch), for tests that need sockets and concurrency. */
export interface HttpResponse<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export async function http<T = any>(
  method: string,
  url: string,
  opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<HttpResponse<T>> {
  const res = await fetch(url, {
    method,
    headers: {
      ...(opts.token ? { 'x-auth-token': opts.token } : {}),
      ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...opts.headers,
    },
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    /* not JSON */
  }
  return { status: res.status, body: body as T, headers: res.headers };
}

export async function passwordToken(identityUrl: string, user: string, password: string, project = user): Promise<string> {
  const res = await http('POST', `${identityUrl}/v3/auth/tokens`, {
    body: {
      auth: {
        identity: { methods: ['password'], password: { user: { name: user, domain: { name: 'Default' }, password } } },
        scope: { project: { name: project, domain: { name: 'Default' } } },
      },
    },
  });
  if (res.status !== 201) throw new Error(`token: ${res.status} ${JSON.stringify(res.body)}`);
  return res.headers.get('x-subject-token')!;
}
