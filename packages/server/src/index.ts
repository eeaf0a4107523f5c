export { buildServer, type MfactlServer, type ServerOptions, type ZodApp } from "./app.js";
export { API_KEY_PREFIX, createApiKey, hashApiKey, isApiKeyShaped, parseScopes, type CreatedApiKey } from "./auth/api-keys.js";
export { EntraTokenVerifier, TokenRejectedError, type VerifiedToken } from "./auth/entra-tokens.js";
export { hasScope, type Principal } from "./auth/principal.js";
export { JobSchema, type Job } from "./jobs/job-manager.js";
export { parseServerSettings, readServerSettings, ServerSettingsSchema, type EntraApp, type ServerSettings, type ServerSettingsInput } from "./settings.js";
export { ServedTenants, type ServedTenant } from "./tenants.js";
export { VERSION } from "./version.js";
export { defaultQueueSchema } from "./jobs/cluster-queue.js";
