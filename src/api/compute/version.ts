/**
 * Nova microversions: `OpenStack-API-Version: compute 2.37` (or the legacy
 * `X-OpenStack-Nova-API-Version: 2.37`), `latest`, and the range this slice implements.
 *
 * The maximum is 2.96 (Nova 2024.1 Caracal and 2024.2 Dalmatian): every behaviour change Nova
 * made up to it is served — 2.47's embedded flavor, 2.57's personality removal, 2.64's server
 * group policy, 2.73's lock reason, 2.90's hostname, 2.96's pinned availability zone …; novaclient
 * 18.1 ("2.latest") negotiates its own maximum, 2.92, and prints a current Nova's tables.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { DomainError } from '../../core/errors.js';

export class ApiVersion {
  constructor(
    readonly major: number,
    readonly minor: number,
  ) {}

  static parse(s: string): ApiVersion | null {
    const m = /^([1-9]\d*)\.([1-9]\d*|0)$/.exec(s);
    return m ? new ApiVersion(Number(m[1]), Number(m[2])) : null;
  }

  private cmp(o: ApiVersion): number {
    return this.major - o.major || this.minor - o.minor;
  }

  /** This version is at least `v` ("2.19"). */
  gte(v: string): boolean {
    return this.cmp(ApiVersion.parse(v)!) >= 0;
  }

  toString(): string {
    return `${this.major}.${this.minor}`;
  }
}

export const MIN_VERSION = ApiVersion.parse('2.1')!;
export const MAX_VERSION = ApiVersion.parse('2.96')!;

/** The version a request asks for (microversion_parse semantics); 400/406 as Nova answers. */
export function requestedVersion(headers: IncomingHttpHeaders): ApiVersion {
  let requested: string | undefined;
  const std = headers['openstack-api-version'];
  const stdValues = (Array.isArray(std) ? std : std ? [std] : []).flatMap((h) => h.split(','));
  for (const pair of stdValues) {
    const [service, ...rest] = pair.trim().split(/\s+/);
    if (service?.toLowerCase() === 'compute' && rest.length) {
      requested = rest.join(' ').trim();
      break;
    }
  }
  if (requested === undefined) {
    const legacy = headers['x-openstack-nova-api-version'];
    requested = (Array.isArray(legacy) ? legacy[0] : legacy)?.trim() || undefined;
  }
  if (requested === undefined) return MIN_VERSION;
  if (requested.toLowerCase() === 'latest') return MAX_VERSION;
  const v = ApiVersion.parse(requested);
  if (!v) {
    throw new DomainError(
      'bad_request',
      'InvalidAPIVersionString',
      `API Version String ${requested} is of invalid format. Must be of format MajorNum.MinorNum.`,
    );
  }
  if (v.major !== MAX_VERSION.major || !v.gte(MIN_VERSION.toString()) || MAX_VERSION.minor < v.minor) {
    throw new DomainError(
      'not_acceptable',
      'InvalidGlobalAPIVersion',
      `Version ${v} is not supported by the API. Minimum is ${MIN_VERSION} and maximum is ${MAX_VERSION}.`,
    );
  }
  return v;
}
