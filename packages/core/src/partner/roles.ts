/**
 * GDAP roles (Entra built-in role template ids) and the access they give mfactl in a customer tenant.
 * Writing per-user MFA needs Authentication Policy Administrator or higher; reading needs a role that reads users.
 */
export const GDAP_ROLE_IDS = {
  globalAdministrator: "62e90394-69f5-4237-9190-012177145e10",
  privilegedAuthenticationAdministrator: "7be44c8a-adaf-4e2a-84d6-ab2649e08a13",
  authenticationPolicyAdministrator: "0526716b-113d-4c15-b2c8-68e3c22b9f80",
  globalReader: "f2ef992c-3afb-46b9-b7cf-a126ee74c451",
  userAdministrator: "fe930be7-5e62-47db-91af-98c3a49a38b1",
  authenticationAdministrator: "c4e39bd9-1100-46d3-8c65-fb160da0071f",
  securityAdministrator: "194ae4cb-b126-40b2-bd5b-6091b380977d",
  securityReader: "5d6b6bb7-de71-4623-b4af-96380a352509",
  helpdeskAdministrator: "729827e3-9c14-49f7-bb1b-9608f156bbb8",
  directoryReaders: "88d8e3e3-8f55-4a1e-953a-9b9898b8876b",
} as const;

const NAMES: Record<string, string> = {
  [GDAP_ROLE_IDS.globalAdministrator]: "Global Administrator",
  [GDAP_ROLE_IDS.privilegedAuthenticationAdministrator]: "Privileged Authentication Administrator",
  [GDAP_ROLE_IDS.authenticationPolicyAdministrator]: "Authentication Policy Administrator",
  [GDAP_ROLE_IDS.globalReader]: "Global Reader",
  [GDAP_ROLE_IDS.userAdministrator]: "User Administrator",
  [GDAP_ROLE_IDS.authenticationAdministrator]: "Authentication Administrator",
  [GDAP_ROLE_IDS.securityAdministrator]: "Security Administrator",
  [GDAP_ROLE_IDS.securityReader]: "Security Reader",
  [GDAP_ROLE_IDS.helpdeskAdministrator]: "Helpdesk Administrator",
  [GDAP_ROLE_IDS.directoryReaders]: "Directory Readers",
  "e8611ab8-c189-46e8-94e1-60213ab1f814": "Privileged Role Administrator",
  "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9": "Conditional Access Administrator",
  "29232cdf-9323-42fd-ade2-1d097af3e4de": "Exchange Administrator",
  "f28a1f50-f6e7-4571-818b-6a12f2af6b6c": "SharePoint Administrator",
  "b0f54661-2d74-4c50-afa3-1ec803f12efe": "Billing Administrator",
  "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3": "Application Administrator",
  "158c047a-c907-4556-b7ef-446551a6b5f7": "Cloud Application Administrator",
  "4a5d8f65-41da-4de4-8968-e035b65339cf": "Reports Reader",
};

/** The role's name, or its id when mfactl does not know it. */
export function gdapRoleName(roleDefinitionId: string): string {
  return NAMES[roleDefinitionId.toLowerCase()] ?? roleDefinitionId;
}

/** Roles that may PATCH /users/{id}/authentication/requirements through GDAP. */
export const WRITE_ROLE_IDS: ReadonlySet<string> = new Set([
  GDAP_ROLE_IDS.globalAdministrator,
  GDAP_ROLE_IDS.privilegedAuthenticationAdministrator,
  GDAP_ROLE_IDS.authenticationPolicyAdministrator,
]);

/** Roles that read users and their per-user MFA state. */
export const READ_ROLE_IDS: ReadonlySet<string> = new Set([
  GDAP_ROLE_IDS.globalReader,
  GDAP_ROLE_IDS.userAdministrator,
  GDAP_ROLE_IDS.authenticationAdministrator,
  GDAP_ROLE_IDS.securityAdministrator,
  GDAP_ROLE_IDS.securityReader,
  GDAP_ROLE_IDS.helpdeskAdministrator,
  GDAP_ROLE_IDS.directoryReaders,
]);

/** What a GDAP relationship lets mfactl do in a customer tenant. */
export const GDAP_ACCESS = ["read+write", "read", "none", "no relationship"] as const;
export type GdapAccess = (typeof GDAP_ACCESS)[number];

/** The access the active relationships' roles give (role definition ids). */
export function gdapAccess(roleIds: readonly string[] | undefined): GdapAccess {
  if (roleIds === undefined) return "no relationship";
  const ids = roleIds.map((r) => r.toLowerCase());
  if (ids.some((r) => WRITE_ROLE_IDS.has(r))) return "read+write";
  if (ids.some((r) => READ_ROLE_IDS.has(r))) return "read";
  return "none";
}
