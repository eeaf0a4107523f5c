import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEmulator, type RunningEmulator } from "./emulator.js";
import { graph, ManualClock, send, tokenFor } from "./test-helpers.js";

let emu: RunningEmulator;
let token: string;
let readOnly: string;
const clock = new ManualClock();

beforeAll(async () => {
  emu = await startEmulator({ clock, tenants: 2, users: 30 });
  token = await tokenFor(emu, emu.tenants[0]!.id);
  readOnly = await tokenFor(emu, emu.tenants[0]!.id, emu.readOnlyApp);
});
afterAll(async () => {
  await emu.close();
});

const domain = () => emu.tenants[0]!.domain;

interface GraphErrorBody {
  error: { code: string; message: string; innerError: { date: string; "request-id": string; "client-request-id": string } };
}

function expectGraphError(reply: { status: number; json: <T>() => T; headers: Record<string, unknown> }, status: number, code: string, message?: string | RegExp) {
  expect(reply.status).toBe(status);
  const body = reply.json<GraphErrorBody>();
  expect(body.error.code).toBe(code);
  if (message !== undefined) expect(body.error.message).toMatch(message);
  expect(body.error.innerError["request-id"]).toBe(reply.headers["request-id"]);
  expect(body.error.innerError["client-request-id"]).toBe(reply.headers["client-request-id"]);
  expect(body.error.innerError.date).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/);
  expect(reply.headers["x-ms-resource-unit"]).toMatch(/^\d+$/);
}

describe("Graph authentication", () => {
  it("answers a missing, malformed or foreign token with 401 InvalidAuthenticationToken", async () => {
    const missing = await send(`${emu.graphUrl}/v1.0/users`, { ca: emu.caPem });
    expectGraphError(missing, 401, "InvalidAuthenticationToken", "Access token is empty.");
    expect(missing.headers["www-authenticate"]).toMatch(/^Bearer /);
    expectGraphError(await graph(emu, "not-a-jwt", "/v1.0/users"), 401, "InvalidAuthenticationToken", /^Access token validation failure/);
    const [h, p] = token.split(".");
    expectGraphError(await graph(emu, `${h}.${p}.AAAA`, "/v1.0/users"), 401, "InvalidAuthenticationToken", /Invalid signature/);
  });

  it("rejects an expired token (lifetime 1 s, clock moved on)", async () => {
    emu.admin.configure({ tokenLifetimeSeconds: 1 });
    const short = await tokenFor(emu, emu.tenants[0]!.id);
    emu.admin.configure({ tokenLifetimeSeconds: 3599 });
    expect((await graph(emu, short, "/v1.0/users?$top=1")).status).toBe(200);
    // exp is rounded up to the next whole second, so 2 s is always past it.
    clock.advance(2000);
    expectGraphError(await graph(emu, short, "/v1.0/users?$top=1"), 401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.");
  });

  it("the token's tenant selects the directory", async () => {
    const other = await tokenFor(emu, emu.tenants[1]!.id);
    const reply = await graph(emu, other, `/v1.0/users/admin@${emu.tenants[1]!.domain}`);
    expect(reply.status).toBe(200);
    expectGraphError(await graph(emu, other, `/v1.0/users/admin@${domain()}`), 404, "Request_ResourceNotFound");
  });
});

describe("Graph request and response headers", () => {
  it("echoes client-request-id, sets request-id and x-ms-resource-unit", async () => {
    const reply = await graph(emu, token, "/v1.0/users?$top=5", { headers: { "client-request-id": "my-id-1" } });
    expect(reply.headers["client-request-id"]).toBe("my-id-1");
    expect(reply.headers["request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    // list users 2 RU, $top < 20 -1.
    expect(reply.headers["x-ms-resource-unit"]).toBe("1");
    expect((await graph(emu, token, "/v1.0/users")).headers["x-ms-resource-unit"]).toBe("2");
  });
});

describe("GET /users/{id | upn}", () => {
  it("finds a user by id, by UPN in any case, and in the users('...') form", async () => {
    const byUpn = await graph(emu, token, `/v1.0/users/ADELE.VANCE@${domain().toUpperCase()}`);
    expect(byUpn.status).toBe(200);
    const user = byUpn.json();
    expect(user["displayName"]).toBe("Adele Vance");
    expect(user["@odata.context"]).toBe(`${emu.graphUrl}/v1.0/$metadata#users/$entity`);
    // Default properties only: no userType, no perUserMfaState.
    expect(Object.keys(user).sort()).toEqual(
      ["@odata.context", "businessPhones", "displayName", "givenName", "id", "jobTitle", "mail", "mobilePhone", "officeLocation", "preferredLanguage", "surname", "userPrincipalName"].sort(),
    );
    const byId = await graph(emu, token, `/v1.0/users/${user["id"] as string}?$select=id,userType,accountEnabled`);
    expect(byId.json()).toEqual({ "@odata.context": `${emu.graphUrl}/v1.0/$metadata#users(id,userType,accountEnabled)/$entity`, id: user["id"], userType: "Member", accountEnabled: true });
    const keyForm = await graph(emu, token, `/v1.0/users('o''brien@${domain()}')`);
    expect(keyForm.json()["displayName"]).toBe("Pat O'Brien");
  });

  it("returns 404 Request_ResourceNotFound with Graph's message", async () => {
    const ref = `nobody@${domain()}`;
    expectGraphError(await graph(emu, token, `/v1.0/users/${ref}`), 404, "Request_ResourceNotFound", `Resource '${ref}' does not exist or one of its queried reference-property objects are not present.`);
  });

  it("needs User.Read.All (403 otherwise)", async () => {
    const clientId = "c0c0c0c0-0000-4000-8000-000000000001";
    emu.admin.registerApp({ clientId, clientSecret: "s", tenants: { "*": ["Policy.Read.All"] } });
    const policyOnly = await tokenFor(emu, emu.tenants[0]!.id, { clientId, clientSecret: "s" });
    expectGraphError(await graph(emu, policyOnly, "/v1.0/users"), 403, "Authorization_RequestDenied");
    expectGraphError(await graph(emu, policyOnly, `/v1.0/users/admin@${domain()}`), 403, "Authorization_RequestDenied");
    // ...but Policy.Read.All is enough to read the MFA state.
    expect((await graph(emu, policyOnly, `/beta/users/admin@${domain()}/authentication/requirements`)).status).toBe(200);
  });
});

describe("unknown routes", () => {
  it("answers like Graph: bad version, unknown segment, /me, v1.0 has no requirements, wrong method", async () => {
    expectGraphError(await graph(emu, token, "/v2.0/users"), 400, "BadRequest", "Invalid version.");
    expectGraphError(await graph(emu, token, "/v1.0/devices"), 400, "BadRequest", "Resource not found for the segment 'devices'.");
    expectGraphError(await graph(emu, token, "/v1.0/me"), 400, "BadRequest", "/me request is only valid with delegated authentication flow.");
    expectGraphError(await graph(emu, token, `/v1.0/users/admin@${domain()}/authentication/requirements`), 400, "BadRequest", "Resource not found for the segment 'requirements'.");
    expectGraphError(await graph(emu, token, `/beta/users/admin@${domain()}/manager`), 400, "BadRequest", "Resource not found for the segment 'manager'.");
    expectGraphError(await graph(emu, token, `/v1.0/users/admin@${domain()}`, { method: "DELETE" }), 405, "Request_BadRequest");
  });

  it("treats a literal $ at the start of a user segment as an OData system segment (%24 or users('...') work)", async () => {
    expectGraphError(await graph(emu, token, `/v1.0/users/$svc@${domain()}`), 400, "BadRequest", `Resource not found for the segment '$svc@${domain()}'.`);
    expectGraphError(await graph(emu, token, `/v1.0/users/%24svc@${domain()}`), 404, "Request_ResourceNotFound");
    expectGraphError(await graph(emu, token, `/v1.0/users('$svc@${domain()}')`), 404, "Request_ResourceNotFound");
  });

  it("does not serve the admin interface on the HTTPS port", async () => {
    expect((await send(`${emu.authorityHost}/stats`, { ca: emu.caPem })).status).toBe(404);
    expect((await send(`${emu.authorityHost}/tenants`, { ca: emu.caPem })).status).toBe(404);
    expect((await send(`${emu.authorityHost}/reset`, { method: "POST", ca: emu.caPem })).status).toBe(404);
  });
});

describe("beta authentication/requirements", () => {
  const req = (ref: string) => `/beta/users/${ref}/authentication/requirements`;
  const patch = (ref: string, body: unknown, t = token, headers: Record<string, string> = { "content-type": "application/json" }) =>
    graph(emu, t, req(ref), { method: "PATCH", body: JSON.stringify(body), headers });

  it("GET returns the state with @odata.context", async () => {
    const reply = await graph(emu, token, req(`admin@${domain()}`));
    expect(reply.status).toBe(200);
    expect(reply.json()["perUserMfaState"]).toBe("enforced");
    expect(reply.json()["@odata.context"]).toMatch(/\$metadata#users\('.+'\)\/authentication\/requirements\/\$entity$/);
  });

  it("reads and writes a guest by percent-encoded UPN (#EXT#)", async () => {
    const guest = encodeURIComponent(`john.doe_fabrikam.com#EXT#@${domain()}`);
    expect(guest).toContain("%23EXT%23");
    expect((await graph(emu, token, req(guest))).json()["perUserMfaState"]).toBe("disabled");
    const reply = await patch(guest, { perUserMfaState: "enforced" });
    expect(reply.status).toBe(204);
    expect(reply.text).toBe("");
    expect((await graph(emu, token, req(guest))).json()["perUserMfaState"]).toBe("enforced");
  });

  it("PATCH enabled on a user with registered methods stores enforced; without methods stays enabled", async () => {
    expect((await patch(`adele.vance@${domain()}`, { perUserMfaState: "enabled" })).status).toBe(204);
    expect((await graph(emu, token, req(`adele.vance@${domain()}`))).json()["perUserMfaState"]).toBe("enforced");
    expect((await patch(`alex.wilber@${domain()}`, { perUserMfaState: "enabled" })).status).toBe(204);
    expect((await graph(emu, token, req(`alex.wilber@${domain()}`))).json()["perUserMfaState"]).toBe("enabled");
    expect(emu.admin.getUser(domain(), `alex.wilber@${domain()}`).patchCount).toBe(1);
  });

  it("rejects bad values, unknownFutureValue, extra and missing properties with 400 BadRequest", async () => {
    const u = `megan.bowen@${domain()}`;
    expectGraphError(await patch(u, { perUserMfaState: "sometimes" }), 400, "BadRequest", /Cannot convert the literal 'sometimes'/);
    expectGraphError(await patch(u, { perUserMfaState: "unknownFutureValue" }), 400, "BadRequest", /unknownFutureValue/);
    expectGraphError(await patch(u, { perUserMfaState: "enforced", extra: 1 }), 400, "BadRequest", /The property 'extra' does not exist/);
    expectGraphError(await patch(u, {}), 400, "BadRequest", /must contain the property 'perUserMfaState'/);
    expectGraphError(await patch(u, { perUserMfaState: "enforced" }, token, {}), 400, "BadRequest", /Unable to read JSON request payload/);
    expect(emu.admin.getUser(domain(), u).perUserMfaState).toBe("enabled");
    // @odata annotations are tolerated.
    expect((await patch(u, { "@odata.type": "#microsoft.graph.strongAuthenticationRequirements", perUserMfaState: "enabled" })).status).toBe(204);
  });

  it("PATCH needs Policy.ReadWrite.AuthenticationMethod: 403 accessDenied for the read-only app", async () => {
    expect((await graph(emu, readOnly, req(`admin@${domain()}`))).status).toBe(200);
    expectGraphError(await patch(`admin@${domain()}`, { perUserMfaState: "disabled" }, readOnly), 403, "accessDenied", "Request Authorization failed.");
  });

  it("returns 404 for an unknown user", async () => {
    expectGraphError(await graph(emu, token, req(`ghost@${domain()}`)), 404, "Request_ResourceNotFound");
    expectGraphError(await patch(`ghost@${domain()}`, { perUserMfaState: "enabled" }), 404, "Request_ResourceNotFound");
  });
});
