import { Option, type Command } from "commander";
import { BACKENDS, CIPP_ENV_VARS, type Backend, type CippFlags } from "./settings.js";

/** `--backend` and the CIPP settings, on the commands that can work through CIPP (get, set, report). */
export function addBackendOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option("--backend <backend>", `graph: Microsoft Graph with mfactl's app (default); cipp: through a CIPP instance's API (env ${CIPP_ENV_VARS.backend})`).choices(BACKENDS),
    )
    .option("--cipp-url <url>", `the CIPP instance, e.g. https://cipp.contoso.com (env ${CIPP_ENV_VARS.url})`)
    .option("--cipp-tenant-id <tenant>", `the tenant CIPP's API client is registered in (env ${CIPP_ENV_VARS.tenantId})`)
    .option("--cipp-client-id <id>", `CIPP's API client id; its secret comes from ${CIPP_ENV_VARS.clientSecret} or the profile (env ${CIPP_ENV_VARS.clientId})`);
}

export interface BackendFlags extends CippFlags {
  backend?: Backend;
}

/** The backend flags of a command, without the others (commander gives them all in one object). */
export function backendFlags(flags: BackendFlags): BackendFlags {
  const out: BackendFlags = {};
  if (flags.backend !== undefined) out.backend = flags.backend;
  if (flags.cippUrl !== undefined) out.cippUrl = flags.cippUrl;
  if (flags.cippTenantId !== undefined) out.cippTenantId = flags.cippTenantId;
  if (flags.cippClientId !== undefined) out.cippClientId = flags.cippClientId;
  return out;
}
