/**
 * `mfactl serve` as an administrator runs it: the emulator as its own process, `mfactl apikey
 * create` and `mfactl serve` as real processes, every request over loopback HTTP(S) with Node's
 * own client. Needs the build (`npx tsc -b`).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { describePostgres } from "../../../store/src/postgres.test-helper.js";
import { adminUser, emulatorApi, emulatorApiToken, httpRequest, mfactl, spawnMfactl, useEmulatorProcess, type EmulatorProcess, type HttpsReply, type MfactlProcess } from "./harness.js";

const lab = useEmulatorProcess(["--tenants", "2", "--users", "12", "--seed", "e2e-serve"]);

const KEY_RE = /^mfak_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/;
/** The address from `mfactl serve: listening on <url> (...)` (matched without the prefix: a redacted password may hide words). */
const LISTENING = /listening on (https?:\/\/[^\s()]+) \(/;

function tmp(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `mfactl-serve-${prefix}-`));
}

/** Settings as an administrator writes them: both tenants (the first also by id), the emulator's API app and its two callers. */
function settingsYaml(emu: EmulatorProcess, extra = ""): string {
  const { apiApp, apiCallers } = emulatorApi(emu);
  const [first, second] = emu.tenants;
  return [
    "# mfactl serve settings",
    "tenants:",
    `  - tenant: ${first!.domain}`,
    `    aliases: [${first!.id}]`,
    `  - ${second!.domain}`,
    "entra:",
    `  tenantId: ${apiApp.tenantId}`,
    `  audience: ${apiApp.identifierUri}`,
    "  apps:",
    `    - appId: ${apiCallers.readWrite.clientId}`,
    "      name: CIPP automation",
    "      scopes: [write]",
    `    - appId: ${apiCallers.readOnly.clientId}`,
    "      scopes: [read]",
    `      tenants: [${first!.domain}]`,
    "shutdownGraceSeconds: 5",
    extra,
  ].join("\n");
}

function writeSettings(dir: string, text: string, name = "server.yaml"): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

async function createKey(db: string, env: Record<string, string>, name: string, scope: string, more: string[] = []): Promise<string> {
  const r = await mfactl(["apikey", "create", "--name", name, "--scope", scope, "--db", db, ...more], env);
  expect(r.code, r.stderr).toBe(0);
  const key = r.stdout.trim();
  expect(key).toMatch(KEY_RE);
  return key;
}

interface Served {
  proc: MfactlProcess;
  url: string;
}

const running = new Set<MfactlProcess>();
afterAll(async () => {
  // A test that failed half way must not leave its server behind.
  await Promise.all([...running].map((p) => p.stop("SIGKILL")));
});

async function serve(args: string[], env: Record<string, string>): Promise<Served> {
  const proc = spawnMfactl(["serve", "--port", "0", ...args], env);
  running.add(proc);
  void proc.exited.then(() => running.delete(proc));
  const m = await proc.waitFor(LISTENING);
  return { proc, url: m[1]! };
}

function call(url: string, path: string, init: { method?: string; auth?: string; apiKey?: string; body?: unknown; ca?: string } = {}): Promise<HttpsReply> {
  const headers: Record<string, string> = {};
  if (init.auth) headers["authorization"] = `Bearer ${init.auth}`;
  if (init.apiKey) headers["x-api-key"] = init.apiKey;
  if (init.body !== undefined) headers["content-type"] = "application/json";
  return httpRequest(`${url}${path}`, { method: init.method ?? "GET", headers, ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}), ...(init.ca ? { ca: init.ca } : {}) });
}

/** The server's stdout: JSON lines (pino), each one parseable. */
function logLines(proc: MfactlProcess): Record<string, unknown>[] {
  return proc
    .stdout()
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe("mfactl serve over HTTP with a key from mfactl apikey create", () => {
  it("the key works for CIPP's ExecPerUserMFA and the REST API; an Entra token works; SIGTERM -> 'stopped', exit 0; no credential in the logs", async () => {
    const { emu, domain } = lab;
    const dir = tmp("http");
    const db = join(dir, "journal.db");
    const key = await createKey(db, emu.env, "ops", "write");
    const settings = writeSettings(dir, settingsYaml(emu));
    const { proc, url } = await serve(["--db", db, "--settings", settings], emu.env);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(proc.stderr()).toMatch(/2 tenants/);

    // Health needs no credential; the API does.
    expect((await call(url, "/health")).status).toBe(200);
    const anonymous = await call(url, "/api/ListPerUserMFA?tenantFilter=" + domain + "&userId=admin@" + domain);
    expect(anonymous.status).toBe(401);
    expect(anonymous.body).toEqual({ Results: [expect.any(String)] });
    expect((await call(url, "/v1/tenants", { auth: "mfak_aaaaaaaaaaaa_" + "A".repeat(43) })).status).toBe(401);

    // Set-CIPPPerUserMFA -CustomerTenantID <domain> -UserPrincipalName <upn> -State Enforced, pointed at mfactl.
    const upn = `alex.wilber@${domain}`;
    expect((await adminUser(emu, domain, upn)).perUserMfaState).toBe("disabled");
    const set = await call(url, "/api/ExecPerUserMFA", { method: "POST", auth: key, body: { tenantFilter: domain, State: "Enforced", userPrincipalName: upn } });
    expect(set.status, set.text).toBe(200);
    expect(set.body).toEqual({ Results: [`Successfully set Per user MFA State for ${upn}`] });
    expect((await adminUser(emu, domain, upn)).perUserMfaState).toBe("enforced");
    const back = await call(url, `/api/ListPerUserMFA?tenantFilter=${domain}&userId=${encodeURIComponent(upn)}`, { apiKey: key });
    expect(back.status, back.text).toBe(200);
    expect(back.body).toEqual([expect.objectContaining({ PerUserMFAState: "enforced", UserPrincipalName: upn })]);
    const tenants = await call(url, "/v1/tenants", { auth: key });
    expect(tenants.status, tenants.text).toBe(200);
    expect(tenants.text).toContain(emu.tenants[1]!.domain);

    // CIPP's callers: an Entra token from the emulator for the API app.
    const token = await emulatorApiToken(emu, "readWrite");
    const mfaUsers = await call(url, "/api/ListMFAUsers?tenantFilter=AllTenants", { auth: token });
    expect(mfaUsers.status, mfaUsers.text).toBe(200);
    expect(mfaUsers.body).toHaveLength(emu.tenants.reduce((n, t) => n + t.userCount, 0));
    const guest = `john.doe_fabrikam.com#EXT#@${domain}`;
    const byToken = await call(url, "/api/ExecPerUserMFA", { method: "POST", auth: token, body: { tenantFilter: emu.tenants[0]!.id, userId: guest, State: { label: "Enabled", value: "Enabled" } } });
    expect(byToken.status, byToken.text).toBe(200);
    expect((await adminUser(emu, domain, guest)).perUserMfaState).toBe("enabled");
    const readOnly = await emulatorApiToken(emu, "readOnly");
    expect((await call(url, "/api/ExecPerUserMFA", { method: "POST", auth: readOnly, body: { tenantFilter: domain, userId: upn, State: "Disabled" } })).status).toBe(403);
    expect((await adminUser(emu, domain, upn)).perUserMfaState).toBe("enforced");

    // The audit log: the key's creation by the CLI, then each change with its caller.
    const audit = await call(url, "/v1/audit?limit=50", { auth: key });
    expect(audit.status, audit.text).toBe(200);
    const entries = (audit.body as { entries: { actor: string; action: string; outcome: string; target?: string }[] }).entries;
    const { apiCallers } = emulatorApi(emu);
    expect(entries).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ action: "apikey.create", actor: expect.stringMatching(/^cli:/), outcome: "ok", target: expect.stringMatching(/^ops \(/) }),
        expect.objectContaining({ action: "mfa.set", actor: "apikey:ops", outcome: "ok", target: upn }),
        expect.objectContaining({ action: "mfa.set", actor: `app:${apiCallers.readWrite.clientId}`, outcome: "ok", target: guest }),
      ]),
    );
    expect(entries.filter((e) => e.action === "mfa.set")).toHaveLength(2);

    const stopped = await proc.stop("SIGTERM");
    expect(stopped, proc.stderr()).toEqual({ code: 0, signal: null });
    expect(proc.stderr()).toMatch(/stopping/);
    expect(proc.stderr()).toMatch(/stopped\.\n$/);

    // Logs: JSON lines with the requests, never a credential.
    const lines = logLines(proc);
    expect(lines.some((l) => (l["req"] as { url?: string } | undefined)?.url === "/api/ExecPerUserMFA")).toBe(true);
    const everything = proc.stdout() + proc.stderr();
    for (const secret of [key, key.slice(18), emu.clientSecret, apiCallers.readWrite.clientSecret, token, token.split(".")[2]!, readOnly]) {
      expect(everything.includes(secret), `a credential is in the output: ${secret.slice(0, 12)}...`).toBe(false);
    }

    // The journal names the callers: the key by name, the app by client id.
    const runs = await mfactl(["runs", "--db", db, "-o", "json"], emu.env);
    expect(runs.code, runs.stderr).toBe(0);
    const actors = (JSON.parse(runs.stdout) as { actor: string }[]).map((r) => r.actor);
    expect(actors.sort()).toEqual([`app:${apiCallers.readWrite.clientId}`, "apikey:ops"].sort());
  });

  it("keys created and revoked with the CLI while serve runs take effect at once (same database); a key limited to a tenant is refused elsewhere; SIGINT stops it too", async () => {
    const { emu, domain } = lab;
    const dir = tmp("revoke");
    const db = join(dir, "journal.db");
    await createKey(db, emu.env, "bootstrap", "read");
    const { proc, url } = await serve(["--db", db, "--settings", writeSettings(dir, settingsYaml(emu))], emu.env);
    const key = await createKey(db, emu.env, "n8n", "write", ["--tenant", emu.tenants[1]!.domain]);
    const other = emu.tenants[1]!.domain;
    const ok = await call(url, "/api/ExecPerUserMFA", { method: "POST", auth: key, body: { tenantfilter: other, USERID: `megan.bowen@${other}`, state: "disabled" } });
    expect(ok.status, ok.text).toBe(200);
    expect((await adminUser(emu, other, `megan.bowen@${other}`)).perUserMfaState).toBe("disabled");
    // Limited to the second tenant.
    const refused = await call(url, "/api/ExecPerUserMFA", { method: "POST", auth: key, body: { tenantFilter: domain, userId: `megan.bowen@${domain}`, State: "Disabled" } });
    expect(refused.status).toBe(403);
    expect((await adminUser(emu, domain, `megan.bowen@${domain}`)).perUserMfaState).toBe("enabled");

    const revoke = await mfactl(["apikey", "revoke", "n8n", "--db", db], emu.env);
    expect(revoke.code, revoke.stderr).toBe(0);
    const after = await call(url, `/api/ListPerUserMFA?tenantFilter=${other}&userId=admin@${other}`, { auth: key });
    expect(after.status).toBe(401);
    expect(JSON.stringify(after.body)).toMatch(/revoked/i);
    // Ctrl+C stops it as SIGTERM does.
    expect(await proc.stop("SIGINT")).toEqual({ code: 0, signal: null });
    expect(proc.stderr()).toMatch(/stopped\.\n$/);
  });
});

describe("mfactl serve over HTTPS (tls settings, --tls-cert/--tls-key)", () => {
  it("serves HTTPS with the given certificate: trusted with its CA, refused without it; the private key is never printed", async () => {
    const { emu, domain } = lab;
    const dir = tmp("tls");
    const cert = join(dir, "cert.pem");
    const keyFile = join(dir, "key.pem");
    execFileSync(
      "openssl",
      ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", keyFile, "-out", cert, "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
      { stdio: "ignore" },
    );
    const ca = readFileSync(cert, "utf8");
    const db = join(dir, "journal.db");
    const key = await createKey(db, emu.env, "ops", "write");
    // tls in the settings file, with paths relative to the file (the process runs elsewhere).
    expect(process.cwd()).not.toBe(dir);
    const { proc, url } = await serve(["--db", db, "--settings", writeSettings(dir, settingsYaml(emu, "tls:\n  cert: cert.pem\n  key: key.pem\n"))], emu.env);
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);

    const health = await call(url, "/health", { ca });
    expect(health.status).toBe(200);
    expect(health.headers["strict-transport-security"]).toMatch(/max-age=\d+/);
    const set = await call(url, "/api/ExecPerUserMFA", { method: "POST", auth: key, ca, body: { tenantFilter: domain, userPrincipalName: `alex.wilber@${domain}`, State: "enforced" } });
    expect(set.status, set.text).toBe(200);
    expect((await adminUser(emu, domain, `alex.wilber@${domain}`)).perUserMfaState).toBe("enforced");

    // Without the certificate's CA the client refuses the server; plain HTTP gets no API answer.
    await expect(call(url, "/health")).rejects.toThrow(/self[- ]signed|unable to verify|certificate/i);
    const plain = await call(url.replace("https:", "http:"), "/health").catch((e: Error) => e);
    if (!(plain instanceof Error)) expect(plain.status).not.toBe(200);

    expect(await proc.stop()).toEqual({ code: 0, signal: null });
    const privateKey = readFileSync(keyFile, "utf8");
    const keyBody = privateKey.split("\n").filter((l) => l && !l.startsWith("-----"))[1]!;
    expect(proc.stdout() + proc.stderr()).not.toContain(keyBody);
  });

  it("--tls-cert without --tls-key, or an unreadable certificate: exit 2 before listening", async () => {
    const { emu } = lab;
    const dir = tmp("tls-bad");
    const settings = writeSettings(dir, settingsYaml(emu));
    const db = join(dir, "journal.db");
    const only = await mfactl(["serve", "--port", "0", "--db", db, "--settings", settings, "--tls-cert", join(dir, "cert.pem")], emu.env);
    expect(only.code, only.stderr).toBe(2);
    expect(only.stderr).toMatch(/--tls-key/);
    const missing = await mfactl(["serve", "--port", "0", "--db", db, "--settings", settings, "--tls-cert", join(dir, "nope.pem"), "--tls-key", join(dir, "nope.key")], emu.env);
    expect(missing.code, missing.stderr).toBe(2);
    expect(missing.stderr).toMatch(/nope\.pem.*ENOENT/);
    expect(missing.stderr).not.toMatch(/listening/);
  });
});

describe("mfactl serve refuses bad settings with exit 2", () => {
  it("an unknown key names its path", async () => {
    const { emu } = lab;
    const dir = tmp("bad");
    const db = join(dir, "journal.db");
    // A typo inside entra.apps[0]: "scope" for "scopes".
    const typo = settingsYaml(emu).replace("      scopes: [write]", "      scope: [write]");
    const r1 = await mfactl(["serve", "--port", "0", "--db", db, "--settings", writeSettings(dir, typo, "typo.yaml")], emu.env);
    expect(r1.code, r1.stderr).toBe(2);
    expect(r1.stderr).toMatch(/typo\.yaml/);
    expect(r1.stderr).toMatch(/entra\.apps\.0/);
    expect(r1.stderr).toMatch(/"scope"/);
    expect(r1.stderr).not.toMatch(/listening/);
    // At the top level.
    const r2 = await mfactl(["serve", "--port", "0", "--db", db, "--settings", writeSettings(dir, settingsYaml(emu, "listen: 0.0.0.0"), "top.yaml")], emu.env);
    expect(r2.code, r2.stderr).toBe(2);
    expect(r2.stderr).toMatch(/top\.yaml/);
    expect(r2.stderr).toMatch(/"listen"/);
    expect(r2.stdout).toBe("");
  });

  it("a bad value, a missing file, a file that is not YAML, a bad --port", async () => {
    const { emu } = lab;
    const dir = tmp("bad-values");
    const db = join(dir, "journal.db");
    const port = await mfactl(["serve", "--db", db, "--settings", writeSettings(dir, settingsYaml(emu, "port: 99999"), "port.yaml")], emu.env);
    expect(port.code, port.stderr).toBe(2);
    expect(port.stderr).toMatch(/port/);
    const missing = await mfactl(["serve", "--port", "0", "--db", db, "--settings", join(dir, "missing.yaml")], emu.env);
    expect(missing.code, missing.stderr).toBe(2);
    expect(missing.stderr).toMatch(/missing\.yaml/);
    const notYaml = await mfactl(["serve", "--port", "0", "--db", db, "--settings", writeSettings(dir, "tenants: [a\n  b: {", "broken.yaml")], emu.env);
    expect(notYaml.code, notYaml.stderr).toBe(2);
    expect(notYaml.stderr).toMatch(/broken\.yaml/);
    const flag = await mfactl(["serve", "--port", "eighty", "--db", db, "--settings", writeSettings(dir, settingsYaml(emu))], emu.env);
    expect(flag.code, flag.stderr).toBe(2);
    expect(flag.stderr).toMatch(/--port/);
    // A bad flag value is blamed on the flags, not on the (valid) settings file.
    const level = await mfactl(["serve", "--port", "70000", "--db", db, "--settings", writeSettings(dir, settingsYaml(emu), "good.yaml")], emu.env);
    expect(level.code, level.stderr).toBe(2);
    expect(level.stderr).toMatch(/command-line flags.*port/);
    expect(level.stderr).not.toMatch(/good\.yaml/);
  });

  it("no tenants (an empty list, or none in the settings nor the profile): exit 2", async () => {
    const { emu } = lab;
    const dir = tmp("no-tenants");
    const db = join(dir, "journal.db");
    const empty = settingsYaml(emu).replace(/^tenants:\n(?: {2}.*\n)+/m, "tenants: []\n");
    expect(empty).toMatch(/^tenants: \[\]$/m);
    const r1 = await mfactl(["serve", "--port", "0", "--db", db, "--settings", writeSettings(dir, empty, "empty.yaml")], emu.env);
    expect(r1.code, r1.stderr).toBe(2);
    expect(r1.stderr).toMatch(/No tenants to serve/);
    const none = settingsYaml(emu).replace(/^tenants:\n(?: {2}.*\n)+/m, "");
    expect(none).not.toMatch(/^tenants/m);
    const r2 = await mfactl(["serve", "--port", "0", "--db", db, "--settings", writeSettings(dir, none, "none.yaml")], emu.env);
    expect(r2.code, r2.stderr).toBe(2);
    expect(r2.stderr).toMatch(/No tenants to serve/);
    expect(r2.stderr).not.toMatch(/listening/);
  });
});

describePostgres("mfactl serve on PostgreSQL (--db postgres://...)", (pg) => {
  it("apikey create and serve share a PostgreSQL database (its own schema): the key works, the change is journaled there", async () => {
    const { emu, domain } = lab;
    const { schema, drop } = await pg.freshSchema();
    try {
      // A schema of its own for this test, chosen the way any libpq client can: the connection's search_path.
      const url = new URL(pg.url);
      url.searchParams.set("options", `-c search_path=${schema}`);
      const db = url.toString();
      const key = await createKey(db, emu.env, "ops", "write");
      const dir = tmp("pg");
      const { proc, url: base } = await serve(["--db", db, "--settings", writeSettings(dir, settingsYaml(emu))], emu.env);
      expect(proc.stderr()).toMatch(/postgres:\/\//);
      const upn = `adele.vance@${domain}`;
      const set = await call(base, "/api/ExecPerUserMFA", { method: "POST", auth: key, body: { tenantFilter: domain, userPrincipalName: upn, State: "Enforced" } });
      expect(set.status, set.text).toBe(200);
      expect(set.body).toEqual({ Results: [`Successfully set Per user MFA State for ${upn}`] });
      expect((await adminUser(emu, domain, upn)).perUserMfaState).toBe("enforced");
      expect(await proc.stop()).toEqual({ code: 0, signal: null });

      const runs = await mfactl(["runs", "--db", db, "-o", "json"], emu.env);
      expect(runs.code, runs.stderr).toBe(0);
      expect(JSON.parse(runs.stdout)).toEqual([expect.objectContaining({ actor: "apikey:ops", kind: "set" })]);
      const list = await mfactl(["apikey", "list", "--db", db, "-o", "json"], emu.env);
      expect(list.code, list.stderr).toBe(0);
      expect(JSON.parse(list.stdout)).toEqual([expect.objectContaining({ name: "ops", scopes: ["write"] })]);
      const password = decodeURIComponent(new URL(pg.url).password);
      if (password.length >= 8) expect(proc.stdout() + proc.stderr()).not.toContain(password);
    } finally {
      await drop();
    }
  });
});
