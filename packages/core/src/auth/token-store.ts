import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, win32 } from "node:path";
import type { ICachePlugin, TokenCacheContext } from "@azure/msal-node";
import { UsageError } from "../domain/errors.js";
import type { KeySource } from "./key-source.js";

/** A signed-in account, as the store remembers it (no token). */
export interface StoredAccount {
  homeAccountId: string;
  userPrincipalName: string;
  /** The account's home tenant id. */
  tenantId: string;
  /** The authority host it signed in at (tokens are per host). */
  authorityHost: string;
  clientId: string;
  signedInAt: string;
}

/** What the encrypted file holds. */
export interface TokenStoreContent {
  version: 1;
  /** msal-node's serialized token cache (access, id and refresh tokens, accounts). */
  msalCache: string;
  /** The GDAP partner account (`mfactl login --partner`). */
  partner?: StoredAccount | undefined;
  /** Tenant administrators signed in to their own tenant, by the tenant they signed in for (as given). */
  tenants: Record<string, StoredAccount>;
  /** App secrets stored encrypted, by client id. */
  secrets: Record<string, string>;
}

const MAGIC = Buffer.from("MFACTLTS", "ascii");
const FORMAT_VERSION = 1;
const HEADER = Buffer.concat([MAGIC, Buffer.from([FORMAT_VERSION])]);
const IV_BYTES = 12;
const TAG_BYTES = 16;

export function emptyTokenStoreContent(): TokenStoreContent {
  return { version: 1, msalCache: "", tenants: {}, secrets: {} };
}

/** `$XDG_STATE_HOME/mfactl/tokens.enc`, else `~/.local/state/mfactl/tokens.enc` (%LOCALAPPDATA% on Windows): next to the journal. */
export function defaultTokenStorePath(env: Record<string, string | undefined>, platform: NodeJS.Platform = process.platform): string {
  if (platform === "win32") return win32.join(env.LOCALAPPDATA || win32.join(env.USERPROFILE || homedir(), "AppData", "Local"), "mfactl", "tokens.enc");
  const xdg = env.XDG_STATE_HOME;
  if (xdg && xdg.startsWith("/")) return join(xdg, "mfactl", "tokens.enc");
  return join(env.HOME || homedir(), ".local", "state", "mfactl", "tokens.enc");
}

/** Header (magic + format version, authenticated as AAD) | IV | GCM tag | ciphertext. A fresh IV each write. */
export function encryptTokenStore(content: TokenStoreContent, key: Buffer): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(HEADER);
  const body = Buffer.concat([cipher.update(JSON.stringify(content), "utf8"), cipher.final()]);
  return Buffer.concat([HEADER, iv, cipher.getAuthTag(), body]);
}

export function decryptTokenStore(data: Buffer, key: Buffer, where: string): TokenStoreContent {
  if (data.length < HEADER.length + IV_BYTES + TAG_BYTES || !data.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new UsageError(`${where} is not an mfactl token store: remove it (mfactl logout --all) and sign in again.`);
  }
  const version = data[MAGIC.length];
  if (version !== FORMAT_VERSION) throw new UsageError(`${where} was written by a newer mfactl (format ${version}): use that version, or remove it with mfactl logout --all.`);
  const iv = data.subarray(HEADER.length, HEADER.length + IV_BYTES);
  const tag = data.subarray(HEADER.length + IV_BYTES, HEADER.length + IV_BYTES + TAG_BYTES);
  const decipher = createDecipheriv("aes-256-gcm", key, iv);
  decipher.setAAD(data.subarray(0, HEADER.length));
  decipher.setAuthTag(tag);
  let text: string;
  try {
    text = Buffer.concat([decipher.update(data.subarray(HEADER.length + IV_BYTES + TAG_BYTES)), decipher.final()]).toString("utf8");
  } catch {
    throw new UsageError(`the token store cannot be decrypted with this key: ${where}`);
  }
  const parsed = JSON.parse(text) as Partial<TokenStoreContent>;
  return { ...emptyTokenStoreContent(), ...parsed, version: 1, tenants: parsed.tenants ?? {}, secrets: parsed.secrets ?? {} };
}

/**
 * The encrypted token store: one file, rewritten whole (temporary file 0600, fsync, rename) so a crash
 * leaves the old or the new version, never half of one. The key is read when the file is first used.
 */
export class TokenStore {
  private key: Buffer | undefined;
  constructor(
    readonly path: string,
    readonly keySource: KeySource,
  ) {}

  exists(): boolean {
    return existsSync(this.path);
  }

  private where(): string {
    return `${this.path} (key from ${this.keySource.description}). Use the key it was written with, or remove the file with mfactl logout --all and sign in again.`;
  }

  private getKey(create: boolean): Buffer {
    this.key ??= this.keySource.getKey({ create });
    return this.key;
  }

  read(): TokenStoreContent {
    if (!existsSync(this.path)) return emptyTokenStoreContent();
    const data = readFileSync(this.path);
    return decryptTokenStore(data, this.getKey(false), this.where());
  }

  write(content: TokenStoreContent): void {
    const data = encryptTokenStore(content, this.getKey(true));
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    const tmp = `${this.path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
    const fd = openSync(tmp, "wx", 0o600);
    try {
      writeSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      renameSync(tmp, this.path);
    } catch (error) {
      rmSync(tmp, { force: true });
      throw error;
    }
  }

  /** Read, change, write (one process at a time changes the store: mfactl runs are short). */
  update(change: (content: TokenStoreContent) => void): TokenStoreContent {
    const content = this.read();
    change(content);
    this.write(content);
    return content;
  }

  remove(): boolean {
    if (!existsSync(this.path)) return false;
    rmSync(this.path, { force: true });
    return true;
  }

  /** msal-node reads its cache from the store before each access and writes it back when it changed (refresh-token rotation included). */
  cachePlugin(): ICachePlugin {
    return {
      beforeCacheAccess: (context: TokenCacheContext) => {
        const { msalCache } = this.read();
        if (msalCache !== "") context.tokenCache.deserialize(msalCache);
        return Promise.resolve();
      },
      afterCacheAccess: (context: TokenCacheContext) => {
        if (context.cacheHasChanged) {
          const serialized = context.tokenCache.serialize();
          this.update((c) => {
            c.msalCache = serialized;
          });
        }
        return Promise.resolve();
      },
    };
  }
}
