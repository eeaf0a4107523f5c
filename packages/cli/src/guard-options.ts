import type { Command } from "commander";
import { parseMaxChanges, ProtectedAccounts, type MaxChanges } from "@mfactl/core";
import type { CommandContext } from "./context.js";

/** The guard rails every changing command takes. */
export function addGuardOptions(cmd: Command, what: "selection" | "run" = "selection"): Command {
  const without = what === "selection" ? "without it they are left out of filter and group selections and refused when named" : "without it a run that would change one is refused";
  return cmd
    .option("--include-protected", `change protected accounts too (the profile's protectedAccounts, directory synchronisation accounts): ${without}`)
    .option("--max-changes <n|p%>", "refuse the run, changing nothing, when it would change more users than this (default: the profile's maxChanges)");
}

export interface GuardFlags {
  includeProtected?: boolean;
  maxChanges?: string;
}

export interface Guards {
  includeProtected: boolean;
  maxChanges: { cap: MaxChanges; source: string } | undefined;
  protectedList: string[];
  protectedAccounts: ProtectedAccounts;
}

export function pickGuards(flags: GuardFlags, ctx: CommandContext): Guards {
  const extras = ctx.profileExtras();
  const maxChanges =
    flags.maxChanges !== undefined
      ? { cap: parseMaxChanges(flags.maxChanges, "--max-changes"), source: "--max-changes" }
      : extras.maxChanges !== undefined
        ? { cap: parseMaxChanges(extras.maxChanges, "the profile's maxChanges"), source: "the profile's maxChanges" }
        : undefined;
  const protectedList = extras.protectedAccounts ?? [];
  return { includeProtected: flags.includeProtected === true, maxChanges, protectedList, protectedAccounts: new ProtectedAccounts(protectedList) };
}
