import { describe, expect, it } from "vitest";
import { GraphError, UsageError } from "../domain/errors.js";
import { ADELE, fakeGraph, GUEST } from "./fake-graph.test-helper.js";
import { getUserMfa } from "./user-mfa-get.js";

describe("getUserMfa", () => {
  it("resolves a UPN to its id and reads the state from the beta requirements endpoint", async () => {
    const graph = fakeGraph();
    const result = await getUserMfa(graph, { tenant: "Contoso.onmicrosoft.com", user: "ADELE@contoso.com" });
    expect(result).toEqual({ tenant: "contoso.onmicrosoft.com", id: ADELE.id, userPrincipalName: ADELE.userPrincipalName, perUserMfaState: "disabled" });
    expect(graph.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      "GET /v1.0/users/ADELE%40contoso.com",
      `GET /beta/users/${ADELE.id}/authentication/requirements`,
    ]);
    expect(graph.requests[0]?.query).toEqual({ $select: "id,userPrincipalName" });
  });

  it("reads a guest by encoded UPN, and unknownFutureValue as unknown", async () => {
    const graph = fakeGraph();
    const result = await getUserMfa(graph, { tenant: "contoso.com", user: GUEST.userPrincipalName });
    expect(result.perUserMfaState).toBe("unknown");
    expect(graph.requests[0]?.path).toBe("/v1.0/users/john_fabrikam.com%23EXT%23%40contoso.com");
  });

  it("rejects bad input before sending anything", async () => {
    const graph = fakeGraph();
    await expect(getUserMfa(graph, { tenant: "contoso", user: "adele@contoso.com" })).rejects.toThrow(UsageError);
    await expect(getUserMfa(graph, { tenant: "contoso.com", user: "not-a-user" })).rejects.toThrow(/Invalid user "not-a-user"/);
    expect(graph.requests).toHaveLength(0);
  });

  it("lets Graph errors through, typed", async () => {
    const graph = fakeGraph();
    const error = await getUserMfa(graph, { tenant: "contoso.com", user: "nobody@contoso.com" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GraphError);
    expect((error as GraphError).code).toBe("Request_ResourceNotFound");
  });
});
