import { z } from "zod";
import { UsageError } from "./errors.js";

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// A DNS name with at least one dot, labels of letters, digits and hyphens.
const DOMAIN = /^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$/i;
// UPN: local part (guests carry `#EXT#`), one `@`, a domain. Graph allows these characters in the local part.
const UPN_LOCAL = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]{1,113}$/;

export function isGuid(value: string): boolean {
  return GUID.test(value);
}

export type UserRef = { kind: "id"; id: string } | { kind: "upn"; userPrincipalName: string };
export type TenantRef = { kind: "id"; id: string } | { kind: "domain"; domain: string };

const USER_ACCEPTED = "an object id (GUID) or a user principal name such as adele@contoso.com";
const TENANT_ACCEPTED = "a tenant id (GUID) or a domain such as contoso.onmicrosoft.com";

/** Why `value` is not a user reference, or undefined when it is one. */
export function userRefProblem(value: string): string | undefined {
  const v = value.trim();
  if (v === "") return `Invalid user "": expected ${USER_ACCEPTED}.`;
  if (isGuid(v)) return undefined;
  const at = v.lastIndexOf("@");
  if (at <= 0) {
    if (/^[0-9a-f-]{30,40}$/i.test(v)) return `Invalid user ${JSON.stringify(value)}: not a well-formed GUID; expected ${USER_ACCEPTED}.`;
    return `Invalid user ${JSON.stringify(value)}: expected ${USER_ACCEPTED}.`;
  }
  const local = v.slice(0, at);
  const domain = v.slice(at + 1);
  if (!UPN_LOCAL.test(local) || !DOMAIN.test(domain)) return `Invalid user ${JSON.stringify(value)}: expected ${USER_ACCEPTED}.`;
  return undefined;
}

export function parseUserRef(value: string): UserRef {
  const problem = userRefProblem(value);
  if (problem) throw new UsageError(problem);
  const v = value.trim();
  return isGuid(v) ? { kind: "id", id: v.toLowerCase() } : { kind: "upn", userPrincipalName: v };
}

/** A user object id given where only a GUID is accepted (the cmdlet's `-UserId`). */
export function parseUserId(value: string): UserRef {
  const v = value.trim();
  if (!isGuid(v)) throw new UsageError(`Invalid user id ${JSON.stringify(value)}: expected an object id (GUID) such as 8f2c6a1e-3b4d-4c5e-9f60-718293a4b5c6.`);
  return { kind: "id", id: v.toLowerCase() };
}

export function tenantRefProblem(value: string): string | undefined {
  const v = value.trim();
  if (isGuid(v) || DOMAIN.test(v)) return undefined;
  if (/^[0-9a-f-]{30,40}$/i.test(v)) return `Invalid tenant ${JSON.stringify(value)}: not a well-formed GUID; expected ${TENANT_ACCEPTED}.`;
  return `Invalid tenant ${JSON.stringify(value)}: expected ${TENANT_ACCEPTED}.`;
}

export function parseTenantRef(value: string): TenantRef {
  const problem = tenantRefProblem(value);
  if (problem) throw new UsageError(problem);
  const v = value.trim();
  return isGuid(v) ? { kind: "id", id: v.toLowerCase() } : { kind: "domain", domain: v.toLowerCase() };
}

export function userRefToString(ref: UserRef): string {
  return ref.kind === "id" ? ref.id : ref.userPrincipalName;
}

export function tenantRefToString(ref: TenantRef): string {
  return ref.kind === "id" ? ref.id : ref.domain;
}

/** Zod schemas: strings validated with the same rules, kept as canonical strings. */
export const UserRefSchema = z
  .string()
  .superRefine((v, ctx) => {
    const problem = userRefProblem(v);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  })
  .transform((v) => userRefToString(parseUserRef(v)))
  .describe(`User: ${USER_ACCEPTED}`);

export const TenantRefSchema = z
  .string()
  .superRefine((v, ctx) => {
    const problem = tenantRefProblem(v);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  })
  .transform((v) => tenantRefToString(parseTenantRef(v)))
  .describe(`Tenant: ${TENANT_ACCEPTED}`);

/**
 * The path segment addressing a user in Graph. Object ids go as they are; UPNs are
 * percent-encoded (guests' `#EXT#`) and use the `users('...')` form when they start with `$`.
 */
export function userPathSegment(ref: UserRef): string {
  if (ref.kind === "id") return `users/${ref.id}`;
  const upn = ref.userPrincipalName;
  if (upn.startsWith("$")) return `users('${encodeURIComponent(upn.replaceAll("'", "''"))}')`;
  return `users/${encodeURIComponent(upn)}`;
}
