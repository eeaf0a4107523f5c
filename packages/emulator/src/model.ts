/** The directory the emulator serves: tenants and their users, plain objects for memory. */
import type { PerUserMfaState } from "./options.js";

export interface UserRecord {
  id: string;
  userPrincipalName: string;
  displayName: string;
  givenName: string | null;
  surname: string | null;
  userType: "Member" | "Guest";
  accountEnabled: boolean;
  /** Licensed users carry LICENSE_SKUS as assignedLicenses (shared, never mutated). */
  licensed: boolean;
  mail: string | null;
  /** Registered authentication methods (shared arrays; replace, never mutate). */
  methods: readonly string[];
  perUserMfaState: PerUserMfaState;
  /** Graph PATCHes of the per-user MFA state received for this user. */
  patchCount: number;
}

export interface Tenant {
  id: string;
  domain: string;
  displayName: string;
  users: UserRecord[];
  /** Keyed by lower-case id. */
  byId: Map<string, UserRecord>;
  /** Keyed by lower-case UPN. */
  byUpn: Map<string, UserRecord>;
}

/** Microsoft 365 E3 and Enterprise Mobility + Security E3 sku ids. */
export const LICENSE_SKUS: readonly string[] = ["05e9a617-0261-4cee-bb44-138d3ef5d965", "efccb6f7-5641-4e0e-bd10-b4976e1bf68e"];

export function findUser(tenant: Tenant, ref: string): UserRecord | undefined {
  const key = ref.toLowerCase();
  return tenant.byId.get(key) ?? tenant.byUpn.get(key);
}

/**
 * The reference's state rule: a user with a registered method cannot stay `enabled`;
 * setting `enabled` (or registering while `enabled`) reads back as `enforced`.
 */
export function effectiveState(requested: PerUserMfaState, methods: readonly string[]): PerUserMfaState {
  return requested === "enabled" && methods.length > 0 ? "enforced" : requested;
}
