import { describe, expect, it } from "vitest";
import { adminUser, mfactl, useEmulatorProcess, type AdminStats } from "./harness.js";

const lab = useEmulatorProcess(["--tenants", "1", "--users", "10", "--seed", "e2e-retry"]);

const adele = () => `adele.vance@${lab.domain}`;

describe("throttling, transient faults and tokens", () => {
  it("a 429 with Retry-After on the PATCH is retried after the wait, and the change succeeds", async () => {
    await lab.emu.admin("POST", "/faults", { rules: [{ method: "PATCH", pathIncludes: "/authentication/requirements", status: 429, retryAfterSeconds: 2, count: 1 }] });
    const r = await mfactl(["set", "-t", lab.domain, "-u", adele(), "-s", "enforced", "-o", "json", "--verbose"], lab.emu.env);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: "changed", perUserMfaState: "enforced" });
    expect(r.stderr).toMatch(/\[retry\] PATCH .*429/);
    // Retry-After: 2 was honoured (the second PATCH came no earlier than 2 s after the first).
    expect(r.durationMs).toBeGreaterThanOrEqual(2000);
    const user = await adminUser(lab.emu, lab.domain, adele());
    expect(user.perUserMfaState).toBe("enforced");
    expect(user.patchCount).toBe(1);
  });

  it("a 503 on the PATCH is retried and the change succeeds", async () => {
    await lab.emu.admin("POST", "/faults", { rules: [{ method: "PATCH", status: 503, retryAfterSeconds: 1, count: 1 }] });
    const r = await mfactl(["set", "-t", lab.domain, "-u", adele(), "-s", "enforced", "-o", "json"], lab.emu.env);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).status).toBe("changed");
    expect((await adminUser(lab.emu, lab.domain, adele())).perUserMfaState).toBe("enforced");
  });

  it("a connection reset on the PATCH is retried", async () => {
    await lab.emu.admin("POST", "/faults", { rules: [{ method: "PATCH", action: "reset", count: 1 }] });
    const r = await mfactl(["set", "-t", lab.domain, "-u", adele(), "-s", "enforced", "-o", "json"], lab.emu.env);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).status).toBe("changed");
  });

  it("a persistent failure ends as failed with exit 1, not a hang", async () => {
    await lab.emu.admin("POST", "/faults", { rules: [{ method: "PATCH", status: 503, retryAfterSeconds: 1, count: 100 }] });
    const r = await mfactl(["set", "-t", lab.domain, "-u", adele(), "-s", "enforced", "-o", "json", "--max-attempts", "3"], lab.emu.env, { timeoutMs: 30_000 });
    expect(r.code).toBe(1);
    const result = JSON.parse(r.stdout) as { status: string; error: { httpStatus: number }; previousState: string; requestId?: string };
    expect(result).toMatchObject({ status: "failed", previousState: "disabled", error: { httpStatus: 503 } });
    expect(result.requestId).toMatch(/\S/);
    expect((await adminUser(lab.emu, lab.domain, adele())).perUserMfaState).toBe("disabled");
    const stats = await lab.emu.admin<AdminStats>("GET", "/stats");
    expect(stats.patches).toBe(0);
  });

  it("the default retry budget also ends, with the deadline given by --timeout", async () => {
    await lab.emu.admin("POST", "/faults", { rules: [{ method: "PATCH", status: 429, retryAfterSeconds: 2, count: 100 }] });
    const r = await mfactl(["set", "-t", lab.domain, "-u", adele(), "-s", "enforced", "--timeout", "3"], lab.emu.env, { timeoutMs: 30_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error: .*adele\.vance/);
    expect(r.durationMs).toBeLessThan(20_000);
  });

  it("a token that expires between two calls is renewed", async () => {
    await lab.emu.admin("PATCH", "/config", { tokenLifetimeSeconds: 1, latencyMs: 700 });
    try {
      await lab.emu.admin("POST", "/stats/reset");
      const r = await mfactl(["set", "-t", lab.domain, "-u", adele(), "-s", "enforced", "-o", "json", "--verbose"], lab.emu.env);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).status).toBe("changed");
      const stats = await lab.emu.admin<AdminStats>("GET", "/stats");
      // Four Graph calls (resolve, read, PATCH, read back), each more than a token lifetime apart.
      expect(stats.tokensIssued).toBeGreaterThanOrEqual(2);
      expect(r.stderr).not.toMatch(/InvalidAuthenticationToken/);
    } finally {
      await lab.emu.admin("PATCH", "/config", { tokenLifetimeSeconds: 3599, latencyMs: 0 });
    }
  });
});
