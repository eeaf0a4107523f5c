import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { describe, expect, it } from "vitest";
import { MFACTL_BIN, mfactl } from "./harness.js";

describe("mfactl emulator", () => {
  it("--port 0 --json prints one JSON line, serves until SIGINT, then exits 0", async () => {
    const child = spawn(process.execPath, [MFACTL_BIN, "emulator", "--port", "0", "--json", "--tenants", "2", "--users", "7", "--seed", "cmd"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: child.stdout }).once("line", resolve);
      child.once("exit", (code) => reject(new Error(`exited ${code}`)));
    });
    const info = JSON.parse(line) as Record<string, unknown> & { tenants: { id: string; domain: string; userCount: number }[]; caFile: string; graphUrl: string };
    for (const key of ["authorityHost", "graphUrl", "caFile", "clientId", "clientSecret", "tenants"]) expect(info).toHaveProperty(key);
    expect(info.tenants).toHaveLength(2);
    expect(info.tenants[0]).toMatchObject({ domain: "contoso.onmicrosoft.com", userCount: 7 });
    expect(info.tenants[0]!.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(readFileSync(info.caFile, "utf8")).toContain("BEGIN CERTIFICATE");

    // It really serves: mfactl reads a user through it.
    const r = await mfactl(["get", "-t", "contoso.onmicrosoft.com", "-u", "admin@contoso.onmicrosoft.com", "-o", "json"], {
      MFACTL_AUTHORITY_HOST: String(info.authorityHost),
      MFACTL_GRAPH_URL: info.graphUrl,
      MFACTL_CA_FILE: info.caFile,
      MFACTL_CLIENT_ID: String(info.clientId),
      MFACTL_CLIENT_SECRET: String(info.clientSecret),
    });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).perUserMfaState).toBe("enforced");

    const exit = new Promise<number | null>((resolve) => child.once("exit", resolve));
    child.kill("SIGINT");
    expect(await exit).toBe(0);
  });

  it("a bad flag exits 2 with a message naming the value", async () => {
    const r = await mfactl(["emulator", "--fault-rate", "2"], {});
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('"2"');
  });
});
