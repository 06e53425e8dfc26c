import { forbiddenAction } from './errors.js';
import type { TokenInfo } from './model.js';

/** What a rule may look at besides the caller's token. */
export interface PolicyTarget {
  domainId?: string;
  projectId?: string;
  projectDomainId?: string;
  userId?: string;
  userDomainId?: string;
  /** The user of the token being validated or revoked. */
  tokenUserId?: string;
  groupDomainId?: string;
  /** The owner of a credential, application credential or access rule. */
  ownerId?: string;
  trustorId?: string;
  trusteeId?: string;
}

type Rule = (t: TokenInfo, x: PolicyTarget) => boolean;

const has = (t: TokenInfo, role: string) => t.roles.some((r) => r.name === role);
/** `rule:admin_required`: the admin role on whatever the token is scoped to (enforce_scope is off). */
export const isAdmin = (t: TokenInfo) => has(t, 'admin');
export const isSystemReader = (t: TokenInfo) => t.scope.kind === 'system' && has(t, 'reader');
const domainReader = (t: TokenInfo, domainId: string | undefined) =>
  domainId !== undefined && t.scope.kind === 'domain' && t.scope.domainId === domainId && has(t, 'reader');

const admin: Rule = (t) => isAdmin(t);
const isSystemAdmin = (t: TokenInfo) => t.scope.kind === 'system' && has(t, 'admin');
const adminOrOwner: Rule = (t, x) => isAdmin(t) || (!!x.ownerId && t.user.id === x.ownerId);
const readerOrOwner: Rule = (t, x) => adminOrSystemReader(t, x) || (!!x.ownerId && t.user.id === x.ownerId);
const groupReader: Rule = (t, x) => adminOrSystemReader(t, x) || domainReader(t, x.groupDomainId ?? x.domainId);
const trustParty = (t: TokenInfo, x: PolicyTarget) => t.user.id === x.trustorId || t.user.id === x.trusteeId;
const adminOrSystemReader: Rule = (t) => isAdmin(t) || isSystemReader(t);
const anyone: Rule = () => true;

/**
 * Keystone's (Zed) default policies, as in effect with `enforce_new_defaults = false`: each
 * rule is the new default OR the deprecated one, so `role:admin` on any scope passes the admin
 * API, and readers get what Keystone lets them read.
 */
const RULES: Record<string, Rule> = {
  'identity:get_domain': (t, x) =>
    adminOrSystemReader(t, x) || (x.domainId !== undefined && (t.domain?.id === x.domainId || t.project?.domain.id === x.domainId)),
  'identity:list_domains': adminOrSystemReader,
  'identity:create_domain': admin,
  'identity:update_domain': admin,
  'identity:delete_domain': admin,

  'identity:get_project': (t, x) => adminOrSystemReader(t, x) || domainReader(t, x.projectDomainId) || (!!x.projectId && t.project?.id === x.projectId),
  'identity:list_projects': (t, x) => adminOrSystemReader(t, x) || domainReader(t, x.domainId),
  'identity:list_user_projects': (t, x) => adminOrSystemReader(t, x) || domainReader(t, x.userDomainId) || t.user.id === x.userId,
  'identity:create_project': admin,
  'identity:update_project': admin,
  'identity:delete_project': admin,

  'identity:get_user': (t, x) => adminOrSystemReader(t, x) || domainReader(t, x.userDomainId) || t.user.id === x.userId,
  'identity:list_users': (t, x) => adminOrSystemReader(t, x) || domainReader(t, x.domainId),
  'identity:create_user': admin,
  'identity:update_user': admin,
  'identity:delete_user': admin,

  'identity:get_role': adminOrSystemReader,
  'identity:list_roles': adminOrSystemReader,
  'identity:create_role': admin,
  'identity:update_role': admin,
  'identity:delete_role': admin,
  'identity:get_implied_role': adminOrSystemReader,
  'identity:list_implied_roles': adminOrSystemReader,
  'identity:list_role_inference_rules': adminOrSystemReader,
  'identity:check_implied_role': adminOrSystemReader,
  'identity:create_implied_role': admin,
  'identity:delete_implied_role': admin,

  'identity:check_grant': (t, x) => adminOrSystemReader(t, x) || domainReader(t, x.domainId ?? x.projectDomainId),
  'identity:list_grants': (t, x) => adminOrSystemReader(t, x) || domainReader(t, x.domainId ?? x.projectDomainId),
  'identity:create_grant': admin,
  'identity:revoke_grant': admin,
  'identity:list_system_grants_for_user': adminOrSystemReader,
  'identity:check_system_grant_for_user': adminOrSystemReader,
  'identity:create_system_grant_for_user': admin,
  'identity:revoke_system_grant_for_user': admin,
  'identity:list_system_grants_for_group': adminOrSystemReader,
  'identity:check_system_grant_for_group': adminOrSystemReader,
  'identity:create_system_grant_for_group': admin,
  'identity:revoke_system_grant_for_group': admin,
  'identity:list_role_assignments': (t, x) => adminOrSystemReader(t, x) || domainReader(t, x.domainId),

  'identity:get_service': adminOrSystemReader,
  'identity:list_services': adminOrSystemReader,
  'identity:get_endpoint': adminOrSystemReader,
  'identity:list_endpoints': adminOrSystemReader,
  'identity:create_service': admin,
  'identity:update_service': admin,
  'identity:delete_service': admin,
  'identity:create_endpoint': admin,
  'identity:update_endpoint': admin,
  'identity:delete_endpoint': admin,
  'identity:create_region': admin,
  'identity:update_region': admin,
  'identity:delete_region': admin,
  'identity:get_region': anyone,
  'identity:list_regions': anyone,

  'identity:validate_token': (t, x) => adminOrSystemReader(t, x) || has(t, 'service') || t.user.id === x.tokenUserId,
  'identity:check_token': (t, x) => adminOrSystemReader(t, x) || t.user.id === x.tokenUserId,
  'identity:revoke_token': (t, x) => isAdmin(t) || t.user.id === x.tokenUserId,
  // Zed served /v3/s3tokens to anyone; Keystone since OSSA-2025-002 (bug 2119646, on its stable
  // branches too) asks `rule:service_or_admin`, so a presigned URL cannot be traded for a token.
  'identity:s3tokens_validate': (t) => isAdmin(t) || has(t, 'service'),
  // ec2tokens the same (keystone/common/policies/ec2tokens.py: "Align EC2 tokens API with S3
  // tokens"), where Zed's ec2tokens asked no token at all.
  'identity:ec2tokens_validate': (t) => isAdmin(t) || has(t, 'service'),

  'identity:get_group': groupReader,
  'identity:list_groups': groupReader,
  'identity:list_groups_for_user': (t, x) => adminOrSystemReader(t, x) || domainReader(t, x.userDomainId) || t.user.id === x.userId,
  'identity:list_users_in_group': groupReader,
  'identity:check_user_in_group': groupReader,
  'identity:create_group': admin,
  'identity:update_group': admin,
  'identity:delete_group': admin,
  'identity:add_user_to_group': admin,
  'identity:remove_user_from_group': admin,

  'identity:get_domain_role': adminOrSystemReader,
  'identity:list_domain_roles': adminOrSystemReader,
  'identity:create_domain_role': admin,
  'identity:update_domain_role': admin,
  'identity:delete_domain_role': admin,

  'identity:list_project_tags': (t, x) => adminOrSystemReader(t, x) || domainReader(t, x.projectDomainId) || (!!x.projectId && t.project?.id === x.projectId),
  'identity:get_project_tag': (t, x) => adminOrSystemReader(t, x) || domainReader(t, x.projectDomainId) || (!!x.projectId && t.project?.id === x.projectId),
  'identity:update_project_tags': admin,
  'identity:create_project_tag': admin,
  'identity:delete_project_tag': admin,
  'identity:delete_project_tags': admin,

  'identity:get_application_credential': readerOrOwner,
  'identity:list_application_credentials': readerOrOwner,
  'identity:create_application_credential': (t, x) => !!x.ownerId && t.user.id === x.ownerId,
  'identity:delete_application_credential': adminOrOwner,
  'identity:get_access_rule': (t, x) => isSystemReader(t) || (!!x.ownerId && t.user.id === x.ownerId),
  'identity:list_access_rules': (t, x) => isSystemReader(t) || (!!x.ownerId && t.user.id === x.ownerId),
  'identity:delete_access_rule': (t, x) => isSystemAdmin(t) || (!!x.ownerId && t.user.id === x.ownerId),

  'identity:get_credential': readerOrOwner,
  'identity:list_credentials': readerOrOwner,
  'identity:create_credential': adminOrOwner,
  'identity:update_credential': adminOrOwner,
  'identity:delete_credential': adminOrOwner,
  'identity:ec2_get_credential': readerOrOwner,
  'identity:ec2_list_credentials': adminOrOwner,
  'identity:ec2_create_credential': adminOrOwner,
  'identity:ec2_delete_credential': adminOrOwner,

  'identity:create_trust': (t, x) => t.user.id === x.trustorId,
  'identity:list_trusts': adminOrSystemReader,
  'identity:list_trusts_for_trustor': (t, x) => adminOrSystemReader(t, x) || t.user.id === x.trustorId,
  'identity:list_trusts_for_trustee': (t, x) => adminOrSystemReader(t, x) || t.user.id === x.trusteeId,
  'identity:get_trust': (t, x) => adminOrSystemReader(t, x) || trustParty(t, x),
  'identity:list_roles_for_trust': (t, x) => adminOrSystemReader(t, x) || trustParty(t, x),
  'identity:get_role_for_trust': (t, x) => adminOrSystemReader(t, x) || trustParty(t, x),
  'identity:delete_trust': (t, x) => isAdmin(t) || t.user.id === x.trustorId,

  'identity:list_endpoint_groups': adminOrSystemReader,
  'identity:get_endpoint_group': adminOrSystemReader,
  'identity:create_endpoint_group': admin,
  'identity:update_endpoint_group': admin,
  'identity:delete_endpoint_group': admin,
  'identity:list_projects_associated_with_endpoint_group': adminOrSystemReader,
  'identity:list_endpoints_associated_with_endpoint_group': adminOrSystemReader,
  'identity:get_endpoint_group_in_project': adminOrSystemReader,
  'identity:list_endpoint_groups_for_project': adminOrSystemReader,
  'identity:add_endpoint_group_to_project': admin,
  'identity:remove_endpoint_group_from_project': admin,
  'identity:list_projects_for_endpoint': adminOrSystemReader,
  'identity:add_endpoint_to_project': admin,
  'identity:check_endpoint_in_project': adminOrSystemReader,
  'identity:list_endpoints_for_project': adminOrSystemReader,
  'identity:remove_endpoint_from_project': admin,

  'identity:get_limit_model': anyone,
  'identity:get_limit': (t, x) =>
    adminOrSystemReader(t, x) || t.scope.kind === 'system' || (!!x.domainId && t.domain?.id === x.domainId) || (!!x.projectId && t.project?.id === x.projectId),
  'identity:list_limits': anyone,
  'identity:create_limits': admin,
  'identity:update_limit': admin,
  'identity:delete_limit': admin,
  'identity:get_registered_limit': anyone,
  'identity:list_registered_limits': anyone,
  'identity:create_registered_limits': admin,
  'identity:update_registered_limit': admin,
  'identity:delete_registered_limit': admin,

  'identity:get_identity_provider': adminOrSystemReader,
  'identity:list_identity_providers': adminOrSystemReader,
  'identity:create_identity_provider': admin,
  'identity:update_identity_provider': admin,
  'identity:delete_identity_provider': admin,
  'identity:get_protocol': adminOrSystemReader,
  'identity:list_protocols': adminOrSystemReader,
  'identity:create_protocol': admin,
  'identity:update_protocol': admin,
  'identity:delete_protocol': admin,
  'identity:get_mapping': adminOrSystemReader,
  'identity:list_mappings': adminOrSystemReader,
  'identity:create_mapping': admin,
  'identity:update_mapping': admin,
  'identity:delete_mapping': admin,
  'identity:get_service_provider': adminOrSystemReader,
  'identity:list_service_providers': adminOrSystemReader,
  'identity:create_service_provider': admin,
  'identity:update_service_provider': admin,
  'identity:delete_service_provider': admin,

  'identity:get_policy': adminOrSystemReader,
  'identity:list_policies': adminOrSystemReader,
  'identity:create_policy': admin,
  'identity:update_policy': admin,
  'identity:delete_policy': admin,

  'identity:get_consumer': admin,
  'identity:list_consumers': admin,
  'identity:create_consumer': admin,
  'identity:update_consumer': admin,
  'identity:delete_consumer': admin,
  'identity:authorize_request_token': admin,
  'identity:get_access_token': admin,
  'identity:get_access_token_role': admin,
  'identity:list_access_tokens': admin,
  'identity:list_access_token_roles': admin,
  'identity:delete_access_token': admin,

  'identity:get_domain_config': adminOrSystemReader,
  'identity:get_domain_config_default': adminOrSystemReader,
  'identity:create_domain_config': admin,
  'identity:update_domain_config': admin,
  'identity:delete_domain_config': admin,

  'identity:get_auth_catalog': anyone,
  'identity:get_auth_projects': anyone,
  'identity:get_auth_domains': anyone,
  'identity:get_auth_system': anyone,
};

/** Throw Keystone's 403 unless `action` is allowed for the token on `target`. */
export function enforce(action: string, token: TokenInfo, target: PolicyTarget = {}): void {
  const rule = RULES[action];
  if (!rule) throw new Error(`no policy rule for ${action}`);
  if (!rule(token, target)) throw forbiddenAction(action);
}

/** The domain a domain-scoped reader is confined to, when it is not admin or a system reader. */
export function readerDomain(t: TokenInfo): string | undefined {
  if (isAdmin(t) || isSystemReader(t)) return undefined;
  return t.scope.kind === 'domain' && has(t, 'reader') ? t.scope.domainId : undefined;
}
