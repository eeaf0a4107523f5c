import { createHash, randomBytes } from "node:crypto";
import { API_SCOPES, UsageError, type AccessStore, type ApiKeyRecord, type ApiScope } from "@mfactl/core";

/** `mfak_<key id>_<secret>`: the prefix lets secret scanners and people recognise an mfactl key. */
export const API_KEY_PREFIX = "mfak_";
const KEY_PATTERN = /^mfak_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$/;

export function hashApiKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

/** Looks like an mfactl key (it may still be unknown or revoked). */
export function isApiKeyShaped(value: string): boolean {
  return KEY_PATTERN.test(value);
}

export interface CreatedApiKey {
  /** The key itself: shown once, never stored. */
  key: string;
  record: ApiKeyRecord;
}

export interface CreateApiKeyInput {
  name: string;
  scopes: readonly string[];
  tenants?: readonly string[] | undefined;
  createdBy: string;
  at: string;
}

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

/** Creates a key with 256 random bits; the store keeps only its SHA-256. */
export async function createApiKey(store: AccessStore, input: CreateApiKeyInput): Promise<CreatedApiKey> {
  if (!NAME_PATTERN.test(input.name)) {
    throw new UsageError(`Invalid key name ${JSON.stringify(input.name)}: 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit.`);
  }
  const scopes = parseScopes(input.scopes);
  const tenants = input.tenants?.map((t) => t.trim().toLowerCase()).filter((t) => t !== "");
  if (tenants !== undefined && tenants.length === 0) throw new UsageError("--tenant needs at least one tenant id or domain (leave it out to allow every tenant served).");
  const keyId = randomBytes(9).toString("base64url").toLowerCase().replace(/[^a-z0-9]/g, "0").slice(0, 12).padEnd(12, "0");
  const key = `${API_KEY_PREFIX}${keyId}_${randomBytes(32).toString("base64url")}`;
  const record = await store.createApiKey({ keyId, name: input.name, hash: hashApiKey(key), scopes, tenants, createdAt: input.at, createdBy: input.createdBy });
  return { key, record };
}

export function parseScopes(values: readonly string[]): ApiScope[] {
  const out = new Set<ApiScope>();
  for (const raw of values.flatMap((v) => v.split(","))) {
    const v = raw.trim().toLowerCase();
    if (v === "") continue;
    if (!(API_SCOPES as readonly string[]).includes(v)) throw new UsageError(`Invalid scope ${JSON.stringify(raw.trim())}: expected ${API_SCOPES.join(", ")}.`);
    out.add(v as ApiScope);
  }
  if (out.size === 0) throw new UsageError(`Give at least one scope (${API_SCOPES.join(", ")}).`);
  return [...out];
}
