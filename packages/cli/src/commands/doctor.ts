import { Command, Option } from "commander";
import {
  checkAppCredential,
  createFetch,
  createGraphClient,
  createMsalTokenProvider,
  doctorTenant,
  parseTenantRef,
  tenantRefToString,
  type DoctorCheck,
  type GraphClient,
  type TenantDoctorResult,
  type TokenProvider,
} from "@mfactl/core";
import type { CommandContext } from "../context.js";
import { EXIT } from "../exit-codes.js";
import { renderJson } from "../output.js";
import { addTenantOptions, defaultStateDir, pickTenants, readSyncedCustomers, type TenantFlags } from "../selection-options.js";
import { consentUrlFor } from "./consent-url.js";
import { partnerProfile } from "./tenants.js";
import type { CommandRunner } from "./types.js";

interface DoctorFlags extends TenantFlags {
  output: "table" | "json";
}

export interface DoctorOutput {
  status: "ok" | "warn" | "fail";
  /** The app registration's secret or certificate, checked once in the tenant the app is registered in. */
  app: DoctorCheck;
  tenants: TenantDoctorResult[];
}

export function doctorCommand(run: CommandRunner): Command {
  const cmd = new Command("doctor")
    .summary("check, per tenant, that mfactl can work there (token, consent, permissions, GDAP roles, licences, app secret) and say what to fix")
    .description(
      "For each tenant: a token in the tenant's access mode (consent, secret, sign-in), the permissions the token carries " +
        "against those mfactl's commands need, the GDAP relationship's roles (synced by mfactl tenants sync), the Entra ID " +
        "P1/P2 licence the posture report needs, and once the app's secret or certificate expiry. Reads only.",
    )
    .addOption(new Option("-o, --output <format>", "output format").choices(["table", "json"]).default("table"));
  addTenantOptions(cmd);
  cmd.addHelpText(
    "after",
    `
Each check is ok, warn (a feature is degraded, or something expires soon) or fail (a command will fail), with the fix.
Examples:
  $ mfactl doctor --tenant contoso.onmicrosoft.com
  $ mfactl doctor --all-tenants --output json
Exit codes: 0 nothing failed (warnings are printed), 1 a check failed, 2 bad usage. Docs: docs/commands/doctor.md`,
  );
  return cmd.action((flags: DoctorFlags) =>
    run(async (ctx, retry) => {
      const tenants = [...new Set((await pickTenants(flags, () => ctx.resolveSettings(), { required: true })).map((t) => tenantRefToString(parseTenantRef(t))))];
      const profile = partnerProfile(ctx);
      const { connection } = ctx.resolveSettings();
      const cache = readSyncedCustomers(defaultStateDir(ctx.io.env));
      const http = createFetch({ caPem: connection.caPem });
      // App-only tokens come from a provider of our own, so the token's roles claim can be read; built only when a
      // tenant uses app-only access (a GDAP-only profile has no app credential).
      let app: { tokens: TokenProvider; graph: GraphClient } | undefined;
      const appAccess = () => {
        if (!app) {
          const tokens = createMsalTokenProvider({ ...connection, fetch: http.fetch });
          app = { tokens, graph: createGraphClient({ ...connection, retry, fetch: http.fetch, tokenProvider: tokens }) };
        }
        return app;
      };
      const hasAppCredential = connection.credential.kind === "certificate" || connection.credential.clientSecret !== "";
      const delegated = delegatedTokens(ctx);
      const tokenFor = (tenant: string): TokenProvider => (profile.modeFor(tenant) === "app" ? appAccess().tokens : delegated);
      const graphFor = (tenant: string): GraphClient => (profile.modeFor(tenant) === "app" ? appAccess().graph : ctx.graph(retry));
      const byKey = new Map((cache?.customers ?? []).flatMap((c) => [[c.tenantId, c] as const, ...(c.domain ? [[c.domain, c] as const] : [])]));
      try {
        const results: TenantDoctorResult[] = [];
        for (const tenant of tenants) {
          results.push(
            await doctorTenant({
              tenant,
              accessMode: profile.modeFor(tenant),
              clientId: connection.clientId,
              consentUrl: consentUrlFor(ctx, tenant),
              getToken: (t) => tokenFor(t).getToken(t),
              graph: graphFor(tenant),
              customer: byKey.get(tenant),
              synced: cache !== undefined,
              signal: ctx.io.signal,
            }),
          );
        }
        const appCheck: DoctorCheck = hasAppCredential
          ? await appCredentialCheck(appAccess().graph, profile.partnerTenantId ?? cache?.partnerTenantId, tenants, connection.clientId, connection.credential, ctx.io.signal)
          : { check: "appCredential", status: "skipped", message: "No app secret or certificate is configured (every tenant uses a sign-in)." };
        const status = [appCheck, ...results].some((r) => r.status === "fail") ? "fail" : [appCheck, ...results].some((r) => r.status === "warn") ? "warn" : "ok";
        const output: DoctorOutput = { status, app: appCheck, tenants: results };
        ctx.out.write(flags.output === "json" ? renderJson(output) : renderDoctor(output));
        return status === "fail" ? EXIT.failed : EXIT.ok;
      } finally {
        await app?.graph.close();
        await http.close();
      }
    }),
  );
}

/** The context's token source for tenants reached through a sign-in (GDAP or delegated): their token's claims. */
function delegatedTokens(ctx: CommandContext): TokenProvider {
  return ctx.tokenProvider();
}

async function appCredentialCheck(
  graph: GraphClient,
  partnerTenant: string | undefined,
  tenants: string[],
  clientId: string,
  credential: { kind: "secret"; clientSecret: string } | { kind: "certificate" },
  signal: AbortSignal | undefined,
): Promise<DoctorCheck> {
  const info = credential.kind === "secret" ? { kind: "secret" as const, secretHint: credential.clientSecret.slice(0, 3) } : { kind: "certificate" as const };
  // The registration lives in one tenant: the partner's, else one of the tenants checked.
  const homes = partnerTenant ? [partnerTenant] : tenants;
  let lastError: string | undefined;
  let refused: DoctorCheck | undefined;
  for (const home of homes) {
    try {
      const check = await checkAppCredential(graph, home, clientId, info, new Date(), signal);
      // Refused in one tenant: the registration may be readable in another.
      if (check?.status === "warn" && check.code === "Authorization_RequestDenied") refused ??= check;
      else if (check) return check;
    } catch (error) {
      if (signal?.aborted) throw error;
      lastError = error instanceof Error ? error.message : String(error);
    }
  }
  if (refused) return refused;
  return {
    check: "appCredential",
    status: "skipped",
    message: lastError ? `The app registration could not be read: ${lastError}` : `App ${clientId} is not registered in ${homes.join(", ")} (set partner.tenantId to the tenant it is registered in).`,
  };
}

const MARK: Record<DoctorCheck["status"], string> = { ok: "ok", warn: "WARN", fail: "FAIL", skipped: "-" };

export function renderDoctor(output: DoctorOutput): string {
  const lines: string[] = [];
  const check = (c: DoctorCheck) => {
    lines.push(`  ${MARK[c.status].padEnd(5)}${c.check.padEnd(15)}${c.message}`);
    if (c.fix && (c.status === "warn" || c.status === "fail")) lines.push(`  ${"".padEnd(20)}fix: ${c.fix}`);
  };
  for (const t of output.tenants) {
    lines.push(`${t.tenant} (${t.accessMode}): ${t.status}`);
    t.checks.forEach(check);
  }
  lines.push("app:");
  check(output.app);
  const counts = { ok: output.tenants.filter((t) => t.status === "ok").length, warn: output.tenants.filter((t) => t.status === "warn").length, fail: output.tenants.filter((t) => t.status === "fail").length };
  lines.push(`${output.tenants.length} tenant${output.tenants.length === 1 ? "" : "s"}: ${counts.ok} ok, ${counts.warn} with warnings, ${counts.fail} failing.`);
  return `${lines.join("\n")}\n`;
}
