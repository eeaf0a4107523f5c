import { userPathSegment, type UserRef } from "../domain/references.js";

/** The per-user MFA endpoint exists only in Graph beta. */
export function requirementsPath(userId: string): string {
  return `/beta/${userPathSegment({ kind: "id", id: userId })}/authentication/requirements`;
}

export function userPath(ref: UserRef): string {
  return `/v1.0/${userPathSegment(ref)}`;
}
