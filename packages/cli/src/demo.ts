/**
 * `npm run demo`: the embedded emulator in this process, and the steps a new user would take,
 * each printed as the command line and what mfactl prints for it.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createFetch } from "@mfactl/core";
import { startEmulator } from "@mfactl/emulator";
import { run } from "./main.js";

const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s: string) => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[0m` : s);

async function main(): Promise<number> {
  const emulator = await startEmulator({ tenants: 2, users: 25, seed: "demo" });
  const contoso = emulator.tenants[0]!.domain;
  // The demo keeps its journal, plan and policy in a scratch folder, never in the user's own journal.
  const scratch = mkdtempSync(join(tmpdir(), "mfactl-demo-"));
  const plan = join(scratch, "plan.json");
  const policy = join(scratch, "policy.yaml");
  writeFileSync(
    policy,
    `version: 1\npolicies:\n  - name: Contoso\n    tenants: [${contoso}]\n    rules:\n      - name: Guests\n        when: { userType: guest }\n        state: disabled\n` +
      `      - name: Licensed members\n        when: { userType: member, licensed: true, accountEnabled: true }\n        state: enforced\n` +
      `    exclude:\n      groups: ["MFA Exclusions"]\n    breakGlass: [breakglass@${contoso}]\n`,
  );
  const env = {
    ...process.env,
    MFACTL_AUTHORITY_HOST: emulator.authorityHost,
    MFACTL_GRAPH_URL: emulator.graphUrl,
    MFACTL_CA_FILE: emulator.caFile,
    MFACTL_CLIENT_ID: emulator.clientId,
    MFACTL_CLIENT_SECRET: emulator.clientSecret,
    MFACTL_DB: join(scratch, "journal.db"),
    MFACTL_CONFIG: undefined,
    MFACTL_PROFILE: undefined,
  };
  const adele = `adele.vance@${contoso}`;
  const guest = `john.doe_fabrikam.com#EXT#@${contoso}`;
  const unexpected: string[] = [];

  const step = async (title: string, args: string[], expectedExit: number) => {
    process.stdout.write(`\n${bold(`# ${title}`)}\n$ mfactl ${args.map(quote).join(" ")}\n`);
    const code = await run(args, { stdout: process.stdout, stderr: process.stdout, env });
    process.stdout.write(dim(`(exit code ${code})`) + "\n");
    if (code !== expectedExit) unexpected.push(`${args.join(" ")}: exit ${code}, expected ${expectedExit}`);
  };

  /** A scheduled drift check: its alert to a webhook on loopback, its remediation, its results kept. */
  const scheduleSteps = async () => {
    const received: { summary?: string; status?: string }[] = [];
    const hook = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        received.push(JSON.parse(body) as { summary?: string; status?: string });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => hook.listen(0, "127.0.0.1", resolve));
    const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/alerts`;
    try {
      await step(
        "Check the policy every night at 03:00, alert a webhook when users drift, and fix the drift",
        ["schedule", "add", "nightly", "--cron", "0 3 * * *", "--timezone", "Europe/Amsterdam", "--policy", policy, "--webhook", hookUrl, "--remediate", "--remediate-max-changes", "10"],
        0,
      );
      // Someone turns MFA off for a user outside mfactl: drift.
      emulator.admin.setUsers(contoso, { perUserMfaState: "disabled", users: [adele] });
      await step("Somebody turned Adele's MFA off; fire the schedule now instead of waiting for 03:00", ["schedule", "run", "nightly"], 0);
      for (const alert of received) process.stdout.write(`${dim("webhook received:")} ${alert.summary ?? JSON.stringify(alert)}\n`);
      await step("The firings are kept, with what each found and changed (mfactl serve fires them on time)", ["schedule", "results", "nightly"], 0);
    } finally {
      await new Promise<void>((resolve) => hook.close(() => resolve()));
    }
  };

  /** The HTTP API: an API key, `mfactl serve`, a REST call and CIPP's ExecPerUserMFA with an Entra token. */
  const serverSteps = async () => {
    const settings = join(scratch, "server.yaml");
    writeFileSync(
      settings,
      `tenants:\n${emulator.tenants.map((t) => `  - ${t.domain}\n`).join("")}entra:\n  tenantId: ${emulator.apiApp.tenantId}\n  audience: ${emulator.apiApp.identifierUri}\n` +
        `  apps:\n    - appId: ${emulator.apiCallers.readWrite.clientId}\n      name: CIPP automation\n      scopes: [write]\n`,
    );
    process.stdout.write(`\n${bold("# Create an API key for the HTTP API (shown once, stored hashed)")}\n$ mfactl apikey create --name demo --scope write\n`);
    let key = "";
    const created = await run(["apikey", "create", "--name", "demo", "--scope", "write"], { stdout: { write: (s: string) => (key += s) }, stderr: process.stdout, env });
    key = key.trim();
    process.stdout.write(`${key.slice(0, 18)}... ${dim(`(exit code ${created})`)}\n`);
    if (created !== 0 || !key.startsWith("mfak_")) unexpected.push(`apikey create: exit ${created}`);

    const stop = new AbortController();
    let listening: (url: string) => void = () => undefined;
    const address = new Promise<string>((resolve) => (listening = resolve));
    let serverErr = "";
    process.stdout.write(`\n${bold("# Serve the REST API and the CIPP-compatible endpoints")}\n$ mfactl serve --port 0 --settings server.yaml\n`);
    const serving = run(["serve", "--port", "0", "--settings", settings, "--log-level", "warn"], {
      stdout: { write: () => true },
      stderr: {
        write: (s: string) => {
          serverErr += s;
          process.stdout.write(s);
          const m = /listening on (\S+)/.exec(serverErr);
          if (m?.[1]) listening(m[1]);
          return true;
        },
      },
      env,
      signal: stop.signal,
    });
    const url = await Promise.race([address, serving.then((code) => Promise.reject(new Error(`mfactl serve exited with ${code}: ${serverErr}`)))]);
    const user = `alex.wilber@${contoso}`;
    const show = async (title: string, curl: string, res: Response) => {
      process.stdout.write(`\n${bold(`# ${title}`)}\n$ ${curl}\n${res.status} ${await res.text()}\n`);
      if (!res.ok) unexpected.push(`${title}: HTTP ${res.status}`);
    };
    await show(
      "REST: one user's state",
      `curl -H 'Authorization: Bearer mfak_...' ${url}/v1/tenants/${contoso}/users/${user}/mfa`,
      await fetch(`${url}/v1/tenants/${contoso}/users/${encodeURIComponent(user)}/mfa`, { headers: { authorization: `Bearer ${key}` } }),
    );
    const http = createFetch({ caPem: emulator.caPem });
    try {
      const tokenRes = await http.fetch(`${emulator.authorityHost}/${emulator.apiApp.tenantId}/oauth2/v2.0/token`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ grant_type: "client_credentials", client_id: emulator.apiCallers.readWrite.clientId, client_secret: emulator.apiCallers.readWrite.clientSecret, scope: `${emulator.apiApp.identifierUri}/.default` }).toString(),
      });
      const token = ((await tokenRes.json()) as { access_token?: string }).access_token ?? "";
      const body = { tenantFilter: contoso, userId: user, State: { label: "Disabled", value: "disabled" } };
      await show(
        "CIPP-compatible: ExecPerUserMFA with an Entra token, as the CIPP clients send it",
        `curl -X POST -H 'Authorization: Bearer <Entra token for ${emulator.apiApp.identifierUri}/.default>' ${url}/api/ExecPerUserMFA -d '${JSON.stringify(body)}'`,
        await fetch(`${url}/api/ExecPerUserMFA`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(body) }),
      );
    } finally {
      await http.close();
    }
    await step("The change is in the journal under the calling app's id", ["runs", "show", "last"], 0);
    stop.abort();
    const code = await serving;
    process.stdout.write(dim(`(mfactl serve exit code ${code})`) + "\n");
    if (code !== 0) unexpected.push(`serve: exit ${code}`);
  };

  try {
    process.stdout.write(
      `${bold("mfactl demo")}: an emulated Microsoft Graph + Entra ID at ${emulator.graphUrl}\n` +
        `tenants: ${emulator.tenants.map((t) => `${t.domain} (${t.userCount} users)`).join(", ")}\n` +
        dim("mfactl is pointed at it with MFACTL_AUTHORITY_HOST, MFACTL_GRAPH_URL, MFACTL_CA_FILE, MFACTL_CLIENT_ID and MFACTL_CLIENT_SECRET.") +
        "\n",
    );
    await step("Read a user's per-user MFA state", ["get", "--tenant", contoso, "--user", adele], 0);
    await step("Preview a change: nothing is sent", ["set", "--tenant", contoso, "--user", adele, "--state", "enforced", "--dry-run"], 0);
    await step("Enforce MFA for the user (read, change, read back)", ["set", "--customer-tenant-id", contoso, "--user-principal-name", adele, "--state", "Enforced"], 0);
    await step("Read it again, as JSON", ["get", "--tenant", contoso, "--user", adele, "--output", "json"], 0);
    await step("Run the same change again: already done, nothing sent", ["set", "--tenant", contoso, "--user", adele, "--state", "enforced"], 0);
    await step("A guest, by UPN (#EXT# is percent-encoded for you)", ["set", "--tenant", contoso, "--user", guest, "--state", "enabled"], 0);
    await step("A clear failure: a user who does not exist (exit 1)", ["set", "--tenant", contoso, "--user", `nobody@${contoso}`, "--state", "enabled"], 1);
    await step("Bad input is refused before anything is sent (exit 2)", ["set", "--tenant", contoso, "--user", adele, "--state", "on"], 2);
    await step("Plan a bulk change: licensed members to enforced (nothing is sent)", ["plan", "--tenant", contoso, "--state", "enforced", "--members", "--licensed", "--out", plan], 0);
    await step("Review the plan: current and target state, warnings, who is left out", ["plan", "show", plan], 0);
    await step("Apply it: each user re-read, every change journaled before it is sent", ["apply", plan, "--yes", "--quiet"], 0);
    await step("The journal: who changed what, when, from where", ["runs"], 0);
    await step("Undo the run: everyone back to their previous state", ["undo", "last", "--yes", "--quiet"], 0);
    await step("Desired state: who differs from the policy (exit 3 = drift)", ["drift", "--policy", policy], 3);
    await step("Enforce the policy (plan + apply of the drift)", ["enforce", "--policy", policy, "--yes", "--quiet", "--output", "json", "--out", join(scratch, "enforced.json")], 0);
    await step("No drift left", ["drift", "--policy", policy], 0);
    await scheduleSteps();
    await serverSteps();
    const stats = emulator.admin.stats();
    process.stdout.write(`\n${bold("The emulator saw")} ${stats.requests} Graph requests and ${stats.patches} PATCHes (one per real change).\n`);
    process.stdout.write(`Next: README.md (a real tenant), docs/commands/, docs/policy.md, and \`npx mfactl emulator\` to keep one running.\n`);
  } finally {
    await emulator.close();
    rmSync(scratch, { recursive: true, force: true });
  }
  if (unexpected.length) {
    process.stderr.write(`demo: unexpected results:\n${unexpected.map((u) => `  ${u}`).join("\n")}\n`);
    return 1;
  }
  return 0;
}

function quote(arg: string): string {
  return /^[\w@.,:/=+-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
