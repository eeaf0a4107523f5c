/**
 * Scheduled drift checks against the emulator over real HTTPS: drift measured and listed as the
 * policy sees it, remediation through a journal within the run-size cap (refused over it, nothing
 * changed), protected accounts never changed, a tenant that fails reported while the others are
 * remediated, and every remediation undone back to the seeded states.
 * The emulator is imported from its source by a computed path (see emulator.test-helper.ts).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { emulatorGraphClient, startTestEmulator, type TestEmulator } from "../emulator.test-helper.js";
import type { UserMfaChange } from "../domain/vocabulary.js";
import { createBatchEngine } from "../engine/batch-engine.js";
import type { BatchEngine } from "../engine/types.js";
import { memoryJournal } from "../journal/memory-journal.js";
import { executeRun, type RunContext } from "../journal/run-executor.js";
import { prepareUndo, startUndoRun } from "../journal/undo-prepare.js";
import { parseMaxChanges } from "../operations/guard-rails.js";
import { enginePort } from "../operations/mfa-port.js";
import type { GraphClient } from "../transport/types.js";
import { runDriftCheck, type DriftCheckDeps, type DriftCheckResult } from "./drift-check.js";
import { newScheduleRecord, parseScheduleInput } from "./schedule.js";
import type { ScheduleInput, ScheduleRecord } from "./types.js";

type State = "disabled" | "enabled" | "enforced";
describe("runDriftCheck against the emulator", () => {
  let emu: TestEmulator;
  let client: GraphClient;
  let engine: BatchEngine;
  let A: { id: string; domain: string };
  let B: { id: string; domain: string };
  let C: { id: string; domain: string };
  /** The seeded state of every user, by tenant domain. */
  const seeded = new Map<string, Map<string, State>>();

  beforeAll(async () => {
    emu = await startTestEmulator({ tenants: 3, users: 24, seed: "drift-check", throttle: "off" });
    [A, B, C] = emu.tenants.slice(0, 3) as unknown as [typeof A, typeof B, typeof C];
    for (const t of [A, B, C]) seeded.set(t.domain, new Map(emu.admin.listUsers(t.domain).map((u) => [u.id, u.perUserMfaState])));
    client = emulatorGraphClient(emu);
    engine = createBatchEngine(client);
  });

  afterAll(async () => {
    await engine?.close();
    await client?.close();
    await emu?.close();
  });

  // Every test starts from the seeded states (set as someone else would: not Graph PATCHes).
  beforeEach(() => {
    for (const t of [A, B, C]) {
      const byState = new Map<State, string[]>();
      for (const [id, state] of seeded.get(t.domain)!) byState.set(state, [...(byState.get(state) ?? []), id]);
      for (const [state, users] of byState) emu.admin.setUsers(t.domain, { perUserMfaState: state, users });
    }
  });

  const policy = () => `version: 1
policies:
  - name: Members
    tenants: [${A.domain}, ${B.domain}, ${C.domain}]
    rules:
      - name: Members enforced
        when: { userType: member }
        state: enforced
    exclude:
      groups: ["MFA Exclusions"]
    breakGlass: [breakglass@${A.domain}, breakglass@${B.domain}]
`;

  const schedule = (extra: Partial<ScheduleInput> = {}): ScheduleRecord =>
    newScheduleRecord(parseScheduleInput({ name: "nightly", cron: "0 2 * * *", policy: policy(), policySource: "policy.yaml", ...extra }, "test"), "apikey:ops", Date.now());

  /** Who the policy should find in drift, from the emulator's own records. */
  const expectedDrift = (tenant: string): string[] => {
    const groups = emu.admin.listGroups(tenant);
    const excluded = new Set<string>();
    const addGroup = (name: string) => {
      const g = groups.find((x) => x.displayName === name || x.id === name)!;
      for (const id of g.memberIds) excluded.add(id);
      for (const nested of g.memberGroupIds) addGroup(nested);
    };
    addGroup("MFA Exclusions");
    return emu.admin
      .listUsers(tenant)
      .map((u) => emu.admin.getUser(tenant, u.id))
      .filter((u) => u.userType === "Member" && !excluded.has(u.id) && u.perUserMfaState !== "enforced")
      .filter((u) => !u.userPrincipalName.startsWith("breakglass@") && !u.roles.includes("Directory Synchronization Accounts"))
      .map((u) => u.userPrincipalName)
      .sort();
  };

  const patchCounts = (tenant: string) => new Map(emu.admin.listUsers(tenant).map((u) => [u.id, u.patchCount]));

  const runCtx = (journal = memoryJournal()): RunContext => ({ journal, port: enginePort(engine), actor: "scheduler" });

  const check = (deps: Partial<DriftCheckDeps>, sch: ScheduleRecord, tenants: string[]): Promise<DriftCheckResult> =>
    runDriftCheck({ engine, protectedList: [], ...deps }, sch, tenants, { period: "2026-05-01T00:00:00.000Z" });

  async function undo(run: RunContext, runId: string): Promise<UserMfaChange[]> {
    const prepared = await prepareUndo(run.journal, engine, runId, { protectedList: [] });
    const record = await startUndoRun(run, prepared, {});
    const out: UserMfaChange[] = [];
    for await (const c of executeRun(run, record, { reread: true })) out.push(c);
    return out;
  }

  const statesNow = (tenant: string) => new Map(emu.admin.listUsers(tenant).map((u) => [u.id, u.perUserMfaState]));

  it("measures the drift and lists it, per tenant; changes nothing when remediation is off", async () => {
    const before = [patchCounts(A.domain), patchCounts(B.domain)];
    const expectA = expectedDrift(A.domain);
    const expectB = expectedDrift(B.domain);
    expect(expectA.length).toBeGreaterThan(3);
    const result = await check({}, schedule(), [A.domain, B.domain]);

    expect(result).toMatchObject({ kind: "mfactl.driftCheck", version: 1, status: "drift", period: "2026-05-01T00:00:00.000Z", remediation: { enabled: false }, driftTruncated: false });
    expect(result.schedule.name).toBe("nightly");
    expect(result.counts).toMatchObject({ tenants: 2, tenantsFailed: 0, users: 48, inDrift: expectA.length + expectB.length, protectedInDrift: 0 });
    expect(result.counts.managed).toBeGreaterThan(result.counts.inDrift);
    expect(result.tenants.map((t) => [t.tenant, t.status, t.users, t.inDrift])).toEqual([
      [A.domain, "completed", 24, expectA.length],
      [B.domain, "completed", 24, expectB.length],
    ]);
    expect(result.drift.filter((d) => d.tenant === A.domain).map((d) => d.userPrincipalName)).toEqual(expectA);
    expect(result.drift.filter((d) => d.tenant === B.domain).map((d) => d.userPrincipalName)).toEqual(expectB);
    for (const d of result.drift) {
      expect(d.requestedState).toBe("enforced");
      expect(d.perUserMfaState).toBe(emu.admin.getUser(d.tenant, d.id).perUserMfaState);
      expect(d.protected).toBeUndefined();
    }
    // Excluded (nested group) and break-glass users are not drift.
    expect(result.drift.some((d) => d.userPrincipalName.startsWith("breakglass@"))).toBe(false);
    expect(patchCounts(A.domain)).toEqual(before[0]);
    expect(patchCounts(B.domain)).toEqual(before[1]);
  });

  it("remediates within the cap through the journal, leaves no drift, and the run undoes back to the seeded states", async () => {
    const run = runCtx();
    const expectA = expectedDrift(A.domain);
    const expectB = expectedDrift(B.domain);
    const total = expectA.length + expectB.length;
    const created: string[] = [];
    const changes: UserMfaChange[] = [];
    const sch = schedule({ remediate: { enabled: true, maxChanges: total } });
    const result = await check({ run, onRunCreated: (id) => created.push(id), onChange: (c) => changes.push(c) }, sch, [A.domain, B.domain]);

    expect(result.status).toBe("remediated");
    expect(result.remediation).toMatchObject({ enabled: true, status: "completed", counts: { changed: total, unchanged: 0, failed: 0, conflict: 0 }, failed: [] });
    const runId = result.remediation.enabled && result.remediation.status !== "skipped" ? result.remediation.runId : "";
    expect(created).toEqual([runId]);
    expect(changes).toHaveLength(total);
    expect((await run.journal.getRun(runId))?.kind).toBe("enforce");
    expect((await run.journal.getRun(runId))?.description).toBe("schedule nightly 2026-05-01T00:00:00.000Z");
    for (const upn of expectA) expect(emu.admin.getUser(A.domain, upn).perUserMfaState).toBe("enforced");

    const again = await check({ run }, sch, [A.domain, B.domain]);
    expect(again.status).toBe("noDrift");
    expect(again.counts.inDrift).toBe(0);
    expect(again.drift).toEqual([]);
    expect(again.remediation).toEqual({ enabled: true, status: "skipped", reason: "No drift: nothing to remediate." });

    const undone = await undo(run, runId);
    expect(undone.filter((c) => c.status === "changed")).toHaveLength(total);
    expect(statesNow(A.domain)).toEqual(seeded.get(A.domain));
    expect(statesNow(B.domain)).toEqual(seeded.get(B.domain));
  });

  it("over the cap: skipped with the guard rail's words, nothing changed (the schedule's cap, else the deps')", async () => {
    const before = patchCounts(A.domain);
    const run = runCtx();
    const inDrift = expectedDrift(A.domain).length;
    const own = await check({ run }, schedule({ remediate: { enabled: true, maxChanges: 2 } }), [A.domain]);
    expect(own.status).toBe("drift");
    expect(own.remediation).toEqual({
      enabled: true,
      status: "skipped",
      reason: `This run would change ${inDrift} users, over the cap of 2 set by schedule nightly remediate.maxChanges. Nothing was changed. Narrow the selection, or raise the cap with --max-changes <n|p%> if this is intended.`,
    });
    const fromDeps = await check({ run, maxChanges: { cap: parseMaxChanges("10%"), source: "the server's maxChanges" } }, schedule({ remediate: { enabled: true } }), [A.domain]);
    expect(fromDeps.remediation).toMatchObject({ status: "skipped", reason: expect.stringContaining("set by the server's maxChanges") });
    expect(fromDeps.remediation).toMatchObject({ reason: expect.stringContaining("(10% of the ") });
    expect(patchCounts(A.domain)).toEqual(before);
    expect(await run.journal.listRuns()).toEqual([]);
  });

  it("never changes protected accounts: listed as drift with the reason, left alone, and the rest remediated", async () => {
    const run = runCtx();
    const target = `adele.vance@${A.domain}`;
    const adele = emu.admin.getUser(A.domain, target);
    expect(adele.perUserMfaState).toBe("disabled");
    const expectA = expectedDrift(A.domain);
    expect(expectA).toContain(target);
    const sch = schedule({ remediate: { enabled: true } });
    const result = await check({ run, protectedList: [target.toUpperCase()] }, sch, [A.domain]);

    expect(result.status).toBe("drift");
    expect(result.counts).toMatchObject({ inDrift: expectA.length, protectedInDrift: 1 });
    expect(result.drift.find((d) => d.userPrincipalName === target)).toEqual({
      tenant: A.domain,
      id: adele.id,
      userPrincipalName: target,
      perUserMfaState: "disabled",
      requestedState: "enforced",
      protected: "listed in the profile's protectedAccounts",
    });
    expect(result.remediation).toMatchObject({ enabled: true, status: "completed", counts: { changed: expectA.length - 1 }, failed: [] });
    expect(emu.admin.getUser(A.domain, target)).toMatchObject({ perUserMfaState: "disabled", patchCount: adele.patchCount });

    const again = await check({ run, protectedList: [target] }, sch, [A.domain]);
    expect(again.status).toBe("drift");
    expect(again.counts).toMatchObject({ inDrift: 1, protectedInDrift: 1 });
    expect(again.remediation).toEqual({ enabled: true, status: "skipped", reason: "Only protected accounts are in drift (1 user); remediation never changes them." });

    const runId = result.remediation.enabled && result.remediation.status !== "skipped" ? result.remediation.runId : "";
    await undo(run, runId);
    expect(statesNow(A.domain)).toEqual(seeded.get(A.domain));
  });

  it("reports remediation skipped without a journal", async () => {
    const before = patchCounts(B.domain);
    const result = await check({}, schedule({ remediate: { enabled: true } }), [B.domain]);
    expect(result.status).toBe("drift");
    expect(result.remediation).toEqual({ enabled: true, status: "skipped", reason: "Remediation needs the journal, and this check ran without one: nothing was changed." });
    expect(patchCounts(B.domain)).toEqual(before);
  });

  it("a tenant that cannot be measured fails alone: the others are remediated, the result says so; all failed is `failed`", async () => {
    emu.admin.revokeConsent(emu.clientId, C.id);
    const run = runCtx();
    const expectA = expectedDrift(A.domain);
    const before = patchCounts(C.domain);
    const result = await check({ run }, schedule({ remediate: { enabled: true } }), [A.domain, C.domain]);
    expect(result.tenants.map((t) => [t.tenant, t.status])).toEqual([
      [A.domain, "completed"],
      [C.domain, "failed"],
    ]);
    expect(result.tenants[1]!.error?.code).toMatch(/./);
    expect(result.counts).toMatchObject({ tenants: 2, tenantsFailed: 1, inDrift: expectA.length });
    expect(result.status).toBe("remediated");
    expect(result.remediation).toMatchObject({ enabled: true, status: "completed", counts: { changed: expectA.length }, note: `1 tenant could not be measured and was not remediated: ${C.domain}.` });

    const allFailed = await check({ run }, schedule({ remediate: { enabled: true } }), [C.domain]);
    expect(allFailed.status).toBe("failed");
    expect(allFailed.counts).toMatchObject({ tenants: 1, tenantsFailed: 1, inDrift: 0 });
    expect(allFailed.remediation).toEqual({ enabled: true, status: "skipped", reason: "No tenant could be measured: nothing was changed." });
    expect(patchCounts(C.domain)).toEqual(before);

    const runId = result.remediation.enabled && result.remediation.status !== "skipped" ? result.remediation.runId : "";
    await undo(run, runId);
    expect(statesNow(A.domain)).toEqual(seeded.get(A.domain));
  });
});
