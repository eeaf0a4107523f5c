import { describe, expect, it } from "vitest";
import { GraphError, UsageError } from "../domain/errors.js";
import { InstantClock } from "../transport/clock.js";
import { ADELE, fakeGraph, MEGAN } from "./fake-graph.test-helper.js";
import { setUserMfa } from "./user-mfa-set.js";

const clock = new InstantClock();

describe("setUserMfa", () => {
  it("reads, PATCHes, reads back, and reports the change with the request id", async () => {
    const graph = fakeGraph();
    const result = await setUserMfa(graph, { tenant: "contoso.com", user: ADELE.userPrincipalName, state: "Enforced" }, { clock });
    expect(result).toEqual({
      tenant: "contoso.com",
      id: ADELE.id,
      userPrincipalName: ADELE.userPrincipalName,
      previousState: "disabled",
      requestedState: "enforced",
      perUserMfaState: "enforced",
      status: "changed",
      requestId: "req-3",
    });
    expect(graph.patches()).toHaveLength(1);
    expect(graph.patches()[0]?.body).toEqual({ perUserMfaState: "enforced" });
    expect(graph.requests.at(-1)?.method).toBe("GET");
  });

  it("sends nothing when the state already matches", async () => {
    const graph = fakeGraph();
    const result = await setUserMfa(graph, { tenant: "contoso.com", user: ADELE.id, state: "disabled" }, { clock });
    expect(result.status).toBe("unchanged");
    expect(graph.patches()).toHaveLength(0);
  });

  it("enabled on a user with a method reads back enforced: changed, and a re-run sends nothing", async () => {
    const graph = fakeGraph();
    const first = await setUserMfa(graph, { tenant: "contoso.com", user: MEGAN.userPrincipalName, state: "enabled" }, { clock });
    expect(first).toMatchObject({ status: "changed", perUserMfaState: "enforced", requestedState: "enabled" });
    const second = await setUserMfa(graph, { tenant: "contoso.com", user: MEGAN.userPrincipalName, state: "enabled" }, { clock });
    expect(second).toMatchObject({ status: "unchanged", previousState: "enforced", perUserMfaState: "enforced" });
    expect(graph.patches()).toHaveLength(1);
  });

  it("dry run reads and reports, never PATCHes", async () => {
    const graph = fakeGraph();
    const result = await setUserMfa(graph, { tenant: "contoso.com", user: ADELE.userPrincipalName, state: "enforced", dryRun: true }, { clock });
    expect(result).toMatchObject({ status: "wouldChange", previousState: "disabled", perUserMfaState: "disabled" });
    expect(graph.patches()).toHaveLength(0);
  });

  it("a failed PATCH is failed, with Graph's code, message and request id", async () => {
    const graph = fakeGraph();
    graph.failNext.push({ method: "PATCH", error: new GraphError("Request Authorization failed.", { status: 403, code: "accessDenied", requestId: "rid-403" }) });
    const result = await setUserMfa(graph, { tenant: "contoso.com", user: ADELE.userPrincipalName, state: "enforced" }, { clock });
    expect(result).toMatchObject({
      status: "failed",
      previousState: "disabled",
      requestId: "rid-403",
      error: { code: "accessDenied", message: "Request Authorization failed.", httpStatus: 403 },
    });
    expect(result.perUserMfaState).toBeUndefined();
  });

  it("an unknown user is failed with Request_ResourceNotFound and nothing is sent", async () => {
    const graph = fakeGraph();
    const result = await setUserMfa(graph, { tenant: "contoso.com", user: "nobody@contoso.com", state: "enforced" }, { clock });
    expect(result).toMatchObject({ status: "failed", id: "", userPrincipalName: "nobody@contoso.com", error: { code: "Request_ResourceNotFound" } });
    expect(graph.patches()).toHaveLength(0);
  });

  it("waits for an eventually consistent read-back instead of reporting failure", async () => {
    const graph = fakeGraph();
    graph.staleReads = 2;
    const waits = new InstantClock();
    const result = await setUserMfa(graph, { tenant: "contoso.com", user: ADELE.userPrincipalName, state: "enforced" }, { clock: waits });
    expect(result.status).toBe("changed");
    expect(waits.sleeps).toEqual([1000, 2000]);
  });

  it("a PATCH Graph accepted but did not apply is failed, never changed", async () => {
    const graph = fakeGraph();
    graph.dropPatches = true;
    const result = await setUserMfa(graph, { tenant: "contoso.com", user: ADELE.userPrincipalName, state: "enforced" }, { clock, readBackDelaysMs: [5] });
    expect(result).toMatchObject({ status: "failed", perUserMfaState: "disabled", error: { code: "ReadBackMismatch" } });
    expect(result.requestId).toBe("req-3");
  });

  it("bad input throws UsageError before anything is sent", async () => {
    const graph = fakeGraph();
    await expect(setUserMfa(graph, { tenant: "contoso.com", user: ADELE.userPrincipalName, state: "unknownFutureValue" })).rejects.toThrow(UsageError);
    await expect(setUserMfa(graph, { tenant: "contoso.com", user: "1234-bad-guid", state: "enabled" })).rejects.toThrow(UsageError);
    expect(graph.requests).toHaveLength(0);
  });
});
