import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "csv-parse/sync";
import { describe, expect, it } from "vitest";
import { mfactl, useEmulatorProcess } from "./harness.js";

const lab = useEmulatorProcess(["--tenants", "3", "--users", "30", "--seed", "e2e-report"]);
const tmp = () => mkdtempSync(join(tmpdir(), "mfactl-report-"));

interface JsonReport {
  users: { tenant: string; userPrincipalName: string; perUserMfaState: string; userType: string; displayName: string }[];
  tenants: { tenant: string; status: string; users: number; error?: { code: string; message: string } }[];
}

describe("mfactl report", () => {
  it("reports every user of several tenants once; a tenant that denies access fails with its reason, the others complete", async () => {
    const [a, b, c] = lab.emu.tenants;
    await lab.emu.admin("DELETE", `/apps/${lab.emu.clientId}/tenants/${c!.id}`);
    const r = await mfactl(["report", "-t", a!.domain, "-t", b!.domain, "-t", c!.domain, "-o", "json"], lab.emu.env);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as JsonReport;
    expect(report.users).toHaveLength(60);
    expect(new Set(report.users.map((u) => `${u.tenant}/${u.userPrincipalName}`)).size).toBe(60);
    const failed = report.tenants.find((t) => t.tenant === c!.domain);
    expect(failed).toMatchObject({ status: "failed", users: 0 });
    expect(failed?.error?.message).toMatch(/700016/);
    expect(report.tenants.filter((t) => t.status === "completed").map((t) => t.users)).toEqual([30, 30]);
    expect(r.stderr).toMatch(new RegExp(`tenant ${c!.domain.replace(/\./g, "\\.")} failed: .*700016`));
  });

  it("the per-user strategy and the listing agree, and the fallback works when the listing omits the state", async () => {
    const t = lab.emu.tenants[0]!.domain;
    const byList = JSON.parse((await mfactl(["report", "-t", t, "-o", "json", "--read-strategy", "list"], lab.emu.env)).stdout) as JsonReport;
    const perUser = JSON.parse((await mfactl(["report", "-t", t, "-o", "json", "--read-strategy", "per-user"], lab.emu.env)).stdout) as JsonReport;
    const key = (x: JsonReport) => x.users.map((u) => `${u.userPrincipalName}=${u.perUserMfaState}`).sort();
    expect(key(perUser)).toEqual(key(byList));
    expect(new Set(byList.users.map((u) => u.perUserMfaState))).toEqual(new Set(["disabled", "enabled", "enforced"]));

    await lab.emu.admin("PATCH", "/config", { omitPerUserMfaStateInList: true });
    try {
      const auto = await mfactl(["report", "-t", t, "-o", "json"], lab.emu.env);
      expect(auto.code, auto.stderr).toBe(0);
      expect(key(JSON.parse(auto.stdout) as JsonReport)).toEqual(key(byList));
      const forced = await mfactl(["report", "-t", t, "-o", "json", "--read-strategy", "list"], lab.emu.env);
      expect(forced.code).toBe(1);
      expect(forced.stderr).toMatch(/does not return perUserMfaState/);
    } finally {
      await lab.emu.admin("PATCH", "/config", { omitPerUserMfaStateInList: false });
    }
  });

  it("filters: states, guests, licensed members", async () => {
    const t = lab.emu.tenants[0]!.domain;
    const all = (JSON.parse((await mfactl(["report", "-t", t, "-o", "json"], lab.emu.env)).stdout) as JsonReport).users;
    const enforced = JSON.parse((await mfactl(["report", "-t", t, "-o", "json", "--where-state", "Enforced"], lab.emu.env)).stdout) as JsonReport;
    expect(enforced.users.length).toBe(all.filter((u) => u.perUserMfaState === "enforced").length);
    expect(enforced.users.every((u) => u.perUserMfaState === "enforced")).toBe(true);
    const guests = JSON.parse((await mfactl(["report", "-t", t, "-o", "json", "--guests"], lab.emu.env)).stdout) as JsonReport;
    expect(guests.users.length).toBe(all.filter((u) => u.userType === "Guest").length);
    expect(guests.users.length).toBeGreaterThan(0);
    const licensed = await mfactl(["report", "-t", t, "-o", "json", "--licensed", "--members"], lab.emu.env);
    expect(licensed.code, licensed.stderr).toBe(0);
    const bad = await mfactl(["report", "-t", t, "--where-state", "sometimes"], lab.emu.env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('Invalid --where-state "sometimes"');
  });

  it("CSV and HTML are safe with hostile display names", async () => {
    const t = lab.emu.tenants[0]!.domain;
    const hostile = {
      [`adele.vance@${t}`]: '=HYPERLINK("http://evil.example","click")',
      [`alex.wilber@${t}`]: "<script>alert('x')</script>",
      [`megan.bowen@${t}`]: 'Bowen, "Megan" & co',
    };
    for (const [upn, displayName] of Object.entries(hostile)) {
      await lab.emu.admin("PATCH", `/tenants/${t}/users/${encodeURIComponent(upn)}`, { displayName, ...(upn.startsWith("megan") ? {} : { perUserMfaState: "enforced" }) });
    }
    const dir = tmp();
    const csv = await mfactl(["report", "-t", t, "-o", "csv", "--out", join(dir, "r.csv")], lab.emu.env);
    expect(csv.code, csv.stderr).toBe(0);
    const text = readFileSync(join(dir, "r.csv"), "utf8");
    const rows = parse(text, { columns: true }) as Record<string, string>[];
    expect(Object.keys(rows[0]!)).toEqual(["tenant", "id", "userPrincipalName", "displayName", "userType", "accountEnabled", "isLicensed", "perUserMfaState"]);
    expect(rows).toHaveLength(30);
    const name = (upn: string) => rows.find((r) => r.userPrincipalName === upn)!.displayName;
    expect(name(`adele.vance@${t}`)).toBe(`'=HYPERLINK("http://evil.example","click")`);
    expect(name(`megan.bowen@${t}`)).toBe('Bowen, "Megan" & co');
    for (const row of rows) for (const cell of Object.values(row)) expect(cell).not.toMatch(/^[=+@\t\r]/);

    const html = await mfactl(["report", "-t", t, "-o", "html", "--out", join(dir, "r.html")], lab.emu.env);
    expect(html.code, html.stderr).toBe(0);
    const page = readFileSync(join(dir, "r.html"), "utf8");
    expect(page).not.toContain("<script>alert");
    expect(page).toContain("&lt;script&gt;alert(");
    expect(page).not.toMatch(/<(script|link|img)[^>]+(src|href)=["']?https?:/i);
    expect(page).toContain(`adele.vance@${t}`);
  });

  it("--tenants-file and --all-tenants select tenants", async () => {
    const dir = tmp();
    const [a, b] = lab.emu.tenants;
    writeFileSync(join(dir, "tenants.csv"), `tenant\n${a!.domain}\n${b!.id}\n`);
    const r = await mfactl(["report", "--tenants-file", join(dir, "tenants.csv"), "-o", "json"], lab.emu.env);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as JsonReport).tenants.map((x) => x.tenant).sort()).toEqual([a!.domain, b!.id].sort());

    const config = join(dir, "config.json");
    writeFileSync(config, JSON.stringify({ profiles: { msp: { tenants: [a!.domain, b!.domain] } } }));
    const all = await mfactl(["report", "--config", config, "--profile", "msp", "--all-tenants", "-o", "json"], lab.emu.env);
    expect(all.code, all.stderr).toBe(0);
    expect((JSON.parse(all.stdout) as JsonReport).users).toHaveLength(60);
  });
});
