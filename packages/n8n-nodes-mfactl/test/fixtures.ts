/** Shared by the node's tests: the emulator's details as each credential holds them, and a few checks. */
import type { RunningEmulator } from '@mfactl/emulator';
import type { ICredentialDataDecryptedObject, INodeExecutionData } from 'n8n-workflow';
import { expect } from 'vitest';

export function graphCredential(emu: RunningEmulator, overrides: ICredentialDataDecryptedObject = {}): ICredentialDataDecryptedObject {
	return {
		tenantId: emu.tenants[0]!.id,
		clientId: emu.clientId,
		authentication: 'clientSecret',
		clientSecret: emu.clientSecret,
		authorityHost: emu.authorityHost,
		graphUrl: emu.graphUrl,
		caCertificate: emu.caPem,
		...overrides,
	};
}

/** The users of a tenant in a state, as the emulator holds them (not as the node says). */
export function usersIn(emu: RunningEmulator, tenant: string, state: string): { id: string; userPrincipalName: string }[] {
	return emu.admin.listUsers(tenant).filter((u) => u.perUserMfaState === state && !/^sync_/i.test(u.userPrincipalName));
}

/** Every output item is paired to the input item it came from, as n8n expects of a node. */
export function expectPaired(output: INodeExecutionData[][], expected: number[]): void {
	expect(output).toHaveLength(1);
	expect(output[0]!.map((item) => (item.pairedItem as { item: number }).item)).toStrictEqual(expected);
}

/** Everything an error carries that n8n may show or store: message, description, context, response, cause. */
export function everythingIn(error: unknown): string {
	if (!(error instanceof Error)) return JSON.stringify(error);
	const e = error as Error & Record<string, unknown>;
	return JSON.stringify({ message: e.message, description: e.description, context: e.context, errorResponse: e.errorResponse, messages: e.messages, cause: String(e.cause), stack: e.stack });
}
