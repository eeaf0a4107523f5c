import { readFile } from "node:fs/promises";
import https from "node:https";
import { createHash, X509Certificate } from "node:crypto";
import { ConfidentialClientApplication, type INetworkModule, type NetworkRequestOptions, type NetworkResponse } from "@azure/msal-node";
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEmulator, type RunningEmulator } from "./emulator.js";
import { graph } from "./test-helpers.js";

let emu: RunningEmulator;
beforeAll(async () => {
  emu = await startEmulator({ tenants: 2, users: 10 });
});
afterAll(async () => {
  await emu.close();
});

/** MSAL's INetworkModule on node:https, trusting only the emulator's CA (no NODE_EXTRA_CA_CERTS). */
function networkClient(ca: string, seen: string[]): INetworkModule {
  const call = <T>(method: string, url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> =>
    new Promise((resolve, reject) => {
      seen.push(`${method} ${new URL(url).pathname}`);
      const req = https.request(url, { method, headers: options?.headers ?? {}, ca }, (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString("utf8")));
        res.on("end", () => {
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(", ") : v;
          resolve({ status: res.statusCode ?? 0, headers, body: JSON.parse(text) as T });
        });
      });
      req.on("error", reject);
      if (options?.body) req.write(options.body);
      req.end();
    });
  return {
    sendGetRequestAsync: (url, options) => call("GET", url, options),
    sendPostRequestAsync: (url, options) => call("POST", url, options),
  };
}

function msalApp(tenant: string, credential: { clientSecret: string } | { clientCertificate: { thumbprintSha256: string; privateKey: string } }, seen: string[]) {
  const host = new URL(emu.authorityHost).host;
  return new ConfidentialClientApplication({
    auth: { clientId: emu.clientId, authority: `${emu.authorityHost}/${tenant}`, knownAuthorities: [host], ...credential },
    system: { networkClient: networkClient(emu.caPem, seen) },
  });
}

describe("@azure/msal-node against the emulator", () => {
  it("acquires a token with clientSecret and the token works on Graph", async () => {
    const seen: string[] = [];
    const t = emu.tenants[0]!;
    const result = await msalApp(t.domain, { clientSecret: emu.clientSecret }, seen).acquireTokenByClientCredential({ scopes: [`${emu.graphUrl}/.default`] });
    expect(result?.accessToken).toBeTruthy();
    expect(decodeJwt(result!.accessToken)["tid"]).toBe(t.id);
    expect(seen).toContain(`GET /${t.domain}/v2.0/.well-known/openid-configuration`);
    // MSAL swaps the tenant segment of the discovered token_endpoint back to the authority's.
    expect(seen).toContain(`POST /${t.domain}/oauth2/v2.0/token`);
    const me = await graph(emu, result!.accessToken, "/v1.0/users?$top=1");
    expect(me.status).toBe(200);
  });

  it("acquires a token with clientCertificate (PS256, x5t#S256)", async () => {
    const seen: string[] = [];
    const pem = await readFile(emu.certificateFile, "utf8");
    const certPem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem)![0];
    const thumbprintSha256 = createHash("sha256").update(new X509Certificate(certPem).raw).digest("hex");
    const t = emu.tenants[1]!;
    const result = await msalApp(t.id, { clientCertificate: { thumbprintSha256, privateKey: pem } }, seen).acquireTokenByClientCredential({
      scopes: ["https://graph.microsoft.com/.default"],
    });
    expect(decodeJwt(result!.accessToken)).toMatchObject({ tid: t.id, appid: emu.clientId, appidacr: "2" });
  });

  it("surfaces the emulator's AADSTS7000215 as an MSAL ServerError", async () => {
    const app = msalApp(emu.tenants[0]!.id, { clientSecret: "wrong-secret" }, []);
    await expect(app.acquireTokenByClientCredential({ scopes: [`${emu.graphUrl}/.default`] })).rejects.toMatchObject({ errorCode: "invalid_client" });
    await expect(app.acquireTokenByClientCredential({ scopes: [`${emu.graphUrl}/.default`] })).rejects.toThrow(/AADSTS7000215/);
  });
});
