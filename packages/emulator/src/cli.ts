/** `mfactl emulator` / `mfactl-emulator`: start the emulator and serve until SIGINT or SIGTERM. */
import { parseArgs } from "node:util";
import { startEmulator, type RunningEmulator } from "./emulator.js";
import { MAX_TENANTS, MAX_USERS, validateConfigPatch, type EmulatorOptions, type ThrottleLimits } from "./options.js";

export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Stops serving like SIGINT does (for embedding and tests). */
  signal?: AbortSignal;
}

export const USAGE = `Usage: mfactl emulator [options]

Serves a local stand-in for Microsoft Entra ID and Microsoft Graph (per-user MFA) over HTTPS.

Options:
  --port <n>             HTTPS port for Entra + Graph (default 0 = random)
  --admin-port <n>       plain-HTTP admin port on 127.0.0.1 (default 0 = random)
  --tenants <n>          number of tenants (default 3)
  --users <n>            users per tenant (default 25)
  --seed <s>             seed for tenants, users and credentials (default "mfactl")
  --latency-ms <ms>      delay added to every response (default 0)
  --fault-rate <0..1>    share of Graph requests given a random fault (default 0)
  --throttle <mode>      realistic | off (default realistic)
  --throttle-limits <json>
                         budgets to use instead of Microsoft's, e.g.
                         '{"appTenantRuLarge":1500,"appTenantWrites":300}' (names as in ThrottleLimits)
  --token-lifetime <s>   access token lifetime in seconds (default 3599)
  --omit-list-state      never return perUserMfaState when listing users
  --partner-customers <n>
                         add a partner (MSP) tenant with GDAP relationships to n customer tenants
  --partner-users <n>    users per customer tenant (default 25)
  --partner-planted      add one customer per planted onboarding problem (doctor tests)
  --data-dir <dir>       where ca.pem and the client certificate go (default: a temp dir)
  --json                 print one JSON line with the connection facts
  --help                 show this help
`;

class UsageError extends Error {}

function integer(flag: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max)
    throw new UsageError(`--${flag}: "${value}" is not valid; expected a whole number from ${min} to ${max}`);
  return Number(value);
}

function optionsFrom(argv: string[]): { options: EmulatorOptions; json: boolean; help: boolean } {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        port: { type: "string" },
        "admin-port": { type: "string" },
        tenants: { type: "string" },
        users: { type: "string" },
        seed: { type: "string" },
        "latency-ms": { type: "string" },
        "fault-rate": { type: "string" },
        throttle: { type: "string" },
        "throttle-limits": { type: "string" },
        "token-lifetime": { type: "string" },
        "omit-list-state": { type: "boolean" },
        "data-dir": { type: "string" },
        "partner-customers": { type: "string" },
        "partner-users": { type: "string" },
        "partner-planted": { type: "boolean" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  const options: EmulatorOptions = {};
  const set = <K extends keyof EmulatorOptions>(k: K, v: EmulatorOptions[K] | undefined) => {
    if (v !== undefined) options[k] = v;
  };
  set("port", integer("port", values.port, 0, 65535));
  set("adminPort", integer("admin-port", values["admin-port"], 0, 65535));
  set("tenants", integer("tenants", values.tenants, 1, MAX_TENANTS));
  set("users", integer("users", values.users, 0, MAX_USERS));
  set("latencyMs", integer("latency-ms", values["latency-ms"], 0, 600_000));
  set("tokenLifetimeSeconds", integer("token-lifetime", values["token-lifetime"], 1, 86_400));
  if (values.seed !== undefined) {
    if (values.seed === "") throw new UsageError(`--seed: "" is not valid; expected a non-empty string`);
    options.seed = values.seed;
  }
  const rate = values["fault-rate"];
  if (rate !== undefined) {
    const n = Number(rate);
    if (rate.trim() === "" || !Number.isFinite(n) || n < 0 || n > 1) throw new UsageError(`--fault-rate: "${rate}" is not valid; expected a number from 0 to 1`);
    options.faultRate = n;
  }
  const throttle = values.throttle;
  if (throttle !== undefined) {
    if (throttle !== "realistic" && throttle !== "off") throw new UsageError(`--throttle: "${throttle}" is not valid; expected realistic or off`);
    options.throttle = throttle;
  }
  const limits = values["throttle-limits"];
  if (limits !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(limits);
    } catch {
      throw new UsageError(`--throttle-limits: "${limits}" is not valid; expected a JSON object such as {"appTenantWrites":300}`);
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new UsageError(`--throttle-limits: "${limits}" is not valid; expected a JSON object such as {"appTenantWrites":300}`);
    try {
      validateConfigPatch({ throttleLimits: parsed as Partial<ThrottleLimits> });
    } catch (e) {
      throw new UsageError(`--throttle-limits: ${e instanceof Error ? e.message : String(e)}`);
    }
    options.throttleLimits = parsed as Partial<ThrottleLimits>;
  }
  if (values["omit-list-state"]) options.omitPerUserMfaStateInList = true;
  set("dataDir", values["data-dir"]);
  const customers = integer("partner-customers", values["partner-customers"], 0, 1000);
  const partnerUsers = integer("partner-users", values["partner-users"], 1, 100_000);
  if (customers === undefined && (partnerUsers !== undefined || values["partner-planted"]))
    throw new UsageError("--partner-users and --partner-planted need --partner-customers");
  if (customers !== undefined)
    options.partner = { customers, ...(partnerUsers !== undefined ? { usersPerCustomer: partnerUsers } : {}), ...(values["partner-planted"] ? { planted: true } : {}) };
  return { options, json: values.json === true, help: values.help === true };
}

function facts(e: RunningEmulator) {
  return {
    authorityHost: e.authorityHost,
    graphUrl: e.graphUrl,
    adminUrl: e.adminUrl,
    caFile: e.caFile,
    clientId: e.clientId,
    clientSecret: e.clientSecret,
    certificateFile: e.certificateFile,
    tenants: e.tenants.map((t) => ({ id: t.id, domain: t.domain, userCount: t.userCount })),
    apiApp: e.apiApp,
    apiCallers: e.apiCallers,
    dashboardApp: e.dashboardApp,
    cipp: e.cipp,
    ...(e.partner ? { partner: e.partner } : {}),
  };
}

function humanBlock(e: RunningEmulator): string {
  const f = facts(e);
  const tenants = f.tenants.map((t) => `    ${t.id}  ${t.domain}  (${t.userCount} users)`).join("\n");
  return `mfactl emulator is running (Entra ID + Microsoft Graph stand-in)
  authority host   ${f.authorityHost}
  graph            ${f.graphUrl}
  admin            ${f.adminUrl}
  CA file          ${f.caFile}
  client id        ${f.clientId}
  client secret    ${f.clientSecret}
  certificate      ${f.certificateFile}
  tenants
${tenants}
  API app          ${f.apiApp.identifierUri}  (tenant ${f.apiApp.tenantId}; roles ${f.apiApp.roles.join(", ")})
  API callers      ${f.apiCallers.readWrite.clientId} (MfaState.ReadWrite), ${f.apiCallers.readOnly.clientId} (MfaState.Read);
                   secrets: GET ${f.adminUrl}/apps/seeded
  dashboard app    ${f.dashboardApp.clientId} (SPA; register redirect URIs: PUT ${f.adminUrl}/apps/${f.dashboardApp.clientId}/redirect-uris)
                   user passwords: GET ${f.adminUrl}/tenants/{tenant}/users/{upn}/password
${f.partner ? `  partner          ${f.partner.domain} (${f.partner.tenantId}); admin ${f.partner.admin.userPrincipalName};
                   ${f.partner.customers.length} GDAP customers${f.partner.planted ? " + planted problems" : ""}: GET ${f.adminUrl}/partner
` : ""}  CIPP             ${f.cipp.url}  (CIPP-API ${f.cipp.identifierUri}, tenant ${f.cipp.tenantId};
                   client id ${f.cipp.caller.clientId}, secret: GET ${f.adminUrl}/apps/seeded)

Point mfactl at it:
  export MFACTL_AUTHORITY_HOST=${f.authorityHost}
  export MFACTL_GRAPH_URL=${f.graphUrl}
  export MFACTL_CA_FILE=${f.caFile}
  export MFACTL_CLIENT_ID=${f.clientId}
  export MFACTL_CLIENT_SECRET=${f.clientSecret}

Press Ctrl+C to stop.
`;
}

function untilStopped(signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      signal?.removeEventListener("abort", stop);
      resolve();
    };
    if (signal?.aborted) return stop();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    signal?.addEventListener("abort", stop, { once: true });
  });
}

/** Returns the exit code: 0 after a clean stop, 2 for bad arguments, 1 when the emulator cannot start. */
export async function runEmulatorCli(argv: string[], io: CliIo): Promise<number> {
  let parsed: ReturnType<typeof optionsFrom>;
  try {
    parsed = optionsFrom(argv);
  } catch (e) {
    io.stderr.write(`mfactl emulator: ${e instanceof Error ? e.message : String(e)}\nRun with --help for the options.\n`);
    return 2;
  }
  if (parsed.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  let emulator: RunningEmulator;
  try {
    emulator = await startEmulator(parsed.options);
  } catch (e) {
    io.stderr.write(`mfactl emulator: cannot start: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
  io.stdout.write(parsed.json ? `${JSON.stringify(facts(emulator))}\n` : humanBlock(emulator));
  await untilStopped(io.signal);
  await emulator.close();
  return 0;
}
