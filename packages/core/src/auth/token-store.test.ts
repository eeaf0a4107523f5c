import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { chooseKeySource, envKeySource, fileKeySource, keychainKeySource, TOKEN_KEY_ENV } from "./key-source.js";
import { TokenStore, defaultTokenStorePath } from "./token-store.js";

const ACCESS = `eyJhbGciOiJSUzI1NiJ9.${Buffer.from('{"upn":"admin@partner.onmicrosoft.com"}').toString("base64url")}.c2lnbmF0dXJl`;
const REFRESH = "0.AXoA-refresh-token-secret-value-1234567890abcdef";
const SECRET = "app~secret~Value.0123456789";
const UPN = "admin@partner.onmicrosoft.com";

function msalCache(): string {
  return JSON.stringify({
    Account: { "uid.utid-host-utid": { username: UPN, home_account_id: "uid.utid" } },
    AccessToken: { "at-key": { secret: ACCESS, home_account_id: "uid.utid" } },
    RefreshToken: { "rt-key": { secret: REFRESH, home_account_id: "uid.utid", client_id: "c" } },
  });
}

function dir(): string {
  return mkdtempSync(join(tmpdir(), "mfactl-tokens-"));
}

function fill(store: TokenStore): void {
  store.update((c) => {
    c.msalCache = msalCache();
    c.partner = { homeAccountId: "uid.utid", userPrincipalName: UPN, tenantId: "t", authorityHost: "https://h", clientId: "c", signedInAt: "2026-01-01T00:00:00Z" };
    c.secrets["c"] = SECRET;
  });
}

/** Every form a secret could leak in: as is, base64, hex, UTF-16. */
function expectNotReadable(bytes: Buffer, values: string[]): void {
  const texts = [bytes.toString("latin1"), bytes.toString("utf16le"), bytes.toString("base64"), bytes.toString("hex")];
  for (const value of values) {
    for (const piece of [value, Buffer.from(value).toString("base64").slice(0, 16), Buffer.from(value).toString("hex").slice(0, 24)]) {
      for (const text of texts) expect(text.includes(piece), `${JSON.stringify(piece)} readable in the store`).toBe(false);
    }
  }
}

describe("the token store on disk", () => {
  it("holds no token, refresh token, secret or UPN in plain text (key from MFACTL_TOKEN_KEY)", () => {
    const d = dir();
    const env = { [TOKEN_KEY_ENV]: randomBytes(32).toString("base64") };
    const store = new TokenStore(join(d, "state", "tokens.enc"), envKeySource(env));
    fill(store);
    const bytes = readFileSync(store.path);
    expect(bytes.subarray(0, 8).toString("ascii")).toBe("MFACTLTS");
    expectNotReadable(bytes, [ACCESS, REFRESH, SECRET, UPN, "admin@partner", "refresh"]);
    expect(statSync(store.path).mode & 0o777).toBe(0o600);
    // No temporary file left next to it.
    expect(readdirSync(join(d, "state"))).toEqual(["tokens.enc"]);
    // And it reads back.
    const again = new TokenStore(store.path, envKeySource(env)).read();
    expect(again.secrets["c"]).toBe(SECRET);
    expect(again.partner?.userPrincipalName).toBe(UPN);
    expect(JSON.parse(again.msalCache).RefreshToken["rt-key"].secret).toBe(REFRESH);
  });

  it("uses a fresh IV for every write", () => {
    const store = new TokenStore(join(dir(), "tokens.enc"), envKeySource({ [TOKEN_KEY_ENV]: randomBytes(32).toString("base64") }));
    fill(store);
    const first = readFileSync(store.path);
    store.write(store.read());
    const second = readFileSync(store.path);
    expect(second.subarray(9, 21).equals(first.subarray(9, 21))).toBe(false);
    expect(second.equals(first)).toBe(false);
  });

  it("fails with a wrong key, and when the file was altered", () => {
    const path = join(dir(), "tokens.enc");
    fill(new TokenStore(path, envKeySource({ [TOKEN_KEY_ENV]: randomBytes(32).toString("base64") })));
    const wrong = new TokenStore(path, envKeySource({ [TOKEN_KEY_ENV]: randomBytes(32).toString("base64") }));
    expect(() => wrong.read()).toThrow(/^the token store cannot be decrypted with this key: .*tokens\.enc \(key from MFACTL_TOKEN_KEY\)/);

    const key = randomBytes(32).toString("base64");
    const store = new TokenStore(join(dir(), "tokens.enc"), envKeySource({ [TOKEN_KEY_ENV]: key }));
    fill(store);
    const bytes = readFileSync(store.path);
    bytes[bytes.length - 3] = (bytes[bytes.length - 3]! + 1) % 256;
    writeFileSync(store.path, bytes);
    expect(() => store.read()).toThrow(/cannot be decrypted/);
    // The format version is authenticated too.
    const other = new TokenStore(join(dir(), "tokens.enc"), envKeySource({ [TOKEN_KEY_ENV]: key }));
    fill(other);
    const header = readFileSync(other.path);
    header[8] = 2;
    writeFileSync(other.path, header);
    expect(() => new TokenStore(other.path, envKeySource({ [TOKEN_KEY_ENV]: key })).read()).toThrow(/newer mfactl \(format 2\)/);
  });

  it("refuses an MFACTL_TOKEN_KEY that is not 32 bytes of base64", () => {
    expect(() => envKeySource({ [TOKEN_KEY_ENV]: "short" }).getKey()).toThrow(/MFACTL_TOKEN_KEY is not a token key: expected 32 random bytes in base64/);
    expect(() => envKeySource({ [TOKEN_KEY_ENV]: randomBytes(16).toString("base64") }).getKey()).toThrow(/32 random bytes/);
  });
});

describe("the key file", () => {
  it("is created owner-only with a random key on first use and read back after", () => {
    const home = dir();
    const source = chooseKeySource(undefined, { HOME: home }, home);
    expect(source.name).toBe("file");
    expect(source.description).toBe(`key file ${join(home, ".config", "mfactl", "key")}`);
    const store = new TokenStore(join(home, "tokens.enc"), source);
    fill(store);
    const keyPath = join(home, ".config", "mfactl", "key");
    expect(statSync(keyPath).mode & 0o777).toBe(0o600);
    expect(statSync(join(home, ".config", "mfactl")).mode & 0o777).toBe(0o700);
    expect(Buffer.from(readFileSync(keyPath, "utf8").trim(), "base64")).toHaveLength(32);
    expect(new TokenStore(store.path, fileKeySource(keyPath)).read().secrets["c"]).toBe(SECRET);
    expectNotReadable(readFileSync(store.path), [REFRESH, SECRET, UPN]);
  });

  it.skipIf(process.platform === "win32")("refuses a key file others can read, with the fix", () => {
    const home = dir();
    const keyPath = join(home, "key");
    const source = fileKeySource(keyPath);
    source.getKey();
    chmodSync(keyPath, 0o644);
    expect(() => fileKeySource(keyPath).getKey()).toThrow(`The key file ${keyPath} can be read by others (mode 0644): run chmod 600 ${keyPath}`);
    chmodSync(keyPath, 0o640);
    expect(() => fileKeySource(keyPath).getKey()).toThrow(/mode 0640/);
    chmodSync(keyPath, 0o600);
    expect(fileKeySource(keyPath).getKey()).toHaveLength(32);
  });

  it("does not create a key just to read a store that does not exist", () => {
    const home = dir();
    const store = new TokenStore(join(home, "tokens.enc"), fileKeySource(join(home, "key")));
    expect(store.read().partner).toBeUndefined();
    expect(store.keySource.hasKey()).toBe(false);
  });
});

describe("key source choice", () => {
  it("is MFACTL_TOKEN_KEY when set, else the key file; the keychain only when asked", () => {
    expect(chooseKeySource(undefined, { [TOKEN_KEY_ENV]: "x" }, "/h").name).toBe("env");
    expect(chooseKeySource(undefined, {}, "/h").name).toBe("file");
    expect(chooseKeySource("file", { [TOKEN_KEY_ENV]: "x" }, "/h").name).toBe("file");
    expect(chooseKeySource("keychain", {}, "/h").name).toBe("keychain");
  });

  it("says why the keychain cannot be used without secret-tool", () => {
    const source = keychainKeySource({ PATH: dir() });
    expect(source.hasKey()).toBe(false);
    expect(() => source.getKey()).toThrow(/tokenKey: keychain needs secret-tool \(libsecret-tools\), which is not installed here/);
  });

  it("stores and looks up the key through secret-tool", () => {
    const bin = dir();
    writeFileSync(join(bin, "secret-tool"), "#!/bin/sh\n", { mode: 0o755 });
    let stored: string | undefined;
    const calls: string[][] = [];
    const run = ((_tool: string, args: string[], opts: { input?: string }) => {
      calls.push(args);
      if (args[0] === "store") {
        stored = opts.input;
        return "";
      }
      if (stored === undefined) throw Object.assign(new Error("exit 1"), { status: 1, stderr: "" });
      return stored;
    }) as unknown as typeof import("node:child_process").execFileSync;
    const source = keychainKeySource({ PATH: bin }, run);
    const key = source.getKey();
    expect(key).toHaveLength(32);
    expect(source.getKey().equals(key)).toBe(true);
    expect(calls.map((c) => c[0])).toEqual(["lookup", "store", "lookup"]);
    expect(calls[1]).toContain("mfactl");
  });
});

describe("defaultTokenStorePath", () => {
  it("is next to the journal", () => {
    expect(defaultTokenStorePath({ XDG_STATE_HOME: "/s" }, "linux")).toBe("/s/mfactl/tokens.enc");
    expect(defaultTokenStorePath({ HOME: "/home/a" }, "linux")).toBe("/home/a/.local/state/mfactl/tokens.enc");
  });
});
