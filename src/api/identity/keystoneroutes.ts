import type { FastifyReply } from 'fastify';

/**
 * Keystone's own route table: every rule of its Flask app (keystone/api/*.py, Zed as Debian ships
 * it, read from `app.url_map` of a running Keystone) with the methods its resource class defines.
 * A Flask-RESTful resource answers every method its class has on every URL it is mounted at, so a
 * collection and its members share one set (`PUT /v3/users` is refused with `Allow: GET, HEAD,
 * POST, PATCH, DELETE, OPTIONS`). Werkzeug's 405 lists these, not what PocketStack routes.
 */
const KEYSTONE_RULES: ReadonlyArray<readonly [string, string]> = [
  ['/', 'GET HEAD OPTIONS'],
  ['/v3', 'GET HEAD OPTIONS'],
  ['/v3/OS-EP-FILTER/endpoint_groups', 'GET HEAD POST PATCH DELETE OPTIONS'],
  ['/v3/OS-EP-FILTER/endpoint_groups/:endpoint_group_id', 'GET HEAD POST PATCH DELETE OPTIONS'],
  ['/v3/OS-EP-FILTER/endpoint_groups/:endpoint_group_id/endpoints', 'GET HEAD OPTIONS'],
  ['/v3/OS-EP-FILTER/endpoint_groups/:endpoint_group_id/projects', 'GET HEAD OPTIONS'],
  ['/v3/OS-EP-FILTER/endpoint_groups/:endpoint_group_id/projects/:project_id', 'GET HEAD PUT DELETE OPTIONS'],
  ['/v3/OS-EP-FILTER/endpoints/:endpoint_id/projects', 'GET HEAD OPTIONS'],
  ['/v3/OS-EP-FILTER/projects/:project_id/endpoint_groups', 'GET HEAD OPTIONS'],
  ['/v3/OS-EP-FILTER/projects/:project_id/endpoints', 'GET HEAD OPTIONS'],
  ['/v3/OS-EP-FILTER/projects/:project_id/endpoints/:endpoint_id', 'GET HEAD PUT DELETE OPTIONS'],
  ['/v3/OS-FEDERATION/domains', 'GET HEAD OPTIONS'],
  ['/v3/OS-FEDERATION/identity_providers', 'GET HEAD PUT PATCH DELETE OPTIONS'],
  ['/v3/OS-FEDERATION/identity_providers/:idp_id', 'GET HEAD PUT PATCH DELETE OPTIONS'],
  ['/v3/OS-FEDERATION/identity_providers/:idp_id/protocols', 'GET HEAD OPTIONS'],
  ['/v3/OS-FEDERATION/identity_providers/:idp_id/protocols/:protocol_id', 'GET HEAD PUT PATCH DELETE OPTIONS'],
  ['/v3/OS-FEDERATION/identity_providers/:idp_id/protocols/:protocol_id/auth', 'GET HEAD POST OPTIONS'],
  ['/v3/OS-FEDERATION/mappings', 'GET HEAD PUT PATCH DELETE OPTIONS'],
  ['/v3/OS-FEDERATION/mappings/:mapping_id', 'GET HEAD PUT PATCH DELETE OPTIONS'],
  ['/v3/OS-FEDERATION/projects', 'GET HEAD OPTIONS'],
  ['/v3/OS-FEDERATION/saml2/metadata', 'GET HEAD OPTIONS'],
  ['/v3/OS-FEDERATION/service_providers', 'GET HEAD PUT PATCH DELETE OPTIONS'],
  ['/v3/OS-FEDERATION/service_providers/:sp_id', 'GET HEAD PUT PATCH DELETE OPTIONS'],
  ['/v3/OS-INHERIT/domains/:domain_id/groups/:group_id/roles/:role_id/inherited_to_projects', 'GET HEAD PUT DELETE OPTIONS'],
  ['/v3/OS-INHERIT/domains/:domain_id/groups/:group_id/roles/inherited_to_projects', 'GET HEAD OPTIONS'],
  ['/v3/OS-INHERIT/domains/:domain_id/users/:user_id/roles/:role_id/inherited_to_projects', 'GET HEAD PUT DELETE OPTIONS'],
  ['/v3/OS-INHERIT/domains/:domain_id/users/:user_id/roles/inherited_to_projects', 'GET HEAD OPTIONS'],
  ['/v3/OS-INHERIT/projects/:project_id/groups/:group_id/roles/:role_id/inherited_to_projects', 'GET HEAD PUT DELETE OPTIONS'],
  ['/v3/OS-INHERIT/projects/:project_id/users/:user_id/roles/:role_id/inherited_to_projects', 'GET HEAD PUT DELETE OPTIONS'],
  ['/v3/OS-OAUTH1/access_token', 'GET HEAD POST OPTIONS'],
  ['/v3/OS-OAUTH1/authorize/:request_token_id', 'GET HEAD PUT OPTIONS'],
  ['/v3/OS-OAUTH1/consumers', 'GET HEAD POST PATCH DELETE OPTIONS'],
  ['/v3/OS-OAUTH1/consumers/:consumer_id', 'GET HEAD POST PATCH DELETE OPTIONS'],
  ['/v3/OS-OAUTH1/request_token', 'GET HEAD POST OPTIONS'],
  ['/v3/OS-OAUTH2/token', 'GET HEAD POST PUT PATCH DELETE OPTIONS'],
  ['/v3/OS-REVOKE/events', 'GET HEAD OPTIONS'],
  ['/v3/OS-SIMPLE-CERT/ca', 'GET HEAD OPTIONS'],
  ['/v3/OS-SIMPLE-CERT/certificates', 'GET HEAD OPTIONS'],
  ['/v3/OS-TRUST/trusts', 'GET HEAD POST DELETE OPTIONS'],
  ['/v3/OS-TRUST/trusts/:trust_id', 'GET HEAD POST DELETE OPTIONS'],
  ['/v3/OS-TRUST/trusts/:trust_id/roles', 'GET HEAD OPTIONS'],
  ['/v3/OS-TRUST/trusts/:trust_id/roles/:role_id', 'GET HEAD OPTIONS'],
  ['/v3/auth/OS-FEDERATION/identity_providers/:idp_id/protocols/:protocol_id/websso', 'GET HEAD POST OPTIONS'],
  ['/v3/auth/OS-FEDERATION/saml2', 'GET HEAD POST OPTIONS'],
  ['/v3/auth/OS-FEDERATION/saml2/ecp', 'GET HEAD POST OPTIONS'],
  ['/v3/auth/OS-FEDERATION/websso/:protocol_id', 'GET HEAD POST OPTIONS'],
  ['/v3/auth/catalog', 'GET HEAD OPTIONS'],
  ['/v3/auth/domains', 'GET HEAD OPTIONS'],
  ['/v3/auth/projects', 'GET HEAD OPTIONS'],
  ['/v3/auth/system', 'GET HEAD OPTIONS'],
  ['/v3/auth/tokens', 'GET HEAD POST DELETE OPTIONS'],
  ['/v3/auth/tokens/OS-PKI/revoked', 'GET HEAD OPTIONS'],
  ['/v3/credentials', 'GET HEAD POST PATCH DELETE OPTIONS'],
  ['/v3/credentials/:credential_id', 'GET HEAD POST PATCH DELETE OPTIONS'],
  ['/v3/domains', 'GET HEAD POST PATCH DELETE OPTIONS'],
  ['/v3/domains/:domain_id', 'GET HEAD POST PATCH DELETE OPTIONS'],
  ['/v3/domains/:domain_id/config', 'GET HEAD PUT PATCH DELETE OPTIONS'],
  ['/v3/domains/:domain_id/config/:group', 'GET HEAD PATCH DELETE OPTIONS'],
  ['/v3/domains/:domain_id/config/:group/:option', 'GET HEAD PATCH DELETE OPTIONS'],
  ['/v3/domains/:domain_id/groups/:group_id/roles', 'GET HEAD OPTIONS'],
  ['/v3/domains/:domain_id/groups/:group_id/roles/:role_id', 'GET HEAD PUT DELETE OPTIONS'],
  ['/v3/domains/:domain_id/users/:user_id/roles', 'GET HEAD OPTIONS'],
  ['/v3/domains/:domain_id/users/:user_id/roles/:role_id', 'GET HEAD PUT DELETE OPTIONS'],
  ['/v3/domains/config/:group/:option/default', 'GET HEAD OPTIONS'],
  ['/v3/domains/config/:group/default', 'GET HEAD OPTIONS'],
  ['/v3/domains/config/default', 'GET HEAD OPTIONS'],
  ['/v3/ec2tokens', 'GET HEAD POST OPTIONS'],
  ['/v3/endpoints', 'GET HEAD POST PATCH DELETE OPTIONS'],
  ['/v3/endpoints/:endpoint_id', 'GET HEAD POST PATCH DELETE OPTIONS'],
  ['/v3/endpoints/:endpoint_id/OS-ENDPOINT-POLICY/policy', 'GET HEAD OPTIONS'],
  ['/v3/groups', 'GET HEAD POST PATCH DELETE OPTIONS'],
  ['/v3/groups/:group_id', 'GET HEAD POST PATCH DELETE OPTIONS'],
  ['/v3/groups/:group_id/users', 'GET HEAD OPTIONS'],
  ['/v3/groups/:group_id/users/:user_id', 'GET HEAD PUT DELETE OPTIONS'],
  ['/v3/limits', 'GET HEAD POST PATCH DELETE OPTIONS'],
  ['/v3/limits/:limit_id', 'GET HEAD POST PATCH DELETE OPTIONS'],
  ['/v3/limits/model', 'GET HEAD OPTIONS'],
  ['/v3/policies', 'GET HEAD POST PATCH DELETE OPTIONS'],
  ['/v3/policies/:policy_id', 'GET HEAD POST PATCH DELETE OPTIONS'],
  ['/v3/policies/:policy_id/OS-ENDPOINT-POLICY/endpoints', 'GET HEAD OPTIONS'],
  ['/v3/policies/:policy_id/OS-ENDPOINT-POLICY/endpoints/:endpoint_id', 'GET HEAD PUT DELETE OPTIONS'],
  ['/v3/policies/:policy_id/OS-ENDPOINT-POLICY/services/:service_id', 'GET HEAD PUT DELETE OPTIONS'],
  ['/v3/policies/:policy_id/OS-ENDPOINT-POLICY/services/:service_id/regions/:region_id', 'GET HEAD PUT DELETE OPTIONS'],
  ['/v3/projects', 'GET HEAD POST PATCH DELETE OPTIONS'],
  ['/v3/projects/:project_id', 'GET HEAD POST PATCH DELETE OPTIONS'],
  ['/v3/projects/:project_id/groups/:group_id/roles', 'GET HEAD OPTIONS'],
  ['/v3/projects/:project_id/groups/:group_id/roles/:role_id', 'GET HEAD PUT DELETE OPTIONS'],
  ['/v3/projects/:project_id/tags', 'GET HEAD PUT DELETE OPTIONS'],
  ['/v3/projects/:project_id/tags/:value', 'GET HEAD PUT DELETE OPTIONS'],
  ['/v3/projects/:project_id/users/:user_id/roles', 'GET HEAD OPTIONS'],
  ['/v3/projects/:project_id/users/:user_id/roles/:role_id', 'GET HEAD PUT DELETE OPTIONS'],
  ['/v3/regions', 'GET HEAD POST PUT PATCH DELETE OPTIONS'],
  ['/v3/regions/:region_id', 'GET HEAD POST PUT PATCH DELETE OPTIONS'],
  ['/v3/registered_limits', 'GET HEAD POST PATCH DELETE OPTIONS'],
  ['/v3/registered_limits/:registered_limit_id', 'GET HEAD POST PATCH DELETE OPTIONS'],
  ['/v3/role_assignments', 'GET HEAD OPTIONS'],
  ['/v3/role_inferences', 'GET HEAD OPTIONS'],
  ['/v3/roles', 'GET HEAD POST PATCH DELETE OPTIONS'],
  ['/v3/roles/:prior_role_id/implies', 'GET HEAD OPTIONS'],
  ['/v3/roles/:prior_role_id/implies/:implied_role_id', 'GET HEAD PUT DELETE OPTIONS'],
  ['/v3/roles/:role_id', 'GET HEAD POST PATCH DELETE OPTIONS'],
  ['/v3/s3tokens', 'GET HEAD POST OPTIONS'],
  ['/v3/services', 'GET HEAD POST PATCH DELETE OPTIONS'],
  ['/v3/services/:service_id', 'GET HEAD POST PATCH DELETE OPTIONS'],
  ['/v3/system/groups/:group_id/roles', 'GET HEAD OPTIONS'],
  ['/v3/system/groups/:group_id/roles/:role_id', 'GET HEAD PUT DELETE OPTIONS'],
  ['/v3/system/users/:user_id/roles', 'GET HEAD OPTIONS'],
  ['/v3/system/users/:user_id/roles/:role_id', 'GET HEAD PUT DELETE OPTIONS'],
  ['/v3/users', 'GET HEAD POST PATCH DELETE OPTIONS'],
  ['/v3/users/:user_id', 'GET HEAD POST PATCH DELETE OPTIONS'],
  ['/v3/users/:user_id/OS-OAUTH1/access_tokens', 'GET HEAD OPTIONS'],
  ['/v3/users/:user_id/OS-OAUTH1/access_tokens/:access_token_id', 'GET HEAD DELETE OPTIONS'],
  ['/v3/users/:user_id/OS-OAUTH1/access_tokens/:access_token_id/roles', 'GET HEAD OPTIONS'],
  ['/v3/users/:user_id/OS-OAUTH1/access_tokens/:access_token_id/roles/:role_id', 'GET HEAD OPTIONS'],
  ['/v3/users/:user_id/access_rules', 'GET HEAD OPTIONS'],
  ['/v3/users/:user_id/access_rules/:access_rule_id', 'GET HEAD DELETE OPTIONS'],
  ['/v3/users/:user_id/application_credentials', 'GET HEAD POST OPTIONS'],
  ['/v3/users/:user_id/application_credentials/:application_credential_id', 'GET HEAD DELETE OPTIONS'],
  ['/v3/users/:user_id/credentials/OS-EC2', 'GET HEAD POST OPTIONS'],
  ['/v3/users/:user_id/credentials/OS-EC2/:credential_id', 'GET HEAD DELETE OPTIONS'],
  ['/v3/users/:user_id/groups', 'GET HEAD OPTIONS'],
  ['/v3/users/:user_id/password', 'GET HEAD POST OPTIONS'],
  ['/v3/users/:user_id/projects', 'GET HEAD OPTIONS'],
];

/**
 * Resources whose `get` exists only to refuse itself (`MethodNotAllowed(valid_methods=['POST'])`:
 * EC2_S3_Resource.ResourceBase.get, UserChangePasswordResource.get): GET and HEAD say `Allow: POST`.
 */
const POST_ONLY = new Set(['/v3/s3tokens', '/v3/ec2tokens', '/v3/users/:user_id/password']);

const compiled = KEYSTONE_RULES.map(([path, methods]) => ({
  path,
  re: new RegExp(`^${path.replace(/[.]/g, '\\.').replace(/:[^/]+/g, '[^/]+')}/?$`),
  methods: methods.split(' '),
}));

/**
 * What Keystone's 405 (or OPTIONS) answers in `Allow` for `method` on a concrete path: the union of
 * the methods of every rule the path matches, as werkzeug's MapAdapter.match collects them; empty
 * when Keystone has no such path (its 404).
 */
export function keystoneAllow(method: string, path: string): string[] {
  const rules = compiled.filter((r) => r.re.test(path));
  if ((method === 'GET' || method === 'HEAD') && rules.some((r) => POST_ONLY.has(r.path))) return ['POST'];
  const out: string[] = [];
  for (const r of rules) for (const m of r.methods) if (!out.includes(m)) out.push(m);
  return out;
}

/** Werkzeug's 405 as Keystone sends it: `Allow`, and a body that is not Keystone's error envelope. */
export function methodNotAllowed(reply: FastifyReply, allow: readonly string[]): { message: string } {
  reply.header('allow', allow.join(', '));
  reply.status(405);
  return { message: 'The method is not allowed for the requested URL.' };
}
