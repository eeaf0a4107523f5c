import { describe, expect, it } from "vitest";
import { AuthError, GraphError } from "../domain/errors.js";
import { AccessError, authCauseOf, causeFromAadsts, describeAuthCause } from "./errors.js";
import { withGdapErrors } from "./delegated.js";
import type { GraphClient, GraphRequest } from "../transport/types.js";

describe("auth causes", () => {
  it("maps Entra's AADSTS codes to the cause an MSP acts on", () => {
    expect(causeFromAadsts([50173])).toBe("signInAgain");
    expect(causeFromAadsts([70008])).toBe("signInAgain");
    expect(causeFromAadsts([65001])).toBe("consentMissing");
    expect(causeFromAadsts([700016])).toBe("consentMissing");
    expect(causeFromAadsts([50020])).toBe("noRelationship");
    expect(causeFromAadsts([7000222])).toBe("secretExpired");
    expect(causeFromAadsts([90002])).toBeUndefined();
    expect(authCauseOf(new AuthError("x", { tenant: "t", code: "invalid_client", aadstsCodes: [7000222] }))).toBe("secretExpired");
    expect(authCauseOf(new AccessError("x", { tenant: "t", code: "c", authCause: "notSignedIn" }))).toBe("notSignedIn");
  });

  it("says what to do", () => {
    expect(describeAuthCause("signInAgain", { tenant: "c.example", partner: true })).toMatch(/sign in again: mfactl login --partner$/);
    expect(describeAuthCause("missingRole", { tenant: "c.example" })).toContain("The GDAP relationship with c.example lacks Authentication Policy Administrator, which writing per-user MFA needs");
    expect(describeAuthCause("consentMissing", { tenant: "c.example", clientId: "app-1" })).toContain("App app-1 is not consented in tenant c.example: a Global Administrator of that tenant must grant admin consent (mfactl consent-url --tenant c.example)");
  });
});

describe("withGdapErrors", () => {
  const batchReply = {
    responses: [
      { id: "1", status: 403, body: { error: { code: "Authorization_RequestDenied", message: "Insufficient privileges to complete the operation." } } },
      { id: "2", status: 403, body: { error: { code: "Authorization_RequestDenied", message: "Insufficient privileges to complete the operation." } } },
    ],
  };
  const fake = (): GraphClient => ({
    request: <T,>(req: GraphRequest) => {
      if (req.path.endsWith("$batch")) return Promise.resolve({ status: 200, headers: new Headers(), body: structuredClone(batchReply) as T, requestId: undefined, attempts: 1 });
      return Promise.reject(new GraphError("Graph answered 403", { status: 403, code: "Authorization_RequestDenied", tenant: req.tenant }));
    },
    close: () => Promise.resolve(),
  });
  const batch = (tenant: string): GraphRequest => ({
    tenant,
    method: "POST",
    path: "/$batch",
    body: { requests: [{ id: "1", method: "PATCH", url: "/users/u1/authentication/requirements" }, { id: "2", method: "GET", url: "/users/u2/authentication/requirements" }] },
  });

  it("names the missing GDAP role on a denied per-user MFA write, in a batch and directly, for GDAP tenants only", async () => {
    const client = withGdapErrors(fake(), (t) => (t === "gdap.example" ? "gdap" : "app"));
    const res = await client.request<typeof batchReply>(batch("gdap.example"));
    expect(res.body.responses[0]!.body.error.message).toBe("The GDAP relationship with gdap.example lacks Authentication Policy Administrator, which writing per-user MFA needs: add that role to the relationship and its access assignment (Graph: Insufficient privileges to complete the operation)");
    // A denied read is not about the write role.
    expect(res.body.responses[1]!.body.error.message).toBe("Insufficient privileges to complete the operation.");
    const app = await client.request<typeof batchReply>(batch("app.example"));
    expect(app.body.responses[0]!.body.error.message).toBe("Insufficient privileges to complete the operation.");
    await expect(client.request({ tenant: "gdap.example", method: "PATCH", path: "/beta/users/u1/authentication/requirements", body: {} })).rejects.toThrow(/^The GDAP relationship with gdap\.example lacks Authentication Policy Administrator/);
    const direct = await client.request({ tenant: "gdap.example", method: "PATCH", path: "/beta/users/u1/authentication/requirements", body: {} }).catch((e: unknown) => e);
    expect(authCauseOf(direct)).toBe("missingRole");
  });
});
