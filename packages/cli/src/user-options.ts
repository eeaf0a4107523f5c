import { Option, type Command } from "commander";
import { parseUserId, parseUserRef, UsageError } from "@mfactl/core";

/** The user and tenant options shared by get and set, with the CIPP cmdlet's names as aliases. */
export function addTargetOptions(cmd: Command): Command {
  return cmd
    .option("-t, --tenant <tenant>", "tenant id (GUID) or domain, e.g. contoso.onmicrosoft.com")
    .addOption(new Option("--customer-tenant-id <tenant>", "same as --tenant (the CIPP cmdlet's name)"))
    .option("-u, --user <user>", "user principal name or object id (guests: ...#EXT#@...)")
    .addOption(new Option("--user-principal-name <upn>", "the user's principal name (the cmdlet's -UserPrincipalName)"))
    .addOption(new Option("--user-id <guid>", "the user's object id, a GUID (the cmdlet's -UserId)"));
}

export interface TargetFlags {
  tenant?: string;
  customerTenantId?: string;
  user?: string;
  userPrincipalName?: string;
  userId?: string;
}

/** Exactly one user option; one tenant (flag, alias, or the profile's default). */
export function pickTarget(flags: TargetFlags, defaultTenant: () => string | undefined): { tenant: string; user: string } {
  if (flags.tenant && flags.customerTenantId && flags.tenant.toLowerCase() !== flags.customerTenantId.toLowerCase()) {
    throw new UsageError("--tenant and --customer-tenant-id name different tenants: give one.");
  }
  const users = [
    flags.user !== undefined ? "--user" : undefined,
    flags.userPrincipalName !== undefined ? "--user-principal-name" : undefined,
    flags.userId !== undefined ? "--user-id" : undefined,
  ].filter(Boolean);
  if (users.length === 0) throw new UsageError("Which user? Give --user <upn|id> (or --user-principal-name, --user-id).");
  if (users.length > 1) throw new UsageError(`Give one of ${users.join(", ")}, not several.`);

  let user: string;
  if (flags.userId !== undefined) {
    parseUserId(flags.userId);
    user = flags.userId.trim();
  } else if (flags.userPrincipalName !== undefined) {
    const ref = parseUserRef(flags.userPrincipalName);
    if (ref.kind !== "upn") throw new UsageError(`--user-principal-name ${JSON.stringify(flags.userPrincipalName)} is an object id: use --user-id or --user.`);
    user = ref.userPrincipalName;
  } else {
    user = flags.user!;
  }
  // Only now consult settings: a bad user option must not be hidden by a settings problem.
  const tenant = flags.tenant ?? flags.customerTenantId ?? defaultTenant();
  if (!tenant) throw new UsageError("Which tenant? Give --tenant <id|domain> (or set tenant in the profile or MFACTL_TENANT).");
  return { tenant, user };
}
