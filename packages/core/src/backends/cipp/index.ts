/**
 * The CIPP backend: per-user MFA through a CIPP instance's API (ExecPerUserMFA, ListPerUserMFA, ListMFAUsers) instead
 * of Graph, with core's vocabulary, results and guarantees (a change counts only when it reads back). docs/backends.md.
 *
 *   const client = createCippClient({ url, tenantId, clientId, clientSecret, fetch: createFetch({ caPem }).fetch });
 *   await cippGetUserMfa(client, { tenant, user });
 *   await cippSetUserMfa(client, { tenant, user, state: "enforced" });
 *   for await (const row of cippListUsers(client, tenant, { states: ["disabled"] })) ...
 */
export { createCippClient, cippMessage, type CippAnswer, type CippCall, type CippClient, type CippClientOptions } from "./client.js";
export { CippError, type CippErrorDetails } from "./errors.js";
export { cippPort } from "./port.js";
export { cippGetUserMfa, cippListUsers, cippSetUserMfa, type CippListOptions } from "./operations.js";
