import { describe, expect, it } from "vitest";
import { HOSTILE } from "./hostile.test-helper.js";
import { escapeFormula, unescapeFormula } from "./formula.js";

describe("escapeFormula", () => {
  it("prefixes exactly the OWASP trigger characters", () => {
    for (const text of ["=1", "+1", "-1", "@a", "\tx", "\rx", "＝1", "＋1", "－1", "＠a"]) expect(escapeFormula(text)).toBe(`'${text}`);
    for (const text of ["a=1", "1+1", " =1", "", "x", "'x", "<b>"]) expect(escapeFormula(text)).toBe(text);
  });

  it("is reversed exactly by unescapeFormula, including text that already starts with a quote", () => {
    for (const text of [...HOSTILE, "'", "''", "'-", "''-", "'''=", "-", "="]) expect(unescapeFormula(escapeFormula(text))).toBe(text);
    expect(escapeFormula("'-x")).toBe("''-x");
    expect(unescapeFormula("'x")).toBe("'x");
  });
});
