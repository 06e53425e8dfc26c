/**
 * DNS integration (Neutron's `dns-integration`, `dns-domain-ports`, `subnet-dns-publish-fixed-ip`,
 * `dns-integration-domain-keywords`): neutron-lib's DNS name validators and what ML2's DNS
 * extension driver renders on ports. With Neutron's default `dns_domain` (`openstacklocal`) a
 * port's dns_name is accepted but not used: every address gets `host-<address>` as its hostname,
 * exactly as a DevStack without a DNS domain answers. With another domain (neutron.conf's
 * `dns_domain`, POCKETSTACK_DNS_DOMAIN here) dns_name names the port's addresses.
 */
import type { Converter, Validator } from './attributes.js';

/** neutron-lib's DNS_DOMAIN_DEFAULT. */
const DNS_DOMAIN_DEFAULT = 'openstacklocal.';
const KEYWORDS = ['project_id', 'project_name', 'user_name', 'user_id'];
const LABEL = new RegExp(`^([a-z0-9-]{1,63}|${KEYWORDS.map((k) => `<${k}>`).join('|')})$`);
/** db_constants.FQDN_FIELD_SIZE */
const FQDN_MAX = 255;

let configured = 'openstacklocal';
/**
 * What the two functions below answer, worked out when the domain is set: a port list asks both
 * for every port it renders (dns_name, dns_domain, dns_assignment), 6,000 times for 2,000 ports,
 * and making `${configured}.` each time was 1–2 % of a list's CPU (issue 17's profile).
 */
let withDot = dotted(configured);
let namesEnabled = enabled(withDot);

function dotted(domain: string): string {
  if (!domain) return '';
  return domain.endsWith('.') ? domain : `${domain}.`;
}

function enabled(domain: string): boolean {
  return domain !== '' && domain !== DNS_DOMAIN_DEFAULT;
}

/** neutron.conf's dns_domain, set once at start-up. */
export function configureDnsDomain(domain: string): void {
  configured = domain;
  withDot = dotted(domain);
  namesEnabled = enabled(withDot);
}

/** The configured domain with its trailing dot ('' when none). */
export function dnsDomainConfig(): string {
  return withDot;
}

/** Is dns_name taken into account (a domain other than Neutron's default is configured)? */
export function dnsNamesEnabled(): boolean {
  return namesEnabled;
}

/** convert_string_to_case_insensitive. */
export const lowerCase: Converter = (v) => (typeof v === 'string' ? v.toLowerCase() : v);

const notString = (v: unknown) => `'${String(v)}' is not a valid string`;

/** _validate_dns_format: RFC 1123 labels, with the keywords dns_domain_keywords allows. */
function dnsFormat(data: string, max = FQDN_MAX): string | undefined {
  if (!data) return undefined;
  const fail = (reason: string) => `'${data}' not a valid PQDN or FQDN. Reason: ${reason}`;
  const trimmed = data.endsWith('.') ? data.slice(0, -1) : data;
  if (trimmed.length > max) return fail(`'${trimmed}' exceeds the ${max} character FQDN limit`);
  const labels = trimmed.split('.');
  for (const label of labels) {
    if (!label) return fail('Encountered an empty component');
    if (label.startsWith('-') || label.endsWith('-')) return fail(`Name '${label}' must not start or end with a hyphen`);
    if (!LABEL.test(label)) return fail(`Name '${label}' must be 1-63 characters long, each of which can only be alphanumeric or a hyphen`);
  }
  if (labels.length > 1 && /^[0-9]+$/.test(labels[labels.length - 1])) return fail(`TLD '${labels[labels.length - 1]}' must not be all numeric`);
  return undefined;
}

/** type:dns_domain_name. */
export const dnsDomain: Validator = (v) => {
  if (typeof v !== 'string') return notString(v);
  if (!v) return undefined;
  if (!v.endsWith('.')) return `'${v}' is not a FQDN`;
  const msg = dnsFormat(v);
  if (msg) return msg;
  if (v.length > FQDN_MAX - 2) {
    return `'${v}' contains ${v.length} characters. Adding a sub-domain will cause it to exceed the maximum length of a FQDN of '${FQDN_MAX}'`;
  }
  return undefined;
};

/** type:dns_host_name (validate_dns_name): a name a port's addresses are known by. */
export const dnsHostName: Validator = (v) => {
  if (typeof v !== 'string') return notString(v);
  const msg = dnsFormat(v);
  if (msg) return msg;
  if (!v || !dnsNamesEnabled()) return undefined;
  const domain = dnsDomainConfig();
  const higher = domain ? `.${domain}` : '';
  if (!v.endsWith('.')) {
    if (v.length + higher.length > FQDN_MAX) {
      return `The dns_name passed is a PQDN and its size is '${v.length}'. The dns_domain option in neutron.conf is set to ${configured}, with a length of '${higher.length}'. When the two are concatenated to form a FQDN (with a '.' at the end), the resulting length exceeds the maximum size of '${FQDN_MAX}'`;
    }
    return undefined;
  }
  if (v.length <= higher.length || !v.endsWith(higher)) {
    return `The dns_name passed is a FQDN. Its higher level labels must be equal to the dns_domain option in neutron.conf, that has been set to '${configured}'. It must also include one or more valid DNS labels to the left of '${configured}'`;
  }
  return undefined;
};

/** type:fip_dns_host_name. */
export const fipDnsHostName: Validator = (v) => {
  if (typeof v !== 'string') return notString(v);
  if (!v) return undefined;
  if (v.endsWith('.')) return `'${v}' is a FQDN. It should be a relative domain name`;
  const msg = dnsFormat(v);
  if (msg) return msg;
  if (v.length > FQDN_MAX - 3) {
    return `'${v}' contains ${v.length} characters. Adding a domain name will cause it to exceed the maximum length of a FQDN of '${FQDN_MAX}'`;
  }
  return undefined;
};

export interface DnsAssignment {
  ip_address: string;
  hostname: string;
  fqdn: string;
}

/** ML2's _get_dns_names_for_port: each address's hostname and FQDN. */
export function dnsAssignment(ips: ReadonlyArray<{ ip_address: string }>, dnsName: string, currentDomain = ''): DnsAssignment[] {
  let domain = dnsDomainConfig();
  let name = '';
  if (dnsNamesEnabled()) {
    name = dnsName;
    if (currentDomain) domain = currentDomain;
  }
  return ips.map((ip) => {
    if (name) return { ip_address: ip.ip_address, hostname: name, fqdn: name.endsWith('.') ? name : `${name}.${domain}` };
    const hostname = `host-${ip.ip_address.replace(/[.:]/g, '-')}`;
    return { ip_address: ip.ip_address, hostname, fqdn: domain ? `${hostname}.${domain}` : hostname };
  });
}
