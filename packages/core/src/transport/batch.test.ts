import { describe, expect, it } from "vitest";
import { GraphError, UsageError } from "../domain/errors.js";
import { graphBatch, type BatchRequest } from "./batch.js";
import type { GraphClient, GraphRequest, GraphResponse } from "./types.js";

/** A GraphClient that records requests and answers with `answer(req)`. */
function recordingClient(answer: (req: GraphRequest) => unknown): GraphClient & { requests: GraphRequest[] } {
  const requests: GraphRequest[] = [];
  return {
    requests,
    request<T>(req: GraphRequest): Promise<GraphResponse<T>> {
      requests.push(req);
      return Promise.resolve({ status: 200, headers: new Headers(), body: answer(req) as T, requestId: "batch-rid", attempts: 1 });
    },
    close: () => Promise.resolve(),
  };
}

const get = (id: string): BatchRequest => ({ id, method: "GET", url: `/users/${id}/authentication/requirements` });

describe("graphBatch", () => {
  it("posts the requests to /{version}/$batch and returns the answers by id, in any order", async () => {
    const client = recordingClient(() => ({
      responses: [
        { id: "b", status: 204, headers: { "request-id": "rb" } },
        { id: "a", status: 200, headers: { "content-type": "application/json" }, body: { perUserMfaState: "enabled" } },
      ],
    }));
    const results = await graphBatch(client, "contoso.com", "beta", [get("a"), { id: "b", method: "PATCH", url: "/users/b/authentication/requirements", body: { perUserMfaState: "disabled" } }]);
    expect(client.requests).toHaveLength(1);
    const req = client.requests[0]!;
    expect(req).toMatchObject({ tenant: "contoso.com", method: "POST", path: "/beta/$batch" });
    expect(req.body).toEqual({
      requests: [
        { id: "a", method: "GET", url: "/users/a/authentication/requirements" },
        { id: "b", method: "PATCH", url: "/users/b/authentication/requirements", headers: { "Content-Type": "application/json" }, body: { perUserMfaState: "disabled" } },
      ],
    });
    expect(results.get("a")).toEqual({ status: 200, headers: { "content-type": "application/json" }, body: { perUserMfaState: "enabled" } });
    expect(results.get("b")).toEqual({ status: 204, headers: { "request-id": "rb" }, body: undefined });
  });

  it("turns an id missing from the answer into an error result", async () => {
    const client = recordingClient(() => ({ responses: [{ id: "a", status: 200, body: {} }, { id: "zzz", status: 200, body: {} }] }));
    const results = await graphBatch(client, "contoso.com", "v1.0", [get("a"), get("b")]);
    expect([...results.keys()].sort()).toEqual(["a", "b"]);
    expect(results.get("b")).toMatchObject({ status: 0, body: { error: { code: "MissingBatchResponse" } } });
    expect(results.has("zzz")).toBe(false);
  });

  it("rejects more than 20 requests and duplicate ids before sending", async () => {
    const client = recordingClient(() => ({ responses: [] }));
    const many = Array.from({ length: 21 }, (_, i) => get(String(i)));
    await expect(graphBatch(client, "contoso.com", "beta", many)).rejects.toBeInstanceOf(UsageError);
    await expect(graphBatch(client, "contoso.com", "beta", [get("1"), get("1")])).rejects.toThrow(/Duplicate batch request id "1"/);
    await expect(graphBatch(client, "contoso.com", "beta", [{ id: "x", method: "GET", url: "/beta/users" }])).rejects.toBeInstanceOf(UsageError);
    expect(client.requests).toHaveLength(0);
    await expect(graphBatch(client, "contoso.com", "beta", Array.from({ length: 20 }, (_, i) => get(String(i))))).resolves.toBeInstanceOf(Map);
  });

  it("throws GraphError when the envelope has no responses array", async () => {
    const client = recordingClient(() => ({ value: [] }));
    await expect(graphBatch(client, "contoso.com", "beta", [get("a")])).rejects.toBeInstanceOf(GraphError);
  });

  it("sends nothing for an empty batch", async () => {
    const client = recordingClient(() => ({ responses: [] }));
    expect((await graphBatch(client, "contoso.com", "beta", [])).size).toBe(0);
    expect(client.requests).toHaveLength(0);
  });
});
