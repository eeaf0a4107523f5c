import { Command } from "commander";
import { createFetch, loginWithDeviceCode, UsageError } from "@mfactl/core";
import type { CommandContext } from "../context.js";
import { EXIT } from "../exit-codes.js";
import { ENV_VARS } from "../settings.js";
import type { CommandRunner } from "./types.js";

interface LoginFlags {
  tenant?: string;
  partner?: boolean;
  storeSecret?: boolean;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function loginCommand(run: CommandRunner): Command {
  return new Command("login")
    .summary("sign in with a device code (a tenant administrator, or --partner for GDAP), tokens kept encrypted")
    .description(
      "Sign a person in with the device-code flow: open the URL printed on stderr and enter the code. " +
        "Without --partner, a tenant administrator signs in to their own tenant (access: delegated); with --partner, a partner " +
        "administrator whose sign-in reaches each GDAP customer (access: gdap). The tokens, refresh token included, are kept in the " +
        "encrypted token store and renewed as Entra rotates them.",
    )
    .option("--tenant <tenant>", "the tenant to sign in to (id or domain); with --partner, default the profile's partner.tenantId")
    .option("--partner", "sign in the partner (MSP) administrator for GDAP access to customer tenants")
    .option("--store-secret", `store the app's client secret (from ${ENV_VARS.clientSecret}) encrypted in the token store instead of signing in`)
    .addHelpText(
      "after",
      `
Examples:
  $ mfactl login --partner
  $ mfactl login --tenant contoso.onmicrosoft.com
  $ MFACTL_CLIENT_SECRET=... mfactl login --store-secret
Exit codes: 0 signed in, 1 the sign-in failed or was declined, 2 bad usage, 130 interrupted.
Docs: docs/commands/login.md, docs/msp.md`,
    )
    .action((flags: LoginFlags) => run((ctx) => login(ctx, flags)));
}

async function login(ctx: CommandContext, flags: LoginFlags): Promise<0 | 1 | 2> {
  const settings = ctx.publicClientSettings();
  const store = ctx.tokenStore();
  if (flags.storeSecret) {
    if (flags.partner || flags.tenant !== undefined) throw new UsageError("--store-secret stores the app secret only: give it without --partner and --tenant.");
    const secret = ctx.globals.clientSecret ?? ctx.io.env[ENV_VARS.clientSecret];
    if (!secret) throw new UsageError(`--store-secret stores the secret in ${ENV_VARS.clientSecret}: set it (it is never read from a flag's value in the process list).`);
    ctx.out.addSecrets([secret]);
    ctx.err.addSecrets([secret]);
    store.update((content) => {
      content.secrets[settings.clientId] = secret;
    });
    ctx.out.write(`Stored the client secret of app ${settings.clientId} encrypted in ${store.path} (key from ${store.keySource.description}); remove it from the profile and the environment.\n`);
    return EXIT.ok;
  }
  const partner = flags.partner === true;
  const partnerTenant = settings.access.partnerTenantId;
  const tenant = flags.tenant ?? (partner ? partnerTenant : undefined);
  if (!partner && tenant === undefined) throw new UsageError("Give --tenant <tenant> (the tenant the administrator signs in to), or --partner for GDAP.");
  const http = createFetch({ caPem: settings.caPem });
  try {
    const account = await loginWithDeviceCode({
      clientId: settings.clientId,
      authorityHost: settings.authorityHost,
      graphUrl: settings.graphUrl,
      fetch: http.fetch,
      store,
      tenant,
      partner,
      signal: ctx.io.signal,
      onMessage: (message) => ctx.err.write(`${message}\n`),
    });
    if (partner && partnerTenant && GUID.test(partnerTenant) && account.tenantId.toLowerCase() !== partnerTenant.toLowerCase()) {
      store.update((content) => {
        delete content.partner;
      });
      throw new UsageError(`${account.userPrincipalName} belongs to tenant ${account.tenantId}, not the profile's partner tenant ${partnerTenant}: sign in with a partner administrator.`);
    }
    const what = partner ? "the partner administrator for GDAP access to customer tenants" : `the administrator of tenant ${tenant ?? account.tenantId}`;
    ctx.out.write(`Signed in ${account.userPrincipalName} (tenant ${account.tenantId}) as ${what}.\n`);
    ctx.err.write(`Tokens are stored encrypted in ${store.path} (key from ${store.keySource.description}).\n`);
    return EXIT.ok;
  } finally {
    await http.close();
  }
}
