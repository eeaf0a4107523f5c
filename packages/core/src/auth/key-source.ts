import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from "node:fs";
import { delimiter, dirname, join } from "node:path";
import { UsageError } from "../domain/errors.js";

/** The token store's key: 32 bytes for AES-256-GCM. */
export const TOKEN_KEY_BYTES = 32;
export const TOKEN_KEY_ENV = "MFACTL_TOKEN_KEY";
export const TOKEN_KEY_SOURCES = ["env", "file", "keychain"] as const;
export type TokenKeySourceName = (typeof TOKEN_KEY_SOURCES)[number];

/** Where the token store's key comes from. `getKey` creates one on first use where the source can hold it. */
export interface KeySource {
  readonly name: TokenKeySourceName;
  /** Where the key is, in words (never the key): "MFACTL_TOKEN_KEY", "key file /home/a/.config/mfactl/key". */
  readonly description: string;
  getKey(options?: { create?: boolean }): Buffer;
  /** Whether a key exists already (no key is created). */
  hasKey(): boolean;
}

type Env = Record<string, string | undefined>;

function decodeKey(text: string, where: string): Buffer {
  const trimmed = text.trim();
  const key = /^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed) ? Buffer.from(trimmed, "base64") : Buffer.alloc(0);
  if (key.length !== TOKEN_KEY_BYTES) {
    throw new UsageError(`${where} is not a token key: expected ${TOKEN_KEY_BYTES} random bytes in base64 (for example: openssl rand -base64 32).`);
  }
  return key;
}

/** MFACTL_TOKEN_KEY: base64 of 32 bytes, kept by whoever runs mfactl (a CI secret, a vault). */
export function envKeySource(env: Env): KeySource {
  return {
    name: "env",
    description: TOKEN_KEY_ENV,
    hasKey: () => !!env[TOKEN_KEY_ENV],
    getKey() {
      const value = env[TOKEN_KEY_ENV];
      if (!value) throw new UsageError(`${TOKEN_KEY_ENV} is not set: set it to 32 random bytes in base64 (openssl rand -base64 32), or use tokenKey: file.`);
      return decodeKey(value, TOKEN_KEY_ENV);
    },
  };
}

/** `$XDG_CONFIG_HOME/mfactl/key`, else `~/.config/mfactl/key`. */
export function defaultKeyFilePath(env: Env, home: string): string {
  const base = env.XDG_CONFIG_HOME || join(env.HOME || home, ".config");
  return join(base, "mfactl", "key");
}

/** Refuses a key file that others can read or that belongs to someone else, saying how to fix it. */
function checkOwnerOnly(path: string, mode: number, uid: number): void {
  if (process.platform === "win32") return;
  if ((mode & 0o077) !== 0) {
    throw new UsageError(
      `The key file ${path} can be read by others (mode ${(mode & 0o777).toString(8).padStart(4, "0")}): run chmod 600 ${path} (and check who read it), then try again.`,
    );
  }
  const me = process.getuid?.();
  if (me !== undefined && uid !== me) throw new UsageError(`The key file ${path} belongs to another user (uid ${uid}): use a key file of your own (tokenKey: file) or ${TOKEN_KEY_ENV}.`);
}

/** An owner-only key file, created (0600, its directory 0700) with a random key on first use. */
export function fileKeySource(path: string): KeySource {
  return {
    name: "file",
    description: `key file ${path}`,
    hasKey: () => existsSync(path),
    getKey(options) {
      if (!existsSync(path)) {
        if (options?.create === false) throw new UsageError(`There is no key file at ${path}.`);
        mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
        let fd: number;
        try {
          fd = openSync(path, "wx", 0o600);
        } catch (error) {
          // Another mfactl created it meanwhile: use that one.
          if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
          return this.getKey(options);
        }
        try {
          writeSync(fd, `${randomBytes(TOKEN_KEY_BYTES).toString("base64")}\n`);
        } finally {
          closeSync(fd);
        }
      }
      const stat = statSync(path);
      checkOwnerOnly(path, stat.mode, stat.uid);
      const fd = openSync(path, "r");
      try {
        const s = fstatSync(fd);
        checkOwnerOnly(path, s.mode, s.uid);
        return decodeKey(readFileSync(fd, "utf8"), `The key file ${path}`);
      } finally {
        closeSync(fd);
      }
    },
  };
}

/** `secret-tool` on PATH (libsecret: GNOME Keyring, KWallet through its Secret Service). */
export function findSecretTool(env: Env): string | undefined {
  for (const dir of (env.PATH ?? "").split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, "secret-tool");
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

const KEYCHAIN_ATTRIBUTES = ["service", "mfactl", "item", "token-store-key"];

/**
 * The OS keychain through `secret-tool` (Linux). Unavailable (with the reason) when the tool is missing;
 * a keychain that is locked or has no Secret Service fails with secret-tool's own words.
 */
export function keychainKeySource(env: Env, run: typeof execFileSync = execFileSync): KeySource {
  const tool = findSecretTool(env);
  const unavailable = () =>
    new UsageError(`tokenKey: keychain needs secret-tool (libsecret-tools), which is not installed here: install it, or use tokenKey: file or ${TOKEN_KEY_ENV}.`);
  const lookup = (): string | undefined => {
    if (!tool) throw unavailable();
    try {
      const out = run(tool, ["lookup", ...KEYCHAIN_ATTRIBUTES], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env: env as NodeJS.ProcessEnv });
      return out.trim() === "" ? undefined : out;
    } catch (error) {
      // secret-tool exits 1 with no output when the item does not exist.
      const e = error as { status?: number; stderr?: string };
      if (e.status === 1 && !e.stderr) return undefined;
      throw new UsageError(`The keychain could not be read (secret-tool: ${String(e.stderr ?? (error as Error).message).trim()}): unlock it, or use tokenKey: file.`);
    }
  };
  return {
    name: "keychain",
    description: "the OS keychain (secret-tool)",
    hasKey: () => tool !== undefined && lookup() !== undefined,
    getKey(options) {
      const found = lookup();
      if (found !== undefined) return decodeKey(found, "The keychain's mfactl key");
      if (options?.create === false) throw new UsageError("The keychain holds no mfactl token key.");
      const key = randomBytes(TOKEN_KEY_BYTES);
      try {
        run(tool!, ["store", "--label=mfactl token store key", ...KEYCHAIN_ATTRIBUTES], { input: key.toString("base64"), stdio: ["pipe", "pipe", "pipe"], env: env as NodeJS.ProcessEnv });
      } catch (error) {
        const e = error as { stderr?: string };
        throw new UsageError(`The key could not be stored in the keychain (secret-tool: ${String(e.stderr ?? (error as Error).message).trim()}): unlock it, or use tokenKey: file.`);
      }
      return key;
    },
  };
}

/**
 * The profile's `tokenKey`, or automatically: MFACTL_TOKEN_KEY when set, else the owner-only key file.
 * The keychain is used only when asked for (it may prompt or be locked on a server).
 */
export function chooseKeySource(choice: TokenKeySourceName | undefined, env: Env, home: string): KeySource {
  switch (choice ?? (env[TOKEN_KEY_ENV] ? "env" : "file")) {
    case "env":
      return envKeySource(env);
    case "keychain":
      return keychainKeySource(env);
    default:
      return fileKeySource(defaultKeyFilePath(env, home));
  }
}
