/**
 * The Per-User MFA node with the Microsoft Graph App credential, run through n8n's execution
 * interfaces against the emulator over HTTPS: every operation, states confirmed in the emulator,
 * Continue On Fail and paired items, NodeApiError / NodeOperationError with the item index, Ignore
 * SSL Issues and the CA certificate, the certificate credential, and no secret anywhere.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { startEmulator, type RunningEmulator } from '@mfactl/emulator';
import { NodeApiError, NodeOperationError } from 'n8n-workflow';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PerUserMfa } from '../nodes/PerUserMfa/PerUserMfa.node';
import { runNode, testCredential, type Parameter, type RunOptions } from './execute-functions';
import { everythingIn, expectPaired, graphCredential, usersIn } from './fixtures';

const node = new PerUserMfa();
let emu: RunningEmulator;
let tenant: string;

const run = (parameters: Record<string, Parameter>, o: Omit<RunOptions, 'parameters'> = {}) =>
	runNode(node, { credentials: { mfactlMicrosoftGraphApp: graphCredential(emu) }, ...o, parameters: { authentication: 'microsoftGraphApp', ...parameters } });

const rejection = async (p: Promise<unknown>): Promise<Error> => {
	try {
		await p;
	} catch (error) {
		return error as Error;
	}
	throw new Error('expected the node to throw');
};

beforeAll(async () => {
	emu = await startEmulator({ tenants: 2, users: 14, seed: 'n8n-graph' });
	tenant = emu.tenants[1]!.domain;
});
afterAll(() => emu?.close());
beforeEach(() => emu.admin.reset());

describe('Set and Get', () => {
	it('sets a user, confirmed by reading back and in the emulator; the same Set again is unchanged', async () => {
		const user = usersIn(emu, tenant, 'disabled')[0]!;
		const { output } = await run({ operation: 'set', tenant, user: user.userPrincipalName, mfaState: 'enforced' });
		expectPaired(output, [0]);
		expect(output[0]![0]!.json).toMatchObject({
			userId: user.id,
			userPrincipalName: user.userPrincipalName,
			tenantFilter: tenant,
			mfaState: 'enforced',
			previousState: 'disabled',
			requestedState: 'enforced',
			status: 'changed',
		});
		expect(output[0]![0]!.json.requestId).toMatch(/^[0-9a-f-]{36}$/);
		expect(emu.admin.getUser(tenant, user.id).perUserMfaState).toBe('enforced');

		const again = await run({ operation: 'set', tenant, user: user.id, mfaState: 'Enforced' });
		expect(again.output[0]![0]!.json).toMatchObject({ userId: user.id, previousState: 'enforced', mfaState: 'enforced', status: 'unchanged' });
		expect(emu.admin.getUser(tenant, user.id).patchCount).toBe(1);
	});

	it('takes each item’s tenant, user and state from its own data (expressions)', async () => {
		const a = usersIn(emu, tenant, 'enforced')[0];
		const b = usersIn(emu, tenant, 'disabled')[0];
		const { output } = await run(
			{ operation: 'set', tenant: (j) => j.tenant as string, user: (j) => j.upn as string, mfaState: (j) => j.state as string },
			{ items: [{ tenant, upn: a!.userPrincipalName, state: 'Disabled' }, { tenant: emu.tenants[1]!.id, upn: b!.id, state: 'enforced' }] },
		);
		expectPaired(output, [0, 1]);
		expect(output[0]!.map((o) => o.json.status)).toStrictEqual(['changed', 'changed']);
		expect(emu.admin.getUser(tenant, a!.id).perUserMfaState).toBe('disabled');
		expect(emu.admin.getUser(tenant, b!.id).perUserMfaState).toBe('enforced');
	});

	it('gets a user’s state as the emulator has it, by UPN or object id', async () => {
		const user = usersIn(emu, tenant, 'enabled')[0] ?? usersIn(emu, tenant, 'enforced')[0]!;
		const expected = emu.admin.getUser(tenant, user.id).perUserMfaState;
		const { output } = await run({ operation: 'get', tenant, user: (j) => j.user as string }, { items: [{ user: user.userPrincipalName }, { user: user.id.toUpperCase() }] });
		expectPaired(output, [0, 1]);
		for (const item of output[0]!) expect(item.json).toStrictEqual({ userId: user.id, userPrincipalName: user.userPrincipalName, tenantFilter: tenant, mfaState: expected });
	});

	it('signs in with the certificate credential (PEM key and certificate)', async () => {
		const pem = await readFile(emu.certificateFile, 'utf8');
		const user = usersIn(emu, tenant, 'disabled')[0]!;
		const credentials = { mfactlMicrosoftGraphApp: graphCredential(emu, { authentication: 'certificate', clientSecret: '', privateKey: pem, certificate: pem }) };
		const { output } = await run({ operation: 'set', tenant, user: user.userPrincipalName, mfaState: 'enforced' }, { credentials });
		expect(output[0]![0]!.json).toMatchObject({ status: 'changed', mfaState: 'enforced' });
		expect(emu.admin.getUser(tenant, user.id).perUserMfaState).toBe('enforced');
	});
});

describe('a certificate given by its thumbprint (the key and the thumbprint the portal shows)', () => {
	const thumbprints = async () => {
		const pem = await readFile(emu.certificateFile, 'utf8');
		const cert = new X509Certificate(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem)![0]);
		return { pem, sha1: cert.fingerprint.replaceAll(':', ''), sha256: cert.fingerprint256.replaceAll(':', '').toLowerCase() };
	};

	it('signs in with the SHA-1 thumbprint (x5t) and with the SHA-256 one (x5t#S256)', async () => {
		const { pem, sha1, sha256 } = await thumbprints();
		const [a, b] = usersIn(emu, tenant, 'disabled');
		for (const [user, thumbprint] of [[a!, sha1], [b!, sha256]] as const) {
			const credentials = { mfactlMicrosoftGraphApp: graphCredential(emu, { authentication: 'certificate', clientSecret: '', privateKey: pem, certificate: '', thumbprint }) };
			const { output } = await run({ operation: 'set', tenant, user: user.id, mfaState: 'enforced' }, { credentials });
			expect(output[0]![0]!.json).toMatchObject({ status: 'changed', mfaState: 'enforced' });
			expect(emu.admin.getUser(tenant, user.id).perUserMfaState).toBe('enforced');
		}
	});

	it('a thumbprint of no certificate on the app is a NodeApiError saying so, without the key', async () => {
		const { pem } = await thumbprints();
		const credentials = { mfactlMicrosoftGraphApp: graphCredential(emu, { authentication: 'certificate', privateKey: pem, certificate: '', thumbprint: '00'.repeat(20) }) };
		const error = await rejection(run({ operation: 'get', tenant, user: 'x@y.example' }, { credentials }));
		expect(error).toBeInstanceOf(NodeApiError);
		expect(error.message).toMatch(/AADSTS700027.*thumbprint does not name a certificate registered on the app/);
		const keyLines = pem.split('\n').filter((l) => l.length > 40 && !l.startsWith('-----'));
		for (const line of keyLines) expect(everythingIn(error)).not.toContain(line);
	});
});

describe('List', () => {
	it('lists every user with Return All, and the emulator’s states', async () => {
		const { output } = await run({ operation: 'list', tenant, returnAll: true });
		const expected = emu.admin.listUsers(tenant);
		expect(output[0]).toHaveLength(expected.length);
		expect(output[0]!.every((o) => (o.pairedItem as { item: number }).item === 0)).toBe(true);
		const byId = new Map(expected.map((u) => [u.id, u.perUserMfaState]));
		for (const { json } of output[0]!) {
			expect(json.tenantFilter).toBe(tenant);
			expect(json.mfaState).toBe(byId.get(json.userId as string));
			expect(Object.keys(json).sort()).toStrictEqual(['accountEnabled', 'displayName', 'isLicensed', 'mfaState', 'tenantFilter', 'userId', 'userPrincipalName', 'userType']);
		}
	});

	it('filters by state and name, and stops at the limit', async () => {
		const disabled = emu.admin.listUsers(tenant).filter((u) => u.perUserMfaState === 'disabled');
		const filtered = await run({ operation: 'list', tenant, returnAll: true, filters: { states: ['disabled'] } });
		expect(filtered.output[0]!.map((o) => o.json.userId).sort()).toStrictEqual(disabled.map((u) => u.id).sort());

		const limited = await run({ operation: 'list', tenant, limit: 3 });
		expect(limited.output[0]).toHaveLength(3);

		const someone = emu.admin.getUser(tenant, disabled[0]!.id);
		const prefix = someone.userPrincipalName.slice(0, 4);
		const searched = await run({ operation: 'list', tenant, returnAll: true, filters: { search: prefix } });
		expect(searched.output[0]!.length).toBeGreaterThan(0);
		for (const { json } of searched.output[0]!) {
			const names = [json.displayName as string, json.userPrincipalName as string].map((n) => n.toLowerCase());
			expect(names.some((n) => n.startsWith(prefix.toLowerCase()))).toBe(true);
		}
	});
});

describe('Bulk Set', () => {
	it('sets every item’s user in one run: one output item per input item, in order', async () => {
		const disabled = usersIn(emu, tenant, 'disabled').slice(0, 3);
		const already = usersIn(emu, tenant, 'enforced')[0]!;
		const users = [disabled[0]!.userPrincipalName, disabled[1]!.id, already.userPrincipalName, disabled[2]!.userPrincipalName];
		emu.admin.resetStats();
		const { output } = await run({ operation: 'bulkSet', tenant, user: (j) => j.user as string, mfaState: 'enforced' }, { items: users.map((user) => ({ user })) });
		expectPaired(output, [0, 1, 2, 3]);
		expect(output[0]!.map((o) => o.json.status)).toStrictEqual(['changed', 'changed', 'unchanged', 'changed']);
		expect(output[0]!.map((o) => o.json.userId)).toStrictEqual([disabled[0]!.id, disabled[1]!.id, already.id, disabled[2]!.id]);
		for (const u of [...disabled, already]) expect(emu.admin.getUser(tenant, u.id).perUserMfaState).toBe('enforced');
		// Batched: the changes went through Graph's $batch, not one request per user.
		expect(emu.admin.stats().batches).toBeGreaterThan(0);
		expect(emu.admin.stats().patches).toBe(3);
	});
});

describe('failures', () => {
	it('Continue On Fail: an unknown user among good ones fails alone, paired to its item (Set and Bulk Set)', async () => {
		for (const operation of ['set', 'bulkSet']) {
			emu.admin.reset();
			const [a, b] = usersIn(emu, tenant, 'disabled');
			const users = [a!.userPrincipalName, `nobody.here@${tenant}`, b!.userPrincipalName];
			const { output } = await run({ operation, tenant, user: (j) => j.user as string, mfaState: 'enforced' }, { items: users.map((user) => ({ user })), continueOnFail: true });
			expectPaired(output, [0, 1, 2]);
			const [first, bad, last] = output[0]!.map((o) => o.json);
			expect(first).toMatchObject({ status: 'changed', userId: a!.id });
			expect(last).toMatchObject({ status: 'changed', userId: b!.id });
			expect(bad).toMatchObject({ status: 'failed', userPrincipalName: `nobody.here@${tenant}`, tenantFilter: tenant });
			expect(bad!.error).toMatch(/does not exist|not found|Request_ResourceNotFound/i);
			expect(emu.admin.getUser(tenant, a!.id).perUserMfaState).toBe('enforced');
			expect(emu.admin.getUser(tenant, b!.id).perUserMfaState).toBe('enforced');
		}
	});

	it('a change Graph refuses is a NodeApiError for its item, with Graph’s status and request id, never a success', async () => {
		const [a, b] = usersIn(emu, tenant, 'disabled');
		// The first change goes through; the second PATCH is answered 500 by Graph.
		const items = [{ user: a!.userPrincipalName }, { user: b!.userPrincipalName }];
		let patches = 0;
		const error = await rejection(
			run(
				{
					operation: 'set',
					tenant,
					mfaState: 'enforced',
					user: (j, i) => {
						if (i === 1 && patches++ === 0) emu.admin.addFaults([{ method: 'PATCH', pathIncludes: '/authentication/requirements', status: 500, count: 1 }]);
						return j.user as string;
					},
				},
				{ items },
			),
		);
		expect(error).toBeInstanceOf(NodeApiError);
		const apiError = error as NodeApiError;
		expect(apiError.context.itemIndex).toBe(1);
		expect(apiError.httpCode).toBe('500');
		expect(apiError.message).toContain(b!.userPrincipalName);
		expect(apiError.message).toMatch(/Graph answered 500/);
		expect(apiError.description).toMatch(/Graph request id: [0-9a-f-]{36}/);
		expect(emu.admin.getUser(tenant, b!.id).perUserMfaState).toBe('disabled');
		expect(emu.admin.getUser(tenant, a!.id).perUserMfaState).toBe('enforced');
	});

	it('a Graph failure reading a user (Get) is a NodeApiError with the item index', async () => {
		emu.admin.addFaults([{ method: 'GET', pathIncludes: '/users/', status: 403, count: 1 }]);
		const user = usersIn(emu, tenant, 'disabled')[0]!;
		const error = await rejection(run({ operation: 'get', tenant, user: user.userPrincipalName }));
		expect(error).toBeInstanceOf(NodeApiError);
		expect((error as NodeApiError).context.itemIndex).toBe(0);
		expect((error as NodeApiError).httpCode).toBe('403');
		expect(error.message).toMatch(/permission|consent/i);
	});

	it('bad input is a NodeOperationError naming the item, before anything is sent', async () => {
		const user = usersIn(emu, tenant, 'disabled')[0]!;
		const state = await rejection(run({ operation: 'set', tenant, user: user.userPrincipalName, mfaState: (j) => j.state as string }, { items: [{ state: 'enforced' }, { state: 'Sometimes' }] }));
		expect(state).toBeInstanceOf(NodeOperationError);
		expect((state as NodeOperationError).context.itemIndex).toBe(1);
		expect(state.message).toMatch(/Invalid state "Sometimes": expected one of disabled, enabled, enforced/);

		const other = usersIn(emu, tenant, 'disabled')[0]!;
		emu.admin.resetStats();
		const bulk = await rejection(run({ operation: 'bulkSet', tenant: (j) => j.tenant as string, user: other.id, mfaState: 'enforced' }, { items: [{ tenant }, { tenant: 'not a tenant!' }] }));
		expect(bulk).toBeInstanceOf(NodeOperationError);
		expect((bulk as NodeOperationError).context.itemIndex).toBe(1);
		expect(bulk.message).toMatch(/Invalid tenant "not a tenant!"/);
		// Bulk Set checks every item first: the good one was not changed either.
		expect(emu.admin.getUser(tenant, other.id).perUserMfaState).toBe('disabled');
		expect(emu.admin.stats().requests).toBe(0);
	});
});

describe('TLS: Ignore SSL Issues and the CA certificate', () => {
	const withoutCa = () => ({ mfactlMicrosoftGraphApp: graphCredential(emu, { caCertificate: '' }) });

	it('off (the default), without the CA: the self-signed certificate is refused with the two fixes named', async () => {
		const user = usersIn(emu, tenant, 'disabled')[0]!;
		const error = await rejection(run({ operation: 'get', tenant, user: user.id }, { credentials: withoutCa() }));
		expect(error).toBeInstanceOf(NodeApiError);
		expect(error.message).toMatch(
			new RegExp(`^The TLS certificate of ${emu.authorityHost.replace(/[.]/g, '\\.')} is not trusted \\((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|DEPTH_ZERO_SELF_SIGNED_CERT): [^)]+\\)\\. `),
		);
		// A network failure has no HTTP status (n8n would otherwise take the error code for one).
		expect((error as NodeApiError).httpCode).toBeNull();
		expect(error.message).toContain('Trusted CA Certificate (PEM)');
		expect(error.message).toContain('Ignore SSL Issues');
		expect((error as NodeApiError).context.itemIndex).toBe(0);
	});

	it('on: every call (sign-in and Graph) accepts the certificate', async () => {
		const user = usersIn(emu, tenant, 'disabled')[0]!;
		const { output } = await run({ operation: 'set', tenant, user: user.id, mfaState: 'enforced', options: { ignoreSsl: true } }, { credentials: withoutCa() });
		expect(output[0]![0]!.json).toMatchObject({ status: 'changed', mfaState: 'enforced' });
		expect(emu.admin.getUser(tenant, user.id).perUserMfaState).toBe('enforced');
	});

	it('the CA certificate in the credential: verified and trusted (Ignore SSL off)', async () => {
		const user = usersIn(emu, tenant, 'disabled')[0]!;
		const { output } = await run({ operation: 'get', tenant, user: user.id, options: { ignoreSsl: false } });
		expect(output[0]![0]!.json).toMatchObject({ userId: user.id, mfaState: 'disabled' });
	});

	it('a CA field that is not a certificate is bad input', async () => {
		const error = await rejection(run({ operation: 'get', tenant, user: 'x@y.com' }, { credentials: { mfactlMicrosoftGraphApp: graphCredential(emu, { caCertificate: 'not a pem' }) } }));
		expect(error).toBeInstanceOf(NodeOperationError);
		expect(error.message).toMatch(/Trusted CA Certificate is not a PEM certificate/);
	});
});

describe('the credential test (methods.credentialTest)', () => {
	const test = (data: Record<string, unknown>) => testCredential(node, 'mfactlMicrosoftGraphAppTest', 'mfactlMicrosoftGraphApp', graphCredential(emu, data as never));

	it('OK with the emulator’s app', async () => {
		const result = await test({});
		expect(result).toStrictEqual({ status: 'OK', message: `Signed in to ${emu.tenants[0]!.id} as app ${emu.clientId}; Microsoft Graph listed its users.` });
	});

	it('a wrong secret, a missing CA: Error with the reason, never the secret', async () => {
		const wrong = 'Wr0ng-secret~value-1234567890';
		const bad = await test({ clientSecret: wrong });
		expect(bad.status).toBe('Error');
		expect(bad.message).toMatch(/client secret is not valid.*AADSTS7000215\)\. Check the credential’s Client Secret\./);
		expect(bad.message).not.toContain(wrong);

		const tls = await test({ caCertificate: '' });
		expect(tls.status).toBe('Error');
		expect(tls.message).toMatch(/not trusted.*Trusted CA Certificate/);
	});
});

describe('secrets', () => {
	it('no secret or key in any output or error', async () => {
		const pem = await readFile(emu.certificateFile, 'utf8');
		const keyLines = pem.split('\n').filter((l) => l.length > 40 && !l.startsWith('-----'));
		const wrong = 'An0ther-wrong-secret-0987654321';
		const seen: string[] = [];
		const user = usersIn(emu, tenant, 'disabled')[0]!;
		const attempts: [Record<string, Parameter>, Omit<RunOptions, 'parameters'>][] = [
			[{ operation: 'set', tenant, user: user.id, mfaState: 'enforced' }, {}],
			[{ operation: 'get', tenant, user: 'nobody@nowhere.example' }, { continueOnFail: true }],
			[{ operation: 'get', tenant, user: user.id }, { credentials: { mfactlMicrosoftGraphApp: graphCredential(emu, { clientSecret: wrong }) } }],
			[{ operation: 'bulkSet', tenant, user: user.id, mfaState: 'disabled' }, { credentials: { mfactlMicrosoftGraphApp: graphCredential(emu, { clientSecret: wrong }) }, continueOnFail: true }],
			[{ operation: 'get', tenant, user: user.id }, { credentials: { mfactlMicrosoftGraphApp: graphCredential(emu, { authentication: 'certificate', privateKey: pem, certificate: '' }) } }],
		];
		for (const [parameters, o] of attempts) {
			try {
				seen.push(JSON.stringify((await run(parameters, o)).output));
			} catch (error) {
				seen.push(everythingIn(error));
			}
		}
		const all = seen.join('\n');
		expect(all).toContain('AADSTS7000215');
		for (const secret of [emu.clientSecret, wrong, ...keyLines]) expect(all).not.toContain(secret);
	});
});
