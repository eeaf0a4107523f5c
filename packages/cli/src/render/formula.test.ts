import { describe, expect, it } from "vitest";
import { escapeFormula, unescapeFormula } from "./formula.js";

const HOSTILE = [
  '=HYPERLINK("http://evil","x")',
  "+1",
  "-2+3",
  "@SUM(A1)",
  "\t=1+1",
  "\r=1+1",
  "＝1+1",
  "<script>alert(1)</script>",
  'Dr. "Quotes" McQuote',
  "Doe, John",
  "line one\nline two",
  "line one\r\nline two",
  "lone\rcarriage return",
  "Zoë 山田 🙂 Ωmega",
  "'already quoted",
  "'=x",
  "''+y",
  "",
  " padded ",
  "plain",
];

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
