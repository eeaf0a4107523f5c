import { z } from "zod";
import { UsageError } from "./errors.js";

/** The states mfactl may write. */
export const MFA_STATES = ["disabled", "enabled", "enforced"] as const;
export type MfaState = (typeof MFA_STATES)[number];

/** What a read may return: Graph's `unknownFutureValue` (or anything new) is read as `unknown`. */
export type MfaStateRead = MfaState | "unknown";
export const MFA_STATES_READ = [...MFA_STATES, "unknown"] as const;

export function isMfaState(value: unknown): value is MfaState {
  return typeof value === "string" && (MFA_STATES as readonly string[]).includes(value);
}

/** Parse user input case-insensitively ("Enabled" as the CIPP cmdlet writes it). */
export function parseMfaState(input: string): MfaState {
  const normalized = input.trim().toLowerCase();
  if (isMfaState(normalized)) return normalized;
  throw new UsageError(`Invalid state ${JSON.stringify(input)}: expected one of ${MFA_STATES.join(", ")}.`);
}

/** Zod schema for a state given as input: case-insensitive, only the three writable values. */
export const MfaStateInputSchema = z
  .string()
  .transform((value, ctx) => {
    const normalized = value.trim().toLowerCase();
    if (isMfaState(normalized)) return normalized;
    ctx.addIssue({
      code: "custom",
      message: `Invalid state ${JSON.stringify(value)}: expected one of ${MFA_STATES.join(", ")}.`,
    });
    return z.NEVER;
  })
  .describe(`Per-user MFA state: ${MFA_STATES.join(" | ")} (case-insensitive)`);

export const MfaStateSchema = z.enum(MFA_STATES);
export const MfaStateReadSchema = z.enum(MFA_STATES_READ);

/** Read a state from Graph: anything but the three known values is `unknown`. */
export function readMfaState(wire: unknown): MfaStateRead {
  return isMfaState(wire) ? wire : "unknown";
}

/**
 * Whether the observed state satisfies the requested one. A user asked to be `enabled` who
 * has registered a method reads back `enforced`: Entra moved them on, the request is met.
 */
export function satisfies(observed: MfaStateRead, requested: MfaState): boolean {
  return observed === requested || (requested === "enabled" && observed === "enforced");
}
