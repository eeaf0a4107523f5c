import type { DriftCheckResult } from "../schedule/drift-check.js";

/** A drift check's result as runDriftCheck makes it: 12 users in drift in 2 of 3 tenants, remediated. */
export function remediatedResult(): DriftCheckResult {
  const drift: DriftCheckResult["drift"] = [];
  for (let i = 0; i < 10; i++) drift.push({ tenant: "contoso.com", id: `00000000-0000-0000-0000-0000000000${String(i).padStart(2, "0")}`, userPrincipalName: `user${i}@contoso.com`, perUserMfaState: "disabled", requestedState: "enforced" });
  for (let i = 0; i < 2; i++) drift.push({ tenant: "fabrikam.com", id: `10000000-0000-0000-0000-0000000000${String(i).padStart(2, "0")}`, userPrincipalName: `user${i}@fabrikam.com`, perUserMfaState: "enabled", requestedState: "enforced" });
  return {
    kind: "mfactl.driftCheck",
    version: 1,
    schedule: { scheduleId: "sch-0123456789ab", name: "nightly" },
    period: "2026-05-01T00:00:00.000Z",
    startedAt: "2026-05-01T00:00:01.000Z",
    finishedAt: "2026-05-01T00:00:09.000Z",
    status: "remediated",
    counts: { tenants: 3, tenantsFailed: 0, users: 300, managed: 250, inDrift: 12, protectedInDrift: 0 },
    tenants: [
      { tenant: "contoso.com", status: "completed", users: 100, inDrift: 10, warnings: [] },
      { tenant: "fabrikam.com", status: "completed", users: 100, inDrift: 2, warnings: [] },
      { tenant: "tailspin.com", status: "completed", users: 100, inDrift: 0, warnings: [] },
    ],
    drift,
    driftTruncated: false,
    remediation: { enabled: true, status: "completed", runId: "20260501T000002Z-3f9a2c1b", counts: { changed: 12, unchanged: 0, failed: 0, conflict: 0 }, failed: [] },
  };
}

/** No drift anywhere, remediation off. */
export function cleanResult(): DriftCheckResult {
  const r = remediatedResult();
  return {
    ...r,
    status: "noDrift",
    counts: { ...r.counts, inDrift: 0 },
    tenants: r.tenants.map((t) => ({ ...t, inDrift: 0 })),
    drift: [],
    remediation: { enabled: false },
  };
}

/** Drift with a failed tenant, a protected account and a hostile error message; remediation over the cap. */
export function driftResult(users = 3): DriftCheckResult {
  const drift: DriftCheckResult["drift"] = [];
  for (let i = 0; i < users; i++) drift.push({ tenant: "contoso.com", id: `id-${i}`, userPrincipalName: `person.with.a.rather.long.name.number${i}@contoso.onmicrosoft.com`, perUserMfaState: "disabled", requestedState: "enforced" });
  drift.push({ tenant: "contoso.com", id: "id-admin", userPrincipalName: "admin@contoso.com", perUserMfaState: "disabled", requestedState: "enforced", protected: "listed in the profile's protectedAccounts" });
  const inDrift = drift.length;
  return {
    ...remediatedResult(),
    status: "drift",
    counts: { tenants: 2, tenantsFailed: 1, users: 100 + users, managed: 90, inDrift, protectedInDrift: 1 },
    tenants: [
      { tenant: "contoso.com", status: "completed", users: 100 + users, inDrift, warnings: [] },
      { tenant: "evil.com", status: "failed", users: 0, inDrift: 0, warnings: [], error: { code: "AADSTS7000229", message: "<script>alert(1)</script> & no service principal." } },
    ],
    drift: drift.slice(0, 200),
    driftTruncated: drift.length > 200,
    remediation: { enabled: true, status: "skipped", reason: `This run would change ${inDrift - 1} users, over the cap of 2 set by schedule nightly remediate.maxChanges. Nothing was changed.` },
  };
}
