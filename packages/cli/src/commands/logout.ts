import { Command } from "commander";
import { AuthError, UsageError, type StoredAccount } from "@mfactl/core";
import type { CommandContext } from "../context.js";
import { EXIT } from "../exit-codes.js";
import type { CommandRunner } from "./types.js";

interface LogoutFlags {
  all?: boolean;
}

export function logoutCommand(run: CommandRunner): Command {
  return new Command("logout")
    .summary("remove the signed-in accounts' tokens (--all: the whole token store, stored app secrets too)")
    .description("Remove the tokens `mfactl login` kept: every signed-in account's access and refresh tokens. Stored app secrets stay unless --all is given, which deletes the token store file.")
    .option("--all", "delete the token store file: tokens and stored app secrets")
    .addHelpText("after", `
Exit codes: 0 removed (or nothing to remove), 2 bad usage.
Docs: docs/commands/logout.md`)
    .action((flags: LogoutFlags) => run((ctx) => Promise.resolve(logout(ctx, flags))));
}

function accountLines(partner: StoredAccount | undefined, tenants: Record<string, StoredAccount>): string[] {
  return [
    ...(partner ? [`${partner.userPrincipalName} (partner, GDAP)`] : []),
    ...Object.entries(tenants).map(([tenant, a]) => `${a.userPrincipalName} (tenant ${tenant})`),
  ];
}

function logout(ctx: CommandContext, flags: LogoutFlags): 0 {
  const store = ctx.tokenStore();
  if (!store.exists()) {
    ctx.out.write(`Nothing to remove: there is no token store at ${store.path}.\n`);
    return EXIT.ok;
  }
  if (flags.all) {
    let held: string;
    try {
      const content = store.read();
      const accounts = accountLines(content.partner, content.tenants);
      const secrets = Object.keys(content.secrets).length;
      held = [accounts.length ? `the tokens of ${accounts.join(", ")}` : "no signed-in account", `${secrets} stored app secret${secrets === 1 ? "" : "s"}`].join(" and ");
    } catch (error) {
      // A store this key cannot open is removed all the same: that is the way out of a lost key.
      if (!(error instanceof UsageError || error instanceof AuthError)) throw error;
      held = "contents that this key cannot decrypt";
    }
    store.remove();
    ctx.out.write(`Removed the token store ${store.path} (${held}).\n`);
    return EXIT.ok;
  }
  const content = store.read();
  const accounts = accountLines(content.partner, content.tenants);
  if (accounts.length === 0 && content.msalCache === "") {
    ctx.out.write("No one is signed in; nothing removed.\n");
    return EXIT.ok;
  }
  const secrets = Object.keys(content.secrets).length;
  if (secrets === 0) store.remove();
  else
    store.update((c) => {
      delete c.partner;
      c.tenants = {};
      c.msalCache = "";
    });
  ctx.out.write(`Signed out ${accounts.length ? accounts.join(", ") : "(no named account)"}: their tokens were removed from ${store.path}.${secrets ? ` ${secrets} stored app secret${secrets === 1 ? " stays" : "s stay"} (mfactl logout --all removes ${secrets === 1 ? "it" : "them"}).` : ""}\n`);
  return EXIT.ok;
}
