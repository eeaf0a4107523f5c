/**
 * The Per-User MFA node with the mfactl Server credential, through n8n's execution interfaces,
 * against the real server (the harness: the emulator over HTTPS in-process, the server on
 * 127.0.0.1:0, SQLite): every operation, states confirmed in the emulator, the server's journal,
 * Continue On Fail, the server's refusals as NodeApiError, the credential test, no key anywhere.
 */
import { NodeApiError } from 'n8n-workflow';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { storeBackendsForTests } from '../../store/src/postgres.test-helper';
import { startHarness, type Harness } from '../../server/src/server-harness.test-helper';
import { PerUserMfa } from '../nodes/PerUserMfa/PerUserMfa.node';
import { runNode, testCredential, type Parameter, type RunOptions } from './execute-functions';
import { everythingIn, expectPaired, usersIn } from './fixtures';

const node = new PerUserMfa();
const sqlite = storeBackendsForTests().find((b) => b.name === 'sqlite')!;
let h: Harness;
let writeKey: string;
let tenant: string;

const credential = (apiKey = writeKey) => ({ url: h.url, apiKey, caCertificate: '' });
const run = (parameters: Record<string, Parameter>, o: Omit<RunOptions, 'parameters'> = {}) =>
	runNode(node, { credentials: { mfactlServerApi: credential() }, ...o, parameters: { authentication: 'mfactlServer', ...parameters } });

const rejection = async (p: Promise<unknown>): Promise<Error> => {
	try {
		await p;
	} catch (error) {
		return error as Error;
	}
	throw new Error('expected the node to throw');
};

beforeAll(async () => {
	h = await startHarness({ openStore: () => sqlite.open(), users: 14, tenants: 2, dashboard: false });
	writeKey = await h.key(['write'], { name: 'n8n' });
	tenant = h.emu.tenants[1]!.domain;
});
afterAll(() => h?.close());
beforeEach(() => h.emu.admin.reset());

describe('through the mfactl server', () => {
	it('Set: the server reads, changes, reads back and journals; the state is in the emulator', async () => {
		const user = usersIn(h.emu, tenant, 'disabled')[0]!;
		const { output } = await run({ operation: 'set', tenant, user: user.userPrincipalName, mfaState: 'enforced' });
		expectPaired(output, [0]);
		expect(output[0]![0]!.json).toMatchObject({ userId: user.id, userPrincipalName: user.userPrincipalName, tenantFilter: tenant, previousState: 'disabled', mfaState: 'enforced', status: 'changed' });
		expect(h.emu.admin.getUser(tenant, user.id).perUserMfaState).toBe('enforced');
		const runs = (await h.call('/v1/runs?limit=1', { auth: writeKey })).body as { runs: { actor: string; kind: string }[] };
		expect(runs.runs[0]).toMatchObject({ actor: 'apikey:n8n', kind: 'set' });
	});

	it('Get and List give the emulator’s states', async () => {
		const user = usersIn(h.emu, tenant, 'enforced')[0]!;
		const got = await run({ operation: 'get', tenant: h.emu.tenants[1]!.id, user: user.id });
		expect(got.output[0]![0]!.json).toStrictEqual({ userId: user.id, userPrincipalName: user.userPrincipalName, tenantFilter: tenant, mfaState: 'enforced' });

		const all = await run({ operation: 'list', tenant, returnAll: true });
		const expected = h.emu.admin.listUsers(tenant);
		expect(all.output[0]).toHaveLength(expected.length);
		const byId = new Map(expected.map((u) => [u.id, u.perUserMfaState]));
		for (const { json } of all.output[0]!) expect(json.mfaState).toBe(byId.get(json.userId as string));

		const disabled = await run({ operation: 'list', tenant, limit: 2, filters: { states: ['disabled'] } });
		expect(disabled.output[0]).toHaveLength(2);
		for (const { json } of disabled.output[0]!) expect(h.emu.admin.getUser(tenant, json.userId as string).perUserMfaState).toBe('disabled');
	});

	it('Bulk Set through the server’s plan and apply jobs: one item per input item, an unknown user failing alone', async () => {
		const [a, b, c] = usersIn(h.emu, tenant, 'disabled');
		const already = usersIn(h.emu, tenant, 'enforced')[0]!;
		const users = [a!.userPrincipalName, `nobody.here@${tenant}`, already.id, b!.id, c!.userPrincipalName];
		const { output } = await run({ operation: 'bulkSet', tenant, user: (j) => j.user as string, mfaState: 'enforced' }, { items: users.map((user) => ({ user })), continueOnFail: true });
		expectPaired(output, [0, 1, 2, 3, 4]);
		const json = output[0]!.map((o) => o.json);
		expect(json.map((j) => j.status)).toStrictEqual(['changed', 'failed', 'unchanged', 'changed', 'changed']);
		expect(json[1]!.error).toMatch(/nobody\.here/);
		expect(json[2]).toMatchObject({ userId: already.id, mfaState: 'enforced', previousState: 'enforced' });
		for (const u of [a!, b!, c!, already]) expect(h.emu.admin.getUser(tenant, u.id).perUserMfaState).toBe('enforced');
		const runs = (await h.call('/v1/runs?limit=1', { auth: writeKey })).body as { runs: { kind: string; total: number; actor: string }[] };
		// One run of the three changes, journaled by the server under the key's name.
		expect(runs.runs[0]).toMatchObject({ kind: 'apply', total: 3, actor: 'apikey:n8n' });
	});

	it('Bulk Set without Continue On Fail: the failed user is the node’s error, naming its item', async () => {
		const a = usersIn(h.emu, tenant, 'disabled')[0]!;
		const error = await rejection(run({ operation: 'bulkSet', tenant, user: (j) => j.user as string, mfaState: 'enforced' }, { items: [{ user: a.id }, { user: `nobody.here@${tenant}` }] }));
		expect(error).toBeInstanceOf(NodeApiError);
		expect((error as NodeApiError).context.itemIndex).toBe(1);
		expect((error as NodeApiError).description).toMatch(/1 other user was set; turn on Continue On Fail/);
	});

	it('the server’s refusals are NodeApiErrors with its code and request id (scope, tenant)', async () => {
		const readKey = await h.key(['read'], { name: 'reader' });
		const user = usersIn(h.emu, tenant, 'disabled')[0]!;
		const scope = await rejection(run({ operation: 'set', tenant, user: user.id, mfaState: 'enforced' }, { credentials: { mfactlServerApi: credential(readKey) } }));
		expect(scope).toBeInstanceOf(NodeApiError);
		expect((scope as NodeApiError).httpCode).toBe('403');
		expect(scope.message).toMatch(/mfactl server answered 403 InsufficientScope/);
		expect((scope as NodeApiError).description).toMatch(/mfactl server request id: [0-9a-f-]{36}/);
		expect(h.emu.admin.getUser(tenant, user.id).perUserMfaState).toBe('disabled');

		const unknown = await rejection(run({ operation: 'get', tenant: 'unknown.example.com', user: user.id }));
		expect(unknown.message).toMatch(/404 TenantNotFound/);
	});

	it('the credential test asks the server who the key is; a wrong key is an Error that does not repeat it', async () => {
		const ok = await testCredential(node, 'mfactlServerApiTest', 'mfactlServerApi', credential());
		expect(ok).toStrictEqual({ status: 'OK', message: `Connected to ${new URL(h.url).origin} as apikey:n8n (scopes: write).` });
		const wrong = 'mfak_0000000000000000_notarealsecretatall0000000000000';
		const bad = await testCredential(node, 'mfactlServerApiTest', 'mfactlServerApi', credential(wrong));
		expect(bad.status).toBe('Error');
		expect(bad.message).toMatch(/401 InvalidApiKey/);
		expect(bad.message).not.toContain(wrong);
	});

	it('no API key in any output or error', async () => {
		const seen: string[] = [];
		const user = usersIn(h.emu, tenant, 'disabled')[0]!;
		for (const [parameters, o] of [
			[{ operation: 'set', tenant, user: user.id, mfaState: 'enforced' }, {}],
			[{ operation: 'get', tenant, user: 'nobody@nowhere.example' }, { continueOnFail: true }],
			[{ operation: 'bulkSet', tenant, user: user.id, mfaState: 'disabled' }, { credentials: { mfactlServerApi: credential(`${writeKey}x`) }, continueOnFail: true }],
		] as [Record<string, Parameter>, Omit<RunOptions, 'parameters'>][]) {
			try {
				seen.push(JSON.stringify((await run(parameters, o)).output));
			} catch (error) {
				seen.push(everythingIn(error));
			}
		}
		expect(seen.join('\n')).not.toContain(writeKey.split('_').at(-1)!);
	});
});
