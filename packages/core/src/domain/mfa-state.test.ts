import { describe, expect, it } from "vitest";
import { UsageError } from "./errors.js";
import { MfaStateInputSchema, parseMfaState, readMfaState, satisfies } from "./mfa-state.js";

describe("parseMfaState", () => {
  it.each([
    ["Enabled", "enabled"],
    ["ENFORCED", "enforced"],
    [" disabled ", "disabled"],
  ])("accepts %j case-insensitively", (input, expected) => {
    expect(parseMfaState(input)).toBe(expected);
  });

  it.each(["unknownFutureValue", "on", "", "enable"])("rejects %j naming the value and the accepted ones", (input) => {
    expect(() => parseMfaState(input)).toThrow(UsageError);
    expect(() => parseMfaState(input)).toThrow(`Invalid state ${JSON.stringify(input)}: expected one of disabled, enabled, enforced.`);
  });

  it("the zod schema applies the same rules", () => {
    expect(MfaStateInputSchema.parse("Enforced")).toBe("enforced");
    const bad = MfaStateInputSchema.safeParse("unknownFutureValue");
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.message).toContain("unknownFutureValue");
  });
});

describe("readMfaState", () => {
  it("reads unknownFutureValue and unexpected values as unknown", () => {
    expect(readMfaState("unknownFutureValue")).toBe("unknown");
    expect(readMfaState(undefined)).toBe("unknown");
    expect(readMfaState("Enabled")).toBe("unknown");
    expect(readMfaState("enforced")).toBe("enforced");
  });
});

describe("satisfies", () => {
  it("enforced satisfies a request for enabled, not the other way round", () => {
    expect(satisfies("enforced", "enabled")).toBe(true);
    expect(satisfies("enabled", "enforced")).toBe(false);
    expect(satisfies("disabled", "disabled")).toBe(true);
    expect(satisfies("enforced", "disabled")).toBe(false);
    expect(satisfies("unknown", "disabled")).toBe(false);
  });
});
