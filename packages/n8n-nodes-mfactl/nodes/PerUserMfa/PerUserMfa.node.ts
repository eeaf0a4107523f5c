import { MFA_STATES_READ, parseMfaState, tenantRefProblem, tenantRefToString, parseTenantRef, userRefProblem, userRefToString, parseUserRef, type MfaState, type MfaStateRead, type UserMfaChange } from '@mfactl/core';
import {
	NodeConnectionTypes,
	NodeOperationError,
	type ICredentialsDecrypted,
	type ICredentialTestFunctions,
	type IDataObject,
	type IExecuteFunctions,
	type INodeCredentialTestResult,
	type INodeExecutionData,
	type INodeType,
	type INodeTypeDescription,
} from 'n8n-workflow';
import { cippBackend, readCippCredential } from './backends/cipp';
import { graphBackend, graphSecrets, readGraphCredential } from './backends/graph';
import { readServerCredential, serverBackend } from './backends/server';
import type { BulkRequest, ConnectionOptions, MfaBackend } from './backends/types';
import { testCippCredential, testGraphCredential, testServerCredential } from './credential-tests';
import { properties } from './description';
import { changeFailure, describeFailure, redact, toNodeError, type Failure } from './errors';
import { changeJson, givenUserJson, isChangeFailure, rowJson, stateJson } from './output';

type Operation = 'set' | 'get' | 'list' | 'bulkSet';
type ConnectThrough = 'microsoftGraphApp' | 'mfactlServer' | 'cipp';

const DEFAULT_TIMEOUT_MS = 30_000;

export class PerUserMfa implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Per-User MFA',
		name: 'perUserMfa',
		icon: { light: 'file:../../icons/mfactl.svg', dark: 'file:../../icons/mfactl.dark.svg' },
		group: ['transform'],
		version: 1,
		subtitle: '={{$parameter["operation"] + ": " + $parameter["tenant"]}}',
		description: 'Set, read and list Microsoft Entra per-user MFA, each change confirmed by reading it back',
		defaults: { name: 'Per-User MFA' },
		usableAsTool: true,
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
		credentials: [
			{
				name: 'mfactlMicrosoftGraphApp',
				required: true,
				testedBy: 'mfactlMicrosoftGraphAppTest',
				displayOptions: { show: { authentication: ['microsoftGraphApp'] } },
			},
			{
				name: 'mfactlServerApi',
				required: true,
				testedBy: 'mfactlServerApiTest',
				displayOptions: { show: { authentication: ['mfactlServer'] } },
			},
			{
				name: 'mfactlCippApi',
				required: true,
				testedBy: 'mfactlCippApiTest',
				displayOptions: { show: { authentication: ['cipp'] } },
			},
		],
		properties,
	};

	methods = {
		credentialTest: {
			async mfactlMicrosoftGraphAppTest(this: ICredentialTestFunctions, credential: ICredentialsDecrypted): Promise<INodeCredentialTestResult> {
				return await credentialTestResult(() => testGraphCredential(readGraphCredential(credential.data ?? {})), secretsOf(credential.data));
			},
			async mfactlServerApiTest(this: ICredentialTestFunctions, credential: ICredentialsDecrypted): Promise<INodeCredentialTestResult> {
				return await credentialTestResult(() => testServerCredential(readServerCredential(credential.data ?? {})), secretsOf(credential.data));
			},
			async mfactlCippApiTest(this: ICredentialTestFunctions, credential: ICredentialsDecrypted): Promise<INodeCredentialTestResult> {
				return await credentialTestResult(() => testCippCredential(readCippCredential(credential.data ?? {})), secretsOf(credential.data));
			},
		},
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const items = this.getInputData();
		const node = this.getNode();
		const operation = this.getNodeParameter('operation', 0) as Operation;
		const through = this.getNodeParameter('authentication', 0) as ConnectThrough;
		const options = connectionOptions(this.getNodeParameter('options', 0, {}) as IDataObject);
		const signal = this.getExecutionCancelSignal();

		let secrets: string[] = [];
		let backend: MfaBackend;
		try {
			const opened = await openBackend(this, through, options);
			backend = opened.backend;
			secrets = opened.secrets;
		} catch (error) {
			throw toNodeError(node, describeFailure(error), 0, secrets);
		}

		const out: INodeExecutionData[] = [];
		/** A failed item: its own output with `error` under Continue On Fail, else the node's error. */
		const fail = (i: number, failure: Failure, json: IDataObject) => {
			if (!this.continueOnFail()) throw toNodeError(node, failure, i, secrets);
			out.push({ json: { ...json, status: 'failed', error: redact(failure.message, secrets) }, pairedItem: { item: i } });
		};

		try {
			if (operation === 'bulkSet') {
				await bulkSet(this, backend, items.length, signal, fail, out, secrets);
				return [out];
			}
			for (let i = 0; i < items.length; i++) {
				const result = await runItem(this, backend, operation, i, signal);
				if ('failure' in result) fail(i, result.failure, result.json);
				else for (const json of result.ok) out.push({ json, pairedItem: { item: i } });
			}
			return [out];
		} finally {
			await backend.close();
		}
	}
}

type ItemResult = { ok: IDataObject[] } | { failure: Failure; json: IDataObject };

/** One item of Set, Get or List: its output, or what failed (the caller decides: error item or the node's error). */
async function runItem(ctx: IExecuteFunctions, backend: MfaBackend, operation: Operation, i: number, signal: AbortSignal | undefined): Promise<ItemResult> {
	let given: IDataObject = {};
	try {
		const tenant = readTenant(ctx, i);
		given = { tenantFilter: tenant };
		if (operation === 'list') {
			const rows: IDataObject[] = [];
			for await (const row of listRows(ctx, backend, tenant, i, signal)) rows.push(rowJson(row));
			return { ok: rows };
		}
		const user = readUser(ctx, i);
		given = givenUserJson(tenant, user);
		if (operation === 'get') return { ok: [stateJson(await backend.get(tenant, user, signal))] };
		if (operation !== 'set') throw new NodeOperationError(ctx.getNode(), `Unknown operation ${JSON.stringify(operation)}.`, { itemIndex: i });
		const change = await backend.set(tenant, user, readState(ctx, i), signal);
		return isChangeFailure(change) ? { failure: changeFailure(change), json: changeJson(change) } : { ok: [changeJson(change)] };
	} catch (error) {
		return { failure: describeFailure(error), json: given };
	}
}

function connectionOptions(raw: IDataObject): ConnectionOptions {
	const timeout = typeof raw.timeout === 'number' && Number.isFinite(raw.timeout) && raw.timeout > 0 ? raw.timeout : DEFAULT_TIMEOUT_MS;
	return { ignoreSsl: raw.ignoreSsl === true, timeoutMs: timeout };
}

async function openBackend(ctx: IExecuteFunctions, through: ConnectThrough, options: ConnectionOptions): Promise<{ backend: MfaBackend; secrets: string[] }> {
	switch (through) {
		case 'microsoftGraphApp': {
			const c = readGraphCredential(await ctx.getCredentials('mfactlMicrosoftGraphApp'));
			return { backend: graphBackend(c, options), secrets: graphSecrets(c) };
		}
		case 'mfactlServer': {
			const c = readServerCredential(await ctx.getCredentials('mfactlServerApi'));
			return { backend: serverBackend(c, options), secrets: [c.apiKey] };
		}
		case 'cipp': {
			const c = readCippCredential(await ctx.getCredentials('mfactlCippApi'));
			return { backend: cippBackend(c, options), secrets: [c.clientSecret] };
		}
		default:
			throw new NodeOperationError(ctx.getNode(), `Unknown connection ${JSON.stringify(through)}: choose Microsoft Graph App, mfactl Server or CIPP.`);
	}
}

function readTenant(ctx: IExecuteFunctions, i: number): string {
	const value = ctx.getNodeParameter('tenant', i);
	const text = typeof value === 'string' ? value.trim() : '';
	if (text === '') throw new NodeOperationError(ctx.getNode(), 'Tenant is empty: give the customer tenant’s ID (GUID) or a domain.', { itemIndex: i });
	const problem = tenantRefProblem(text);
	if (problem) throw new NodeOperationError(ctx.getNode(), problem, { itemIndex: i });
	return tenantRefToString(parseTenantRef(text));
}

function readUser(ctx: IExecuteFunctions, i: number): string {
	const value = ctx.getNodeParameter('user', i);
	const text = typeof value === 'string' ? value : '';
	const problem = userRefProblem(text);
	if (problem) throw new NodeOperationError(ctx.getNode(), problem, { itemIndex: i });
	return userRefToString(parseUserRef(text));
}

function readState(ctx: IExecuteFunctions, i: number): MfaState {
	const value = ctx.getNodeParameter('mfaState', i);
	try {
		return parseMfaState(typeof value === 'string' ? value : String(value));
	} catch (error) {
		throw new NodeOperationError(ctx.getNode(), error instanceof Error ? error.message : String(error), { itemIndex: i });
	}
}

async function* listRows(ctx: IExecuteFunctions, backend: MfaBackend, tenant: string, i: number, signal: AbortSignal | undefined) {
	const returnAll = ctx.getNodeParameter('returnAll', i, false) as boolean;
	const limit = returnAll ? Number.POSITIVE_INFINITY : (ctx.getNodeParameter('limit', i, 50) as number);
	if (!returnAll && (!Number.isInteger(limit) || limit < 1)) throw new NodeOperationError(ctx.getNode(), `Limit must be a whole number of at least 1 (got ${String(limit)}).`, { itemIndex: i });
	const filters = ctx.getNodeParameter('filters', i, {}) as IDataObject;
	const states = Array.isArray(filters.states) ? filters.states.map(String) : [];
	const bad = states.find((s) => !(MFA_STATES_READ as readonly string[]).includes(s));
	if (bad !== undefined) throw new NodeOperationError(ctx.getNode(), `Invalid state filter ${JSON.stringify(bad)}: expected ${MFA_STATES_READ.join(', ')}.`, { itemIndex: i });
	const search = typeof filters.search === 'string' && filters.search.trim() !== '' ? filters.search.trim() : undefined;
	let n = 0;
	if (n >= limit) return;
	for await (const row of backend.list(tenant, { states: states as MfaStateRead[], search, pageSize: returnAll ? 999 : Math.min(limit, 999) }, signal)) {
		yield row;
		if (++n >= limit) return;
	}
}

async function bulkSet(
	ctx: IExecuteFunctions,
	backend: MfaBackend,
	count: number,
	signal: AbortSignal | undefined,
	fail: (i: number, failure: Failure, json: IDataObject) => void,
	out: INodeExecutionData[],
	secrets: readonly string[],
): Promise<void> {
	// Every item is checked before anything is sent: bad input changes nobody (or, under Continue On Fail, only its item fails).
	const requests: { i: number; request: BulkRequest }[] = [];
	const failed = new Map<number, { failure: Failure; json: IDataObject }>();
	for (let i = 0; i < count; i++) {
		try {
			requests.push({ i, request: { tenant: readTenant(ctx, i), user: readUser(ctx, i), state: readState(ctx, i) } });
		} catch (error) {
			const failure = describeFailure(error);
			if (!ctx.continueOnFail()) throw toNodeError(ctx.getNode(), failure, i, secrets);
			failed.set(i, { failure, json: {} });
		}
	}
	const results = new Map<number, ReturnType<typeof changeJson>>();
	if (requests.length > 0) {
		let changes: UserMfaChange[];
		try {
			changes = await backend.bulkSet(
				requests.map((r) => r.request),
				signal,
			);
		} catch (error) {
			// The run itself failed (sign-in, network, the server refused it): every item in it did.
			const failure = describeFailure(error);
			if (!ctx.continueOnFail()) throw toNodeError(ctx.getNode(), failure, requests[0]!.i, secrets);
			for (const { i, request } of requests) failed.set(i, { failure, json: givenUserJson(request.tenant, request.user) });
			changes = [];
		}
		const done = changes.filter((c) => !isChangeFailure(c)).length;
		changes.forEach((change, k) => {
			const { i } = requests[k]!;
			if (!isChangeFailure(change)) {
				results.set(i, changeJson(change));
				return;
			}
			const failure = changeFailure(change);
			// Without Continue On Fail the first failure is the node's error: it says what happened to the others.
			if (done > 0) failure.description = `${failure.description ? `${failure.description} ` : ''}${done} other user${done === 1 ? ' was' : 's were'} set; turn on Continue On Fail for one item per user.`;
			failed.set(i, { failure, json: changeJson(change) });
		});
	}
	for (let i = 0; i < count; i++) {
		const ok = results.get(i);
		if (ok) out.push({ json: ok, pairedItem: { item: i } });
		const bad = failed.get(i);
		if (bad) fail(i, bad.failure, bad.json);
	}
}

function secretsOf(data: ICredentialsDecrypted['data']): string[] {
	if (!data) return [];
	return ['clientSecret', 'apiKey', 'privateKey'].map((k) => data[k]).filter((v): v is string => typeof v === 'string' && v !== '');
}

/** A credential test's answer: OK with what was checked, or the reason in words to act on (never a secret). */
async function credentialTestResult(test: () => Promise<string>, secrets: readonly string[]): Promise<INodeCredentialTestResult> {
	try {
		return { status: 'OK', message: redact(await test(), secrets) };
	} catch (error) {
		const failure = describeFailure(error);
		const message = failure.description ? `${failure.message} (${failure.description})` : failure.message;
		return { status: 'Error', message: redact(message, secrets) };
	}
}
