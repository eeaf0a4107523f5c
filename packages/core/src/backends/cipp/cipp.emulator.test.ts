/**
 * The CIPP backend against the emulator's CIPP instance over real HTTPS: MSAL client credentials for
 * api://<client id>/.default, CIPP's endpoints, its weaknesses switched on, faults and retries. The emulator is
 * imported from its source by a computed path, so core's TypeScript project does not take in another package.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { AuthError, UsageError } from "../../domain/errors.js";
import type { UserMfaChange } from "../../domain/vocabulary.js";
import { memoryJournal } from "../../journal/memory-journal.js";
import { ProtectedAccounts } from "../../operations/guard-rails.js";
import { InstantClock } from "../../transport/clock.js";
import { createFetch, type HttpTransport } from "../../transport/http.js";
import type { TransportEvent } from "../../transport/types.js";
import { createCippClient, type CippClient, type CippClientOptions } from "./client.js";
import { CippError } from "./errors.js";
import { cippGetUserMfa, cippListUsers, cippSetUserMfa } from "./operations.js";

interface AdminUser {
  id: string;
  userPrincipalName: string;
  displayName: string;
  userType: string;
  accountEnabled: boolean;
  isLicensed: boolean;
  perUserMfaState: string;
  patchCount: number;
}
interface Emulator {
  authorityHost: string;
  caPem: string;
  apiApp: { identifierUri: string; tenantId: string };
  apiCallers: { readWrite: { clientId: string; clientSecret: string } };
  cipp: { url: string; clientId: string; identifierUri: string; tenantId: string; caller: { clientId: string; clientSecret: string } };
  tenants: { id: string; domain: string; userCount: number }[];
  admin: {
    getUser(tenant: string, user: string): AdminUser;
    listUsers(tenant: string): { id: string; userPrincipalName: string; perUserMfaState: string }[];
    addFaults(rules: unknown[]): void;
    configure(patch: unknown): unknown;
    reset(): void;
    stats(): { patches: number; requests: number };
  };
  close(): Promise<void>;
}
type StartEmulator = (options?: { tenants?: number; users?: number; seed?: string }) => Promise<Emulator>;

const EMULATOR_MODULE = "../../../../emulator/src/index.js";

let emu: Emulator;
let http: HttpTransport;
let clock: InstantClock;
let events: TransportEvent[];

beforeAll(async () => {
  const { startEmulator } = (await import(/* @vite-ignore */ EMULATOR_MODULE)) as { startEmulator: StartEmulator };
  emu = await startEmulator({ tenants: 2, users: 12, seed: "core-cipp" });
  http = createFetch({ caPem: emu.caPem });
});
afterAll(async () => {
  await http?.close();
  await emu?.close();
});
afterEach(() => {
  emu.admin.reset();
  emu.admin.configure({ cipp: { misreportFailures: false, ignoreUserId: false } });
});

function client(overrides: Partial<CippClientOptions> = {}): CippClient {
  clock = new InstantClock(Date.now());
  events = [];
  return createCippClient({
    url: emu.cipp.url,
    tenantId: emu.cipp.tenantId,
    clientId: emu.cipp.caller.clientId,
    clientSecret: emu.cipp.caller.clientSecret,
    authorityHost: emu.authorityHost,
    fetch: http.fetch,
    clock,
    onEvent: (e) => events.push(e),
    ...overrides,
  });
}

/** A customer tenant: not the one CIPP's API client lives in. */
const t = () => emu.tenants[1]!.domain;
const upn = (local: string) => `${local}@${t()}`;
const GUEST = "john.doe_fabrikam.com#EXT#";

describe("get through CIPP", () => {
  it("reads a member by UPN or object id, and a guest (#EXT#), with id and UPN resolved", async () => {
    const c = client();
    const megan = emu.admin.getUser(t(), upn("megan.bowen"));
    expect(await cippGetUserMfa(c, { tenant: t(), user: upn("megan.bowen") })).toEqual({ tenant: t(), id: megan.id, userPrincipalName: megan.userPrincipalName, perUserMfaState: "enabled" });
    expect(await cippGetUserMfa(c, { tenant: t(), user: megan.id })).toMatchObject({ id: megan.id, userPrincipalName: megan.userPrincipalName, perUserMfaState: "enabled" });
    const guest = emu.admin.getUser(t(), upn(GUEST));
    expect(await cippGetUserMfa(c, { tenant: t(), user: upn(GUEST) })).toMatchObject({ id: guest.id, userPrincipalName: guest.userPrincipalName, perUserMfaState: "disabled" });
    // One token for all of it.
    expect(events.filter((e) => e.type === "token")).toHaveLength(1);
  });

  it("an unknown user is a CippError UserNotFound; bad input a UsageError before any call", async () => {
    const c = client();
    const error = await cippGetUserMfa(c, { tenant: t(), user: upn("nobody") }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CippError);
    expect(error).toMatchObject({ code: "UserNotFound", status: 404, tenant: t(), user: upn("nobody") });
    await expect(cippGetUserMfa(c, { tenant: "not a tenant", user: upn("nobody") })).rejects.toBeInstanceOf(UsageError);
    expect(events.filter((e) => e.type === "request" && e.url.includes("not a tenant"))).toHaveLength(0);
  });
});

describe("set through CIPP", () => {
  it("changes the state, reads it back, sends both userPrincipalName and userId; the same again is unchanged", async () => {
    const c = client();
    const alex = emu.admin.getUser(t(), upn("alex.wilber"));
    const result = await cippSetUserMfa(c, { tenant: t(), user: upn("alex.wilber"), state: "Enforced" });
    expect(result).toMatchObject({ tenant: t(), id: alex.id, userPrincipalName: alex.userPrincipalName, previousState: "disabled", requestedState: "enforced", perUserMfaState: "enforced", status: "changed" });
    expect(emu.admin.getUser(t(), alex.id)).toMatchObject({ perUserMfaState: "enforced", patchCount: 1 });
    const again = await cippSetUserMfa(c, { tenant: t(), user: alex.id, state: "enforced" });
    expect(again).toMatchObject({ status: "unchanged", perUserMfaState: "enforced" });
    expect(emu.admin.getUser(t(), alex.id).patchCount).toBe(1);
  });

  it("a guest (#EXT#) by UPN is changed and read back", async () => {
    const result = await cippSetUserMfa(client(), { tenant: t(), user: upn(GUEST), state: "enforced" });
    expect(result).toMatchObject({ userPrincipalName: upn(GUEST), status: "changed", perUserMfaState: "enforced" });
    expect(emu.admin.getUser(t(), upn(GUEST)).perUserMfaState).toBe("enforced");
  });

  it("a dry run reads and sends nothing", async () => {
    const before = emu.admin.stats().patches;
    const result = await cippSetUserMfa(client(), { tenant: t(), user: upn("alex.wilber"), state: "enforced", dryRun: true });
    expect(result).toMatchObject({ status: "wouldChange", previousState: "disabled", perUserMfaState: "disabled" });
    expect(emu.admin.stats().patches).toBe(before);
    expect(events.some((e) => e.type === "request" && e.url.includes("ExecPerUserMFA"))).toBe(false);
  });

  it("misreportFailures: CIPP says 'Successfully set' but the change failed: the read-back makes it failed, with the reason", async () => {
    emu.admin.configure({ cipp: { misreportFailures: true } });
    emu.admin.addFaults([{ method: "PATCH", pathIncludes: "/authentication/requirements", status: 503, count: 1 }]);
    const result = await cippSetUserMfa(client({ readBackDelaysMs: [1000, 2000] }), { tenant: t(), user: upn("alex.wilber"), state: "enforced" });
    expect(result.status).toBe("failed");
    expect(result.error?.code).toBe("CippReportedSuccess");
    expect(result.error?.message).toMatch(/^CIPP reported success \("Successfully set Per user MFA State for alex\.wilber@\S+"\) but alex\.wilber@\S+ reads back as disabled, not enforced/);
    expect(emu.admin.getUser(t(), upn("alex.wilber")).perUserMfaState).toBe("disabled");
    // It waited (on the injected clock) before giving up, in case Graph was only slow to show the change.
    expect(clock.sleeps).toEqual([1000, 2000]);
  });

  it("ignoreUserId: the endpoint reads only userPrincipalName for members; sending both keys still works", async () => {
    emu.admin.configure({ cipp: { ignoreUserId: true } });
    const alex = emu.admin.getUser(t(), upn("alex.wilber"));
    // Even when the user was named by object id: the UPN goes along.
    const result = await cippSetUserMfa(client(), { tenant: t(), user: alex.id, state: "enforced" });
    expect(result).toMatchObject({ status: "changed", perUserMfaState: "enforced" });
    const guest = await cippSetUserMfa(client(), { tenant: t(), user: upn(GUEST), state: "enforced" });
    expect(guest).toMatchObject({ status: "changed", perUserMfaState: "enforced" });
    expect(emu.admin.getUser(t(), upn(GUEST)).perUserMfaState).toBe("enforced");
  });

  it("CIPP's 500 (Graph refused the change) is failed with CIPP's message, never thrown", async () => {
    emu.admin.addFaults([{ method: "PATCH", pathIncludes: "/authentication/requirements", status: 403, count: 1 }]);
    const result = await cippSetUserMfa(client(), { tenant: t(), user: upn("alex.wilber"), state: "enforced" });
    expect(result.status).toBe("failed");
    expect(result.error).toMatchObject({ code: "CippFailed", httpStatus: 500 });
    expect(result.error?.message).toContain("Failed to set MFA State to enforced for alex.wilber@");
    expect(result.error?.message).toContain("Request Authorization failed");
  });

  it("429 and 503 from CIPP's host are retried, honouring Retry-After", async () => {
    emu.admin.addFaults([
      { pathIncludes: "/cipp/api/ExecPerUserMFA", status: 429, retryAfterSeconds: 7, count: 2 },
      { pathIncludes: "/cipp/api/ListPerUserMFA", status: 503, count: 1 },
    ]);
    const result = await cippSetUserMfa(client(), { tenant: t(), user: upn("alex.wilber"), state: "enforced" });
    expect(result).toMatchObject({ status: "changed", perUserMfaState: "enforced" });
    expect(clock.sleeps.filter((ms) => ms === 7000)).toHaveLength(2);
    const retries = events.filter((e) => e.type === "retry");
    expect(retries.map((e) => (e.type === "retry" ? e.status : 0))).toEqual([503, 429, 429]);
  });

  it("a connection reset is retried too", async () => {
    emu.admin.addFaults([{ pathIncludes: "/cipp/api/ListPerUserMFA", action: "reset", count: 1 }]);
    expect(await cippGetUserMfa(client(), { tenant: t(), user: upn("megan.bowen") })).toMatchObject({ perUserMfaState: "enabled" });
    expect(events.some((e) => e.type === "retry")).toBe(true);
  });

  it("refuses a protected account before anything is sent, unless includeProtected", async () => {
    const protectedAccounts = new ProtectedAccounts([upn("alex.wilber")]);
    await expect(cippSetUserMfa(client(), { tenant: t(), user: upn("alex.wilber"), state: "enforced" }, { protectedAccounts })).rejects.toBeInstanceOf(UsageError);
    expect(emu.admin.getUser(t(), upn("alex.wilber")).patchCount).toBe(0);
    const sync = emu.admin.listUsers(t()).find((u) => /^sync_/i.test(u.userPrincipalName))!;
    await expect(cippSetUserMfa(client(), { tenant: t(), user: sync.id, state: "enforced" }, { protectedAccounts })).rejects.toThrow(/directory synchronisation account/);
    expect(await cippSetUserMfa(client(), { tenant: t(), user: upn("alex.wilber"), state: "enforced", includeProtected: true }, { protectedAccounts })).toMatchObject({ status: "changed" });
  });

  it("is journaled as a run of one (kind set), settled with the state read back", async () => {
    const journal = memoryJournal();
    const result = await cippSetUserMfa(client(), { tenant: t(), user: upn("alex.wilber"), state: "enforced" }, { journal: { journal, actor: `app:${emu.cipp.clientId}` } });
    expect(result.status).toBe("changed");
    expect(result.runId).toBeDefined();
    const run = await journal.getRun(result.runId!);
    expect(run).toMatchObject({ kind: "set", actor: `app:${emu.cipp.clientId}`, status: "completed", description: "set enforced through CIPP" });
    const changes = [];
    for await (const c of journal.changes(result.runId!)) changes.push(c);
    expect(changes).toMatchObject([{ userPrincipalName: upn("alex.wilber"), previousState: "disabled", requestedState: "enforced", status: "changed" }]);
  });
});

describe("list through CIPP", () => {
  it("every user as report rows (ListPerUserMFA's state, ListMFAUsers' details), filters applied", async () => {
    const c = client();
    await cippSetUserMfa(c, { tenant: t(), user: upn("alex.wilber"), state: "enforced" });
    const rows = [];
    for await (const row of cippListUsers(c, t())) rows.push(row);
    expect(rows).toHaveLength(emu.tenants[1]!.userCount);
    for (const row of rows) {
      const u = emu.admin.getUser(t(), row.id);
      expect(row).toEqual({ tenant: t(), id: u.id, userPrincipalName: u.userPrincipalName, displayName: u.displayName, userType: u.userType, accountEnabled: u.accountEnabled, isLicensed: u.isLicensed, perUserMfaState: u.perUserMfaState });
    }
    expect(rows.find((r) => r.userPrincipalName === upn("alex.wilber"))?.perUserMfaState).toBe("enforced");

    const enforced = [];
    for await (const row of cippListUsers(c, t(), { states: ["enforced"], members: true })) enforced.push(row);
    expect(enforced.length).toBeGreaterThan(0);
    expect(enforced.every((r) => r.perUserMfaState === "enforced" && r.userType === "Member")).toBe(true);
    expect(enforced.length).toBe(rows.filter((r) => r.perUserMfaState === "enforced" && r.userType === "Member").length);
    const guests = [];
    for await (const row of cippListUsers(c, t(), { guests: true })) guests.push(row);
    expect(guests.map((r) => r.userPrincipalName)).toEqual([upn(GUEST)]);
  });

  it("a tenant CIPP cannot read throws CippError with CIPP's message", async () => {
    const error = await (async () => {
      for await (const _ of cippListUsers(client(), "nowhere.onmicrosoft.com")) void _;
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CippError);
    expect((error as CippError).message).toMatch(/CIPP answered 500 to ListPerUserMFA \(tenant nowhere\.onmicrosoft\.com\): Failed to get MFA State for : .*AADSTS90002/);
  });
});

describe("sign-in and the bearer check, and no secret anywhere", () => {
  it("a wrong secret is an AuthError that says so, and set reports it as failed; the secret appears nowhere", async () => {
    const secret = "Wrong8Q~secret-value-that-must-not-leak-1234";
    const c = client({ clientSecret: secret });
    const error = await cippGetUserMfa(c, { tenant: t(), user: upn("alex.wilber") }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthError);
    expect((error as AuthError).message).toMatch(/client secret is not valid for CIPP's API client .* \(AADSTS7000215\)/);
    const result = await cippSetUserMfa(c, { tenant: t(), user: upn("alex.wilber"), state: "enforced" });
    expect(result).toMatchObject({ status: "failed", error: { code: "AADSTS7000215" } });
    for (const text of [String(error), JSON.stringify(error), (error as Error).stack ?? "", JSON.stringify(result)]) expect(text).not.toContain(secret);
  });

  it("a token CIPP refuses (for another API) is a clear CippUnauthorized, after one refresh; nothing changes", async () => {
    const c = client({ clientId: emu.apiCallers.readWrite.clientId, clientSecret: emu.apiCallers.readWrite.clientSecret, scope: `${emu.apiApp.identifierUri}/.default` });
    const error = await cippGetUserMfa(c, { tenant: t(), user: upn("alex.wilber") }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CippError);
    expect(error).toMatchObject({ status: 401, code: "CippUnauthorized", endpoint: "ListPerUserMFA" });
    expect((error as CippError).message).toMatch(/^CIPP at https:\/\/127\.0\.0\.1:\d+\/cipp refused the access token \(HTTP 401: The token is not for CIPP-API/);
    expect(events.filter((e) => e.type === "token").map((e) => (e.type === "token" ? e.reason : ""))).toEqual(["initial", "rejected"]);
    const result: UserMfaChange = await cippSetUserMfa(c, { tenant: t(), user: upn("alex.wilber"), state: "enforced" });
    expect(result).toMatchObject({ status: "failed", error: { code: "CippUnauthorized", httpStatus: 401 } });
    expect(emu.admin.getUser(t(), upn("alex.wilber")).patchCount).toBe(0);
    for (const text of [String(error), JSON.stringify(result)]) {
      expect(text).not.toContain(emu.apiCallers.readWrite.clientSecret);
      expect(text).not.toMatch(/eyJ[\w-]+\./);
    }
  });

  it("settings are checked before anything is sent", () => {
    expect(() => client({ url: "http://cipp.example.com" })).toThrow(UsageError);
    expect(() => client({ tenantId: "not a tenant" })).toThrow(/CIPP's tenant/);
    expect(() => client({ clientSecret: "" })).toThrow(/secret is empty/);
  });

  it("takes the CIPP URL with or without a trailing /api", async () => {
    const c = client({ url: `${emu.cipp.url}/api/` });
    expect(c.url).toBe(emu.cipp.url);
    expect(await cippGetUserMfa(c, { tenant: t(), user: upn("megan.bowen") })).toMatchObject({ perUserMfaState: "enabled" });
  });
});
