import { Command, Option } from "commander";
import { adminConsentUrl, parseTenantRef, tenantRefToString, UsageError } from "@mfactl/core";
import type { CommandContext } from "../context.js";
import { EXIT } from "../exit-codes.js";
import { renderJson } from "../output.js";
import { ENV_VARS, loadProfile, MICROSOFT_AUTHORITY_HOST } from "../settings.js";
import { partnerProfile } from "./tenants.js";
import type { CommandRunner } from "./types.js";

interface ConsentFlags {
  tenant?: string;
  redirectUri?: string;
  output: "text" | "json";
}

/** The client id and authority host without a credential: printing a link needs no secret. */
export function appIdentity(ctx: CommandContext): { clientId: string; authorityHost: string } {
  const profile = loadProfile({ config: ctx.globals.config, profile: ctx.globals.profile }, ctx.io.env).settings;
  const clientId = ctx.globals.clientId ?? (ctx.io.env[ENV_VARS.clientId] || undefined) ?? profile.clientId;
  if (!clientId) throw new UsageError("No client id: set --client-id, MFACTL_CLIENT_ID or clientId in a profile (see docs/setup.md).");
  const authorityHost = (ctx.globals.authorityHost ?? (ctx.io.env[ENV_VARS.authorityHost] || undefined) ?? profile.authorityHost ?? MICROSOFT_AUTHORITY_HOST).replace(/\/+$/, "");
  if (!/^https:\/\//i.test(authorityHost) || !URL.canParse(authorityHost)) throw new UsageError("Invalid authority host: expected an https:// URL.");
  return { clientId, authorityHost };
}

export function consentUrlFor(ctx: CommandContext, tenant: string, redirectUri?: string): string {
  const { clientId, authorityHost } = appIdentity(ctx);
  return adminConsentUrl({ authorityHost, tenant, clientId, redirectUri: redirectUri ?? partnerProfile(ctx).consentRedirectUri });
}

export function consentUrlCommand(run: CommandRunner): Command {
  return new Command("consent-url")
    .summary("print the admin-consent link that grants mfactl's app its permissions in a customer tenant")
    .description(
      "Print <authorityHost>/<tenant>/adminconsent?client_id=<app>&redirect_uri=<uri> for a customer tenant: a Global " +
        "Administrator of that tenant opens it, signs in and accepts; the app's application permissions are then consented " +
        "there. Sends nothing, needs no secret.",
    )
    .option("-t, --tenant <tenant>", "the customer tenant, id or domain (default: the profile's tenant)")
    .option("--redirect-uri <uri>", "where Entra sends the administrator afterwards (default: the profile's consentRedirectUri, else https://login.microsoftonline.com/common/oauth2/nativeclient); must be registered on the app")
    .addOption(new Option("-o, --output <format>", "output format").choices(["text", "json"]).default("text"))
    .addHelpText("after", "\nExamples:\n  $ mfactl consent-url --tenant contoso.onmicrosoft.com\nExit codes: 0 printed, 2 bad usage (a tenant that is not an id or a domain, no client id).\nDocs: docs/commands/consent-url.md")
    .action((flags: ConsentFlags) =>
      run(async (ctx) => {
        const given = flags.tenant ?? ctx.globals.tenant ?? (ctx.io.env[ENV_VARS.tenant] || undefined) ?? loadProfile({ config: ctx.globals.config, profile: ctx.globals.profile }, ctx.io.env).settings.tenant;
        if (!given) throw new UsageError("Which tenant? Give --tenant <tenant id or domain>.");
        const tenant = tenantRefToString(parseTenantRef(given));
        const url = consentUrlFor(ctx, tenant, flags.redirectUri);
        ctx.out.write(flags.output === "json" ? renderJson({ tenant, clientId: appIdentity(ctx).clientId, url }) : `${url}\n`);
        return EXIT.ok;
      }),
    );
}
