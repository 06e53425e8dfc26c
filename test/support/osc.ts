import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Debian's OpenStack clients need Debian's python: /usr/bin first. */
const CLIENT_PATH = `/usr/bin:/bin:/usr/sbin:/sbin:${process.env.PATH ?? ''}`;

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], env: Record<string, string>, timeoutMs = 120_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      { env: { PATH: CLIENT_PATH, HOME: process.env.HOME ?? '/root', LANG: 'C.UTF-8', ...env }, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: number }).code ?? 1) : 0;
        resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr });
      },
    );
  });
}

/** Env for the `openstack` client against a PocketStack (a v3 openrc). */
export function openrcV3(identityUrl: string, user: string, password: string, project = user): Record<string, string> {
  return {
    OS_AUTH_URL: `${identityUrl}/v3`,
    OS_IDENTITY_API_VERSION: '3',
    OS_USERNAME: user,
    OS_PASSWORD: password,
    OS_PROJECT_NAME: project,
    OS_USER_DOMAIN_NAME: 'Default',
    OS_PROJECT_DOMAIN_NAME: 'Default',
    OS_REGION_NAME: 'RegionOne',
  };
}

/** The seed's openrc: a v2.0 auth URL, a tenant name, no domains. */
export function openrcV2(identityUrl: string, user: string, password: string, tenant = user): Record<string, string> {
  return {
    OS_AUTH_URL: `${identityUrl}/v2.0`,
    OS_USERNAME: user,
    OS_PASSWORD: password,
    OS_TENANT_NAME: tenant,
    OS_REGION_NAME: 'RegionOne',
  };
}

/** `| Field | Value |` tables → ordered [field, value] rows (continuation lines joined with \n). */
export function fieldRows(out: string): Array<[string, string]> {
  const rows: Array<[string, string]> = [];
  for (const line of out.split('\n')) {
    const m = /^\| (.*?) +\| (.*?) *\|$/.exec(line);
    if (!m) continue;
    const [, field, value] = m;
    if (field === 'Field' && value === 'Value') continue;
    if (field.trim() === '' && rows.length) rows[rows.length - 1][1] += `\n${value}`;
    else rows.push([field.trim(), value]);
  }
  return rows;
}

export function fieldMap(out: string): Map<string, string> {
  return new Map(fieldRows(out));
}

/** Column headers of a list table. */
export function listHeaders(out: string): string[] {
  const line = out.split('\n').find((l) => l.startsWith('| '));
  return line
    ? line
        .split('|')
        .slice(1, -1)
        .map((s) => s.trim())
    : [];
}

/** Rows of a list table as arrays of cell texts (continuation lines ignored). */
export function listRows(out: string): string[][] {
  const lines = out.split('\n').filter((l) => l.startsWith('| '));
  return lines.slice(1).map((l) =>
    l
      .split('|')
      .slice(1, -1)
      .map((s) => s.trim()),
  );
}

const FIXTURES = fileURLToPath(new URL('../fixtures/neutron-cli/', import.meta.url));

/** The Field rows real Neutron made the same client print for a seed command (fixture NN-*.out). */
export function referenceFields(name: string): string[] {
  return fieldRows(readFileSync(`${FIXTURES}${name}.out`, 'utf8')).map(([f]) => f);
}

export function referenceOutput(name: string): string {
  return readFileSync(`${FIXTURES}${name}.out`, 'utf8');
}
