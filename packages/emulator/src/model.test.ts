import { describe, expect, it } from "vitest";
import {
  directGroupsOf, directMembers, findRoleDefinition, includesId, roleAssignmentId, transitiveGroupsOf, transitiveMembers,
  type DirectoryEntry, type GroupRecord, type Tenant, type UserRecord,
} from "./model.js";

const user = (id: string): UserRecord => ({
  id, userPrincipalName: `${id}@x.example`, displayName: id, givenName: null, surname: null, userType: "Member",
  accountEnabled: true, licensed: true, mail: null, methods: [], perUserMfaState: "disabled", patchCount: 0, lastSignInDateTime: null,
});
const group = (id: string, memberIds: string[], memberGroupIds: string[] = []): GroupRecord => ({ id, displayName: id.toUpperCase(), description: null, memberIds, memberGroupIds });

function tenant(users: UserRecord[], groups: GroupRecord[]): Tenant {
  return {
    id: "t", domain: "x.example", displayName: "X", users,
    byId: new Map(users.map((u) => [u.id, u])), byUpn: new Map(users.map((u) => [u.userPrincipalName, u])),
    groups, groupsById: new Map(groups.map((g) => [g.id, g])), roleAssignments: [],
    premium: false, securityDefaultsEnabled: false, conditionalAccessPolicies: [],
  };
}

const names = (entries: DirectoryEntry[]) => entries.map((e) => (e.kind === "user" ? `u:${e.user.id}` : `g:${e.group.id}`));

describe("group membership", () => {
  // top > middle > bottom (two levels of nesting); u1 sits in top and in bottom.
  const t = tenant(
    [user("u1"), user("u2"), user("u3"), user("u4")],
    [group("top", ["u1"], ["middle"]), group("middle", ["u2"], ["bottom"]), group("bottom", ["u3", "u1", "gone"]), group("other", ["u4"], ["bottom"])],
  );
  const g = (id: string) => t.groupsById.get(id)!;

  it("lists direct members users first, then nested groups, skipping ids that no longer resolve", () => {
    expect(names(directMembers(t, g("top")))).toEqual(["u:u1", "g:middle"]);
    expect(names(directMembers(t, g("bottom")))).toEqual(["u:u3", "u:u1"]);
  });

  it("lists transitive members through two levels, each member once", () => {
    expect(names(transitiveMembers(t, g("top")))).toEqual(["u:u1", "g:middle", "u:u2", "g:bottom", "u:u3"]);
  });

  it("finds a user's direct and transitive groups, each once", () => {
    expect(directGroupsOf(t, "u1", "user").map((x) => x.id)).toEqual(["top", "bottom"]);
    expect(transitiveGroupsOf(t, "u3", "user").map((x) => x.id)).toEqual(["bottom", "middle", "other", "top"]);
    expect(transitiveGroupsOf(t, "u4", "user").map((x) => x.id)).toEqual(["other"]);
  });

  it("ends on a cycle (which Entra forbids) and never lists a group as its own member", () => {
    const cyclic = tenant([user("a"), user("b")], [group("g1", ["a"], ["g2"]), group("g2", ["b"], ["g3"]), group("g3", [], ["g1"])]);
    const g1 = cyclic.groupsById.get("g1")!;
    expect(names(transitiveMembers(cyclic, g1))).toEqual(["u:a", "g:g2", "u:b", "g:g3"]);
    expect(transitiveGroupsOf(cyclic, "a", "user").map((x) => x.id)).toEqual(["g1", "g3", "g2"]);
    expect(transitiveGroupsOf(cyclic, "g1", "group").map((x) => x.id)).toEqual(["g3", "g2"]);
  });

  it("caches membership per member array: a replaced array is seen at once", () => {
    const members = ["x", "y"];
    expect(includesId(members, "y")).toBe(true);
    expect(includesId(members, "z")).toBe(false);
    const grown = [...members, "z"];
    expect(includesId(grown, "z")).toBe(true);
  });
});

describe("role definitions and assignments", () => {
  it("builds assignment ids as Entra does (Microsoft's documented example)", () => {
    // From the v1.0 "List unifiedRoleAssignments" example: Global Administrator assigned to ace08ec9-...
    expect(roleAssignmentId("62e90394-69f5-4237-9190-012177145e10", "ace08ec9-aa11-4ada-9145-addf0398233e")).toBe("lAPpYvVpN0KRkAEhdxReEMmO4KwRqtpKkUWt3wOYIz4-1");
    expect(roleAssignmentId("62e90394-69f5-4237-9190-012177145e10", "f1847572-48aa-47aa-96a3-2ec61904f41f")).toBe("lAPpYvVpN0KRkAEhdxReEHJ1hPGqSKpHlqMuxhkE9B8-1");
  });

  it("finds built-in roles by template id or display name, in any case", () => {
    expect(findRoleDefinition("global administrator")?.id).toBe("62e90394-69f5-4237-9190-012177145e10");
    expect(findRoleDefinition("D29B2B05-8046-44BA-8758-1E26182FCF32")?.displayName).toBe("Directory Synchronization Accounts");
    expect(findRoleDefinition("Privileged Authentication Administrator")?.id).toBe("7be44c8a-adaf-4e2a-84d6-ab2649e08a13");
    expect(findRoleDefinition("Authentication Policy Administrator")?.id).toBe("0526716b-113d-4c15-b2c8-68e3c22b9f80");
    expect(findRoleDefinition("User Administrator")?.id).toBe("fe930be7-5e62-47db-91af-98c3a49a38b1");
    expect(findRoleDefinition("Security Administrator")?.id).toBe("194ae4cb-b126-40b2-bd5b-6091b380977d");
    expect(findRoleDefinition("Coffee Administrator")).toBeUndefined();
  });
});
