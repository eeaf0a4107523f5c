/**
 * The Per-User MFA node with the CIPP API credential, through n8n's execution interfaces, against
 * the emulator's CIPP instance (its bearer-token check, ExecPerUserMFA, ListPerUserMFA,
 * ListMFAUsers): every operation, states confirmed in the emulator, CIPP's failures as failures
 * (including a "Successfully set" that does not read back), Ignore SSL, the credential test.
 */
import { systemClock, type Clock } from '@mfactl/core';
import { startEmulator, type RunningEmulator } from '@mfactl/emulator';
import { NodeApiError, type ICredentialDataDecryptedObject } from 'n8n-workflow';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cippBackend, readCippCredential } from '../nodes/PerUserMfa/backends/cipp';
import { PerUserMfa } from '../nodes/PerUserMfa/PerUserMfa.node';
import { runNode, testCredential, type Parameter, type RunOptions } from './execute-functions';
import { everythingIn, expectPaired, usersIn } from './fixtures';

const node = new PerUserMfa();
let emu: RunningEmulator;
let tenant: string;

const credential = (overrides: ICredentialDataDecryptedObject = {}): ICredentialDataDecryptedObject => ({
	url: emu.cipp.url,
	tenantId: emu.cipp.tenantId,
	clientId: emu.cipp.caller.clientId,
	clientSecret: emu.cipp.caller.clientSecret,
	authorityHost: emu.authorityHost,
	caCertificate: emu.caPem,
	...overrides,
});
const run = (parameters: Record<string, Parameter>, o: Omit<RunOptions, 'parameters'> = {}) =>
	runNode(node, { credentials: { mfactlCippApi: credential() }, ...o, parameters: { authentication: 'cipp', ...parameters } });

const rejection = async (p: Promise<unknown>): Promise<Error> => {
	try {
		await p;
	} catch (error) {
		return error as Error;
	}
	throw new Error('expected the node to throw');
};

beforeAll(async () => {
	emu = await startEmulator({ tenants: 2, users: 12, seed: 'n8n-cipp' });
	tenant = emu.tenants[1]!.domain;
});
afterAll(() => emu?.close());
beforeEach(() => emu.admin.reset());
afterEach(() => {
	emu.admin.configure({ cipp: { misreportFailures: false, ignoreUserId: false } });
});

describe('through CIPP', () => {
	it('Set: sent with both keys and read back; the emulator has it', async () => {
		// The endpoint CIPP runs today ignores userId for members: the node still works, since core sends both.
		emu.admin.configure({ cipp: { ignoreUserId: true } });
		const user = usersIn(emu, tenant, 'disabled')[0]!;
		const { output } = await run({ operation: 'set', tenant, user: user.id, mfaState: 'enforced' });
		expectPaired(output, [0]);
		expect(output[0]![0]!.json).toMatchObject({ userId: user.id, userPrincipalName: user.userPrincipalName, tenantFilter: tenant, previousState: 'disabled', mfaState: 'enforced', status: 'changed' });
		expect(emu.admin.getUser(tenant, user.id).perUserMfaState).toBe('enforced');
	});

	it('Get and List give the emulator’s states', async () => {
		const user = usersIn(emu, tenant, 'enforced')[0]!;
		const got = await run({ operation: 'get', tenant, user: user.userPrincipalName });
		expect(got.output[0]![0]!.json).toStrictEqual({ userId: user.id, userPrincipalName: user.userPrincipalName, tenantFilter: tenant, mfaState: 'enforced' });

		const all = await run({ operation: 'list', tenant, returnAll: true });
		const expected = emu.admin.listUsers(tenant);
		expect(all.output[0]!.map((o) => o.json.userId).sort()).toStrictEqual(expected.map((u) => u.id).sort());
		const byId = new Map(expected.map((u) => [u.id, u.perUserMfaState]));
		for (const { json } of all.output[0]!) expect(json.mfaState).toBe(byId.get(json.userId as string));

		const enforced = await run({ operation: 'list', tenant, returnAll: true, filters: { states: ['enforced'] } });
		expect(enforced.output[0]!.map((o) => o.json.userId).sort()).toStrictEqual(expected.filter((u) => u.perUserMfaState === 'enforced').map((u) => u.id).sort());
		const limited = await run({ operation: 'list', tenant, limit: 2 });
		expect(limited.output[0]).toHaveLength(2);
	});

	it('Bulk Set: one item per input item; an unknown user fails alone under Continue On Fail', async () => {
		const [a, b] = usersIn(emu, tenant, 'disabled');
		const users = [a!.userPrincipalName, `nobody.here@${tenant}`, b!.id];
		const { output } = await run({ operation: 'bulkSet', tenant, user: (j) => j.user as string, mfaState: 'enforced' }, { items: users.map((user) => ({ user })), continueOnFail: true });
		expectPaired(output, [0, 1, 2]);
		expect(output[0]!.map((o) => o.json.status)).toStrictEqual(['changed', 'failed', 'changed']);
		expect(output[0]![1]!.json.error).toMatch(/nobody\.here/);
		for (const u of [a!, b!]) expect(emu.admin.getUser(tenant, u.id).perUserMfaState).toBe('enforced');
	});

	it('a change CIPP reports failed is a NodeApiError for its item', async () => {
		emu.admin.addFaults([{ method: 'PATCH', pathIncludes: '/authentication/requirements', status: 403, count: 1 }]);
		const user = usersIn(emu, tenant, 'disabled')[0]!;
		const error = await rejection(run({ operation: 'set', tenant, user: user.userPrincipalName, mfaState: 'enforced' }));
		expect(error).toBeInstanceOf(NodeApiError);
		expect((error as NodeApiError).context.itemIndex).toBe(0);
		expect(error.message).toMatch(/Failed to set MFA State/);
		expect(emu.admin.getUser(tenant, user.id).perUserMfaState).toBe('disabled');
	});

	it('Ignore SSL off without the CA: refused, naming the certificate problem and both fixes; on: works', async () => {
		const user = usersIn(emu, tenant, 'disabled')[0]!;
		const credentials = { mfactlCippApi: credential({ caCertificate: '' }) };
		const error = await rejection(run({ operation: 'get', tenant, user: user.id }, { credentials }));
		expect(error).toBeInstanceOf(NodeApiError);
		expect(error.message).toMatch(/^The TLS certificate of https:\/\/127\.0\.0\.1:\d+ is not trusted \([A-Z_]+: .+\)\. .*Trusted CA Certificate \(PEM\).*Ignore SSL Issues/);
		const { output } = await run({ operation: 'set', tenant, user: user.id, mfaState: 'enforced', options: { ignoreSsl: true } }, { credentials });
		expect(output[0]![0]!.json.status).toBe('changed');
		expect(emu.admin.getUser(tenant, user.id).perUserMfaState).toBe('enforced');
	});

	it('the credential test: OK with the CIPP-API app; a wrong secret is an Error without the secret', async () => {
		const ok = await testCredential(node, 'mfactlCippApiTest', 'mfactlCippApi', credential());
		expect(ok.status).toBe('OK');
		expect(ok.message).toContain(emu.cipp.url);
		const wrong = 'Wr0ng-cipp-secret-000000000000';
		const bad = await testCredential(node, 'mfactlCippApiTest', 'mfactlCippApi', credential({ clientSecret: wrong }));
		expect(bad.status).toBe('Error');
		expect(bad.message).toMatch(/AADSTS7000215/);
		expect(bad.message).not.toContain(wrong);
		const seen = everythingIn(await rejection(run({ operation: 'get', tenant, user: 'x@y.example' }, { credentials: { mfactlCippApi: credential({ clientSecret: wrong }) } })));
		expect(seen).not.toContain(wrong);
		expect(seen).not.toContain(emu.cipp.caller.clientSecret);
	});
});

describe('the CIPP backend under the node', () => {
	it('a "Successfully set" that does not read back is failed, never changed (read-back waits on an injected clock)', async () => {
		emu.admin.configure({ cipp: { misreportFailures: true } });
		emu.admin.addFaults([{ method: 'PATCH', pathIncludes: '/authentication/requirements', status: 503, count: 1 }]);
		const sleeps: number[] = [];
		const clock: Clock = { now: () => Date.now(), sleep: (ms) => (sleeps.push(ms), Promise.resolve()), timeout: (ms) => systemClock.timeout!(ms) };
		const backend = cippBackend(readCippCredential(credential()), { ignoreSsl: false, timeoutMs: 30_000, clock });
		const user = usersIn(emu, tenant, 'disabled')[0]!;
		try {
			const [change] = await backend.bulkSet([{ tenant, user: user.userPrincipalName, state: 'enforced' }], undefined);
			expect(change).toMatchObject({ status: 'failed', previousState: 'disabled', error: { code: 'CippReportedSuccess' } });
			expect(change!.error!.message).toMatch(/CIPP reported success .* reads back as disabled, not enforced/);
			expect(sleeps.length).toBeGreaterThan(0);
		} finally {
			await backend.close();
		}
		expect(emu.admin.getUser(tenant, user.id).perUserMfaState).toBe('disabled');
	});
});
