/**
 * The transport against the emulator over real HTTPS: MSAL discovery and token requests (secret and
 * certificate), the extra CA, paging and per-user reads. The emulator is imported from its source
 * by a computed path, so core's TypeScript project does not take in another package's files.
 */
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestEmulator, type TestEmulator } from "../emulator.test-helper.js";
import { AuthError, NetworkError } from "../domain/errors.js";
import { userPathSegment } from "../domain/references.js";
import { createGraphClient, graphPaginate } from "./graph-client.js";
import type { GraphClientOptions, TransportEvent } from "./types.js";

describe("Graph client against the emulator (HTTPS, MSAL)", () => {
  let emulator: TestEmulator;

  beforeAll(async () => {
    emulator = await startTestEmulator({ tenants: 2, users: 12, seed: "core-transport" });
  });

  afterAll(async () => {
    await emulator?.close();
  });

  const settings = (extra: Partial<GraphClientOptions> = {}): GraphClientOptions => ({
    clientId: emulator.clientId,
    credential: { kind: "secret", clientSecret: emulator.clientSecret },
    authorityHost: emulator.authorityHost,
    graphUrl: emulator.graphUrl,
    caPem: emulator.caPem,
    ...extra,
  });

  it("gets a token with the client secret, pages through users and reads a guest's per-user MFA state", async () => {
    const events: TransportEvent[] = [];
    const client = createGraphClient(settings({ onEvent: (e) => events.push(e) }));
    try {
      let guestsRead = 0;
      for (const tenant of emulator.tenants) {
        const users: { id: string; userPrincipalName: string }[] = [];
        for await (const u of graphPaginate<{ id: string; userPrincipalName: string }>(client, {
          tenant: tenant.id,
          method: "GET",
          path: "/v1.0/users",
          query: { $select: "id,userPrincipalName", $top: "5" },
        })) {
          users.push(u);
        }
        expect(users).toHaveLength(tenant.userCount);
        const guest = users.find((u) => u.userPrincipalName.includes("#EXT#")) ?? users[0]!;
        if (guest.userPrincipalName.includes("#EXT#")) guestsRead++;
        const res = await client.request<{ perUserMfaState: string }>({
          tenant: tenant.id,
          method: "GET",
          path: `/beta/${userPathSegment({ kind: "upn", userPrincipalName: guest.userPrincipalName })}/authentication/requirements`,
          user: guest.userPrincipalName,
        });
        expect(res.status).toBe(200);
        expect(res.body.perUserMfaState).toBe(emulator.admin.getUser(tenant.id, guest.id).perUserMfaState);
        expect(res.requestId).toBeTruthy();
      }
      expect(guestsRead).toBeGreaterThan(0);
      expect(events.filter((e) => e.type === "token").map((e) => (e.type === "token" ? e.reason : ""))).toEqual(["initial", "initial"]);
      const json = JSON.stringify(events);
      expect(json).not.toContain(emulator.clientSecret);
    } finally {
      await client.close();
    }
  });

  it("gets a token with the client certificate (key + certificate in one PEM file)", async () => {
    const pem = await readFile(emulator.certificateFile, "utf8");
    const client = createGraphClient(settings({ credential: { kind: "certificate", certificatePem: pem, privateKeyPem: pem } }));
    try {
      const tenant = emulator.tenants[0]!;
      const first = await client.request<{ value: { id: string }[] }>({ tenant: tenant.domain, method: "GET", path: "/v1.0/users", query: { $select: "id", $top: "1" } });
      const id = first.body.value[0]!.id;
      const res = await client.request<{ perUserMfaState: string }>({ tenant: tenant.domain, method: "GET", path: `/beta/users/${id}/authentication/requirements` });
      expect(res.body.perUserMfaState).toBe(emulator.admin.getUser(tenant.id, id).perUserMfaState);
    } finally {
      await client.close();
    }
  });

  it("reports a wrong secret as AuthError AADSTS7000215 without the secret", async () => {
    const wrong = "definitely-not-the-secret-0000";
    const client = createGraphClient(settings({ credential: { kind: "secret", clientSecret: wrong } }));
    try {
      const error = await client.request({ tenant: emulator.tenants[0]!.id, method: "GET", path: "/v1.0/users" }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AuthError);
      expect(error).toMatchObject({ aadstsCodes: [7000215] });
      expect(`${(error as Error).message}${JSON.stringify(error)}`).not.toContain(wrong);
    } finally {
      await client.close();
    }
  });

  it("does not trust the emulator's certificate without its CA", async () => {
    const client = createGraphClient(settings({ caPem: undefined }));
    try {
      const error = await client.request({ tenant: emulator.tenants[0]!.id, method: "GET", path: "/v1.0/users" }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NetworkError);
      expect((error as NetworkError).message).toContain("caFile");
    } finally {
      await client.close();
    }
  });
});
