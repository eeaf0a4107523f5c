import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFetch } from "./http.js";
import { describeNetworkFailure } from "./network-errors.js";
import { caAndServerCertificate } from "./test-certs.test-helper.js";

describe("createFetch over real HTTPS", () => {
  const { ca, server: serverCert } = caAndServerCertificate();
  let server: Server;
  let origin: string;

  beforeAll(async () => {
    server = createServer({ key: serverCert.keyPem, cert: serverCert.certPem }, (req, res) => {
      res.writeHead(200, { "content-type": "application/json", connection: "keep-alive" });
      res.end(JSON.stringify({ path: req.url, auth: req.headers.authorization ?? null }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    origin = `https://localhost:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it("trusts the extra CA given as caPem", async () => {
    const http = createFetch({ caPem: ca.certPem });
    try {
      const res = await http.fetch(`${origin}/v1.0/users?$top=1`, { method: "GET", headers: { Authorization: "Bearer t" } });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ path: "/v1.0/users?$top=1", auth: "Bearer t" });
      // a second request on the same pool works too (kept-alive connection)
      const again = await http.fetch(`${origin}/again`, { method: "GET" });
      expect(await again.json()).toMatchObject({ path: "/again" });
    } finally {
      await http.close();
    }
  });

  it("does not trust the private CA without caPem: a TLS failure, not retried", async () => {
    const http = createFetch({});
    try {
      const error = await http.fetch(`${origin}/`, { method: "GET" }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      const failure = describeNetworkFailure(error);
      expect(failure).toMatchObject({ retryable: false });
      expect(failure?.code).toMatch(/CERT|SELF_SIGNED|UNABLE_TO/);
      expect(failure?.detail).toContain("caFile");
    } finally {
      await http.close();
    }
  });

  it("rejectUnauthorized: false accepts the untrusted certificate (an explicit choice), with or without an extra CA", async () => {
    for (const options of [{ rejectUnauthorized: false }, { rejectUnauthorized: false, caPem: caAndServerCertificate().ca.certPem }]) {
      const http = createFetch(options);
      try {
        const res = await http.fetch(`${origin}/insecure`, { method: "GET" });
        expect(await res.json()).toMatchObject({ path: "/insecure" });
      } finally {
        await http.close();
      }
    }
  });

  it("an unrelated extra CA does not make the server trusted", async () => {
    const other = caAndServerCertificate();
    const http = createFetch({ caPem: other.ca.certPem });
    try {
      await expect(http.fetch(`${origin}/`, { method: "GET" })).rejects.toThrow();
    } finally {
      await http.close();
    }
  });

  it("without keep-alive, requests still succeed", async () => {
    const http = createFetch({ caPem: ca.certPem, keepAlive: false });
    try {
      for (let i = 0; i < 3; i++) expect((await http.fetch(`${origin}/${i}`, { method: "GET" })).status).toBe(200);
    } finally {
      await http.close();
    }
  });
});
