import { describe, expect, it } from "vitest";
import { ServedTenants } from "./tenants.js";

const CONTOSO_ID = "F1E8D47D-D905-4388-BD1E-483963E51676";

describe("ServedTenants", () => {
  const served = new ServedTenants([
    { tenant: "contoso.onmicrosoft.com", aliases: [CONTOSO_ID, "Contoso.com"], displayName: "Contoso Ltd" },
    "fabrikam.onmicrosoft.com",
    { tenant: "northwind.onmicrosoft.com", aliases: [] },
  ]);

  it("lists the tenants in the order given, with every name in lower case", () => {
    expect(served.list.map((t) => ({ tenant: t.tenant, displayName: t.displayName, names: [...t.names] }))).toStrictEqual([
      { tenant: "contoso.onmicrosoft.com", displayName: "Contoso Ltd", names: ["contoso.onmicrosoft.com", CONTOSO_ID.toLowerCase(), "contoso.com"] },
      { tenant: "fabrikam.onmicrosoft.com", displayName: undefined, names: ["fabrikam.onmicrosoft.com"] },
      { tenant: "northwind.onmicrosoft.com", displayName: undefined, names: ["northwind.onmicrosoft.com"] },
    ]);
  });

  it("finds a tenant by any of its names, in any case, ignoring surrounding blanks", () => {
    const contoso = served.list[0];
    for (const ref of ["contoso.onmicrosoft.com", "CONTOSO.onmicrosoft.COM", CONTOSO_ID, CONTOSO_ID.toLowerCase(), "contoso.com", "  contoso.com\t"]) {
      expect(served.find(ref), ref).toBe(contoso);
    }
    expect(served.find("FABRIKAM.onmicrosoft.com")?.tenant).toBe("fabrikam.onmicrosoft.com");
    expect(served.find("tailspin.onmicrosoft.com")).toBeUndefined();
    expect(served.find("contoso")).toBeUndefined();
    expect(served.find("")).toBeUndefined();
  });

  it("keeps the first tenant when two claim the same name", () => {
    const clash = new ServedTenants([{ tenant: "a.example", aliases: ["shared"] }, { tenant: "b.example", aliases: ["SHARED"] }]);
    expect(clash.find("shared")?.tenant).toBe("a.example");
    expect(clash.find("b.example")?.tenant).toBe("b.example");
    expect(clash.list).toHaveLength(2);
  });

  it("serves nothing when given nothing", () => {
    const none = new ServedTenants([]);
    expect(none.list).toStrictEqual([]);
    expect(none.find("contoso.onmicrosoft.com")).toBeUndefined();
  });

  describe("allows", () => {
    const contoso = served.find("contoso.onmicrosoft.com")!;
    const fabrikam = served.find("fabrikam.onmicrosoft.com")!;

    it("allows every tenant without an allow-list", () => {
      expect(ServedTenants.allows(undefined, contoso)).toBe(true);
      expect(ServedTenants.allows(undefined, fabrikam)).toBe(true);
    });

    it("allows a tenant listed under any of its names, in any case", () => {
      expect(ServedTenants.allows(["contoso.com"], contoso)).toBe(true);
      expect(ServedTenants.allows([CONTOSO_ID.toLowerCase()], contoso)).toBe(true);
      expect(ServedTenants.allows(["CONTOSO.ONMICROSOFT.COM"], contoso)).toBe(true);
      expect(ServedTenants.allows(["fabrikam.onmicrosoft.com", "contoso.com"], fabrikam)).toBe(true);
    });

    it("refuses tenants not on the list, and everything with an empty list", () => {
      expect(ServedTenants.allows(["contoso.com"], fabrikam)).toBe(false);
      expect(ServedTenants.allows(["contoso"], contoso)).toBe(false);
      expect(ServedTenants.allows([], contoso)).toBe(false);
    });
  });
});
