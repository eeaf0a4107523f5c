import { describe, expect, it } from "vitest";
import { createRedactor, redactingWriter } from "./redact.js";

describe("redaction", () => {
  it("removes known secrets, JWTs and bearer tokens", () => {
    const redact = createRedactor(["Sup3r~Secret.Value"]);
    const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJ0aWQiOiJ4In0.c2lnbmF0dXJl";
    const text = `secret=Sup3r~Secret.Value token ${jwt} Authorization: Bearer abcdefgh12345678`;
    const out = redact(text);
    expect(out).not.toContain("Sup3r~Secret.Value");
    expect(out).not.toContain(jwt);
    expect(out).not.toContain("abcdefgh12345678");
    expect(out).toContain("[redacted]");
  });

  it("a writer learns secrets later", () => {
    const chunks: string[] = [];
    const w = redactingWriter({ write: (c: string) => chunks.push(c) });
    w.write("value-one\n");
    w.addSecrets(["value-one"]);
    w.write("value-one\n");
    expect(chunks).toEqual(["value-one\n", "[redacted]\n"]);
  });
});
