import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEmulator, type RunningEmulator } from "./emulator.js";
import { graph, tokenFor } from "./test-helpers.js";

let emu: RunningEmulator;
let token: string;

beforeAll(async () => {
  emu = await startEmulator({ tenants: 2, users: 12 });
  token = await tokenFor(emu, emu.tenants[0]!.id);
});
afterAll(async () => {
  await emu.close();
});

interface Methods {
  "@odata.context": string;
  value: Record<string, unknown>[];
}

const PASSWORD = { "@odata.type": "#microsoft.graph.passwordAuthenticationMethod", id: "28c10230-6103-485e-b985-444c60001490" };
const domain = () => emu.tenants[0]!.domain;
const methods = async (ref: string, version = "v1.0", t = token) => {
  const reply = await graph(emu, t, `/${version}/users/${ref}/authentication/methods`);
  expect(reply.status, reply.text).toBe(200);
  return reply.json<Methods>();
};

describe("GET /users/{id | upn}/authentication/methods", () => {
  it("always lists the password method first, then each registered method with Graph's type", async () => {
    const admin = await methods(`admin@${domain()}`);
    expect(admin["@odata.context"]).toBe(`${emu.graphUrl}/v1.0/$metadata#users('${encodeURIComponent(`admin@${domain()}`)}')/authentication/methods`);
    expect(admin.value.map((m) => m["@odata.type"])).toEqual([
      "#microsoft.graph.passwordAuthenticationMethod",
      "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod",
      "#microsoft.graph.phoneAuthenticationMethod",
    ]);
    expect(admin.value[0]).toMatchObject({ ...PASSWORD, password: null });
    expect(admin.value[1]).toMatchObject({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), deviceTag: "SoftwareTokenActivated", displayName: expect.any(String) });
    expect(admin.value[2]).toEqual({
      "@odata.type": "#microsoft.graph.phoneAuthenticationMethod", id: "3179e48a-750b-4051-897c-87b9720928f7",
      phoneNumber: expect.stringMatching(/^\+1 425 555 01\d\d$/), phoneType: "mobile", smsSignInState: "notSupported",
    });
    const alex = await methods(`alex.wilber@${domain()}`, "beta");
    expect(alex.value).toEqual([expect.objectContaining(PASSWORD)]);
    const breakglass = await methods(`breakglass@${domain()}`);
    expect(breakglass.value[1]).toMatchObject({ "@odata.type": "#microsoft.graph.fido2AuthenticationMethod", attestationLevel: "attested", model: "YubiKey 5 NFC", id: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/) });
  });

  it("maps every method name the emulator stores; unknown names are left out", async () => {
    const upn = `megan.bowen@${domain()}`;
    const all = ["microsoftAuthenticatorPush", "mobilePhone", "softwareOneTimePasscode", "fido2", "windowsHelloForBusiness", "email", "temporaryAccessPass", "carrierPigeon"];
    emu.admin.patchUser(domain(), upn, { methods: all });
    try {
      const listed = (await methods(encodeURIComponent(upn))).value;
      expect(listed.map((m) => m["@odata.type"])).toEqual([
        "#microsoft.graph.passwordAuthenticationMethod",
        "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod",
        "#microsoft.graph.phoneAuthenticationMethod",
        "#microsoft.graph.softwareOathAuthenticationMethod",
        "#microsoft.graph.fido2AuthenticationMethod",
        "#microsoft.graph.windowsHelloForBusinessAuthenticationMethod",
        "#microsoft.graph.emailAuthenticationMethod",
        "#microsoft.graph.temporaryAccessPassAuthenticationMethod",
      ]);
      expect(listed[6]).toMatchObject({ id: "3ddfcfc8-9383-446f-83cc-3ab9be4be18f", emailAddress: "megan.bowen@outlook.com" });
      expect(listed[7]).toMatchObject({ isUsable: false, methodUsabilityReason: "Expired", lifetimeInMinutes: 60, temporaryAccessPass: null });
      expect(listed[5]).toMatchObject({ keyStrength: "normal", displayName: expect.stringMatching(/^DESKTOP-[0-9A-F]{7}$/) });
      for (const m of listed.filter((x) => "createdDateTime" in x)) expect(m["createdDateTime"]).toMatch(/^20(22|23|24)-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    } finally {
      emu.admin.reset();
    }
  });

  it("gives stable ids per user and method: the same on every read and after a reset, different between users", async () => {
    const first = await methods(`admin@${domain()}`);
    const byId = await methods(emu.admin.getUser(domain(), `admin@${domain()}`).id, "beta");
    expect(byId.value).toEqual(first.value);
    emu.admin.reset();
    expect((await methods(`admin@${domain()}`)).value).toEqual(first.value);
    const adele = await methods(`adele.vance@${domain()}`);
    expect(adele.value[1]!["@odata.type"]).toBe("#microsoft.graph.microsoftAuthenticatorAuthenticationMethod");
    expect(adele.value[1]!["id"]).not.toBe(first.value[1]!["id"]);
  });

  it("reflects an admin registration at once, and is a 2 RU list", async () => {
    const upn = `alex.wilber@${domain()}`;
    emu.admin.patchUser(domain(), upn, { methods: ["softwareOneTimePasscode"] });
    try {
      const reply = await graph(emu, token, `/v1.0/users/${upn}/authentication/methods`);
      expect(reply.headers["x-ms-resource-unit"]).toBe("2");
      expect(reply.json<Methods>().value.map((m) => m["@odata.type"])).toEqual(["#microsoft.graph.passwordAuthenticationMethod", "#microsoft.graph.softwareOathAuthenticationMethod"]);
    } finally {
      emu.admin.reset();
    }
  });

  it("needs UserAuthenticationMethod.Read.All (403 otherwise), 404 for an unknown user, GET only", async () => {
    const clientId = "f2f2f2f2-0000-4000-8000-000000000001";
    emu.admin.registerApp({ clientId, clientSecret: "s", tenants: { "*": ["User.Read.All", "Directory.Read.All", "Policy.Read.All"] } });
    const noMethods = await tokenFor(emu, emu.tenants[0]!.id, { clientId, clientSecret: "s" });
    const denied = await graph(emu, noMethods, `/v1.0/users/admin@${domain()}/authentication/methods`);
    expect(denied.status).toBe(403);
    expect(denied.json<{ error: { code: string; message: string } }>().error).toMatchObject({ code: "Authorization_RequestDenied", message: "Insufficient privileges to complete the operation." });
    emu.admin.registerApp({ clientId: "f2f2f2f2-0000-4000-8000-000000000002", clientSecret: "s", tenants: { "*": ["UserAuthenticationMethod.ReadWrite.All"] } });
    const readWrite = await tokenFor(emu, emu.tenants[0]!.id, { clientId: "f2f2f2f2-0000-4000-8000-000000000002", clientSecret: "s" });
    expect((await methods(`admin@${domain()}`, "v1.0", readWrite)).value.length).toBe(3);
    const readOnly = await tokenFor(emu, emu.tenants[0]!.id, emu.readOnlyApp);
    expect((await methods(`admin@${domain()}`, "beta", readOnly)).value.length).toBe(3);
    const ghost = await graph(emu, token, `/v1.0/users/ghost@${domain()}/authentication/methods`);
    expect(ghost.status).toBe(404);
    expect(ghost.json<{ error: { code: string } }>().error.code).toBe("Request_ResourceNotFound");
    expect((await graph(emu, token, `/v1.0/users/admin@${domain()}/authentication/methods`, { method: "POST", body: {} })).status).toBe(405);
    expect((await graph(emu, token, `/v1.0/users/admin@${domain()}/authentication/methods/${PASSWORD.id}`)).status).toBe(400);
  });
});
