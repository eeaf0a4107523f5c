import { execFile, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { runEmulatorCli } from "./cli.js";
import { send } from "./test-helpers.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));

function capture() {
  const stream = new PassThrough();
  let text = "";
  stream.on("data", (c: Buffer) => (text += c.toString("utf8")));
  return { stream, text: () => text };
}

async function runCli(argv: string[]) {
  const stdout = capture();
  const stderr = capture();
  const code = await runEmulatorCli(argv, { stdout: stdout.stream, stderr: stderr.stream });
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

describe("runEmulatorCli arguments", () => {
  it("prints help and returns 0", async () => {
    const r = await runCli(["--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("--fault-rate <0..1>");
  });

  it.each([
    [["--port", "70000"], /--port: "70000" is not valid; expected a whole number from 0 to 65535/],
    [["--fault-rate", "1.5"], /--fault-rate: "1.5" is not valid; expected a number from 0 to 1/],
    [["--throttle", "fast"], /--throttle: "fast" is not valid; expected realistic or off/],
    [["--tenants", "zero"], /--tenants: "zero" is not valid/],
    [["--token-lifetime", "0"], /--token-lifetime: "0" is not valid/],
    [["--bogus"], /Unknown option '--bogus'/],
    [["--throttle-limits", "{nope"], /--throttle-limits: "\{nope" is not valid; expected a JSON object/],
    [["--throttle-limits", '{"appTenantWrites":0}'], /--throttle-limits: throttle limit appTenantWrites must be a number > 0/],
    [["--throttle-limits", '{"bogus":1}'], /--throttle-limits: unknown throttle limit "bogus"/],
  ])("rejects %j with exit code 2", async (argv, message) => {
    const r = await runCli(argv);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe("");
  });

  it("takes scaled-down budgets with --throttle-limits", async () => {
    const stdout = capture();
    const stop = new AbortController();
    const done = runEmulatorCli(["--tenants", "1", "--users", "3", "--json", "--throttle-limits", '{"appTenantRuSmall":100,"appTenantWrites":30}'], {
      stdout: stdout.stream,
      stderr: new PassThrough(),
      signal: stop.signal,
    });
    await expect.poll(() => stdout.text(), { timeout: 10_000 }).toContain("\n");
    const { adminUrl } = JSON.parse(stdout.text()) as { adminUrl: string };
    const config = (await send(`${adminUrl}/config`)).json<{ throttleLimits: Record<string, number> }>();
    expect(config.throttleLimits).toMatchObject({ appTenantRuSmall: 100, appTenantWrites: 30, appTenantRuLarge: 8000 });
    stop.abort();
    expect(await done).toBe(0);
  });

  it("seeds a partner with --partner-customers (and refuses --partner-planted alone)", async () => {
    expect((await runCli(["--partner-planted"])).code).toBe(2);
    const stdout = capture();
    const stop = new AbortController();
    const done = runEmulatorCli(["--tenants", "1", "--users", "3", "--json", "--partner-customers", "2", "--partner-users", "9", "--partner-planted"], {
      stdout: stdout.stream,
      stderr: new PassThrough(),
      signal: stop.signal,
    });
    await expect.poll(() => stdout.text(), { timeout: 10_000 }).toContain("\n");
    const facts = JSON.parse(stdout.text()) as { adminUrl: string; partner: { customers: { domain: string }[]; planted: { noConsent: { domain: string } } } };
    expect(facts.partner.customers.map((c) => c.domain)).toEqual(["customer1.onmicrosoft.com", "customer2.onmicrosoft.com"]);
    expect(facts.partner.planted.noConsent.domain).toBe("planted-no-consent.onmicrosoft.com");
    const partner = (await send(`${facts.adminUrl}/partner`)).json<{ customers: unknown[] }>();
    expect(partner.customers).toHaveLength(2);
    stop.abort();
    expect(await done).toBe(0);
  });

  it("prints a human-readable block with the env vars, and stops on its signal", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "mfactl-cli-test-"));
    try {
      const stdout = capture();
      const stop = new AbortController();
      const done = runEmulatorCli(["--tenants", "1", "--users", "7", "--data-dir", dataDir, "--omit-list-state"], { stdout: stdout.stream, stderr: new PassThrough(), signal: stop.signal });
      await expect.poll(() => stdout.text(), { timeout: 10_000 }).toContain("Press Ctrl+C");
      for (const name of ["MFACTL_AUTHORITY_HOST", "MFACTL_GRAPH_URL", "MFACTL_CA_FILE", "MFACTL_CLIENT_ID", "MFACTL_CLIENT_SECRET"]) expect(stdout.text()).toContain(`export ${name}=`);
      expect(stdout.text()).toContain("contoso.onmicrosoft.com");
      expect(existsSync(join(dataDir, "ca.pem"))).toBe(true);
      stop.abort();
      expect(await done).toBe(0);
      // A directory the caller chose is kept.
      expect(existsSync(join(dataDir, "ca.pem"))).toBe(true);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe("bin.js --json", () => {
  beforeAll(async () => {
    await promisify(execFile)(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-b", "packages/emulator"], { cwd: root });
  }, 60_000);

  it("prints exactly one JSON line with the connection facts and exits 0 on SIGTERM", async () => {
    const child = spawn(process.execPath, [join(root, "packages/emulator/dist/bin.js"), "--port", "0", "--json"], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString("utf8")));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    try {
      await expect.poll(() => out.includes("\n"), { timeout: 15_000 }).toBe(true);
      const lines = out.split("\n").filter(Boolean);
      expect(lines).toHaveLength(1);
      const facts = JSON.parse(lines[0]!) as Record<string, unknown>;
      expect(Object.keys(facts)).toEqual(["authorityHost", "graphUrl", "adminUrl", "caFile", "clientId", "clientSecret", "certificateFile", "tenants", "apiApp", "apiCallers", "dashboardApp", "cipp"]);
      expect(facts["authorityHost"]).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(facts["graphUrl"]).toBe(`${facts["authorityHost"] as string}/graph`);
      expect(facts["adminUrl"]).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const tenants = facts["tenants"] as { id: string; domain: string; userCount: number }[];
      expect(tenants).toHaveLength(3);
      expect(Object.keys(tenants[0]!)).toEqual(["id", "domain", "userCount"]);
      const apiApp = facts["apiApp"] as { clientId: string; identifierUri: string; tenantId: string };
      expect(apiApp).toMatchObject({ identifierUri: `api://${apiApp.clientId}`, tenantId: tenants[0]!.id });
      expect(Object.keys(facts["apiCallers"] as object)).toEqual(["readWrite", "readOnly"]);
      const cipp = facts["cipp"] as { url: string; clientId: string; identifierUri: string; tenantId: string; caller: { clientId: string } };
      expect(cipp).toMatchObject({ url: `${facts["authorityHost"] as string}/cipp`, identifierUri: `api://${cipp.clientId}`, tenantId: tenants[0]!.id, caller: { clientId: cipp.clientId } });
      const ca = readFileSync(facts["caFile"] as string, "utf8");
      const discovery = await send(`${facts["authorityHost"] as string}/${tenants[0]!.domain}/v2.0/.well-known/openid-configuration`, { ca });
      expect(discovery.status).toBe(200);
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
      // The temp data dir it created is gone.
      expect(existsSync(facts["caFile"] as string)).toBe(false);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });
});
