/**
 * A real n8n 2.38.7 (on Node 24, installed by `.ci/n8n.sh`) loads the built n8n-nodes-mfactl and runs
 * imported workflows with `n8n execute --id`: every operation (Set, Get, List, Bulk Set) through each
 * credential (Microsoft Graph app, mfactl server, CIPP), each change confirmed in the emulator; Ignore
 * SSL Issues off rejects the emulator's self-signed chain with the node's message, on accepts it.
 * The package is what `npm pack` ships, unpacked outside the repo, loaded from N8N_CUSTOM_EXTENSIONS
 * and, once, from n8n's community-package folder. Runs only with MFACTL_N8N_E2E=1 (docs/n8n-e2e.md).
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { RunningEmulator } from "@mfactl/emulator";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHarness, type Harness } from "../../server/src/server-harness.test-helper.js";
import { storeBackendsForTests } from "../../store/src/postgres.test-helper.js";
import { outputOf, packPackage, pairedItemsOf, requireN8n, startN8n, type N8nCredential, type N8nExecution, type N8nInstance } from "./n8n.test-helper.js";
import { everyOperation, nodeType, perUserMfaWorkflow, type Connection } from "./workflows/per-user-mfa.js";

const install = requireN8n("n8n end-to-end");

const PACKAGE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const BUILT_NODE = path.join(PACKAGE_DIR, "dist", "nodes", "PerUserMfa", "PerUserMfa.node.js");
/** One n8n process per test at most; a first start runs n8n's migrations. */
const EXECUTE_MS = 240_000;
/** n8n's workflow ids: 16 letters and digits. */
const EVERY_OPERATION: Record<Connection, string> = { microsoftGraphApp: "everyOpGraph0001", mfactlServer: "everyOpServer001", cipp: "everyOpCipp00001" };

/** Users a workflow may change: members, enabled, no directory role, not a sync account (never protected). */
function plainUsers(emu: RunningEmulator, tenant: string, count: number): { id: string; userPrincipalName: string }[] {
  const users = emu.admin
    .listUsers(tenant)
    .map((u) => emu.admin.getUser(tenant, u.id))
    .filter((u) => u.userType === "Member" && u.accountEnabled && u.roles.length === 0 && !/^sync_/i.test(u.userPrincipalName) && !u.userPrincipalName.includes("#EXT#"))
    .sort((a, b) => a.userPrincipalName.localeCompare(b.userPrincipalName))
    .slice(0, count);
  if (users.length < count) throw new Error(`tenant ${tenant} has ${users.length} plain users; the test needs ${count}`);
  return users.map(({ id, userPrincipalName }) => ({ id, userPrincipalName }));
}

const stateOf = (emu: RunningEmulator, tenant: string, user: string) => emu.admin.getUser(tenant, user).perUserMfaState;

describe.skipIf(install === undefined)("n8n 2.38.7 with n8n-nodes-mfactl", () => {
  let h: Harness;
  let emu: RunningEmulator;
  let packed: string;
  let scratch: string;
  let apiKey: string;
  /** Everything n8n printed, to look for secrets in. */
  const printed: string[] = [];
  const secrets = (): string[] => [emu.clientSecret, emu.cipp.caller.clientSecret, apiKey];

  const credentials = (): Record<"graph" | "graphWithoutCa" | "server" | "cipp", N8nCredential> => ({
    graph: {
      id: "mfactlGraph00001",
      name: "Graph (emulator)",
      type: "mfactlMicrosoftGraphApp",
      data: { tenantId: emu.tenants[0]!.id, clientId: emu.clientId, authentication: "clientSecret", clientSecret: emu.clientSecret, authorityHost: emu.authorityHost, graphUrl: emu.graphUrl, caCertificate: emu.caPem },
    },
    graphWithoutCa: {
      id: "mfactlGraphNoCa1",
      name: "Graph (emulator, its CA not given)",
      type: "mfactlMicrosoftGraphApp",
      data: { tenantId: emu.tenants[0]!.id, clientId: emu.clientId, authentication: "clientSecret", clientSecret: emu.clientSecret, authorityHost: emu.authorityHost, graphUrl: emu.graphUrl },
    },
    server: { id: "mfactlServer0001", name: "mfactl server", type: "mfactlServerApi", data: { url: h.url, apiKey } },
    cipp: {
      id: "mfactlCipp000001",
      name: "CIPP (emulator)",
      type: "mfactlCippApi",
      data: { url: emu.cipp.url, tenantId: emu.cipp.tenantId, clientId: emu.cipp.caller.clientId, clientSecret: emu.cipp.caller.clientSecret, authorityHost: emu.authorityHost, caCertificate: emu.caPem },
    },
  });

  async function run(n8n: N8nInstance, id: string): Promise<N8nExecution> {
    const { execution, process } = await n8n.execute(id);
    printed.push(process.stdout, process.stderr);
    return execution;
  }

  function expectSuccess(execution: N8nExecution): void {
    const error = execution.data.resultData.error;
    expect(error === undefined ? undefined : `${error.message} ${error.description ?? ""}`).toBeUndefined();
    expect(execution.status).toBe("success");
  }

  beforeAll(async () => {
    if (!existsSync(BUILT_NODE)) throw new Error(`${BUILT_NODE} is missing: build the package first (npm run build -w n8n-nodes-mfactl; npm test does).`);
    const [sqlite] = storeBackendsForTests();
    h = await startHarness({ openStore: sqlite!.open, users: 30, tenants: 3 });
    emu = h.emu;
    apiKey = await h.key(["write"], { name: "n8n-e2e" });
    scratch = mkdtempSync(path.join(tmpdir(), "mfactl-n8n-package-"));
    packed = packPackage(PACKAGE_DIR, path.join(scratch, "extensions"));
  });
  afterAll(async () => {
    await h?.close();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  describe("loaded from N8N_CUSTOM_EXTENSIONS", () => {
    let n8n: N8nInstance;
    const type = nodeType("CUSTOM");
    /** Per connection: its tenant (one each, so the runs cannot meet), the user Set changes, the users Bulk Set changes. */
    const plan = {} as Record<Connection, { tenant: string; credential: N8nCredential; user: { id: string; userPrincipalName: string }; bulk: { id: string; userPrincipalName: string }[] }>;
    let sslUser: { id: string; userPrincipalName: string };

    beforeAll(async () => {
      const creds = credentials();
      const connections: [Connection, N8nCredential][] = [
        ["microsoftGraphApp", creds.graph],
        ["mfactlServer", creds.server],
        ["cipp", creds.cipp],
      ];
      connections.forEach(([connection, credential], k) => {
        const tenant = emu.tenants[k]!.domain;
        const [user, ...bulk] = plainUsers(emu, tenant, 4);
        // Everyone enforced but these four: the List (state disabled) finds exactly the Bulk Set's three.
        emu.admin.setUsers(tenant, { perUserMfaState: "enforced" });
        emu.admin.setUsers(tenant, { perUserMfaState: "disabled", users: [user!.id, ...bulk.map((u) => u.id)] });
        plan[connection] = { tenant, credential, user: user!, bulk };
      });
      // Read by the Ignore SSL runs: a user of the first tenant the chain above does not touch.
      sslUser = plainUsers(emu, emu.tenants[0]!.domain, 5)[4]!;
      emu.admin.setUsers(emu.tenants[0]!.domain, { perUserMfaState: "enabled", users: [sslUser.id] });

      n8n = await startN8n(install!, { extensions: packed });
      await n8n.importCredentials(Object.values(creds));
      await n8n.importWorkflows([
        ...connections.map(([connection, credential]) =>
          perUserMfaWorkflow(EVERY_OPERATION[connection], `Every operation through ${connection}`, type, connection, credential, everyOperation(plan[connection].tenant, plan[connection].user.userPrincipalName, 10)),
        ),
        perUserMfaWorkflow("sslOff0000000001", "Graph, CA not given, Ignore SSL off", type, "microsoftGraphApp", creds.graphWithoutCa, [
          { name: "Get", parameters: { operation: "get", tenant: emu.tenants[0]!.domain, user: sslUser.userPrincipalName } },
        ]),
        perUserMfaWorkflow("sslOn00000000001", "Graph, CA not given, Ignore SSL on", type, "microsoftGraphApp", creds.graphWithoutCa, [
          { name: "Get", parameters: { operation: "get", tenant: emu.tenants[0]!.domain, user: sslUser.userPrincipalName, options: { ignoreSsl: true } } },
        ]),
      ]);
    }, 300_000);
    afterAll(async () => {
      await n8n?.close();
    });

    for (const connection of ["microsoftGraphApp", "mfactlServer", "cipp"] as const) {
      it(`${connection}: Set, Get, List and Bulk Set in one workflow; the emulator shows each change`, async () => {
        const { tenant, user, bulk } = plan[connection];
        const execution = await run(n8n, EVERY_OPERATION[connection]);
        expectSuccess(execution);

        expect(outputOf(execution, "Set")).toEqual([
          expect.objectContaining({ userId: user.id, userPrincipalName: user.userPrincipalName, tenantFilter: tenant, mfaState: "enforced", previousState: "disabled", status: "changed" }),
        ]);
        expect(outputOf(execution, "Get")).toEqual([expect.objectContaining({ userId: user.id, userPrincipalName: user.userPrincipalName, tenantFilter: tenant, mfaState: "enforced" })]);

        const listed = outputOf(execution, "List");
        expect(listed.map((u) => u["userPrincipalName"]).sort()).toEqual(bulk.map((u) => u.userPrincipalName).sort());
        expect(listed.every((u) => u["mfaState"] === "disabled")).toBe(true);

        // One output item per input item, paired to it, in order.
        const bulkOut = outputOf(execution, "Bulk Set");
        expect(bulkOut.map((u) => u["userPrincipalName"])).toEqual(listed.map((u) => u["userPrincipalName"]));
        expect(pairedItemsOf(execution, "Bulk Set")).toEqual(listed.map((_, i) => i));
        for (const item of bulkOut) expect(item).toEqual(expect.objectContaining({ previousState: "disabled", mfaState: "enforced", status: "changed" }));

        // The state itself, in the emulator: each change made with one write, nobody else written to.
        expect(stateOf(emu, tenant, user.id)).toBe("enforced");
        for (const u of bulk) expect(stateOf(emu, tenant, u.id)).toBe("enforced");
        const changed = new Set([user.id, ...bulk.map((u) => u.id)]);
        const writes = emu.admin.listUsers(tenant).filter((u) => u.patchCount > 0);
        expect(Object.fromEntries(writes.map((u) => [u.userPrincipalName, u.patchCount]))).toEqual(Object.fromEntries([user, ...bulk].map((u) => [u.userPrincipalName, 1])));
        expect(writes.every((u) => changed.has(u.id))).toBe(true);
      }, EXECUTE_MS);
    }

    it("Ignore SSL Issues off: the emulator's self-signed chain is refused with a message that names both fixes", async () => {
      const execution = await run(n8n, "sslOff0000000001");
      expect(execution.status).toBe("error");
      const error = execution.data.resultData.error;
      // The node's NodeApiError for the item, as n8n shows it: the certificate problem and both ways out.
      expect(error?.name).toBe("NodeApiError");
      expect(error?.["context"]).toEqual({ itemIndex: 0 });
      expect(error?.message).toMatch(/TLS certificate (of https:\/\/127\.0\.0\.1:\d+ )?is not trusted/);
      // Node 24's own advice (its --use-system-ca flag) is not something a person configuring n8n can act on.
      expect(error?.message).not.toContain("--use-system-ca");
      expect(error?.message).toMatch(/Trusted CA Certificate/);
      expect(error?.message).toMatch(/Ignore SSL Issues/);
      expect(execution.data.resultData.runData["Get"]?.[0]?.error?.message).toBe(error?.message);
    }, EXECUTE_MS);

    it("Ignore SSL Issues on: the same credential works", async () => {
      const execution = await run(n8n, "sslOn00000000001");
      expectSuccess(execution);
      expect(outputOf(execution, "Get")).toEqual([expect.objectContaining({ userId: sslUser.id, userPrincipalName: sslUser.userPrincipalName, mfaState: "enabled" })]);
      expect(stateOf(emu, emu.tenants[0]!.domain, sslUser.id)).toBe("enabled");
    }, EXECUTE_MS);

    it("n8n printed no secret and reached nothing beyond loopback", () => {
      const all = printed.join("\n");
      expect(all.length).toBeGreaterThan(0);
      for (const secret of secrets()) expect(all.includes(secret), "a credential's secret in n8n's output").toBe(false);
      expect(n8n.refusedConnections()).toEqual([]);
    });
  });

  describe("installed in n8n's community-package folder (~/.n8n/nodes), as n8n's Community Nodes install does", () => {
    let n8n: N8nInstance;
    let user: { id: string; userPrincipalName: string };

    beforeAll(async () => {
      const tenant = emu.tenants[1]!.domain;
      user = plainUsers(emu, tenant, 6)[5]!;
      emu.admin.setUsers(tenant, { perUserMfaState: "enforced", users: [user.id] });
      const creds = credentials();
      n8n = await startN8n(install!, { communityPackages: [packed] });
      await n8n.importCredentials([creds.graph]);
      await n8n.importWorkflows([
        perUserMfaWorkflow("community0000001", "Get from the community package", nodeType("n8n-nodes-mfactl"), "microsoftGraphApp", creds.graph, [
          { name: "Get", parameters: { operation: "get", tenant, user: user.userPrincipalName } },
        ]),
      ]);
    }, 300_000);
    afterAll(async () => {
      await n8n?.close();
    });

    it("n8n-nodes-mfactl.perUserMfa loads from the package's n8n section and reads a user", async () => {
      const execution = await run(n8n, "community0000001");
      expectSuccess(execution);
      expect(outputOf(execution, "Get")).toEqual([expect.objectContaining({ userId: user.id, userPrincipalName: user.userPrincipalName, mfaState: "enforced" })]);
      expect(n8n.refusedConnections()).toEqual([]);
    }, EXECUTE_MS);
  });
});
