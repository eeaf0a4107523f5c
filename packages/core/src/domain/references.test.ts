import { describe, expect, it } from "vitest";
import { UsageError } from "./errors.js";
import { parseTenantRef, parseUserId, parseUserRef, TenantRefSchema, userPathSegment, UserRefSchema } from "./references.js";

describe("user references", () => {
  it("accepts object ids (normalised to lower case) and UPNs, guests included", () => {
    expect(parseUserRef("8F2C6A1E-3B4D-4C5E-9F60-718293A4B5C6")).toEqual({ kind: "id", id: "8f2c6a1e-3b4d-4c5e-9f60-718293a4b5c6" });
    expect(parseUserRef("adele.vance@contoso.com")).toEqual({ kind: "upn", userPrincipalName: "adele.vance@contoso.com" });
    expect(parseUserRef("john.doe_fabrikam.com#EXT#@contoso.onmicrosoft.com")).toEqual({
      kind: "upn",
      userPrincipalName: "john.doe_fabrikam.com#EXT#@contoso.onmicrosoft.com",
    });
    expect(parseUserRef("o'brien@contoso.com").kind).toBe("upn");
  });

  it.each([
    ["8f2c6a1e-3b4d-4c5e-9f60-718293a4b5c", "not a well-formed GUID"],
    ["adele", "expected an object id (GUID) or a user principal name"],
    ["adele@", "expected an object id"],
    ["@contoso.com", "expected an object id"],
    ["a b@contoso.com", "expected an object id"],
    ["", "Invalid user \"\""],
  ])("rejects %j with an error naming the value", (value, message) => {
    expect(() => parseUserRef(value)).toThrow(UsageError);
    expect(() => parseUserRef(value)).toThrow(message);
  });

  it("--user-id accepts only a GUID", () => {
    expect(parseUserId("8f2c6a1e-3b4d-4c5e-9f60-718293a4b5c6").kind).toBe("id");
    expect(() => parseUserId("adele@contoso.com")).toThrow('Invalid user id "adele@contoso.com": expected an object id (GUID)');
  });

  it("the zod schema canonicalises", () => {
    expect(UserRefSchema.parse("8F2C6A1E-3B4D-4C5E-9F60-718293A4B5C6")).toBe("8f2c6a1e-3b4d-4c5e-9f60-718293a4b5c6");
    expect(UserRefSchema.safeParse("nope").success).toBe(false);
  });
});

describe("tenant references", () => {
  it("accepts a tenant id or a domain", () => {
    expect(parseTenantRef("72F988BF-86F1-41AF-91AB-2D7CD011DB47")).toEqual({ kind: "id", id: "72f988bf-86f1-41af-91ab-2d7cd011db47" });
    expect(parseTenantRef("Contoso.onmicrosoft.com")).toEqual({ kind: "domain", domain: "contoso.onmicrosoft.com" });
    expect(TenantRefSchema.parse("contoso.com")).toBe("contoso.com");
  });

  it.each(["contoso", "72f988bf-86f1-41af-91ab-2d7cd011db4", "-bad.com", "con toso.com", ""])("rejects %j", (value) => {
    expect(() => parseTenantRef(value)).toThrow(UsageError);
    expect(() => parseTenantRef(value)).toThrow(`Invalid tenant ${JSON.stringify(value)}`);
  });
});

describe("userPathSegment", () => {
  it("percent-encodes UPNs so a guest's #EXT# survives", () => {
    expect(userPathSegment({ kind: "upn", userPrincipalName: "john.doe_fabrikam.com#EXT#@contoso.onmicrosoft.com" })).toBe(
      "users/john.doe_fabrikam.com%23EXT%23%40contoso.onmicrosoft.com",
    );
  });
  it("uses the users('...') form for a UPN starting with $ and doubles quotes", () => {
    expect(userPathSegment({ kind: "upn", userPrincipalName: "$o'x@contoso.com" })).toBe("users('%24o''x%40contoso.com')");
  });
  it("leaves object ids as they are", () => {
    expect(userPathSegment({ kind: "id", id: "8f2c6a1e-3b4d-4c5e-9f60-718293a4b5c6" })).toBe("users/8f2c6a1e-3b4d-4c5e-9f60-718293a4b5c6");
  });
});
