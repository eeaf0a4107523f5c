import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { UsageError } from "../domain/errors.js";
import { detectPolicyFormat, formatPolicyPath, parsePolicy, type Policy } from "./policy-file.js";

const YAML_POLICY = `# every customer, then Contoso
version: 1
policies:
  - name: Every customer
    tenants: ["*"]
    rules:
      - name: Guests
        when: { userType: Guest }
        state: Disabled
      - name: Licensed members
        when: { userType: member, licensed: true, accountEnabled: true }
        state: ENFORCED
    exclude:
      users: [svc-scanner@contoso.com, 8F2C6A1E-3B4D-4C5E-9F60-718293A4B5C6]
      groups: ["MFA Exclusions"]
    breakGlass: [breakglass@contoso.onmicrosoft.com]
  - name: Contoso specifics
    tenants: [Contoso.onmicrosoft.com, 72F988BF-86F1-41AF-91AB-2D7CD011DB47]
    rules:
      - name: Finance
        when:
          memberOf: [" Finance ", 0A1B2C3D-0000-4000-8000-00000000000F]
          upn: ["*@contoso.com"]
        state: enabled
      - name: Everyone else
        state: disabled
    exclude:
      directorySyncAccounts: false
`;

const JSON_POLICY = JSON.stringify({
  version: 1,
  policies: [
    {
      name: "Every customer",
      tenants: ["*"],
      rules: [
        { name: "Guests", when: { userType: "guest" }, state: "disabled" },
        { name: "Licensed members", when: { userType: "Member", licensed: true, accountEnabled: true }, state: "enforced" },
      ],
      exclude: { users: ["svc-scanner@contoso.com", "8f2c6a1e-3b4d-4c5e-9f60-718293a4b5c6"], groups: ["MFA Exclusions"] },
      breakGlass: ["breakglass@contoso.onmicrosoft.com"],
    },
    {
      name: "Contoso specifics",
      tenants: ["contoso.onmicrosoft.com", "72f988bf-86f1-41af-91ab-2d7cd011db47"],
      rules: [
        { name: "Finance", when: { memberOf: ["Finance", "0a1b2c3d-0000-4000-8000-00000000000f"], upn: ["*@contoso.com"] }, state: "Enabled" },
        { name: "Everyone else", when: {}, state: "disabled" },
      ],
      exclude: { directorySyncAccounts: false },
    },
  ],
}, null, 2);

const EXPECTED: Policy = {
  version: 1,
  policies: [
    {
      name: "Every customer",
      tenants: ["*"],
      rules: [
        { name: "Guests", when: { userType: "guest" }, state: "disabled" },
        { name: "Licensed members", when: { userType: "member", licensed: true, accountEnabled: true }, state: "enforced" },
      ],
      exclude: { users: ["svc-scanner@contoso.com", "8f2c6a1e-3b4d-4c5e-9f60-718293a4b5c6"], groups: ["MFA Exclusions"], directorySyncAccounts: true },
      breakGlass: ["breakglass@contoso.onmicrosoft.com"],
    },
    {
      name: "Contoso specifics",
      tenants: ["contoso.onmicrosoft.com", "72f988bf-86f1-41af-91ab-2d7cd011db47"],
      rules: [
        { name: "Finance", when: { memberOf: ["Finance", "0a1b2c3d-0000-4000-8000-00000000000f"], upn: ["*@contoso.com"] }, state: "enabled" },
        { name: "Everyone else", when: {}, state: "disabled" },
      ],
      exclude: { users: [], groups: [], directorySyncAccounts: false },
      breakGlass: [],
    },
  ],
};

/** The UsageError message parsePolicy throws for `text`. */
function problem(text: string, source = "policy.yaml"): string {
  try {
    parsePolicy(text, source);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as UsageError).message;
  }
  throw new Error("expected parsePolicy to throw");
}

/** A valid YAML file with one policy whose body is `section` (indented under `- `). */
function withSection(section: string): string {
  return `version: 1\npolicies:\n  - ${section.trim().split("\n").join("\n    ")}\n`;
}

describe("parsePolicy: valid files", () => {
  it("YAML and JSON give the same, normalised policy (states and userType case-insensitive, ids lower-cased, defaults filled in)", () => {
    const fromYaml = parsePolicy(YAML_POLICY, "policy.yaml");
    const fromJson = parsePolicy(JSON_POLICY, "policy.json");
    expect(fromYaml).toEqual(EXPECTED);
    expect(fromJson).toEqual(EXPECTED);
  });

  it("tells JSON from YAML by extension, else by content", () => {
    expect(detectPolicyFormat("version: 1", "p.json")).toBe("json");
    expect(detectPolicyFormat("{}", "p.YML")).toBe("yaml");
    expect(detectPolicyFormat("  {\"version\": 1}", "-")).toBe("json");
    expect(detectPolicyFormat("version: 1", "policy")).toBe("yaml");
    expect(parsePolicy(JSON_POLICY, "from-stdin")).toEqual(EXPECTED);
    expect(parsePolicy(YAML_POLICY, "from-stdin")).toEqual(EXPECTED);
  });

  it("accepts a byte order mark, an empty `when`, and a policy that only adds exclusions", () => {
    const policy = parsePolicy(
      "\uFEFF" + withSection(`
name: Only exclusions
tenants: [fabrikam.com]
breakGlass: [bg@fabrikam.com]
`),
      "p.yaml",
    );
    expect(policy.policies[0]).toEqual({
      name: "Only exclusions",
      tenants: ["fabrikam.com"],
      rules: [],
      exclude: { users: [], groups: [], directorySyncAccounts: true },
      breakGlass: ["bg@fabrikam.com"],
    });
    const emptyWhen = parsePolicy(withSection(`
name: All
tenants: ["*"]
rules:
  - name: Everyone
    when:
    state: enabled
`), "p.yaml");
    expect(emptyWhen.policies[0]?.rules[0]?.when).toEqual({});
  });

  it("the example files in examples/ are valid and equivalent", () => {
    const yaml = readFileSync(new URL("../../../../examples/policy.yaml", import.meta.url), "utf8");
    const json = readFileSync(new URL("../../../../examples/policy.json", import.meta.url), "utf8");
    const fromYaml = parsePolicy(yaml, "examples/policy.yaml");
    expect(parsePolicy(json, "examples/policy.json")).toEqual(fromYaml);
    expect(fromYaml.policies.length).toBeGreaterThan(1);
  });

  it("every example in docs/policy.md is valid, and its YAML and JSON baselines are the same policy", () => {
    const doc = readFileSync(new URL("../../../../docs/policy.md", import.meta.url), "utf8");
    const blocks = [...doc.matchAll(/```(yaml|json)\n([\s\S]*?)```/g)].map((m) => ({ format: m[1] ?? "", text: m[2] ?? "" }));
    const policies = blocks.filter((b) => b.text.includes("version")).map((b) => parsePolicy(b.text, `docs/policy.md.${b.format}`));
    expect(policies.length).toBe(5);
    const baselines = policies.filter((p) => p.policies[0]?.name === "Baseline");
    expect(baselines).toHaveLength(2);
    expect(baselines[0]).toEqual(baselines[1]);
  });
});

describe("parsePolicy: every problem names the file and the place", () => {
  it("YAML syntax error: line and column", () => {
    const message = problem("version: 1\npolicies:\n  - name: x\n    tenants: [a.com\n", "customers.yaml");
    expect(message).toMatch(/^Invalid policy file customers\.yaml: line 5, column 1: YAML syntax error: /);
  });

  it("unquoted * in YAML: the position and a hint", () => {
    const message = problem(withSection(`
name: x
tenants: [*]
rules: [{ name: r, state: enabled }]
`));
    expect(message).toContain("line 4, column 15: YAML syntax error");
    expect(message).toContain('write "*" in quotes');
  });

  it("duplicate keys are errors in YAML and in JSON (JSON.parse would keep the last one silently)", () => {
    expect(problem("version: 1\nversion: 1\npolicies: []\n")).toContain("line 2, column 1: YAML syntax error");
    expect(problem('{\n  "version": 1,\n  "policies": [],\n  "version": 1\n}', "p.json")).toBe(
      "Invalid policy file p.json: line 4, column 3: JSON syntax error: a key appears twice in the same object",
    );
  });

  it("JSON syntax error: line and column", () => {
    const message = problem('{\n  "version": 1,\n}', "p.json");
    expect(message).toMatch(/^Invalid policy file p\.json: line 3, column 1: JSON syntax error: /);
    expect(message).not.toContain("position");
  });

  it("empty file", () => {
    expect(problem("")).toContain("Invalid policy file policy.yaml: the file is empty");
    expect(problem("# only a comment\n")).toContain("the file is empty");
  });

  it.each([
    ["version: 2\npolicies: []\n", "version (line 1, column 10): Unsupported version 2: this mfactl reads version 1"],
    ['version: "1"\npolicies: []\n', 'Unsupported version "1"'],
    ["policies: []\n", 'version (line 1, column 1): version is required: start the file with "version: 1".'],
  ])("wrong or missing version %j", (text, expected) => {
    expect(problem(text)).toContain(expected);
  });

  it("unknown key: the path, the line, a suggestion and the keys allowed there", () => {
    const message = problem(withSection(`
name: x
tenants: ["*"]
rules:
  - name: r
    state: enabled
    wehn: { userType: guest }
`));
    expect(message).toBe(
      'Invalid policy file policy.yaml: policies[0].rules[0].wehn (line 8, column 9): unknown key "wehn". Did you mean "when"? ' +
        "Expected one of: name, description, when, state.",
    );
  });

  it("unknown keys at every level are all reported", () => {
    const message = problem(`version: 1
extra: 1
policies:
  - name: x
    tenant: ["*"]
    tenants: ["*"]
    rules:
      - name: r
        state: enabled
        when: { usertype: guest }
    exclude: { group: [g] }
`);
    expect(message).toContain("4 problems");
    expect(message).toContain('extra (line 2, column 1): unknown key "extra". Expected one of: version, policies.');
    expect(message).toContain('policies[0].tenant (line 5, column 5): unknown key "tenant". Did you mean "tenants"?');
    expect(message).toContain('policies[0].rules[0].when.usertype (line 10, column 17): unknown key "usertype". Did you mean "userType"?');
    expect(message).toContain('policies[0].exclude.group (line 11, column 16): unknown key "group". Did you mean "groups"?');
    expect(message).toContain("Expected one of: users, groups, directorySyncAccounts.");
    // In the order of the file, though zod finds the inner ones first.
    const order = ["extra", "policies[0].tenant ", "usertype", "exclude.group"].map((s) => message.indexOf(s));
    expect(order).toEqual([...order].sort((a, b) => a - b));
  });

  it("bad state", () => {
    expect(problem(withSection(`
name: x
tenants: ["*"]
rules:
  - name: ok
    state: enabled
  - name: typo
    state: enforce
`))).toBe(
      'Invalid policy file policy.yaml: policies[0].rules[1].state (line 9, column 16): Invalid state "enforce": expected one of disabled, enabled, enforced.',
    );
  });

  it("missing state and unknownFutureValue", () => {
    expect(problem(withSection(`
name: x
tenants: ["*"]
rules:
  - name: r
`))).toContain("policies[0].rules[0].state (line 6, column 9): required: disabled, enabled, enforced.");
    expect(problem(withSection(`
name: x
tenants: ["*"]
rules: [{ name: r, state: unknownFutureValue }]
`))).toContain('Invalid state "unknownFutureValue"');
  });

  it("bad tenant ref, and * mixed with named tenants", () => {
    expect(problem(withSection(`
name: x
tenants: [contoso.com, contoso]
rules: [{ name: r, state: enabled }]
`))).toBe(
      'Invalid policy file policy.yaml: policies[0].tenants[1] (line 4, column 28): Invalid tenant "contoso": expected a tenant id (GUID) or a domain such as contoso.onmicrosoft.com, or "*" for every tenant.',
    );
    expect(problem(withSection(`
name: x
tenants: ["*", contoso.com]
rules: [{ name: r, state: enabled }]
`))).toContain('policies[0].tenants (line 4, column 14): "*" already means every tenant');
  });

  it("empty lists", () => {
    expect(problem(withSection(`
name: x
tenants: ["*"]
rules: []
`))).toContain("policies[0].rules (line 5, column 12): rules must list at least one rule");
    expect(problem(withSection(`
name: x
tenants: []
rules: [{ name: r, state: enabled }]
`))).toContain('policies[0].tenants (line 4, column 14): tenants must list at least one tenant, or "*"');
    expect(problem("version: 1\npolicies: []\n")).toContain("policies (line 2, column 11): policies must list at least one policy");
    expect(problem(withSection(`
name: x
tenants: ["*"]
`))).toContain("policies[0].rules (line 3, column 5): A policy needs rules, or at least exclusions or breakGlass accounts to add.");
  });

  it("a value where a list belongs, and an empty value", () => {
    expect(problem(withSection(`
name: x
tenants: contoso.com
rules: [{ name: r, state: enabled }]
`))).toBe('Invalid policy file policy.yaml: policies[0].tenants (line 4, column 14): expected a list, got the text "contoso.com".');
    expect(problem(withSection(`
name: x
tenants: ["*"]
rules:
`))).toContain("policies[0].rules (line 5, column 5): expected a list, got an empty value.");
    expect(problem("version: 1\npolicies:\n  name: x\n")).toContain("policies (line 3, column 3): expected a list, got a mapping.");
    expect(problem("- version: 1\n")).toContain("(top level) (line 1, column 1): expected a mapping (key: value), got a list.");
  });

  it("wrong types inside conditions and exclusions; JSON errors carry positions too", () => {
    const message = problem(
      JSON.stringify(
        { version: 1, policies: [{ name: "x", tenants: ["*"], rules: [{ name: "r", when: { licensed: "yes", userType: "admin", memberOf: [] }, state: "enabled" }], exclude: { users: ["bob"] } }] },
        null,
        2,
      ),
      "p.json",
    );
    expect(message).toContain("4 problems");
    expect(message).toContain('policies[0].rules[0].when.licensed (line 13, column 25): expected true or false, got the text "yes".');
    expect(message).toContain('policies[0].rules[0].when.userType (line 14, column 25): Invalid userType "admin": expected member or guest.');
    expect(message).toContain("policies[0].rules[0].when.memberOf (line 15, column 25): memberOf must list at least one group");
    expect(message).toContain('policies[0].exclude.users[0] (line 22, column 11): Invalid user "bob"');
  });

  it("duplicate policy names and duplicate rule names in one policy", () => {
    const message = problem(`version: 1
policies:
  - name: A
    tenants: ["*"]
    rules:
      - { name: Guests, state: disabled }
      - { name: guests, state: enabled }
  - name: a
    tenants: [contoso.com]
    rules: [{ name: Guests, state: disabled }]
`);
    expect(message).toContain("2 problems");
    expect(message).toContain('policies[0].rules[1].name (line 7, column 17): Duplicate rule name "guests" in this policy.');
    expect(message).toContain('policies[1].name (line 8, column 11): Duplicate policy name "a".');
  });

  it("a UPN pattern with spaces", () => {
    expect(problem(withSection(`
name: x
tenants: ["*"]
rules: [{ name: r, when: { upn: ["* @contoso.com"] }, state: enabled }]
`))).toContain("policies[0].rules[0].when.upn[0] (line 5, column 38): a UPN pattern must not contain spaces");
  });
});

describe("formatPolicyPath", () => {
  it("writes indexes in brackets", () => {
    expect(formatPolicyPath(["policies", 0, "rules", 1, "state"])).toBe("policies[0].rules[1].state");
    expect(formatPolicyPath([])).toBe("(top level)");
  });
});
