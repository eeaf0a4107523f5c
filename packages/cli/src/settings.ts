import { createPrivateKey } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { z } from "zod";
import { ACCESS_MODES, SmtpSettingsSchema, TOKEN_KEY_SOURCES, UsageError, type AccessMode, type ConnectionSettings, type Credential, type SmtpSettings } from "@mfactl/core";

export const MICROSOFT_AUTHORITY_HOST = "https://login.microsoftonline.com";
export const MICROSOFT_GRAPH_URL = "https://graph.microsoft.com";

/** Settings a profile, the environment or a flag may give. */
const SettingsSchema = z.object({
  clientId: z.string().min(1).optional(),
  clientSecret: z.string().min(1).optional(),
  certificatePath: z.string().min(1).optional(),
  certificatePassword: z.string().min(1).optional(),
  authorityHost: z.url({ protocol: /^https$/ }).optional(),
  graphUrl: z.url({ protocol: /^https$/ }).optional(),
  caFile: z.string().min(1).optional(),
  tenant: z.string().min(1).optional(),
});
export type Settings = z.infer<typeof SettingsSchema>;

/** The SMTP password: from the environment only, so it is never in the config file. */
export const SMTP_PASSWORD_ENV = "MFACTL_SMTP_PASSWORD";

/** The profile's `smtp` block (email alerts of schedules): core's SMTP settings without the password. */
const SmtpProfileSchema = z.record(z.string(), z.unknown()).superRefine((smtp, ctx) => {
  if ("password" in smtp) {
    ctx.addIssue({ code: "custom", path: ["password"], message: `the SMTP password is read from ${SMTP_PASSWORD_ENV}, never from the config file` });
    return;
  }
  // Checked as core checks it, with a stand-in for the password the environment gives later.
  const parsed = SmtpSettingsSchema.safeParse(smtp.user !== undefined ? { ...smtp, password: "stand-in" } : smtp);
  if (!parsed.success) for (const issue of parsed.error.issues) ctx.addIssue({ code: "custom", path: issue.path, message: issue.message });
});

/** Profile keys that are not connection settings: tenant list, guard rails, journal location. */
const ProfileExtrasSchema = z.object({
  tenants: z.array(z.string().min(1)).optional(),
  /** UPNs or object ids no command changes unless named with --include-protected. */
  protectedAccounts: z.array(z.string().min(1)).optional(),
  /** Default --max-changes: a number of users or a percentage ("10%"). */
  maxChanges: z.union([z.number().int().nonnegative(), z.string().regex(/^\s*(\d+|\d+(\.\d+)?\s*%)\s*$/, "a whole number of users or a percentage like 10%")]).optional(),
  /** Journal database path (relative to the config file). */
  db: z.string().min(1).optional(),
  /** How tenants are reached by default: app-only, GDAP (the partner's sign-in) or delegated (a tenant administrator's). */
  access: z.enum(ACCESS_MODES).optional(),
  /** Per-tenant access overrides, by tenant id or domain as written in --tenant (case-insensitive). */
  tenantAccess: z.record(z.string().min(1), z.enum(ACCESS_MODES)).optional(),
  /** The partner (MSP) tenant: GDAP sign-in and `tenants sync`. */
  partner: z.object({ tenantId: z.string().min(1) }).strict().optional(),
  /** Where the token store's key comes from; default MFACTL_TOKEN_KEY when set, else the key file. */
  tokenKey: z.enum(TOKEN_KEY_SOURCES).optional(),
  /** Tenants `--all-tenants` leaves in or out (see docs/msp.md). */
  includeTenants: z.array(z.string().min(1)).optional(),
  excludeTenants: z.array(z.string().min(1)).optional(),
  /** Where Entra sends an administrator after the admin consent of `mfactl consent-url` (registered on the app). */
  consentRedirectUri: z.string().url().optional(),
  /** SMTP server for email alerts (`mfactl schedule run`); the password from MFACTL_SMTP_PASSWORD. */
  smtp: SmtpProfileSchema.optional(),
});
export type ProfileExtras = z.infer<typeof ProfileExtrasSchema>;

/** Which service mfactl changes per-user MFA through (docs/backends.md). */
export const BACKENDS = ["graph", "cipp"] as const;
export type Backend = (typeof BACKENDS)[number];

/** The profile's `cipp` block: a CIPP instance and its API client (the secret preferably from MFACTL_CIPP_CLIENT_SECRET). */
const CippProfileSchema = z
  .object({
    url: z.url({ protocol: /^https$/ }),
    tenantId: z.string().min(1),
    clientId: z.string().min(1),
    clientSecret: z.string().min(1),
  })
  .partial()
  .strict();
export type CippProfile = z.infer<typeof CippProfileSchema>;

const ConfigFileSchema = z.object({
  defaultProfile: z.string().optional(),
  profiles: z
    .record(z.string(), SettingsSchema.extend(ProfileExtrasSchema.shape).extend({ backend: z.enum(BACKENDS).optional(), cipp: CippProfileSchema.optional() }).strict())
    .default({}),
});

/** Environment variable for each setting. */
export const ENV_VARS = {
  clientId: "MFACTL_CLIENT_ID",
  clientSecret: "MFACTL_CLIENT_SECRET",
  certificatePath: "MFACTL_CERTIFICATE_PATH",
  certificatePassword: "MFACTL_CERTIFICATE_PASSWORD",
  authorityHost: "MFACTL_AUTHORITY_HOST",
  graphUrl: "MFACTL_GRAPH_URL",
  caFile: "MFACTL_CA_FILE",
  tenant: "MFACTL_TENANT",
} as const satisfies Record<keyof Settings, string>;

export type Env = Record<string, string | undefined>;

/** The user's config directory: $XDG_CONFIG_HOME, %APPDATA% on Windows, else ~/.config. */
export function defaultConfigPath(env: Env): string {
  const base = env.XDG_CONFIG_HOME || (process.platform === "win32" ? env.APPDATA : undefined) || join(env.HOME || homedir(), ".config");
  return join(base, "mfactl", "config.json");
}

export interface LoadedProfile {
  settings: Settings;
  extras: ProfileExtras;
  name: string | undefined;
  /** The profile's `backend` and `cipp` block, when it has them. */
  backend?: Backend | undefined;
  cipp?: CippProfile | undefined;
}

/** The profile from the config file (none when there is no file), without checking credentials. */
export function loadProfile(flags: { config?: string | undefined; profile?: string | undefined }, env: Env): LoadedProfile {
  const configPath = flags.config ?? env.MFACTL_CONFIG;
  const explicitConfig = configPath !== undefined;
  const path = configPath ?? defaultConfigPath(env);
  const profileName = flags.profile ?? env.MFACTL_PROFILE;
  if (existsSync(path)) {
    const config = readConfig(path);
    const name = profileName ?? config.defaultProfile ?? (config.profiles.default ? "default" : undefined);
    if (name === undefined) return { settings: {}, extras: {}, name: undefined };
    const profile = config.profiles[name];
    if (!profile) {
      const known = Object.keys(config.profiles);
      throw new UsageError(`Profile "${name}" not found in ${path}${known.length ? `; profiles there: ${known.join(", ")}` : ""}.`);
    }
    const { tenants, protectedAccounts, maxChanges, db, backend, cipp, access, tenantAccess, partner, tokenKey, includeTenants, excludeTenants, consentRedirectUri, smtp, ...settings } = profile;
    const extras: ProfileExtras = stripUndefined({ tenants, protectedAccounts, maxChanges, access, tenantAccess, partner, tokenKey, includeTenants, excludeTenants, consentRedirectUri, smtp, db: db === undefined || isAbsolute(db) || /^postgres(ql)?:\/\//i.test(db) ? db : resolve(dirname(path), db) });
    return { settings: relativeTo(dirname(path), settings), extras, name, backend, cipp };
  }
  if (explicitConfig) throw new UsageError(`Config file ${path} does not exist.`);
  if (profileName !== undefined) throw new UsageError(`Profile "${profileName}" was asked for, but there is no config file at ${path}.`);
  return { settings: {}, extras: {}, name: undefined };
}

/**
 * The SMTP settings of email alerts: the profile's `smtp` with the password from MFACTL_SMTP_PASSWORD; the server's
 * certificate checked against the public CAs and `caPem` (the profile's smtp.caPem, else mfactl's extra CA).
 */
export function resolveSmtp(extras: ProfileExtras, env: Env, caPem?: string): SmtpSettings | undefined {
  const smtp = extras.smtp;
  if (!smtp) return undefined;
  const password = env[SMTP_PASSWORD_ENV] || undefined;
  if (smtp.user !== undefined && password === undefined) throw new UsageError(`The profile's smtp.user is set: give its password in ${SMTP_PASSWORD_ENV}.`);
  const parsed = SmtpSettingsSchema.safeParse({ ...smtp, ...(smtp.user !== undefined ? { password } : {}), ...(smtp.caPem === undefined && caPem !== undefined ? { caPem } : {}) });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UsageError(`The profile's smtp is not valid: ${issue?.path.join(".") || "(root)"}: ${issue?.message ?? "invalid"}.`);
  }
  return parsed.data;
}

export interface ResolvedSettings {
  connection: ConnectionSettings;
  /** The tenant from the profile or environment, when no flag gives one. */
  defaultTenant: string | undefined;
  /** The profile's tenant list: what `--all-tenants` means. */
  tenants: string[];
  profile: string | undefined;
  /** Secret values to scrub from anything printed. */
  secrets: string[];
  /** Per-tenant access mode (app, gdap, delegated). */
  access: AccessSettings;
  /** The app credential was found (flag, environment, profile or token store); without one only gdap/delegated tenants work. */
  hasAppCredential: boolean;
}

export interface AccessSettings {
  default: AccessMode;
  /** Overrides, keys lower-cased. */
  tenants: Record<string, AccessMode>;
  partnerTenantId: string | undefined;
}

export function accessSettings(extras: ProfileExtras): AccessSettings {
  const tenants: Record<string, AccessMode> = {};
  for (const [tenant, mode] of Object.entries(extras.tenantAccess ?? {})) tenants[tenant.toLowerCase()] = mode;
  return { default: extras.access ?? "app", tenants, partnerTenantId: extras.partner?.tenantId };
}

/** The access mode of a tenant: its override, else the profile's default. */
export function accessModeFor(access: AccessSettings, tenant: string): AccessMode {
  return access.tenants[tenant.toLowerCase()] ?? access.default;
}

/** Whether any tenant may use app-only access (the default, or an override). */
function usesApp(access: AccessSettings): boolean {
  return access.default === "app" || Object.values(access.tenants).includes("app");
}

export interface ResolveOptions {
  /** The app secret stored encrypted in the token store (`mfactl login --store-secret`), used when nothing else gives a credential. */
  storedSecret?: ((clientId: string) => string | undefined) | undefined;
}

/**
 * Precedence: flag > environment > profile in the config file > Microsoft's defaults.
 * Paths in the config file are relative to the file.
 */
export function resolveSettings(flags: Settings & { config?: string | undefined; profile?: string | undefined }, env: Env, options: ResolveOptions = {}): ResolvedSettings {
  const loaded = loadProfile(flags, env);
  const profileTenants = loaded.extras.tenants ?? [];
  const usedProfile = loaded.name;
  const merged = mergeSettings(flags, env, loaded);
  const access = accessSettings(loaded.extras);

  if (!merged.clientId) {
    throw new UsageError("No client id: set --client-id, MFACTL_CLIENT_ID or clientId in a profile (see docs/setup.md).");
  }
  if (!merged.clientSecret && !merged.certificatePath) {
    const stored = options.storedSecret?.(merged.clientId);
    if (stored) merged.clientSecret = stored;
  }
  // GDAP and delegated tokens come from a sign-in: a profile that never uses app-only access needs no app credential.
  const hasAppCredential = !!(merged.clientSecret || merged.certificatePath);
  const credential: Credential = hasAppCredential || usesApp(access) ? loadCredential(merged) : { kind: "secret", clientSecret: "" };
  const caPem = merged.caFile ? readFileOrFail(merged.caFile, "CA file") : undefined;
  const secrets = [merged.clientSecret, merged.certificatePassword, credential.kind === "certificate" ? credential.privateKeyPem : undefined].filter(
    (s): s is string => typeof s === "string" && s.length > 0,
  );
  return {
    connection: {
      clientId: merged.clientId,
      credential,
      authorityHost: trimSlash(merged.authorityHost ?? MICROSOFT_AUTHORITY_HOST),
      graphUrl: trimSlash(merged.graphUrl ?? MICROSOFT_GRAPH_URL),
      ...(caPem ? { caPem } : {}),
    },
    defaultTenant: merged.tenant,
    tenants: profileTenants,
    profile: usedProfile,
    secrets,
    access,
    hasAppCredential,
  };
}

export interface PublicClientSettings {
  clientId: string;
  authorityHost: string;
  graphUrl: string;
  caPem?: string | undefined;
  access: AccessSettings;
  profile: string | undefined;
}

/** What `mfactl login` needs: the app's client id and the endpoints, no app credential (device code is a public-client flow). */
export function resolvePublicClientSettings(flags: Settings & { config?: string | undefined; profile?: string | undefined }, env: Env): PublicClientSettings {
  const loaded = loadProfile(flags, env);
  const merged = mergeSettings(flags, env, loaded);
  if (!merged.clientId) throw new UsageError("No client id: set --client-id, MFACTL_CLIENT_ID or clientId in a profile (see docs/setup.md).");
  const caPem = merged.caFile ? readFileOrFail(merged.caFile, "CA file") : undefined;
  return {
    clientId: merged.clientId,
    authorityHost: trimSlash(merged.authorityHost ?? MICROSOFT_AUTHORITY_HOST),
    graphUrl: trimSlash(merged.graphUrl ?? MICROSOFT_GRAPH_URL),
    ...(caPem ? { caPem } : {}),
    access: accessSettings(loaded.extras),
    profile: loaded.name,
  };
}

/** Flag over environment over profile, for the settings every backend shares. */
function mergeSettings(flags: Settings, env: Env, loaded: LoadedProfile): Settings {
  const fromEnv = parseSettings(
    Object.fromEntries(Object.entries(ENV_VARS).flatMap(([key, name]) => (env[name] ? [[key, env[name]]] : []))),
    "environment",
  );
  const fromFlags = parseSettings(
    Object.fromEntries(Object.entries(flags).filter(([key, value]) => key in ENV_VARS && value !== undefined)),
    "flags",
  );
  return { ...loaded.settings, ...fromEnv, ...fromFlags };
}

/** Environment variables of the CIPP backend. The secret has no flag: a flag's value shows in the process list. */
export const CIPP_ENV_VARS = {
  backend: "MFACTL_BACKEND",
  url: "MFACTL_CIPP_URL",
  tenantId: "MFACTL_CIPP_TENANT_ID",
  clientId: "MFACTL_CIPP_CLIENT_ID",
  clientSecret: "MFACTL_CIPP_CLIENT_SECRET",
} as const;

/** `--backend`, then MFACTL_BACKEND, then the profile's `backend`, then graph. */
export function resolveBackend(flag: string | undefined, env: Env, profile: Pick<LoadedProfile, "backend">): Backend {
  const fromEnv = env[CIPP_ENV_VARS.backend] || undefined;
  const value = flag ?? fromEnv ?? profile.backend ?? "graph";
  if (!(BACKENDS as readonly string[]).includes(value)) {
    throw new UsageError(`Invalid ${flag !== undefined ? "--backend" : CIPP_ENV_VARS.backend} ${JSON.stringify(value)}: expected ${BACKENDS.join(" or ")}.`);
  }
  return value as Backend;
}

export interface CippFlags {
  cippUrl?: string | undefined;
  cippTenantId?: string | undefined;
  cippClientId?: string | undefined;
}

export interface ResolvedCippSettings {
  /** The CIPP instance, e.g. https://cipp.contoso.com. */
  url: string;
  /** The tenant CIPP's API client is registered in. */
  tenantId: string;
  clientId: string;
  clientSecret: string;
  authorityHost: string;
  caPem?: string | undefined;
  /** The customer tenant from the profile or environment, when no flag gives one. */
  defaultTenant: string | undefined;
  /** The profile's tenant list: what `--all-tenants` means. */
  tenants: string[];
  profile: string | undefined;
  /** Secret values to scrub from anything printed. */
  secrets: string[];
}

/**
 * The CIPP backend's settings: `--cipp-*` flag > MFACTL_CIPP_* > the profile's `cipp` block. The authority host, the
 * extra CA and the default tenant are the shared settings (--authority-host, --ca-file, --tenant and their variables).
 * Graph's client id and credential are not needed.
 */
export function resolveCippSettings(flags: CippFlags & Settings & { config?: string | undefined; profile?: string | undefined }, env: Env): ResolvedCippSettings {
  const loaded = loadProfile(flags, env);
  const { cippUrl, cippTenantId, cippClientId, ...shared } = flags;
  const merged = mergeSettings(shared, env, loaded);
  const fromEnv = (key: keyof typeof CIPP_ENV_VARS) => env[CIPP_ENV_VARS[key]] || undefined;
  const pick = (flag: string | undefined, key: "url" | "tenantId" | "clientId", flagName: string): string => {
    const value = flag ?? fromEnv(key) ?? loaded.cipp?.[key];
    if (value === undefined || value.trim() === "")
      throw new UsageError(`The CIPP backend needs ${describeCipp[key]}: set ${flagName}, ${CIPP_ENV_VARS[key]} or cipp.${key} in the profile (see docs/backends.md).`);
    return value.trim();
  };
  const url = pick(cippUrl, "url", "--cipp-url");
  if (!/^https:\/\/[^\s/]/i.test(url) || !URL.canParse(url)) {
    const source = cippUrl !== undefined ? "--cipp-url" : fromEnv("url") !== undefined ? CIPP_ENV_VARS.url : "the profile's cipp.url";
    throw new UsageError(`Invalid ${source}: expected an https:// URL such as https://cipp.contoso.com.`);
  }
  const tenantId = pick(cippTenantId, "tenantId", "--cipp-tenant-id");
  const clientId = pick(cippClientId, "clientId", "--cipp-client-id");
  const clientSecret = fromEnv("clientSecret") ?? loaded.cipp?.clientSecret;
  if (!clientSecret) throw new UsageError(`The CIPP backend needs the secret of CIPP's API client: set ${CIPP_ENV_VARS.clientSecret} (or cipp.clientSecret in the profile; see docs/backends.md).`);
  const caPem = merged.caFile ? readFileOrFail(merged.caFile, "CA file") : undefined;
  return {
    url: trimSlash(url),
    tenantId,
    clientId,
    clientSecret,
    authorityHost: trimSlash(merged.authorityHost ?? MICROSOFT_AUTHORITY_HOST),
    ...(caPem ? { caPem } : {}),
    defaultTenant: merged.tenant,
    tenants: loaded.extras.tenants ?? [],
    profile: loaded.name,
    secrets: [clientSecret],
  };
}

const describeCipp = { url: "the CIPP URL", tenantId: "the tenant id of CIPP's API client (the tenant CIPP runs in)", clientId: "the client id of CIPP's API client" } as const;

function readConfig(path: string): z.infer<typeof ConfigFileSchema> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new UsageError(`Config file ${path} is not valid JSON: ${(error as Error).message}`);
  }
  const parsed = ConfigFileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UsageError(`Config file ${path} is not valid: ${issue?.path.join(".") || "(root)"}: ${issue?.message ?? "invalid"}.`);
  }
  return parsed.data;
}

function parseSettings(values: Record<string, unknown>, source: string): Settings {
  const parsed = SettingsSchema.safeParse(values);
  if (parsed.success) return stripUndefined(parsed.data);
  const issue = parsed.error.issues[0];
  const key = String(issue?.path[0] ?? "");
  const name = source === "environment" ? ENV_VARS[key as keyof Settings] ?? key : `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
  const hint = key === "authorityHost" || key === "graphUrl" ? "expected an https:// URL" : (issue?.message ?? "invalid");
  // Never echo the value: it may be a secret.
  throw new UsageError(`Invalid ${name}: ${hint}.`);
}

function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

function relativeTo(dir: string, settings: Settings): Settings {
  const out = { ...settings };
  for (const key of ["certificatePath", "caFile"] as const) {
    const value = out[key];
    if (value && !isAbsolute(value)) out[key] = resolve(dir, value);
  }
  return out;
}

function loadCredential(settings: Settings): Credential {
  if (settings.clientSecret && settings.certificatePath) {
    throw new UsageError("Both a client secret and a certificate are set: give one (the flag or variable that wins is ambiguous).");
  }
  if (settings.clientSecret) return { kind: "secret", clientSecret: settings.clientSecret };
  if (settings.certificatePath) {
    const pem = readFileOrFail(settings.certificatePath, "certificate file");
    const certificatePem = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/)?.[0];
    const keyPem = pem.match(/-----BEGIN (?:RSA |ENCRYPTED )?PRIVATE KEY-----[\s\S]+?-----END (?:RSA |ENCRYPTED )?PRIVATE KEY-----/)?.[0];
    if (!certificatePem || !keyPem) {
      throw new UsageError(`Certificate file ${settings.certificatePath} must hold a PEM certificate and its PEM private key.`);
    }
    return { kind: "certificate", certificatePem, privateKeyPem: decryptKey(keyPem, settings.certificatePassword, settings.certificatePath) };
  }
  throw new UsageError("No credential: set MFACTL_CLIENT_SECRET or MFACTL_CERTIFICATE_PATH (or clientSecret / certificatePath in a profile).");
}

function decryptKey(keyPem: string, password: string | undefined, path: string): string {
  if (!keyPem.includes("ENCRYPTED")) return keyPem;
  if (!password) throw new UsageError(`The private key in ${path} is encrypted: set MFACTL_CERTIFICATE_PASSWORD.`);
  return decryptPem(keyPem, password, path);
}

function decryptPem(keyPem: string, passphrase: string, path: string): string {
  try {
    return createPrivateKey({ key: keyPem, passphrase }).export({ type: "pkcs8", format: "pem" }).toString();
  } catch {
    throw new UsageError(`Could not decrypt the private key in ${path}: wrong MFACTL_CERTIFICATE_PASSWORD?`);
  }
}

function readFileOrFail(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new UsageError(`Cannot read the ${what} ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}.`);
  }
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, "");
}
