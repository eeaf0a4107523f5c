import { describe, expect, it } from "vitest";
import { renderTable } from "./output.js";

describe("renderTable", () => {
  it("aligns columns, shows - for empty cells and neutralises control characters", () => {
    const rows = [
      { a: "x", b: "long value" },
      { a: "longer\u001b[31m", b: undefined },
    ];
    const out = renderTable(rows, [
      { header: "A", value: (r) => r.a },
      { header: "B", value: (r) => r.b },
    ]);
    expect(out).toBe(["A            B", "x            long value", "longer [31m  -", ""].join("\n"));
  });
});
