/** @mfactl/emulator: a local stand-in for the parts of Entra ID and Microsoft Graph that mfactl uses. */
export { startEmulator, type RunningEmulator } from "./emulator.js";
export { runEmulatorCli, USAGE, type CliIo } from "./cli.js";
export {
  DEFAULT_THROTTLE_LIMITS,
  FAULT_KINDS,
  InvalidOptionError,
  type CippWeaknesses,
  type ConfigPatch,
  type EmulatorClock,
  type EmulatorOptions,
  type FaultKind,
  type PartnerOptions,
  type PerUserMfaState,
  type RuntimeConfig,
  type ThrottleLimits,
} from "./options.js";
export {
  NotFoundError,
  type AdminGroupView,
  type ApiAppInfo,
  type ApiCallers,
  type ClientCredentials,
  type DashboardAppInfo,
  type UserRoleAssignmentView,
  type MintedToken,
  type MintTokenRequest,
  type AdminRoleAssignmentView,
  type AdminUserPatch,
  type AdminUserState,
  type AppCredentials,
  type AdminUserView,
  type EmulatorAdmin,
  type GroupMembersRequest,
  type GroupRequest,
  type RoleRequest,
  type SeedRequest,
  type DeviceCodeApproval,
  type RelationshipPatch,
  type TenantPosture,
  type TenantSummary,
} from "./admin.js";
export type { AuthenticationStrength, ConditionalAccessPolicy, ConditionalAccessPolicyState } from "./model.js";
export type { AccessTokenVersion, AppRegistration, RedirectUris } from "./apps.js";
export type { SigningKeyRotation, SigningKeyView } from "./tokens.js";
export { CIPP_API_ROLE, type CippInfo } from "./cipp-apps.js";
export type { FaultRule } from "./faults.js";
export type { EmulatorStats } from "./state.js";
export { budgetSeconds, ceiling, requestCostOf, requestDemand, type BudgetTime, type Ceiling, type TenantDemand } from "./ceiling.js";
export type { GdapRelationship, GdapStatus, PartnerInfo, PlantedTenants, TenantRef } from "./partner.js";
export { AUTHENTICATION_POLICY_ADMINISTRATOR, GLOBAL_READER, PARTNER_DELEGATED_SCOPES } from "./partner.js";
