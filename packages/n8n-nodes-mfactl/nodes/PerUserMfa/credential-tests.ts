import { UsageError } from '@mfactl/core';
import { openCippClient, type CippCredential } from './backends/cipp';
import { openGraphClient, type GraphAppCredential } from './backends/graph';
import { serverWhoAmI, type ServerCredential } from './backends/server';
import type { ConnectionOptions } from './backends/types';

/**
 * Credential tests verify certificates always (they have no node options): a private endpoint is
 * trusted through the credential's CA field.
 */
const TEST_OPTIONS: ConnectionOptions = { ignoreSsl: false, timeoutMs: 30_000 };

/** Signs in to the credential's tenant and lists one user: the secret or certificate, consent and User.Read.All. */
export async function testGraphCredential(c: GraphAppCredential): Promise<string> {
	if (c.tenantId === '') throw new UsageError('Tenant ID is empty: give the app’s home tenant (ID or domain).');
	const { client, close } = openGraphClient(c, TEST_OPTIONS);
	try {
		await client.request({ tenant: c.tenantId, method: 'GET', path: '/v1.0/users', query: { $top: '1', $select: 'id' } });
		return `Signed in to ${c.tenantId} as app ${c.clientId}; Microsoft Graph listed its users.`;
	} finally {
		await close();
	}
}

/** Asks the server who the key is (GET /v1/me). */
export async function testServerCredential(c: ServerCredential): Promise<string> {
	const me = await serverWhoAmI(c, TEST_OPTIONS);
	return `Connected to ${new URL(c.url).origin} as ${me.actor} (scopes: ${me.scopes.join(', ') || 'none'}).`;
}

/** Gets a token for CIPP's API and reads the partner tenant's per-user MFA listing (ListPerUserMFA). */
export async function testCippCredential(c: CippCredential): Promise<string> {
	if (c.tenantId === '') throw new UsageError('Tenant ID is empty: give the tenant the CIPP-API app is registered in.');
	const { client, close } = openCippClient(c, TEST_OPTIONS);
	try {
		await client.call({ method: 'GET', endpoint: 'ListPerUserMFA', query: { tenantFilter: c.tenantId, allUsers: 'true' }, tenant: c.tenantId });
		return `Signed in to ${c.tenantId} for CIPP’s API and CIPP at ${client.url} answered.`;
	} finally {
		await close();
	}
}
