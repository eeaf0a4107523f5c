/**
 * The workflows the end-to-end test imports into n8n, built from the node's real parameter names
 * (nodes/PerUserMfa/description.ts): `authentication` picks the credential, `operation` one of set,
 * get, list, bulkSet; `tenant`, `user`, `mfaState`; `returnAll`, `limit`, `filters.states`;
 * `options.ignoreSsl`.
 */
import { chain, type ChainNode, type N8nCredential, type N8nWorkflow } from "../n8n.test-helper.js";

/** How the node reaches per-user MFA, with the credential type each needs. */
export const CONNECTIONS = {
  microsoftGraphApp: "mfactlMicrosoftGraphApp",
  mfactlServer: "mfactlServerApi",
  cipp: "mfactlCippApi",
} as const;
export type Connection = keyof typeof CONNECTIONS;

/** The node's type: CUSTOM.perUserMfa from N8N_CUSTOM_EXTENSIONS, <package>.perUserMfa when installed as a community package. */
export const nodeType = (packageName: "CUSTOM" | "n8n-nodes-mfactl") => `${packageName}.perUserMfa`;

export interface Step {
  name: string;
  parameters: Record<string, unknown>;
}

function perUserMfa(type: string, connection: Connection, credential: N8nCredential, step: Step): ChainNode {
  if (credential.type !== CONNECTIONS[connection]) throw new Error(`${connection} takes a ${CONNECTIONS[connection]} credential, not ${credential.type}`);
  return {
    name: step.name,
    type,
    parameters: { authentication: connection, ...step.parameters },
    credentials: { [credential.type]: { id: credential.id, name: credential.name } },
  };
}

/** Start → Per-User MFA nodes one after another, all through one connection and credential. */
export function perUserMfaWorkflow(id: string, name: string, type: string, connection: Connection, credential: N8nCredential, steps: Step[]): N8nWorkflow {
  return chain(
    id,
    name,
    steps.map((step) => perUserMfa(type, connection, credential, step)),
  );
}

/**
 * Every operation in one run: Set `user` to enforced; Get it (its UPN from Set's output, by
 * expression); List up to `listLimit` users of the tenant still disabled; Bulk Set each listed
 * user (one input item each, the UPN by expression) to enforced. (Not enabled: Entra turns an enabled
 * user who has a method into enforced, so the state read back would depend on the seed's methods.)
 */
export function everyOperation(tenant: string, user: string, listLimit: number): Step[] {
  return [
    { name: "Set", parameters: { operation: "set", tenant, user, mfaState: "enforced" } },
    { name: "Get", parameters: { operation: "get", tenant, user: "={{ $json.userPrincipalName }}" } },
    { name: "List", parameters: { operation: "list", tenant, returnAll: false, limit: listLimit, filters: { states: ["disabled"] } } },
    { name: "Bulk Set", parameters: { operation: "bulkSet", tenant: "={{ $json.tenantFilter }}", user: "={{ $json.userPrincipalName }}", mfaState: "enforced" } },
  ];
}
